'use strict';
// Network lab, baseline: three participants, every link perfect (but every packet still crosses
// the user-space emulator). The reference figures for the impaired scenarios.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { createLab } = require('../lib/netlab');
const s = require('./scenario');

const SCENARIO = 'baseline';

describe('netlab: baseline (all links perfect)', { timeout: 150000 }, () => {
  let lab;
  let call;
  before(async () => {
    s.resetReport(SCENARIO);
    lab = await createLab(['A', 'B', 'C'], { name: SCENARIO });
  });
  after(async () => {
    if (call) await s.closeAll(`netlab-${SCENARIO}`, call.clients);
    if (lab) await lab.close();
  });

  test('every stream decodes at the publisher frame rate, without freezes', async () => {
    call = await s.threePartyCall(lab);
    assert.deepEqual(call.missing, [], `streams without a first frame 12 s after C joined: ${JSON.stringify(call.missing)}`);
    const fig = await s.measure(call.clients, call.names, 30, call.joinAt);
    s.report(SCENARIO, '30 s, perfect links', fig, { link: await lab.stats() });
    for (const st of fig.streams) {
      const enc = s.pub(fig, st.publisher).encodedFps;
      assert.ok(st.fps >= 0.9 * enc, `${st.viewer} <- ${st.publisher}: ${st.fps} fps decoded, publisher encodes ${enc}`);
      assert.ok(st.frozenS < 1, `${st.viewer} <- ${st.publisher}: frozen ${st.frozenS} s`);
    }
  });
});
