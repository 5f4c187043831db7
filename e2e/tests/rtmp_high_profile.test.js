'use strict';
// An encoder with default libx264 settings and a browser without a High decoder (issue 16, part 0),
// with the UNMODIFIED Flashphoner Web SDK in Debian's Chromium (whose offer has no H.264 High):
// - High profile without B-frames (`-bf 0`): published; Chromium's play FAILS naming the profile and
//   the fix (the SDK's status info); nobody else plays the stream, so the encoder is closed and
//   ffmpeg's own log shows the server's reason ("Server error: nobody can play H.264 High ...").
// - Full defaults (High + B-frames): ffmpeg's log shows the reason at once, naming -bf 0 and
//   -profile:v baseline.
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');
const { browserSuite } = require('../lib/suite');

const { FFMPEG, ffmpegPush } = require('../lib/ffmpeg');

/** ffmpeg with libx264's defaults plus `x264` (extra options), pushing to `url`; the server's
 * error lines stay in its log (ffmpeg's default log level). */
function pushWithDefaults(url, seconds, x264) {
  return ffmpegPush(url, seconds, { x264, fps: 25, sampleRate: 48000, logLevel: null });
}

describe('RTMP encoder defaults: High profile and B-frames', { timeout: 180000 }, () => {
  const suite = browserSuite('rtmp-high', { rtmpEncoder: FFMPEG });

  test('High profile: Chromium\'s play fails naming the profile, and the encoder is told nobody can play it', { timeout: 90000 }, async () => {
    const room = h.uniqueRoom('high');
    const alice = await suite.joined('alice', room);
    const started = Date.now();
    const push = pushWithDefaults(`rtmp://${suite.rtmpAddr}/live/${room}/encoder`, 40, ['-bf', '0', '-g', '25']);
    suite.ownProcess(push.child);
    const streamName = `${room}-encoder-rtmp`;

    // The page plays every stream that is PUBLISHED; Chromium's offer has no High decoder.
    const failed = await alice.waitEvent('PLAY_FAILED', { name: streamName }, 30000);
    const failedAt = Date.now();
    assert.match(failed.info, /H\.264 High/, `the SDK's status info names the profile: ${failed.info}`);
    assert.match(failed.info, /-profile:v baseline/, `and the fix: ${failed.info}`);

    const result = await Promise.race([push.exited, h.sleep(15000).then(() => null)]);
    assert.ok(result, `ffmpeg still runs 15 s after the refused play:\n${push.stderr()}`);
    assert.notEqual(result.code, 0, 'ffmpeg exits with an error');
    const reasons = push.serverErrors();
    assert.ok(reasons.some((l) => /nobody can play H\.264 High/.test(l) && /-profile:v baseline/.test(l)),
      `ffmpeg's log shows the server's reason:\n${push.stderr()}`);
    console.log(`# High, -bf 0: PLAY_FAILED ${failedAt - started} ms after ffmpeg started; ffmpeg exited ` +
      `${result.at - failedAt} ms after that; loadavg ${h.loadavg()}`);
    console.log(`# ffmpeg: ${reasons[0].trim()}`);
    console.log(`# browser: ${failed.info}`);
    await alice.waitEvent('LEFT', { login: 'encoder' }, 15000);
  });

  test('full libx264 defaults (B-frames): the encoder\'s log shows the reason at once', { timeout: 60000 }, async () => {
    const room = h.uniqueRoom('bframes');
    const started = Date.now();
    const push = pushWithDefaults(`rtmp://${suite.rtmpAddr}/live/${room}/encoder`, 40, []);
    suite.ownProcess(push.child);
    const result = await Promise.race([push.exited, h.sleep(15000).then(() => null)]);
    assert.ok(result, `ffmpeg still runs after 15 s:\n${push.stderr()}`);
    assert.notEqual(result.code, 0);
    const reasons = push.serverErrors();
    assert.ok(reasons.some((l) => /B-frames/.test(l) && /-bf 0/.test(l) && /-profile:v baseline/.test(l)),
      `ffmpeg's log names B-frames and both settings:\n${push.stderr()}`);
    console.log(`# full defaults: ffmpeg exited ${result.at - started} ms after start; loadavg ${h.loadavg()}`);
    console.log(`# ffmpeg: ${reasons[0].trim()}`);
  });
});
