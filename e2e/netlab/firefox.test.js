'use strict';
// Network lab: Firefox ESR <-> Chromium. Firefox never pairs with a loopback server candidate, so
// the server runs on 10.77.0.1 in its own namespace and each browser reaches it through its own
// (perfect) emulated link. Issue 11 acceptance: chat byte-exact (non-ASCII text) and video decoded
// both ways. Firefox here has no H.264: VP8 (forced in both pages).
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { createLab } = require('../lib/netlab');
const h = require('../lib/harness');
const s = require('./scenario');

const SCENARIO = 'firefox';
// Latin-1, combining marks, CJK, RTL, an astral-plane emoji (surrogate pair), a ZWJ sequence
const TEXTS = {
  fox: 'Grüße aus Firefox — ñandú, e\u0301, 日本語, عربى, 🦊 👩‍💻 ✓',
  chrome: 'Привет из Chromium — ½ ≠ ¾, 한국어, עברית, 🐘 🏳️‍🌈 ✓',
};

describe('netlab: Firefox ESR and Chromium in one room', { timeout: 150000 }, () => {
  let lab;
  let clients;
  before(async () => {
    s.resetReport(SCENARIO);
    lab = await createLab(['fox', 'chrome'], { name: SCENARIO });
  });
  after(async () => {
    if (clients) await s.closeAll(`netlab-${SCENARIO}`, clients);
    if (lab) await lab.close();
  });

  test('chat arrives byte-exact and video decodes both ways', async () => {
    clients = {};
    clients.fox = await s.participant(lab, 'fox', { engine: 'firefox' });
    clients.chrome = await s.participant(lab, 'chrome');
    const room = h.uniqueRoom('netlab-ff');
    const joinAt = Date.now();
    for (const n of ['fox', 'chrome']) {
      await clients[n].join(room);
      await clients[n].publish(s.CAMERA);
    }
    const { missing } = await s.waitFrames(clients, s.allPairs(['fox', 'chrome']), 20000);
    assert.deepEqual(missing, [], 'a browser shows no frame of the other within 20 s');

    await clients.fox.sendMessage('chrome', TEXTS.fox);
    await clients.chrome.sendMessage('fox', TEXTS.chrome);
    const atChrome = await clients.chrome.waitEvent('MESSAGE', { from: 'fox' });
    const atFox = await clients.fox.waitEvent('MESSAGE', { from: 'chrome' });

    const fig = await s.measure(clients, ['fox', 'chrome'], 8, joinAt);
    s.report(SCENARIO, '8 s, Firefox ESR <-> Chromium, perfect links', fig, {
      codecs: Object.fromEntries(await Promise.all(Object.entries(clients).map(async ([n, c]) => {
        const q = await s.quality(c);
        return [n, Object.values(q.inbound).map((e) => `${e.video && e.video.codec}/${e.audio && e.audio.codec}`)];
      }))),
    });
    assert.equal(Buffer.from(atChrome.text).toString('hex'), Buffer.from(TEXTS.fox).toString('hex'), 'Firefox -> Chromium text');
    assert.equal(Buffer.from(atFox.text).toString('hex'), Buffer.from(TEXTS.chrome).toString('hex'), 'Chromium -> Firefox text');
    for (const st of fig.streams) {
      assert.ok(st.fps > 5, `${st.viewer} <- ${st.publisher}: ${st.fps} fps decoded`);
    }
  });
});
