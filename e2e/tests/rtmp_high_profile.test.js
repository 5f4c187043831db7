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
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const h = require('../lib/harness');
const { browserSuite } = require('../lib/suite');

const FFMPEG = process.env.FFMPEG_PATH || '/usr/bin/ffmpeg';

/** ffmpeg with libx264's defaults plus `x264` (extra options), pushing to `url`. */
function ffmpegPush(url, seconds, x264) {
  const args = [
    '-hide_banner', '-nostdin',
    '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
    '-c:v', 'libx264', ...x264, '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-f', 'flv', url,
  ];
  const child = spawn(FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const errors = [];
  child.stderr.on('data', (d) => errors.push(String(d)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  // ffmpeg's progress lines end in \r, so the reason may share a "line" with them.
  const serverErrors = () => errors.join('').split(/[\r\n]/)
    .filter((l) => l.includes('Server error:')).map((l) => l.slice(l.indexOf('Server error:')));
  return { child, exited, stderr: () => errors.join(''), serverErrors };
}

function loadavg() {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

describe('RTMP encoder defaults: High profile and B-frames', { timeout: 180000 }, () => {
  const suite = browserSuite('rtmp-high', { rtmpEncoder: FFMPEG });

  test('High profile: Chromium\'s play fails naming the profile, and the encoder is told nobody can play it', { timeout: 90000 }, async () => {
    const room = h.uniqueRoom('high');
    const alice = await suite.joined('alice', room);
    const started = Date.now();
    const push = ffmpegPush(`rtmp://${suite.rtmpAddr}/live/${room}/encoder`, 40, ['-bf', '0', '-g', '25']);
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
      `${result.at - failedAt} ms after that; loadavg ${loadavg()}`);
    console.log(`# ffmpeg: ${reasons[0].trim()}`);
    console.log(`# browser: ${failed.info}`);
    await alice.waitEvent('LEFT', { login: 'encoder' }, 15000);
  });

  test('full libx264 defaults (B-frames): the encoder\'s log shows the reason at once', { timeout: 60000 }, async () => {
    const room = h.uniqueRoom('bframes');
    const started = Date.now();
    const push = ffmpegPush(`rtmp://${suite.rtmpAddr}/live/${room}/encoder`, 40, []);
    suite.ownProcess(push.child);
    const result = await Promise.race([push.exited, h.sleep(15000).then(() => null)]);
    assert.ok(result, `ffmpeg still runs after 15 s:\n${push.stderr()}`);
    assert.notEqual(result.code, 0);
    const reasons = push.serverErrors();
    assert.ok(reasons.some((l) => /B-frames/.test(l) && /-bf 0/.test(l) && /-profile:v baseline/.test(l)),
      `ffmpeg's log names B-frames and both settings:\n${push.stderr()}`);
    console.log(`# full defaults: ffmpeg exited ${result.at - started} ms after start; loadavg ${loadavg()}`);
    console.log(`# ffmpeg: ${reasons[0].trim()}`);
  });
});
