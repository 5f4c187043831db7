'use strict';
// Media through the SFU with the UNMODIFIED official Flashphoner Web SDK: publish camera+mic into a
// room, play the others (as the SDK's conference demo does on STATE/PUBLISHED), and check that every
// remote stream really decodes (videoWidth, framesDecoded, audio packetsReceived, codec mimeType).
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const { browserSuite } = require('../lib/suite');

const CAMERA = { audio: true, video: { width: 320, height: 240 } };

/** Wait until `client` decodes `count` remote streams (each passing `check`); returns the stats. */
async function waitDecoding(client, count, { timeout = 30000, audio = true, videoCodec, audioCodec, filter } = {}) {
  let last;
  try {
    return await h.waitUntil(async () => {
      const all = await client.remoteStats();
      last = all;
      const entries = Object.values(all).filter((e) => !filter || filter(e));
      const good = entries.filter((e) =>
        e.videoWidth > 0 && e.video && e.video.framesDecoded > 0 &&
        (!audio || (e.audio && e.audio.packetsReceived > 0)) &&
        (!videoCodec || (e.video.codec || '').toLowerCase() === videoCodec.toLowerCase()) &&
        (!audioCodec || (e.audio && (e.audio.codec || '').toLowerCase() === audioCodec.toLowerCase())));
      return good.length >= count ? all : null;
    }, { timeout, interval: 500, what: `${client.name} decoding ${count} remote stream(s)` });
  } catch (e) {
    e.message += `\n${client.name} remote stats: ${JSON.stringify(last, null, 1)}`;
    throw e;
  }
}

function mediaPeers(stats) {
  // GET /api/stats: number of live media peer connections (publishers + players).
  for (const k of ['media_peers', 'mediaPeers', 'peers']) {
    if (typeof stats[k] === 'number') return stats[k];
    if (stats.media && typeof stats.media[k] === 'number') return stats.media[k];
  }
  throw new Error(`GET /api/stats has no media peer count: ${JSON.stringify(stats)}`);
}

async function apiStats(server) {
  const res = await fetch(`${server.httpUrl}/api/stats`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return res.json();
}

describe('media with the official SDK', { timeout: 600000 }, () => {
  const suite = browserSuite('media');

  /** n participants join one room, each publishes its camera+mic; returns the clients. */
  async function conference(names, { force } = {}) {
    const room = h.uniqueRoom('media');
    const cs = [];
    for (const n of names) {
      const c = await suite.joined(n, room, { force });
      const streamName = await c.publish({ constraints: CAMERA });
      assert.ok(streamName.startsWith(`${room}-${n}-`), `stream name ${streamName}`);
      cs.push(c);
    }
    return cs;
  }

  function assertLoopback(entry) {
    assert.ok(entry.ice, `no selected ICE pair for ${entry.name}`);
    assert.match(entry.ice.remote, /^127\.0\.0\.1:/, `ICE remote ${entry.ice.remote}`);
    assert.equal(entry.ice.remote, suite.server.mediaAddr, 'media arrives from the announced media address');
  }

  test('two participants publish camera+mic and decode each other', { timeout: 90000 }, async () => {
    const [alice, bob] = await conference(['alice', 'bob']);
    for (const c of [alice, bob]) {
      const stats = await waitDecoding(c, 1);
      const [entry] = Object.values(stats);
      assert.equal(entry.status, 'PLAYING');
      assert.equal(entry.pcState, 'connected');
      assertLoopback(entry);
      assert.equal(entry.videoWidth, 320);
      assert.equal(entry.videoHeight, 240);
    }
    // frames keep flowing
    const before = Object.values(await bob.remoteStats())[0].video.framesDecoded;
    await h.sleep(2000);
    const afterStats = Object.values(await bob.remoteStats())[0].video.framesDecoded;
    assert.ok(afterStats - before >= 10, `only ${afterStats - before} frames decoded in 2 s`);
  });

  for (const [label, force, videoCodec, audioCodec] of [
    ['H.264 forced', { video: 'H264' }, 'video/H264', 'audio/opus'],
    ['VP8 forced', { video: 'VP8' }, 'video/VP8', 'audio/opus'],
    ['PCMU forced on audio', { audio: 'PCMU' }, null, 'audio/PCMU'],
  ]) {
    test(`codec: ${label}`, { timeout: 90000 }, async () => {
      const [alice, bob] = await conference(['alice', 'bob'], { force });
      for (const c of [alice, bob]) {
        const stats = await waitDecoding(c, 1, { videoCodec, audioCodec });
        const [entry] = Object.values(stats);
        if (videoCodec) assert.equal(entry.video.codec.toLowerCase(), videoCodec.toLowerCase());
        assert.equal(entry.audio.codec.toLowerCase(), audioCodec.toLowerCase());
      }
    });
  }

  test('audio only: a microphone-only stream is heard, its play negotiates no transport-cc', { timeout: 90000 }, async () => {
    // A player of an audio-only source runs without transport-wide feedback and estimation
    // (peer::RtcUse::PlayAudio, docs/MEDIA_QUALITY.md): the browser must still play it.
    const room = h.uniqueRoom('media');
    const alice = await suite.joined('alice', room);
    const name = await alice.publish({ constraints: { audio: true, video: false } });
    const bob = await suite.joined('bob', room);
    let entry;
    await h.waitUntil(async () => {
      entry = (await bob.remoteStats())[name];
      return entry && entry.audio && entry.audio.totalSamplesReceived > 48000 ? entry : null;
    }, { timeout: 30000, interval: 500, what: `bob hearing ${name}` });
    assert.equal(entry.status, 'PLAYING');
    assert.equal(entry.pcState, 'connected');
    assert.equal(entry.audio.codec.toLowerCase(), 'audio/opus');
    // The server's answer to bob's play: no transport-wide sequence numbers.
    const answer = await bob.eval((n) => window.H.playAnswer(n), name);
    assert.ok(answer, 'the play connection has the server\'s answer');
    assert.ok(!answer.includes('transport-wide-cc'), `no transport-cc in the answer:\n${answer}`);
    // It keeps flowing: 48 kHz, ~2 s more of it.
    const before = entry.audio.totalSamplesReceived;
    await h.sleep(2000);
    const after = (await bob.remoteStats())[name].audio.totalSamplesReceived;
    assert.ok(after - before >= 80000, `only ${after - before} samples in 2 s`);
  });

  test('four participants all decode each other (12 subscriptions)', { timeout: 150000 }, async () => {
    const cs = await conference(['p1', 'p2', 'p3', 'p4']);
    for (const c of cs) {
      const stats = await waitDecoding(c, 3, { timeout: 45000 });
      const fromLogins = Object.keys(stats).map((n) => n.split('-').slice(-2, -1)[0]).sort();
      const others = cs.filter((x) => x !== c).map((x) => x.name).sort();
      assert.deepEqual(fromLogins, others, `${c.name} plays each other participant once`);
    }
  });

  test('screen sharing: a second stream from getDisplayMedia is decoded by the other', { timeout: 90000 }, async () => {
    const [alice, bob] = await conference(['alice', 'bob']);
    await waitDecoding(bob, 1);
    const screenName = await alice.publish({ screen: true });
    assert.match(screenName, /-screenShare$/);
    const isScreen = (e) => e.name === screenName;
    const stats = await waitDecoding(bob, 1, { audio: false, filter: isScreen });
    const screen = stats[screenName];
    // captured at the demo's 640x480 (the camera is 320x240): this really is the screen track
    assert.equal(`${screen.videoWidth}x${screen.videoHeight}`, '640x480');
    // (no audio check: for a screen the SDK itself adds a silent WebAudio track to the publish)
    // the camera keeps decoding alongside
    await waitDecoding(bob, 2, { audio: false });
    const streams = (await bob.eval(() => window.H.participantStreams())).alice;
    assert.equal(streams.length, 2);
  });

  test('closing a page: the others get UNPUBLISHED/LEFT and media peers drop to 0', { timeout: 90000 }, async () => {
    const [alice, bob] = await conference(['alice', 'bob']);
    await waitDecoding(alice, 1);
    await waitDecoding(bob, 1);
    assert.ok(mediaPeers(await apiStats(suite.server)) >= 4, 'two publishers + two players are counted');

    const bobStream = Object.keys(await alice.remoteStats())[0];
    await suite.closeClient(bob);
    // alice's player of bob's stream is stopped by the server, the stream is removed (UNPUBLISHED), then LEFT
    await alice.waitEvent('STOPPED', { name: bobStream }, 15000);
    await h.waitUntil(async () => {
      const s = await alice.eval(() => window.H.participantStreams());
      return !s.bob || s.bob.length === 0;
    }, { what: 'bob\'s stream removed at alice (UNPUBLISHED)' });
    await alice.waitEvent('LEFT', { login: 'bob' }, 15000);

    await suite.closeClient(alice);
    await h.waitUntil(async () => mediaPeers(await apiStats(suite.server)) === 0,
      { timeout: 15000, what: 'GET /api/stats media peers back to 0' });
  });
});
