// The operator dashboard's pure modules (web/admin/js): the one-minute history behind the
// sparklines and the figures' formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History, WINDOW_MS } from '../admin/js/history.js';
import { METRICS, PICKERS } from '../admin/js/metrics.js';
import * as fmt from '../admin/js/format.js';

const publisher = (peer, bps, extra = {}) => ({ peer, role: 'publisher', bitrate_in_bps: bps, bitrate_out_bps: 0, loss_in: 0.01, rtt_ms: 20, estimate_bps: null, ...extra });
const player = (peer, bps) => ({ peer, role: 'player', bitrate_in_bps: 5, bitrate_out_bps: bps, loss_out: 0.02, rtt_ms: null, estimate_bps: 2_000_000 });

test('history keeps one minute per peer and figure, and forgets peers that are gone', () => {
  const h = new History();
  h.add(0, [publisher(1, 100), player(2, 50)], PICKERS);
  h.add(30_000, [publisher(1, 200), player(2, 60)], PICKERS);
  h.add(WINDOW_MS + 1, [publisher(1, 300)], PICKERS);
  assert.deepEqual(h.get(1, 'bitrate'), [[30_000, 200], [WINDOW_MS + 1, 300]], 'the sample older than a minute is gone');
  assert.deepEqual(h.get(2, 'bitrate'), [], 'peer 2 left');
  assert.deepEqual(h.get(1, 'estimate'), [], 'a publisher has no estimate');
  assert.deepEqual(h.get(1, 'rtt'), [[30_000, 20], [WINDOW_MS + 1, 20]]);
});

test('a publisher charts what it sends us, a player what we send it', () => {
  assert.equal(METRICS.bitrate.pick(publisher(1, 123)), 123);
  assert.equal(METRICS.bitrate.pick(player(2, 456)), 456);
  assert.equal(METRICS.loss.pick(player(2, 1)), 0.02);
  assert.equal(METRICS.estimate.pick(player(2, 1)), 2_000_000);
  assert.equal(METRICS.rtt.pick(player(2, 1)), null);
  const h = new History();
  h.add(0, [player(2, 1), publisher(1, Number.NaN)], PICKERS);
  assert.deepEqual(h.get(2, 'rtt'), [], 'missing figures are not charted');
  assert.deepEqual(h.get(1, 'bitrate'), [], 'nor garbage');
});

test('figures read like a human would write them', () => {
  assert.equal(fmt.bitrate(1_234_567), '1.23 Mb/s');
  assert.equal(fmt.bitrate(45_600), '46 kb/s');
  assert.equal(fmt.bitrate(null), '–');
  assert.equal(fmt.loss(0.0123), '1.2 %');
  assert.equal(fmt.ms(19.6), '20 ms');
  assert.equal(fmt.duration(3_723_000), '1:02:03');
  assert.equal(fmt.duration(65_000), '1:05');
  assert.equal(fmt.size(3 << 20), '3.0 MiB');
});
