// core/invite.js: the room from odd query strings, invite links that round-trip, random names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inviteLink, randomRoomName, roomFromSearch, ROOM_NAME_MAX } from '../client/js/core/invite.js';

test('room from ?room=, else the SDK demos\' ?roomName=', () => {
  assert.equal(roomFromSearch('?room=team'), 'team');
  assert.equal(roomFromSearch('room=team'), 'team', 'without the ?');
  assert.equal(roomFromSearch('?roomName=demo'), 'demo');
  assert.equal(roomFromSearch('?roomName=demo&room=team'), 'team', '?room= wins');
  assert.equal(roomFromSearch('?room=a&room=b'), 'a', 'the first of repeated keys');
});

test('no room: empty, missing, blank or only controls', () => {
  for (const search of ['', '?', undefined, null, '?room', '?room=', '?room=%20%20', '?room=+++', '?x=1&y=2', '#room=x', '?ROOM=x', '?room=%00%07']) {
    assert.equal(roomFromSearch(search), '', JSON.stringify(search));
  }
});

test('a blank ?room= falls back to ?roomName=', () => {
  assert.equal(roomFromSearch('?room=%20&roomName=demo'), 'demo');
});

test('decoding: percent escapes, + as space, unicode, malformed escapes kept literally', () => {
  assert.equal(roomFromSearch('?room=a%26b%3Dc'), 'a&b=c');
  assert.equal(roomFromSearch('?room=my+room'), 'my room');
  assert.equal(roomFromSearch('?room=%D0%BA%D0%BE%D0%BC%D0%BD%D0%B0%D1%82%D0%B0'), 'комната');
  assert.equal(roomFromSearch('?room=%zz%'), '%zz%');
  assert.equal(roomFromSearch('?room=%E0%A4%A'), '\ufffd%A', 'an incomplete UTF-8 sequence');
  assert.equal(roomFromSearch('?room=%20team%0A'), 'team', 'trimmed, newline dropped');
  assert.equal(roomFromSearch('?room=te%09am'), 'te\tam', 'a tab inside is kept (the form shows it)');
});

test('a name longer than the form holds is cut at a code point', () => {
  const long = '🙂'.repeat(ROOM_NAME_MAX + 5);
  const room = roomFromSearch('?room=' + encodeURIComponent(long));
  assert.equal(Array.from(room).length, ROOM_NAME_MAX);
  assert.ok(!/[\ud800-\udbff]$/.test(room.slice(0, -1)), 'no lone surrogate');
  assert.equal(roomFromSearch('?room=' + 'r'.repeat(ROOM_NAME_MAX)), 'r'.repeat(ROOM_NAME_MAX));
});

test('invite link: the page address with only ?room=, encoded, and it round-trips', () => {
  const page = 'https://meet.example:8443/client/conference.html?room=old&debug=1#chat';
  assert.equal(inviteLink(page, 'team'), 'https://meet.example:8443/client/conference.html?room=team');
  for (const room of ['a&b=c', 'my room', 'комната', '100%', '#hash?q', 'x+y']) {
    const link = inviteLink(page, room);
    const u = new URL(link);
    assert.equal(u.hash, '');
    assert.deepEqual([...u.searchParams.keys()], ['room']);
    assert.equal(roomFromSearch(u.search), room, link);
  }
});

test('random room names: room- and 6 of [0-9a-z], from the given random bytes', () => {
  assert.equal(randomRoomName((b) => b.set([0, 1, 35, 255])), 'room-00010z');
  assert.equal(randomRoomName((b) => b.set([36, 200, 7, 9])), 'room-105k07');
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    const name = randomRoomName();
    assert.match(name, /^room-[0-9a-z]{6}$/);
    seen.add(name);
  }
  assert.ok(seen.size > 190, `crypto-random names rarely repeat (${seen.size}/200 distinct)`);
});
