'use strict';
// Network lab: C's network blocks UDP both ways (TCP passes): C's Chromium has to reach the
// server's media over ICE-TCP. Issue 11 acceptance: C publishes and plays within 10 s (over TCP).
const assert = require('node:assert/strict');
const s = require('./scenario');

const SCENARIO = 'udp_blocked';
const C_LINK = 'udp=block';

s.labScenario(SCENARIO, 'netlab: C behind a firewall that blocks UDP', 120000, 'C publishes and plays within 10 s, over TCP', async (t, ctx) => {
  const { lab } = ctx;
  const call = ctx.keep(await s.threePartyCall(lab, { impairC: () => lab.set('C', 'both', C_LINK), settle: 10000 }));
  const fig = await s.measure(call.clients, call.names, 5, call.joinAt);
  const link = await lab.stats();
  s.report(SCENARIO, `C both ${C_LINK}`, fig, {
    publishS: call.publishedAt ? ((call.publishedAt - call.joinAt) / 1000).toFixed(2) : `not publishing (${call.publishError() || 'pending'})`,
    missingAfter10s: call.missing,
    link,
  });
  assert.ok(link.C.up.blocked > 0 || link.C.down.blocked > 0, 'the emulator blocked no UDP packet: the scenario tested nothing');
  const problems = [];
  if (!call.publishedAt || call.publishedAt - call.joinAt > 10000) problems.push(`C not publishing within 10 s (${call.publishError() || 'still pending'})`);
  for (const [viewer, publisher] of [['C', 'A'], ['C', 'B'], ['A', 'C'], ['B', 'C']]) {
    const st = s.stream(fig, viewer, publisher);
    if (!(st.firstFrameS !== null && st.firstFrameS <= 10)) problems.push(`${viewer} <- ${publisher}: first frame ${st.firstFrameS} s after C's join, want <= 10 s`);
  }
  for (const [viewer, publisher] of [['C', 'A'], ['C', 'B']]) {
    const st = s.stream(fig, viewer, publisher);
    if (st.ice && st.ice !== 'tcp') problems.push(`${viewer} <- ${publisher}: ICE over ${st.ice}, want tcp`);
  }
  assert.deepEqual(problems, []);
});
