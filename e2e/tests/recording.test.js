'use strict';
// Recording end to end with the UNMODIFIED official Flashphoner Web SDK and the real server:
//  1. per-stream recording (room.publish({record:true})): files listed at /api/records, codecs,
//     duration vs wall time, full decode, download with Range; PUBLISHING carries recordName;
//  2. room recording (first join with record:true) with a late joiner: the mixed file's duration is
//     the room lifetime, the late joiner's grid tile is black before its offset and shows picture after;
//  3. kill -9 while recording: the partial file is still readable and decodes up to near the kill.
// Files are checked with Debian's ffprobe/ffmpeg. Server and browser talk over 127.0.0.1 only.
const { describe, test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../lib/harness');
const rl = require('../recording_lib');

const CAMERA = { audio: true, video: { width: 320, height: 240 } };
const VIDEO_CODECS = ['vp8', 'h264'];
// Black in limited-range YUV is Y=16, U=V=128. Chromium's fake camera (green frame with a clock) is the
// all-zero I420 buffer plus brighter green shapes: chroma distance from neutral about 256.
const BLACK_TOLERANCE = 6;
const PICTURE_MIN_CHROMA = 64;

function log(...a) {
  console.log('[recording]', ...a);
}

/** Wait until the recorder has finished `file` (its Matroska Duration is written by finish()). */
async function waitFinished(file, timeout = 20000) {
  return h.waitUntil(async () => {
    const p = await rl.probe(file);
    return p.format && p.format.duration !== undefined ? p : null;
  }, { timeout, interval: 300, what: `recording finished: ${path.basename(file)}` });
}

function codecs(p) {
  const v = p.streams.filter((s) => s.codec_type === 'video').map((s) => s.codec_name);
  const a = p.streams.filter((s) => s.codec_type === 'audio').map((s) => s.codec_name);
  return { v, a };
}

/** Decode every frame; ffmpeg must report no error at all. */
async function assertDecodes(file, minFrames = 1) {
  const d = await rl.decode(file);
  assert.equal(d.code, 0, `ffmpeg decode of ${path.basename(file)} exited ${d.code}: ${d.errors}`);
  assert.equal(d.errors, '', `ffmpeg reported errors decoding ${path.basename(file)}`);
  assert.ok(d.frames >= minFrames, `${path.basename(file)}: ${d.frames} video frames decoded, want >= ${minFrames}`);
  return d.frames;
}

describe('recording', { timeout: 300000 }, () => {
  let server;
  let web;
  let browser;
  let clients = [];
  let perStreamRoom = null; // room of test 1 (joined without record: must never get a room mix)

  before(async () => {
    server = await h.startServer({ name: 'recording', graceSecs: 2 });
    web = await h.startStatic();
    browser = await h.launchBrowser();
  });

  afterEach(async (t) => {
    await h.saveArtifacts(`recording-${t.name}`, clients);
    for (const c of clients) await c.close();
    clients = [];
  });

  after(async () => {
    if (browser) await browser.close();
    if (web) await web.close();
    if (server) await server.stop();
  });

  async function client(name, wsUrl = server.wsUrl) {
    const c = await h.newClient(browser, web.url, name);
    clients.push(c);
    assert.equal(await c.connect(wsUrl), 'ESTABLISHED');
    return c;
  }

  /** Publish the camera; returns { name, t (PUBLISHING time, ms), recordName }. */
  async function publish(c, record) {
    const name = await c.publish({ constraints: CAMERA, record });
    const ev = (await c.events('PUBLISHING')).find((e) => e.name === name);
    assert.ok(ev, `${c.name}: PUBLISHING event for ${name}`);
    return { name, t: ev.t, recordName: await rl.recordInfo(c, name) };
  }

  test('per-stream recording: two publishers with record:true, files listed, probed, decoded, downloadable',
    { timeout: 90000 }, async () => {
      const room = h.uniqueRoom('recs');
      perStreamRoom = room;
      const alice = await client('alice');
      const bob = await client('bob');
      // alice sends VP8 (Chromium's default), bob is forced to H.264: both recorder paths are covered.
      // Nobody plays (autoPlay off): the recordings come from the publishers alone.
      await bob.forceCodecs({ video: 'H264' });
      await alice.join(room, { autoPlay: false });
      await bob.join(room, { autoPlay: false });
      const pubs = {};
      [pubs.alice, pubs.bob] = await Promise.all([publish(alice, true), publish(bob, true)]);
      for (const [login, p] of Object.entries(pubs)) {
        // the PUBLISHING status carries recordName = <room>-<login>-<stream>-<startms>.mkv
        assert.ok(p.recordName, `${login}: PUBLISHING has no recordName`);
        assert.match(p.recordName, new RegExp(`^${room}-${login}-${p.name}-\\d{13}\\.mkv$`));
      }
      await h.sleep(6000);
      const stopT = Date.now();
      await Promise.all([alice.leave(), bob.leave()]);

      const list = await rl.waitRecords(server.httpUrl,
        (l) => Object.values(pubs).every((p) => l.some((e) => e.name === p.recordName)) && l,
        { timeout: 15000, what: 'both recordings listed at /api/records' });
      const mine = list.filter((e) => e.name.startsWith(`${room}-`));
      assert.deepEqual(mine.map((e) => e.name).sort(), Object.values(pubs).map((p) => p.recordName).sort(),
        'exactly the two recordName files are listed for this room');

      for (const [login, p] of Object.entries(pubs)) {
        const file = path.join(server.recordsDir, p.recordName);
        const probe = await waitFinished(file);
        const { v, a } = codecs(probe);
        assert.equal(v.length, 1, `${login}: one video track (${v})`);
        assert.equal(v[0], { alice: 'vp8', bob: 'h264' }[login], `${login}: video codec`);
        assert.deepEqual(a, ['opus'], `${login}: audio codec`);
        const duration = Number(probe.format.duration);
        const wall = (stopT - p.t) / 1000;
        const span = await rl.packetSpan(file);
        const fileStart = Number(/-(\d{13})\.mkv$/.exec(p.recordName)[1]); // server clock at the publish request
        log(`${login}: ${p.recordName} ${v[0]}+${a[0]} duration ${duration.toFixed(3)} s, wall PUBLISHING->stop ` +
          `${wall.toFixed(3)} s (${((duration / wall - 1) * 100).toFixed(1)} %); file time 0 is ${p.t - fileStart} ms before ` +
          `PUBLISHING, media ${span.start.toFixed(3)}..${span.end.toFixed(3)} s, last media ${(fileStart + span.end * 1000 - stopT).toFixed(0)} ms after the stop`);
        assert.ok(Math.abs(duration - wall) <= 0.1 * wall,
          `${login}: file duration ${duration} s vs wall time ${wall} s (more than 10 % apart)`);
        const frames = await assertDecodes(file, 10 * wall); // the fake camera runs at about 20 fps
        log(`${login}: ${frames} video frames decoded, no errors`);
        // the listing reports the size on disk
        const entry = (await rl.listRecords(server.httpUrl)).find((e) => e.name === p.recordName);
        assert.equal(entry.size, fs.statSync(file).size, `${login}: /api/records size`);
        assert.ok(Math.abs(entry.modified_unix_ms - fs.statSync(file).mtimeMs) < 2000, `${login}: modified_unix_ms`);
      }

      // Download with a Range request: 206, Content-Range, the exact bytes.
      const name = pubs.alice.recordName;
      const bytes = fs.readFileSync(path.join(server.recordsDir, name));
      const r = await rl.getRange(server.httpUrl, name, 'bytes=100-1099');
      assert.equal(r.status, 206);
      assert.equal(r.headers.get('content-range'), `bytes 100-1099/${bytes.length}`);
      assert.equal(r.body.length, 1000);
      assert.ok(r.body.equals(bytes.subarray(100, 1100)), 'ranged body = file bytes 100..1099');
      const tail = await rl.getRange(server.httpUrl, name, 'bytes=-16');
      assert.equal(tail.status, 206);
      assert.ok(tail.body.equals(bytes.subarray(bytes.length - 16)), 'suffix range = last 16 bytes');
      // only recordings are served: no way out of the folder, no hidden entries (pending mix jobs)
      for (const bad of ['..%2f..%2f..%2fetc%2fpasswd', '%2e%2e/%2e%2e/etc/passwd', '.jobs/x.json', '%2ejobs/x.json']) {
        const res = await rl.rawGet(server.httpUrl, `/records/${bad}`);
        assert.ok(res.status === 404 || res.status === 400, `/records/${bad}: ${res.status}`);
        assert.ok(!res.body.includes('root:'), `/records/${bad} leaked a file`);
      }
      // the records page links it
      const page = await fetch(`${server.httpUrl}/client/records/`, { signal: AbortSignal.timeout(5000) });
      assert.equal(page.status, 200);
      assert.ok((await page.text()).includes(`href="/records/${name}"`), '/client/records/ links the file');
    });

  test('room recording with a late joiner: mixed file = room lifetime, late tile black before its offset',
    { timeout: 150000 }, async () => {
      const room = h.uniqueRoom('recroom');
      const alice = await client('alice');
      const bob = await client('bob');
      const t0 = Date.now();
      await alice.join(room, { record: true });
      const pa = await publish(alice, false); // the room records it: no per-stream flag needed
      await h.sleep(Math.max(0, t0 + 5000 - Date.now()));
      const bobJoin = Date.now();
      await bob.join(room);
      const pb = await publish(bob, false);
      await h.sleep(5000);
      await Promise.all([alice.leave(), bob.leave()]);
      const tEnd = Date.now();
      const wall = (tEnd - t0) / 1000;

      const mixRe = new RegExp(`^${room}-room-(\\d{13})\\.mkv$`);
      const list = await rl.waitRecords(server.httpUrl, (l) => l.some((e) => mixRe.test(e.name)) && l,
        { timeout: 90000, what: `room mix ${room}-room-*.mkv at /api/records` });
      const mixName = list.find((e) => mixRe.test(e.name)).name;
      const roomStart = Number(mixRe.exec(mixName)[1]);
      const fileOf = (login, stream) => {
        const re = new RegExp(`^${room}-${login}-${stream}-(\\d{13})\\.mkv$`);
        const e = list.find((x) => re.test(x.name));
        assert.ok(e, `${login}'s recording listed: ${JSON.stringify(list.map((x) => x.name))}`);
        return { name: e.name, start: Number(re.exec(e.name)[1]) };
      };
      const fa = fileOf('alice', pa.name);
      const fb = fileOf('bob', pb.name);
      for (const f of [fa, fb]) {
        const c = codecs(await rl.probe(path.join(server.recordsDir, f.name)));
        assert.ok(c.v.length === 1 && VIDEO_CODECS.includes(c.v[0]) && c.a.join() === 'opus', `${f.name}: ${JSON.stringify(c)}`);
      }
      // the pending-mix job is removed once the mix is done
      const job = path.join(server.recordsDir, '.jobs', `${mixName}.json`);
      await h.waitUntil(() => !fs.existsSync(job), { timeout: 5000, what: `${job} removed after the mix` });
      assert.ok(!fs.existsSync(`${job.slice(0, -5)}.failed`), 'mix job not marked failed');
      assert.ok(Math.abs(roomStart - t0) < 1500, `room start ${roomStart} vs first join ${t0}`);
      const bOffset = (fb.start - roomStart) / 1000;
      log(`room ${room}: wall ${wall.toFixed(3)} s, bob joined at +${((bobJoin - t0) / 1000).toFixed(3)} s, ` +
        `bob's file starts at +${bOffset.toFixed(3)} s, alice's at +${((fa.start - roomStart) / 1000).toFixed(3)} s`);
      assert.ok(bOffset > 4 && bOffset < 9, `bob's offset ${bOffset} s`);

      const mix = path.join(server.recordsDir, mixName);
      const probe = await rl.probe(mix);
      const { v, a } = codecs(probe);
      assert.equal(v.length, 1, `mix: one video stream (${v})`);
      assert.equal(a.length, 1, `mix: one audio stream (${a})`);
      const vs = probe.streams.find((s) => s.codec_type === 'video');
      assert.equal(`${vs.width}x${vs.height}`, '1280x720', 'mix: default 1280x720 canvas');
      const duration = Number(probe.format.duration);
      log(`mix ${mixName}: ${v[0]}+${a[0]} duration ${duration.toFixed(3)} s vs room wall time ${wall.toFixed(3)} s ` +
        `(${((duration / wall - 1) * 100).toFixed(1)} %)`);
      assert.ok(Math.abs(duration - wall) <= 0.12 * wall, `mix duration ${duration} s vs room lifetime ${wall} s`);
      const span = await rl.packetSpan(mix);
      assert.ok(span.audio.packets > 0 && span.audio.end >= 0.85 * wall, `mix audio covers the room: ${JSON.stringify(span.audio)}`);

      // Two video inputs -> 2 columns of 640x720 (crates/record grid()); each 320x240 camera is scaled
      // to 640x480 and centred (y 120..600). alice published first: left tile; bob: right tile.
      // Crop well inside each picture. bob's first video frame sits at its own delay inside his file.
      const tile = (col) => ({ x: col * 640 + 80, y: 200, w: 480, h: 320 });
      const bobVideoStart = (await rl.packetSpan(path.join(server.recordsDir, fb.name))).video.start;
      const beforeT = bOffset - 0.5;
      const afterT = Math.min(bOffset + bobVideoStart + 1.0, duration - 0.5);
      const col = {
        aliceBefore: await rl.tileColour(mix, beforeT, tile(0)),
        bobBefore: await rl.tileColour(mix, beforeT, tile(1)),
        aliceAfter: await rl.tileColour(mix, afterT, tile(0)),
        bobAfter: await rl.tileColour(mix, afterT, tile(1)),
      };
      log(`tiles at ${beforeT.toFixed(2)} s (before bob) and ${afterT.toFixed(2)} s (after; bob's video starts ` +
        `${bobVideoStart.toFixed(3)} s into his file): ${JSON.stringify(col, (k, x) => (typeof x === 'number' ? Math.round(x * 10) / 10 : x))}`);
      const black = (c) => Math.abs(c.luma - 16) <= BLACK_TOLERANCE && c.chroma <= BLACK_TOLERANCE;
      const picture = (c) => c.chroma >= PICTURE_MIN_CHROMA;
      try {
        assert.ok(black(col.bobBefore), `bob's tile before his offset is black: ${JSON.stringify(col.bobBefore)}`);
        assert.ok(picture(col.aliceBefore), `alice's tile before bob's offset has picture: ${JSON.stringify(col.aliceBefore)}`);
        assert.ok(picture(col.bobAfter), `bob's tile after his offset has picture: ${JSON.stringify(col.bobAfter)}`);
        assert.ok(picture(col.aliceAfter), `alice's tile still has picture: ${JSON.stringify(col.aliceAfter)}`);
      } catch (e) {
        fs.copyFileSync(mix, path.join(h.ARTIFACTS, mixName));
        e.message += ` (mix saved to e2e/artifacts/${mixName})`;
        throw e;
      }
      await assertDecodes(mix, 10 * wall);

      // The room of test 1 was joined without record: its streams were recorded, but never mixed.
      if (perStreamRoom) {
        const all = await rl.listRecords(server.httpUrl);
        assert.ok(!all.some((e) => e.name.startsWith(`${perStreamRoom}-room-`)), 'no room mix for a room joined without record');
      }
    });

  test('kill -9 while recording: the partial file is readable and decodes up to near the kill',
    { timeout: 60000 }, async () => {
      const dir = rl.tempRecordsDir();
      let srv = await rl.spawnServer({ recordsDir: dir, name: 'recording-kill' });
      try {
        const room = h.uniqueRoom('reckill');
        const carol = await client('carol', srv.wsUrl);
        await carol.join(room);
        const p = await publish(carol, true);
        assert.match(p.recordName || '', new RegExp(`^${room}-carol-${p.name}-\\d{13}\\.mkv$`));
        await h.sleep(5000);
        const killT = Date.now();
        const exit = await srv.kill('SIGKILL');
        assert.equal(exit.signal, 'SIGKILL');
        const wall = (killT - p.t) / 1000;

        const file = path.join(dir, p.recordName);
        assert.ok(fs.existsSync(file), `${p.recordName} exists after the kill`);
        const probe = await rl.probe(file); // throws if ffprobe cannot read it
        const { v, a } = codecs(probe);
        assert.ok(VIDEO_CODECS.includes(v[0]), `video codec ${v}`);
        assert.deepEqual(a, ['opus']);
        const span = await rl.packetSpan(file);
        log(`killed after ${wall.toFixed(3)} s of PUBLISHING: partial file ${fs.statSync(file).size} bytes, ` +
          `media up to ${span.end.toFixed(3)} s (video ${span.video.end.toFixed(3)} s, ${span.video.packets} packets; ` +
          `audio ${span.audio.end.toFixed(3)} s)`);
        assert.ok(span.video.end >= 3 && span.video.end >= wall - 2.5,
          `partial video reaches ${span.video.end} s; killed ${wall} s after PUBLISHING`);
        assert.ok(span.audio.end >= 3, `partial audio reaches ${span.audio.end} s`);
        // every video frame written before the kill decodes (the cut falls between whole clusters)
        const frames = await assertDecodes(file, span.video.packets);
        log(`partial file: ${frames} video frames decoded, no errors`);

        // A restarted server lists the partial file.
        srv = await rl.spawnServer({ recordsDir: dir, name: 'recording-kill-restart' });
        const list = await rl.listRecords(srv.httpUrl);
        const e = list.find((x) => x.name === p.recordName);
        assert.ok(e, `restarted server lists ${p.recordName}: ${JSON.stringify(list)}`);
        assert.equal(e.size, fs.statSync(file).size);
      } finally {
        await srv.kill('SIGTERM');
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
});
