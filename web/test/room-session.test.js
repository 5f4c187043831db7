// core/room-session.js against a fake Room API: the state machine on SDK events, who is in the
// room, which streams are played and released, chat, mute, leave, and every way a join fails.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomSession } from '../client/js/core/room-session.js';
import { ChatLog } from '../client/js/core/chat-log.js';
import { FakeParticipant, fakeRoomApi, fakeSlots, manualTimers, STREAM_STATUS } from './fake-room-api.js';

const SERVER = 'wss://example.test:8443';
const ICE = [{ urls: 'turn:example.test:3478', username: 'u', credential: 'c' }];
const LOCAL_DISPLAY = { local: true };

/** A session on a fake SDK, with every event it emits recorded as [name, value]. */
function setup({ maxPeople = null, refuse } = {}) {
  const api = fakeRoomApi();
  const slots = fakeSlots(refuse);
  const timers = manualTimers();
  const chat = new ChatLog({ now: () => new Date(2026, 0, 1, 9, 5) });
  const session = new RoomSession({ api, serverUrl: SERVER, iceServers: async () => ICE, maxPeople, slots, timers, chat });
  const seen = [];
  for (const name of ['state', 'status', 'error', 'participant-joined', 'participant-left', 'joined', 'left', 'local-media']) {
    session.on(name, (v) => seen.push([name, v]));
  }
  const of = (name) => seen.filter(([n]) => n === name).map(([, v]) => v);
  const notes = () => chat.entries.filter((e) => e.kind === 'note').map((e) => e.text);
  return { api, slots, timers, chat, session, seen, of, notes };
}

/** Join as `login`: camera granted, session ESTABLISHED, room STATE listing `others`. */
async function joinWith(ctx, others = [], { login = 'alice', room = 'r1', record } = {}) {
  const started = ctx.session.join({ login, room, record, localDisplay: LOCAL_DISPLAY });
  assert.equal(started.ok, true);
  await started.done;
  ctx.api.connection.fire('ESTABLISHED');
  const r = ctx.api.room;
  r.participants = others;
  r.fire('STATE', r);
  return r;
}

describe('RoomSession: joining', () => {
  test('a name and a room are required (trimmed); nothing is started without them', () => {
    const ctx = setup();
    assert.deepEqual(ctx.session.join({ login: '   ', room: 'r1' }), { ok: false, field: 'login', message: 'Please enter your name.' });
    assert.deepEqual(ctx.session.join({ login: 'alice', room: ' \t' }), { ok: false, field: 'room', message: 'Please enter a room name.' });
    assert.deepEqual(ctx.session.join({ login: undefined, room: null }).field, 'login');
    assert.equal(ctx.session.state, 'idle');
    assert.equal(ctx.api.mediaRequests.length, 0);
    assert.equal(ctx.api.connections.length, 0);
    assert.deepEqual(ctx.of('error'), ['Please enter your name.', 'Please enter a room name.', 'Please enter your name.']);
  });

  test('camera first, then connect with the ICE servers, then join; first one in publishes the camera', async () => {
    const ctx = setup();
    const started = ctx.session.join({ login: '  alice ', room: ' r1 ', localDisplay: LOCAL_DISPLAY });
    assert.equal(ctx.session.state, 'connecting');
    assert.equal(ctx.session.status, 'CONNECTING');
    assert.equal(ctx.api.connections.length, 0, 'no connection before the camera is granted');
    assert.deepEqual(ctx.api.mediaRequests, [{ constraints: { audio: true, video: true }, display: LOCAL_DISPLAY }]);
    await started.done;
    const c = ctx.api.connection;
    assert.deepEqual(c.opts, { urlServer: SERVER, username: 'alice', mediaOptions: { iceServers: ICE } });
    assert.equal(ctx.api.room, null, 'join waits for ESTABLISHED');
    c.fire('ESTABLISHED');
    const room = ctx.api.room;
    assert.deepEqual(room.opts, { name: 'r1' }, 'no record option unless the app has one');
    assert.equal(ctx.session.state, 'connecting', 'joined only when the room state arrives');
    room.fire('STATE', room);
    assert.equal(ctx.session.state, 'joined');
    assert.equal(ctx.session.roomName, 'r1');
    assert.deepEqual(ctx.of('state'), ['connecting', 'joined']);
    assert.deepEqual(ctx.of('status'), ['CONNECTING', 'ESTABLISHED']);
    assert.deepEqual(ctx.of('joined'), ['r1']);
    assert.deepEqual(ctx.notes(), ['You are the first one here.']);
    assert.equal(room.published.length, 1);
    assert.equal(room.published[0].opts.display, LOCAL_DISPLAY);
    assert.deepEqual(room.published[0].opts.constraints, { audio: true, video: true });
    assert.equal(ctx.timers.active, 1, 'the reconcile timer runs while joined');
    assert.deepEqual(ctx.of('error'), ['']);
  });

  test('the Record option is sent as given', async () => {
    for (const record of [true, false]) {
      const ctx = setup();
      const room = await joinWith(ctx, [], { record });
      assert.deepEqual(room.opts, { name: 'r1', record });
      assert.equal(ctx.session.recordRequested, record);
    }
  });

  test('a join while not idle is refused', async () => {
    const ctx = setup();
    await joinWith(ctx);
    assert.equal(ctx.session.join({ login: 'alice', room: 'r2' }).ok, false);
    assert.equal(ctx.api.connections.length, 1);
  });

  test('camera refused: the reason is shown and the page goes back to idle without connecting', async () => {
    const ctx = setup();
    ctx.api.mediaError = Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' });
    const origError = console.error;
    console.error = () => {};
    try {
      await ctx.session.join({ login: 'alice', room: 'r1', localDisplay: LOCAL_DISPLAY }).done;
    } finally {
      console.error = origError;
    }
    assert.equal(ctx.api.connections.length, 0);
    assert.equal(ctx.session.state, 'idle');
    assert.equal(ctx.session.status, 'DISCONNECTED');
    assert.match(ctx.session.error, /^Camera and microphone are not available \(NotAllowedError\)/);
    assert.deepEqual(ctx.api.released, [LOCAL_DISPLAY], 'the camera is released');
  });

  test('no ICE servers list (its source fails): the join goes on without', async () => {
    const ctx = setup();
    ctx.session.iceServers = async () => { throw new Error('boom'); };
    await ctx.session.join({ login: 'alice', room: 'r1' }).done;
    assert.deepEqual(ctx.api.connection.opts.mediaOptions, { iceServers: [] });
    assert.equal(ctx.session.state, 'connecting');
  });

  test('the SDK refuses to connect at all: "Could not connect" with the reason, back to idle', async () => {
    const ctx = setup();
    ctx.api.connect = () => { throw new TypeError('bad URL'); };
    const origError = console.error;
    console.error = () => {};
    try {
      await ctx.session.join({ login: 'alice', room: 'r1', localDisplay: LOCAL_DISPLAY }).done;
    } finally {
      console.error = origError;
    }
    assert.equal(ctx.session.error, `Could not connect to the server at ${SERVER} (TypeError).`);
    assert.equal(ctx.session.state, 'idle');
    assert.deepEqual(ctx.api.released, [LOCAL_DISPLAY]);
  });

  test('server unreachable: "Could not connect" with the address, back to idle', async () => {
    const ctx = setup();
    await ctx.session.join({ login: 'alice', room: 'r1' }).done;
    ctx.api.connection.fire('FAILED');
    assert.equal(ctx.session.state, 'idle');
    assert.equal(ctx.session.status, 'FAILED');
    assert.equal(ctx.session.error, `Could not connect to the server at ${SERVER}.`);
  });

  test('the server refuses the join ("Room is full"): the reason and advice, the session is closed', async () => {
    const ctx = setup();
    await ctx.session.join({ login: 'dave', room: 'r1' }).done;
    const c = ctx.api.connection;
    c.fire('ESTABLISHED');
    ctx.api.room.fire('FAILED', ctx.api.room, 'Room is full');
    assert.equal(ctx.session.error, 'Could not join room “r1”: Room is full. Try again later or pick another room.');
    assert.equal(c.disconnectCalls, 1);
    c.fire('DISCONNECTED');
    assert.equal(ctx.session.state, 'idle');
    assert.match(ctx.session.error, /Room is full/, 'the reason stays visible after the disconnect');
  });

  test('maxPeople: a two-way chat with two people in it says it is full and leaves', async () => {
    const ctx = setup({ maxPeople: 2 });
    const room = await joinWith(ctx, [new FakeParticipant('bob', ['r1-bob-0001']), new FakeParticipant('carol')], { login: 'dave' });
    assert.equal(ctx.session.error, 'Room “r1” is full: this app is for 2 people and 2 are already in it. Try another room.');
    assert.equal(room.published.length, 0, 'no camera published into a full room');
    assert.equal(ctx.slots.byName.size, 0, 'nobody played');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(ctx.of('state'), ['connecting', 'leaving', 'idle'], 'never joined');
    assert.equal(room.leaveCalls, 1);
    assert.equal(ctx.api.connection.disconnectCalls, 1);
  });
});

describe('RoomSession: the others and their streams', () => {
  test('people already in the room: listed, their camera and screen streams played into slots', async () => {
    const ctx = setup();
    const bob = new FakeParticipant('bob', ['r1-bob-0a1b', 'r1-bob-0a1b-screenShare']);
    const carol = new FakeParticipant('carol', ['r1-carol-77ff']);
    await joinWith(ctx, [bob, carol]);
    assert.deepEqual(ctx.session.participants, ['bob', 'carol']);
    assert.deepEqual(ctx.of('participant-joined'), ['bob', 'carol']);
    assert.deepEqual(ctx.notes(), ['In the room: bob, carol']);
    assert.deepEqual([...ctx.slots.byName].map(([n, s]) => [n, s.login, s.screen]),
      [['r1-bob-0a1b', 'bob', false], ['r1-bob-0a1b-screenShare', 'bob', true], ['r1-carol-77ff', 'carol', false]]);
    const played = bob.streams[0].played[0];
    assert.equal(played.opts.display, ctx.slots.byName.get('r1-bob-0a1b').display);
    assert.equal(played.opts.unmutePlayOnStart, true);
    played.setStatus(STREAM_STATUS.PLAYING);
    assert.equal(ctx.slots.byName.get('r1-bob-0a1b').state, 'playing');
  });

  test('JOINED, then PUBLISHED (twice): the stream is played once', async () => {
    const ctx = setup();
    const room = await joinWith(ctx);
    const bob = new FakeParticipant('bob');
    room.participants = [bob];
    room.fire('JOINED', bob);
    assert.deepEqual(ctx.session.participants, ['bob']);
    assert.equal(ctx.slots.byName.size, 0);
    bob.streams.push(...new FakeParticipant('x', ['r1-bob-1234']).streams);
    room.fire('PUBLISHED', bob);
    room.fire('PUBLISHED', bob);
    assert.equal(bob.streams[0].played.length, 1);
    assert.deepEqual(ctx.notes(), ['You are the first one here.', 'bob joined']);
  });

  test('LEFT: their streams are stopped and their slots released; the list and the chat say so', async () => {
    const ctx = setup();
    const bob = new FakeParticipant('bob', ['r1-bob-1', 'r1-bob-1-screenShare']);
    const carol = new FakeParticipant('carol', ['r1-carol-2']);
    const room = await joinWith(ctx, [bob, carol]);
    room.participants = [carol];
    room.fire('LEFT', bob);
    assert.deepEqual(ctx.session.participants, ['carol']);
    assert.deepEqual(ctx.of('participant-left'), ['bob']);
    assert.equal(ctx.slots.byName.get('r1-bob-1').state, 'gone');
    assert.equal(ctx.slots.byName.get('r1-bob-1-screenShare').state, 'gone');
    assert.equal(ctx.slots.byName.get('r1-carol-2').state, 'shown');
    assert.equal(bob.streams[0].played[0].stopCalls, 1);
    assert.equal(bob.streams[1].played[0].stopCalls, 1);
    assert.deepEqual(ctx.session.streams.names(), ['r1-carol-2']);
    assert.equal(ctx.notes().at(-1), 'bob left');
  });

  test('a stream that STOPs releases its slot; published again, it is played again', async () => {
    const ctx = setup();
    const bob = new FakeParticipant('bob', ['r1-bob-1-screenShare']);
    const room = await joinWith(ctx, [bob]);
    bob.streams[0].played[0].setStatus(STREAM_STATUS.STOPPED);
    assert.equal(ctx.slots.byName.get('r1-bob-1-screenShare').state, 'gone');
    assert.equal(ctx.session.streams.names().length, 0);
    room.fire('PUBLISHED', bob);
    assert.equal(bob.streams[0].played.length, 2);
    assert.equal(ctx.slots.byName.get('r1-bob-1-screenShare').state, 'shown');
  });

  test('reconcile: a played stream the room no longer lists is stopped and released (UNPUBLISHED has no callback)', async () => {
    const ctx = setup();
    const bob = new FakeParticipant('bob', ['r1-bob-1', 'r1-bob-1-screenShare']);
    await joinWith(ctx, [bob]);
    const screen = bob.streams[1].played[0];
    bob.streams.pop(); // the SDK dropped it from the participant on UNPUBLISHED
    ctx.timers.tick();
    assert.equal(screen.stopCalls, 1);
    assert.equal(ctx.slots.byName.get('r1-bob-1-screenShare').state, 'gone');
    assert.equal(ctx.slots.byName.get('r1-bob-1').state, 'shown', 'still listed: kept');
    assert.deepEqual(ctx.session.streams.names(), ['r1-bob-1']);
  });

  test('a page that shows no slot for a stream (third person in a two-way chat) does not play it', async () => {
    const ctx = setup({ refuse: (login) => login === 'carol' });
    const room = await joinWith(ctx, [new FakeParticipant('bob', ['r1-bob-1'])]);
    const carol = new FakeParticipant('carol', ['r1-carol-2']);
    room.fire('JOINED', carol);
    assert.equal(carol.streams[0].played.length, 0);
    assert.deepEqual(ctx.session.participants, ['bob', 'carol'], 'still in the room list');
  });

  test('blocked sound: the slot is asked to offer a button that unmutes that stream', async () => {
    const ctx = setup();
    const bob = new FakeParticipant('bob', ['r1-bob-1']);
    await joinWith(ctx, [bob]);
    const played = bob.streams[0].played[0];
    const slot = ctx.slots.byName.get('r1-bob-1');
    played.fire('STREAM_EVENT', { type: 'SOMETHING_ELSE' });
    played.remoteAudioMuted = true;
    played.fire('STREAM_EVENT', { type: 'SOMETHING_ELSE' });
    assert.equal(slot.unmute, null, 'another event type: no button');
    played.fire('STREAM_EVENT', { type: undefined }); // what SDK 2.0.276 fires
    assert.equal(typeof slot.unmute, 'function');
    slot.unmute();
    assert.equal(played.unmuteRemoteCalls, 1);
  });
});

describe('RoomSession: leaving and losing the connection', () => {
  test('leave: leaving → idle, room left, session closed, camera released, everything cleared', async () => {
    const ctx = setup();
    const room = await joinWith(ctx, [new FakeParticipant('bob', ['r1-bob-1'])]);
    const c = ctx.api.connection;
    const left = ctx.session.leave();
    assert.equal(ctx.session.state, 'leaving');
    await left;
    assert.equal(ctx.session.state, 'idle');
    assert.equal(ctx.session.status, 'DISCONNECTED');
    assert.equal(room.leaveCalls, 1);
    assert.equal(c.disconnectCalls, 1);
    assert.deepEqual(ctx.api.released, [LOCAL_DISPLAY]);
    assert.equal(ctx.timers.active, 0);
    assert.deepEqual(ctx.session.participants, []);
    assert.equal(ctx.session.streams.names().length, 0);
    assert.deepEqual(ctx.of('left'), [undefined]);
    assert.deepEqual(ctx.of('local-media'), [true, false]);
    // late events of the old connection and room change nothing
    c.fire('DISCONNECTED');
    room.fire('JOINED', new FakeParticipant('eve'));
    room.fire('MESSAGE', { from: new FakeParticipant('eve'), text: 'late' });
    assert.equal(ctx.session.error, '');
    assert.deepEqual(ctx.session.participants, []);
    assert.equal(ctx.chat.entries.filter((e) => e.kind === 'message').length, 0);
    assert.deepEqual(ctx.of('state'), ['connecting', 'joined', 'leaving', 'idle']);
  });

  test('the server closes the session while joined: said so, back to idle', async () => {
    const ctx = setup();
    await joinWith(ctx);
    ctx.api.connection.fire('DISCONNECTED');
    assert.equal(ctx.session.error, 'The connection to the server was closed.');
    assert.equal(ctx.session.state, 'idle');
    assert.equal(ctx.timers.active, 0);
  });

  test('the connection fails while joined: "lost"', async () => {
    const ctx = setup();
    await joinWith(ctx);
    ctx.api.connection.fire('FAILED');
    assert.equal(ctx.session.error, 'The connection to the server was lost.');
    assert.equal(ctx.session.state, 'idle');
  });

  test('the page goes away: leave explicitly only while joined', async () => {
    const ctx = setup();
    ctx.session.pageHidden();
    const room = await joinWith(ctx);
    ctx.session.pageHidden();
    assert.equal(room.leaveCalls, 1);
  });
});

describe('RoomSession: chat and mute', () => {
  test('a line goes to everyone else and shows as mine; a failed delivery is noted', async () => {
    const ctx = setup();
    const bob = new FakeParticipant('bob');
    const carol = new FakeParticipant('carol');
    carol.failDelivery = true;
    await joinWith(ctx, [bob, carol]);
    assert.equal(ctx.session.sendChat('hi <b>all</b>'), 2);
    assert.deepEqual(bob.sent, ['hi <b>all</b>']);
    assert.deepEqual(carol.sent, ['hi <b>all</b>']);
    const mine = ctx.chat.entries.find((e) => e.kind === 'message');
    assert.deepEqual([mine.from, mine.text, mine.mine], ['alice', 'hi <b>all</b>', true]);
    assert.equal(ctx.notes().at(-1), 'Could not deliver your message to carol.');
    assert.equal(ctx.session.sendChat('   '), 0, 'blank lines are not sent');
    assert.equal(bob.sent.length, 1);
  });

  test('alone in the room: nothing is sent and the chat says so', async () => {
    const ctx = setup();
    await joinWith(ctx);
    assert.equal(ctx.session.sendChat('anyone?'), 0);
    assert.equal(ctx.notes().at(-1), 'Nobody else is in the room yet: your message was not delivered.');
  });

  test('messages from others are added in arrival order; no sender is "(unknown)"', async () => {
    const ctx = setup();
    const room = await joinWith(ctx, [new FakeParticipant('bob')]);
    room.fire('MESSAGE', { from: new FakeParticipant('bob'), text: 'one' });
    room.fire('MESSAGE', { text: 2 });
    room.fire('MESSAGE', { from: new FakeParticipant('bob'), text: 'three' });
    const lines = ctx.chat.entries.filter((e) => e.kind === 'message').map((e) => [e.from, e.text, e.mine]);
    assert.deepEqual(lines, [['bob', 'one', false], ['(unknown)', '2', false], ['bob', 'three', false]]);
  });

  test('mute toggles act on the published camera and report its state', async () => {
    const ctx = setup();
    const local = [];
    ctx.session.on('local', (s) => local.push(s));
    ctx.session.toggleAudio(); // nothing published yet: no effect
    assert.deepEqual(local, []);
    const room = await joinWith(ctx);
    const cam = room.published[0];
    assert.deepEqual(ctx.session.localState(), { live: false, audioMuted: false, videoMuted: false });
    cam.setStatus(STREAM_STATUS.PUBLISHING);
    assert.deepEqual(local.at(-1), { live: true, audioMuted: false, videoMuted: false });
    ctx.session.toggleAudio();
    assert.equal(cam.audioMuted, true);
    assert.deepEqual(local.at(-1), { live: true, audioMuted: true, videoMuted: false });
    ctx.session.toggleVideo();
    ctx.session.toggleAudio();
    assert.deepEqual(local.at(-1), { live: true, audioMuted: false, videoMuted: true });
    cam.info = 'codec mismatch';
    cam.setStatus(STREAM_STATUS.FAILED);
    assert.equal(ctx.session.error, 'Your camera could not be published: codec mismatch');
    assert.deepEqual(local.at(-1), { live: false, audioMuted: false, videoMuted: false });
  });
});
