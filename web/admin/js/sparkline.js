// A small inline SVG line chart of the last minute of one figure.

import { svg } from './dom.js';
import { WINDOW_MS } from './history.js';

const W = 120;
const H = 28;
const MIN_SPAN_MS = 5_000;

/**
 * samples: [[t ms, value]...]; now: the newest poll time; floor: the smallest top of the scale
 * (so that a flat line of small values is not drawn as full-height noise).
 */
export function sparkline(samples, now, { floor = 1, label = '' } = {}) {
  const top = Math.max(floor, ...samples.map(([, v]) => v));
  // The time axis covers the history there is, up to a minute (at least MIN_SPAN_MS), so that a
  // stream that just started draws a line rather than a dot at the right edge.
  const oldest = samples.length ? samples[0][0] : now;
  const span = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, now - oldest));
  const points = samples.map(([t, v]) => {
    const x = W - ((now - t) / span) * W;
    const y = H - 2 - (v / top) * (H - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(' ');
  const last = samples.length ? samples[samples.length - 1][1] : null;
  return svg('svg', {
    width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': label, 'data-samples': samples.length, 'data-last': last == null ? '' : last,
  }, svg('title', {}, label), svg('polyline', { points }));
}
