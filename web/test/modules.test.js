// The module graph of web/client/js: every import resolves and names an export that exists
// (Node links the UI modules without running them: they touch the DOM only when called), the
// entries import only the shell, and the core modules stay free of browser globals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const JS = join(dirname(fileURLToPath(import.meta.url)), '..', 'client', 'js');
const ENTRIES = ['conference.js', 'video-chat.js', 'screen-sharing.js'];
const list = (dir) => readdirSync(join(JS, dir)).filter((f) => f.endsWith('.js')).map((f) => join(dir, f));

test('the shell and every core and ui module link (imports resolve, imported names exist)', async () => {
  for (const file of ['app.js', 'sdk.js', ...list('core'), ...list('ui')]) {
    await assert.doesNotReject(import(pathToFileURL(join(JS, file)).href), file);
  }
});

test('the entries import what exists (checked statically: importing one would start the app)', async () => {
  for (const entry of ENTRIES) {
    const src = readFileSync(join(JS, entry), 'utf8');
    const imports = [...src.matchAll(/import\s*\{([^}]*)\}\s*from\s*'([^']+)'/g)];
    assert.ok(imports.length > 0, entry);
    for (const [, names, from] of imports) {
      const mod = await import(pathToFileURL(join(JS, from)).href);
      for (const name of names.split(',').map((n) => n.trim()).filter(Boolean)) {
        assert.equal(typeof mod[name], 'function', `${entry}: ${name} from ${from}`);
      }
    }
  }
});

test('core modules use no browser globals (they run in Node and take the SDK and fetch as values)', () => {
  for (const file of list('core')) {
    const code = readFileSync(join(JS, file), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const name of ['window', 'document', 'navigator', 'localStorage', 'location', 'RoomApi', 'fetch(']) {
      assert.ok(!code.includes(name), `${file} uses ${name}`);
    }
  }
});

test('only sdk.js reads the SDK global', () => {
  for (const file of ['app.js', ...ENTRIES, ...list('ui')]) {
    assert.ok(!/\bRoomApi\b/.test(readFileSync(join(JS, file), 'utf8').replace(/\/\/.*$/gm, '')), file);
  }
});
