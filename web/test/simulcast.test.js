// client/js/simulcast.js: the camera's addTrack becomes addTransceiver with three layers; the rest
// (audio, screen, browsers without addTransceiver) goes through the original addTrack untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const SOURCE = readFileSync(new URL('../client/js/simulcast.js', import.meta.url), 'utf8');

/** A fake RTCPeerConnection recording addTrack/addTransceiver calls. */
function fakePeerConnectionClass({ transceivers = true, throwing = false } = {}) {
  class FakePC {
    constructor() {
      this.calls = [];
    }
    addTrack(track, ...streams) {
      this.calls.push(['addTrack', track, streams]);
      return { track, via: 'addTrack' };
    }
  }
  if (transceivers) {
    FakePC.prototype.addTransceiver = function (track, init) {
      if (throwing) throw new Error('InvalidAccessError');
      this.calls.push(['addTransceiver', track, init]);
      return { sender: { track, via: 'addTransceiver' } };
    };
  }
  return FakePC;
}

/** Runs the script in a fresh global with `RTCPeerConnection`, returns that global. */
function load(PC) {
  const context = { RTCPeerConnection: PC, console: { warn() {} } };
  context.window = context;
  vm.runInNewContext(SOURCE, context);
  return context;
}

const camera = { kind: 'video', getSettings: () => ({ width: 1280, height: 720 }) };
const screen = { kind: 'video', getSettings: () => ({ displaySurface: 'monitor' }) };
const mic = { kind: 'audio', getSettings: () => ({}) };
const stream = { id: 'local' };

test('a camera track is added with three layers and the sender is returned', () => {
  const PC = fakePeerConnectionClass();
  const g = load(PC);
  const pc = new PC();
  const sender = pc.addTrack(camera, stream);
  assert.equal(sender.via, 'addTransceiver');
  assert.equal(sender.track, camera);
  assert.equal(pc.calls.length, 1);
  const [what, track, init] = pc.calls[0];
  assert.equal(what, 'addTransceiver');
  assert.equal(track, camera);
  assert.equal(init.direction, 'sendonly');
  // (arrays made inside the script's context: compared element by element)
  assert.equal(init.streams.length, 1);
  assert.equal(init.streams[0], stream);
  assert.deepEqual(
    Array.from(init.sendEncodings, (e) => [e.rid, e.scaleResolutionDownBy, e.maxBitrate]),
    [['q', 4, 35000], ['h', 2, 500000], ['f', 1, 1500000]],
  );
  // Each call gets its own copies (the browser may write into them).
  assert.notEqual(init.sendEncodings[0], g.HuddleSimulcast.ENCODINGS[0]);
});

test('audio and screen tracks keep the original addTrack', () => {
  const PC = fakePeerConnectionClass();
  load(PC);
  const pc = new PC();
  assert.equal(pc.addTrack(mic, stream).via, 'addTrack');
  assert.equal(pc.addTrack(screen, stream).via, 'addTrack');
  assert.deepEqual(pc.calls.map((c) => c[0]), ['addTrack', 'addTrack']);
  assert.equal(pc.calls[0][2].length, 1);
  assert.equal(pc.calls[0][2][0], stream);
});

test('installed once, and not where addTransceiver is missing', () => {
  const PC = fakePeerConnectionClass();
  const g = load(PC);
  const wrapped = PC.prototype.addTrack;
  assert.equal(g.HuddleSimulcast.install(PC), true);
  assert.equal(PC.prototype.addTrack, wrapped, 'not wrapped twice');

  const Old = fakePeerConnectionClass({ transceivers: false });
  const original = Old.prototype.addTrack;
  const g2 = load(Old);
  assert.equal(Old.prototype.addTrack, original);
  assert.equal(g2.HuddleSimulcast.install(Old), false);
  assert.equal(new Old().addTrack(camera, stream).via, 'addTrack');
});

test('a browser refusing the encodings still publishes one layer', () => {
  const PC = fakePeerConnectionClass({ throwing: true });
  load(PC);
  const pc = new PC();
  assert.equal(pc.addTrack(camera, stream).via, 'addTrack');
});

test('without RTCPeerConnection the script only defines HuddleSimulcast', () => {
  const context = {};
  vm.runInNewContext(SOURCE, context);
  assert.equal(typeof context.HuddleSimulcast.install, 'function');
  assert.equal(context.HuddleSimulcast.isCamera(camera), true);
  assert.equal(context.HuddleSimulcast.isCamera(screen), false);
  assert.equal(context.HuddleSimulcast.isCamera(null), false);
});
