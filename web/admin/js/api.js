// The JSON admin API (docs/ADMIN_API.md), every call with `Authorization: Bearer <secret>`.

/** The server refused the secret (401) or has no admin API (404). */
export class AccessError extends Error {
  constructor(status) {
    super(status === 401 ? 'Wrong admin secret.' : 'The admin API is off on this server (no admin_secret).');
    this.status = status;
  }
}

export function adminApi(secret, { timeoutMs = 5000 } = {}) {
  async function call(method, path) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), timeoutMs);
    let res;
    try {
      res = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${secret}` },
        cache: 'no-store',
        signal: ctrl.signal,
      });
    } catch (e) {
      throw new Error(ctrl.signal.aborted ? `${path}: no answer within ${timeoutMs} ms` : `${path}: ${e.message}`);
    } finally {
      clearTimeout(timer);
    }
    if (res.status === 401 || (res.status === 404 && path === '/admin/rooms')) throw new AccessError(res.status);
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status}${body && body.error ? ` ${body.error}` : ''}`);
    return body;
  }
  const seg = encodeURIComponent;
  return {
    rooms: () => call('GET', '/admin/rooms'),
    peers: () => call('GET', '/admin/media/peers'),
    records: () => call('GET', '/admin/records'),
    mixes: () => call('GET', '/admin/mixes'),
    closeRoom: (room) => call('POST', `/admin/rooms/${seg(room)}/close`),
    kick: (room, login) => call('POST', `/admin/rooms/${seg(room)}/kick/${seg(login)}`),
  };
}
