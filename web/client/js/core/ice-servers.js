// The server's STUN/TURN list for the browser's RTCPeerConnections (GET /api/ice-servers; TURN
// credentials are fresh per request). Joining never fails because of it: any problem gives [],
// and media then flows without TURN. No DOM: the page passes its fetch.

export const ICE_SERVERS_PATH = '/api/ice-servers';

/** An RTCIceServer the browser accepts: urls a non-empty string or array of strings. */
function usable(entry) {
  if (!entry || typeof entry !== 'object') return false;
  const urls = Array.isArray(entry.urls) ? entry.urls : [entry.urls];
  return urls.length > 0 && urls.every((u) => typeof u === 'string' && /^(stun|stuns|turn|turns):/.test(u));
}

/**
 * Resolves to the usable entries of the server's `iceServers`, or [] on an HTTP error, bad JSON,
 * a network error or no answer within timeoutMs (a malformed entry would make the
 * RTCPeerConnection constructor throw, so it is dropped rather than passed on).
 */
export async function fetchIceServers(fetchFn, { timeoutMs = 5000, timers = globalThis } = {}) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = timers.setTimeout(() => resolve(null), timeoutMs);
  });
  const answer = (async () => {
    const res = await fetchFn(ICE_SERVERS_PATH, { cache: 'no-store' });
    return res.ok ? res.json() : null;
  })().catch(() => null);
  try {
    const body = await Promise.race([answer, timeout]);
    const list = body && Array.isArray(body.iceServers) ? body.iceServers : [];
    return list.filter(usable);
  } finally {
    timers.clearTimeout(timer);
  }
}
