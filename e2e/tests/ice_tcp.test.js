'use strict';
// ICE over TCP on loopback: a participant whose browser cannot reach the server's UDP candidate
// still publishes and plays with the UNMODIFIED SDK, over the passive TCP candidate that every
// answer carries beside the UDP one; a normal participant in the same room keeps using UDP.
//
// "Cannot reach UDP" is made by dropping the UDP candidates from the answers this browser
// applies (an RTCPeerConnection wrapper installed before the page loads): Chromium then has no
// UDP pair to try. (Chromium's --force-webrtc-ip-handling-policy=disable_non_proxied_udp does not
// stop UDP to a loopback server, so it cannot be used here.) A real UDP block (protocol 17 dropped
// on the link, TCP passing) runs in the network lab: e2e/netlab/udp_blocked.test.js.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');

const CAMERA = { audio: true, video: { width: 320, height: 240 } };

// Every answer this page applies loses its UDP candidates (the TCP ones stay).
const NO_UDP_CANDIDATES = `(() => {
  const set = RTCPeerConnection.prototype.setRemoteDescription;
  window.__droppedUdpCandidates = 0;
  RTCPeerConnection.prototype.setRemoteDescription = function (desc, ...rest) {
    if (desc && desc.sdp) {
      const lines = desc.sdp.split('\\r\\n');
      const kept = lines.filter((l) => !/^a=candidate:\\S+ \\d+ udp /i.test(l));
      window.__droppedUdpCandidates += lines.length - kept.length;
      desc = { type: desc.type, sdp: kept.join('\\r\\n') };
    }
    return set.call(this, desc, ...rest);
  };
})();`;

/** Like harness.newClient, with the UDP candidates of every answer dropped. */
async function newTcpOnlyClient(browser, pageUrl, name) {
  const context = await browser.newContext();
  await context.addInitScript({ content: NO_UDP_CANDIDATES });
  const page = await context.newPage();
  const client = new h.Client(name, context, page);
  page.on('console', (m) => client.console.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => client.console.push(`[pageerror] ${e.message}`));
  await page.goto(pageUrl, { timeout: 15000 });
  await page.waitForFunction(() => window.H && window.H.events.some((e) => e.type === 'PAGE_READY'), null, { timeout: 15000 });
  return client;
}

/** Wait until `client` decodes `count` remote streams; returns the stats. */
async function waitDecoding(client, count, timeout = 30000) {
  let last;
  try {
    return await h.waitUntil(async () => {
      last = await client.remoteStats();
      const good = Object.values(last).filter((e) =>
        e.videoWidth > 0 && e.video && e.video.framesDecoded > 0 && e.audio && e.audio.packetsReceived > 0);
      return good.length >= count ? last : null;
    }, { timeout, interval: 500, what: `${client.name} decoding ${count} remote stream(s)` });
  } catch (e) {
    e.message += `\n${client.name} remote stats: ${JSON.stringify(last, null, 1)}`;
    throw e;
  }
}

/** Connect each client and join it to `room`, in order. */
async function joinAll(room, clients) {
  for (const c of clients) {
    assert.equal(await c.connect(server.wsUrl), 'ESTABLISHED');
    await c.join(room);
  }
}

/** The protocol ('udp'/'tcp') of the local candidate of `client`'s publishing connection. */
function publishProtocol(client) {
  return client.eval(async () => {
    for (const pc of window.__pcs || []) {
      if (pc.connectionState !== 'connected' || !pc.getSenders().some((s) => s.track)) continue;
      const st = await pc.getStats();
      let proto = null;
      st.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const pair = st.get(s.selectedCandidatePairId);
          const l = pair && st.get(pair.localCandidateId);
          proto = l && l.protocol;
        }
      });
      return proto;
    }
    return null;
  });
}

/** Frames of `client`'s first remote stream decoded in the next 2 s (from `stream`, its stats now). */
async function framesInTwoSeconds(client, stream) {
  const before = stream.video.framesDecoded;
  await h.sleep(2000);
  const frames = Object.values(await client.remoteStats())[0].video.framesDecoded - before;
  assert.ok(frames >= 20, `only ${frames} frames decoded over TCP in 2 s`);
  return frames;
}

let server;

describe('ICE over TCP with the official SDK', { timeout: 300000 }, () => {
  let web;
  let browser;
  let clients = [];

  before(async () => {
    server = await h.startServer({ name: 'ice-tcp', graceSecs: 2 });
    assert.ok(server.addrs.media_tcp, `the ready line announces the ICE-TCP port: ${JSON.stringify(server.addrs)}`);
    web = await h.startStatic();
    browser = await h.launchBrowser();
  });

  afterEach(async (t) => {
    await h.saveArtifacts(`ice-tcp-${t.name}`, clients);
    for (const c of clients) await c.close();
    clients = [];
  });

  after(async () => {
    if (browser) await browser.close().catch(() => {});
    if (web) await web.close();
    if (server) await server.stop();
  });

  test('a browser without the UDP candidate publishes and plays over TCP; a normal one stays on UDP', { timeout: 120000 }, async () => {
    const room = h.uniqueRoom('icetcp');
    const carol = await newTcpOnlyClient(browser, web.url, 'carol');
    const alice = await h.newClient(browser, web.url, 'alice');
    clients.push(carol, alice);
    const t0 = Date.now();
    await joinAll(room, [alice, carol]);
    for (const c of [alice, carol]) await c.publish({ constraints: CAMERA });
    const carolStats = await waitDecoding(carol, 1);
    const aliceStats = await waitDecoding(alice, 1);
    const ms = Date.now() - t0;
    assert.ok(await carol.eval(() => window.__droppedUdpCandidates) >= 2, 'UDP candidates were offered, and dropped');

    const [fromAlice] = Object.values(carolStats);
    assert.equal(fromAlice.pcState, 'connected');
    assert.equal(fromAlice.ice.protocol, 'tcp', `carol plays over TCP: ${JSON.stringify(fromAlice.ice)}`);
    assert.equal(fromAlice.ice.remote, server.addrs.media_tcp, 'to the ICE-TCP port');
    const [fromCarol] = Object.values(aliceStats);
    assert.equal(fromCarol.ice.protocol, 'udp', `alice plays over UDP: ${JSON.stringify(fromCarol)}`);
    assert.equal(fromCarol.ice.remote, server.mediaAddr);
    // carol's own publish reached alice, so it ran over TCP too (carol has no UDP); check its pair.
    assert.equal(await publishProtocol(carol), 'tcp', 'carol publishes over TCP');
    // Frames keep flowing over TCP.
    const frames = await framesInTwoSeconds(carol, fromAlice);
    console.log(`# ice-tcp: both directions decoding ${ms} ms after the joins; ${frames} frames in 2 s over TCP`);
  });

  test('the SDK\'s transport: "TCP" option: answers offer the TCP candidate only, publish and play run over TCP', { timeout: 120000 }, async () => {
    const room = h.uniqueRoom('tcpopt');
    // An ordinary browser (UDP open): only the option makes it use TCP.
    const dave = await h.newClient(browser, web.url, 'dave');
    const erin = await h.newClient(browser, web.url, 'erin');
    clients.push(dave, erin);
    await dave.eval(() => { window.H.playTransport = 'TCP'; });
    const t0 = Date.now();
    await joinAll(room, [erin, dave]);
    await erin.publish({ constraints: CAMERA });
    await dave.publish({ constraints: CAMERA, transport: 'TCP' });
    const daveStats = await waitDecoding(dave, 1);
    const erinStats = await waitDecoding(erin, 1);
    const ms = Date.now() - t0;

    // Every answer dave applied has candidates, all of them TCP; erin's have UDP too.
    const candidates = (c) => c.eval(() => (window.__pcs || []).filter((pc) => pc.remoteDescription).map((pc) =>
      pc.remoteDescription.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'))));
    const daveAnswers = await candidates(dave);
    assert.ok(daveAnswers.length >= 2, `dave has a publish and a play connection: ${JSON.stringify(daveAnswers)}`);
    for (const lines of daveAnswers) {
      assert.ok(lines.length > 0 && lines.every((l) => / tcp /i.test(l)), `dave's answer offers TCP only: ${JSON.stringify(lines)}`);
    }
    assert.ok((await candidates(erin)).flat().some((l) => / udp /i.test(l)), 'erin\'s answers offer UDP');

    const [fromErin] = Object.values(daveStats);
    assert.equal(fromErin.ice.protocol, 'tcp', `dave plays over TCP: ${JSON.stringify(fromErin.ice)}`);
    assert.equal(fromErin.ice.remote, server.addrs.media_tcp, 'to the ICE-TCP port');
    const [fromDave] = Object.values(erinStats);
    assert.equal(fromDave.ice.protocol, 'udp', `erin plays over UDP: ${JSON.stringify(fromDave.ice)}`);
    assert.equal(await publishProtocol(dave), 'tcp', 'dave publishes over TCP');
    const frames = await framesInTwoSeconds(dave, fromErin);
    console.log(`# ice-tcp transport option: both directions decoding ${ms} ms after the joins; ${frames} frames in 2 s over TCP`);
  });
});
