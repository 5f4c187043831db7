// web/pages/build.js: the committed app pages are what the template gives, the template engine's
// rules, and what each generated page must hold (ids, one module entry after the SDK bundle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APPS, pages, render } from '../pages/build.js';

test('the committed pages are up to date with web/pages/ (else: node web/pages/build.js)', () => {
  for (const page of pages()) assert.ok(page.current, `web/client/${page.file} is out of date`);
});

test('render: text values are escaped, block parts indented like their placeholder, empty blocks vanish', () => {
  const parts = { inner: '<b>\n  {{deep}}\n</b>\n', leaf: '<i>{{title}}</i>\n' };
  const out = render('<h1>{{title}}</h1>\n  {{block}}\n    {{none}}\nend\n', {
    text: { title: 'A & <B> "c"' },
    parts: { block: 'inner', deep: 'leaf', none: null },
  }, (name) => parts[name]);
  assert.equal(out, '<h1>A &amp; &lt;B&gt; &quot;c&quot;</h1>\n  <b>\n    <i>A &amp; &lt;B&gt; &quot;c&quot;</i>\n  </b>\nend\n');
});

test('render: an unknown placeholder is an error, not an empty string', () => {
  assert.throws(() => render('<p>{{typo}}</p>\n', { text: {}, parts: {} }, () => ''), /no value for \{\{typo\}\}/);
  assert.throws(() => render('  {{typo}}\n', { text: {}, parts: {} }, () => ''), /no value for \{\{typo\}\}/);
});

/** Every id="…" in the page, and the <script> tags in order. */
function scan(html) {
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  const scripts = [...html.matchAll(/<script\b([^>]*)><\/script>/g)].map((m) => m[1].trim());
  return { ids, scripts };
}

test('each page: unique ids, the SDK bundle then exactly one module entry, no leftover placeholder', () => {
  const common = ['joinForm', 'login', 'room', 'joinBtn', 'status', 'roomInfo', 'error', 'stage', 'muteAudioBtn', 'muteVideoBtn',
    'screens', 'tiles', 'localTile', 'localDisplay', 'inviteLink', 'copyInviteBtn', 'inviteHint', 'chatLog', 'chatForm', 'chatInput', 'chatSendBtn'];
  const specific = {
    'conference.html': { has: ['record'], not: ['remoteMain', 'shareBtn', 'sharePreview'] },
    'video-chat.html': { has: ['remoteMain'], not: ['record', 'shareBtn', 'sharePreview'] },
    'screen-sharing.html': { has: ['remoteMain', 'shareBtn', 'sharePreview'], not: ['record'] },
  };
  assert.deepEqual(APPS.map((a) => a.file).sort(), Object.keys(specific).sort());
  for (const page of pages()) {
    const { ids, scripts } = scan(page.html);
    assert.equal(new Set(ids).size, ids.length, `${page.file}: duplicate id`);
    for (const id of [...common, ...specific[page.file].has]) assert.ok(ids.includes(id), `${page.file}: #${id}`);
    for (const id of specific[page.file].not) assert.ok(!ids.includes(id), `${page.file}: no #${id}`);
    const app = APPS.find((a) => a.file === page.file);
    // Conference and Video Chat publish simulcast: js/simulcast.js runs before the SDK bundle.
    const simulcast = page.file === 'screen-sharing.html' ? [] : ['src="js/simulcast.js"'];
    assert.deepEqual(scripts, [...simulcast, 'src="../vendor/flashphoner-room-api-webrtc-only.js"', `type="module" src="js/${app.text.entry}"`]);
    assert.ok(page.html.includes(`<body data-app="${app.text.app}">`));
    assert.ok(!page.html.includes('{{'), `${page.file}: a placeholder left`);
  }
});
