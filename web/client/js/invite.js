// Invite link: read the room from ?room= (or the SDK demos' ?roomName=), build a copyable link.
(function () {
  'use strict';
  const Huddle = (window.Huddle = window.Huddle || {});

  /** The room named in the page URL, or '' if none. */
  function roomFromUrl(search) {
    const q = new URLSearchParams(search === undefined ? window.location.search : search);
    return (q.get('room') || q.get('roomName') || '').trim();
  }

  /** This page's address with ?room=<name> (and nothing else). */
  function linkFor(room) {
    const u = new URL(window.location.href);
    u.search = '';
    u.hash = '';
    u.searchParams.set('room', room);
    return u.toString();
  }

  /** A fresh, readable room name: room-xxxxxx. */
  function randomRoom() {
    const bytes = new Uint8Array(4);
    crypto.getRandomValues(bytes);
    return 'room-' + Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 6);
  }

  async function copyText(input) {
    const text = input.value;
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
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

  /**
   * Wire the invite box: input (readonly), copy button, hint (aria-live).
   * Returns { set(room), clear() }.
   */
  function InviteBox(input, copyBtn, hint) {
    function clear() {
      input.value = '';
      copyBtn.disabled = true;
      hint.textContent = 'Join a room to get its invite link.';
    }
    function set(room) {
      input.value = linkFor(room);
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

  Huddle.invite = { roomFromUrl, linkFor, randomRoom, InviteBox };
})();
