// A table of streams: the publisher's row, then one row per player, each figure as a
// one-minute sparkline with its current value.

import { el } from './dom.js';
import { METRICS } from './metrics.js';
import { sparkline } from './sparkline.js';

const COLUMNS = ['Stream / player', 'Login', 'Status', 'Bit rate', 'Loss', 'RTT', 'Estimate', 'Video'];

/** ctx: { peers: Map(peer id -> stats), history, now } */
export function streamsTable(streams, ctx) {
  if (!streams.length) return el('p', { className: 'muted' }, 'No streams.');
  const rows = [];
  for (const s of streams) {
    const media = [s.has_audio && 'audio', s.has_video && 'video'].filter(Boolean).join('+') || 'no media';
    rows.push(row('stream', s.peer, [
      el('td', { className: 'name' }, s.name, ' ', el('span', { className: 'muted' }, `(${media})`),
        s.record_name ? el('span', { className: 'badge rec', title: s.record_name }, 'REC') : null,
        s.recording_failed
          ? el('span', { className: 'badge failed', title: s.recording_failed }, 'recording failed') : null),
      el('td', {}, s.login),
      el('td', {}, s.status),
    ], ctx));
    for (const p of s.players) {
      rows.push(row('player', p.peer, [
        el('td', { className: 'name' }, '▸ player'),
        el('td', {}, p.login),
        el('td', {}, p.status),
      ], ctx));
    }
  }
  return el('table', { className: 'streams' },
    el('thead', {}, el('tr', {}, COLUMNS.map((c) => el('th', { scope: 'col' }, c)))),
    el('tbody', {}, rows));
}

function row(kind, peer, cells, ctx) {
  const stats = ctx.peers.get(peer);
  const metricCells = Object.entries(METRICS).map(([name, m]) => {
    const value = stats ? m.pick(stats) : null;
    if (value == null) return el('td', { className: 'muted' }, '–');
    const label = `${name} ${m.format(value)}`;
    return el('td', {}, el('span', { className: 'metric', dataset: { peer, metric: name, value } },
      sparkline(ctx.history.get(peer, name), ctx.now, { floor: m.floor, label }),
      el('span', { className: 'value' }, m.format(value))));
  });
  const video = !stats || stats.role !== 'player'
    ? el('td', { className: 'muted' }, '–')
    : el('td', {}, stats.video_paused ? el('span', { className: 'badge paused' }, 'paused') : 'flowing',
      stats.video_pauses ? el('span', { className: 'muted' }, ` (${stats.video_pauses}× paused)`) : null);
  return el('tr', { className: kind, dataset: { peer } }, cells, metricCells, video);
}
