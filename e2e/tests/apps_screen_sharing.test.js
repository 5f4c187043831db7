'use strict';
// The Video Chat + Screen Sharing app (web/client/screen-sharing.html), served by huddle itself:
// two people on camera, one shares the screen as a second stream (<room>-<login>-xxxx-screenShare),
// the other decodes it in a separate large tile, it disappears after Stop sharing; chat; leave.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const A = require('../apps_lib');

describe('Video Chat + Screen Sharing app', { timeout: 120000 }, () => {
  let env;
  const people = [];

  before(async () => {
    env = await A.setup('apps-screen-sharing');
  });

  afterEach(async () => {
    // keep the logs and a last screenshot of everyone, then free the browser for the next test
    await A.saveLogs('screen-sharing', people);
    for (const p of people.splice(0)) await p.close();
  });

  after(async () => {
    if (env) await env.teardown();
  });

  async function open(name, url) {
    const p = await A.openPerson(env.browser, url || `${env.origin}/client/screen-sharing.html`, name);
    people.push(p);
    return p;
  }

  test('share the screen: the other side decodes it in its own tile, and it goes away on Stop sharing', { timeout: 90000 }, async () => {
    const t0 = Date.now();
    const alice = await open('alice');
    assert.equal(await alice.page.isDisabled('#shareBtn'), true, 'Share is disabled before joining');
    assert.deepEqual(await alice.unlabelled(), []);
    await alice.join();
    const room = await alice.value('#room');
    const invite = await alice.value('#inviteLink');
    assert.equal(invite, `${env.origin}/client/screen-sharing.html?room=${encodeURIComponent(room)}`);
    const bob = await open('bob', invite);
    assert.equal(await bob.value('#room'), room, 'the invite link pre-fills the room');
    await bob.join();
    await alice.waitDecoding('#remoteMain video', 1);
    await bob.waitDecoding('#remoteMain video', 1);

    // alice shares her screen: a second published stream named ...-screenShare, no audio
    assert.equal(await alice.text('#shareBtn'), 'Share screen');
    await alice.page.click('#shareBtn');
    await alice.page.waitForFunction(() => document.getElementById('shareBtn').textContent === 'Stop sharing', null, { timeout: 15000 });
    assert.equal(await alice.page.getAttribute('#shareBtn', 'aria-pressed'), 'true');
    assert.equal(await alice.page.isVisible('#sharePreview'), true, 'alice sees a preview of her shared screen');
    const published = alice.sentFrames.map((f) => JSON.parse(f)).filter((m) => m.message === 'publishStream').map((m) => m.data[0]);
    const share = published.find((d) => /-screenShare$/.test(d.name));
    assert.ok(share, `a publishStream named ...-screenShare: ${JSON.stringify(published.map((d) => d.name))}`);
    assert.ok(share.name.startsWith(`${room}-alice-`), share.name);
    assert.equal(share.hasVideo, true);
    // published with audio:false (the browser's own "share audio" choice may still add a track)
    assert.equal(share.constraints.audio, false, JSON.stringify(share.constraints));

    // bob decodes it in a separate large tile, while alice's camera keeps playing in the main tile
    const tShare = Date.now();
    const [screen] = await bob.waitDecoding('#screens .tile.screen video', 1);
    const shareMs = Date.now() - tShare;
    assert.equal(screen.stream, share.name);
    assert.equal(screen.login, 'alice');
    assert.equal(await bob.text('#screens .tile.screen .name'), "alice's screen");
    const cam = await bob.videos('#remoteMain video');
    assert.ok(cam.length === 1 && cam[0].videoWidth > 0 && cam[0].stream !== share.name, JSON.stringify(cam));
    const area = await bob.page.evaluate(() => {
      const r = (el) => el.getBoundingClientRect();
      const s = r(document.querySelector('#screens .tile.screen'));
      const l = r(document.getElementById('localTile'));
      return { screen: s.width * s.height, local: l.width * l.height };
    });
    assert.ok(area.screen > 4 * area.local, `the shared screen is shown large: ${JSON.stringify(area)}`);

    await alice.say(A.GREETING);
    await bob.waitChat('alice', A.GREETING);

    await alice.screenshot('screen-sharing-alice-sharing');
    await bob.screenshot('screen-sharing-bob-watching');

    // Stop sharing: UNPUBLISHED, the tile disappears on bob's side; the camera stays
    await alice.page.click('#shareBtn');
    await alice.page.waitForFunction(() => document.getElementById('shareBtn').textContent === 'Share screen', null, { timeout: 10000 });
    assert.equal(await alice.page.isVisible('#sharePreview'), false);
    await bob.page.waitForFunction(() => !document.querySelector('#screens .tile.screen'), null, { timeout: 10000 });
    assert.equal(await bob.page.isVisible('#screens'), false);
    await bob.waitDecoding('#remoteMain video', 1, 5000);
    const unpub = alice.sentFrames.map((f) => JSON.parse(f)).filter((m) => m.message === 'unPublishStream').map((m) => m.data[0].name);
    assert.deepEqual(unpub, [share.name]);
    await bob.screenshot('screen-sharing-bob-after-unshare');

    await bob.leave();
    await alice.leave();
    assert.equal(await alice.text('#status'), 'DISCONNECTED');
    for (const p of [alice, bob]) {
      assert.deepEqual(p.foreignRequests(), [], `${p.name}: requests outside ${env.origin}`);
      assert.deepEqual(p.pageErrors(), [], `${p.name}: page errors`);
    }
    console.log(`screen sharing: bob decoded the share ${shareMs} ms after Share; test body ${Date.now() - t0} ms`);
  });
});
