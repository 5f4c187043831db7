'use strict';
// Network lab: C's downlink is 300 kbit/s (bounded 200 ms queue, tail drop), 50 ms RTT; the limit
// is lifted after 30 s. Issue 11 acceptance: C's audio concealed < 5 %; C's video adapts or is
// cleanly paused and shows a picture again within 3 s after the limit is lifted; A and B receive
// >= 90 % of their baseline frame rate, and their publishers encode no more than one extra
// keyframe per 5 s (over the baseline rate).
const h = require('../lib/harness');
const s = require('./scenario');

const SCENARIO = 'slow_downlink';
const BASELINE_S = 10;
const WINDOW_S = 30;

s.labScenario(SCENARIO, 'netlab: C has a 300 kbit/s downlink, then the limit is lifted', 180000, 'the slow subscriber keeps its audio and hurts nobody; its video comes back within 3 s', async (t, ctx) => {
  const { lab } = ctx;
  let baseline;
  const call = ctx.keep(await s.threePartyCall(lab, {
    impairC: async (clients) => {
      // A and B alone on perfect links: their baseline frame rate and keyframe rate
      baseline = await s.measure({ A: clients.A, B: clients.B }, ['A', 'B'], BASELINE_S, null);
      s.report(SCENARIO, `baseline, A and B only, ${BASELINE_S} s`, baseline);
      await lab.set('C', 'down', 'rate=300kbit delay=25ms');
      await lab.set('C', 'up', 'delay=25ms');
    },
  }));
  const fig = await s.measure(call.clients, call.names, WINDOW_S, call.joinAt);
  s.report(SCENARIO, `${WINDOW_S} s, C down rate=300kbit, 50 ms RTT`, fig, {
    missingAfterJoin: call.missing,
    publishS: call.publishedAt ? ((call.publishedAt - call.joinAt) / 1000).toFixed(2) : `not publishing (${call.publishError() || 'pending'})`,
    link: await lab.stats(),
  });

  // lift the limit: how long until C decodes new frames of both A and B
  const before = await s.quality(call.clients.C);
  const liftedAt = Date.now();
  await lab.set('C', 'down', 'rate=off');
  console.log(`# limit lifted at ${new Date(liftedAt).toISOString()} (to read beside the server log)`);
  const resumeS = {};
  for (;;) {
    const now = await s.quality(call.clients.C);
    for (const p of ['A', 'B']) {
      const a = s.inboundFrom(before, p);
      const b = s.inboundFrom(now, p);
      const gained = ((b && b.video && b.video.framesDecoded) || 0) - ((a && a.video && a.video.framesDecoded) || 0);
      if (resumeS[p] === undefined && gained >= 3) resumeS[p] = Number(((now.t - liftedAt) / 1000).toFixed(2));
    }
    if ((resumeS.A !== undefined && resumeS.B !== undefined) || Date.now() - liftedAt > 6000) break;
    await h.sleep(200);
  }
  const after = await s.measure(call.clients, call.names, 5, call.joinAt);
  s.report(SCENARIO, '5 s after the limit was lifted', after, { resumeS });

  const problems = [];
  // Every threshold is enforced. The resume within 3 s holds since 34fa2db (paused players
  // resume by the estimator's current value: 1.15-1.68 s in 3 of 3 runs at load 2-8; before,
  // str0m's 3 s average of the estimate hid the probes' results: 3.4-6 s).
  const gaps = [];
  for (const p of ['A', 'B']) {
    const st = s.stream(fig, 'C', p);
    if (!(st.audioConcealedPct !== null && st.audioConcealedPct < 5)) problems.push(`C <- ${p}: audio concealed ${st.audioConcealedPct} %, want < 5 %`);
    if (!(resumeS[p] !== undefined && resumeS[p] <= 3)) problems.push(`C <- ${p}: no new picture within 3 s after the limit was lifted (${resumeS[p] === undefined ? 'none in 6 s' : `${resumeS[p]} s`})`);
  }
  for (const [viewer, publisher] of [['A', 'B'], ['B', 'A']]) {
    const want = 0.9 * s.stream(baseline, viewer, publisher).fps;
    const got = s.stream(fig, viewer, publisher).fps;
    if (!(got >= want)) problems.push(`${viewer} <- ${publisher}: ${got} fps, baseline ${s.stream(baseline, viewer, publisher).fps} (want >= 90 %)`);
  }
  for (const viewer of ['A', 'B']) {
    const st = s.stream(fig, viewer, 'C');
    const enc = s.pub(fig, 'C').encodedFps;
    if (!(st.fps >= 0.9 * enc)) problems.push(`${viewer} <- C: ${st.fps} fps, C encodes ${enc} (want >= 90 %)`);
  }
  for (const p of ['A', 'B']) {
    const base = s.pub(baseline, p).keyframes * (WINDOW_S / BASELINE_S);
    const got = s.pub(fig, p).keyframes;
    if (!(got - base <= WINDOW_S / 5)) problems.push(`publisher ${p}: ${got} keyframes in ${WINDOW_S} s, baseline rate gives ${base.toFixed(1)} (want <= ${WINDOW_S / 5} extra)`);
  }
  s.verdict(t, problems, gaps);
});
