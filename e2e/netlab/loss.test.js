'use strict';
// Network lab: C's link loses 5 % of the packets both ways, 60 ms RTT (30 ms each way).
// Issue 11 acceptance: C's video frozen < 1 s in total (per played stream, over the 30 s window),
// C's audio concealed < 6 %; A and B unaffected (they decode every stream, C's included, at >= 90 %
// of what its publisher encodes, frozen < 1 s, and hear C concealed < 2 %; C's stream crosses C's
// lossy uplink, so for it this needs the server to NACK the publisher's video and to recover its
// audio from RED, item 4 of the issue).
const assert = require('node:assert/strict');
const s = require('./scenario');

const SCENARIO = 'loss';
const C_LINK = 'delay=30ms loss=5%';

s.labScenario(SCENARIO, 'netlab: C has 5 % loss both ways and 60 ms RTT', 150000, 'C keeps a fluid picture and clear audio; A and B are unaffected', async (t, ctx) => {
  const { lab } = ctx;
  const call = ctx.keep(await s.threePartyCall(lab, { impairC: () => lab.set('C', 'both', C_LINK) }));
  assert.deepEqual(call.missing, [], `streams without a first frame 12 s after C joined: ${JSON.stringify(call.missing)}`);
  const fig = await s.measure(call.clients, call.names, 30, call.joinAt);
  s.report(SCENARIO, `30 s, C both ${C_LINK}`, fig, { link: await lab.stats() });
  const problems = [];
  // C's own plays (C's lossy downlink), frozen < 1 s: enforced since session 9 (1 Dec). What froze
  // them (docs/NETLAB.md "session 9", docs/MEDIA_QUALITY.md "Loss" items 2 and 7): the playout-delay
  // floor switched on in one step (Chrome applies it to the next frame: one ~0.25 s freeze per
  // stream), and str0m's RTX ratio cap (15 % of a second's bytes) dropping C's NACKed resends for
  // ~0.5 s at a time. With the floor ramped and the cap at 20 %: 0 / 0.22 / 0.26 s in 3 of 3 runs
  // at load 4.3-6.9. Runs at load 8-11 froze every stream, control streams included (starved).
  // Session 13 (MEDIA_QUALITY.md "Loss" item 8; NETLAB_TRACE=1 traces a run): the freezes left
  // were the play's first ~1.3 s, before the floor was up (it waited for a receiver report, then
  // ramped 1.25 s): a NACK now starts it and it ramps in 0.31 s. C's plays froze 0-0.9 s per run
  // (7 runs, 7 of 9 freezes early) before, 0-0.27 s after (7 runs, 3 freezes: a first loss
  // before any NACK, two packets needing a third NACK round, ~1 % of losses at 5 % both ways).
  // A's and B's plays of C are enforced since 6e888f5 (frames held for a resend were sent out of
  // order: 9-19 keyframe requests per 30 s before; 0 s frozen, 0 requests in 3 of 3 runs after).
  for (const p of ['A', 'B']) {
    const st = s.stream(fig, 'C', p);
    if (!(st.frozenS < 1)) problems.push(`C <- ${p}: video frozen ${st.frozenS} s in 30 s (${st.freezes} freezes), want < 1 s`);
    if (!(st.audioConcealedPct < 6)) problems.push(`C <- ${p}: audio concealed ${st.audioConcealedPct} %, want < 6 %`);
  }
  // C's plays start promptly over the lossy link: first frame < 1 s after the play request
  // (ICE and DTLS across the lossy link take ~0.3-0.4 s of it). Session 11: 0.38-0.48 s in both
  // forwarding modes at load 4-7. RTP mode took 1.4-1.8 s before (the keyframe of the play
  // request went by while the player connected, and the one asked at its connect went to the
  // publisher 299 ms after the first, which Chrome drops: keyframe_hold.rs, keyframes.rs).
  // Session 13: 2 of 22 runs missed it (1.19 / 1.26 s): the browser's last DTLS flight was lost
  // and only our handshake timer recovers it, then 1 s; dimpl patch 3 starts it at 300 ms.
  for (const p of ['A', 'B']) {
    const st = s.stream(fig, 'C', p);
    if (!(st.playToFrameS !== null && st.playToFrameS < 1)) problems.push(`C <- ${p}: first frame ${st.playToFrameS} s after the play request, want < 1 s`);
  }
  // A and B hearing C: C's uplink loses 5 % of C's audio and audio has no NACK. C sends Opus in
  // RFC 2198 RED (publishers are answered with RED first) and the server puts a lost packet back
  // from the next one's redundancy before forwarding (docs/MEDIA_QUALITY.md "Loss"): concealed
  // 0.85-1.55 % in 3 of 3 runs at load 7-8.5 (session 10), 4.95-6.4 % before, < 0.1 % for A<->B.
  for (const p of ['A', 'B']) {
    const st = s.stream(fig, p, 'C');
    if (!(st.audioConcealedPct < 2)) problems.push(`${p} <- C: audio concealed ${st.audioConcealedPct} %, want < 2 % (C's uplink loss repaired from its RED)`);
  }
  // A and B unaffected: what they see of each other, and what they see of C (C's uplink loses
  // 5 % too: the server NACKs the publisher and forwards C's frames in order)
  for (const st of fig.streams.filter((x) => x.viewer !== 'C')) {
    const enc = s.pub(fig, st.publisher).encodedFps;
    const why = st.publisher === 'C' ? ' (C\'s lossy uplink: upstream NACK, frames in order)' : '';
    if (!(st.fps >= 0.9 * enc)) problems.push(`${st.viewer} <- ${st.publisher}: ${st.fps} fps, publisher encodes ${enc}${why}`);
    if (!(st.frozenS < 1)) problems.push(`${st.viewer} <- ${st.publisher}: frozen ${st.frozenS} s${why}`);
  }
  s.verdict(t, problems, [], { starved: s.starvedControl(fig, lab) });
});
