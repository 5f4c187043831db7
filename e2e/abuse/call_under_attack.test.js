'use strict';
// Issue 12 acceptance: a live two-party call (the unmodified SDK in Chromium, camera+mic both
// ways) keeps >= 90 % of its frame rate while one attack after the other hits the server, the
// server keeps answering (a new session is established, /api/stats answers) during and after
// each attack, its memory stays under a stated bound and comes back near where it was once the
// attackers leave. Baseline fps is measured right before each attack (5 s), then again during
// it (8 s of a 9 s attack). The attacks themselves are in lib/attacks.js; the figures of a run
// go to e2e/artifacts/abuse-figures.json and into docs/SECURITY.md.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../lib/harness');
const call = require('./lib/call');
const attacks = require('./lib/attacks');

const ATTACK_MS = 9000;
const BASELINE_MS = 5000;
const MEASURE_MS = 8000;
/** Frame rate kept during an attack, as a share of the baseline. */
const MIN_FPS_SHARE = 0.9;
/** Largest growth of the server's RSS while an attack runs (MiB over its value before). */
const MAX_RSS_GROWTH_MIB = 256;
/** Largest growth left 10 s after the attackers left (MiB over the value before the attack). */
const MAX_RSS_LEFT_MIB = 64;

/** Server counters whose change each attack reports (the defence that engaged). */
const COUNTERS = ['huddle_media_admission_refused_total', 'huddle_media_busy_total', 'huddle_slow_sessions_dropped_total',
  'huddle_connections_refused_total', 'huddle_rate_limited_total', 'huddle_protocol_errors_total', 'huddle_media_dropped_total'];

/**
 * One scenario per finding that can reach the media: name, attack(server, ctx) -> summary, and
 * check(summary, counters) for what the server must have done about it.
 */
const SCENARIOS = [
  ['publish flood (200 sessions from 20 addresses, real offers, publish+unpublish 4/s each)',
    (server, ctx) => attacks.publishFlood(server, { sdp: ctx.sdp, durationMs: ATTACK_MS }),
    (s, c) => {
      assert.ok(s.answers.failedAdmission > 0, 'admission refused publishes with a reason');
      assert.ok(c.huddle_media_admission_refused_total > 0, 'refusals counted');
    }],
  ['clients that stop reading (8 non-readers in a room fed 60 KB chats by 6 senders)',
    (server) => attacks.slowReaders(server, { durationMs: ATTACK_MS }),
    (s, c) => assert.ok(c.huddle_slow_sessions_dropped_total >= 1, 'a non-reading client was dropped')],
  ['slowloris / descriptor exhaustion (1,200 trickling HTTP sockets from 6 addresses)',
    (server) => attacks.slowloris(server, { durationMs: ATTACK_MS }),
    (s) => assert.ok(s.peakOpen >= 1100, `the attack held ${s.peakOpen} sockets (more than the default 1,024 descriptors)`)],
  ['UDP garbage and STUN flood at the media port (8,000 packets/s)',
    (server) => attacks.udpFlood(server, { durationMs: ATTACK_MS }),
    (s, c) => assert.ok(c.huddle_media_dropped_total >= s.sent / 2, `garbage dropped: ${c.huddle_media_dropped_total} of ${s.sent}`)],
  ['garbage on the ICE-TCP port (200 sockets from 4 addresses)',
    (server) => attacks.iceTcpGarbage(server, { durationMs: ATTACK_MS }),
    (s) => assert.ok(s.closedByServer > 0, 'garbage connections closed')],
  ['RTMP half-open flood (32 sockets from 4 addresses, reopened; a legitimate handshake still works)',
    (server) => attacks.rtmpHalfOpen(server, { durationMs: ATTACK_MS, addresses: 4 }),
    (s) => {
      assert.ok(s.legitHandshakes.ok >= 5, `legitimate handshakes: ${JSON.stringify(s.legitHandshakes)}`);
      assert.equal(s.legitHandshakes.failed, 0, `legitimate handshakes: ${JSON.stringify(s.legitHandshakes)}`);
    }],
  ['big and fragmented frames (877 KB connection, 2 MiB frames, unfinished 896 KB messages)',
    (server) => attacks.bigFrames(server, { durationMs: ATTACK_MS }),
    (s) => assert.ok(s.closedByServer >= s.hugeConnection + s.hugeFrame - 2, `oversized messages closed: ${JSON.stringify(s)}`)],
];

/** Every "media thread stalled for X ms" the server logged so far, in ms (the media loop ran a
 * turn this long: a sign the attack, or the machine's load, starved it). Reported, not asserted:
 * on a shared 2-core machine other processes can cause them too. */
function mediaStalls(server) {
  return [...server.log().matchAll(/media thread stalled for ([0-9.]+)(m?s)/g)]
    .map((m) => Math.round(Number(m[1]) * (m[2] === 's' ? 1000 : 1)));
}

/** Waits (up to 30 s) until both participants decode >= 5 fps; resolves the seconds it took. */
async function waitCallDecodes(live) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < 30000) {
    last = await call.measureFps(live, 1000);
    if (last.every((f) => f.fps >= 5)) return Math.round((Date.now() - t0) / 100) / 10;
  }
  throw new Error(`the call does not decode (30 s): ${JSON.stringify(last)}`);
}

describe('a live call under attack (issue 12)', { timeout: 330000 }, () => {
  let server;
  let web;
  let browser;
  let pid;
  let live;
  let sdp;
  const clients = [];
  const figures = [];

  before(async () => {
    server = await h.startServer({ name: 'abuse', graceSecs: 2 });
    web = await h.startStatic();
    browser = await h.launchBrowser();
    pid = call.serverPid(server);
    live = await call.startCall(browser, web.url, server, (c) => clients.push(c));
    // A real WebRTC offer (audio+video) for the publish flood: the server builds a peer for it.
    sdp = await live.alice.eval(async () => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('audio', { direction: 'sendonly' });
      pc.addTransceiver('video', { direction: 'sendonly' });
      const offer = await pc.createOffer();
      pc.close();
      return offer.sdp;
    });
  });

  after(async () => {
    await h.saveArtifacts('abuse', clients);
    for (const c of clients) await c.close();
    if (browser) await browser.close();
    if (web) await web.close();
    if (server) await server.stop();
    fs.mkdirSync(h.ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(h.ARTIFACTS, 'abuse-figures.json'), JSON.stringify(figures, null, 1));
  });

  for (const [name, attack, check] of SCENARIOS) {
    test(name, { timeout: 60000 }, async () => {
      // Each scenario starts from a call that decodes (one that failed must not fail the next).
      const recoveredIn = await waitCallDecodes(live);
      const baseline = await call.measureFps(live, BASELINE_MS);
      for (const b of baseline) assert.ok(b.fps >= 5, `${b.name} decodes only ${b.fps.toFixed(1)} fps before the attack`);
      const rssBefore = call.rssMiB(pid);
      const fdsBefore = call.openFds(pid);
      const countersBefore = await call.metrics(server, COUNTERS);
      const stallsBefore = mediaStalls(server);
      const sampler = call.rssSampler(pid);
      const t0 = Date.now();
      const running = attack(server, { sdp });
      await h.sleep(ATTACK_MS - MEASURE_MS - 500);
      // While the attack runs: the call's frame rate, and (half-way) a new session and /api/stats.
      const [during, healthDuring] = await Promise.all([
        call.measureFps(live, MEASURE_MS),
        h.sleep(MEASURE_MS / 2).then(() => call.assertServes(server)),
      ]);
      const summary = await running;
      const attackSecs = (Date.now() - t0) / 1000;
      const rssPeak = sampler.stop();
      const healthAfter = await call.assertServes(server);
      const countersAfter = await call.metrics(server, COUNTERS);
      const stalls = mediaStalls(server).slice(stallsBefore.length);
      const counters = Object.fromEntries(COUNTERS.map((n) => [n, countersAfter[n] - countersBefore[n]]));
      // Memory comes back near where it was once the attackers are gone.
      let rssAfter = call.rssMiB(pid);
      const settleEnd = Date.now() + 10000;
      while (rssAfter > rssBefore + MAX_RSS_LEFT_MIB / 2 && Date.now() < settleEnd) {
        await h.sleep(500);
        rssAfter = call.rssMiB(pid);
      }
      const row = {
        scenario: name,
        attackSecs,
        callRecoveredInSecs: recoveredIn,
        summary,
        counters: Object.fromEntries(Object.entries(counters).filter(([, v]) => v)),
        fps: baseline.map((b, i) => ({ name: b.name, baseline: +b.fps.toFixed(1), during: +during[i].fps.toFixed(1),
          share: +(during[i].fps / b.fps).toFixed(2), worstSecond: during[i].worstSecond && +during[i].worstSecond.toFixed(1) })),
        rssMiB: { before: Math.round(rssBefore), peak: Math.round(rssPeak), after: Math.round(rssAfter) },
        fds: { before: fdsBefore, after: call.openFds(pid) },
        // The media loop's own stalls during the attack (ms; "media thread stalled" log lines).
        mediaStallsMs: stalls,
        healthDuring,
        healthAfter,
      };
      figures.push(row);
      console.log(`ABUSE FIGURES ${JSON.stringify(row)}`);
      check(summary, counters);
      for (const f of row.fps) {
        assert.ok(f.share >= MIN_FPS_SHARE,
          `${f.name}: ${f.during} fps during the attack, ${f.baseline} before (${Math.round(f.share * 100)} % < ${MIN_FPS_SHARE * 100} %)`);
      }
      assert.ok(rssPeak <= rssBefore + MAX_RSS_GROWTH_MIB, `RSS peaked at ${rssPeak.toFixed(0)} MiB (from ${rssBefore.toFixed(0)})`);
      assert.ok(rssAfter <= rssBefore + MAX_RSS_LEFT_MIB, `RSS ${rssAfter.toFixed(0)} MiB 10 s after the attack (from ${rssBefore.toFixed(0)})`);
    });
  }
});
