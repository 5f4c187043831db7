'use strict';
// RTMP play of room streams (issue 16) with the UNMODIFIED official Flashphoner Web SDK and
// Debian's ffmpeg/ffprobe as the RTMP clients:
//  - the server runs with prefer_h264, so a browser publishes H.264 + Opus: ffprobe of rtmp://…/live/<room>/<login> shows h264 + aac,
//    ffmpeg decodes >= 25 fps (>= 90 % of what the browser encoded) and 10 s of continuous audio;
//  - a browser publishes VP8: the RTMP play is refused with a message naming VP8;
//  - an RTMP participant both ways: ffmpeg publishes into the room while a second ffmpeg plays a
//    browser's stream from it; the browser sees the encoder JOINED and decodes its picture;
//  - latency: the browser publishes a canvas whose pixels carry the wall clock; a WebRTC player
//    (another page) and an RTMP player (ffmpeg -> raw frames -> this process) read it back; the
//    figure is what RTMP play adds over the WebRTC path (docs/RTMP.md, "RTMP play latency").
// The camera runs at 30 fps (the fake device's default is 20; `fps=30` is its own option).
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const h = require('../lib/harness');
const { browserSuite } = require('../lib/suite');

const { FFMPEG, ffmpegPush } = require('../lib/ffmpeg');
const FFPROBE = process.env.FFPROBE_PATH || '/usr/bin/ffprobe';
const CAMERA_30FPS = { audio: true, video: { width: 320, height: 240, frameRate: 30 } };

/** Runs a tool to its end (killed after `timeoutMs`); resolves { code, signal, stdout, stderr, ms }. */
function runTool(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: Date.now() - started });
    });
  });
}

/** The streams ffprobe sees at `url`: [{ codec_type, codec_name, ... }]. */
async function probe(url) {
  const r = await runTool(FFPROBE, ['-v', 'error', '-rw_timeout', '15000000',
    '-show_entries', 'stream=codec_type,codec_name,profile,width,height,sample_rate,channels',
    '-of', 'json', url], 30000);
  assert.equal(r.code, 0, `ffprobe ${url} failed (${r.code}/${r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout).streams || [];
}

/**
 * Decodes `seconds` of `url` with ffmpeg (showinfo/ashowinfo: one log line per decoded frame).
 * Returns the per-frame facts: video [{ pts, meanY }], audio [{ pts, dur }], and ffmpeg's stderr.
 */
async function decode(url, seconds, { audio = true } = {}) {
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info', '-rw_timeout', '15000000',
    '-i', url, '-t', String(seconds), '-vf', 'showinfo'];
  if (audio) args.push('-af', 'ashowinfo');
  else args.push('-an');
  args.push('-f', 'null', '-');
  const r = await runTool(FFMPEG, args, (seconds + 40) * 1000);
  const video = [];
  const audioFrames = [];
  for (const line of r.stderr.split('\n')) {
    let m = /Parsed_showinfo_\d+ @ \S+\] n:\s*\d+ pts:\s*-?\d+ pts_time:(-?[\d.e+-]+).* mean:\[(\d+)/.exec(line);
    if (m) { video.push({ pts: Number(m[1]), meanY: Number(m[2]) }); continue; }
    m = /Parsed_ashowinfo_\d+ @ \S+\] n:\d+ pts:-?\d+ pts_time:(-?[\d.e+-]+) .*rate:(\d+) nb_samples:(\d+)/.exec(line);
    if (m) audioFrames.push({ pts: Number(m[1]), dur: Number(m[3]) / Number(m[2]) });
  }
  return { ...r, video, audio: audioFrames };
}

/** Total decoded audio (s) and the longest hole between consecutive audio frames (ms). */
function audioContinuity(frames) {
  const sorted = [...frames].sort((a, b) => a.pts - b.pts);
  let total = 0;
  let maxGapMs = 0;
  for (let i = 0; i < sorted.length; i++) {
    total += sorted[i].dur;
    if (i > 0) maxGapMs = Math.max(maxGapMs, (sorted[i].pts - (sorted[i - 1].pts + sorted[i - 1].dur)) * 1000);
  }
  return { total, maxGapMs };
}

/** The publisher's outbound video counters (getStats) of its one published stream. */
async function outboundVideo(client) {
  const q = await client.eval(() => window.H.qualityStats());
  const [entry] = Object.values(q.outbound);
  assert.ok(entry && entry.video, `no outbound video stats: ${JSON.stringify(q.outbound)}`);
  return entry.video;
}

/** The first video codec of the publisher's own offer (its preference), e.g. 'VP8'. */
function firstOfferedVideoCodec(client) {
  return client.eval(() => {
    const pc = window.__pcs.find((p) => p.getSenders().some((s) => s.track && s.track.kind === 'video'));
    const sdp = pc.localDescription.sdp;
    const m = /^m=video \S+ \S+ (\d+)/m.exec(sdp);
    const rtpmap = new RegExp(`^a=rtpmap:${m[1]} ([^/]+)/`, 'm').exec(sdp);
    return rtpmap[1];
  });
}

/** Mean and spread of the luma of the picture a page shows for the played stream `name`. */
function pictureLuma(client, name) {
  return client.eval((n) => {
    const v = document.getElementById(`play-${n}`).querySelector('video');
    const canvas = document.createElement('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0);
    const px = g.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    let sum2 = 0;
    for (let i = 0; i < px.length; i += 4) {
      const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
      sum += y;
      sum2 += y * y;
    }
    const count = px.length / 4;
    const mean = sum / count;
    return { mean, stdev: Math.sqrt(Math.max(0, sum2 / count - mean * mean)) };
  }, name);
}

// The clock picture: the publisher's wall clock (Date.now() mod 2^24 ms, 4.6 h) as 24 black or
// white blocks (6 x 4 on 320x240, most significant bit first), drawn 30 times a second on a
// canvas that the SDK publishes (its `customStream` constraint). Every reader of a frame
// (the WebRTC player's page, this process for the RTMP player) samples each block's centre
// and subtracts the number from its own Date.now(): one machine, one clock.
const CLOCK = { w: 320, h: 240, cols: 6, rows: 4, bits: 24 };

/** Page side: starts drawing the clock and leaves its MediaStream in window.__clockStream. */
function startClockCanvas(layout) {
  const canvas = document.createElement('canvas');
  canvas.width = layout.w;
  canvas.height = layout.h;
  document.body.appendChild(canvas);
  const g = canvas.getContext('2d');
  const bw = layout.w / layout.cols;
  const bh = layout.h / layout.rows;
  const draw = () => {
    const t = Date.now() % 2 ** layout.bits;
    for (let i = 0; i < layout.bits; i++) {
      const bit = Math.floor(t / 2 ** (layout.bits - 1 - i)) % 2;
      g.fillStyle = bit ? '#fff' : '#000';
      g.fillRect(Math.floor((i % layout.cols) * bw), Math.floor(Math.floor(i / layout.cols) * bh), Math.ceil(bw), Math.ceil(bh));
    }
  };
  draw();
  window.__clockTimer = setInterval(draw, 1000 / 30);
  window.__clockStream = canvas.captureStream(30);
}

/** Reads the clock from a luma plane (`lumaAt(x, y)`, 0..255) of a CLOCK.w x CLOCK.h picture. */
function readClock(layout, lumaAt) {
  const bw = layout.w / layout.cols;
  const bh = layout.h / layout.rows;
  let t = 0;
  for (let i = 0; i < layout.bits; i++) {
    const cx = Math.floor(((i % layout.cols) + 0.5) * bw);
    const cy = Math.floor((Math.floor(i / layout.cols) + 0.5) * bh);
    let sum = 0;
    let n = 0;
    for (let y = cy - 8; y <= cy + 8; y += 4) {
      for (let x = cx - 8; x <= cx + 8; x += 4) {
        sum += lumaAt(x, y);
        n++;
      }
    }
    t = t * 2 + (sum / n > 128 ? 1 : 0);
  }
  return t;
}

/** Age (ms) of a clock picture read at `now`; null when the reading makes no sense (misread). */
function clockAge(layout, stamp, now) {
  const span = 2 ** layout.bits;
  const age = (((now % span) - stamp) % span + span) % span;
  return age < 5000 ? age : null;
}

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
}

describe('RTMP play of room streams', { timeout: 600000 }, () => {
  const suite = browserSuite('rtmp-play', {
    rtmpEncoder: FFMPEG,
    // prefer_h264: browsers publish H.264 although their offer lists VP8 first (docs/RTMP.md),
    // so no test below forces H.264 in the page; the VP8 test forces VP8 (an offer without H.264).
    serverOpts: { extraArgs: ['--prefer-h264', 'true'] },
    // The fake camera at 30 fps (its default is 20, and the issue asks for >= 25 fps at the RTMP player).
    browserOpts: { fakeCameraFps: 30 },
  });

  /** `name` joins a fresh room (or `room`) and publishes its 30 fps camera + mic; `force`: codecs. */
  async function publisher(name, { room = h.uniqueRoom('rtmpplay'), force } = {}) {
    const c = await suite.joined(name, room, { force });
    const stream = await c.publish({ constraints: CAMERA_30FPS });
    return { c, room, stream };
  }

  test('a browser\'s H.264 + Opus plays over RTMP: h264 + aac, >= 25 fps, 10 s of continuous audio', { timeout: 150000 }, async () => {
    const { c: alice, room } = await publisher('alice');
    const url = `rtmp://${suite.rtmpAddr}/live/${room}/alice`;
    await h.waitUntil(async () => (await outboundVideo(alice)).framesEncoded > 30,
      { timeout: 20000, what: 'alice encoding video' });
    assert.equal((await outboundVideo(alice)).codec.toLowerCase(), 'video/h264');
    // The browser asked for VP8 first: H.264 is the server's choice (prefer_h264).
    assert.equal(await firstOfferedVideoCodec(alice), 'VP8');

    let streams = await probe(url);
    if (!streams.some((s) => s.codec_type === 'audio')) {
      // Seen once in 9 runs (load ~9): ffprobe ended after 1.4 s with video only, before the
      // first AAC tag (the feed's AAC encoder starts with the first player). Not hidden: printed,
      // and the second probe must see it; the 10 s decode below checks audio strictly.
      console.log(`# KNOWN ISSUE: the first ffprobe saw no audio: ${JSON.stringify(streams)}`);
      streams = await probe(url);
    }
    const v = streams.find((s) => s.codec_type === 'video');
    const a = streams.find((s) => s.codec_type === 'audio');
    console.log(`# ffprobe: ${JSON.stringify(streams)}`);
    assert.equal(v && v.codec_name, 'h264', `video stream: ${JSON.stringify(streams)}`);
    assert.equal(`${v.width}x${v.height}`, '320x240');
    assert.equal(a && a.codec_name, 'aac', `audio stream: ${JSON.stringify(streams)}`);

    const before = await outboundVideo(alice);
    const t0 = Date.now();
    const d = await decode(url, 10);
    const after = await outboundVideo(alice);
    const encodedFps = (after.framesEncoded - before.framesEncoded) / ((Date.now() - t0) / 1000);
    assert.equal(d.code, 0, `ffmpeg decode failed:\n${d.stderr.slice(-3000)}`);
    const span = d.video.length ? d.video[d.video.length - 1].pts - d.video[0].pts : 0;
    const decodedFps = d.video.length / 10;
    const { total, maxGapMs } = audioContinuity(d.audio);
    console.log(`# RTMP player decoded ${d.video.length} video frames in 10 s (${decodedFps.toFixed(1)} fps, pts span ${span.toFixed(2)} s); ` +
      `the publisher encoded ${encodedFps.toFixed(1)} fps over the same ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
      `(${(100 * decodedFps / encodedFps).toFixed(0)} %); audio ${total.toFixed(2)} s in ${d.audio.length} frames, ` +
      `longest gap ${maxGapMs.toFixed(0)} ms; loadavg ${require('node:os').loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    assert.ok(decodedFps >= 25, `RTMP player decoded only ${decodedFps} fps (the publisher encoded ${encodedFps.toFixed(1)} fps)`);
    assert.ok(decodedFps >= 0.9 * encodedFps, `RTMP player decoded ${decodedFps} fps, < 90 % of the publisher's ${encodedFps.toFixed(1)}`);
    // The fake camera draws a green pie sweeping over a dark frame: the mean luma of its
    // pictures goes up and down (all-black frames, or one frozen frame, would not).
    const lumas = d.video.map((f) => f.meanY);
    console.log(`# mean luma of the decoded frames: ${Math.min(...lumas)}..${Math.max(...lumas)}`);
    assert.ok(Math.max(...lumas) > 30 && Math.max(...lumas) - Math.min(...lumas) >= 10,
      `the decoded picture moves and is not black: mean luma ${Math.min(...lumas)}..${Math.max(...lumas)}`);
    assert.ok(total >= 9.5, `only ${total.toFixed(2)} s of audio decoded in 10 s`);
    assert.ok(maxGapMs <= 200, `audio gap of ${maxGapMs.toFixed(0)} ms`);
  });

  test('a browser\'s VP8 stream: the RTMP play is refused with a message naming VP8', { timeout: 90000 }, async () => {
    const { c: alice, room } = await publisher('alice', { force: { video: 'VP8' } });
    await h.waitUntil(async () => (await outboundVideo(alice)).framesEncoded > 10,
      { timeout: 20000, what: 'alice encoding video' });
    assert.equal((await outboundVideo(alice)).codec.toLowerCase(), 'video/vp8');
    const r = await runTool(FFMPEG, ['-hide_banner', '-nostdin', '-rw_timeout', '15000000',
      '-i', `rtmp://${suite.rtmpAddr}/live/${room}/alice`, '-t', '2', '-f', 'null', '-'], 40000);
    const refusal = /Server error: (.*)/.exec(r.stderr);
    console.log(`# ffmpeg (exit ${r.code} after ${r.ms} ms): ${refusal ? refusal[0] : r.stderr.slice(-500)}`);
    assert.notEqual(r.code, 0, 'the play of a VP8 stream failed');
    assert.ok(refusal && /VP8/.test(refusal[1]), `ffmpeg shows the server's reason naming VP8:\n${r.stderr}`);
    assert.match(suite.server.log(), /rtmp play refused/);
  });

  test('an RTMP participant both ways: ffmpeg publishes into the room while a second ffmpeg plays a browser from it', { timeout: 150000 }, async () => {
    const { c: alice, room } = await publisher('alice');
    const push = ffmpegPush(`rtmp://${suite.rtmpAddr}/live/${room}/encoder`, 40);
    suite.ownProcess(push.child);
    const encoderStream = `${room}-encoder-rtmp`;
    await alice.waitEvent('JOINED', { login: 'encoder' }, 15000);
    await alice.waitEvent('PUBLISHED', { login: 'encoder' }, 15000);

    // The RTMP side plays alice while its encoder publishes into the same room.
    const played = decode(`rtmp://${suite.rtmpAddr}/live/${room}/alice`, 5, { audio: false });

    let last;
    try {
      await h.waitUntil(async () => {
        last = (await alice.remoteStats())[encoderStream];
        return last && last.videoWidth > 0 && last.video && last.video.framesDecoded > 0;
      }, { timeout: 20000, interval: 500, what: `alice decoding ${encoderStream}` });
    } catch (e) {
      e.message += `\nremote stats: ${JSON.stringify(last, null, 1)}\nffmpeg: ${push.stderr()}`;
      throw e;
    }
    const stats = (await alice.remoteStats())[encoderStream];
    assert.equal(`${stats.videoWidth}x${stats.videoHeight}`, '320x240');
    assert.equal(stats.video.codec.toLowerCase(), 'video/h264');
    // testsrc2 is a bright, colourful picture: far from black, and not one flat colour.
    const luma = await pictureLuma(alice, encoderStream);
    console.log(`# alice shows the encoder's picture: mean luma ${luma.mean.toFixed(1)}, spread ${luma.stdev.toFixed(1)}`);
    assert.ok(luma.mean > 40 && luma.stdev > 20, `the encoder's picture at alice: ${JSON.stringify(luma)}`);

    const d = await played;
    assert.equal(d.code, 0, `the RTMP player of alice failed:\n${d.stderr.slice(-3000)}`);
    assert.match(d.stderr, /Stream #0:\d+: Video: h264/, 'the RTMP player gets H.264');
    console.log(`# the RTMP player decoded ${d.video.length} frames of alice in 5 s while the encoder published`);
    assert.ok(d.video.length > 0, 'the RTMP player decoded alice\'s video');
    assert.ok(push.child.exitCode === null, `the encoder is still publishing:\n${push.stderr()}`);
    assert.ok((await alice.participants()).includes('encoder'));
  });

  test('latency: RTMP play adds < 300 ms over the WebRTC path (clock picture read back at both players)', { timeout: 150000 }, async () => {
    const room = h.uniqueRoom('rtmplat');
    const alice = await suite.joined('alice', room);
    await alice.eval(startClockCanvas, CLOCK);
    const stream = await alice.eval(() =>
      window.H.publish({ constraints: { customStream: window.__clockStream, audio: true, video: false } }));

    // The WebRTC player: bob's page plays alice (as the SDK's conference demo does) and reads
    // the clock of every frame it presents (requestVideoFrameCallback).
    const bob = await suite.joined('bob', room);
    await h.waitUntil(async () => {
      const e = (await bob.remoteStats())[stream];
      return e && e.videoWidth > 0 && e.video && e.video.framesDecoded > 0;
    }, { timeout: 20000, what: 'bob decoding alice' });
    await bob.eval(([name, layout, readSrc, ageSrc]) => {
      const read = new Function(`return (${readSrc})`)();
      const age = new Function(`return (${ageSrc})`)();
      const v = document.getElementById(`play-${name}`).querySelector('video');
      const canvas = document.createElement('canvas');
      canvas.width = layout.w;
      canvas.height = layout.h;
      const g = canvas.getContext('2d', { willReadFrequently: true });
      window.__ages = [];
      window.__misread = 0;
      const onFrame = () => {
        const now = Date.now();
        g.drawImage(v, 0, 0, layout.w, layout.h);
        const px = g.getImageData(0, 0, layout.w, layout.h).data;
        const a = age(layout, read(layout, (x, y) => {
          const i = (y * layout.w + x) * 4;
          return 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
        }), now);
        if (a === null) window.__misread++;
        else window.__ages.push(a);
        if (!window.__stopClock) v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
    }, [stream, CLOCK, readClock.toString(), clockAge.toString()]);

    // The RTMP player: ffmpeg decodes without delay (no frame threads, low delay; not
    // `-fflags nobuffer`, with which this ffmpeg 5.1 output nothing from the stream) and hands
    // every frame's luma plane to this process at once (raw frames on a pipe, flushed per frame).
    // RTMP_PLAY_FFMPEG_LOG=verbose shows what this ffmpeg does when the test fails.
    const ff = spawn(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', process.env.RTMP_PLAY_FFMPEG_LOG || 'warning',
      '-flags', 'low_delay', '-threads', '1', '-rw_timeout', '15000000',
      '-i', `rtmp://${suite.rtmpAddr}/live/${room}/alice`, '-an',
      '-vf', `scale=${CLOCK.w}:${CLOCK.h}`, '-pix_fmt', 'gray', '-fps_mode', 'passthrough',
      '-flush_packets', '1', '-f', 'rawvideo', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    suite.ownProcess(ff);
    const ffErr = [];
    ff.stderr.on('data', (d) => ffErr.push(String(d)));
    const rtmpAges = [];
    let rtmpMisread = 0;
    let pending = Buffer.alloc(0);
    const frameBytes = CLOCK.w * CLOCK.h;
    let measuring = false;
    let rtmpFrames = 0;
    ff.stdout.on('data', (chunk) => {
      const now = Date.now();
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= frameBytes) {
        const frame = pending.subarray(0, frameBytes);
        pending = pending.subarray(frameBytes);
        rtmpFrames++;
        if (!measuring) continue;
        const a = clockAge(CLOCK, readClock(CLOCK, (x, y) => frame[y * CLOCK.w + x]), now);
        if (a === null) rtmpMisread++;
        else rtmpAges.push(a);
      }
    });
    // Start counting once both players run (ffmpeg's start-up probing is not latency), then
    // take 10 s of both side by side.
    try {
      await h.waitUntil(async () => rtmpFrames > 0 || ff.exitCode !== null, { timeout: 30000, what: 'the RTMP player\'s first frame' });
    } catch (e) {
      e.message += `\nffmpeg: ${ffErr.join('')}`;
      throw e;
    }
    assert.equal(ff.exitCode, null, `the RTMP player ended: ${ffErr.join('')}`);
    await h.sleep(2000);
    measuring = true;
    await bob.eval(() => { window.__ages = []; window.__misread = 0; });
    await h.sleep(10000);
    measuring = false;
    const webrtc = await bob.eval(() => { window.__stopClock = true; return { ages: window.__ages, misread: window.__misread }; });
    ff.kill('SIGKILL');

    const load = require('node:os').loadavg().map((x) => x.toFixed(2)).join(' ');
    const fig = (xs) => `p50 ${percentile(xs, 0.5)} ms, p95 ${percentile(xs, 0.95)} ms (${xs.length} frames)`;
    const added = percentile(rtmpAges, 0.5) - percentile(webrtc.ages, 0.5);
    console.log(`# glass-to-glass age of the clock picture: WebRTC player ${fig(webrtc.ages)}, ${webrtc.misread} misread; ` +
      `RTMP player (ffmpeg) ${fig(rtmpAges)}, ${rtmpMisread} misread; RTMP adds ${added} ms at p50, ` +
      `${percentile(rtmpAges, 0.95) - percentile(webrtc.ages, 0.95)} ms at p95; loadavg ${load}`);
    assert.ok(webrtc.ages.length >= 50, `the WebRTC player read ${webrtc.ages.length} clock frames in 10 s`);
    assert.ok(rtmpAges.length >= 50, `the RTMP player read ${rtmpAges.length} clock frames in 10 s: ${ffErr.join('')}`);
    assert.ok(rtmpMisread <= rtmpAges.length / 10 && webrtc.misread <= webrtc.ages.length / 10, 'the clock reads back');
    assert.ok(added < 300, `RTMP play adds ${added} ms over the WebRTC path (p50)`);
  });
});
