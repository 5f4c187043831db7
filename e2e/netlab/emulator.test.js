'use strict';
// The lab itself, without browsers: packets really cross huddle-netlab between two namespaces and
// get the impairment they were given (delay, loss, rate limit, UDP block with TCP still passing).
// Small node programs run inside the namespaces: a UDP/TCP echo and bulk server in the server
// namespace, a prober in the client namespace.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const readline = require('node:readline');
const { createLab, SERVER_IP } = require('../lib/netlab');

const PORT = 9000; // inside our own namespace: nothing else listens there

// Server: UDP echo on PORT, TCP on PORT: "bulk <bytes>" -> that many bytes, anything else echoed.
const SERVER = `
const dgram = require('node:dgram'); const net = require('node:net');
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(m, r.port, r.address));
u.bind(${PORT}, '${SERVER_IP}', () => {
  net.createServer((c) => c.once('data', (d) => {
    const m = /^bulk (\\d+)/.exec(d.toString());
    if (m) c.end(Buffer.alloc(Number(m[1]))); else c.end(d);
  })).listen(${PORT}, '${SERVER_IP}', () => console.log('ready'));
});
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`;

// Prober: argv mode "udp <count> <intervalMs>" -> {sent, received, rtts}; "tcp" -> {echo};
// "bulk <bytes>" -> {bytes, seconds}.
const PROBER = `
const dgram = require('node:dgram'); const net = require('node:net');
const [mode, a, b] = process.argv.slice(1);
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
if (mode === 'udp') {
  const s = dgram.createSocket('udp4'); const sentAt = new Map(); const rtts = [];
  s.on('message', (m) => { const i = m.readUInt32BE(0); if (sentAt.has(i)) { rtts.push(Date.now() - sentAt.get(i)); sentAt.delete(i); } });
  let i = 0;
  const t = setInterval(() => {
    if (i >= Number(a)) { clearInterval(t); setTimeout(() => done({ sent: i, received: rtts.length, rtts }), 600); return; }
    const p = Buffer.alloc(100); p.writeUInt32BE(i); sentAt.set(i, Date.now()); s.send(p, ${PORT}, '${SERVER_IP}'); i++;
  }, Number(b));
} else if (mode === 'tcp') {
  const c = net.connect(${PORT}, '${SERVER_IP}', () => c.write('hello'));
  c.on('data', (d) => done({ echo: d.toString() })); c.on('error', (e) => done({ error: e.message }));
  setTimeout(() => done({ error: 'timeout' }), 3000);
} else if (mode === 'bulk') {
  const t0 = Date.now(); let bytes = 0;
  const c = net.connect(${PORT}, '${SERVER_IP}', () => c.write('bulk ' + a));
  c.on('data', (d) => { bytes += d.length; }); c.on('end', () => done({ bytes, seconds: (Date.now() - t0) / 1000 }));
  setTimeout(() => done({ bytes, seconds: (Date.now() - t0) / 1000, timeout: true }), 15000);
}`;

function probe(ns, ...args) {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', PROBER, ...args.map(String)], { encoding: 'utf8', timeout: 20000 });
  if (r.status !== 0) throw new Error(`prober ${args.join(' ')}: ${r.stderr || r.error}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

describe('netlab: the emulated link between two namespaces', { timeout: 90000 }, () => {
  let lab;
  let server;
  before(async () => {
    lab = await createLab(['A'], { name: 'emulator', server: false });
    server = spawn('ip', ['netns', 'exec', lab.serverNs, process.execPath, '-e', SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      readline.createInterface({ input: server.stdout }).once('line', resolve);
      server.once('exit', (c) => reject(new Error(`echo server exited ${c}`)));
    });
  });
  after(async () => {
    if (server) server.stdin.end();
    if (lab) await lab.close();
  });

  const ns = () => lab.links.A.clientNs;

  test('perfect link: everything passes at once', () => {
    const r = probe(ns(), 'udp', 50, 5);
    assert.equal(r.received, 50);
    assert.ok(median(r.rtts) < 5, `median RTT ${median(r.rtts)} ms`);
  });

  test('delay: 40 ms each way gives an 80 ms RTT', async () => {
    await lab.set('A', 'both', 'delay=40ms');
    const r = probe(ns(), 'udp', 30, 20);
    assert.equal(r.received, 30);
    const m = median(r.rtts);
    console.log(`delay=40ms both ways: median RTT ${m} ms over ${r.received} probes`);
    assert.ok(m >= 80 && m <= 95, `median RTT ${m} ms`);
  });

  test('loss: 20 % each way loses about 36 % of round trips', async () => {
    await lab.set('A', 'both', 'reset');
    await lab.set('A', 'both', 'loss=20%');
    const r = probe(ns(), 'udp', 400, 2);
    const delivered = r.received / r.sent; // expected 0.8 * 0.8 = 0.64, binomial sd ~ 0.024
    console.log(`loss=20% both ways: ${r.received} of ${r.sent} round trips delivered (${(100 * delivered).toFixed(1)} %)`);
    assert.ok(delivered > 0.55 && delivered < 0.73, `delivered ${delivered}`);
  });

  test('rate: a 1 Mbit/s downlink carries about 1 Mbit/s of TCP', async () => {
    await lab.set('A', 'both', 'reset');
    await lab.set('A', 'down', 'rate=1mbit');
    const r = probe(ns(), 'bulk', 400000);
    assert.ok(!r.timeout, `download did not finish: ${JSON.stringify(r)}`);
    const mbit = r.bytes * 8 / r.seconds / 1e6;
    console.log(`rate=1mbit down: ${r.bytes} B of TCP in ${r.seconds} s = ${mbit.toFixed(3)} Mbit/s`);
    assert.ok(mbit > 0.7 && mbit <= 1.0, `${mbit.toFixed(3)} Mbit/s`);
    const stats = await lab.stats();
    assert.ok(stats.A.down.max_backlog_bytes > 0, 'the bottleneck queue was never used');
  });

  test('udp=block: UDP is dropped, TCP still passes', async () => {
    await lab.set('A', 'both', 'reset');
    await lab.set('A', 'both', 'udp=block');
    const u = probe(ns(), 'udp', 10, 10);
    assert.equal(u.received, 0);
    assert.deepEqual(probe(ns(), 'tcp'), { echo: 'hello' });
    const stats = await lab.stats();
    assert.ok(stats.A.up.blocked >= 10, JSON.stringify(stats.A.up));
  });
});
