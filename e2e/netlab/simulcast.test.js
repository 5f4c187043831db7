'use strict';
// Network lab: simulcast (issue 15 part 2). A, B and C load Huddle's opt-in script
// (web/client/js/simulcast.js) before publishing, so each camera (960x540) is sent in three layers
// (q 240x135 at <= 35 kbit/s, h 480x270, f 960x540; a smaller camera would be lighter on 2 cores,
// but at 640x360 Chrome sends two layers). C's downlink is 300 kbit/s (bounded 200 ms queue, tail
// drop), 50 ms RTT. Acceptance: C receives the low layer of A and of B while A and B receive each
// other's (and C's) high layer; no freeze on a layer switch. Layers are read from getStats (frameWidth of
// each inbound video). Freezes are Chrome's (freezeCount, totalFreezesDuration: a gap of more than
// max(3 frame times, frame time + 150 ms)), counted from C's join. Then A stops its top layer (as
// Chrome does under CPU or uplink limits): B, which decoded it, is moved to a lower one at once.
const fs = require('node:fs');
const path = require('node:path');
const h = require('../lib/harness');
const s = require('./scenario');

const SCENARIO = 'simulcast';
// (H.publish takes the SDK's constraints under `constraints`; its default is 320x240, one layer)
const CAMERA = { constraints: { audio: true, video: { width: 960, height: 540 } } };
const SCRIPT = fs.readFileSync(path.join(__dirname, '..', '..', 'web', 'client', 'js', 'simulcast.js'), 'utf8');
const SETTLE_S = 20;
const WINDOW_S = 15;
// After the window: how long B's view of A is watched once A has stopped its top layer.
const DROP_WATCH_S = 4;

/** A participant of the lab with the opt-in script run in its page (before it publishes). */
async function simulcastParticipant(lab, name) {
  const c = await s.participant(lab, name);
  const installed = await c.eval((src) => {
    (0, eval)(src); // eslint-disable-line no-eval
    return !!(window.HuddleSimulcast && RTCPeerConnection.prototype.addTrack.huddleSimulcast);
  }, SCRIPT);
  if (!installed) throw new Error(`${name}: the simulcast script did not install`);
  return c;
}

/** What a publisher's browser sends now, per layer: rid, width, frames per second, limitation. */
function sentLayers(c) {
  return c.eval(async () => {
    const pc = window.__pcs.find((p) => p.signalingState !== 'closed' &&
      p.getSenders().some((s) => s.track && s.track.kind === 'video'));
    if (!pc) return [];
    const out = [];
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.push({ rid: s.rid || null, width: s.frameWidth || 0, fps: s.framesPerSecond || 0, limitation: s.qualityLimitationReason || null });
      }
    });
    return out.sort((x, y) => x.width - y.width);
  });
}

/** What `c`'s play connections received at the transport (selected candidate pairs): bytes and
 * packets (publish connections left out), for the wire rate of C's downlink. */
function playTransport(c) {
  return c.eval(async () => {
    let bytes = 0;
    let packets = 0;
    for (const pc of window.__pcs) {
      if (pc.signalingState === 'closed' || pc.getSenders().some((x) => x.track)) continue;
      const st = await pc.getStats();
      st.forEach((r) => {
        const pair = r.type === 'transport' && r.selectedCandidatePairId && st.get(r.selectedCandidatePairId);
        if (pair) { bytes += pair.bytesReceived || 0; packets += pair.packetsReceived || 0; }
      });
    }
    return { bytes, packets, t: Date.now() };
  });
}

/** kbit/s on the wire between two playTransport readings: SRTP/RTCP payload + IPv4 and UDP headers. */
function wireKbps(a, b) {
  const dt = (b.t - a.t) / 1000;
  return Math.round(((b.bytes - a.bytes) + (b.packets - a.packets) * 28) * 8 / dt / 1000);
}

/** Stops the publisher's top simulcast layer (its `f` encoding) in its browser; false when it
 * has none to stop. */
function dropTopLayer(c) {
  return c.eval(async () => {
    const pc = window.__pcs.find((p) => p.signalingState !== 'closed' &&
      p.getSenders().some((x) => x.track && x.track.kind === 'video'));
    const sender = pc && pc.getSenders().find((x) => x.track && x.track.kind === 'video');
    if (!sender) return false;
    const params = sender.getParameters();
    const top = (params.encodings || []).find((e) => e.rid === 'f');
    if (!top) return false;
    top.active = false;
    await sender.setParameters(params);
    return true;
  });
}

/** The frame width `viewer` decodes of `publisher`'s video now (0: none). */
function widthOf(snap, viewer, publisher) {
  const e = s.inboundFrom(snap[viewer], publisher);
  return (e && e.video && e.video.frameWidth) || 0;
}

s.labScenario(SCENARIO, 'netlab: simulcast, C has a 300 kbit/s downlink', 180000, 'the slow player gets the low layer, the others the high one', async (t, ctx) => {
  const { lab } = ctx;
  const room = h.uniqueRoom('simulcast');
  const names = ['A', 'B', 'C'];
  const clients = {};
  for (const n of names) clients[n] = await simulcastParticipant(lab, n);
  ctx.keep({ clients });
  for (const n of ['A', 'B']) {
    await clients[n].join(room);
    await clients[n].publish(CAMERA);
  }
  const ab = await s.waitFrames({ A: clients.A, B: clients.B }, s.allPairs(['A', 'B']), 20000);
  if (ab.missing.length) throw new Error(`A and B do not see each other: ${JSON.stringify(ab.missing)}`);
  await lab.set('C', 'down', 'rate=300kbit delay=25ms');
  await lab.set('C', 'up', 'delay=25ms');
  const joinAt = Date.now();
  await clients.C.join(room);
  await clients.C.publish(CAMERA);
  const { missing } = await s.waitFrames(clients, s.allPairs(names), 15000);
  const start = await s.snapshot(clients);
  // The layers settle: publishers' encoders ramp up their layers, players move up after 2 s of
  // fitting, C moves down within a second or two of its estimate falling.
  await h.sleep(SETTLE_S * 1000);
  const wire0 = await playTransport(clients.C);
  const fig = await s.measure(clients, names, WINDOW_S, joinAt);
  const wire1 = await playTransport(clients.C);
  const end = await s.snapshot(clients);
  const widths = {};
  const sinceJoin = {};
  for (const [viewer, publisher] of s.allPairs(names)) {
    widths[`${viewer}<-${publisher}`] = widthOf(end, viewer, publisher);
    const a = (s.inboundFrom(start[viewer], publisher) || {}).video || {};
    const b = (s.inboundFrom(end[viewer], publisher) || {}).video || {};
    sinceJoin[`${viewer}<-${publisher}`] = {
      freezes: (b.freezeCount || 0) - (a.freezeCount || 0),
      frozenS: Number(((b.totalFreezesDuration || 0) - (a.totalFreezesDuration || 0)).toFixed(2)),
    };
  }
  const sent = {};
  for (const n of names) sent[n] = await sentLayers(clients[n]);
  // The widest layer a publisher is sending now (a loaded machine makes Chrome drop layers:
  // qualityLimitationReason "cpu").
  const top = (n) => Math.max(0, ...sent[n].filter((l) => l.fps >= 5).map((l) => l.width));
  s.report(SCENARIO, `${WINDOW_S} s after ${SETTLE_S} s of settling, C down rate=300kbit, 50 ms RTT`, fig, {
    missingAfterJoin: missing, cPlaysWireKbps: wireKbps(wire0, wire1), frameWidth: widths, freezesSinceAllPlaying: sinceJoin, outbound: sent, link: await lab.stats(),
  });

  const problems = [];
  // Thresholds the load of this 2-core machine can break on its own (Chrome drops layers and
  // frames when CPU-limited): printed and reported as TODO, not failures.
  const gaps = [];
  for (const p of ['A', 'B']) {
    const w = widths[`C<-${p}`];
    if (!(w > 0 && w <= 320)) problems.push(`C <- ${p}: frame width ${w}, want the low layer (<= 320)`);
    // C's players start on the low layer and are budgeted together on its one link (layers.rs):
    // they must not freeze for long (they froze 13.9-26.8 s of 15 s before).
    const f = sinceJoin[`C<-${p}`];
    if (!(f.frozenS < 1)) problems.push(`C <- ${p}: frozen ${f.frozenS} s in ${f.freezes} freezes, want < 1 s`);
  }
  for (const [viewer, publisher] of [['A', 'B'], ['B', 'A'], ['A', 'C'], ['B', 'C']]) {
    const w = widths[`${viewer}<-${publisher}`];
    const sending = top(publisher);
    if (sending < 480) gaps.push(`${publisher} sends no high layer now (widest ${sending}: ${JSON.stringify(sent[publisher])}), ${viewer} gets ${w}`);
    else if (!(w >= 480)) problems.push(`${viewer} <- ${publisher}: frame width ${w}, want a high layer (>= 480; ${publisher} sends up to ${sending})`);
    const st = s.stream(fig, viewer, publisher);
    const enc = s.pub(fig, publisher).encodedFps;
    if (!(st.fps >= 0.8 * enc)) gaps.push(`${viewer} <- ${publisher}: ${st.fps} fps, publisher encodes ${enc} (want >= 80 %)`);
  }
  // Switches without a freeze: a Chrome freeze is a gap of ~180 ms or more at 30 fps, so none at
  // all since every stream played means no switch froze for longer; reported as a gap (TODO)
  // rather than a failure, the machine's load makes freezes of its own.
  for (const [pair, f] of Object.entries(sinceJoin)) {
    if (f.freezes > 0 && f.frozenS / f.freezes > 0.3) gaps.push(`${pair}: ${f.freezes} freezes, ${f.frozenS} s`);
  }
  // A's encoder drops its top layer (as Chrome does under CPU or uplink limits; here by
  // `setParameters`), its other layers going on: B, which decodes A's top layer, moves to the
  // next one at once (the server takes a layer the others outlive by 100 ms, and by twice its
  // own longest recent gap between frames, as dropped; it waited 1 s of silence and its next
  // 500 ms housekeeping before: 1-1.5 s frozen).
  const beforeDrop = await s.snapshot(clients);
  const dropped = await dropTopLayer(clients.A);
  await h.sleep(DROP_WATCH_S * 1000);
  const afterDrop = await s.snapshot(clients);
  const was = widthOf(beforeDrop, 'B', 'A');
  const now = widthOf(afterDrop, 'B', 'A');
  const a0 = (s.inboundFrom(beforeDrop.B, 'A') || {}).video || {};
  const a1 = (s.inboundFrom(afterDrop.B, 'A') || {}).video || {};
  const drop = {
    dropped, widthBefore: was, widthAfter: now,
    framesDecoded: (a1.framesDecoded || 0) - (a0.framesDecoded || 0),
    freezes: (a1.freezeCount || 0) - (a0.freezeCount || 0),
    frozenS: Number(((a1.totalFreezesDuration || 0) - (a0.totalFreezesDuration || 0)).toFixed(2)),
  };
  console.log(`# B <- A after A dropped its top layer: ${JSON.stringify(drop)}`);
  if (!dropped) problems.push('A could not drop its top layer (setParameters)');
  else if (was > 480) { // B decoded A's top layer (a loaded machine may have made A stop it already)
    if (!(now > 0 && now < was)) problems.push(`B <- A: frame width ${now} ${DROP_WATCH_S} s after A dropped its top layer (was ${was}), want a lower layer`);
    if (!(drop.framesDecoded >= DROP_WATCH_S * 15)) problems.push(`B <- A: ${drop.framesDecoded} frames decoded in the ${DROP_WATCH_S} s after A dropped its top layer`);
    // Frozen < 0.7 s: the server's move (0-0.25 s in quiet runs), not the old 1 s of silence and the
    // housekeeping after it (1.03-1.1 s frozen with the server before; a switch's freeze < 300 ms is a
    // gap like the others above: the machine's load adds freezes of its own).
    if (!(drop.frozenS < 0.7)) problems.push(`B <- A: frozen ${drop.frozenS} s after A dropped its top layer, want < 0.7 s`);
    if (drop.freezes > 0 && drop.frozenS / drop.freezes > 0.3) gaps.push(`B <- A after the drop: ${drop.freezes} freezes, ${drop.frozenS} s`);
  }
  s.verdict(t, problems, gaps, { starved: s.starvedControl(fig, lab) });
});
