'use strict';
// Memory the server gives back after connections leave (issue 12, finding 6), per allocator.
// Not a test: a benchmark that prints figures (they are in docs/SECURITY.md). For each
// allocator it starts the real server binary, then
//   1. opens 5,000 idle WebSockets (25 addresses x 200, each says `connection`), closes them;
//   2. sends 40 `connection` messages of 877 KB (refused over max_connection_bytes) and closes;
// and prints the server's RSS before, at the peak and 2 s / 10 s after each wave.
// `builtin` is the binary as built (jemalloc with purging since issue 12, crates/huddle/src/
// allocator.rs). The others only mean something for a binary built with Rust's System allocator
// (which calls malloc): glibc tuned by its environment, or jemalloc / mimalloc (Debian's
// libjemalloc2, libmimalloc2.0) loaded with LD_PRELOAD. That is how the allocator was chosen.
// Usage: `node e2e/abuse/memory_bench.js [builtin|glibc-trim|preload-jemalloc|preload-mimalloc ...]`.

const h = require('../lib/harness');
const call = require('./lib/call');
const rawws = require('./lib/rawws');

const LIB = '/usr/lib/x86_64-linux-gnu';
const ALLOCATORS = {
  builtin: {},
  'glibc-trim': { MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_ARENA_MAX: '2' },
  'preload-jemalloc': { LD_PRELOAD: `${LIB}/libjemalloc.so.2`, MALLOC_CONF: 'background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0' },
  'preload-mimalloc': { LD_PRELOAD: `${LIB}/libmimalloc.so.2` },
};

const IDLE_SOCKETS = 5000;
const IDLE_ADDRESSES = 25;
const BIG_SOCKETS = 40;

async function openIdle(server) {
  const [host, port] = server.httpAddr.split(':');
  const sockets = [];
  for (let i = 0; i < IDLE_SOCKETS; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, IDLE_SOCKETS - i) }, async (_, k) => {
      const n = i + k;
      const ws = await rawws.connect({ host, port: Number(port), localAddress: `127.0.${40 + (n % IDLE_ADDRESSES)}.1`, timeoutMs: 20000 });
      ws.sendJson({ message: 'connection', data: [{ appKey: 'roomApp', mediaProviders: ['WebRTC'], custom: { login: `idle${n}` } }] });
      return ws;
    }));
    sockets.push(...batch);
  }
  await h.waitUntil(() => sockets.every((ws) => ws.messages.some((m) => m.includes('ESTABLISHED'))), { timeout: 60000, what: 'every idle socket ESTABLISHED' });
  return sockets;
}

async function bigConnections(server) {
  const [host, port] = server.httpAddr.split(':');
  const pad = 'p'.repeat(877 * 1024);
  const sockets = await Promise.all(Array.from({ length: BIG_SOCKETS }, async (_, n) => {
    const ws = await rawws.connect({ host, port: Number(port), localAddress: `127.0.70.${1 + (n % 4)}` });
    ws.sendJson({ message: 'connection', data: [{ appKey: 'roomApp', custom: { login: `big${n}`, pad } }] });
    return ws;
  }));
  await h.waitUntil(() => sockets.every((ws) => ws.messages.length > 0 || ws.closed), { timeout: 30000, what: 'an answer to every big connection' });
  return sockets;
}

async function wave(pid, what, open) {
  const before = call.rssMiB(pid);
  const sockets = await open();
  await h.sleep(1000);
  const peak = call.rssMiB(pid);
  for (const ws of sockets) ws.destroy();
  await h.sleep(2000);
  const after2 = call.rssMiB(pid);
  await h.sleep(8000);
  const after10 = call.rssMiB(pid);
  return { what, before: +before.toFixed(1), peak: +peak.toFixed(1), after2s: +after2.toFixed(1), after10s: +after10.toFixed(1) };
}

/** One wave on a fresh server started with allocator `name`. */
async function onFreshServer(name, what, open) {
  const saved = { ...process.env };
  Object.assign(process.env, ALLOCATORS[name]);
  let server;
  try {
    server = await h.startServer({ name: `memory-${name}` });
  } finally {
    for (const k of Object.keys(ALLOCATORS[name])) {
      if (k in saved) process.env[k] = saved[k];
      else delete process.env[k];
    }
  }
  try {
    const pid = call.serverPid(server);
    await h.sleep(1000);
    const row = await wave(pid, what, () => open(server));
    await call.assertServes(server);
    return row;
  } finally {
    await server.stop();
  }
}

async function bench(name) {
  const idle = await onFreshServer(name, `${IDLE_SOCKETS} idle WebSockets`, openIdle);
  const big = await onFreshServer(name, `${BIG_SOCKETS} x 877 KB connection`, bigConnections);
  const row = { allocator: name, idle, big };
  console.log(JSON.stringify(row));
  return row;
}

(async () => {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : ['builtin'];
  for (const n of names) {
    if (!ALLOCATORS[n]) throw new Error(`unknown allocator ${n}: one of ${Object.keys(ALLOCATORS).join(', ')}`);
  }
  for (const n of names) await bench(n);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
