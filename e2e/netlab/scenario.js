'use strict';
// Shared steps of the network-lab scenarios (e2e/netlab/*.test.js): three SDK participants A, B, C,
// each in its own browser and network namespace, camera + mic (VP8/Opus), each playing the other
// two; only C's link is impaired. The figures come from getStats in every page (H.qualityStats in
// e2e/page/client.js), taken as differences over a measuring window, printed as a table and saved
// to e2e/artifacts/netlab-<scenario>.{json,md}.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const { describe, test, before, after } = require('node:test');
const h = require('../lib/harness');
const { createLab, newFirefoxClient } = require('../lib/netlab');

const CAMERA = { audio: true, video: { width: 320, height: 240 } };

/** One participant: its own browser inside its namespace, page loaded, VP8 forced, connected. */
async function participant(lab, name, { engine = 'chromium' } = {}) {
  let c;
  if (engine === 'firefox') {
    c = await newFirefoxClient(await lab.firefox(name), lab.web.url, name);
  } else {
    c = await h.newClient(await lab.chromium(name), lab.web.url, name);
  }
  await c.forceCodecs({ video: 'VP8' });
  await c.connect(lab.server.wsUrl);
  return c;
}

function quality(c) {
  return c.eval(() => window.H.qualityStats());
}

async function snapshot(clients) {
  const out = {};
  await Promise.all(Object.entries(clients).map(async ([n, c]) => { out[n] = await quality(c); }));
  return out;
}

/** Inbound entry of `viewer` for the stream published by `login`. */
function inboundFrom(snap, login) {
  return Object.values(snap.inbound).find((e) => e.login === login) || null;
}

function firstOutbound(snap) {
  return Object.values(snap.outbound)[0] || null;
}

/** Wait until every viewer shows a frame of every publisher it should see; never throws. */
async function waitFrames(clients, pairs, timeout) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const snap = await snapshot(clients);
    const missing = pairs.filter(([viewer, publisher]) => {
      const e = inboundFrom(snap[viewer], publisher);
      return !(e && e.firstFrameAt);
    });
    if (!missing.length || Date.now() >= deadline) return { snap, missing };
    await h.sleep(250);
  }
}

function allPairs(names) {
  return names.flatMap((v) => names.filter((p) => p !== v).map((p) => [v, p]));
}

const d = (a, b, f) => ((b && b[f]) || 0) - ((a && a[f]) || 0);
/** Seconds from `from` to `to` (page clock, ms), or null when either is unknown. */
const since = (from, to) => (from && to ? Number(((to - from) / 1000).toFixed(2)) : null);

/** Figures of the window between snapshots s0 and s1. `joinAt`: when C started joining. */
function windowFigures(s0, s1, names, joinAt) {
  const streams = [];
  for (const [viewer, publisher] of allPairs(names)) {
    const a = inboundFrom(s0[viewer], publisher) || {};
    const b = inboundFrom(s1[viewer], publisher) || {};
    const dt = (s1[viewer].t - s0[viewer].t) / 1000;
    const av = a.video || {};
    const bv = b.video || {};
    const aa = a.audio || {};
    const ba = b.audio || {};
    const samples = d(aa, ba, 'totalSamplesReceived');
    streams.push({
      viewer,
      publisher,
      seconds: Number(dt.toFixed(1)),
      fps: Number((d(av, bv, 'framesDecoded') / dt).toFixed(1)),
      frozenS: Number(d(av, bv, 'totalFreezesDuration').toFixed(2)),
      freezes: d(av, bv, 'freezeCount'),
      videoKbps: Math.round(d(av, bv, 'bytesReceived') * 8 / dt / 1000),
      videoLost: d(av, bv, 'packetsLost'),
      nacks: d(av, bv, 'nackCount'),
      plis: d(av, bv, 'pliCount'),
      keyframesDecoded: d(av, bv, 'keyFramesDecoded'),
      audioConcealedPct: samples > 0 ? Number((100 * d(aa, ba, 'concealedSamples') / samples).toFixed(2)) : null,
      audioKbps: Math.round(d(aa, ba, 'bytesReceived') * 8 / dt / 1000),
      // What reached the viewer's audio: packets lost on the way (frame mode numbers the
      // frames it forwards anew, so only a player's own downlink loss shows), Opus in-band FEC
      // packets received. (Chrome names Opus as the codec of a RED stream too: not shown.)
      audioLost: d(aa, ba, 'packetsLost'),
      audioFec: d(aa, ba, 'fecPacketsReceived'),
      // only for streams that started after the join being timed (C's); earlier ones show null
      firstFrameS: b.firstFrameAt && joinAt && b.firstFrameAt >= joinAt ? Number(((b.firstFrameAt - joinAt) / 1000).toFixed(2)) : null,
      playToFrameS: since(b.playRequestedAt, b.firstFrameAt),
      // from the play request: answer applied, ICE connected, DTLS done (connectionState connected)
      playToAnswerS: since(b.playRequestedAt, b.timeline && b.timeline.answered),
      playToIceS: since(b.playRequestedAt, b.timeline && b.timeline.iceConnected),
      playToDtlsS: since(b.playRequestedAt, b.timeline && b.timeline.connected),
      ice: b.ice ? `${b.ice.protocol}${b.ice.relay ? '/relay' : ''}` : null,
    });
  }
  const publishers = names.map((n) => {
    const a = firstOutbound(s0[n]) || {};
    const b = firstOutbound(s1[n]) || {};
    const dt = (s1[n].t - s0[n].t) / 1000;
    const av = a.video || {};
    const bv = b.video || {};
    const ba = b.audio || {};
    return {
      publisher: n,
      // the publisher's audio loss as the server's last receiver report gave it (0-1), and the
      // packets lost it reported in the window
      audioRrFractionLost: ba.remoteFractionLost === undefined ? null : ba.remoteFractionLost,
      audioRrLost: d(a.audio || {}, ba, 'remotePacketsLost'),
      encodedFps: Number((d(av, bv, 'framesEncoded') / dt).toFixed(1)),
      keyframes: d(av, bv, 'keyFramesEncoded'),
      plisIn: d(av, bv, 'pliCount'),
      firsIn: d(av, bv, 'firCount'),
      nacksIn: d(av, bv, 'nackCount'),
      videoKbps: Math.round(d(av, bv, 'bytesSent') * 8 / dt / 1000),
      limitation: bv.qualityLimitationReason || null,
      // publish connection, from its creation: answer applied, ICE connected, DTLS done
      answerS: since(b.timeline && b.timeline.created, b.timeline && b.timeline.answered),
      iceS: since(b.timeline && b.timeline.created, b.timeline && b.timeline.iceConnected),
      dtlsS: since(b.timeline && b.timeline.created, b.timeline && b.timeline.connected),
      ice: b.ice ? `${b.ice.protocol}${b.ice.relay ? '/relay' : ''}` : null,
    };
  });
  return { streams, publishers };
}

function table(rows, cols) {
  const head = `| ${cols.join(' | ')} |`;
  const sep = `|${cols.map(() => '---').join('|')}|`;
  const body = rows.map((r) => `| ${cols.map((c) => (r[c] === null || r[c] === undefined ? '–' : String(r[c]))).join(' | ')} |`);
  return [head, sep, ...body].join('\n');
}

/** The emulator's counters (lab.stats()) as a table: what each direction of each link did. */
function linkTable(stats) {
  const rows = [];
  for (const [link, l] of Object.entries(stats || {})) {
    for (const dir of ['up', 'down']) {
      const c = l[dir];
      rows.push({ link, dir, packets: c.received, delivered: c.delivered, lost: c.lost, queueDropped: c.queue_dropped,
        blockedUdp: c.blocked, maxQueueBytes: c.max_backlog_bytes });
    }
  }
  return `\nemulated links:\n\n${table(rows, ['link', 'dir', 'packets', 'delivered', 'lost', 'queueDropped', 'blockedUdp', 'maxQueueBytes'])}\n`;
}

/** Print the figures of one phase and add them to the scenario's artifact files. */
function report(scenario, phase, figures, extra = {}) {
  const md = [
    `### ${scenario}: ${phase}`,
    '',
    `machine load (1 min average) at the start and end of the window: ${figures.loadavg1m ? figures.loadavg1m.join(' / ') : '?'} (2 cores)`,
    '',
    table(figures.streams, ['viewer', 'publisher', 'seconds', 'fps', 'frozenS', 'freezes', 'videoKbps', 'videoLost', 'nacks', 'plis',
      'keyframesDecoded', 'audioConcealedPct', 'audioLost', 'audioFec', 'firstFrameS', 'playToAnswerS', 'playToIceS', 'playToDtlsS', 'playToFrameS', 'ice']),
    '',
    table(figures.publishers, ['publisher', 'audioRrFractionLost', 'audioRrLost', 'encodedFps', 'keyframes', 'plisIn', 'firsIn', 'nacksIn', 'videoKbps', 'limitation', 'answerS',
      'iceS', 'dtlsS', 'ice']),
    '',
    ...Object.entries(extra).map(([k, v]) => (k === 'link' ? linkTable(v) : `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)),
    '',
  ].join('\n');
  console.log(`\n${md}`);
  fs.mkdirSync(h.ARTIFACTS, { recursive: true });
  const base = path.join(h.ARTIFACTS, `netlab-${scenario}`);
  fs.appendFileSync(`${base}.md`, `${md}\n`);
  fs.appendFileSync(`${base}.json`, `${JSON.stringify({ scenario, phase, at: new Date().toISOString(), ...figures, extra })}\n`);
}

/** Start a fresh artifact file for this scenario. */
function resetReport(scenario) {
  for (const ext of ['md', 'json']) fs.rmSync(path.join(h.ARTIFACTS, `netlab-${scenario}.${ext}`), { force: true });
}

/**
 * The three-party call: A and B join and publish on perfect links and see each other; then
 * `impairC(clients)` runs (C's link settings), and C joins and publishes (`asApps`: in the order of Huddle's
 * apps, camera first and publish on STATE). Returns the clients, the time C
 * started joining, whether C's publish succeeded, and what was still missing after `settle` ms.
 */
async function threePartyCall(lab, { impairC = async () => {}, settle = 12000, asApps = false } = {}) {
  const room = h.uniqueRoom('netlab');
  const names = ['A', 'B', 'C'];
  const clients = {};
  for (const n of names) clients[n] = await participant(lab, n);
  for (const n of ['A', 'B']) {
    await clients[n].join(room);
    await clients[n].publish(CAMERA);
  }
  const ab = await waitFrames({ A: clients.A, B: clients.B }, allPairs(['A', 'B']), 20000);
  if (ab.missing.length) throw new Error(`A and B do not see each other on perfect links: ${JSON.stringify(ab.missing)}`);
  await impairC(clients);
  // asApps: C joins as Huddle's apps do (web/client/js/core/room-session.js): camera opened
  // before the join request (the apps open it even before connecting), publish started on STATE
  // before the plays. Otherwise as the SDK's conference demo: publish after the join resolved.
  if (asApps) await clients.C.eval(() => window.H.prepareCamera());
  const joinAt = Date.now();
  let publishError = null;
  await clients.C.join(room, asApps ? { publish: CAMERA } : {});
  const joinedAt = Date.now();
  const publish = asApps ? clients.C.eval(() => window.H.statePublish) : clients.C.publish(CAMERA);
  const publishing = publish.then(() => Date.now(), (e) => { publishError = e.message; return null; });
  const { missing } = await waitFrames(clients, allPairs(names), settle);
  const publishedAt = await Promise.race([publishing, h.sleep(100).then(() => null)]);
  return { clients, names, joinAt, joinedAt, missing, publishedAt, publishError: () => publishError };
}

// NETLAB_TRACE=1: every page samples its played videos' getStats every 100 ms through the
// measuring window (client.js H.startVideoTrace); saved to e2e/artifacts/netlab-trace-<viewer>.json
// and each stall of framesDecoded >= 200 ms printed with the counters that moved around it. With
// it, e2e/lib/netlab.js has the emulator log every RTP/RTCP packet (netlab-links.log).
const TRACE = process.env.NETLAB_TRACE === '1';
const TRACE_MS = 100;

/** The stalls (framesDecoded standing still >= `minMs`) of one stream's trace rows. */
function stalls(rows, minMs = 200) {
  const out = [];
  for (let i = 1; i < rows.length; i++) {
    let j = i;
    while (j < rows.length && rows[j].framesDecoded === rows[i - 1].framesDecoded) j++;
    if (j >= rows.length) break;
    const a = rows[i - 1];
    const b = rows[j];
    if (b.t - a.t >= minMs) {
      const dd = (f) => (b[f] || 0) - (a[f] || 0);
      out.push({ from: a.t, ms: b.t - a.t, frozenS: Number(dd('totalFreezesDuration').toFixed(3)), freezes: dd('freezeCount'),
        lost: dd('packetsLost'), nacks: dd('nackCount'), rtx: dd('retransmittedPacketsReceived'), plis: dd('pliCount'),
        received: dd('packetsReceived'), framesReceived: dd('framesReceived'), targetMs: Math.round(1000 * (b.jitterBufferTargetDelay - a.jitterBufferTargetDelay) / Math.max(1, b.jitterBufferEmittedCount - a.jitterBufferEmittedCount)) });
    }
    i = j;
  }
  return out;
}

async function saveTraces(clients) {
  for (const [viewer, c] of Object.entries(clients)) {
    const rows = await c.eval(() => window.H.stopVideoTrace());
    fs.mkdirSync(h.ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(h.ARTIFACTS, `netlab-trace-${viewer}.json`), JSON.stringify(rows));
    const byStream = {};
    for (const r of rows) (byStream[r.stream] = byStream[r.stream] || []).push(r);
    for (const [stream, rs] of Object.entries(byStream)) {
      for (const st of stalls(rs)) console.log(`trace ${viewer} <- ${stream}: ${new Date(st.from).toISOString()} ${JSON.stringify(st)}`);
    }
  }
}

/** Snapshot, wait `seconds`, snapshot: the figures of that window. */
async function measure(clients, names, seconds, joinAt) {
  const load0 = os.loadavg()[0];
  if (TRACE) await Promise.all(Object.values(clients).map((c) => c.eval((ms) => window.H.startVideoTrace(ms), TRACE_MS)));
  const s0 = await snapshot(clients);
  await h.sleep(seconds * 1000);
  const s1 = await snapshot(clients);
  if (TRACE) await saveTraces(clients);
  // The machine is shared (2 cores): a load far above 2 starves the browsers and makes every
  // stream slow, impaired or not. Printed so that such a run is recognised as not meaningful.
  return Object.assign(windowFigures(s0, s1, names, joinAt), { loadavg1m: [load0, os.loadavg()[0]].map((x) => Number(x.toFixed(1))) });
}

async function closeAll(tag, clients) {
  const list = Object.values(clients || {});
  await h.saveArtifacts(tag, list);
  for (const c of list) await c.close();
}

const stream = (figures, viewer, publisher) => figures.streams.find((s) => s.viewer === viewer && s.publisher === publisher);
const pub = (figures, publisher) => figures.publishers.find((p) => p.publisher === publisher);

// The verdict of a scenario. `problems` are thresholds the server meets today: any of them failing
// fails the test. `gaps` are thresholds not enforced (today only simulcast.test.js has any: a
// layer switch without a freeze over 300 ms and >= 80 % of the publisher's fps, which this 2-core
// machine's load can break by itself; docs/NETLAB.md has the figures): measured and printed every
// run and reported by node:test as TODO, so they neither hide nor fail the suite. A gap met in a
// run shows as a pass.
//
// `starved` (from `starvedControl`): the run's control streams froze. A and B play each other on
// perfect links, through the same server as C's streams; a freeze there is the machine's (three
// browsers on 2 cores: every stream of such a run freezes, the control streams too), unless the
// server paused that play (then `starvedControl` returns none and the run is judged), so the run
// cannot tell whether C's figures are the server's. Such a run with problems is void: it throws
// `StarvedRun` and `labScenario` runs the scenario again, up to ATTEMPTS times in all. Every
// attempt's figures are printed and kept in the artifacts; the last attempt's problems fail the
// test, starved or not, and a run whose control streams stayed clean is judged at once.
class StarvedRun extends Error {}
const ATTEMPTS = 3;

function verdict(t, problems, gaps = [], { starved = [] } = {}) {
  if (problems.length && starved.length) {
    throw new StarvedRun(`the machine starved the browsers (${starved.join('; ')}); problems of this run: ${problems.join('; ')}`);
  }
  assert.deepEqual(problems, []);
  if (gaps.length) {
    t.todo(`not enforced, not met in this run: ${gaps.join('; ')}`);
    assert.deepEqual(gaps, []);
  }
}

/**
 * The control streams (A and B playing each other on perfect links) that froze in `figures`, when
 * the machine is to blame: a control stream whose video the server paused (its log's
 * `pN: video paused`, on a low estimate of a perfect link) is the server's doing, and then the
 * run is not starved (none returned): it is judged.
 */
function starvedControl(figures, lab) {
  const frozen = [['A', 'B'], ['B', 'A']]
    .map(([viewer, publisher]) => stream(figures, viewer, publisher))
    .filter((st) => st && st.freezes > 0);
  if (!frozen.length) return [];
  const paused = pausedPlays(lab.server.log());
  if (frozen.some((st) => paused.some(([v, p]) => v === st.viewer && p === st.publisher))) return [];
  return frozen.map((st) => `${st.viewer} <- ${st.publisher} on perfect links froze ${st.frozenS} s in ${st.freezes} freezes`);
}

/**
 * The plays whose video the server paused, as [viewer, publisher] pairs, from its log: a session
 * is its participant's (the name in the stream it publishes: `<room>-<NAME>-<suffix>`), a play
 * peer belongs to the session that requested it.
 */
function pausedPlays(log) {
  const nameOf = (stream) => (/-([A-Z])-[0-9a-z]+$/.exec(stream) || [])[1];
  const sessionName = {};
  const playOf = {};
  for (const m of log.matchAll(/publish requested session=(\S+) peer=\S+ stream=(\S+)/g)) sessionName[m[1]] = nameOf(m[2]);
  for (const m of log.matchAll(/play requested session=(\S+) peer=(\S+) stream=(\S+)/g)) playOf[m[2]] = [m[1], nameOf(m[3])];
  const out = [];
  for (const m of log.matchAll(/ (p\d+): video paused/g)) {
    const play = playOf[m[1]];
    if (play) out.push([sessionName[play[0]], play[1]]);
  }
  return out;
}

// One lab scenario as one test: a fresh lab of A, B and C before it, its browsers and the lab
// (namespaces, emulator, server) torn down after it, also when it fails. The body gets
// `ctx.lab` and hands its call to `ctx.keep(call)` so that its browsers are closed. A void
// attempt (`StarvedRun`, see `verdict`) is torn down the same way and the body runs again in a
// fresh lab.
function labScenario(name, title, timeoutMs, testTitle, body) {
  describe(title, { timeout: timeoutMs * ATTEMPTS }, () => {
    const ctx = { lab: null, call: null, keep: (call) => (ctx.call = call) };
    const teardown = async () => {
      if (ctx.call) await closeAll(`netlab-${name}`, ctx.call.clients);
      ctx.call = null;
      if (ctx.lab) await ctx.lab.close();
      ctx.lab = null;
    };
    const build = async () => { ctx.lab = await createLab(['A', 'B', 'C'], { name }); };
    before(async () => {
      resetReport(name);
      await build();
    });
    after(teardown);
    test(testTitle, async (t) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await body(t, ctx);
        } catch (e) {
          if (!(e instanceof StarvedRun) || attempt === ATTEMPTS) throw e;
          const note = `attempt ${attempt} of ${ATTEMPTS} void: ${e.message}`;
          t.diagnostic(note);
          console.log(`\n${name}: ${note}\n`);
          await teardown();
          await build();
        }
      }
    });
  });
}

module.exports = {
  labScenario, verdict, starvedControl, CAMERA, participant, snapshot, inboundFrom, waitFrames, allPairs, windowFigures, report, resetReport, threePartyCall,
  measure, closeAll, stream, pub, quality,
};
