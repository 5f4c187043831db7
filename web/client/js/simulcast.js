// Opt-in simulcast for Huddle's own apps (classic script, loaded BEFORE the SDK bundle).
//
// The unmodified Flashphoner Web SDK publishes with `pc.addTrack(track, stream)`: one encoding per
// track. This script wraps RTCPeerConnection.prototype.addTrack so that a camera's video track is
// added with `addTransceiver(track, {sendEncodings: [...]})` instead: the browser then sends three
// layers (rid q, h, f: a quarter, half and full resolution), and the server gives each player the
// one its downlink carries (crates/sfu/src/layers.rs). It returns the transceiver's sender, which
// is what addTrack returns, so the SDK's later getSenders()/replaceTrack()/setParameters() calls
// work as before. A server that answers without simulcast (one that does not take layers) gets
// the full picture on one layer instead of q alone. Audio and screen tracks are left to the
// original addTrack. The SDK's own demo pages do not load this script and stay single-layer.
(function (root) {
  'use strict';

  /** The layers, lowest first (browsers send only the first when the server refuses simulcast).
   * q is capped at 35 kbit/s so that two of them with their audio fit a 300 kbit/s downlink on
   * the wire: each player's audio comes as Opus + RED (~50 kbit/s) and every packet carries ~60
   * bytes of headers (~145 packets/s for two players). Measured in the network lab
   * (e2e/netlab/simulcast.test.js, C's two plays): q at 100 kbit/s (Chrome uses all of it)
   * needs ~370 kbit/s and froze C for 24 s; at 50 kbit/s 282 kbit/s, a standing queue and tail
   * drops; at 35 kbit/s 254 kbit/s, no drop. */
  const ENCODINGS = Object.freeze([
    Object.freeze({ rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 35000 }),
    Object.freeze({ rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 }),
    Object.freeze({ rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1500000 }),
  ]);

  /** A camera's video track (not a screen capture, whose settings name a displaySurface). */
  function isCamera(track) {
    if (!track || track.kind !== 'video') return false;
    const settings = typeof track.getSettings === 'function' ? track.getSettings() : {};
    return !(settings && settings.displaySurface);
  }

  /** Whether the answer `sdp` takes the m-section `mid` without simulcast (no a=simulcast line). */
  function answerRefusesLayers(sdp, mid) {
    const section = String(sdp || '').split(/\r?\nm=/).slice(1)
      .find((m) => m.split(/\r?\n/).includes(`a=mid:${mid}`));
    return !!section && !/^a=simulcast:/m.test(section);
  }

  /**
   * After an answer without simulcast (a server that does not take it) the browser sends
   * only the first encoding: q, a quarter of the picture at 35 kbit/s. Make that one layer the
   * full picture without a cap, as the SDK's own addTrack would have sent. Resolves true if it
   * changed the sender.
   */
  async function fullPictureIfRefused(pc, sender) {
    const transceiver = pc.getTransceivers().find((t) => t.sender === sender);
    const answer = pc.remoteDescription;
    if (!transceiver || transceiver.mid === null || !answer || answer.type !== 'answer') return false;
    if (!answerRefusesLayers(answer.sdp, transceiver.mid)) return false;
    const params = sender.getParameters();
    const first = params.encodings && params.encodings[0];
    if (!first || (first.scaleResolutionDownBy === 1 && first.maxBitrate === undefined)) return false;
    first.scaleResolutionDownBy = 1;
    delete first.maxBitrate;
    await sender.setParameters(params);
    return true;
  }

  /**
   * Wraps PeerConnection.prototype.addTrack (once), and setRemoteDescription so that a layered
   * sender whose answer refuses simulcast sends the full picture. Returns false where it cannot
   * apply: no RTCPeerConnection, or no addTransceiver (very old browsers keep single-layer addTrack).
   */
  function install(PeerConnection, encodings = ENCODINGS) {
    const proto = PeerConnection && PeerConnection.prototype;
    if (!proto || typeof proto.addTrack !== 'function' || typeof proto.addTransceiver !== 'function') {
      return false;
    }
    if (proto.addTrack.huddleSimulcast) return true;
    const addTrack = proto.addTrack;
    const layered = new WeakSet();
    function addTrackWithLayers(track, ...streams) {
      if (!isCamera(track)) return addTrack.call(this, track, ...streams);
      try {
        const transceiver = this.addTransceiver(track, {
          direction: 'sendonly',
          streams,
          sendEncodings: encodings.map((e) => ({ ...e })),
        });
        layered.add(transceiver.sender);
        return transceiver.sender;
      } catch (e) {
        // A browser refusing these encodings still publishes, single-layer.
        if (root.console) root.console.warn('simulcast not available, publishing one layer:', e);
        return addTrack.call(this, track, ...streams);
      }
    }
    addTrackWithLayers.huddleSimulcast = true;
    proto.addTrack = addTrackWithLayers;
    const setRemoteDescription = proto.setRemoteDescription;
    if (typeof setRemoteDescription === 'function') {
      // Returns the browser's own promise (legacy callbacks pass through); the check runs after.
      proto.setRemoteDescription = function setRemoteWithLayerCheck(...args) {
        const applied = setRemoteDescription.apply(this, args);
        Promise.resolve(applied).then(() => Promise.all(this.getSenders()
          .filter((sender) => layered.has(sender))
          .map((sender) => fullPictureIfRefused(this, sender))), () => null) // (a refused SRD: the caller's)
          .catch((e) => root.console && root.console.warn('simulcast: one-layer fallback failed:', e));
        return applied;
      };
    }
    return true;
  }

  root.HuddleSimulcast = Object.freeze({ ENCODINGS, install, isCamera, answerRefusesLayers });
  if (root.RTCPeerConnection) install(root.RTCPeerConnection);
})(typeof window !== 'undefined' ? window : globalThis);
