'use strict';
// The Conference app (web/client/conference.html), served by huddle itself, used by three people:
// invite link, remote tiles that decode, unicode chat with sender names, mute, Record, room full, leave.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const A = require('../apps_lib');

describe('Conference app', { timeout: 120000 }, () => {
  let env;
  const people = [];

  before(async () => {
    // 3 people per room: the 4th join is refused by the server ("Room is full")
    env = await A.setup('apps-conference', { maxParticipants: 3 });
  });

  afterEach(async () => {
    // keep the logs and a last screenshot of everyone, then free the browser for the next test
    await A.saveLogs('conference', people);
    for (const p of people.splice(0)) await p.close();
  });

  after(async () => {
    if (env) await env.teardown();
  });

  async function open(name, url, opts) {
    const p = await A.openPerson(env.browser, url || `${env.origin}/client/conference.html`, name, opts);
    people.push(p);
    return p;
  }

  test('the server serves the start page, the apps and the SDK demos', async () => {
    const get = async (p) => {
      const res = await fetch(`${env.origin}${p}`, { signal: AbortSignal.timeout(5000) });
      return { status: res.status, body: await res.text() };
    };
    const index = await get('/');
    assert.equal(index.status, 200);
    for (const href of ['client/conference.html', 'client/video-chat.html', 'client/screen-sharing.html', 'client/records/']) {
      assert.ok(index.body.includes(`href="${href}"`), `index links ${href}`);
    }
    for (const p of ['/client/conference.html', '/client/video-chat.html', '/client/screen-sharing.html',
      '/vendor/flashphoner-room-api-webrtc-only.js', '/vendor/NOTICE',
      '/sdk/examples/demo/streaming/conference/conference.html', '/sdk/flashphoner-room-api.js',
      '/sdk/examples/demo/dependencies/js/utils.js', '/client/records/']) {
      assert.equal((await get(p)).status, 200, `GET ${p}`);
    }
    assert.match((await get('/vendor/NOTICE')).body, /MIT/);
  });

  test('three people: invite link, tiles that decode, chat, mute, Record, room full, leave', { timeout: 90000 }, async () => {
    const t0 = Date.now();
    const alice = await open('alice');
    const room = await alice.value('#room');
    assert.match(room, /^room-[a-z0-9]{6}$/, 'a fresh page proposes a random room');
    assert.equal(await alice.text('#status'), 'DISCONNECTED');
    assert.deepEqual(await alice.unlabelled(), []);
    await alice.join(undefined, { record: true });
    // Record checkbox => join({name, record:true})
    assert.deepEqual(alice.commands('join').map((c) => c.options), [{ name: room, record: true }]);

    const invite = await alice.value('#inviteLink');
    assert.equal(invite, `${env.origin}/client/conference.html?room=${encodeURIComponent(room)}`);
    // Copy puts the link on the clipboard
    // (CDP grants exactly this list and rejects all others: keep camera and microphone in it)
    await alice.context.grantPermissions(['camera', 'microphone', 'clipboard-read', 'clipboard-write'], { origin: env.origin });
    await alice.page.click('#copyInviteBtn');
    await alice.page.waitForFunction(() => /copied/i.test(document.getElementById('inviteHint').textContent), null, { timeout: 5000 });
    assert.equal(await alice.page.evaluate(() => navigator.clipboard.readText()), invite);

    // bob and carol open the invite link: the room is pre-filled
    const bob = await open('bob', invite);
    const carol = await open('carol', invite, { viewport: A.PHONE });
    assert.equal(await bob.value('#room'), room);
    assert.equal(await carol.value('#room'), room);
    await bob.join();
    await carol.join();
    const tJoined = Date.now();
    assert.deepEqual(bob.commands('join').map((c) => c.options), [{ name: room, record: false }]);

    // a tile per remote participant; the grid grows with the room
    await h.waitUntil(async () => (await alice.tileLogins()).join() === 'bob,carol', { what: 'alice sees bob and carol tiles' });
    assert.deepEqual(await bob.tileLogins(), ['alice', 'carol']);
    assert.deepEqual(await carol.tileLogins(), ['alice', 'bob']);
    assert.match(await alice.text('#roomInfo'), /3 people/);

    // unicode chat with sender names, to everyone
    await alice.say(A.GREETING);
    await bob.waitChat('alice', A.GREETING);
    await carol.waitChat('alice', A.GREETING);
    await carol.say('hi from carol');
    await alice.waitChat('carol', 'hi from carol');
    await bob.waitChat('carol', 'hi from carol');
    assert.deepEqual((await alice.chatLines()).filter((l) => l.mine).map((l) => l.text), [A.GREETING]);

    // a fourth person is refused by the server: the page says the room is full
    const dave = await open('dave', invite);
    await dave.page.fill('#login', 'dave');
    await dave.page.click('#joinBtn');
    await dave.page.waitForFunction(() => /full/i.test(document.getElementById('error').textContent), null, { timeout: 10000 });
    assert.match(await dave.text('#error'), /Room is full/);
    await dave.waitState('idle');
    assert.equal(await dave.text('#status'), 'DISCONNECTED');
    assert.deepEqual(await alice.tileLogins(), ['bob', 'carol']);

    // everyone decodes everyone else's camera (videoWidth and getStats framesDecoded)
    await A.waitAllDecoding([alice, bob, carol], '#tiles .tile.remote video', 2);
    const mediaMs = Date.now() - tJoined;

    // the Record checkbox took effect: the recordings page lists this room's streams
    await h.waitUntil(async () => {
      const res = await fetch(`${env.origin}/client/records/`, { signal: AbortSignal.timeout(5000) });
      const html = await res.text();
      return ['alice', 'bob', 'carol'].every((who) => html.includes(`${room}-${who}`));
    }, { timeout: 10000, what: `/client/records/ listing the streams of ${room}` });

    // mute / unmute: the button toggles and the local track is disabled / enabled
    const localVideoEnabled = (p) => p.page.evaluate(() => {
      const v = document.querySelector('#localDisplay video');
      return v.srcObject.getVideoTracks()[0].enabled;
    });
    await alice.page.click('#muteVideoBtn');
    assert.equal(await alice.page.getAttribute('#muteVideoBtn', 'aria-pressed'), 'true');
    assert.equal(await alice.text('#muteVideoBtn'), 'Unmute video');
    assert.equal(await localVideoEnabled(alice), false);
    await alice.page.click('#muteVideoBtn');
    assert.equal(await localVideoEnabled(alice), true);
    await alice.page.click('#muteAudioBtn');
    assert.equal(await alice.text('#muteAudioBtn'), 'Unmute audio');
    await alice.page.click('#muteAudioBtn');
    assert.equal(await alice.text('#muteAudioBtn'), 'Mute audio');

    await alice.screenshot('conference-alice');
    await bob.screenshot('conference-bob');
    await carol.screenshot('conference-carol-phone', { fullPage: true });
    await dave.screenshot('conference-dave-room-full');
    // phone-sized page: nothing wider than the screen
    assert.ok(await carol.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1),
      'no horizontal scrolling on a phone-sized viewport');

    // carol leaves: her tile goes away for the others
    await carol.leave();
    assert.equal(await carol.text('#status'), 'DISCONNECTED');
    await h.waitUntil(async () => (await alice.tileLogins()).join() === 'bob', { what: 'carol tile removed at alice' });
    await h.waitUntil(async () => (await bob.tileLogins()).join() === 'alice', { what: 'carol tile removed at bob' });
    await bob.leave();
    await alice.leave();

    for (const p of [alice, bob, carol, dave]) {
      assert.deepEqual(p.foreignRequests(), [], `${p.name}: requests outside ${env.origin}`);
      assert.deepEqual(p.pageErrors(), [], `${p.name}: page errors`);
    }
    console.log(`conference: all 6 remote videos decoding ${mediaMs} ms after the 3rd join (chat and room-full checks ran meanwhile); test body ${Date.now() - t0} ms`);
  });

  test("the SDK's own unmodified conference demo (/sdk/examples/...) talks to a person using our app", { timeout: 60000 }, async () => {
    const room = h.uniqueRoom('demo');
    const ann = await open('ann', `${env.origin}/client/conference.html?room=${room}`);
    await ann.join();
    const demoUrl = `${env.origin}/sdk/examples/demo/streaming/conference/conference.html?roomName=${room}`;
    const ed = await A.openPerson(env.browser, demoUrl, 'ed', { waitFor: '#joinBtn' });
    people.push(ed);
    // the demo computes ws://<host>:8080 by itself (right on a default install); point it at this server
    assert.equal(await ed.value('#url'), 'ws://127.0.0.1:8080');
    await ed.page.fill('#url', `ws://${env.server.httpAddr}`);
    await ed.page.fill('#login', 'ed');
    await ed.page.click('#joinBtn');
    await ed.page.waitForFunction(() => document.getElementById('status').textContent === 'ESTABLISHED', null, { timeout: 15000 });
    await ed.page.waitForFunction(() => Array.from(document.querySelectorAll('[id$=Name]')).some((e) => e.textContent === 'ann'),
      null, { timeout: 15000 });
    await h.waitUntil(async () => (await ann.tileLogins()).join() === 'ed', { what: 'ann sees the demo user' });
    // the demo publishes its camera and plays ann's; both sides decode
    await ann.waitDecoding('#tiles .tile.remote video', 1);
    await ed.waitDecoding('.display video:not([id$=LOCAL_CACHED_VIDEO])', 1);
    // chat between the demo and our app, both ways
    await ann.say(A.GREETING);
    await ed.page.waitForFunction((g) => document.getElementById('chat').textContent.includes(g), A.GREETING, { timeout: 10000 });
    await ed.page.fill('#message', 'hello from the demo');
    await ed.page.click('#sendMessageBtn');
    await ann.waitChat('ed', 'hello from the demo');
    await ed.screenshot('sdk-demo-conference-ed', { fullPage: true });

    // any other join failure is shown with the server's reason: here, a second "ann"
    const ann2 = await open('ann', `${env.origin}/client/conference.html?room=${room}`);
    await ann2.page.fill('#login', 'ann');
    await ann2.page.click('#joinBtn');
    await ann2.page.waitForFunction(() => document.getElementById('error').textContent !== '', null, { timeout: 10000 });
    await ann2.waitState('idle');
    const why = await ann2.text('#error');
    assert.match(why, new RegExp(`^Could not join room “${room}”: \\S`), why);
    await ann2.screenshot('conference-duplicate-login');
    await ann.screenshot('conference-ann-with-sdk-demo');
    await ann.leave();
  });
});
