'use strict';
// Issue 14: two Huddle nodes sharing rooms through Redis, with the UNMODIFIED official SDK.
// alice's WebSocket is on node 1, bob's on node 2, same room: STATE/JOINED, chat both ways
// byte-exact, each decodes the other's camera (bob's media goes straight to the room's node),
// LEFT on leave. Then the room's node is killed: bob's session fails within 15 s and his
// rejoin lands on the live node. The admin API of node 2 lists both nodes and node 1's room with
// its owner. The test runs its own redis-server (free port, no files).
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { spawn } = require('node:child_process');
const h = require('../lib/harness');
const { adminGet } = require('../lib/admin');

const GREETING = 'Привет, 世界 👋 مرحبا';
const CAMERA = { audio: true, video: { width: 320, height: 240 } };
const SECRET = 'cluster-e2e-admin-secret';

async function startRedis() {
  const port = await h.freeTcpPort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await h.waitUntil(() => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { timeout: 10000, what: 'redis-server listening' });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => { child.kill('SIGTERM'); await exited; },
  };
}

/** Wait until `client` decodes one remote stream with video and audio; returns its stats entry. */
async function waitDecoding(client, timeout = 45000) {
  let last;
  try {
    return await h.waitUntil(async () => {
      last = await client.remoteStats();
      return Object.values(last).find((e) => e.videoWidth > 0 && e.video && e.video.framesDecoded > 0 &&
        e.audio && e.audio.packetsReceived > 0);
    }, { timeout, interval: 500, what: `${client.name} decoding a remote stream` });
  } catch (e) {
    e.message += `\n${client.name} remote stats: ${JSON.stringify(last, null, 1)}`;
    throw e;
  }
}

describe('rooms shared by two nodes through Redis', { timeout: 600000 }, () => {
  let redis;
  let web;
  let browser;
  let nodes = [];
  let clients = [];

  before(async () => {
    redis = await startRedis();
    web = await h.startStatic();
    browser = await h.launchBrowser();
  });

  afterEach(async (t) => {
    await h.saveArtifacts(`cluster-${t.name}`, clients);
    for (const c of clients) await c.close();
    clients = [];
    for (const n of nodes) await n.stop();
    nodes = [];
  });

  after(async () => {
    if (browser) await browser.close();
    if (web) await web.close();
    if (redis) await redis.stop();
  });

  async function node(name) {
    const n = await h.startServer({
      name, graceSecs: 2, extraArgs: ['--redis-url', redis.url, '--media-shards', '1', '--admin-secret', SECRET],
    });
    assert.ok(n.addrs.node, `ready line names the node: ${JSON.stringify(n.addrs)}`);
    nodes.push(n);
    return n;
  }

  /** A browser client connected to node `n`'s WebSocket. */
  async function connected(name, n) {
    const c = await h.newClient(browser, web.url, name);
    clients.push(c);
    assert.equal(await c.connect(n.wsUrl), 'ESTABLISHED');
    return c;
  }

  /** alice on n1 creates `room`, bob on n2 joins it (relayed to n1); resolves once alice sees him. */
  async function aliceAndBob(n1, n2, room) {
    const alice = await connected('alice', n1);
    const bob = await connected('bob', n2);
    assert.deepEqual(await alice.join(room), []);
    assert.deepEqual(await bob.join(room), ['alice']);
    await alice.waitEvent('JOINED', { login: 'bob' });
    return { alice, bob };
  }

  test('alice on node 1, bob on node 2: room events, chat, media, leave', { timeout: 180000 }, async () => {
    const [n1, n2] = [await node('cluster-1'), await node('cluster-2')];
    const room = h.uniqueRoom('cluster');
    const { alice, bob } = await aliceAndBob(n1, n2, room);

    await alice.sendMessage('bob', GREETING);
    assert.equal((await bob.waitEvent('MESSAGE', { from: 'alice' })).text, GREETING);
    await bob.sendMessage('alice', GREETING);
    assert.equal((await alice.waitEvent('MESSAGE', { from: 'bob' })).text, GREETING);
    assert.deepEqual(await bob.events('SEND_FAILED'), []);

    await alice.publish({ constraints: CAMERA });
    await bob.publish({ constraints: CAMERA });
    const atAlice = await waitDecoding(alice);
    const atBob = await waitDecoding(bob);
    // The room lives on node 1: both browsers' media goes to node 1's media port, bob's
    // included although his WebSocket is on node 2.
    assert.equal(atAlice.ice.remote, n1.mediaAddr);
    assert.equal(atBob.ice.remote, n1.mediaAddr, 'bob plays from the room\'s node');
    assert.equal(atBob.videoWidth, 320);

    // Which node holds what, asked of node 2 (each owner publishes its rooms every 5 s).
    const [id1, id2] = [n1.addrs.node, n2.addrs.node];
    const listed = await h.waitUntil(async () => {
      const v = await adminGet(n2.httpUrl, SECRET, '/admin/nodes');
      const owner = v.nodes.find((n) => n.id === id1);
      return owner && owner.rooms[room] && owner.rooms[room].participants === 2 && v;
    }, { timeout: 15000, interval: 500, what: 'node 1 and its room in node 2\'s /admin/nodes' });
    assert.deepEqual(listed.nodes.map((n) => n.id).sort(), [id1, id2].sort());
    const { remote_rooms: remote } = await adminGet(n2.httpUrl, SECRET, '/admin/rooms');
    assert.equal(remote.find((r) => r.name === room).node, id1, 'node 2 names the room\'s owner');

    assert.equal(await bob.leave(), 'ok');
    await alice.waitEvent('LEFT', { login: 'bob' });
    assert.equal(await bob.eval(() => window.H.status()), 'ESTABLISHED');
    for (const c of [alice, bob]) assert.deepEqual(await c.events('PAGE_ERROR'), [], `${c.name} page errors`);
  });

  test('the room\'s node is killed: the relayed session fails within 15 s, a rejoin works', { timeout: 120000 }, async () => {
    const [n1, n2] = [await node('cluster-owner'), await node('cluster-edge')];
    const room = h.uniqueRoom('cluster-kill');
    const { bob } = await aliceAndBob(n1, n2, room);
    await bob.publish({ constraints: CAMERA });

    const killedAt = Date.now();
    await n1.kill('SIGKILL');
    const failure = await h.waitUntil(async () => {
      const evs = await bob.events();
      return evs.find((e) => ['DISCONNECTED', 'SESSION_FAILED'].includes(e.type));
    }, { timeout: 15000, what: 'bob sees his session fail' });
    const seconds = (failure.t - killedAt) / 1000;
    console.log(`cluster: bob's session ${failure.type} ${seconds.toFixed(1)} s after the room's node was killed`);
    assert.ok(seconds <= 15, `failure seen after ${seconds} s`);

    // Bob reconnects (to node 2, the live one) and rejoins: node 2 takes the room over.
    assert.equal(await bob.connect(n2.wsUrl), 'ESTABLISHED');
    assert.deepEqual(await bob.join(room), []);
    const carol = await connected('carol', n2);
    assert.deepEqual(await carol.join(room), ['bob']);
    await bob.waitEvent('JOINED', { login: 'carol' });
    await bob.sendMessage('carol', GREETING);
    assert.equal((await carol.waitEvent('MESSAGE', { from: 'bob' })).text, GREETING);
  });
});
