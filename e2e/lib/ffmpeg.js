'use strict';
// Debian's ffmpeg as an RTMP encoder for the browser tests: one launcher for every test that
// pushes a test pattern and a tone to the server's RTMP edge.
const { spawn } = require('node:child_process');

const FFMPEG = process.env.FFMPEG_PATH || '/usr/bin/ffmpeg';

/**
 * ffmpeg pushing testsrc2 (H.264) + a 440 Hz tone (AAC) to `url` for `seconds`, in real time.
 * Defaults: 320x240 at 15 fps, baseline without B-frames, a keyframe each second, 44.1 kHz,
 * warnings only. `opts`: `x264` (the libx264 options, replacing the baseline ones), `fps`,
 * `sampleRate`, `logLevel` (null: ffmpeg's default, which prints the server's error lines).
 * Returns { child, exited (resolves { code, signal, at }), stderr(), serverErrors() }.
 */
function ffmpegPush(url, seconds, opts = {}) {
  const x264 = opts.x264 || ['-profile:v', 'baseline', '-bf', '0', '-g', '15'];
  const logLevel = opts.logLevel === undefined ? 'warning' : opts.logLevel;
  const args = [
    '-hide_banner', ...(logLevel ? ['-loglevel', logLevel] : []), '-nostdin',
    '-re', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${opts.fps || 15}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${opts.sampleRate || 44100}`,
    '-t', String(seconds),
    '-c:v', 'libx264', ...x264, '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-f', 'flv', url,
  ];
  const child = spawn(FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const errors = [];
  child.stderr.on('data', (d) => errors.push(String(d)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  // ffmpeg's progress lines end in \r, so the server's reason may share a "line" with them.
  const serverErrors = () => errors.join('').split(/[\r\n]/)
    .filter((l) => l.includes('Server error:')).map((l) => l.slice(l.indexOf('Server error:')));
  return { child, exited, stderr: () => errors.join(''), serverErrors };
}

module.exports = { FFMPEG, ffmpegPush };
