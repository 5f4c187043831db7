'use strict';
// The network lab: browsers behind emulated links, the server in its own network namespace.
//
// Topology (one lab = one test file; names carry this process's pid, so parallel runs never meet):
//
//   namespace <p>-s (server)              namespace <p>-a / -b / -c ... (one per browser)
//   lo: 127.0.0.1, 10.77.0.1 (announced)  lo, nl0: 10.77.<i>.2/24, default route via nl0
//   nlA, nlB, ... (TUN, route 10.77.<i>.0/24)   ^
//            ^                                  |
//            +--- huddle-netlab (user space) ---+   up = client -> server, down = server -> client,
//                 one link per browser, each direction impaired on its own (delay, jitter, loss,
//                 rate + bounded queue, UDP blocked), changeable at runtime with lab.set().
//
// The huddle server and the static page server run inside the server namespace (`ip netns exec`),
// bound to 10.77.0.1; each browser runs inside its own client namespace through a tiny wrapper
// script (playwright-core / puppeteer-core talk to the browser over a pipe, which `ip netns exec`
// keeps). Every browser sees the server at 10.77.0.1 only through its own emulated link.
// Cleanup: lab.close() in a finally, plus sweep() of namespaces left by dead processes.
//
// Run as a program (`node netlab.js --static <host>`) it is the static page server that
// createLab() starts inside the server namespace.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const h = require('./harness');

const NETLAB_BIN = process.env.HUDDLE_NETLAB_BIN || path.join(path.dirname(h.HUDDLE_BIN), 'huddle-netlab');
const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';
const SERVER_IP = '10.77.0.1';
const NS_PREFIX = 'hnl';
let labCounter = 0;

function ip(...args) {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || '').trim() || r.error}`);
  return r.stdout;
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Delete lab namespaces whose creating process is gone (a run killed before its finally). */
function sweep() {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout || '';
  for (const line of out.split('\n')) {
    const m = new RegExp(`^(${NS_PREFIX}(\\d+)x\\d+-[a-z0-9]+)\\b`).exec(line.trim());
    if (!m || pidAlive(Number(m[2]))) continue;
    // a dead run's server, page server or browser may still live in its namespaces: they were
    // started by that run of this lab, in a namespace only this lab creates
    const pids = (spawnSync('ip', ['netns', 'pids', m[1]], { encoding: 'utf8' }).stdout || '').split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch (_) { /* already gone */ }
    }
    spawnSync('ip', ['netns', 'del', m[1]]);
  }
}

/** Check what the lab needs, with a clear message instead of a cryptic failure later. */
function preflight() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('the network lab needs root (ip netns, /dev/net/tun)');
  if (!fs.existsSync('/dev/net/tun')) throw new Error('/dev/net/tun missing');
  if (!fs.existsSync(NETLAB_BIN)) throw new Error(`${NETLAB_BIN} missing (run: cargo build --release -p huddle-netlab)`);
  if (!fs.existsSync(h.HUDDLE_BIN)) throw new Error(`${h.HUDDLE_BIN} missing (run: cargo build --release -p huddle)`);
}

/** The netlab emulator process: one command line in, one answer line out. */
function startEmulator(links) {
  const args = [];
  for (const l of links) args.push('--link', `${l.name}:${l.clientNs}:nl0:${l.serverNs}:${l.serverTun}`);
  // NETLAB_TRACE=1 (e2e/netlab/scenario.js): the emulator logs every RTP/RTCP packet and what
  // its link did to it (crates/netlab/src/trace.rs) into e2e/artifacts/netlab-links.log
  const env = { ...process.env };
  if (process.env.NETLAB_TRACE === '1') {
    fs.mkdirSync(h.ARTIFACTS, { recursive: true });
    env.HUDDLE_NETLAB_TRACE = path.join(h.ARTIFACTS, 'netlab-links.log');
  }
  const child = spawn(NETLAB_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  const answers = [];
  let waiter = null;
  const stderr = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    answers.push(line);
    if (waiter) waiter();
  });
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 200) stderr.shift();
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
    if (waiter) waiter();
  });
  async function next(timeout = 5000) {
    const deadline = Date.now() + timeout;
    while (!answers.length) {
      if (exited) throw new Error(`huddle-netlab exited: ${stderr.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`huddle-netlab: no answer within ${timeout} ms`);
      await new Promise((r) => {
        waiter = r;
        setTimeout(r, 100);
      });
      waiter = null;
    }
    return answers.shift();
  }
  async function command(line) {
    child.stdin.write(`${line}\n`);
    const a = await next();
    if (a.startsWith('error')) throw new Error(`huddle-netlab "${line}": ${a}`);
    return a;
  }
  async function stop() {
    if (exited) return null;
    let last = null;
    try {
      child.stdin.end('quit\n');
      last = await next(3000);
    } catch (_) { /* killed below */ }
    if (!exited) child.kill('SIGKILL');
    return last && last.startsWith('stats ') ? JSON.parse(last.slice(6)) : null;
  }
  return { child, next, command, stop, stderr };
}

/**
 * Build the topology for `clients` (e.g. ['A', 'B', 'C']), start the emulator, the huddle server and
 * the static page server in the server namespace (unless `server: false`). Returns the lab; always close() it.
 */
async function createLab(clients, { name = 'lab', serverArgs = [], server = true } = {}) {
  preflight();
  sweep();
  const tag = `${NS_PREFIX}${process.pid}x${labCounter++}`;
  const serverNs = `${tag}-s`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  const lab = {
    tag, serverNs, serverIp: SERVER_IP, tmp, namespaces: [serverNs], links: {}, emulator: null, server: null, web: null,
    browsers: [],
  };
  try {
    ip('netns', 'add', serverNs);
    ip('-n', serverNs, 'link', 'set', 'lo', 'up');
    ip('-n', serverNs, 'addr', 'add', `${SERVER_IP}/32`, 'dev', 'lo');
    const links = clients.map((c, i) => ({
      name: c,
      clientNs: `${tag}-${c.toLowerCase()}`,
      serverNs,
      serverTun: `nl${c}`,
      clientIp: `10.77.${i + 1}.2`,
      subnet: `10.77.${i + 1}.0/24`,
    }));
    for (const l of links) {
      ip('netns', 'add', l.clientNs);
      lab.namespaces.push(l.clientNs);
      ip('-n', l.clientNs, 'link', 'set', 'lo', 'up');
    }
    lab.emulator = startEmulator(links);
    const ready = await lab.emulator.next(10000);
    if (ready !== 'ready') throw new Error(`huddle-netlab said ${ready}`);
    for (const l of links) {
      ip('-n', l.clientNs, 'addr', 'add', `${l.clientIp}/24`, 'dev', 'nl0');
      ip('-n', l.clientNs, 'link', 'set', 'nl0', 'up');
      ip('-n', l.clientNs, 'route', 'add', 'default', 'dev', 'nl0');
      ip('-n', serverNs, 'link', 'set', l.serverTun, 'up');
      ip('-n', serverNs, 'route', 'add', l.subnet, 'dev', l.serverTun);
      lab.links[l.name] = l;
    }
    if (server) {
      const inServerNs = ['ip', 'netns', 'exec', serverNs];
      lab.server = await h.startServer({ name: `netlab-${name}`, bind: SERVER_IP, commandPrefix: inServerNs, graceSecs: 2, extraArgs: serverArgs });
      lab.web = await startStaticIn(serverNs, SERVER_IP);
    }
  } catch (e) {
    await closeLab(lab);
    throw e;
  }
  lab.set = (link, direction, settings) => lab.emulator.command(`${link} ${direction} ${settings}`);
  lab.stats = async () => JSON.parse((await lab.emulator.command('stats')).slice(6));
  lab.emulatorCpuSeconds = () => cpuSeconds(lab.emulator.child.pid);
  lab.close = () => closeLab(lab);
  lab.chromium = (client, opts) => launchChromiumIn(lab, client, opts);
  lab.firefox = (client) => launchFirefoxIn(lab, client);
  return lab;
}

/** User + system CPU time a process has used so far, from /proc/<pid>/stat (null if unreadable). */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], fields[12] = utime, stime (fields 14 and 15 of proc(5), counted from the state field)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch (_) {
    return null;
  }
}

/** The static page server as a child process inside `ns` (node cannot enter a namespace itself). */
async function startStaticIn(ns, host) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, __filename, '--static', host], { stdio: ['pipe', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('static server not ready within 10 s')), 10000);
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`static server exited (${code})`)));
  });
  return {
    url,
    close: () => new Promise((r) => {
      if (child.exitCode !== null) return r();
      child.once('exit', () => r());
      child.stdin.end(); // it exits when its stdin closes
      setTimeout(() => child.kill('SIGKILL'), 3000);
    }),
  };
}

/** A wrapper that runs `binary` inside `ns` with the arguments the driver passes. */
function wrapper(lab, ns, binary) {
  const file = path.join(lab.tmp, `${path.basename(binary)}-${ns}.sh`);
  fs.writeFileSync(file, `#!/bin/sh\nexec ip netns exec ${ns} ${binary} "$@"\n`, { mode: 0o755 });
  return file;
}

/** Chromium inside `client`'s namespace; the page origin (http://10.77.0.1:port) counts as secure. */
async function launchChromiumIn(lab, client) {
  const { chromium } = require('playwright-core');
  const ns = lab.links[client].clientNs;
  const origin = new URL(lab.web.url).origin;
  // ONE --disable-features switch (recipe P1): add LocalNetworkAccessChecks to harness's list so
  // the page may open a WebSocket to a private address.
  const args = h.CHROMIUM_ARGS.map((a) => (a.startsWith('--disable-features=') ? `${a},LocalNetworkAccessChecks` : a));
  args.push(`--unsafely-treat-insecure-origin-as-secure=${origin}`);
  const browser = await chromium.launch({ executablePath: wrapper(lab, ns, h.CHROMIUM), headless: true, args, timeout: 60000 });
  lab.browsers.push(browser);
  return browser;
}

/** Prefs for a test Firefox: fake devices, no prompts, real host candidates, gUM on an http page. */
const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // the page is served over http from 10.77.0.1: let getUserMedia work there
  'media.devices.insecure.enabled': true,
  'media.getusermedia.insecure.enabled': true,
  'media.autoplay.default': 0,
  'browser.shell.checkDefaultBrowser': false,
  'app.update.disabledForTesting': true,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'browser.startup.homepage_override.mstone': 'ignore',
};

/**
 * Firefox ESR inside `client`'s namespace, driven by puppeteer-core over WebDriver BiDi (recipe §8).
 * Firefox speaks BiDi only over a WebSocket on 127.0.0.1 *of its own namespace*, which the test
 * process cannot reach; so a bridge child inside the namespace forwards a unix socket (the file
 * system is shared between namespaces) to that port, and a local TCP proxy here forwards to the
 * unix socket. The browser's network for the page itself is only its emulated link.
 */
async function launchFirefoxIn(lab, client) {
  const puppeteer = require('puppeteer-core');
  const ns = lab.links[client].clientNs;
  const profile = fs.mkdtempSync(path.join(lab.tmp, `firefox-${client}-`));
  fs.writeFileSync(path.join(profile, 'user.js'),
    Object.entries(FIREFOX_PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n') + '\n');
  const ff = spawn('ip', ['netns', 'exec', ns, FIREFOX, '--headless', '--no-remote', '--profile', profile, '--remote-debugging-port', '0'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = [];
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Firefox did not start its BiDi server within 30 s:\n${stderr.join('\n')}`)), 30000);
    readline.createInterface({ input: ff.stderr }).on('line', (line) => {
      if (stderr.length < 200) stderr.push(line);
      const m = /WebDriver BiDi listening on ws:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    ff.once('exit', (code) => reject(new Error(`Firefox exited (${code}):\n${stderr.join('\n')}`)));
  });
  const sock = path.join(lab.tmp, `bidi-${client}.sock`);
  const bridge = spawn('ip', ['netns', 'exec', ns, process.execPath, __filename, '--bridge', sock, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    readline.createInterface({ input: bridge.stdout }).once('line', resolve);
    bridge.once('exit', (code) => reject(new Error(`BiDi bridge exited (${code})`)));
  });
  const proxy = net.createServer((c) => {
    const u = net.connect(sock);
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  const stop = async () => {
    proxy.close();
    bridge.stdin.end();
    if (ff.exitCode === null) {
      const gone = new Promise((r) => ff.once('exit', r));
      ff.kill('SIGTERM');
      await Promise.race([gone, h.sleep(5000)]);
      if (ff.exitCode === null) ff.kill('SIGKILL');
    }
  };
  let browser;
  try {
    browser = await puppeteer.connect({ browserWSEndpoint: `ws://127.0.0.1:${proxy.address().port}/session`, protocol: 'webDriverBiDi' });
  } catch (e) {
    await stop();
    throw e;
  }
  lab.browsers.push({ close: async () => { await Promise.race([browser.close().catch(() => {}), h.sleep(5000)]); await stop(); } });
  return browser;
}

/** A participant in a Firefox browser (puppeteer), with the same helpers as harness's clients. */
async function newFirefoxClient(browser, pageUrl, name) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  const client = new h.Client(name, context, page);
  // puppeteer's page.evaluate(fn, ...args) takes the single argument the same way playwright does
  page.on('console', (m) => {
    client.console.push(`[${m.type()}] ${m.text()}`);
    if (client.console.length > 2000) client.console.shift();
  });
  page.on('pageerror', (e) => client.console.push(`[pageerror] ${e.message}`));
  await page.goto(pageUrl, { timeout: 20000 });
  await h.waitUntil(() => page.evaluate(() => !!(window.H && window.H.events.some((e) => e.type === 'PAGE_READY'))),
    { timeout: 15000, what: `${name}: test page ready` });
  return client;
}

async function closeLab(lab) {
  for (const b of lab.browsers) await Promise.race([b.close().catch(() => {}), h.sleep(10000)]);
  lab.browsers = [];
  if (lab.web) await lab.web.close().catch(() => {});
  if (lab.server) await lab.server.stop().catch(() => {});
  if (lab.emulator) lab.finalStats = await lab.emulator.stop().catch(() => null);
  for (const ns of lab.namespaces) spawnSync('ip', ['netns', 'del', ns]);
  lab.namespaces = [];
  fs.rmSync(lab.tmp, { recursive: true, force: true });
}

if (require.main === module && process.argv[2] === '--bridge') {
  // Child mode, inside a client namespace: unix socket argv[3] -> 127.0.0.1:argv[4] of this namespace.
  const [sock, port] = [process.argv[3], Number(process.argv[4])];
  const server = net.createServer((c) => {
    const t = net.connect(port, '127.0.0.1');
    // Firefox refuses a WebSocket upgrade whose Host header names another port than its own; the
    // test side connects through a proxy on some other port, so fix the header of the request
    // (the first chunk: the upgrade request is a few hundred bytes).
    c.once('data', (first) => {
      t.write(first.toString('latin1').replace(/^Host:.*$/im, `Host: 127.0.0.1:${port}`), 'latin1');
      c.pipe(t);
    });
    t.pipe(c);
    c.on('error', () => t.destroy());
    t.on('error', () => c.destroy());
  });
  server.listen(sock, () => process.stdout.write('ready\n'));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

if (require.main === module && process.argv[2] === '--static') {
  // Child mode: serve the page inside the server namespace until our stdin closes.
  h.startStatic({ host: process.argv[3] }).then((web) => {
    process.stdout.write(`${web.url}\n`);
    process.stdin.on('end', () => web.close().then(() => process.exit(0)));
    process.stdin.resume();
  }, (e) => {
    console.error(e);
    process.exit(1);
  });
}

module.exports = { createLab, sweep, newFirefoxClient, SERVER_IP, NETLAB_BIN };
