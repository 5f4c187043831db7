// The invite box: a read-only link to this page's room, a Copy button and a hint (aria-live).
import { inviteLink } from '../core/invite.js';

async function copyText(input) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(input.value);
      return true;
    } catch (_) { /* fall back below */ }
  }
  input.focus();
  input.select();
  try {
    return document.execCommand('copy');
  } catch (_) {
    return false;
  }
}

/** Returns {set(room), clear()}. */
export function InviteBox({ input, copyBtn, hint }) {
  function clear() {
    input.value = '';
    copyBtn.disabled = true;
    hint.textContent = 'Join a room to get its invite link.';
  }
  function set(room) {
    input.value = inviteLink(window.location.href, room);
    copyBtn.disabled = false;
    hint.textContent = 'Send this link to the people you want to invite.';
  }
  copyBtn.addEventListener('click', async () => {
    const ok = await copyText(input);
    hint.textContent = ok ? 'Link copied to the clipboard.' : 'Select the link and copy it (Ctrl+C).';
  });
  input.addEventListener('focus', () => input.select());
  clear();
  return { set, clear };
}
