// Loaded BEFORE the unmodified Flashphoner SDK bundle. It only keeps references to every
// RTCPeerConnection the SDK creates (for getStats), and, when a test asks for it, applies
// RTCRtpTransceiver.setCodecPreferences right before createOffer to force one codec.
// Nothing in the SDK is changed.
(function () {
  'use strict';
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  // window.__forceCodecs = { video: 'H264' | 'VP8' | ..., audio: 'PCMU' | 'opus' | ... }
  window.__forceCodecs = window.__forceCodecs || {};

  function prefsFor(kind, name) {
    const caps = RTCRtpReceiver.getCapabilities(kind).codecs;
    const pref = caps.filter((c) => c.mimeType.toLowerCase() === (kind + '/' + name).toLowerCase());
    if (!pref.length) throw new Error('codec not supported by this browser: ' + kind + '/' + name);
    const extra = caps.filter((c) => /\/(rtx|red|ulpfec|flexfec-03)$/i.test(c.mimeType) && kind === 'video');
    return [...pref, ...extra];
  }

  class HuddleTestPC extends Native {
    constructor(config, legacyConstraints) {
      super(config, legacyConstraints);
      window.__pcs.push(this);
      // When each step of the connection happened (page clock, ms): the network lab reports
      // where the time to the first frame goes (answer, ICE, DTLS).
      const t = { created: Date.now() };
      this.__timeline = t;
      this.addEventListener('iceconnectionstatechange', () => {
        if (!t.iceConnected && (this.iceConnectionState === 'connected' || this.iceConnectionState === 'completed')) t.iceConnected = Date.now();
      });
      this.addEventListener('connectionstatechange', () => {
        if (!t.connected && this.connectionState === 'connected') t.connected = Date.now();
      });
    }
    setRemoteDescription(...args) {
      const r = super.setRemoteDescription(...args);
      if (r && typeof r.then === 'function') r.then(() => { this.__timeline.answered = this.__timeline.answered || Date.now(); }, () => {});
      return r;
    }
    createOffer(options) {
      const force = window.__forceCodecs || {};
      if (force.video || force.audio) {
        // A play (receive-only) offer uses legacy offerToReceive*: create those transceivers
        // ourselves (audio first, then video, as Chromium would) so preferences can be set.
        const kinds = this.getTransceivers().map((t) => t.receiver.track.kind);
        if (options && options.offerToReceiveAudio && !kinds.includes('audio')) {
          this.addTransceiver('audio', { direction: 'recvonly' });
        }
        if (options && options.offerToReceiveVideo && !kinds.includes('video')) {
          this.addTransceiver('video', { direction: 'recvonly' });
        }
        for (const t of this.getTransceivers()) {
          const kind = t.receiver.track.kind;
          if (force[kind]) t.setCodecPreferences(prefsFor(kind, force[kind]));
        }
      }
      return super.createOffer(options);
    }
  }
  window.RTCPeerConnection = HuddleTestPC;
})();
