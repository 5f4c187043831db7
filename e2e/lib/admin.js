'use strict';
// The admin HTTP API (docs/ADMIN_API.md) as the browser tests call it: JSON behind
// `Authorization: Bearer <admin_secret>`. Shared by the dashboard, restream and cluster tests.
const assert = require('node:assert/strict');

/** One request to `httpUrl` + `pathname`; resolves to { status, json } (json null when the body is not JSON). */
async function adminRequest(httpUrl, secret, method, pathname, body) {
  const r = await fetch(`${httpUrl}${pathname}`, {
    method,
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json().catch(() => null) };
}

/** GET `pathname`, which must answer 200; resolves to its JSON. */
async function adminGet(httpUrl, secret, pathname) {
  const r = await adminRequest(httpUrl, secret, 'GET', pathname);
  assert.equal(r.status, 200, `${pathname}: ${r.status}`);
  return r.json;
}

module.exports = { adminRequest, adminGet };
