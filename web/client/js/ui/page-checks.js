// What a page says when it cannot work at all: no SDK bundle, an insecure (http) page, no WebRTC.
import { secureUrl } from '../core/urls.js';

/** Show `msg` in #error and disable Join. */
export function fatal(msg) {
  const err = document.getElementById('error');
  if (err) err.textContent = msg;
  const btn = document.getElementById('joinBtn');
  if (btn) btn.disabled = true;
}

/** Browsers give camera access only to https pages (and http://localhost): say where to go. */
export function insecureNotice() {
  fatal('');
  const err = document.getElementById('error');
  if (!err) return;
  const url = secureUrl(window.location);
  err.textContent = 'This browser allows the camera only on secure pages. Open ';
  const a = document.createElement('a');
  a.href = url;
  a.textContent = url;
  err.append(a, ' instead (accept the certificate warning if the server uses its own certificate).');
}
