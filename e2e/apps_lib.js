'use strict';
// Helpers for the web-app tests (e2e/tests/apps_*.test.js): drive web/client/*.html like a person
// (type a name, click Join, type a chat line) in one browser context per participant, and read what
// the page shows. Reuses e2e/lib/harness.js for the server and the browser.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./lib/harness');

const PCWRAP = path.join(h.E2E_DIR, 'page', 'pcwrap.js'); // keeps the page's RTCPeerConnections for getStats
const GREETING = 'Привет, 世界 👋 مرحبا';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let built = false;
/** scripts/build-web.sh (idempotent, fast when up to date): the apps need web/vendor/. */
function buildWeb() {
  if (built) return;
  const r = spawnSync('bash', [path.join(h.REPO_DIR, 'scripts', 'build-web.sh')], { encoding: 'utf8', timeout: 180000 });
  if (r.status !== 0) throw new Error(`scripts/build-web.sh failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  built = true;
}

/** One participant: a browser context + page showing one app. */
class Person {
  constructor(name, context, page, origin) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.origin = origin;
    this.log = [];
    this.requests = [];
    this.sentFrames = [];
    this.sockets = []; // WebSocket URLs the page opened
  }

  async goto(url, waitFor = 'body[data-state="idle"]') {
    await this.page.goto(url, { timeout: 15000 });
    await this.page.waitForSelector(waitFor, { timeout: 10000 });
  }

  /** Fill the name (and the room, if given) and click Join; waits until the room is joined. */
  async join(room, { record } = {}) {
    const p = this.page;
    await p.fill('#login', this.name);
    if (room !== undefined) await p.fill('#room', room);
    if (record !== undefined) await p.setChecked('#record', record);
    await p.click('#joinBtn');
    await this.waitState('joined');
    await p.waitForFunction(() => document.getElementById('status').textContent === 'ESTABLISHED', null, { timeout: 5000 });
  }

  waitState(state, timeout = 15000) {
    return this.page.waitForSelector(`body[data-state="${state}"]`, { timeout }).catch(async (e) => {
      e.message += `\n${this.name}: status=${await this.text('#status')} error=${await this.text('#error')}`;
      throw e;
    });
  }

  text(sel) {
    return this.page.locator(sel).first().textContent({ timeout: 2000 }).catch(() => null);
  }

  value(sel) {
    return this.page.inputValue(sel, { timeout: 2000 });
  }

  async leave() {
    await this.page.click('#joinBtn');
    await this.waitState('idle');
  }

  async say(text) {
    await this.page.fill('#chatInput', text);
    await this.page.click('#chatSendBtn');
  }

  /** Chat lines shown on the page: [{from, text, mine}]. */
  chatLines() {
    return this.page.$$eval('#chatLog li.message', (lis) => lis.map((li) => ({
      from: li.dataset.from,
      text: li.querySelector('.text').textContent,
      mine: li.classList.contains('mine'),
    })));
  }

  async waitChat(from, text, timeout = 10000) {
    await h.waitUntil(async () => (await this.chatLines()).find((l) => l.from === from && l.text === text && !l.mine),
      { timeout, what: `${this.name}: chat line from ${from}: ${text}` });
  }

  /** Logins of the remote participant tiles. */
  tileLogins() {
    return this.page.$$eval('#tiles .tile[data-login]:not(.local)', (els) => els.map((e) => e.dataset.login).sort());
  }

  /**
   * Every remote <video> inside `selector` with its size and, from getStats() on the page's own
   * RTCPeerConnection receiver for that video's track, framesDecoded.
   */
  videos(selector) {
    return this.page.evaluate(async (sel) => {
      const out = [];
      for (const v of document.querySelectorAll(sel)) {
        const tile = v.closest('.tile');
        const track = v.srcObject && v.srcObject.getVideoTracks ? v.srcObject.getVideoTracks()[0] : null;
        let framesDecoded = 0;
        let codec = null;
        if (track) {
          for (const pc of window.__pcs || []) {
            for (const r of pc.getReceivers()) {
              if (!r.track || r.track.id !== track.id) continue;
              const stats = await r.getStats();
              stats.forEach((s) => {
                if (s.type === 'inbound-rtp' && s.kind === 'video') {
                  framesDecoded = Math.max(framesDecoded, s.framesDecoded || 0);
                  const c = s.codecId && stats.get(s.codecId);
                  if (c) codec = c.mimeType;
                }
              });
            }
          }
        }
        out.push({
          login: tile ? tile.dataset.login || null : null,
          stream: tile ? tile.dataset.stream || null : null,
          videoWidth: v.videoWidth,
          videoHeight: v.videoHeight,
          framesDecoded,
          codec,
        });
      }
      return out;
    }, selector);
  }

  /** Wait until `count` videos in `selector` decode (videoWidth > 0 and framesDecoded > 0). */
  async waitDecoding(selector, count, timeout = 25000) {
    let last;
    try {
      return await h.waitUntil(async () => {
        last = await this.videos(selector);
        const ok = last.filter((v) => v.videoWidth > 0 && v.framesDecoded > 0);
        return ok.length >= count ? ok : null;
      }, { timeout, interval: 300, what: `${this.name}: ${count} decoding video(s) in ${selector}` });
    } catch (e) {
      e.message += `\n${this.name} videos: ${JSON.stringify(last)}`;
      throw e;
    }
  }

  /** What this page's camera/screen encoders did (keyframe requests received and honoured). */
  outboundVideo() {
    return this.page.evaluate(async () => {
      const out = [];
      for (const pc of window.__pcs || []) {
        if (pc.connectionState === 'closed') continue;
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'outbound-rtp' && s.kind === 'video') {
            out.push({ framesEncoded: s.framesEncoded, keyFramesEncoded: s.keyFramesEncoded, firCount: s.firCount, pliCount: s.pliCount });
          }
        });
      }
      return out;
    });
  }

  async screenshot(tag, { fullPage = false } = {}) {
    fs.mkdirSync(h.ARTIFACTS, { recursive: true });
    const file = path.join(h.ARTIFACTS, `apps-${tag}.png`);
    await this.page.screenshot({ path: file, timeout: 10000, fullPage });
    return file;
  }

  /** Requests that left the server's origin (the apps must not fetch anything from elsewhere). */
  foreignRequests() {
    return this.requests.filter((u) => !u.startsWith(this.origin) && !/^(data|blob):/.test(u));
  }

  /** Room API commands this page sent ({command, options}), from the WebSocket frames. */
  commands(name) {
    const out = [];
    for (const f of this.sentFrames) {
      try {
        const m = JSON.parse(f);
        const p = m.message === 'sendData' && m.data[0] && m.data[0].payload;
        if (p && (!name || p.command === name)) out.push(p);
      } catch (_) { /* not JSON */ }
    }
    return out;
  }

  /** Form controls without a label and buttons without text (basic accessibility check). */
  unlabelled() {
    return this.page.evaluate(() => {
      const bad = [];
      for (const el of document.querySelectorAll('input, textarea, select')) {
        if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) bad.push(`${el.tagName}#${el.id}`);
      }
      for (const b of document.querySelectorAll('button')) {
        if (!b.textContent.trim() && !b.getAttribute('aria-label')) bad.push(`BUTTON#${b.id}`);
      }
      for (const id of ['status', 'chatLog']) {
        const el = document.getElementById(id);
        if (!el || !el.getAttribute('aria-live')) bad.push(`#${id} without aria-live`);
      }
      return bad;
    });
  }

  pageErrors() {
    return this.log.filter((l) => l.startsWith('[pageerror]'));
  }

  async close() {
    await this.context.close().catch(() => {});
  }
}

/** Open `url` (absolute) as `name` in a fresh context (desktop-sized unless `viewport`); waits for `waitFor`. */
async function openPerson(browser, url, name, { viewport = DESKTOP, waitFor, ignoreHTTPSErrors = false } = {}) {
  const context = await browser.newContext({ viewport, ignoreHTTPSErrors });
  await context.addInitScript({ path: PCWRAP });
  const page = await context.newPage();
  const person = new Person(name, context, page, new URL(url).origin);
  page.on('console', (m) => {
    person.log.push(`[${m.type()}] ${m.text()}`);
    if (person.log.length > 3000) person.log.shift();
  });
  page.on('pageerror', (e) => person.log.push(`[pageerror] ${e.message}`));
  page.on('request', (r) => person.requests.push(r.url()));
  page.on('websocket', (ws) => {
    person.sockets.push(ws.url());
    ws.on('framesent', (f) => {
      if (typeof f.payload === 'string') person.sentFrames.push(f.payload);
    });
  });
  await person.goto(url, waitFor);
  return person;
}

/** Console logs of every person to e2e/artifacts/, and a last screenshot (unless the page is gone). */
async function saveLogs(tag, people) {
  fs.mkdirSync(h.ARTIFACTS, { recursive: true });
  const seen = new Map();
  for (const p of people) {
    if (!p) continue;
    const n = (seen.get(p.name) || 0) + 1;
    seen.set(p.name, n);
    const base = path.join(h.ARTIFACTS, `apps-${tag}-${p.name}${n > 1 ? `-${n}` : ''}`);
    fs.writeFileSync(`${base}.console.log`, p.log.join('\n'));
    await p.page.screenshot({ path: `${base}.end.png`, timeout: 5000 }).catch(() => {});
  }
}

/** Wait until each person decodes `count` videos in `selector`; on failure add every publisher's encoder stats. */
async function waitAllDecoding(people, selector, count, timeout) {
  try {
    for (const p of people) await p.waitDecoding(selector, count, timeout);
  } catch (e) {
    for (const p of people) {
      e.message += `\n${p.name} encoders: ${JSON.stringify(await p.outboundVideo().catch((x) => x.message))}`;
    }
    throw e;
  }
}

/** Start the server with the repo's web/ (after building it) and a browser. */
async function setup(name, serverOpts = {}) {
  buildWeb();
  const server = await h.startServer(Object.assign({ name, graceSecs: 2 }, serverOpts));
  let browser;
  try {
    browser = await h.launchBrowser();
  } catch (e) {
    await server.stop();
    throw e;
  }
  let stopped = null;
  const stopServer = () => (stopped = stopped || server.stop());
  return {
    server,
    browser,
    origin: server.httpUrl,
    stopServer,
    async teardown() {
      await browser.close().catch(() => {});
      await stopServer();
    },
  };
}

module.exports = { GREETING, DESKTOP, PHONE, buildWeb, openPerson, saveLogs, setup, waitAllDecoding, Person };
