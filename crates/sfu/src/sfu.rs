//! The sans-IO media plane: commands, datagrams and time in; datagrams and events out.
//!
//! No sockets, no threads, no clocks: every input carries its `Instant`, so tests can run it in
//! simulated time. The driver (driver.rs) owns the socket and feeds this.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_room::{MediaCommand, MediaEvent, PeerId, RecordRequest, Transport};
use str0m::bwe::{Bitrate, BweKind};
use str0m::media::{KeyframeRequestKind, MediaKind, Mid, Rid};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output};

use crate::bandwidth::VideoChange;
use crate::codecs::{self, SourceCodecs};
use crate::early_nomination;
use crate::forward::{self, Frame, Graph, Written};
use crate::ingest::{self, Ingest, IngestFrame};
use crate::keyframes::KEYFRAME_INTERVAL;
use crate::layers::LayerRate;
use crate::peer::{Peer, Player, Publisher, Role, RtcTemplate, RtcUse};
use crate::sdp_fixups;
use crate::source::Source;
use crate::stats::{Counters, PeerQuality};
use crate::tap::TapId;
use crate::IdMap;

/// How often liveness is checked even when no Rtc asks for a timeout.
const HOUSEKEEPING: Duration = Duration::from_millis(500);

/// RTP mode: datagrams sealed ahead of the driver's sends. Ready players are advanced and
/// polled until this many wait (one `sendmmsg` batch), not all at once: a keyframe fanned out
/// to 100 players sealed at once was ~2,500 datagrams, ~3 MB of heap (issue 15).
const SEAL_AHEAD: usize = crate::sendbatch::BATCH;

/// A packet to send: a UDP datagram, or one RFC 4571 frame on the ICE-TCP connection
/// whose remote address is `destination`.
#[derive(Debug)]
pub struct Transmit {
    pub proto: Protocol,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

impl Transmit {
    /// Gives the sent datagram's buffer back to str0m on this thread, which seals a later
    /// packet into it instead of allocating and zeroing a new one (str0m patch 45). Call it on
    /// the thread that polled the transmit, once its contents are sent.
    pub fn recycle(self) {
        str0m::net::recycle_datagram(self.contents);
    }
}

/// Frames handed to a recorder (see record.rs).
pub trait FrameSink: Send {
    fn frame(&mut self, frame: &Frame);
    fn close(&mut self);
    /// The sink needs a keyframe to go on (a recorder that fell behind the disk, a tap that
    /// dropped video or waits for its start). Looked at after each frame (packet in RTP mode)
    /// handed over: while true, the core asks the publisher through its keyframe gate, at most
    /// once per gate interval, so a lost or ignored request is asked again.
    fn wants_keyframe(&self) -> bool {
        false
    }
    /// A tap ([`Sfu::tap`]) is told its source's codecs before its first frame; `Err` refuses
    /// them (the tap is then closed, not added). Recorders are opened with the codecs instead.
    fn open(&mut self, codecs: &SourceCodecs) -> Result<(), String> {
        let _ = codecs;
        Ok(())
    }
}

/// Opens a recorder for a publisher, or says why it cannot.
pub type RecorderFactory = Box<
    dyn FnMut(PeerId, &RecordRequest, &SourceCodecs) -> Result<Box<dyn FrameSink>, String> + Send,
>;

pub struct Sfu {
    template: RtcTemplate,
    /// Boxed: a `Peer` is ~10 KiB inline (str0m's `Rtc`), and the map keeps up to twice its
    /// length in slots after growing: spare slots should cost a pointer, not a `Peer`.
    peers: IdMap<Box<Peer>>,
    graph: Graph,
    /// Last peer seen at a remote address: the fast path of the demux.
    by_addr: HashMap<SocketAddr, PeerId>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<MediaEvent>,
    /// Rtc events waiting to be handled, with the peer they came from.
    work: VecDeque<(PeerId, Event)>,
    /// Every publisher (WebRTC or ingest) with what it owns beside its Rtc: its recorder,
    /// and for an ingest its codecs and counters. A WebRTC publisher's Rtc is in `peers`,
    /// its players in `graph`; [`Sfu::close`] is the one path that ends all of it.
    sources: IdMap<Source>,
    recorder_factory: Option<RecorderFactory>,
    counters: Arc<Counters>,
    next_housekeeping: Instant,
    earliest: Instant,
    /// Each peer's next timeout (`Peer::next_timeout`, mirrored): walked per timeout
    /// without touching the peers (deadlines.rs).
    deadlines: crate::deadlines::Deadlines,
    /// Reused list of peers whose timers are due.
    scratch: Vec<PeerId>,
    /// Keeps peers that can use UDP off ICE-TCP.
    udp_first: crate::udp_first::UdpFirst,
    /// Frame or RTP-mode forwarding for publishers opened from now on (rtp/).
    forwarding: crate::rtp::Forwarding,
    /// Publishers get H.264 when their offer has it (codecs::choose_publisher_codecs).
    prefer_h264: bool,
    /// RTP mode: players written to whose Rtc was not yet advanced and polled (once per
    /// publisher frame, not per packet: rtp/batch.rs).
    rtp_batch: crate::rtp::batch::WriteBatch,
}

impl Sfu {
    /// `candidates` go into answers (and resolve wildcard destinations).
    pub(crate) fn new(candidates: Vec<SocketAddr>, counters: Arc<Counters>, now: Instant) -> Sfu {
        let cert = str0m::crypto::from_feature_flags()
            .dtls_provider
            .generate_certificate()
            .expect("DTLS certificate generation");
        Sfu {
            template: RtcTemplate {
                cert,
                candidates,
                tcp_candidates: Vec::new(),
                dtls_client: crate::dtls_client::DEFAULT,
            },
            peers: IdMap::default(),
            graph: Graph::default(),
            by_addr: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            work: VecDeque::new(),
            sources: IdMap::default(),
            recorder_factory: None,
            counters,
            next_housekeeping: now + HOUSEKEEPING,
            earliest: now,
            deadlines: Default::default(),
            scratch: Vec::new(),
            udp_first: Default::default(),
            forwarding: Default::default(),
            prefer_h264: false,
            rtp_batch: Default::default(),
        }
    }

    /// A standalone core with its own counters (tests, benchmarks).
    pub fn new_standalone(candidates: Vec<SocketAddr>, now: Instant) -> Sfu {
        Sfu::new(candidates, Arc::new(Counters::default()), now)
    }

    /// Passive ICE-TCP host candidates, announced in every answer beside the UDP ones.
    pub fn set_tcp_candidates(&mut self, candidates: Vec<SocketAddr>) {
        self.template.tcp_candidates = candidates;
    }

    /// Whether peers opened from now on take the DTLS client role when the offer leaves it
    /// to us (dtls_client.rs; [`crate::SfuConfig::dtls_client`]).
    pub fn set_dtls_client(&mut self, client: bool) {
        self.template.dtls_client = client;
    }

    /// The driver could not read the network for `stalled` until `now` (a long turn, the
    /// process suspended). Silence in that window is the server's, not the peers': their
    /// liveness clocks are moved forward by it, so no live peer is failed for it.
    pub fn note_stall(&mut self, now: Instant, stalled: Duration) {
        tracing::warn!("media thread stalled for {stalled:?}; peers are not blamed for it");
        for peer in self.peers.values_mut() {
            peer.excuse_stall(now, stalled);
        }
    }

    /// How publishers opened from now on reach their players ([`crate::rtp::Forwarding`]).
    pub fn set_forwarding(&mut self, forwarding: crate::rtp::Forwarding) {
        self.forwarding = forwarding;
    }

    /// Whether publishers opened from now on are answered with H.264 (Constrained Baseline
    /// first) when their offer has it, whatever the offer's order: RTMP players can then play
    /// every browser's stream ([`crate::SfuConfig::prefer_h264`]).
    pub fn set_prefer_h264(&mut self, prefer: bool) {
        self.prefer_h264 = prefer;
    }

    pub fn set_recorder_factory(&mut self, f: RecorderFactory) {
        self.recorder_factory = Some(f);
    }

    pub fn stats(&self) -> crate::MediaStats {
        self.counters.snapshot()
    }

    /// The next datagram to send. When the queue is empty, RTP-mode players whose frame has
    /// ended are advanced and polled first, a batch's worth at a time (rtp/batch.rs): frames
    /// that ended since the last call share one Rtc pass per player.
    // Out of line, as `handle_datagram` and `handle_timeout`: tests/instructions.rs counts the
    // core's entry points by name, and the `dist` profile's link-time optimisation would
    // otherwise inline them into the driver.
    #[inline(never)]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.transmits.is_empty() {
            self.send_ready_frames();
        }
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// When [`Sfu::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Instant {
        let held = self.rtp_batch.due().unwrap_or(self.next_housekeeping);
        let ready = self.rtp_batch.ready_at().unwrap_or(self.next_housekeeping);
        self.earliest
            .min(self.next_housekeeping)
            .min(held)
            .min(ready)
    }

    /// RTP mode, once the players of the frames that ended last have been polled and all
    /// their datagrams handed out: when the oldest of those frames ended (once per fan-out).
    /// The driver times the fan-out from then to when it has sent them (fanout_time.rs).
    pub fn take_fanned_out(&mut self) -> Option<Instant> {
        if !self.transmits.is_empty() {
            return None;
        }
        self.rtp_batch.take_fanned_out()
    }

    /// The driver sent the last datagram of a fan-out `took` after its frame ended.
    pub fn record_fanout(&self, took: Duration) {
        self.counters.fanout.record(took);
    }

    /// A transmit could not be sent by the driver.
    pub fn count_send_error(&mut self) {
        Counters::add(&self.counters.dropped, 1);
    }

    /// WebRTC peers and ingest publishers.
    pub fn peer_count(&self) -> usize {
        self.peers.len() + self.sources.values().filter(|s| s.ingest.is_some()).count()
    }

    // ---------------------------------------------------------------- commands

    pub fn handle_command(&mut self, cmd: MediaCommand, now: Instant) {
        match cmd {
            MediaCommand::Publish {
                peer,
                offer,
                transport,
                record,
                ..
            } => self.publish(peer, &offer, transport, record, now),
            MediaCommand::Ingest {
                peer,
                codecs,
                record,
                ..
            } => self.open_ingest(peer, &codecs, record),
            MediaCommand::Play {
                peer,
                source,
                offer,
                transport,
                constraints,
            } => self.play(peer, source, &offer, transport, constraints, now),
            MediaCommand::Close { peer } => self.close(peer, now),
        }
        self.process_work(now);
    }

    fn publish(
        &mut self,
        id: PeerId,
        offer: &str,
        transport: Transport,
        record: Option<RecordRequest>,
        now: Instant,
    ) {
        if self.peers.contains_key(&id) {
            self.fail_new(id, "Failed by error: peer id already in use");
            return;
        }
        let offered = codecs::parse_offer(offer);
        let chosen = match codecs::choose_publisher_codecs(&offered, self.prefer_h264) {
            Ok(c) => c,
            Err(reason) => {
                // A text that str0m cannot parse is a bad SDP, whatever the codecs say.
                if let Err(e) = str0m::change::SdpOffer::from_sdp_string(offer) {
                    return self.fail_new(id, &format!("Bad SDP: {e}"));
                }
                return self.fail_new(id, &reason);
            }
        };
        let config = str0m::format::CodecConfig::new_from_payload_params(chosen);
        let rtp_mode = self.forwarding == crate::rtp::Forwarding::Rtp;
        let (rtc, answer) =
            match self
                .template
                .accept(offer, config, RtcUse::Publish, rtp_mode, transport, now)
            {
                Ok(v) => v,
                Err(reason) => return self.fail_new(id, &reason),
            };
        if transport == Transport::Tcp {
            self.udp_first.tcp_only(id);
        }

        let mut state = Publisher {
            audio_mid: None,
            video_mid: None,
            codecs: SourceCodecs::default(),
            last_media: None,
            video_wallclock: None,
            keyframes: Default::default(),
            hold: Default::default(),
            audio_rate: Default::default(),
            video_rate: Default::default(),
            video_nacks_out: Default::default(),
            rtp: rtp_mode.then(Default::default),
            simulcast: None,
        };
        for m in &offered {
            let (Some(kind), Some(mid)) = (m.kind, m.mid.as_deref()) else {
                continue;
            };
            let mid = Mid::from(mid);
            let Some(media) = rtc.media(mid) else {
                continue;
            };
            let pts = media.remote_pts();
            let params = rtc
                .codec_config()
                .params()
                .iter()
                .find(|p| p.spec().codec.kind() == kind && pts.contains(&p.pt()))
                .copied();
            let Some(params) = params else {
                continue;
            };
            match kind {
                MediaKind::Audio if state.audio_mid.is_none() => {
                    state.audio_mid = Some(mid);
                    state.codecs.audio = Some(params);
                }
                MediaKind::Video if state.video_mid.is_none() => {
                    state.video_mid = Some(mid);
                    state.codecs.video = Some(params);
                }
                _ => {}
            }
        }
        if state.audio_mid.is_none() && state.video_mid.is_none() {
            return self.fail_new(id, "No common codecs");
        }
        if let Some(str0m::media::Rids::Specific(rids)) = state
            .video_mid
            .and_then(|m| rtc.media(m))
            .map(|m| m.rids_rx())
        {
            if !rids.is_empty() {
                tracing::info!("publish {id}: simulcast, layers {rids:?}");
                state.simulcast = Some(Box::new(crate::simulcast::SimulcastIn::new(rids)));
            }
        }
        let recorder = self.open_recorder(id, record.as_ref(), &state.codecs);
        self.sources.insert(id, Source::new(recorder, None));

        // " in RED": the answer lists RED first, so the browser sends it (codecs::supported).
        let red = state
            .codecs
            .audio
            .and_then(|p| p.red())
            .map_or("", |_| " in RED");
        tracing::info!(
            "publish {id}: audio {:?}{red} video {:?}",
            state.codecs.audio.map(|p| p.spec().codec),
            state.codecs.video.map(|p| p.spec().codec)
        );
        self.events.push_back(MediaEvent::Answer {
            peer: id,
            sdp: answer,
        });
        let mut peer = Peer::new(id, rtc, Role::Publisher(Box::new(state)), now);
        set_next_timeout(&mut self.deadlines, &mut peer, now);
        self.peers.insert(id, Box::new(peer));
        self.graph.add_publisher(id);
        Counters::add(&self.counters.publishers, 1);
        self.poll_peer(id);
    }

    /// Opens a publisher's recorder, if it asked for one; a recorder that cannot be opened
    /// is reported ([`MediaEvent::RecordingFailed`]), the stream goes on without it.
    fn open_recorder(
        &mut self,
        id: PeerId,
        record: Option<&RecordRequest>,
        codecs: &SourceCodecs,
    ) -> Option<Box<dyn FrameSink>> {
        let req = record?;
        let factory = self.recorder_factory.as_mut()?;
        match factory(id, req, codecs) {
            Ok(sink) => Some(sink),
            Err(reason) => {
                tracing::warn!("{id}: recording {:?} not started: {reason}", req.file_name);
                self.events
                    .push_back(MediaEvent::RecordingFailed { peer: id, reason });
                None
            }
        }
    }

    /// Registers an ingest publisher; it is live at once (Connected right away).
    fn open_ingest(
        &mut self,
        id: PeerId,
        wanted: &huddle_room::IngestCodecs,
        record: Option<RecordRequest>,
    ) {
        if self.peers.contains_key(&id) || self.sources.contains_key(&id) {
            return self.fail_new(id, "Failed by error: peer id already in use");
        }
        let codecs = match ingest::source_codecs(wanted) {
            Ok(c) => c,
            Err(reason) => return self.fail_new(id, &reason),
        };
        let recorder = self.open_recorder(id, record.as_ref(), &codecs);
        tracing::info!("ingest {id}: {wanted:?}");
        let ingest = Ingest {
            codecs,
            frames_in: 0,
            latency: Default::default(),
        };
        self.sources.insert(id, Source::new(recorder, Some(ingest)));
        self.graph.add_publisher(id);
        Counters::add(&self.counters.publishers, 1);
        self.events.push_back(MediaEvent::Connected { peer: id });
    }

    /// A frame for the ingest publisher `id`; dropped (and counted) when no such ingest is
    /// open (it was refused or closed).
    pub fn handle_ingest(&mut self, id: PeerId, frame: IngestFrame, now: Instant) {
        let Some(source) = self.sources.get_mut(&id) else {
            Counters::add(&self.counters.ingest_dropped, 1);
            return;
        };
        let Some(ing) = source.ingest.as_mut() else {
            Counters::add(&self.counters.ingest_dropped, 1);
            return;
        };
        ing.frames_in += 1;
        let frame = frame.into_frame();
        source.frame_out(&frame);
        self.forward(id, &frame, None, now);
        self.process_work(now);
    }

    fn play(
        &mut self,
        id: PeerId,
        source: PeerId,
        offer: &str,
        transport: Transport,
        constraints: huddle_room::PlayConstraints,
        now: Instant,
    ) {
        if self.peers.contains_key(&id) {
            self.fail_new(id, "Failed by error: peer id already in use");
            return;
        }
        let Some(source_codecs) = self.source_codecs(source) else {
            return self.fail_new(id, "Stream not found");
        };
        if let Err(reason) =
            codecs::check_player_profile(&source_codecs, &codecs::parse_offer(offer))
        {
            return self.fail_new(id, &reason);
        }
        let config = codecs::player_config(&source_codecs);
        // A source's tracks are fixed at its publish: without video, its players never get any.
        let rtc_use = match source_codecs.get(MediaKind::Video) {
            Some(_) => RtcUse::PlayVideo,
            None => RtcUse::PlayAudio,
        };
        // Players of a publisher in RTP mode are in RTP mode too; players of an ingest
        // (frames, not packets) stay in frame mode.
        let rtp_mode = matches!(self.peers.get(&source).map(|p| &p.role),
            Some(Role::Publisher(p)) if p.rtp.is_some());
        let (mut rtc, answer) = match self
            .template
            .accept(offer, config, rtc_use, rtp_mode, transport, now)
        {
            Ok(v) => v,
            Err(reason) => return self.fail_new(id, &reason),
        };
        if transport == Transport::Tcp {
            self.udp_first.tcp_only(id);
        }

        let mut state = Player {
            source,
            audio: None,
            video: None,
            waiting_keyframe: true,
            bandwidth: Default::default(),
            starved: false,
            last_keyframe_ask: None,
            video_frames_dropped: 0,
            headroom: Default::default(),
            playout: Default::default(),
            rtp: Default::default(),
            // What its playStream asked for caps its layer (layers.rs).
            layer_choice: crate::layers::LayerChooser::capped(constraints),
            layer: Default::default(),
        };
        let mut wanted_any = false;
        for m in codecs::parse_offer(offer) {
            let (Some(kind), Some(mid)) = (m.kind, m.mid.as_deref()) else {
                continue;
            };
            let Some(params) = source_codecs.get(kind) else {
                continue;
            };
            wanted_any = true;
            let mid = Mid::from(mid);
            // str0m rejects (port 0) an m-line without a common codec; check it is live.
            // (What `Writer::match_params` does; a Writer does not exist in RTP mode.)
            let pt = rtc
                .codec_config()
                .match_params(*params)
                .map(|p| p.pt())
                .filter(|pt| {
                    rtc.media(mid).is_some_and(|m| {
                        !m.disabled() && m.direction().is_sending() && m.remote_pts().contains(pt)
                    })
                });
            let Some(pt) = pt else {
                return self.fail_new(id, "No common codecs");
            };
            match kind {
                MediaKind::Audio if state.audio.is_none() => state.audio = Some((mid, pt)),
                MediaKind::Video if state.video.is_none() => state.video = Some((mid, pt)),
                _ => {}
            }
        }
        if !wanted_any {
            return self.fail_new(id, "No common codecs");
        }
        if let Some((mid, _)) = state.video {
            crate::peer::set_resend_limits(&mut rtc, mid);
        }

        let answer = sdp_fixups::unify_stream_id(&answer, &format!("huddle-{source}"));
        self.events.push_back(MediaEvent::Answer {
            peer: id,
            sdp: answer,
        });
        let has_video = state.video.is_some();
        // Of a simulcast source: the first layer, the lowest (no estimate yet: layers.rs);
        // none yet when the source has sent nothing: then at the first estimate.
        if let Some(layers) = self.source_layers(source, now) {
            if let Some(rid) = state.layer_choice.choose(&layers.0, None, layers.1, now) {
                tracing::info!("{id}: starts on layer {rid} of {source}");
                state.layer.target = Some(rid);
            }
        }
        let first_layer = state.layer.keyframe_layer();
        let mut peer = Peer::new(id, rtc, Role::Player(Box::new(state)), now);
        set_next_timeout(&mut self.deadlines, &mut peer, now);
        self.peers.insert(id, Box::new(peer));
        self.graph.add_player(source, id);
        Counters::add(&self.counters.players, 1);
        self.poll_peer(id);
        if has_video {
            // The player's first keyframe, asked for now: it travels from the publisher while
            // the player connects (the netlab high-RTT run: asked on Connected, it came one
            // publisher RTT late). The request on Connected follows through the same gate.
            self.ask_keyframe(source, KeyframeRequestKind::Fir, true, first_layer, now);
        }
    }

    /// The negotiated codecs of a source (WebRTC publisher or ingest).
    fn source_codecs(&self, source: PeerId) -> Option<SourceCodecs> {
        match self.peers.get(&source).map(|p| &p.role) {
            Some(Role::Publisher(p)) => Some(p.codecs.clone()),
            _ => self
                .sources
                .get(&source)
                .and_then(|s| s.ingest.as_ref())
                .map(|ing| ing.codecs.clone()),
        }
    }

    /// Adds a tap on `source`: `sink` is told the source's codecs ([`FrameSink::open`]; it may
    /// refuse them) and then gets every frame the source publishes, beside its recorder, until
    /// [`Sfu::untap`] or the source closes. The publisher is asked for a keyframe so that the
    /// tap can start soon. A source that does not exist (any more) closes the sink at once.
    pub fn tap(&mut self, source: PeerId, id: TapId, mut sink: Box<dyn FrameSink>, now: Instant) {
        let codecs = self
            .source_codecs(source)
            .filter(|_| self.sources.contains_key(&source));
        let Some(codecs) = codecs else {
            tracing::info!("tap {id} on {source}: no such source");
            sink.close();
            return;
        };
        if let Err(reason) = sink.open(&codecs) {
            tracing::info!("tap {id} on {source} refused: {reason}");
            sink.close();
            return;
        }
        if let Some(s) = self.sources.get_mut(&source) {
            s.taps.add(id, sink);
        }
        tracing::info!("tap {id} on {source} added");
        if codecs.video.is_some() {
            let layer = self.record_layer(source);
            self.ask_keyframe(source, KeyframeRequestKind::Fir, true, layer, now);
            self.process_work(now);
        }
    }

    /// Removes (and closes) a tap; nothing if it or its source is gone.
    pub fn untap(&mut self, source: PeerId, id: TapId) {
        if let Some(s) = self.sources.get_mut(&source) {
            if s.taps.remove(id) {
                tracing::info!("tap {id} on {source} removed");
            }
        }
    }

    /// Ends a peer of any kind: a source (WebRTC publisher or ingest) with its recorder and
    /// fan-out, or a player. The one close path.
    fn close(&mut self, id: PeerId, now: Instant) {
        if let Some(source) = self.sources.remove(&id) {
            self.graph.remove_publisher(id);
            Counters::sub(&self.counters.publishers, 1);
            source.close(id);
        }
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        self.deadlines.remove(id);
        if let Role::Player(p) = &peer.role {
            self.graph.remove_player(p.source, id);
            Counters::sub(&self.counters.players, 1);
        }
        self.by_addr.retain(|_, p| *p != id);
        self.udp_first.forget(id);
        // Say goodbye (RTCP BYE, DTLS close_notify), bounded. Not to an Rtc that panicked.
        if !peer.panicked && peer.rtc.is_alive() && peer.rtc.close().is_ok() {
            let _ = peer.advance(now);
            for _ in 0..64 {
                match peer.output() {
                    Ok(Output::Transmit(t)) => self.queue_transmit(t),
                    Ok(Output::Event(_)) => {}
                    Ok(Output::Timeout(_)) | Err(_) => break,
                }
            }
        }
        tracing::info!("closed {id}");
    }

    /// Reports a failure for a peer that was never created.
    fn fail_new(&mut self, id: PeerId, reason: &str) {
        tracing::info!("{id} failed: {reason}");
        self.events.push_back(MediaEvent::Failed {
            peer: id,
            reason: reason.to_string(),
        });
    }

    /// Stops everything (recordings closed cleanly). Peers are dropped.
    pub fn shutdown(&mut self, now: Instant) {
        let mut ids: Vec<PeerId> = self.peers.keys().copied().collect();
        ids.extend(self.sources.keys().copied());
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            self.close(id, now);
        }
    }

    // ---------------------------------------------------------------- network

    /// One received UDP datagram. `destination` is the local socket address it arrived on.
    // Out of line, as `poll_transmit` (callgrind counts the entry points by name).
    #[inline(never)]
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        self.handle_receive(now, Protocol::Udp, source, destination, data);
    }

    /// One received packet: a UDP datagram or one ICE-TCP frame (`Protocol::Tcp`; `source` is
    /// the connection's remote address, `destination` its local address).
    pub fn handle_receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        Counters::add(&self.counters.packets_in, 1);
        Counters::add(&self.counters.bytes_in, data.len() as u64);
        if destination.ip().is_loopback() && !source.ip().is_loopback() {
            // A server bound to loopback talks to loopback peers only: never answer (and so
            // never send to) another address, even one of this host's own interfaces.
            Counters::add(&self.counters.dropped, 1);
            return;
        }
        let candidates = match proto {
            Protocol::Udp => &self.template.candidates,
            _ => &self.template.tcp_candidates,
        };
        let destination = crate::candidates::destination_for(destination, source, candidates);
        let Ok(contents) = DatagramRecv::try_from(data) else {
            Counters::add(&self.counters.dropped, 1);
            return;
        };
        let receive = |contents| {
            Input::Receive(
                now,
                Receive {
                    proto,
                    source,
                    destination,
                    contents,
                },
            )
        };
        let input = receive(contents);

        let cached = self.by_addr.get(&source).copied().filter(|id| {
            self.peers
                .get(id)
                .is_some_and(|p| !p.failed && p.rtc.accepts(&input))
        });
        let id = cached.or_else(|| {
            self.peers
                .values()
                .find(|p| !p.failed && p.rtc.accepts(&input))
                .map(|p| p.id)
        });
        let Some(id) = id else {
            Counters::add(&self.counters.dropped, 1);
            return;
        };
        let peer = self.peers.get_mut(&id).expect("peer found above");
        if !self.udp_first.admit(id, proto, peer.created, now) {
            // ICE-TCP input of a peer that has (or may soon have) UDP: see udp_first.rs.
            Counters::add(&self.counters.dropped, 1);
            return;
        }
        if cached.is_none() {
            self.by_addr.insert(source, id);
        }
        peer.last_rx = now;
        if now > peer.now {
            peer.now = now;
        }
        // Until ICE is up, the browser's first valid check counts as its nomination, so DTLS
        // need not wait for the real one (about a second): see early_nomination.rs.
        let nominating = (proto == Protocol::Udp && !peer.ice_connected)
            .then(|| early_nomination::nominate_early(data, &peer.local_ice_pwd))
            .flatten();
        let input = match nominating.as_deref().map(DatagramRecv::try_from) {
            Some(Ok(contents)) => receive(contents),
            _ => input,
        };
        if let Err(e) = peer.input(input) {
            // One bad datagram must not kill a call: count it, keep going.
            tracing::debug!("{id}: input rejected: {e}");
            Counters::add(&self.counters.dropped, 1);
            if peer.panicked {
                // The WebRTC stack broke on this peer: fail it, the others go on.
                self.fail(id, "Failed by error: internal error in the WebRTC stack");
                self.process_work(now);
                return;
            }
        }
        self.poll_peer(id);
        self.process_work(now);
    }

    // Out of line, as `poll_transmit` (callgrind counts the entry points by name).
    #[inline(never)]
    pub fn handle_timeout(&mut self, now: Instant) {
        self.send_ready_frames();
        if self.rtp_batch.due().is_some_and(|t| t <= now) {
            self.flush_rtp(now);
        }
        let housekeeping = now >= self.next_housekeeping;
        let mut due = std::mem::take(&mut self.scratch);
        due.clear();
        self.deadlines.due(now, &mut due);
        let mut failed: Vec<(PeerId, &'static str)> = Vec::new();
        if housekeeping {
            for peer in self.peers.values() {
                if let Some(reason) = peer.check_liveness(now) {
                    failed.push((peer.id, reason));
                }
            }
        }
        for &id in &due {
            if let Some(peer) = self.peers.get_mut(&id) {
                if let Err(e) = peer.advance(now) {
                    tracing::debug!("{id}: timeout input failed: {e}");
                }
                set_next_timeout(&mut self.deadlines, peer, now + HOUSEKEEPING);
            }
            self.poll_peer(id);
        }
        for (id, reason) in failed {
            self.fail(id, reason);
        }
        if housekeeping {
            self.rechoose_record_layers(now);
            self.adapt_to_bandwidth(now);
            self.rerequest_keyframes(now);
            self.publish_quality();
        }
        self.flush_keyframe_requests(now);
        self.scratch = due;
        if housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING;
        }
        let cap = now + HOUSEKEEPING;
        self.earliest = self.deadlines.earliest().map_or(cap, |t| t.min(cap));
        for (_, state) in publishers(&self.sources, &self.peers) {
            if let Some(due) = state.keyframes.next_due() {
                self.earliest = self.earliest.min(due);
            }
        }
        self.process_work(now);
    }

    /// A player still waiting for a keyframe (joined, resumed, or its queue drained) asks its
    /// publisher again. One request is not enough: a publisher may ignore one (Chrome drops
    /// a request within 300 ms of the previous one), and the player would wait until the
    /// next periodic keyframe, or forever. Paused and starved players do not ask.
    fn rerequest_keyframes(&mut self, now: Instant) {
        let waiting: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| {
                matches!(&p.role, Role::Player(pl)
                    if pl.waiting_keyframe && pl.video.is_some() && p.connected.is_some())
            })
            .map(|p| p.id)
            .collect();
        for player in waiting {
            self.player_wants_keyframe(player, KeyframeRequestKind::Pli, now);
        }
    }

    /// Simulcast sources: the recorder and taps move to the highest layer being sent (it may
    /// have stopped or come back); the new layer is asked for a keyframe.
    fn rechoose_record_layers(&mut self, now: Instant) {
        let simulcast: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| matches!(&p.role, Role::Publisher(s) if s.simulcast.is_some()))
            .map(|p| p.id)
            .collect();
        for id in simulcast {
            self.rechoose_record_layer(id, now);
        }
    }

    /// [`Sfu::rechoose_record_layers`] for one source.
    fn rechoose_record_layer(&mut self, id: PeerId, now: Instant) {
        let Some(Role::Publisher(state)) = self.peers.get_mut(&id).map(|p| &mut p.role) else {
            return;
        };
        let Some(rid) = state
            .simulcast
            .as_mut()
            .and_then(|s| s.choose_record_layer(now))
        else {
            return;
        };
        let taps = self
            .sources
            .get(&id)
            .is_some_and(|s| s.recorder.is_some() || !s.taps.is_empty());
        if taps {
            self.ask_keyframe(id, KeyframeRequestKind::Pli, false, Some(rid), now);
        }
    }

    /// Pauses or resumes each player's video by its bandwidth estimate (bandwidth.rs), and
    /// tells its estimator what to probe for.
    fn adapt_to_bandwidth(&mut self, now: Instant) {
        let players: Vec<(PeerId, PeerId)> = self
            .peers
            .values()
            .filter_map(|p| match &p.role {
                Role::Player(pl) if pl.video.is_some() && p.connected.is_some() && !p.failed => {
                    Some((p.id, pl.source))
                }
                _ => None,
            })
            .collect();
        for (id, source) in players {
            self.adapt_player(id, source, true, now);
        }
    }

    /// Re-evaluates one player's video state; on a housekeeping tick also tells its
    /// estimator what to sustain and probe for.
    fn adapt_player(&mut self, id: PeerId, source: PeerId, tick: bool, now: Instant) {
        let need = self.source_need_bps(source, now);
        let layers = self.source_layers(source, now);
        let mates = if layers.is_some() {
            self.link_mates(id)
        } else {
            Vec::new()
        };
        let mut switch_to = None;
        {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            if peer.connected.is_none() || peer.failed {
                return;
            }
            let Role::Player(state) = &mut peer.role else {
                return;
            };
            // Of a simulcast source: the layer for this estimate, and what the player needs:
            // the lowest layer not to be paused, its own layer for the pacer check, the next
            // layer up for the estimator to probe toward (simulcast.rs, layers.rs).
            let (need, own_need, probe_need) = match &layers {
                Some((layers, audio)) if !layers.is_empty() => {
                    let estimate = state.bandwidth.estimate_bps;
                    let budget = crate::layers::player_budget(estimate, &mates);
                    state.layer_choice.link_busy = mates.iter().any(|m| m.probing);
                    if let Some(rid) = state.layer_choice.choose(layers, budget, *audio, now) {
                        tracing::info!(
                            "{id}: layer {rid} of {source} chosen for an estimate of {} kbit/s, budget {} kbit/s ({} other players on its link)",
                            estimate.unwrap_or(0) / 1000,
                            budget.unwrap_or(0) / 1000,
                            mates.len()
                        );
                        state.layer.target = Some(rid);
                        switch_to = Some(rid);
                    }
                    let at =
                        |rid: Option<Rid>| rid.and_then(|r| layers.iter().position(|l| l.rid == r));
                    let own = at(state.layer.current())
                        .or(at(state.layer.target))
                        .unwrap_or(0);
                    let target = at(state.layer.target).unwrap_or(own);
                    // The estimator aims at the next layer or at the own one (layers.rs).
                    let own_need = layers[own].bps + audio;
                    let roomy = crate::layers::aim_above_own_layer(
                        budget,
                        own_need,
                        state.layer_choice.estimator_aimed,
                        &mates,
                    );
                    let next = if roomy {
                        (target + 1).min(layers.len() - 1)
                    } else {
                        own
                    };
                    (layers[0].bps + audio, own_need, layers[next].bps + audio)
                }
                _ => (need, need, need),
            };
            if let Some(bps) = state.bandwidth.estimator_reset_due(now) {
                tracing::info!(
                    "{id}: estimate dragged down by a media-loop stall; estimator restarts from {} kbit/s",
                    bps / 1000
                );
                peer.rtc.bwe().reset(Bitrate::from(bps as f64));
            }
            // Paused: restart the estimator low so that its initial probes test the need.
            if let Some(bps) = state.bandwidth.paused_probe_due(now) {
                tracing::debug!(
                    "{id}: paused; estimator restarts from {} kbit/s to probe",
                    bps / 1000
                );
                peer.rtc.bwe().reset(Bitrate::from(bps as f64));
            }
            // A lossy but fast link: the pacer, not the link, holds video back (headroom.rs).
            // Not while the player reports heavy loss: that is a link too slow, whose lowest
            // round trip may already hold its full queue (bandwidth.rs CONGESTION_LOSS). Not
            // while paused: a restart from 2.5x the need would resume the video without any
            // measurement of the link (the paused player's probes decide, bandwidth.rs).
            let vetoed = state.bandwidth.paused || state.bandwidth.heavy_loss(now);
            if let (Some((mid, _)), false) = (state.video, vetoed) {
                let age = crate::headroom::video_queue_age(&mut peer.rtc, mid, now);
                let estimate = state.bandwidth.estimate_bps;
                if let Some(bps) = state.headroom.restart_due(age, estimate, own_need, now) {
                    tracing::info!(
                        "{id}: video waited {} ms in the pacer, estimate {} kbit/s for a {} kbit/s stream on an uncongested link: estimator restarts from {} kbit/s",
                        age.as_millis(),
                        estimate.unwrap_or(0) / 1000,
                        need / 1000,
                        bps / 1000
                    );
                    peer.rtc.bwe().reset(Bitrate::from(bps as f64));
                    state.bandwidth.estimate_bps = Some(bps);
                }
            }
            let change = state.bandwidth.evaluate(need, now);
            let estimate = state.bandwidth.estimate_bps.unwrap_or(0);
            match change {
                Some(VideoChange::Paused) => match state.bandwidth.heavy_loss_pause() {
                    // The averaged estimate may still be above the need then: say what paused.
                    Some((current, loss)) => tracing::info!(
                        "{id}: video paused: {:.0} % of what we sent lost, current estimate {} kbit/s below the {} kbit/s the stream of {source} needs; audio continues",
                        loss * 100.0,
                        current / 1000,
                        need / 1000
                    ),
                    None => tracing::info!(
                        "{id}: video paused: estimate {} kbit/s below the {} kbit/s the stream of {source} needs; audio continues",
                        estimate / 1000,
                        need / 1000
                    ),
                },
                Some(VideoChange::Resumed) => {
                    tracing::info!(
                        "{id}: video resumed: estimate {} kbit/s, need {} kbit/s",
                        estimate / 1000,
                        need / 1000
                    );
                    state.waiting_keyframe = true;
                    state.starved = false;
                }
                None => {}
            }
            // A layer probe pads the link up to its goal (layer_probe.rs), set at once when
            // it starts or ends, not at the next tick.
            let padding = state.layer_choice.probe.padding_goal();
            let padding_changed = padding != state.layer_choice.applied_padding;
            let targets = if tick && state.bandwidth.paused {
                state.bandwidth.bwe_targets(need)
            } else if tick || padding_changed {
                state.layer_choice.applied_padding = padding;
                state
                    .bandwidth
                    .bwe_targets(probe_need)
                    .map(|(minimum, desired)| match padding {
                        Some(goal) => (goal as f64, desired.max(goal as f64 * 1.5)),
                        None => (minimum, desired),
                    })
            } else {
                None
            };
            if let Some((minimum, desired)) = targets {
                state.layer_choice.estimator_aimed = true;
                peer.rtc
                    .bwe()
                    .set_bitrate(Bitrate::from(minimum), Bitrate::from(desired));
            }
            if change == Some(VideoChange::Resumed) {
                self.player_wants_keyframe(id, KeyframeRequestKind::Pli, now);
            }
        }
        if let Some(rid) = switch_to {
            // The switch happens at this layer's next keyframe; the old layer flows until then.
            self.ask_keyframe(source, KeyframeRequestKind::Pli, false, Some(rid), now);
        }
        self.poll_peer(id);
    }

    /// The other players of simulcast sources on `id`'s downlink, for its layer budget
    /// (layers.rs). One downlink is taken to be one remote IP address: the media plane sees
    /// addresses, not signalling sessions, and the players of one browser (or of several
    /// behind one NAT) reach us from one IP; `player_budget` never lets a mate's estimate lift
    /// a player above its own, so a shared IP with separate links costs at most a lower
    /// layer. Players of single-layer sources are left out: their rate is not ours to choose
    /// and their estimate is left out with them.
    fn link_mates(&self, id: PeerId) -> Vec<crate::layers::LinkMate> {
        let Some(ip) = self
            .by_addr
            .iter()
            .find(|(_, p)| **p == id)
            .map(|(a, _)| a.ip())
        else {
            return Vec::new();
        };
        let mut ids: Vec<PeerId> = self
            .by_addr
            .iter()
            .filter(|(a, p)| a.ip() == ip && **p != id)
            .map(|(_, p)| *p)
            .collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .filter_map(|m| match &self.peers.get(&m)?.role {
                Role::Player(pl) if pl.video.is_some() && pl.layer.target.is_some() => {
                    Some(crate::layers::LinkMate {
                        estimate_bps: pl.bandwidth.estimate_bps,
                        need_bps: pl.layer_choice.need_bps,
                        probing: pl.layer_choice.probe.padding_goal().is_some(),
                    })
                }
                _ => None,
            })
            .collect()
    }

    /// What a player of `source` needs: the source's audio + video bit rate (0 if it sends
    /// no video, so such players are never paused).
    fn source_need_bps(&mut self, source: PeerId, now: Instant) -> u64 {
        match self.peers.get_mut(&source).map(|p| &mut p.role) {
            Some(Role::Publisher(p)) => {
                let video = p.video_rate.bps(now);
                if video == 0 {
                    0
                } else {
                    video + p.audio_rate.bps(now)
                }
            }
            _ => 0,
        }
    }

    /// Republishes the per-peer quality table for [`crate::MediaHandle::peer_stats`].
    fn publish_quality(&mut self) {
        let table = self.peer_stats();
        self.counters.publish_quality(table);
    }

    /// The per-peer quality table, as [`crate::MediaHandle::peer_stats`] returns it.
    pub fn peer_stats(&self) -> Vec<PeerQuality> {
        let mut table: Vec<PeerQuality> = self.peers.values().map(|p| quality_row(p)).collect();
        table.sort_by_key(|q| q.peer);
        table
    }

    // ---------------------------------------------------------------- internals

    fn queue_transmit(&mut self, t: str0m::net::Transmit) {
        push_transmit(&self.counters, &mut self.transmits, t);
    }

    /// Drains one Rtc's output: transmits queued, events onto the work queue.
    fn poll_peer(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let mut error = None;
        loop {
            if peer.panicked || !peer.rtc.is_alive() {
                break;
            }
            match peer.output() {
                Ok(Output::Transmit(t)) => push_transmit(&self.counters, &mut self.transmits, t),
                Ok(Output::Timeout(t)) => {
                    set_next_timeout(&mut self.deadlines, peer, t);
                    self.earliest = self.earliest.min(t);
                    break;
                }
                Ok(Output::Event(e)) => self.work.push_back((id, e)),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = error {
            let reason = match e {
                str0m::RtcError::Dtls(_) => "Failed by DTLS error".to_string(),
                e => format!("Failed by error: {e}"),
            };
            self.fail(id, &reason);
        }
    }

    /// Reports a live peer as failed, once, and stops its Rtc.
    fn fail(&mut self, id: PeerId, reason: &str) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.failed {
            return;
        }
        peer.failed = true;
        if !peer.panicked {
            peer.rtc.disconnect();
        }
        tracing::info!("{id} failed: {reason}");
        self.events.push_back(MediaEvent::Failed {
            peer: id,
            reason: reason.to_string(),
        });
    }

    fn process_work(&mut self, now: Instant) {
        // Bounded: each event is handled once; handling may poll other peers and add events.
        let mut budget = 100_000usize;
        while let Some((id, event)) = self.work.pop_front() {
            budget -= 1;
            if budget == 0 {
                tracing::warn!("work queue did not drain");
                self.work.clear();
                break;
            }
            self.handle_event(id, event, now);
        }
    }

    fn handle_event(&mut self, id: PeerId, event: Event, now: Instant) {
        match event {
            Event::Connected => self.on_connected(id, now),
            Event::IceConnectionStateChange(state) => {
                tracing::debug!("{id}: ICE {state:?}");
                if matches!(
                    state,
                    IceConnectionState::Connected | IceConnectionState::Completed
                ) {
                    if let Some(p) = self.peers.get_mut(&id) {
                        p.ice_connected = true;
                    }
                }
            }
            Event::MediaData(data) => self.on_media(id, *data, now),
            Event::RtpPacket(packet) => self.on_rtp(id, packet, now),
            Event::KeyframeRequest(req) => self.on_keyframe_request(id, req.kind, now),
            Event::EgressBitrateEstimate(
                BweKind::Twcc { estimate, .. } | BweKind::Remb { estimate, .. },
            ) => {
                tracing::debug!(target: "huddle_sfu::timeline", "{id}: estimate {} kbit/s", estimate.as_u64() / 1000);
                if let Some(Role::Player(p)) = self.peers.get_mut(&id).map(|p| &mut p.role) {
                    p.bandwidth.on_estimate(estimate.as_u64());
                    let source = p.source;
                    self.adapt_player(id, source, false, now);
                }
            }
            Event::PeerStats(s) => {
                // A player to evaluate again: a paused one (its estimate may allow a resume)
                // or a simulcast one (what its link delivered may allow a higher layer).
                let mut recheck = None;
                if let Some(p) = self.peers.get_mut(&id) {
                    p.quality.on_peer(&s);
                    if let Role::Player(pl) = &mut p.role {
                        // The estimator's own value, unaveraged: a paused player's probe result.
                        if let Some(bwe) = s.bwe_tx {
                            tracing::debug!(target: "huddle_sfu::timeline", "{id}: current estimate {} kbit/s, loss {:?}", bwe.as_u64() / 1000, s.egress_loss_fraction);
                            pl.bandwidth.on_current_estimate(bwe.as_u64(), now);
                            if let Some(loss) = s.egress_loss_fraction {
                                pl.bandwidth.on_egress_loss(loss, now);
                            }
                            // Heavy loss may pause at once (bandwidth.rs CONGESTION_LOSS).
                            let heavy = pl.bandwidth.heavy_loss(now);
                            recheck = (pl.bandwidth.paused || heavy).then_some(pl.source);
                        }
                        // What its link delivered: a simulcast player climbs on that (layer_probe.rs).
                        if pl.layer.target.is_some() {
                            let probe = &mut pl.layer_choice.probe;
                            if let Some(end) =
                                probe.on_report(s.peer_bytes_tx, s.egress_loss_fraction, now)
                            {
                                tracing::info!(
                                    "{id}: layer probe {end:?}: delivered {} kbit/s, loss {:?}",
                                    probe.delivered_bps.unwrap_or(0) / 1000,
                                    probe.loss
                                );
                            }
                            recheck = Some(pl.source);
                        }
                    }
                }
                if let Some(source) = recheck {
                    self.adapt_player(id, source, false, now);
                }
            }
            Event::MediaIngressStats(s) => {
                tracing::debug!(target: "huddle_sfu::timeline", "{id}: in {}: {} NACKs, {} PLIs, {} FIRs out; loss {:?}", s.mid, s.nacks, s.plis, s.firs, s.loss);
                let mut uplink_lossy = false;
                if let Some(p) = self.peers.get_mut(&id) {
                    p.quality.on_ingress(&s);
                    if let Role::Publisher(st) = &mut p.role {
                        if st.video_mid == Some(s.mid) {
                            // A NACK we sent is loss seen before our receiver report's fraction
                            // shows it (that one said 0.0 for C's first 4 s in the netlab).
                            let nacked =
                                s.rid.is_none() && st.video_nacks_out.new_since_last(s.nacks);
                            uplink_lossy = nacked || s.loss.is_some_and(crate::playout::is_lossy);
                        }
                    }
                }
                if uplink_lossy {
                    self.uplink_loss_to_players(id, now);
                }
            }
            Event::MediaEgressStats(s) => {
                tracing::debug!(target: "huddle_sfu::timeline", "{id}: out {}: {} NACKs, {} PLIs, {} FIRs in; loss {:?}, rtt {:?}", s.mid, s.nacks, s.plis, s.firs, s.loss, s.rtt);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.quality.on_egress(&s);
                    if let Role::Player(pl) = &mut p.role {
                        let video = pl.video.is_some_and(|(mid, _)| mid == s.mid);
                        // The video's round trip only: str0m repeats each stream's last one in
                        // every stats tick, and the audio's, from Chrome's rarer audio reports,
                        // came after the video's in some ticks and overrode it with a value
                        // seconds old (netlab, A's perfect link under load: video 4.6 ms, audio
                        // 32.7 ms, so no estimator restart, and a 2 s pause; headroom.rs).
                        if let (Some(rtt), true) = (s.rtt, video) {
                            pl.headroom.on_rtt(rtt);
                        }
                        if let Some(loss) = s.loss {
                            pl.playout.on_downlink_loss(loss, now);
                        }
                        // A NACK is loss too, seen a receiver report sooner (playout.rs).
                        if video {
                            pl.playout.on_nacks(s.nacks, now);
                        }
                    }
                }
            }
            Event::Closed => {
                if let Some(p) = self.peers.get_mut(&id) {
                    p.remote_closed.get_or_insert(now);
                }
            }
            _ => {}
        }
    }

    /// A publisher whose uplink loses video packets has them repaired by our NACKs, and its
    /// players get the repair late: in RTP mode as retransmissions, which a browser leaves out
    /// of its jitter estimate; in frame mode as whole frames str0m held for the resend (80-370
    /// ms), too rare for the estimate to cover. Either way the player freezes waiting as on its
    /// own lossy downlink, so the players get the same playout floor (playout.rs).
    fn uplink_loss_to_players(&mut self, publisher: PeerId, now: Instant) {
        for player in self.graph.players(publisher) {
            if let Some(Role::Player(pl)) = self.peers.get_mut(player).map(|p| &mut p.role) {
                pl.playout.on_loss(now);
            }
        }
    }

    fn on_connected(&mut self, id: PeerId, now: Instant) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.connected.is_some() {
            return;
        }
        peer.connected = Some(now);
        peer.last_rx = now;
        tracing::info!("{id} connected");
        self.events.push_back(MediaEvent::Connected { peer: id });
        if matches!(peer.role, Role::Player(_)) {
            // The keyframe asked for at its play request may have gone by while it connected:
            // the held one, if recent, starts its picture now (keyframe_hold.rs).
            self.replay_held_keyframe(id, now);
            let waiting = matches!(self.peers.get(&id).map(|p| &p.role),
                Some(Role::Player(p)) if p.waiting_keyframe);
            if waiting {
                // A late joiner needs a keyframe now, not at the next periodic one (through
                // the publisher's gate like every request: N joiners make one keyframe).
                self.player_wants_keyframe(id, KeyframeRequestKind::Fir, now);
            }
        }
    }

    /// Writes to a player that has just connected and waits for its first keyframe the
    /// publisher's held keyframe and what came since (frames, or packets in RTP mode), when
    /// that keyframe is recent (keyframe_hold.rs); nothing otherwise.
    fn replay_held_keyframe(&mut self, id: PeerId, now: Instant) {
        let Some(Role::Player(p)) = self.peers.get(&id).map(|p| &p.role) else {
            return;
        };
        if !p.waiting_keyframe || p.video.is_none() {
            return;
        }
        let source = p.source;
        let (frames, packets) = match self.peers.get_mut(&source).map(|p| &mut p.role) {
            Some(Role::Publisher(s)) => match s.rtp.as_mut() {
                Some(rtp) => (Vec::new(), rtp.hold.replay(now).to_vec()),
                None => (s.hold.replay(now).to_vec(), Vec::new()),
            },
            _ => return,
        };
        let Some(player) = self.peers.get_mut(&id) else {
            return;
        };
        if frames.is_empty() && packets.is_empty() {
            return;
        }
        tracing::debug!(target: "huddle_sfu::timeline", "{id}: {} held frames / {} held packets of {source} replayed from its keyframe", frames.len(), packets.len());
        for frame in &frames {
            if let Written::Failed(reason) = forward::write_frame(player, frame, now) {
                self.fail(id, &reason);
                return;
            }
        }
        for packet in &packets {
            if let Written::Failed(reason) = crate::rtp::write::write_packet(player, packet, now) {
                self.fail(id, &reason);
                return;
            }
        }
        if packets.is_empty() {
            self.poll_peer(id);
        } else {
            // RTP mode: str0m timestamps written packets at the next advance (rtp/write.rs).
            self.advance_and_poll(id, now);
        }
    }

    /// RTP mode: one packet of a publisher, parsed once and written to each of its players
    /// with its payload shared (rtp/); frames are assembled only for a recorder or taps.
    fn on_rtp(&mut self, id: PeerId, packet: Box<str0m::rtp::RtpPacket>, now: Instant) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Role::Publisher(state) = &mut peer.role else {
            return;
        };
        let mids = (state.audio_mid, state.video_mid);
        let Some(rtp) = state.rtp.as_mut() else {
            return;
        };
        let Some(p) = rtp.parse(&mut peer.rtc, mids, &state.codecs, &packet) else {
            return;
        };
        state.last_media = Some(now);
        match p.kind {
            MediaKind::Audio => state.audio_rate.add(p.payload.len(), now),
            MediaKind::Video => state.video_rate.add(p.payload.len(), now),
        }
        // Of a simulcast publisher: the packet's layer, measured as frame mode measures its
        // frames (a video packet of no negotiated layer is dropped: nobody could follow it).
        let keyframe = p.input.starts_keyframe;
        let mut layer_dropped = None;
        let layer = match (p.kind, state.simulcast.as_mut(), p.rid) {
            (MediaKind::Video, Some(sim), Some(rid)) => {
                if !sim.on_packet(rid, p.payload.len(), p.marker, p.keyframe_size(), now) {
                    return;
                }
                layer_dropped = sim.take_dropped();
                Some(rid)
            }
            (MediaKind::Video, Some(_), None) => return,
            _ => None,
        };
        if keyframe {
            keyframe_in(state, layer);
        }
        if let (MediaKind::Video, None, Some(rtp)) = (p.kind, layer, state.rtp.as_mut()) {
            // Kept for a player that connects just after this keyframe (keyframe_hold.rs).
            rtp.hold.on_video(&p, keyframe, now);
        }
        // A packet of the uplink lost for good: the players cannot decode past it until a
        // keyframe (frame mode asks at a frame that is not contiguous; rtp/uplink_loss.rs).
        let uplink_lost = p.kind == MediaKind::Video
            && state
                .rtp
                .as_mut()
                .is_some_and(|rtp| rtp.video_lost(layer, &p, now));
        if let Some(source) = self.sources.get_mut(&id) {
            let taps = source.recorder.is_some() || !source.taps.is_empty();
            // Frames are assembled per layer (only for a recorder or taps), and they take the
            // highest layer's, with continuous timestamps, as in frame mode.
            let mut record_switch = None;
            if let (true, Some(rtp)) = (taps, state.rtp.as_mut()) {
                let sim = &mut state.simulcast;
                rtp.frames(&state.codecs, &p, packet.time, |f| {
                    let (f, switch) = match (sim.as_mut(), layer) {
                        (Some(sim), Some(rid)) => sim.record_frame(rid, &f, now),
                        _ => (Some(f), None),
                    };
                    record_switch = record_switch.or(switch);
                    if let Some(f) = f {
                        source.frame_out(&f);
                    }
                });
            }
            let wants = source.wants_keyframe();
            if wants || (taps && record_switch.is_some()) {
                let layer = self.record_layer(id);
                self.ask_keyframe(id, KeyframeRequestKind::Pli, false, layer, now);
            }
        }
        if uplink_lost {
            tracing::debug!(target: "huddle_sfu::timeline", "{id}: video packet lost on the way in (NACKs did not recover it)");
            self.ask_keyframe(id, KeyframeRequestKind::Pli, false, layer, now);
        }
        let frame_end = p.marker || p.kind == MediaKind::Audio;
        let n = self.graph.player_count(id);
        for i in 0..n {
            let player_id = self.graph.players(id)[i];
            let Some(player) = self.peers.get_mut(&player_id) else {
                continue;
            };
            // A layer's packets go to the players following it; the target layer's keyframe
            // switches a player to it, its numbering continuing (rtp/rewrite.rs).
            if let (Some(rid), Role::Player(pl)) = (layer, &mut player.role) {
                let before = pl.layer.current();
                let Some(switched) = pl.layer.enter(rid, keyframe) else {
                    continue;
                };
                if switched && before.is_some() {
                    tracing::info!("{player_id}: now on layer {rid} of {id}");
                    pl.rtp.video.switch_source(packet.time.frequency().get());
                }
            }
            let written = crate::rtp::write::write_packet(player, &p, now);
            if frame_end {
                // The frame's packets go out together, with any other frame that ends before
                // the transmit queue runs empty (rtp/batch.rs).
                if crate::rtp::write::mark_ready(player, written == Written::Yes) {
                    self.rtp_batch.add_ready(player_id, now);
                }
            } else if written == Written::Yes && crate::rtp::write::mark_pending(player) {
                self.rtp_batch.add(player_id, now);
            }
            match written {
                Written::Yes => {
                    if frame_end {
                        Counters::add(&self.counters.frames_forwarded, 1);
                    }
                }
                Written::Dropped if frame_end => {
                    Counters::add(&self.counters.video_frames_dropped, 1)
                }
                Written::Dropped | Written::Skipped => {}
                Written::Failed(reason) => self.fail(player_id, &reason),
            }
        }
        if let Some((rid, quiet)) = layer_dropped {
            self.on_layer_dropped(id, rid, quiet, now);
        }
    }

    /// RTP mode: advances and polls the players whose frame has ended (to the time the
    /// latest of those frames ended), in order, until [`SEAL_AHEAD`] datagrams wait; the
    /// others on the next call, when the driver has sent those (rtp/batch.rs).
    fn send_ready_frames(&mut self) {
        let Some(now) = self.rtp_batch.ready_at() else {
            return;
        };
        while self.transmits.len() < SEAL_AHEAD {
            let Some(id) = self.rtp_batch.pop_ready() else {
                break;
            };
            if self
                .peers
                .get_mut(&id)
                .is_some_and(|p| crate::rtp::write::take_ready(p))
            {
                self.advance_and_poll(id, now);
            }
        }
        self.process_work(now);
    }

    /// RTP mode: advances and polls every player still holding written packets (their
    /// frame's end did not come within `batch::HOLD`).
    fn flush_rtp(&mut self, now: Instant) {
        let players = self.rtp_batch.take();
        for &id in &players {
            if self
                .peers
                .get_mut(&id)
                .is_some_and(|p| crate::rtp::write::take_held(p))
            {
                self.advance_and_poll(id, now);
            }
        }
        self.rtp_batch.reuse(players);
        self.process_work(now);
    }

    /// RTP mode: lets a player's Rtc send what was written into it: through the send lane
    /// while the Rtc has nothing else due and its pacer has budget, else advanced and polled
    /// (rtp/batch.rs).
    fn advance_and_poll(&mut self, id: PeerId, now: Instant) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        loop {
            match peer.lane(now) {
                str0m::Lane::Sent(t) => {
                    Counters::add(&self.counters.packets_out_lane, 1);
                    push_transmit(&self.counters, &mut self.transmits, t);
                }
                str0m::Lane::Empty => return,
                str0m::Lane::Declined => break,
            }
        }
        if let Err(e) = peer.advance(now) {
            self.fail(id, &format!("Failed by error: {e}"));
            return;
        }
        self.poll_peer(id);
    }

    fn on_media(&mut self, id: PeerId, data: str0m::media::MediaData, now: Instant) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Role::Publisher(state) = &mut peer.role else {
            return; // players send nothing we use
        };
        let Some(kind) = state.kind_of(data.mid) else {
            return;
        };
        state.last_media = Some(now);
        match kind {
            MediaKind::Audio => state.audio_rate.add(data.data.len(), now),
            MediaKind::Video => state.video_rate.add(data.data.len(), now),
        }
        let mut frame = Frame::from_media_data(kind, &data);
        if kind == MediaKind::Video {
            frame.network_time =
                forward::in_order_wallclock(&mut state.video_wallclock, frame.network_time);
        }
        let held = now.saturating_duration_since(data.network_time);
        if kind == MediaKind::Video {
            // Every frame str0m hands over (RUST_LOG=huddle_sfu::timeline=trace): to line up a
            // player's decoder errors with what arrived (issue 11, 5 % loss).
            tracing::trace!(target: "huddle_sfu::timeline", "{id}: video frame in: {} bytes, seq {:?}, {:?}, contiguous {}", data.data.len(), data.seq_range, data.codec_extra, data.contiguous);
        }
        if kind == MediaKind::Video && held > std::time::Duration::from_millis(80) {
            // str0m waits for NACKed packets before it hands a frame over; every player then
            // gets this frame (and those behind it) this much later, in a burst.
            tracing::debug!(target: "huddle_sfu::timeline", "{id}: video frame held {} ms for missing packets", held.as_millis());
        }
        // Of a simulcast publisher: the frame's layer (a frame of no negotiated layer is
        // dropped: no subscriber could follow it).
        let mut layer_dropped = None;
        let layer = match (kind, state.simulcast.as_mut(), data.rid) {
            (MediaKind::Video, Some(sim), Some(rid)) => {
                let size = (frame.keyframe
                    && data.params.spec().codec == str0m::format::Codec::Vp8)
                    .then(|| crate::simulcast::vp8_keyframe_size(&frame.data))
                    .flatten();
                if !sim.on_frame(rid, frame.data.len(), size, now) {
                    return;
                }
                layer_dropped = sim.take_dropped();
                Some(rid)
            }
            (MediaKind::Video, Some(_), None) => return,
            _ => None,
        };
        if frame.keyframe {
            tracing::debug!(target: "huddle_sfu::timeline", "{id}: keyframe in ({} bytes) {layer:?}", frame.data.len());
            keyframe_in(state, layer);
        }
        if kind == MediaKind::Video && layer.is_none() {
            // Kept for a player that connects just after this keyframe (keyframe_hold.rs).
            state.hold.on_video(&frame, frame.keyframe, now);
        }
        // The recorder and taps take the highest layer, with continuous timestamps.
        let (record_frame, record_switch) = match (state.simulcast.as_mut(), layer) {
            (Some(sim), Some(rid)) => sim.record_frame(rid, &frame, now),
            _ => (Some(frame.clone()), None),
        };
        if kind == MediaKind::Video && !data.contiguous {
            tracing::debug!(target: "huddle_sfu::timeline", "{id}: video frame lost on the way in (NACKs did not recover it)");
            // We lost part of the publisher's video (NACK did not recover it in time).
            self.ask_keyframe(id, KeyframeRequestKind::Pli, false, layer, now);
        }
        if let Some(source) = self.sources.get_mut(&id) {
            let taps = source.recorder.is_some() || !source.taps.is_empty();
            if let Some(f) = &record_frame {
                source.frame_out(f);
            }
            let wants = source.wants_keyframe();
            if wants || (taps && record_switch.is_some()) {
                let layer = self.record_layer(id);
                self.ask_keyframe(id, KeyframeRequestKind::Pli, false, layer, now);
            }
        }
        self.forward(id, &frame, layer, now);
        if let Some((rid, quiet)) = layer_dropped {
            self.on_layer_dropped(id, rid, quiet, now);
        }
    }

    /// A layer of simulcast source `id` was dropped while its others go on
    /// (simulcast.rs [`crate::simulcast::LAYER_QUIET`]): its players and its recorder and
    /// taps choose their layer again now, not at the next housekeeping; a new choice asks
    /// its layer for a keyframe, the switch happens on it. Those that received the dropped
    /// layer see no picture until then, so their request is hurried past a recent one
    /// ([`crate::keyframes::KeyframeGate::hurry`]).
    fn on_layer_dropped(&mut self, id: PeerId, rid: Rid, quiet: Duration, now: Instant) {
        tracing::info!(
            "{id}: layer {rid} stopped ({} ms without a frame while the other layers went on); its followers choose again",
            quiet.as_millis()
        );
        let n = self.graph.player_count(id);
        let mut stranded = false;
        for i in 0..n {
            let player = self.graph.players(id)[i];
            stranded |= matches!(self.peers.get(&player).map(|p| &p.role),
                Some(Role::Player(p)) if p.layer.current() == Some(rid));
            self.adapt_player(player, id, false, now);
        }
        self.rechoose_record_layer(id, now);
        let Some(Role::Publisher(state)) = self.peers.get_mut(&id).map(|p| &mut p.role) else {
            return;
        };
        let Some(sim) = state.simulcast.as_ref() else {
            return;
        };
        stranded |= sim.record.current() == Some(rid);
        if !sim.waits_for_keyframe() {
            // What was pending was only for the stopped layer (simulcast.rs `note_dropped`):
            // sent now, it would go to every layer.
            state.keyframes.withdraw();
        }
        if stranded {
            state.keyframes.hurry();
            if let Some(due) = state.keyframes.next_due() {
                self.earliest = self.earliest.min(due);
            }
            self.send_due_keyframe_request(id, now);
        }
    }

    /// The layer a simulcast source's recorder and taps take (None: not simulcast).
    fn record_layer(&self, source: PeerId) -> Option<Rid> {
        match self.peers.get(&source).map(|p| &p.role) {
            Some(Role::Publisher(p)) => p.simulcast.as_ref()?.record.keyframe_layer(),
            _ => None,
        }
    }

    /// The layers a simulcast source sends now (lowest rate first) and its audio rate; None
    /// for any other source.
    fn source_layers(&mut self, source: PeerId, now: Instant) -> Option<(Vec<LayerRate>, u64)> {
        match self.peers.get_mut(&source).map(|p| &mut p.role) {
            Some(Role::Publisher(p)) => {
                let layers = p.simulcast.as_mut()?.ranked(now);
                Some((layers, p.audio_rate.bps(now)))
            }
            _ => None,
        }
    }

    /// Writes a publisher's (or ingest's) frame into each of its players; a frame of a
    /// simulcast `layer` only into the players following that layer (simulcast.rs).
    fn forward(&mut self, source: PeerId, frame: &Frame, layer: Option<Rid>, now: Instant) {
        let n = self.graph.player_count(source);
        for i in 0..n {
            let player_id = self.graph.players(source)[i];
            let Some(player) = self.peers.get_mut(&player_id) else {
                continue;
            };
            let relayered;
            let frame = match (layer, &mut player.role) {
                (Some(rid), Role::Player(p)) => {
                    let before = p.layer.current();
                    let Some(time) =
                        p.layer
                            .admit(rid, frame.keyframe, frame.time, frame.network_time)
                    else {
                        continue;
                    };
                    if before.is_some_and(|b| b != rid) {
                        tracing::info!("{player_id}: now on layer {rid} of {source}");
                    }
                    relayered = Frame {
                        time,
                        ..frame.clone()
                    };
                    &relayered
                }
                _ => frame,
            };
            match forward::write_frame(player, frame, now) {
                Written::Yes => {
                    Counters::add(&self.counters.frames_forwarded, 1);
                    if let Some(ing) = self
                        .sources
                        .get_mut(&source)
                        .and_then(|s| s.ingest.as_mut())
                    {
                        ing.latency
                            .add(now.saturating_duration_since(frame.network_time));
                    }
                    self.poll_peer(player_id);
                }
                Written::Dropped => Counters::add(&self.counters.video_frames_dropped, 1),
                Written::Skipped => {}
                Written::Failed(reason) => self.fail(player_id, &reason),
            }
        }
    }

    /// A player's PLI/FIR. Ignored while the player's own link is too slow (bandwidth.rs).
    fn on_keyframe_request(&mut self, id: PeerId, kind: KeyframeRequestKind, now: Instant) {
        tracing::debug!(target: "huddle_sfu::timeline", "{id}: {kind:?} from the player");
        if let Some(Role::Player(p)) = self.peers.get(&id).map(|p| &p.role) {
            if p.bandwidth.struggling() {
                return;
            }
        }
        self.player_wants_keyframe(id, kind, now);
    }

    /// A player needs a keyframe from its publisher. Not for a player whose video is paused
    /// or starved (its own link is the problem: a keyframe for everyone would not help it),
    /// and at most once per [`KEYFRAME_INTERVAL`] per player.
    fn player_wants_keyframe(&mut self, id: PeerId, kind: KeyframeRequestKind, now: Instant) {
        let Some(Role::Player(p)) = self.peers.get_mut(&id).map(|p| &mut p.role) else {
            return;
        };
        if p.bandwidth.paused || p.starved {
            return;
        }
        if p.last_keyframe_ask
            .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_INTERVAL)
        {
            return;
        }
        p.last_keyframe_ask = Some(now);
        // No picture yet (joined, resumed, drained): may bypass the rest of the gate's
        // interval once a keyframe went by too early for it (keyframes.rs).
        let (source, fresh, layer) = (p.source, p.waiting_keyframe, p.layer.keyframe_layer());
        self.ask_keyframe(source, kind, fresh, layer, now);
    }

    /// Asks a publisher's gate for a keyframe and sends what the gate lets through. `layer`:
    /// of a simulcast publisher, the layer that needs it (None: every layer).
    fn ask_keyframe(
        &mut self,
        publisher: PeerId,
        kind: KeyframeRequestKind,
        fresh: bool,
        layer: Option<Rid>,
        now: Instant,
    ) {
        let Some(Role::Publisher(state)) = self.peers.get_mut(&publisher).map(|p| &mut p.role)
        else {
            return;
        };
        if let Some(sim) = state.simulcast.as_mut() {
            sim.want_keyframe(layer);
        }
        if fresh {
            state.keyframes.ask_fresh(kind);
        } else {
            state.keyframes.ask(kind);
        }
        Counters::add(&self.counters.keyframe_requests_asked, 1);
        self.send_due_keyframe_request(publisher, now);
    }

    fn send_due_keyframe_request(&mut self, publisher: PeerId, now: Instant) {
        let Some(peer) = self.peers.get_mut(&publisher) else {
            return;
        };
        let Role::Publisher(state) = &mut peer.role else {
            return;
        };
        let Some(kind) = state.keyframes.due(now) else {
            return;
        };
        tracing::debug!(target: "huddle_sfu::timeline", "{publisher}: {kind:?} sent to the publisher");
        Counters::add(&self.counters.keyframe_requests_sent, 1);
        let layers = state
            .simulcast
            .as_ref()
            .map(|s| s.request_targets())
            .unwrap_or_default();
        if forward::send_keyframe_request(peer, kind, &layers, now) {
            self.poll_peer(publisher);
        }
    }

    /// Sends the coalesced requests whose interval has passed.
    fn flush_keyframe_requests(&mut self, now: Instant) {
        let due: Vec<PeerId> = publishers(&self.sources, &self.peers)
            .filter(|(_, s)| s.keyframes.next_due().is_some_and(|t| t <= now))
            .map(|(id, _)| id)
            .collect();
        for id in due {
            self.send_due_keyframe_request(id, now);
        }
    }
}

/// Sets when a peer's Rtc wants its next timeout: on the peer (its send lane reads it per
/// packet) and in the deadline table (the timeout walk reads that, deadlines.rs).
fn set_next_timeout(deadlines: &mut crate::deadlines::Deadlines, peer: &mut Peer, at: Instant) {
    peer.next_timeout = at;
    deadlines.set(peer.id, at);
}

/// The WebRTC publishers' states (an ingest source has no Rtc), found from `sources`: a walk
/// of the publishers only, not of every peer (deadlines.rs says why that matters).
fn publishers<'a>(
    sources: &'a IdMap<Source>,
    peers: &'a IdMap<Box<Peer>>,
) -> impl Iterator<Item = (PeerId, &'a Publisher)> + 'a {
    sources
        .keys()
        .filter_map(|&id| match &peers.get(&id)?.role {
            Role::Publisher(state) => Some((id, &**state)),
            _ => None,
        })
}

/// A keyframe of the publisher's video arrived (of `layer`, for a simulcast publisher): its
/// gate counts the requests as answered once no layer waits for one (simulcast.rs).
fn keyframe_in(state: &mut Publisher, layer: Option<Rid>) {
    let all_answered = match (state.simulcast.as_mut(), layer) {
        (Some(sim), Some(rid)) => sim.keyframe_arrived(rid),
        _ => true,
    };
    if all_answered {
        state.keyframes.keyframe_arrived();
    }
}

/// One row of the quality table.
fn quality_row(p: &Peer) -> PeerQuality {
    let mut row = PeerQuality {
        peer: p.id,
        role: "publisher",
        source: None,
        bitrate_in_bps: 0,
        bitrate_out_bps: 0,
        estimate_bps: None,
        loss_in: None,
        loss_out: None,
        rtt_ms: None,
        nacks_in: 0,
        nacks_out: 0,
        keyframe_requests_in: 0,
        keyframe_requests_out: 0,
        video_paused: false,
        video_pauses: 0,
        estimator_restarts: 0,
        video_frames_dropped: 0,
    };
    p.quality.fill(&mut row);
    if let Role::Player(pl) = &p.role {
        row.role = "player";
        row.source = Some(pl.source);
        row.estimate_bps = pl.bandwidth.estimate_bps;
        row.video_paused = pl.bandwidth.paused;
        row.video_pauses = pl.bandwidth.pauses;
        row.estimator_restarts = pl.headroom.restarts;
        row.video_frames_dropped = pl.video_frames_dropped;
    }
    row
}

/// Queues one of str0m's transmits for the driver and counts it (every datagram out of an
/// Rtc goes through here: polled, or sent through the send lane).
fn push_transmit(counters: &Counters, transmits: &mut VecDeque<Transmit>, t: str0m::net::Transmit) {
    Counters::add(&counters.packets_out, 1);
    Counters::add(&counters.bytes_out, t.contents.len() as u64);
    transmits.push_back(Transmit {
        proto: t.proto,
        destination: t.destination,
        contents: t.contents.into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN binding request (RFC 5389 header, no attributes).
    fn stun_request() -> Vec<u8> {
        let mut b = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        b.extend_from_slice(&[7u8; 12]);
        b
    }

    #[test]
    fn a_loopback_server_ignores_non_loopback_sources() {
        let now = Instant::now();
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut sfu = Sfu::new_standalone(vec![local], now);
        sfu.handle_datagram(
            now,
            "192.0.2.2:5000".parse().unwrap(),
            local,
            &stun_request(),
        );
        assert_eq!(sfu.stats().dropped, 1);
        assert!(
            sfu.poll_transmit().is_none(),
            "nothing is sent to a non-loopback address"
        );
    }
}
