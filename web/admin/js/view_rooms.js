// Rooms: name, recording flag, age, participants (kick) and streams (charts), close button.

import { el } from './dom.js';
import * as fmt from './format.js';
import { streamsTable } from './view_streams.js';

/** actions: { closeRoom(room), kick(room, login) } (they confirm first). */
export function roomsView(rooms, ctx, actions) {
  if (!rooms.length) return el('p', { className: 'muted' }, 'No rooms.');
  return rooms.map((room) => el('article', { className: 'room', dataset: { room: room.name } },
    el('div', { className: 'room-head' },
      el('h3', {}, room.name),
      room.node ? el('span', { className: 'badge node', title: 'node owning the room' }, `node ${room.node}`) : null,
      room.record ? el('span', { className: 'badge rec' }, 'recording') : null,
      room.restream ? restreamBadge(room.restream) : null,
      el('span', { className: 'muted' },
        `open for ${fmt.duration(ctx.now - room.started_unix_ms)} · ${room.participants.length} participant(s) · ${room.streams.length} stream(s)`),
      el('button', {
        type: 'button', className: 'danger', dataset: { action: 'close' },
        on: { click: () => actions.closeRoom(room.name) },
      }, 'Close room')),
    el('ul', { className: 'people', 'aria-label': `Participants of ${room.name}` },
      room.participants.map((p) => el('li', { dataset: { login: p.login } },
        el('span', {}, p.login),
        p.presence === 'away' ? el('span', { className: 'badge away' }, 'away') : null,
        el('button', {
          type: 'button', className: 'danger', dataset: { action: 'kick' },
          'aria-label': `Kick ${p.login}`,
          on: { click: () => actions.kick(room.name, p.login) },
        }, 'Kick')))),
    streamsTable(room.streams, ctx)));
}

/** Rooms other nodes of the cluster own (`remote_rooms`, absent on a single node): name,
 * owner, head count; their details are on the owner's own dashboard. */
export function remoteRoomsView(remote) {
  if (!remote || !remote.length) return null;
  return el('table', { className: 'remote-rooms' },
    el('caption', {}, 'Rooms on other nodes'),
    el('thead', {}, el('tr', {}, ['Room', 'Node', 'Participants', 'Streams'].map((c) => el('th', { scope: 'col' }, c)))),
    el('tbody', {}, remote.map((r) => el('tr', { dataset: { room: r.name, node: r.node } },
      el('td', { className: 'name' }, r.name),
      el('td', {}, /^https?:\/\//.test(r.node_url || '')
        ? el('a', { href: `${r.node_url}/admin/`, rel: 'noreferrer' }, r.node) : r.node),
      el('td', {}, String(r.participants)),
      el('td', {}, String(r.streams))))));
}

/** The room's restream to RTMP (docs/RESTREAM.md): state, target (key hidden), output time;
 * the last error as its tooltip. */
function restreamBadge(r) {
  const time = r.progress && r.progress.out_time_ms ? ` · ${fmt.duration(r.progress.out_time_ms)}` : '';
  const restarts = r.restarts ? ` · ${r.restarts} restart(s)` : '';
  return el('span', {
    className: 'badge restream', dataset: { restream: r.state }, title: r.last_error || '',
  }, `restream ${r.state} → ${r.url}${time}${restarts}`);
}
