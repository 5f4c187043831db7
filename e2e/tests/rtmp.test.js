'use strict';
// RTMP ingest -> WebRTC with the UNMODIFIED official Flashphoner Web SDK: Debian's ffmpeg publishes
// H.264 + AAC to rtmp://127.0.0.1:PORT/live/<room>/encoder; a browser participant in <room> sees
// `encoder` join and publish, plays its stream and decodes video and audio; killing ffmpeg makes the
// browser see the stream stop (UNPUBLISHED: the SDK removes it, the player gets STOPPED) and LEFT.
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const { browserSuite } = require('../lib/suite');

const { FFMPEG, ffmpegPush } = require('../lib/ffmpeg');

describe('RTMP ingest into a room', { timeout: 180000 }, () => {
  const suite = browserSuite('rtmp', { rtmpEncoder: FFMPEG });

  test('ffmpeg publishes H.264+AAC; the browser plays and decodes it; killing ffmpeg is a clean leave', { timeout: 120000 }, async () => {
    const room = h.uniqueRoom('rtmp');
    const alice = await suite.joined('alice', room);

    const push = ffmpegPush(`rtmp://${suite.rtmpAddr}/live/${room}/encoder`, 20);
    suite.ownProcess(push.child);
    const streamName = `${room}-encoder-rtmp`;

    await alice.waitEvent('JOINED', { login: 'encoder' }, 15000);
    const published = await h.waitUntil(async () => {
      const evs = await alice.events('PUBLISHED');
      return evs.find((e) => e.login === 'encoder' && (e.streams || []).includes(streamName));
    }, { timeout: 15000, what: `PUBLISHED ${streamName}` });
    assert.ok(published);

    let last;
    try {
      await h.waitUntil(async () => {
        const all = await alice.remoteStats();
        last = all;
        const e = all[streamName];
        return e && e.videoWidth > 0 && e.video && e.video.framesDecoded > 0 &&
          e.audio && e.audio.packetsReceived > 0 ? e : null;
      }, { timeout: 20000, interval: 500, what: `alice decoding ${streamName}` });
    } catch (e) {
      e.message += `\nremote stats: ${JSON.stringify(last, null, 1)}\nffmpeg: ${push.stderr()}`;
      throw e;
    }
    const stats = (await alice.remoteStats())[streamName];
    assert.equal(stats.status, 'PLAYING');
    assert.equal(`${stats.videoWidth}x${stats.videoHeight}`, '320x240');
    assert.equal(stats.video.codec.toLowerCase(), 'video/h264');
    assert.equal(stats.audio.codec.toLowerCase(), 'audio/opus');
    // Frames keep flowing at the source's rate (15 fps).
    const before = stats.video.framesDecoded;
    await h.sleep(2000);
    const afterStats = (await alice.remoteStats())[streamName];
    assert.ok(afterStats.video.framesDecoded - before >= 15,
      `only ${afterStats.video.framesDecoded - before} frames decoded in 2 s`);
    assert.ok(afterStats.audio.packetsReceived > stats.audio.packetsReceived, 'audio keeps flowing');

    push.child.kill('SIGKILL');
    await push.exited;
    await alice.waitEvent('STOPPED', { name: streamName }, 15000);
    await h.waitUntil(async () => {
      const s = await alice.eval(() => window.H.participantStreams());
      return !s.encoder || s.encoder.length === 0;
    }, { what: 'encoder stream removed at alice (UNPUBLISHED)' });
    await alice.waitEvent('LEFT', { login: 'encoder' }, 15000);

    // The server's own figure: added latency from RTMP arrival to the write into the player.
    await h.waitUntil(async () => /closed ingest .*added_latency_ms/.test(suite.server.log()),
      { timeout: 10000, what: 'ingest latency line in the server log' });
    const line = suite.server.log().split('\n').find((l) => /closed ingest .*added_latency_ms/.test(l));
    console.log(`# server: ${line.replace(/^.*closed ingest/, 'closed ingest')}`);
    const lat = /p95=(\d+)/.exec(line);
    assert.ok(lat && Number(lat[1]) < 300, `server-side added latency p95 < 300 ms: ${line}`);
  });

  test('a duplicate login is refused at publish time with the room\'s reason', { timeout: 60000 }, async () => {
    const room = h.uniqueRoom('rtmp');
    const enc = await suite.joined('encoder', room);
    const push = ffmpegPush(`rtmp://${suite.rtmpAddr}/live/${room}/encoder`, 10);
    suite.ownProcess(push.child);
    const result = await Promise.race([push.exited, h.sleep(15000).then(() => null)]);
    assert.ok(result, 'ffmpeg was not refused within 15 s');
    assert.notEqual(result.code, 0, 'ffmpeg failed');
    await h.waitUntil(async () => /rtmp publish refused/.test(suite.server.log()),
      { timeout: 5000, what: 'refusal in the server log' });
    assert.equal((await enc.events('JOINED')).filter((e) => e.login === 'encoder').length, 0);
  });
});
