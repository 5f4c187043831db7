'use strict';
// The operator dashboard (/admin/, web/admin/) in Chromium against the real server:
//  - a wrong secret is refused on the page; the right one shows the room, both participants and
//    their streams, with non-zero bit rates in the one-minute charts (data from /admin/media/peers);
//  - Kick (confirmed) removes bob: alice's SDK sees LEFT, bob's SDK its stream UNPUBLISHED;
//  - Close room (confirmed) ends alice's stream and removes the room;
//  - the recorded room's mix appears with a progress bar: the percentages seen through
//    /admin/mixes and on the page only rise, at least one lies strictly between 0 and 100, and the
//    mix ends done at 100 % with the output file listed under Recordings.
// Screenshots: e2e/artifacts/admin-dashboard-*.png. Everything runs on 127.0.0.1.
const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('../lib/harness');
const { adminGet } = require('../lib/admin');

const SECRET = `dashboard-secret-${process.pid}`;
const CAMERA = { audio: true, video: { width: 320, height: 240 } };
// One encoder thread, so that the mix of the ~25 s room takes several seconds even on an idle
// machine (ffmpeg reports its position every 0.5 s), small enough to stay short on a busy one.
const MIXER = { width: 640, height: 360, fps: 30, video_preset: 'faster', threads: 1 };

function log(...a) {
  console.log('[admin-dashboard]', ...a);
}

function shot(page, name) {
  return page.screenshot({ path: path.join(h.ARTIFACTS, `admin-dashboard-${name}.png`), fullPage: true, timeout: 10000 });
}

describe('operator dashboard', { timeout: 150000 }, () => {
  let server;
  let web;
  let browser;
  let tmp;
  const clients = [];
  let admin; // { context, page }

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), `huddle-dashboard-${process.pid}-`));
    const mixer = path.join(tmp, 'mixer.json');
    fs.writeFileSync(mixer, JSON.stringify(MIXER));
    server = await h.startServer({
      name: 'admin-dashboard', graceSecs: 1,
      extraArgs: ['--admin-secret', SECRET, '--mixer-config', mixer],
    });
    web = await h.startStatic();
    browser = await h.launchBrowser();
  });

  after(async () => {
    await h.saveArtifacts('admin-dashboard', clients);
    for (const c of clients) await c.close();
    if (admin) await admin.context.close().catch(() => {});
    if (browser) await browser.close();
    if (web) await web.close();
    if (server) await server.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function client(name) {
    const c = await h.newClient(browser, web.url, name);
    clients.push(c);
    assert.equal(await c.connect(server.wsUrl), 'ESTABLISHED');
    return c;
  }

  const api = (pathname) => adminGet(server.httpUrl, SECRET, pathname);

  test('live rooms and charts, kick, close, mix progress to 100 %', { timeout: 140000 }, async () => {
    const t0 = Date.now();
    const room = h.uniqueRoom('dash');
    const alice = await client('alice');
    const bob = await client('bob');
    await alice.join(room, { record: true });
    await bob.join(room, {});
    const [aliceStream, bobStream] = await Promise.all([
      alice.publish({ constraints: CAMERA }), bob.publish({ constraints: CAMERA }),
    ]);
    log(`room ${room}: alice publishes ${aliceStream}, bob ${bobStream} after ${Date.now() - t0} ms`);

    // The page. Dialogs (confirm before kick/close) are accepted, and counted.
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    admin = { context, page };
    const dialogs = [];
    const pageErrors = [];
    page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.httpUrl}/admin/`, { timeout: 15000 });

    // A wrong secret: an error on the page, the board stays hidden, nothing kept.
    await page.fill('#secret', 'not-the-secret');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => /wrong admin secret/i.test(document.getElementById('login-error').textContent),
      null, { timeout: 10000 });
    assert.equal(await page.isVisible('#board'), false, 'board hidden after a wrong secret');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused secret is not kept');
    await shot(page, 'wrong-secret');

    // The right secret: the room with both participants and both streams, live bit rates.
    await page.fill('#secret', SECRET);
    await page.click('#login button[type=submit]');
    const roomSel = `article.room[data-room="${room}"]`;
    await page.waitForSelector(roomSel, { timeout: 10000 });
    const live = await h.waitUntil(() => page.evaluate(([sel, names]) => {
      const art = document.querySelector(sel);
      if (!art) return null;
      const logins = [...art.querySelectorAll('li[data-login]')].map((li) => li.dataset.login).sort();
      const streams = [...art.querySelectorAll('tr.stream')].map((tr) => {
        const cell = tr.querySelector('.metric[data-metric="bitrate"]');
        const chart = cell && cell.querySelector('svg');
        return {
          name: tr.querySelector('td').firstChild.textContent,
          bitrate: cell ? Number(cell.dataset.value) : 0,
          samples: chart ? Number(chart.dataset.samples) : 0,
          rtt: !!tr.querySelector('.metric[data-metric="rtt"]'),
        };
      });
      const players = art.querySelectorAll('tr.player .metric[data-metric="bitrate"]').length;
      const ok = logins.join() === 'alice,bob' && names.every((n) => streams.some((s) => s.name === n && s.bitrate > 0 && s.samples >= 3))
        && players >= 2;
      return ok && { logins, streams, players };
    }, [roomSel, [aliceStream, bobStream]]), { timeout: 20000, interval: 500, what: 'room, participants and streams with bit-rate charts on the page' });
    log(`dashboard after ${Date.now() - t0} ms: ${JSON.stringify(live)}`);
    assert.equal(await page.evaluate(() => sessionStorage.length), 1, 'the accepted secret is kept for the tab');
    await shot(page, 'live');

    // Kick bob (confirmed): alice's SDK sees LEFT, bob's SDK sees its stream end.
    await page.click(`${roomSel} li[data-login="bob"] button[data-action="kick"]`);
    await alice.waitEvent('LEFT', { login: 'bob' }, 10000);
    await bob.waitEvent('UNPUBLISHED_LOCAL', { name: bobStream }, 10000);
    await page.waitForFunction((sel) => {
      const art = document.querySelector(sel);
      return art && !art.querySelector('li[data-login="bob"]');
    }, roomSel, { timeout: 10000 });
    assert.ok(dialogs.some((m) => m.includes('bob')), `kick asked first: ${JSON.stringify(dialogs)}`);
    log(`bob kicked after ${Date.now() - t0} ms`);

    // Keep the room recording a little longer, then close it: the room goes, its mix starts.
    await h.sleep(3000);
    await page.click(`${roomSel} button[data-action="close"]`);
    await alice.waitEvent('UNPUBLISHED_LOCAL', { name: aliceStream }, 10000);
    await page.waitForSelector(roomSel, { state: 'detached', timeout: 10000 });
    assert.ok(dialogs.some((m) => m.includes(room)), `close asked first: ${JSON.stringify(dialogs)}`);
    log(`room closed after ${Date.now() - t0} ms`);

    // The mix: watch the API and the page's progress bar until done.
    const apiSeen = [];
    const pageSeen = [];
    let output = null;
    let shotRunning = false;
    await h.waitUntil(async () => {
      const mine = (await api('/admin/mixes')).find((m) => m.room === room);
      if (mine) {
        output = mine.output;
        apiSeen.push({ state: mine.state, percent: mine.percent });
      }
      if (!output) return false;
      const bar = await page.evaluate((out) => {
        const tr = [...document.querySelectorAll('#mixes tr[data-output]')].find((r) => r.dataset.output === out);
        const p = tr && tr.querySelector('progress');
        return tr ? { state: tr.dataset.state, percent: p ? p.value : null } : null;
      }, output);
      if (bar) pageSeen.push(bar);
      if (bar && bar.state === 'running' && bar.percent >= 20 && !shotRunning) {
        shotRunning = true;
        await shot(page, 'mix-running');
      }
      return mine && mine.state === 'done' && bar && bar.state === 'done';
    }, { timeout: 90000, interval: 250, what: 'the room mix done on the API and on the page' });
    const distinct = (seen) => [...new Set(seen.map((s) => `${s.state} ${s.percent}`))];
    log(`mix ${output} done after ${Date.now() - t0} ms; API (${apiSeen.length} polls): ${distinct(apiSeen).join(', ')}`);
    log(`page (${pageSeen.length} looks): ${distinct(pageSeen).join(', ')}`);

    for (const [where, seen] of [['api', apiSeen], ['page', pageSeen.filter((b) => b.percent != null)]]) {
      const percents = seen.map((s) => s.percent);
      assert.ok(percents.every((p, i) => i === 0 || p >= percents[i - 1]), `${where}: percentages only rise: ${percents}`);
      assert.equal(seen[seen.length - 1].state, 'done', `${where}: ends done`);
      assert.equal(percents[percents.length - 1], 100, `${where}: ends at 100`);
    }
    const intermediate = apiSeen.filter((s) => s.state === 'running' && s.percent > 0 && s.percent < 100);
    assert.ok(intermediate.length >= 1, `at least one value between 0 and 100 seen: ${JSON.stringify(apiSeen)}`);

    // The mixed file is listed under Recordings on the page.
    await page.waitForFunction((out) => [...document.querySelectorAll('#records tr[data-name]')]
      .some((r) => r.dataset.name === out), output, { timeout: 10000 });
    assert.ok(fs.statSync(path.join(server.recordsDir, output)).size > 0, 'mix file on disk');
    await shot(page, 'mix-done');
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
    log(`total ${Date.now() - t0} ms`);
  });
});
