// Which figure of `/admin/media/peers` each chart shows: a publisher's are what it sends us
// (uplink), a player's what we send it (downlink).

import * as fmt from './format.js';

const up = (p) => p.role === 'publisher';

/** name -> { pick(peerStats), format(value), floor (smallest top of the chart scale) } */
export const METRICS = {
  bitrate: { pick: (p) => (up(p) ? p.bitrate_in_bps : p.bitrate_out_bps), format: fmt.bitrate, floor: 100_000 },
  loss: { pick: (p) => (up(p) ? p.loss_in : p.loss_out), format: fmt.loss, floor: 0.05 },
  rtt: { pick: (p) => p.rtt_ms, format: fmt.ms, floor: 50 },
  estimate: { pick: (p) => (up(p) ? null : p.estimate_bps), format: fmt.bitrate, floor: 100_000 },
};

export const PICKERS = Object.fromEntries(Object.entries(METRICS).map(([k, m]) => [k, m.pick]));
