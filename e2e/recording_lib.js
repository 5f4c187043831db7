'use strict';
// Helpers for e2e/tests/recording.test.js: a server process the test can SIGKILL, the records HTTP
// API, and file checks with Debian's ffprobe/ffmpeg (installed by scripts/install-deps.sh).
// Everything talks to 127.0.0.1 only; every child process and every wait is bounded in time.
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const h = require('./lib/harness');

/** Run a program (no shell), bounded; resolves { code, stdout (Buffer), stderr (string) }. */
function run(cmd, args, { timeout = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout, encoding: 'buffer', maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err && (err.killed || typeof err.code !== 'number')) {
        reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? err.code : 0, stdout, stderr: stderr.toString('utf8') });
    });
  });
}

/**
 * Start target/release/huddle on 127.0.0.1 (port 0 everywhere) with the given records folder and
 * keep the child process, so that a test can SIGKILL it. Returns
 * { httpUrl, wsUrl, mediaAddr, recordsDir, log(), kill(signal), exited }.
 */
async function spawnServer({ recordsDir, name = 'rec', extraArgs = [] } = {}) {
  if (!fs.existsSync(h.HUDDLE_BIN)) throw new Error(`server binary not found: ${h.HUDDLE_BIN}`);
  fs.mkdirSync(h.ARTIFACTS, { recursive: true });
  const args = [
    '--bind', '127.0.0.1', '--announce-ip', '127.0.0.1',
    // every listening port the server has, as the harness does: 0 = a free one (a fixed default,
    // such as ICE-TCP's 40000, can be taken by another socket's ephemeral port)
    ...h.portFlags().flatMap((f) => [f, '0']),
    '--web-dir', path.join(h.REPO_DIR, 'web'),
    '--records-dir', recordsDir,
    ...extraArgs,
  ];
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HUDDLE_')) env[k] = v;
  env.RUST_LOG = process.env.RUST_LOG || 'info';
  const logPath = path.join(h.ARTIFACTS, `server-${name}-${process.pid}-${Date.now()}.log`);
  const logStream = fs.createWriteStream(logPath);
  logStream.write(`$ ${h.HUDDLE_BIN} ${args.join(' ')}\n`);
  const lines = [];
  const child = spawn(h.HUDDLE_BIN, args, { cwd: h.REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'], env });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  exited.then(() => { done = true; logStream.end(); });
  const ready = new Promise((resolve, reject) => {
    const onLine = (src) => (line) => {
      lines.push(`[${src}] ${line}`);
      if (lines.length > 5000) lines.shift();
      if (!done) logStream.write(`[${src}] ${line}\n`);
      const m = /huddle ready http=(\S+) https=(\S+) media=(\S+)/.exec(line);
      if (m) resolve({ httpAddr: m[1], mediaAddr: m[3] });
    };
    readline.createInterface({ input: child.stdout }).on('line', onLine('out'));
    readline.createInterface({ input: child.stderr }).on('line', onLine('err'));
    child.once('error', reject);
    exited.then((e) => reject(new Error(`huddle exited before ready (${e.code}/${e.signal}):\n${lines.slice(-20).join('\n')}`)));
  });
  async function kill(signal = 'SIGTERM') {
    if (!done) {
      child.kill(signal);
      const t = setTimeout(() => { if (!done) child.kill('SIGKILL'); }, 5000);
      await exited;
      clearTimeout(t);
    }
    return exited;
  }
  let timer;
  let addrs;
  try {
    addrs = await Promise.race([ready, new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`huddle not ready in 20 s:\n${lines.slice(-20).join('\n')}`)), 20000);
    })]);
  } catch (e) {
    await kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  if (!/^127\.0\.0\.1:\d+$/.test(addrs.httpAddr) || !/^127\.0\.0\.1:\d+$/.test(addrs.mediaAddr)) {
    await kill('SIGKILL');
    throw new Error(`huddle not on 127.0.0.1: ${JSON.stringify(addrs)}`);
  }
  return {
    httpUrl: `http://${addrs.httpAddr}`,
    wsUrl: `ws://${addrs.httpAddr}/`,
    mediaAddr: addrs.mediaAddr,
    recordsDir,
    logPath,
    log: () => lines.join('\n'),
    kill,
    exited,
    pid: child.pid,
  };
}

function tempRecordsDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'huddle-e2e-rec-'));
}

/** GET /api/records: [{name, size, modified_unix_ms}]. */
async function listRecords(httpUrl) {
  const res = await fetch(`${httpUrl}/api/records`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`GET /api/records: ${res.status}`);
  const list = await res.json();
  if (!Array.isArray(list)) throw new Error(`GET /api/records is not an array: ${JSON.stringify(list)}`);
  return list;
}

/** Poll /api/records until pred(list) returns something truthy (bounded). */
function waitRecords(httpUrl, pred, { timeout = 30000, what = 'recordings' } = {}) {
  return h.waitUntil(async () => pred(await listRecords(httpUrl)), { timeout, interval: 300, what });
}

/** ffprobe -show_streams -show_format as JSON. */
async function probe(file) {
  const r = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', file], { timeout: 30000 });
  if (r.code !== 0) throw new Error(`ffprobe ${file} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.toString('utf8'));
}

/**
 * End time of the media in seconds, from the packets themselves (works for a file cut short by a
 * crash, which has no Duration element): max(pts + duration) over all packets, and per kind.
 */
async function packetSpan(file) {
  const r = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_entries',
    'packet=codec_type,pts_time,duration_time', file], { timeout: 30000 });
  if (r.code !== 0) throw new Error(`ffprobe packets ${file} failed (${r.code}): ${r.stderr}`);
  const span = { start: Infinity, end: 0, video: { start: Infinity, end: 0, packets: 0 }, audio: { start: Infinity, end: 0, packets: 0 } };
  for (const p of JSON.parse(r.stdout.toString('utf8')).packets || []) {
    const pts = Number(p.pts_time);
    if (!Number.isFinite(pts)) continue;
    const end = pts + (Number(p.duration_time) || 0);
    const k = span[p.codec_type];
    if (k) { k.start = Math.min(k.start, pts); k.end = Math.max(k.end, end); k.packets++; }
    span.start = Math.min(span.start, pts);
    span.end = Math.max(span.end, end);
  }
  return span;
}

/**
 * Decode the whole file: `ffmpeg -v error -i f -f null -`; returns { code, frames, errors }.
 * `-enc_time_base:v -1` keeps the source time base (1 ms in Matroska) at the null output: WebRTC
 * video is variable-rate (capture jitter can put two frames 1 ms apart), and with the default
 * 1/fps output time base such frames collide and the null *muxer* logs "non monotonically
 * increasing dts" although every frame decoded fine.
 */
async function decode(file) {
  const r = await run('ffmpeg', ['-nostdin', '-v', 'error', '-progress', 'pipe:1', '-i', file,
    '-enc_time_base:v', '-1', '-f', 'null', '-'], { timeout: 60000 });
  let frames = 0;
  for (const m of r.stdout.toString('utf8').matchAll(/^frame=(\d+)$/gm)) frames = Number(m[1]);
  return { code: r.code, frames, errors: r.stderr.trim() };
}

/**
 * Colour of the rectangle {x,y,w,h} (even numbers) of the video frame at time t seconds:
 * `ffmpeg -ss t -i f -frames:v 1 -vf crop,format=yuv420p -f rawvideo -`, the planes averaged here.
 * Returns { luma: mean Y, chroma: mean |U-128|+|V-128| }. Black is luma 16, chroma 0.
 * (Luma alone cannot tell Chromium's fake camera from black: its green background is the
 * all-zero I420 buffer, Y=U=V=0, so its luma is even below black's 16; its chroma is ~256.)
 */
async function tileColour(file, t, { x, y, w, h: hh }) {
  const r = await run('ffmpeg', ['-nostdin', '-v', 'error', '-ss', t.toFixed(3), '-i', file, '-frames:v', '1',
    '-vf', `crop=${w}:${hh}:${x}:${y},format=yuv420p`, '-f', 'rawvideo', '-'], { timeout: 30000 });
  const n = w * hh;
  if (r.code !== 0 || r.stdout.length !== n * 1.5) {
    throw new Error(`frame at ${t}s of ${file}: code ${r.code}, ${r.stdout.length} bytes (want ${n * 1.5}): ${r.stderr}`);
  }
  let ys = 0;
  for (let i = 0; i < n; i++) ys += r.stdout[i];
  let cs = 0;
  for (let i = n; i < r.stdout.length; i++) cs += Math.abs(r.stdout[i] - 128);
  return { luma: ys / n, chroma: (2 * cs) / (r.stdout.length - n) };
}

/** GET /records/<name> with a Range header; resolves { status, headers, body (Buffer) }. */
async function getRange(httpUrl, name, range) {
  const res = await fetch(`${httpUrl}/records/${encodeURIComponent(name)}`,
    { headers: { range }, signal: AbortSignal.timeout(10000) });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** GET with the path sent exactly as given (fetch would normalize `..`); { status, body }. */
function rawGet(httpUrl, rawPath) {
  const u = new URL(httpUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method: 'GET', timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('latin1') }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${rawPath}: timeout`)));
    req.on('error', reject);
    req.end();
  });
}

/** The SDK's record info (notifyStreamStatusEvent recordName) of a stream this page publishes. */
function recordInfo(client, streamName) {
  return client.eval((n) => window.H.published[n] && window.H.published[n].getRecordInfo(), streamName);
}

module.exports = {
  run, spawnServer, tempRecordsDir, listRecords, waitRecords, probe, packetSpan, decode, tileColour, getRange, rawGet, recordInfo,
};
