'use strict';
// Network lab, baseline: three participants, every link perfect (but every packet still crosses
// the user-space emulator). The reference figures for the impaired scenarios.
const assert = require('node:assert/strict');
const s = require('./scenario');

const SCENARIO = 'baseline';

s.labScenario(SCENARIO, 'netlab: baseline (all links perfect)', 150000, 'every stream decodes at the publisher frame rate, without freezes', async (t, ctx) => {
  const { lab } = ctx;
  const call = ctx.keep(await s.threePartyCall(lab));
  assert.deepEqual(call.missing, [], `streams without a first frame 12 s after C joined: ${JSON.stringify(call.missing)}`);
  const cpu0 = lab.emulatorCpuSeconds();
  const fig = await s.measure(call.clients, call.names, 30, call.joinAt);
  const cpu1 = lab.emulatorCpuSeconds();
  s.report(SCENARIO, '30 s, perfect links', fig, {
    emulatorCpu: cpu0 === null || cpu1 === null ? 'unknown' : `${(cpu1 - cpu0).toFixed(2)} s of CPU in 30 s (${((cpu1 - cpu0) / 30 * 100).toFixed(1)} % of one core)`,
    link: await lab.stats(),
  });
  for (const st of fig.streams) {
    const enc = s.pub(fig, st.publisher).encodedFps;
    assert.ok(st.fps >= 0.9 * enc, `${st.viewer} <- ${st.publisher}: ${st.fps} fps decoded, publisher encodes ${enc}`);
    assert.ok(st.frozenS < 1, `${st.viewer} <- ${st.publisher}: frozen ${st.frozenS} s`);
  }
});
