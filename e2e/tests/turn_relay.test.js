'use strict';
// TURN: a browser that may use relayed candidates only (iceTransportPolicy 'relay') still gets a
// call, through Debian's coturn started here on 127.0.0.1 with a shared secret. The whole chain
// is the product's: huddle's --turn-urls/--turn-secret -> GET /api/ice-servers (fresh TURN REST
// credentials) -> web/client/js/core/ice-servers.js + core/room-session.js -> RoomApi.connect({mediaOptions: {iceServers}}) ->
// the SDK's RTCPeerConnection. The test only adds the relay-only policy to that configuration.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('../lib/harness');
const A = require('../apps_lib');

const TURNSERVER = process.env.TURNSERVER_PATH || '/usr/bin/turnserver';
const PCWRAP = path.join(h.E2E_DIR, 'page', 'pcwrap.js');

// Installed before the page's scripts: whatever configuration the SDK gives RTCPeerConnection
// (the app's iceServers included) is kept; only relayed candidates are allowed.
const RELAY_ONLY = `(() => {
  const Base = window.RTCPeerConnection;
  window.__configs = [];
  window.RTCPeerConnection = class extends Base {
    constructor(config, constraints) {
      const c = Object.assign({}, config || {}, { iceTransportPolicy: 'relay' });
      window.__configs.push(JSON.parse(JSON.stringify(c)));
      super(c, constraints);
    }
  };
})();`;

/** coturn on 127.0.0.1: a free listening port, a random relay port range, no config file. */
async function startCoturn(secret) {
  const port = await h.freeUdpPort();
  const minPort = 50000 + Math.floor(Math.random() * 10000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `huddle-coturn-${process.pid}-`));
  const args = [
    '-n', '--listening-ip=127.0.0.1', `--listening-port=${port}`, '--relay-ip=127.0.0.1',
    `--min-port=${minPort}`, `--max-port=${minPort + 60}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=huddle.test',
    '--allow-loopback-peers', '--no-tls', '--no-dtls', '--no-cli', '--fingerprint', '--verbose',
    `--pidfile=${path.join(dir, 'turn.pid')}`, `--db=${path.join(dir, 'turn.db')}`,
    // coturn buffers its stdout when it is a pipe; its log file is written line by line.
    `--log-file=${path.join(dir, 'turn.log')}`, '--simple-log',
  ];
  const logFile = path.join(dir, 'turn.log');
  const fileLines = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter((l) => l.trim()) : []);
  const child = spawn(TURNSERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const onData = (d) => {
    for (const l of d.toString().split('\n')) if (l.trim()) lines.push(l);
    if (lines.length > 5000) lines.splice(0, lines.length - 5000);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited = false;
  const exit = new Promise((r) => child.once('exit', () => { exited = true; r(); }));
  await h.waitUntil(() => fileLines().some((l) => /Total General servers/.test(l)) || exited,
    { timeout: 10000, what: 'coturn ready' });
  if (exited) throw new Error(`coturn exited:\n${lines.join('\n')}`);
  return {
    url: `turn:127.0.0.1:${port}?transport=udp`,
    lines: () => [...lines, ...fileLines()],
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 3000);
        await exit;
        clearTimeout(t);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Like apps_lib.openPerson, with the relay-only policy installed before the page loads. */
async function openRelayPerson(browser, url, name) {
  const context = await browser.newContext({ viewport: A.DESKTOP });
  await context.addInitScript({ path: PCWRAP });
  await context.addInitScript({ content: RELAY_ONLY });
  const page = await context.newPage();
  const person = new A.Person(name, context, page, new URL(url).origin);
  page.on('console', (m) => person.log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => person.log.push(`[pageerror] ${e.message}`));
  await person.goto(url);
  return person;
}

/** Candidate types of the selected ICE pair of every live peer connection on the page. */
function selectedPairs(person) {
  return person.page.evaluate(async () => {
    const out = [];
    for (const pc of window.__pcs || []) {
      if (pc.connectionState === 'closed') continue;
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
        const pair = stats.get(s.selectedCandidatePairId);
        const local = pair && stats.get(pair.localCandidateId);
        const remote = pair && stats.get(pair.remoteCandidateId);
        out.push({
          state: pc.connectionState,
          local: local && local.candidateType,
          relayProtocol: local && local.relayProtocol,
          remote: remote && `${remote.address}:${remote.port}/${remote.protocol}`,
        });
      });
    }
    return out;
  });
}

describe('TURN relay (coturn) for the web apps', { timeout: 180000 }, () => {
  const secret = `huddle-e2e-${process.pid}-${Date.now()}`;
  let coturn;
  let server;
  let browser;
  const people = [];

  before(async () => {
    if (!fs.existsSync(TURNSERVER)) throw new Error(`coturn not found at ${TURNSERVER} (run scripts/install-deps.sh)`);
    A.buildWeb();
    coturn = await startCoturn(secret);
    server = await h.startServer({
      name: 'turn', graceSecs: 2,
      extraArgs: ['--turn-urls', coturn.url, '--turn-secret', secret, '--turn-ttl-secs', '600'],
    });
    browser = await h.launchBrowser();
  });

  after(async () => {
    await A.saveLogs('turn', people);
    for (const p of people) await p.close();
    if (browser) await browser.close().catch(() => {});
    if (server) await server.stop();
    if (coturn) {
      fs.mkdirSync(h.ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(h.ARTIFACTS, `coturn-${process.pid}.log`), coturn.lines().join('\n'));
      await coturn.stop();
    }
  });

  test('GET /api/ice-servers hands out coturn REST credentials', async () => {
    const res = await fetch(`${server.httpUrl}/api/ice-servers`, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const { iceServers } = await res.json();
    assert.equal(iceServers.length, 1);
    const [turn] = iceServers;
    assert.deepEqual(turn.urls, [coturn.url]);
    const [expiry, user] = turn.username.split(':');
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Number(expiry) > now + 500 && Number(expiry) <= now + 601, `expiry ${expiry} is now + ttl`);
    assert.match(user, /^huddle-[0-9a-f]{16}$/);
    // coturn's use-auth-secret check: base64(HMAC-SHA1(secret, username)).
    const crypto = require('node:crypto');
    assert.equal(turn.credential, crypto.createHmac('sha1', secret).update(turn.username).digest('base64'));
  });

  test('two people in the video chat, relay-only: media decodes through coturn', { timeout: 120000 }, async () => {
    const room = `turn-${Date.now().toString(36)}`;
    const url = `${server.httpUrl}/client/video-chat.html?room=${encodeURIComponent(room)}`;
    const alice = await openRelayPerson(browser, url, 'alice');
    people.push(alice);
    await alice.join();
    const bob = await openRelayPerson(browser, url, 'bob');
    people.push(bob);
    await bob.join();
    const t0 = Date.now();
    await A.waitAllDecoding([alice, bob], '#remoteMain video', 1, 40000);
    const mediaMs = Date.now() - t0;

    for (const p of [alice, bob]) {
      // The SDK got the app's iceServers (TURN with generated credentials) in its configuration.
      const configs = await p.page.evaluate(() => window.__configs);
      assert.ok(configs.length >= 2, `${p.name}: a publish and a play peer connection`);
      for (const c of configs) {
        assert.equal(c.iceTransportPolicy, 'relay');
        assert.deepEqual(c.iceServers.map((s) => s.urls).flat(), [coturn.url], JSON.stringify(c));
      }
      // Every connected peer connection runs over a relayed candidate to huddle's media port.
      const pairs = await selectedPairs(p);
      const connected = pairs.filter((x) => x.state === 'connected');
      assert.ok(connected.length >= 2, `${p.name} pairs: ${JSON.stringify(pairs)}`);
      for (const x of connected) {
        assert.equal(x.local, 'relay', `${p.name}: ${JSON.stringify(x)}`);
        assert.equal(x.remote, `${server.mediaAddr}/udp`, `${p.name}: ${JSON.stringify(x)}`);
      }
    }
    // coturn saw authenticated allocations (the REST credentials were accepted).
    const log = coturn.lines();
    assert.ok(log.some((l) => /ALLOCATE processed, success/.test(l)),
      `coturn log has successful allocations:\n${log.slice(-40).join('\n')}`);
    console.log(`# turn relay: both decoding ${mediaMs} ms after bob joined`);
  });
});
