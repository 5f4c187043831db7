// core/ice-servers.js: the server's list passes, anything broken gives [] (joining goes on without TURN).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchIceServers, ICE_SERVERS_PATH } from '../client/js/core/ice-servers.js';

const TURN = { urls: ['turn:203.0.113.5:3478?transport=udp', 'turns:example.test:5349'], username: '1700000000:alice', credential: 'c2VjcmV0' };
const STUN = { urls: 'stun:example.test:3478' };

/** A fetch answering `status` with `body` (a string is sent as is), recording its calls. */
function fakeFetch(status, body) {
  const calls = [];
  const fn = async (url, opts) => {
    calls.push([url, opts]);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return { ok: status >= 200 && status < 300, status, json: async () => JSON.parse(text) };
  };
  fn.calls = calls;
  return fn;
}

test('the server list, asked for without caching (fresh TURN credentials)', async () => {
  const f = fakeFetch(200, { iceServers: [STUN, TURN] });
  assert.deepEqual(await fetchIceServers(f), [STUN, TURN]);
  assert.deepEqual(f.calls, [[ICE_SERVERS_PATH, { cache: 'no-store' }]]);
});

test('HTTP error, bad JSON, wrong shape, network error: []', async () => {
  assert.deepEqual(await fetchIceServers(fakeFetch(500, { iceServers: [STUN] })), []);
  assert.deepEqual(await fetchIceServers(fakeFetch(404, 'not found')), []);
  assert.deepEqual(await fetchIceServers(fakeFetch(200, '{"iceServers": [')), []);
  assert.deepEqual(await fetchIceServers(fakeFetch(200, 'null')), []);
  assert.deepEqual(await fetchIceServers(fakeFetch(200, { iceServers: 'stun:x' })), []);
  assert.deepEqual(await fetchIceServers(fakeFetch(200, { servers: [STUN] })), []);
  assert.deepEqual(await fetchIceServers(async () => { throw new TypeError('Failed to fetch'); }), []);
  assert.deepEqual(await fetchIceServers(() => { throw new TypeError('sync throw'); }), []);
});

test('entries the browser would reject are dropped, the good ones kept', async () => {
  const bad = [null, 7, 'stun:x', {}, { urls: [] }, { urls: '' }, { urls: 'http://x' }, { urls: ['stun:x', 5] }, { urls: ['turn:x', 'ftp:y'] }];
  assert.deepEqual(await fetchIceServers(fakeFetch(200, { iceServers: [...bad, STUN, TURN] })), [STUN, TURN]);
});

test('no answer in time: [] (the join does not hang)', async () => {
  const t0 = Date.now();
  const never = () => new Promise(() => {});
  assert.deepEqual(await fetchIceServers(never, { timeoutMs: 20 }), []);
  assert.ok(Date.now() - t0 < 2000);
});
