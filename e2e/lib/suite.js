'use strict';
// The scaffolding a browser test file needs around its tests, in one place: one server, the static
// page server and one Chromium for the whole describe(); after every test, the processes it started
// are killed and its pages saved (artifacts) and closed. Call browserSuite() inside describe(): it
// registers the node:test hooks itself, so a file's own before() registered after the call sees the
// server running.

const { before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const h = require('./harness');

/** Fails unless `ffmpeg` can encode H.264 (libx264): the RTMP tests push H.264 with it. */
function assertLibx264(ffmpeg) {
  const probe = spawnSync(ffmpeg, ['-hide_banner', '-encoders'], { encoding: 'utf8', timeout: 10000 });
  assert.ok(/libx264/.test(probe.stdout || ''), `${ffmpeg} has no libx264 encoder`);
}

/**
 * `name`: the server's log name and the artifacts' tag (`<name>-<test name>`). Options:
 * - serverOpts: for h.startServer (graceSecs defaults to 2); browserOpts: for h.launchBrowser;
 * - rtmpEncoder: the ffmpeg the file pushes RTMP with: checked for libx264 before anything starts,
 *   and the server must announce its RTMP port on 127.0.0.1 (suite.rtmpAddr).
 * Returns `suite`, whose server / web / browser / rtmpAddr are set once `before` has run:
 * - suite.client(name): a participant page; suite.closeClient(c): closes one before the test ends;
 * - suite.joined(name, room, { force }): a participant connected (ESTABLISHED) and in `room`
 *   (`force`: codecs forced in the page first);
 * - suite.ownProcess(child): a process the test started, killed (SIGKILL) when the test ends.
 */
function browserSuite(name, { serverOpts = {}, browserOpts, rtmpEncoder } = {}) {
  const suite = { server: null, web: null, browser: null, rtmpAddr: null, clients: [], processes: [] };

  before(async () => {
    if (rtmpEncoder) assertLibx264(rtmpEncoder);
    // The harness gives every listening port 0 (a free one) and reads rtmp= from the ready line.
    suite.server = await h.startServer({ name, graceSecs: 2, ...serverOpts });
    if (rtmpEncoder) {
      suite.rtmpAddr = suite.server.rtmpAddr;
      assert.match(suite.rtmpAddr || '', /^127\.0\.0\.1:[1-9][0-9]*$/, `no rtmp= in the ready line:\n${suite.server.log()}`);
    }
    suite.web = await h.startStatic();
    suite.browser = await h.launchBrowser(browserOpts);
  });

  afterEach(async (t) => {
    for (const p of suite.processes.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    // node:test gives no pass/fail flag here in Node 20; keep the artifacts of every test (small).
    await h.saveArtifacts(`${name}-${t.name}`, suite.clients);
    for (const c of suite.clients.splice(0)) await c.close();
  });

  after(async () => {
    if (suite.browser) await suite.browser.close();
    if (suite.web) await suite.web.close();
    if (suite.server) await suite.server.stop();
  });

  suite.ownProcess = (child) => {
    suite.processes.push(child);
    return child;
  };

  suite.client = async (clientName) => {
    const c = await h.newClient(suite.browser, suite.web.url, clientName);
    suite.clients.push(c);
    return c;
  };

  // A page the test closes itself: no artifacts can be saved of it afterwards.
  suite.closeClient = async (c) => {
    const i = suite.clients.indexOf(c);
    if (i >= 0) suite.clients.splice(i, 1);
    await c.close();
  };

  suite.joined = async (clientName, room, { force } = {}) => {
    const c = await suite.client(clientName);
    if (force) await c.forceCodecs(force);
    assert.equal(await c.connect(suite.server.wsUrl), 'ESTABLISHED');
    await c.join(room);
    return c;
  };

  return suite;
}

module.exports = { browserSuite };
