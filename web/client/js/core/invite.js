// Room names and invite links: ?room= (or the SDK demos' ?roomName=) in the page URL, a copyable
// link for a room, fresh random names. No DOM: the page passes its location and random source.
import { plainText } from './text.js';

/** The room input's maxlength: a longer name from a link is cut to what the form can hold. */
export const ROOM_NAME_MAX = 128;

/** The room named by a query string ('?room=x', 'room=x' or ''), or '' if none. */
export function roomFromSearch(search) {
  const q = new URLSearchParams(search || '');
  for (const key of ['room', 'roomName']) {
    const room = plainText(q.get(key) || '').trim();
    if (room) return plainText(room, ROOM_NAME_MAX);
  }
  return '';
}

/** The page `href` with ?room=<name> and nothing else (no other parameters, no #fragment). */
export function inviteLink(href, room) {
  const u = new URL(href);
  u.search = '';
  u.hash = '';
  u.searchParams.set('room', room);
  return u.toString();
}

/**
 * A fresh, readable room name: room-xxxxxx (6 of [0-9a-z]).
 * fillRandom(bytes) fills a Uint8Array (default: crypto.getRandomValues).
 */
export function randomRoomName(fillRandom = (bytes) => crypto.getRandomValues(bytes)) {
  const bytes = new Uint8Array(4);
  fillRandom(bytes);
  return 'room-' + Array.from(bytes, (b) => b.toString(36).padStart(2, '0')).join('').slice(0, 6);
}
