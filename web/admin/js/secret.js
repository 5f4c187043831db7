// The admin secret, kept for this tab only (sessionStorage: gone when the tab closes).

const KEY = 'huddle.adminSecret';

export function loadSecret() {
  try {
    return sessionStorage.getItem(KEY) || '';
  } catch (_) {
    return '';
  }
}

export function saveSecret(secret) {
  try {
    sessionStorage.setItem(KEY, secret);
  } catch (_) { /* storage off: the secret lives in memory only */ }
}

export function forgetSecret() {
  try {
    sessionStorage.removeItem(KEY);
  } catch (_) { /* nothing stored */ }
}
