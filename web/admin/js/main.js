// The operator dashboard: sign in with the admin secret, then poll the admin API every second
// and redraw rooms, streams (with one-minute charts), mixes and recordings.

import { adminApi, AccessError } from './api.js';
import { el, replace } from './dom.js';
import { History } from './history.js';
import { PICKERS } from './metrics.js';
import { forgetSecret, loadSecret, saveSecret } from './secret.js';
import { mixesView, recordsView } from './view_mixes.js';
import { remoteRoomsView, roomsView } from './view_rooms.js';
import { streamsTable } from './view_streams.js';

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

let api = null;
let timer = null;
let history = new History();

function signIn(secret) {
  saveSecret(secret);
  api = adminApi(secret);
  history = new History();
  $('login').hidden = true;
  $('board').hidden = false;
  $('sign-out').hidden = false;
  $('login-error').textContent = '';
  poll();
}

function signOut(message = '') {
  clearTimeout(timer);
  timer = null;
  api = null;
  forgetSecret();
  $('board').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  $('status').textContent = '';
  $('login-error').textContent = message;
  $('secret').value = '';
  $('secret').focus();
}

async function poll() {
  const current = api;
  if (!current) return;
  try {
    const [rooms, peers, records, mixes] = await Promise.all([
      current.rooms(), current.peers(), current.records(), current.mixes(),
    ]);
    if (current !== api) return; // signed out meanwhile
    render({ rooms, peers, records, mixes });
    $('error').hidden = true;
    $('status').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (current !== api) return;
    if (e instanceof AccessError) {
      signOut(e.message);
      return;
    }
    showError(`Cannot reach the server: ${e.message}`);
  }
  // One loop only, even when pollSoon() started a poll while another was in flight.
  clearTimeout(timer);
  timer = setTimeout(poll, POLL_MS);
}

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = false;
}

function render({ rooms, peers, records, mixes }) {
  const now = Date.now();
  history.add(now, peers, PICKERS);
  const ctx = { peers: new Map(peers.map((p) => [p.peer, p])), history, now };
  const streams = rooms.rooms.reduce((n, r) => n + r.streams.length, 0) + rooms.streams_outside_rooms.length;
  const participants = rooms.rooms.reduce((n, r) => n + r.participants.length, 0);
  const running = mixes.filter((m) => m.state === 'waiting' || m.state === 'running').length;
  replace($('summary'), [
    ['rooms', rooms.rooms.length], ['participants', participants], ['streams', streams],
    ['media peers', peers.length], ['mixes in progress', running], ['recordings', records.records.length],
  ].map(([label, n]) => el('div', { dataset: { total: label } }, el('strong', {}, String(n)), label)));
  replace($('rooms'), roomsView(rooms.rooms, ctx, { closeRoom, kick }), remoteRoomsView(rooms.remote_rooms));
  $('outside-section').hidden = rooms.streams_outside_rooms.length === 0;
  replace($('outside'), streamsTable(rooms.streams_outside_rooms, ctx));
  replace($('mixes'), mixesView(mixes, records));
  replace($('records'), recordsView(records));
}

async function act(what, run) {
  if (!window.confirm(what)) return;
  try {
    await run();
    pollSoon();
  } catch (e) {
    if (e instanceof AccessError) signOut(e.message);
    else showError(`${what} failed: ${e.message}`);
  }
}

/** Redraw right after an action instead of up to a second later. */
function pollSoon() {
  clearTimeout(timer);
  timer = setTimeout(poll, 100);
}

function closeRoom(room) {
  return act(`Close the room "${room}"? Everyone in it is removed.`, () => api.closeRoom(room));
}

function kick(room, login) {
  return act(`Remove "${login}" from the room "${room}"?`, () => api.kick(room, login));
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  const secret = $('secret').value;
  if (secret) signIn(secret);
});
$('sign-out').addEventListener('click', () => signOut());

const saved = loadSecret();
if (saved) signIn(saved);
