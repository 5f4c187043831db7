'use strict';
// The victim side of the abuse tests: a live two-party call (two SDK participants publishing
// camera+mic and playing each other), its frame rate, and the server's health and memory.

const fs = require('node:fs');
const http = require('node:http');
const assert = require('node:assert/strict');
const h = require('../../lib/harness');
const rawws = require('./rawws');

const CAMERA = { audio: true, video: { width: 320, height: 240 } };

/** Two participants in a fresh room, each decoding the other; returns { alice, bob, room }. */
async function startCall(browser, pageUrl, server, track) {
  const room = h.uniqueRoom('abuse-call');
  const cs = [];
  for (const name of ['alice', 'bob']) {
    const c = await h.newClient(browser, pageUrl, name);
    track(c);
    assert.equal(await c.connect(server.wsUrl), 'ESTABLISHED');
    await c.join(room);
    await c.publish({ constraints: CAMERA });
    cs.push(c);
  }
  for (const c of cs) {
    await h.waitUntil(async () => (await framesDecoded(c)) > 0, { timeout: 30000, interval: 500, what: `${c.name} decoding` });
  }
  return { alice: cs[0], bob: cs[1], room };
}

/** Video frames `client` decoded so far, summed over its remote streams. */
async function framesDecoded(client) {
  const stats = await client.remoteStats();
  return Object.values(stats).reduce((n, e) => n + ((e.video && e.video.framesDecoded) || 0), 0);
}

/**
 * Frame rate each participant decodes over `ms` (framesDecoded deltas), with the slowest
 * one-second rate seen (a freeze shows there even when the average survives).
 */
async function measureFps(call, ms) {
  const clients = [call.alice, call.bob];
  const first = await Promise.all(clients.map(framesDecoded));
  const t0 = Date.now();
  let prev = first;
  let prevT = t0;
  const worstSecond = clients.map(() => Infinity);
  while (Date.now() - t0 < ms) {
    await h.sleep(Math.min(1000, ms - (Date.now() - t0)));
    const now = await Promise.all(clients.map(framesDecoded));
    const t = Date.now();
    if (t - prevT >= 900) {
      now.forEach((n, i) => { worstSecond[i] = Math.min(worstSecond[i], ((n - prev[i]) * 1000) / (t - prevT)); });
      prev = now;
      prevT = t;
    }
  }
  const last = await Promise.all(clients.map(framesDecoded));
  const secs = (Date.now() - t0) / 1000;
  return clients.map((c, i) => ({
    name: c.name,
    fps: (last[i] - first[i]) / secs,
    worstSecond: Number.isFinite(worstSecond[i]) ? worstSecond[i] : null,
  }));
}

/** The server's process id: the process whose command line holds this server's records dir. */
function serverPid(server) {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch (_) {
      continue;
    }
    const args = cmdline.split('\0');
    if (args[0] === h.HUDDLE_BIN && args.includes(server.recordsDir)) return Number(entry);
  }
  throw new Error(`no process runs ${h.HUDDLE_BIN} with ${server.recordsDir}`);
}

/** Resident memory of a process, in MiB. */
function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)[1]);
  return kib / 1024;
}

/** Open descriptors of a process. */
function openFds(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Samples a process's RSS every 250 ms until stop(); stop() returns the peak (MiB). */
function rssSampler(pid) {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    try { peak = Math.max(peak, rssMiB(pid)); } catch (_) { /* exited: the alive check says so */ }
  }, 250);
  return { stop: () => { clearInterval(timer); return peak; } };
}

/**
 * GET `path` of the server from the loopback address `from` (an address no attack uses, so
 * per-address caps hit by the attackers do not apply). Resolves { status, body, ms }.
 */
function get(server, path, { from = '127.0.0.2', timeoutMs = 5000 } = {}) {
  const [host, port] = server.httpAddr.split(':');
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port: Number(port), path, localAddress: from, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, ms: Date.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} from ${from}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Counters of /metrics by name, each summed over its labels (0 when absent). */
async function metrics(server, names) {
  const { body } = await get(server, '/metrics');
  const out = Object.fromEntries(names.map((n) => [n, 0]));
  for (const line of body.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] in out) out[m[1]] += Number(m[3]);
  }
  return out;
}

/**
 * A new signaling session works: a WebSocket from `from` says `connection` and gets
 * ESTABLISHED. Resolves the time it took (ms).
 */
async function newSessionWorks(server, { from = '127.0.0.2', timeoutMs = 5000 } = {}) {
  const [host, port] = server.httpAddr.split(':');
  const t0 = Date.now();
  const ws = await rawws.connect({ host, port: Number(port), localAddress: from, timeoutMs });
  try {
    ws.sendJson({ message: 'connection', data: [{ appKey: 'roomApp', mediaProviders: ['WebRTC'], custom: { login: `probe${Date.now()}` } }] });
    await h.waitUntil(() => ws.messages.some((m) => m.includes('ESTABLISHED')), { timeout: timeoutMs, interval: 50, what: 'ESTABLISHED for a new session' });
    return Date.now() - t0;
  } finally {
    ws.destroy();
  }
}

/** The server is up and serves: /api/stats answers 200, a new session is established. */
async function assertServes(server) {
  assert.equal(server.exited(), null, 'the server is running');
  const stats = await get(server, '/api/stats');
  assert.equal(stats.status, 200, `/api/stats: ${stats.status}`);
  const sessionMs = await newSessionWorks(server);
  return { statsMs: stats.ms, sessionMs };
}

module.exports = {
  CAMERA, startCall, framesDecoded, measureFps, serverPid, rssMiB, openFds, rssSampler, get, metrics,
  newSessionWorks, assertServes,
};
