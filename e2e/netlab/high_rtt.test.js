'use strict';
// Network lab: C is far away: 200 ms RTT (100 ms each way) with +-15 ms jitter each way (RTT
// 200 +- 30 ms), packets kept in order. Issue 11 acceptance: first decoded frame < 2 s after C's
// join for every stream C takes part in (C playing A and B, A and B playing C).
const s = require('./scenario');

const SCENARIO = 'high_rtt';
const C_LINK = 'delay=100ms jitter=15ms';

s.labScenario(SCENARIO, 'netlab: C has 200 ms RTT +- 30 ms jitter', 120000, 'every stream of C shows its first frame within 2 s of the join', async (t, ctx) => {
  const { lab } = ctx;
  // C joins as Huddle's apps do: camera open before the join request, publish on STATE.
  const call = ctx.keep(await s.threePartyCall(lab, { impairC: () => lab.set('C', 'both', C_LINK), asApps: true }));
  const fig = await s.measure(call.clients, call.names, 10, call.joinAt);
  s.report(SCENARIO, `10 s, C both ${C_LINK}`, fig, {
    joinS: ((call.joinedAt - call.joinAt) / 1000).toFixed(2),
    publishS: call.publishedAt ? ((call.publishedAt - call.joinAt) / 1000).toFixed(2) : 'not publishing',
    link: await lab.stats(),
  });
  // Enforced since session 7 (issue 11 acceptance): every stream's first frame < 2 s after C's
  // join. What got it there: the server as DTLS client (on by default), the keyframe hold
  // (keyframe_hold.rs: a player connecting just after the publisher's keyframe gets it at its
  // connect). Session 7: 4 runs of 4 at load 3.6-7.5 met it (worst 1.84 s); a fifth at load 9
  // missed, A <- C 2.14 s: A's browser, starved of CPU, took 0.76 s to connect its play on a
  // perfect link. Session 6 without the hold: 1.59-2.11 s at load 9-11 (docs/NETLAB.md).
  const problems = [];
  for (const [viewer, publisher] of [['C', 'A'], ['C', 'B'], ['A', 'C'], ['B', 'C']]) {
    const st = s.stream(fig, viewer, publisher);
    const first = st.firstFrameS;
    if (!(first !== null && first < 2)) problems.push(`${viewer} <- ${publisher}: first frame ${first} s after C's join, want < 2 s`);
  }
  s.verdict(t, problems, [], { starved: s.starvedControl(fig, lab) });
});
