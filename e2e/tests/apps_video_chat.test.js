'use strict';
// The Two-Way Video Chat app (web/client/video-chat.html), served by huddle itself: two people,
// large remote video + small local video in a corner, unicode chat, invite link, a third person is
// turned away by the page (two-way chat), leave.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const A = require('../apps_lib');

describe('Two-Way Video Chat app', { timeout: 120000 }, () => {
  let env;
  const people = [];

  before(async () => {
    env = await A.setup('apps-video-chat');
  });

  afterEach(async () => {
    // keep the logs and a last screenshot of everyone, then free the browser for the next test
    await A.saveLogs('video-chat', people);
    for (const p of people.splice(0)) await p.close();
  });

  after(async () => {
    if (env) await env.teardown();
  });

  async function open(name, url, opts) {
    const p = await A.openPerson(env.browser, url || `${env.origin}/client/video-chat.html`, name, opts);
    people.push(p);
    return p;
  }

  test('two people see and chat with each other; a third is told the chat is full', { timeout: 90000 }, async () => {
    const t0 = Date.now();
    const alice = await open('alice');
    assert.deepEqual(await alice.unlabelled(), []);
    await alice.join('duo-' + Date.now().toString(36));
    const room = await alice.value('#room');
    // no Record option in the two-way chat: join({name}) only
    assert.deepEqual(alice.commands('join').map((c) => c.options), [{ name: room }]);
    assert.equal(await alice.text('#remoteMain .name'), 'Waiting for someone to join');

    const invite = await alice.value('#inviteLink');
    assert.equal(invite, `${env.origin}/client/video-chat.html?room=${encodeURIComponent(room)}`);
    // bob uses the https port (self-signed certificate): the page then talks wss:// to the same port
    const httpsInvite = invite.replace(env.origin, `https://${env.server.httpsAddr}`);
    const bob = await open('bob', httpsInvite, { ignoreHTTPSErrors: true });
    assert.equal(await bob.value('#room'), room, 'the invite link pre-fills the room');
    await bob.join();
    assert.deepEqual(bob.sockets, [`wss://${env.server.httpsAddr}/`]);
    assert.deepEqual(alice.sockets, [`ws://${env.server.httpAddr}/`]);

    // the large tile shows the other person, the small corner tile is me
    await h.waitUntil(async () => (await alice.text('#remoteMain .name')) === 'bob', { what: 'alice: bob in the large tile' });
    assert.equal(await bob.text('#remoteMain .name'), 'alice');
    assert.equal(await alice.text('#localTile .name'), 'alice (you)');
    const tMedia = Date.now();
    await alice.waitDecoding('#remoteMain video', 1);
    await bob.waitDecoding('#remoteMain video', 1);
    const mediaMs = Date.now() - tMedia;
    // local video sits in a corner of the remote one and is much smaller
    const geo = await alice.page.evaluate(() => {
      const r = (id) => document.getElementById(id).getBoundingClientRect();
      const big = r('remoteMain');
      const small = r('localTile');
      return { big: big.width * big.height, small: small.width * small.height,
        inside: small.left >= big.left && small.right <= big.right + 1 && small.bottom <= big.bottom + 1 && small.top >= big.top };
    });
    assert.ok(geo.inside && geo.small * 6 < geo.big, `local video is a small corner tile: ${JSON.stringify(geo)}`);

    // chat both ways
    await alice.say(A.GREETING);
    await bob.waitChat('alice', A.GREETING);
    await bob.say(`${A.GREETING} (bob)`);
    await alice.waitChat('bob', `${A.GREETING} (bob)`);

    // a third person opening the invite link is turned away; the two others keep talking
    const carol = await open('carol', invite);
    await carol.page.fill('#login', 'carol');
    await carol.page.click('#joinBtn');
    await carol.page.waitForFunction(() => /full/i.test(document.getElementById('error').textContent), null, { timeout: 10000 });
    await carol.waitState('idle');
    assert.equal(await alice.text('#remoteMain .name'), 'bob');
    await alice.waitDecoding('#remoteMain video', 1, 5000);

    await alice.screenshot('video-chat-alice');
    await bob.screenshot('video-chat-bob');
    await carol.screenshot('video-chat-carol-full');
    const phone = await open('phone', invite, { viewport: A.PHONE });
    await phone.screenshot('video-chat-phone-before-join', { fullPage: true });
    assert.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1),
      'no horizontal scrolling on a phone-sized viewport');

    // opened over plain http from a non-local host name, the page says where the camera works
    const far = await env.browser.newContext();
    try {
      const page = await far.newPage();
      // huddle.test never reaches the network: every request is answered from the real server
      await page.route('http://huddle.test:8080/**', async (route) => {
        const u = new URL(route.request().url());
        const res = await fetch(`${env.origin}${u.pathname}${u.search}`, { signal: AbortSignal.timeout(5000) });
        await route.fulfill({ status: res.status, headers: { 'content-type': res.headers.get('content-type') || '' }, body: Buffer.from(await res.arrayBuffer()) });
      });
      await page.goto('http://huddle.test:8080/client/video-chat.html?room=r1', { timeout: 15000 });
      await page.waitForSelector('#error a', { timeout: 5000 });
      assert.equal(await page.getAttribute('#error a', 'href'), 'https://huddle.test:8443/client/video-chat.html?room=r1');
      assert.equal(await page.isDisabled('#joinBtn'), true, 'no pointless Join without camera access');
      await page.screenshot({ path: require('node:path').join(h.ARTIFACTS, 'apps-video-chat-insecure-origin.png') });
    } finally {
      await far.close();
    }

    // bob leaves: alice's large tile goes back to waiting
    await bob.leave();
    assert.equal(await bob.text('#status'), 'DISCONNECTED');
    await h.waitUntil(async () => (await alice.text('#remoteMain .name')) === 'Waiting for someone to join', { what: 'alice: bob gone' });
    assert.equal(await alice.page.locator('#remoteMain video').count(), 0);
    await alice.leave();
    assert.equal(await alice.text('#status'), 'DISCONNECTED');

    // the server goes away while alice is in a room: the page says so and returns to the form
    await alice.join();
    assert.equal(await alice.text('#status'), 'ESTABLISHED');
    await env.stopServer();
    await alice.waitState('idle', 10000);
    assert.match(await alice.text('#status'), /^(DISCONNECTED|FAILED)$/);
    assert.match(await alice.text('#error'), /connection to the server was closed|Could not connect/);
    // and trying again reports that the server cannot be reached
    await alice.page.click('#joinBtn');
    await alice.page.waitForFunction(() => document.getElementById('status').textContent === 'FAILED', null, { timeout: 10000 });
    await alice.waitState('idle', 5000);
    assert.match(await alice.text('#error'), /Could not connect to the server at ws:\/\/127\.0\.0\.1:\d+/);
    await alice.screenshot('video-chat-alice-server-gone');

    for (const p of [alice, bob, carol, phone]) {
      assert.deepEqual(p.foreignRequests(), [], `${p.name}: requests outside ${p.origin}`);
      assert.deepEqual(p.pageErrors(), [], `${p.name}: page errors`);
    }
    console.log(`video chat: both decoding ${mediaMs} ms after bob joined; test body ${Date.now() - t0} ms`);
  });
});
