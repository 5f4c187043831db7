// core/remote-streams.js on its own: release on FAILED, a stop() that throws, streams that are
// already stopped, and a slot refused by the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RemoteStreams } from '../client/js/core/remote-streams.js';
import { FakeRoomStream, fakeSlots, STREAM_EVENT, STREAM_STATUS } from './fake-room-api.js';

const streams = (slots = fakeSlots()) => ({ slots, remote: new RemoteStreams(slots, { STREAM_STATUS, STREAM_EVENT }) });

test('a stream that FAILs releases its slot; the screen flag comes from the name', () => {
  const { slots, remote } = streams();
  const cam = new FakeRoomStream('r-bob-1');
  const screen = new FakeRoomStream('r-bob-1-screenShare');
  remote.play('bob', cam);
  remote.play('bob', screen);
  assert.deepEqual([slots.byName.get('r-bob-1').screen, slots.byName.get('r-bob-1-screenShare').screen], [false, true]);
  cam.played[0].setStatus(STREAM_STATUS.FAILED);
  assert.equal(slots.byName.get('r-bob-1').state, 'gone');
  assert.deepEqual(remote.names(), ['r-bob-1-screenShare']);
});

test('reconcile: a stop() that throws is ignored, the slot is still released; stopped streams are not stopped again', () => {
  const { slots, remote } = streams();
  const a = new FakeRoomStream('r-a-1');
  const b = new FakeRoomStream('r-b-1');
  remote.play('a', a);
  remote.play('b', b);
  a.played[0].stop = () => { throw new Error('already closed'); };
  b.played[0].state = STREAM_STATUS.STOPPED; // stopped without its event reaching us
  b.played[0].stop = () => assert.fail('a stopped stream is not stopped again');
  remote.reconcile(new Set());
  assert.deepEqual(remote.names(), []);
  assert.equal(slots.byName.get('r-a-1').state, 'gone');
  assert.equal(slots.byName.get('r-b-1').state, 'gone');
});

test('a slot refused by the page: not played, not remembered (offered again later)', () => {
  let refuse = true;
  const { remote } = streams(fakeSlots(() => refuse));
  const s = new FakeRoomStream('r-carol-1');
  remote.play('carol', s);
  assert.equal(s.played.length, 0);
  assert.deepEqual(remote.names(), []);
  refuse = false;
  remote.play('carol', s);
  assert.equal(s.played.length, 1);
});

test('releaseFrom touches only that participant\'s streams', () => {
  const { slots, remote } = streams();
  for (const [login, name] of [['a', 'r-a-1'], ['b', 'r-b-1'], ['a', 'r-a-1-screenShare']]) remote.play(login, new FakeRoomStream(name));
  remote.releaseFrom('a');
  assert.deepEqual(remote.names(), ['r-b-1']);
  assert.deepEqual([...slots.byName].map(([n, s]) => [n, s.state]), [['r-a-1', 'gone'], ['r-b-1', 'shown'], ['r-a-1-screenShare', 'gone']]);
});
