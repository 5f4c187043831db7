'use strict';
// A WebSocket client on a raw TCP socket, for the abuse tests only. Attacks need control that a
// client library hides on purpose: sockets that stop reading, fragments that never finish,
// frames over the server's limit. Client frames are masked (RFC 6455 §5.3); server frames are
// parsed only as far as text messages and close go.

const crypto = require('node:crypto');
const net = require('node:net');

const OP = { CONT: 0x0, TEXT: 0x1, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

/** One client frame: FIN bit, opcode, masked payload. */
function frame(opcode, payload, fin = true) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = (fin ? 0x80 : 0) | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(len, 2); }
  else { out[1] = 0x80 | 127; out.writeBigUInt64BE(BigInt(len), 2); }
  if (len > 4096) {
    // A zero masking key (allowed: the server cannot tell) spares the attacker's CPU, which
    // shares 2 cores with the browsers whose frame rate is measured.
    out.fill(0, head, head + 4);
    data.copy(out, head + 4);
    return out;
  }
  const mask = crypto.randomBytes(4);
  mask.copy(out, head);
  for (let i = 0; i < len; i++) out[head + 4 + i] = data[i] ^ mask[i & 3];
  return out;
}

/**
 * Opens ws://host:port/ from `localAddress` (a 127.0.0.x address: the server counts limits per
 * address). Resolves once the server answered 101; rejects on error or after `timeoutMs`.
 * The returned object: sendJson(obj), sendFrame(opcode, payload, fin), messages (texts
 * received, when reading), pause() (stop reading: the kernel buffers fill up), closed, destroy().
 */
function connect({ host, port, localAddress, timeoutMs = 5000 }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress });
    const key = crypto.randomBytes(16).toString('base64');
    const client = {
      socket,
      messages: [],
      closed: false,
      onText: null,
      sendFrame(opcode, payload, fin = true) {
        if (!socket.destroyed) socket.write(frame(opcode, payload, fin));
      },
      sendJson(obj) {
        client.sendFrame(OP.TEXT, JSON.stringify(obj));
      },
      pause() {
        socket.pause();
      },
      destroy() {
        socket.destroy();
      },
    };
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`WebSocket to ${host}:${port} from ${localAddress}: no 101 within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setNoDelay(true);
    socket.once('connect', () => {
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        clearTimeout(timer);
        if (!/^HTTP\/1\.1 101/.test(head)) {
          socket.destroy();
          reject(new Error(`WebSocket refused: ${head.split('\r\n')[0]}`));
          return;
        }
        upgraded = true;
        resolve(client);
      }
      buf = readFrames(buf, client);
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      if (!upgraded) reject(e);
    });
    socket.on('close', () => {
      client.closed = true;
      clearTimeout(timer);
      if (!upgraded) reject(new Error(`WebSocket to ${host}:${port} closed before 101`));
    });
  });
}

/** Parses whole server frames out of `buf`; text messages go to `client`; returns the rest. */
function readFrames(buf, client) {
  for (;;) {
    if (buf.length < 2) return buf;
    const opcode = buf[0] & 0x0f;
    let len = buf[1] & 0x7f;
    let off = 2;
    if (len === 126) { if (buf.length < 4) return buf; len = buf.readUInt16BE(2); off = 4; }
    else if (len === 127) { if (buf.length < 10) return buf; len = Number(buf.readBigUInt64BE(2)); off = 10; }
    if (buf.length < off + len) return buf;
    const payload = buf.subarray(off, off + len);
    buf = buf.subarray(off + len);
    if (opcode === OP.TEXT) {
      const text = payload.toString('utf8');
      if (client.messages.length < 1000) client.messages.push(text);
      if (client.onText) client.onText(text);
    } else if (opcode === OP.PING) {
      client.sendFrame(OP.PONG, payload);
    } else if (opcode === OP.CLOSE) {
      client.socket.end();
    }
  }
}

module.exports = { connect, frame, OP };
