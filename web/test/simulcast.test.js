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

/** A fake peer connection with transceivers, senders and a remote description (`answer` SDP). */
function fakeNegotiatingClass() {
  class FakePC {
    constructor() {
      this.transceivers = [];
      this.remoteDescription = null;
    }
    addTrack(track) {
      return { track, via: 'addTrack' };
    }
    addTransceiver(track, init) {
      const sender = {
        track,
        params: { encodings: init.sendEncodings.map((e) => ({ ...e })) },
        applied: [],
        getParameters() { return JSON.parse(JSON.stringify(this.params)); },
        async setParameters(p) { this.applied.push(p); this.params = p; },
      };
      const transceiver = { sender, mid: null };
      this.transceivers.push(transceiver);
      return transceiver;
    }
    getTransceivers() { return this.transceivers; }
    getSenders() { return this.transceivers.map((t) => t.sender); }
    async setRemoteDescription(desc) {
      this.transceivers.forEach((t, i) => { t.mid = String(i); });
      this.remoteDescription = desc;
    }
  }
  return FakePC;
}

const answer = (simulcast) => ['v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:9',
  'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', ...(simulcast ? ['a=rid:q recv', 'a=simulcast:recv q;h;f'] : []), ''].join('\r\n');
const settle = () => new Promise((r) => setTimeout(r, 0));

test('an answer without simulcast turns the one layer sent into the full picture, uncapped', async () => {
  const PC = fakeNegotiatingClass();
  load(PC);
  const pc = new PC();
  const sender = pc.addTrack(camera, stream);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer(false) });
  await settle();
  assert.equal(sender.applied.length, 1);
  const first = sender.params.encodings[0];
  assert.equal(first.rid, 'q');
  assert.equal(first.scaleResolutionDownBy, 1);
  assert.equal('maxBitrate' in first, false);
  // a second answer (renegotiation) finds nothing left to change
  await pc.setRemoteDescription({ type: 'answer', sdp: answer(false) });
  await settle();
  assert.equal(sender.applied.length, 1);
});

test('an answer with simulcast leaves the layers alone', async () => {
  const PC = fakeNegotiatingClass();
  const g = load(PC);
  const pc = new PC();
  const sender = pc.addTrack(camera, stream);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer(true) });
  await settle();
  assert.equal(sender.applied.length, 0);
  assert.equal(sender.params.encodings[0].scaleResolutionDownBy, 4);
  assert.equal(g.HuddleSimulcast.answerRefusesLayers(answer(true), '0'), false);
  assert.equal(g.HuddleSimulcast.answerRefusesLayers(answer(false), '0'), true);
  assert.equal(g.HuddleSimulcast.answerRefusesLayers(answer(false), '7'), false, 'no such m-section');
});
