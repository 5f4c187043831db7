// Generates web/client/<app>.html for the three apps from one page template (app.html) and a few
// per-app parts (parts/*.html). The generated pages are committed, so the server (and the .deb and
// the container image) serve complete HTML without running anything; scripts/build-web.sh
// regenerates them and web/test/pages.test.js fails when a committed page is out of date.
//
//   node web/pages/build.js           write the pages that changed
//   node web/pages/build.js --check   exit 1 if a page differs from what the template gives
//
// Template syntax: {{name}} inside a line is replaced by a text value (HTML-escaped); a line that is
// only {{name}} is replaced by a part, indented like the placeholder (nothing: the line goes). Parts
// may hold placeholders too. An unknown name is an error.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PAGES_DIR = dirname(fileURLToPath(import.meta.url));
export const CLIENT_DIR = join(PAGES_DIR, '..', 'client');

const GENERATED = 'generated from web/pages/ by scripts/build-web.sh: edit web/pages/app.html or web/pages/parts/, not this file';

/** The apps: page file, title, body[data-app], entry module and which part fills each block. */
export const APPS = [
  {
    file: 'conference.html',
    text: { title: 'Conference', app: 'conference', entry: 'conference.js' },
    parts: { join_options: 'record-option', controls: null, stage: 'stage-grid', simulcast: 'simulcast-script' },
  },
  {
    file: 'video-chat.html',
    text: { title: 'Two-Way Video Chat', app: 'video-chat', entry: 'video-chat.js' },
    parts: { join_options: null, controls: null, stage: 'stage-duo', duo_extra: null, simulcast: 'simulcast-script' },
  },
  {
    file: 'screen-sharing.html',
    text: { title: 'Video Chat + Screen Sharing', app: 'screen-sharing', entry: 'screen-sharing.js' },
    parts: { join_options: null, controls: 'share-button', stage: 'stage-duo', duo_extra: 'share-preview', simulcast: null },
  },
];

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function readPart(name) {
  return readFileSync(join(PAGES_DIR, 'parts', name + '.html'), 'utf8');
}

/**
 * Fill `template`. text: {name: string}; parts: {name: part name | null}; read(name): a part's text.
 * Throws on a placeholder that neither map names.
 */
export function render(template, { text = {}, parts = {} }, read = readPart) {
  const out = [];
  for (const line of template.replace(/\n$/, '').split('\n')) {
    const block = /^(\s*)\{\{(\w+)\}\}\s*$/.exec(line);
    if (block && Object.hasOwn(parts, block[2])) {
      const part = parts[block[2]];
      if (!part) continue;
      const body = render(read(part), { text, parts }, read);
      for (const l of body.replace(/\n$/, '').split('\n')) out.push(l ? block[1] + l : l);
      continue;
    }
    out.push(line.replace(/\{\{(\w+)\}\}/g, (_, name) => {
      if (!Object.hasOwn(text, name)) throw new Error(`template: no value for {{${name}}}`);
      return escapeHtml(text[name]);
    }));
  }
  return out.join('\n') + '\n';
}

/** The HTML of one app page. */
export function renderApp(app) {
  const template = readFileSync(join(PAGES_DIR, 'app.html'), 'utf8');
  return render(template, { text: { generated: GENERATED, ...app.text }, parts: app.parts });
}

/** [{file, path, html, current}] for every app: current is false when the file on disk differs. */
export function pages() {
  return APPS.map((app) => {
    const path = join(CLIENT_DIR, app.file);
    const html = renderApp(app);
    let onDisk = null;
    try {
      onDisk = readFileSync(path, 'utf8');
    } catch (_) { /* not generated yet */ }
    return { file: app.file, path, html, current: onDisk === html };
  });
}

function main(args) {
  const check = args.includes('--check');
  let stale = 0;
  for (const page of pages()) {
    if (page.current) continue;
    if (check) {
      console.error(`web/client/${page.file} is out of date: run node web/pages/build.js`);
      stale++;
    } else {
      writeFileSync(page.path, page.html);
      console.log(`pages: wrote web/client/${page.file}`);
    }
  }
  return stale ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
