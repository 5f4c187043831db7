// Room mixes (with ffmpeg's progress) and the recordings on disk.

import { el } from './dom.js';
import * as fmt from './format.js';

/**
 * mixes: `/admin/mixes` (running, done, failed since the server started);
 * records: `/admin/records` (its pending_mixes also names rooms still open, not on the board yet).
 */
export function mixesView(mixes, records) {
  const known = new Set(mixes.map((m) => m.output));
  const open = records.pending_mixes.filter((name) => !known.has(name))
    .map((output) => ({ output, room: '', state: 'open', percent: 0, duration_ms: null }));
  const failedOnDisk = records.failed_mixes.filter((name) => !known.has(name))
    .map((output) => ({ output, room: '', state: 'failed', percent: 0, duration_ms: null }));
  const all = [...open, ...mixes.slice().reverse(), ...failedOnDisk];
  if (!all.length) return el('p', { className: 'muted' }, 'No room mixes yet.');
  return el('table', { className: 'mixes' },
    el('thead', {}, el('tr', {}, ['Output', 'Room', 'State', 'Progress', 'Length'].map((c) => el('th', { scope: 'col' }, c)))),
    el('tbody', {}, all.map((m) => el('tr', { dataset: { output: m.output, state: m.state } },
      el('td', { className: 'name' }, m.output),
      el('td', {}, m.room || '–'),
      el('td', { className: `state-${m.state}` }, stateText(m.state)),
      el('td', {}, m.state === 'open'
        ? el('span', { className: 'muted' }, 'recording')
        : el('span', { className: 'metric' },
          el('progress', { max: 100, value: m.percent, 'aria-label': `Mix of ${m.output}: ${m.percent} %` }),
          el('span', { className: 'value' }, `${m.percent.toFixed(1)} %`))),
      el('td', {}, fmt.duration(m.duration_ms))))));
}

function stateText(state) {
  return {
    open: 'room still open', waiting: 'waiting', running: 'mixing', done: 'done', failed: 'failed',
  }[state] || state;
}

/** The recordings; in a cluster with the node whose disk holds each (`node`). */
export function recordsView(records) {
  if (!records.records.length) return el('p', { className: 'muted' }, 'No recordings.');
  const clustered = records.records.some((r) => r.node);
  const columns = clustered ? ['File', 'Node', 'Size', 'Modified'] : ['File', 'Size', 'Modified'];
  return el('table', { className: 'records' },
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col' }, c)))),
    el('tbody', {}, records.records.slice().sort((a, b) => b.modified_unix_ms - a.modified_unix_ms).map((r) => el('tr', { dataset: { name: r.name } },
      el('td', { className: 'name' }, r.name),
      clustered ? el('td', {}, r.node || '–') : null,
      el('td', {}, fmt.size(r.size)),
      el('td', {}, fmt.clock(r.modified_unix_ms))))));
}
