'use strict';
// Test harness for Huddle browser tests.
// - startServer(): runs the real server binary (target/release/huddle) on 127.0.0.1 with free ports
//   and waits for its "huddle ready http=… https=… media=…" line.
// - startStatic(): a tiny static HTTP server on 127.0.0.1 that serves e2e/page/ and the UNMODIFIED
//   SDK files from node_modules/@flashphoner/websdk/ under /sdk/.
// - launchBrowser(): Debian's Chromium through playwright-core with the flags from the verified recipe.
// - newClient(): one browser context + page = one participant, with async helpers around window.H.
// (e2e/lib/suite.js puts these together into the before/afterEach/after of a test file.)
// Everything binds to and talks to 127.0.0.1 only (the network lab, e2e/lib/netlab.js, passes its own
// namespace address and command prefix). Every wait is bounded.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const dgram = require('node:dgram');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const E2E_DIR = path.resolve(__dirname, '..');
const REPO_DIR = path.resolve(E2E_DIR, '..');
const ARTIFACTS = path.join(E2E_DIR, 'artifacts');
const SDK_DIR = path.join(E2E_DIR, 'node_modules', '@flashphoner', 'websdk');
const TARGET_DIR = process.env.CARGO_TARGET_DIR ? path.resolve(REPO_DIR, process.env.CARGO_TARGET_DIR) : path.join(REPO_DIR, 'target');
const HUDDLE_BIN = process.env.HUDDLE_BIN || path.join(TARGET_DIR, 'release', 'huddle');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// Recipe §1: exactly ONE --disable-features switch (Chromium keeps only the last one).
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints,NetworkTimeServiceQuerying,' +
    'PreconnectToSearch,AimEnabled,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,PaintHolding',
];

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

function safeName(s) {
  return String(s).replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 80);
}

let helpText = null;
/** `huddle --help`, read once. */
function serverHelp() {
  if (helpText === null) {
    const r = spawnSync(HUDDLE_BIN, ['--help'], { encoding: 'utf8', timeout: 10000, env: serverEnv() });
    helpText = `${r.stdout || ''}${r.stderr || ''}`;
  }
  return helpText;
}

/** The edge spells the announce flag `--announce-ips` (comma list); older drafts said `--announce-ip`. */
function announceFlag() {
  const help = serverHelp();
  if (/--announce-ips\b/.test(help)) return '--announce-ips';
  if (/--announce-ip\b/.test(help)) return '--announce-ip';
  throw new Error(`huddle --help lists no --announce-ip(s) flag:\n${help}`);
}

/** Every `--<name>-port` flag that `huddle --help` lists. */
function portFlags() {
  const flags = [...new Set(serverHelp().match(/--[a-z][a-z-]*-port\b/g) || [])];
  for (const f of ['--http-port', '--https-port', '--media-port']) {
    if (!flags.includes(f)) throw new Error(`huddle --help lists no ${f} flag`);
  }
  return flags;
}

/** The server reads HUDDLE_* variables as settings: never let the caller's environment leak in. */
function serverEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HUDDLE_')) env[k] = v;
  env.RUST_LOG = process.env.RUST_LOG || 'info';
  return env;
}

/**
 * Start the real huddle binary. Options: graceSecs, maxParticipants, extraArgs, name (for the log file);
 * for the network lab: bind (address to bind and announce, default 127.0.0.1) and commandPrefix
 * (e.g. ['ip', 'netns', 'exec', ns], which execs the server inside a network namespace).
 * Returns { httpAddr, httpsAddr, mediaAddr, wsUrl, httpUrl, recordsDir, log(), stop() }.
 */
async function startServer(opts = {}) {
  if (!fs.existsSync(HUDDLE_BIN)) {
    throw new Error(`server binary not found: ${HUDDLE_BIN} (run: cargo build --release)`);
  }
  const announce = announceFlag();
  const bind = opts.bind || '127.0.0.1';
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const recordsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'huddle-e2e-records-'));
  // Port 0: the server picks free ports itself and reports them in its ready line (no races).
  const args = [
    '--bind', bind,
    announce, bind,
    // every listening port the server has (http, https, media, rtmp, ...): 0 = a free one
    ...portFlags().flatMap((f) => [f, '0']),
    '--web-dir', path.join(REPO_DIR, 'web'),
    '--records-dir', recordsDir,
  ];
  if (opts.graceSecs !== undefined) args.push('--grace-period-secs', String(opts.graceSecs));
  if (opts.maxParticipants !== undefined) args.push('--max-participants', String(opts.maxParticipants));
  if (opts.extraArgs) args.push(...opts.extraArgs);
  // HUDDLE_E2E_FORWARDING=frame (or rtp) runs any suite against that forwarding mode
  // (docs/RTP_MODE.md); unset: the server's default, rtp. scripts/test.sh runs some suites with
  // frame so that frame mode stays tested. (Not a HUDDLE_* setting of the server: serverEnv
  // drops it.)
  if (process.env.HUDDLE_E2E_FORWARDING) args.push('--forwarding', process.env.HUDDLE_E2E_FORWARDING);

  const logPath = path.join(ARTIFACTS, `server-${safeName(opts.name || 'huddle')}-${process.pid}-${Date.now()}.log`);
  const logStream = fs.createWriteStream(logPath);
  logStream.write(`$ ${HUDDLE_BIN} ${args.join(' ')}\n`);
  const lines = [];
  const prefix = opts.commandPrefix || [];
  const child = spawn(prefix.length ? prefix[0] : HUDDLE_BIN, [...prefix.slice(1), ...(prefix.length ? [HUDDLE_BIN] : []), ...args], {
    cwd: REPO_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: serverEnv(),
  });
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  const ready = new Promise((resolve, reject) => {
    const onLine = (src) => (line) => {
      lines.push(`[${src}] ${line}`);
      if (lines.length > 5000) lines.shift();
      logStream.write(`[${src}] ${line}\n`);
      // "huddle ready http=<addr> https=<addr> media=<addr> [more key=addr pairs]"
      const m = /^huddle ready (.*)$/.exec(line.trim());
      if (m) {
        const addrs = {};
        for (const kv of m[1].trim().split(/\s+/)) {
          const [k, v] = kv.split('=');
          addrs[k] = v;
        }
        resolve(addrs);
      }
    };
    readline.createInterface({ input: child.stdout }).on('line', onLine('out'));
    readline.createInterface({ input: child.stderr }).on('line', onLine('err'));
    child.once('error', reject);
    exitPromise.then((e) =>
      reject(new Error(`huddle exited before ready (code ${e.code}, signal ${e.signal}):\n${lines.slice(-30).join('\n')}`)));
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`huddle not ready within 20 s:\n${lines.slice(-30).join('\n')}`)), 20000);
  });

  async function stop() {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 5000);
      await exitPromise;
      clearTimeout(t);
    }
    await new Promise((r) => logStream.end(r));
    fs.rmSync(recordsDir, { recursive: true, force: true });
  }

  let addrs;
  try {
    addrs = await Promise.race([ready, timeout]);
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  for (const k of ['http', 'https', 'media']) {
    if (!addrs[k]) {
      await stop();
      throw new Error(`huddle ready line has no ${k}= address: ${JSON.stringify(addrs)}`);
    }
  }
  for (const [k, a] of Object.entries(addrs)) {
    // media_shards=<udp port>,<udp port>,...: one media port per shard (docs/SHARDS.md).
    if (k === 'media_shards') {
      if (!a.split(',').every((p) => /^[1-9][0-9]*$/.test(p))) {
        await stop();
        throw new Error(`huddle media_shards is ${a}, expected a list of real ports`);
      }
      continue;
    }
    // node=<id>: this node's id in a cluster (--redis-url, docs/SCALING.md); not an address.
    if (k === 'node') continue;
    if (!(a.startsWith(`${bind}:`) && /:[1-9][0-9]*$/.test(a))) {
      await stop();
      throw new Error(`huddle ${k} is on ${a}, expected ${bind} with a real port only`);
    }
  }
  return Object.assign({ addrs }, {
    httpAddr: addrs.http,
    httpsAddr: addrs.https,
    mediaAddr: addrs.media,
    rtmpAddr: addrs.rtmp,
    wsUrl: `ws://${addrs.http}/`,
    httpUrl: `http://${addrs.http}`,
    recordsDir,
    logPath,
    log: () => lines.join('\n'),
    exited: () => exited,
    // A crash, for tests of node loss: the process gets `signal` (default SIGKILL) at once.
    kill: (signal = 'SIGKILL') => { if (!exited) child.kill(signal); return exitPromise; },
    stop,
  });
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Static server for the test page and the SDK bundle on `host` (default 127.0.0.1). Returns { url, close() }. */
function startStatic({ host = '127.0.0.1' } = {}) {
  const roots = [
    { prefix: '/sdk/', dir: SDK_DIR },
    { prefix: '/', dir: path.join(E2E_DIR, 'page') },
  ];
  const server = http.createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const p = urlPath === '/' ? '/index.html' : urlPath;
    for (const { prefix, dir } of roots) {
      if (!p.startsWith(prefix)) continue;
      const file = path.resolve(dir, '.' + p.slice(prefix.length - 1));
      if (!file.startsWith(dir + path.sep)) break;
      fs.readFile(file, (err, data) => {
        if (err) {
          res.writeHead(404);
          res.end('not found');
          return;
        }
        res.writeHead(200, { 'content-type': MIME[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
        res.end(data);
      });
      return;
    }
    res.writeHead(404);
    res.end('not found');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      resolve({
        url: `http://${host}:${port}/`,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

/** Chromium with the recipe's flags; `fakeCameraFps`: the fake camera's frame rate (its default is 20). */
async function launchBrowser({ fakeCameraFps } = {}) {
  const { chromium } = require('playwright-core');
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (run scripts/install-deps.sh)`);
  const fakeCamera = '--use-fake-device-for-media-stream';
  const args = fakeCameraFps === undefined ? CHROMIUM_ARGS
    : CHROMIUM_ARGS.map((a) => (a === fakeCamera ? `${a}=fps=${fakeCameraFps}` : a));
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 60000 });
}

/** Poll fn() (async, returns truthy when done) until timeout; returns its last value or throws. */
async function waitUntil(fn, { timeout = 15000, interval = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) break;
    await sleep(interval);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
    (lastErr ? ` (last error: ${lastErr.message})` : '') +
    (last !== undefined ? ` (last value: ${JSON.stringify(last)})` : ''));
}

class Client {
  constructor(name, context, page) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.console = [];
  }

  eval(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  connect(wsUrl) {
    return this.eval(([url, user]) => window.H.connect(url, user), [wsUrl, this.name]);
  }

  join(room, opts) {
    return this.eval(([r, o]) => window.H.join(r, o), [room, opts || {}]);
  }

  participants() {
    return this.eval(() => window.H.participants());
  }

  events(type) {
    return this.eval((t) => window.H.events.filter((e) => !t || e.type === t), type || null);
  }

  /** Wait for an event of `type` whose fields include `match` (shallow equality). */
  async waitEvent(type, match = {}, timeout = 15000) {
    return waitUntil(async () => {
      const evs = await this.events(type);
      return evs.find((e) => Object.entries(match).every(([k, v]) => e[k] === v));
    }, { timeout, what: `${this.name}: event ${type} ${JSON.stringify(match)}` });
  }

  sendMessage(to, text) {
    return this.eval(([t, x]) => window.H.sendMessage(t, x), [to, text]);
  }

  leave() {
    return this.eval(() => window.H.leave());
  }

  publish(opts) {
    return this.eval((o) => window.H.publish(o), opts || {});
  }

  play(login) {
    return this.eval((l) => window.H.play(l), login);
  }

  forceCodecs(f) {
    return this.eval((x) => window.H.forceCodecs(x), f);
  }

  remoteStats() {
    return this.eval(() => window.H.remoteStats());
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}

/** New context + page loaded from the static server; `name` is the login. */
async function newClient(browser, pageUrl, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const client = new Client(name, context, page);
  page.on('console', (m) => {
    client.console.push(`[${m.type()}] ${m.text()}`);
    if (client.console.length > 2000) client.console.shift();
  });
  page.on('pageerror', (e) => client.console.push(`[pageerror] ${e.message}`));
  await page.goto(pageUrl, { timeout: 15000 });
  await page.waitForFunction(() => window.H && window.H.events.some((e) => e.type === 'PAGE_READY'), null, { timeout: 15000 });
  return client;
}

/** Save console logs and a screenshot of each client (for failed tests). */
async function saveArtifacts(tag, clients) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const c of clients) {
    if (!c) continue;
    const base = path.join(ARTIFACTS, `${safeName(tag)}-${safeName(c.name)}`);
    fs.writeFileSync(`${base}.console.log`, c.console.join('\n'));
    try {
      fs.writeFileSync(`${base}.events.json`, JSON.stringify(await c.events(), null, 1));
      await c.page.screenshot({ path: `${base}.png`, timeout: 5000 });
    } catch (_) { /* page may be gone */ }
  }
}

/** The 1/5/15-minute load averages as one string, printed next to timing figures (the machine is shared). */
function loadavg() {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

function uniqueRoom(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

module.exports = {
  CHROMIUM_ARGS,
  CHROMIUM,
  Client,
  HUDDLE_BIN,
  REPO_DIR,
  E2E_DIR,
  ARTIFACTS,
  startServer,
  portFlags,
  startStatic,
  launchBrowser,
  newClient,
  saveArtifacts,
  waitUntil,
  sleep,
  uniqueRoom,
  loadavg,
  freeTcpPort,
  freeUdpPort,
};
