// A small inline SVG line chart of the last minute of one figure.

import { svg } from './dom.js';
import { WINDOW_MS } from './history.js';

const W = 120;
const H = 28;

/**
 * samples: [[t ms, value]...]; now: the newest poll time; floor: the smallest top of the scale
 * (so that a flat line of small values is not drawn as full-height noise).
 */
export function sparkline(samples, now, { floor = 1, label = '' } = {}) {
  const top = Math.max(floor, ...samples.map(([, v]) => v));
  const points = samples.map(([t, v]) => {
    const x = W - ((now - t) / WINDOW_MS) * W;
    const y = H - 2 - (v / top) * (H - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(' ');
  const last = samples.length ? samples[samples.length - 1][1] : null;
  return svg('svg', {
    width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': label, 'data-samples': samples.length, 'data-last': last == null ? '' : last,
  }, svg('title', {}, label), svg('polyline', { points }));
}
