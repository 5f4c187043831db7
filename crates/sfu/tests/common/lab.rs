//! A network lab in simulated time: the sans-IO `Sfu` and str0m clients, each client behind
//! its own two links (up: client -> server, down: server -> client) with a rate limit and a
//! bounded queue (tail drop, like a router), random loss and a fixed delay.
//! The server side (`standalone_sfu`, `sfu_queries!`) is shared with `world.rs`, the lossless
//! in-memory world, so both read the SFU the same way.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huddle_room::{MediaCommand, MediaEvent, PeerId};
use huddle_sfu::Sfu;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use str0m::format::Codec;
use str0m::media::MediaKind;

use super::Client;

/// One direction of a client's access link.
pub struct Link {
    /// None: unlimited.
    pub rate_bps: Option<u64>,
    /// Packets that would wait longer than this in the queue are dropped on arrival.
    pub queue_limit: Duration,
    pub delay: Duration,
    /// Probability of losing a packet (0..1), drawn from a seeded generator.
    pub loss: f64,
    busy_until: Option<Instant>,
    /// Due time, the datagram's destination, the datagram.
    in_flight: VecDeque<(Instant, SocketAddr, Vec<u8>)>,
    rng: StdRng,
    pub sent: u64,
    pub dropped: u64,
    /// RTP packets with the padding bit set (str0m's blank padding; the bit is in the clear
    /// SRTP header), counted on entry.
    pub padding: u64,
}

impl Link {
    pub fn new(seed: u64) -> Link {
        Link {
            rate_bps: None,
            queue_limit: Duration::from_millis(100),
            delay: Duration::from_millis(10),
            loss: 0.0,
            busy_until: None,
            in_flight: VecDeque::new(),
            rng: StdRng::seed_from_u64(seed),
            sent: 0,
            dropped: 0,
            padding: 0,
        }
    }

    fn send(&mut self, now: Instant, to: SocketAddr, data: Vec<u8>) {
        self.sent += 1;
        // RTP with the padding bit.
        if data.len() > 12 && super::is_rtp(&data) && data[0] & 0x20 != 0 {
            self.padding += 1;
        }
        if self.loss > 0.0 && self.rng.random::<f64>() < self.loss {
            self.dropped += 1;
            return;
        }
        let deliver = match self.rate_bps {
            None => now + self.delay,
            Some(rate) => {
                let start = self.busy_until.map_or(now, |b| b.max(now));
                if start.saturating_duration_since(now) > self.queue_limit {
                    self.dropped += 1;
                    return;
                }
                let serialize = Duration::from_secs_f64(data.len() as f64 * 8.0 / rate as f64);
                self.busy_until = Some(start + serialize);
                start + serialize + self.delay
            }
        };
        // Deliveries are in order: a rate-limited packet never overtakes an earlier one.
        let deliver = self
            .in_flight
            .back()
            .map_or(deliver, |(t, _, _)| deliver.max(*t));
        self.in_flight.push_back((deliver, to, data));
    }

    fn due(&mut self, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        while self.in_flight.front().is_some_and(|(t, _, _)| *t <= now) {
            let (_, to, data) = self.in_flight.pop_front().unwrap();
            out.push((to, data));
        }
        out
    }
}

/// The simulated server: a standalone `Sfu` at 10.0.0.1:4000 (the address every client sends to).
pub fn standalone_sfu(now: Instant) -> (Sfu, SocketAddr) {
    let server: SocketAddr = "10.0.0.1:4000".parse().unwrap();
    (Sfu::new_standalone(vec![server], now), server)
}

/// What a simulation reads from the SFU's events (answers, connections, failures) and
/// `run_until`, which advances it with `$advance` (one time step) until a condition holds.
/// A macro, not a trait: the methods stay inherent, so the tests need no trait import, and the
/// `Lab` and `World` keep their own fields (`events`, `now`) that the tests read directly.
macro_rules! sfu_queries {
    ($advance:ident) => {
        pub fn answer_for(&self, peer: ::huddle_room::PeerId) -> Option<String> {
            self.events.iter().find_map(|e| match e {
                ::huddle_room::MediaEvent::Answer { peer: p, sdp } if *p == peer => {
                    Some(sdp.clone())
                }
                _ => None,
            })
        }

        pub fn connected(&self, peer: ::huddle_room::PeerId) -> bool {
            self.events.iter().any(
                |e| matches!(e, ::huddle_room::MediaEvent::Connected { peer: p } if *p == peer),
            )
        }

        pub fn failed(&self, peer: ::huddle_room::PeerId) -> Option<String> {
            self.events.iter().find_map(|e| match e {
                ::huddle_room::MediaEvent::Failed { peer: p, reason } if *p == peer => {
                    Some(reason.clone())
                }
                _ => None,
            })
        }

        /// Steps until `done` holds (panics after `limit` of simulated time); returns the time
        /// that took.
        pub fn run_until(
            &mut self,
            limit: ::std::time::Duration,
            mut done: impl FnMut(&Self) -> bool,
        ) -> ::std::time::Duration {
            let start = self.now;
            while self.now < start + limit {
                if done(self) {
                    return self.now - start;
                }
                self.$advance();
            }
            assert!(done(self), "condition not reached within {limit:?}");
            self.now - start
        }
    };
}
pub(crate) use sfu_queries;

pub struct Node {
    pub client: Client,
    pub up: Link,
    pub down: Link,
}

pub struct Lab {
    pub sfu: Sfu,
    pub server: SocketAddr,
    pub nodes: Vec<Node>,
    pub now: Instant,
    pub events: Vec<MediaEvent>,
    pub step: Duration,
    /// Clients behind another node's downlink (one browser's two connections on one
    /// router): datagrams to the address queue in that node's `down` link.
    pub down_via: Vec<(SocketAddr, usize)>,
}

impl Lab {
    pub fn new() -> Lab {
        let now = Instant::now();
        let (sfu, server) = standalone_sfu(now);
        Lab {
            sfu,
            server,
            nodes: Vec::new(),
            now,
            events: Vec::new(),
            step: Duration::from_millis(2),
            down_via: Vec::new(),
        }
    }

    fn addr(i: usize) -> SocketAddr {
        SocketAddr::from(([10, 0, 1, 10 + i as u8], 5000))
    }

    /// Moves every packet and event that is due now; repeats until nothing moves.
    pub fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            let now = self.now;
            for n in &mut self.nodes {
                for (dest, data) in std::mem::take(&mut n.client.outbox) {
                    if dest == self.server {
                        n.up.send(now, dest, data);
                    }
                }
            }
            for i in 0..self.nodes.len() {
                let addr = self.nodes[i].client.addr;
                for (_, data) in self.nodes[i].up.due(now) {
                    moved = true;
                    self.sfu.handle_datagram(now, addr, self.server, &data);
                }
            }
            while let Some(t) = self.sfu.poll_transmit() {
                let via = self
                    .down_via
                    .iter()
                    .find(|(a, _)| *a == t.destination)
                    .map(|(_, i)| *i)
                    .or_else(|| {
                        self.nodes
                            .iter()
                            .position(|n| n.client.addr == t.destination)
                    });
                if let Some(i) = via {
                    self.nodes[i].down.send(now, t.destination, t.contents);
                }
            }
            for i in 0..self.nodes.len() {
                for (to, data) in self.nodes[i].down.due(now) {
                    moved = true;
                    if let Some(n) = self.nodes.iter_mut().find(|n| n.client.addr == to) {
                        n.client.receive(now, self.server, &data);
                    }
                }
            }
            while let Some(e) = self.sfu.poll_event() {
                self.events.push(e);
            }
            if !moved && self.nodes.iter().all(|n| n.client.outbox.is_empty()) {
                return;
            }
        }
        panic!("pump did not settle");
    }

    /// Advances simulated time by one step.
    pub fn tick(&mut self) {
        self.now += self.step;
        if self.sfu.poll_timeout() <= self.now {
            self.sfu.handle_timeout(self.now);
        }
        let now = self.now;
        for n in &mut self.nodes {
            if !n.client.negotiating() && n.client.next_timeout <= now {
                n.client.timeout(now);
            }
        }
        self.pump();
    }

    pub fn command(&mut self, cmd: MediaCommand) {
        self.sfu.handle_command(cmd, self.now);
        self.pump();
    }

    sfu_queries!(tick);

    fn add(&mut self, client: Client) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node {
            client,
            up: Link::new(1000 + i as u64),
            down: Link::new(2000 + i as u64),
        });
        i
    }

    /// Offers and answers without waiting for the connection.
    pub fn publish_start(&mut self, peer: PeerId, codecs: &[Codec], kinds: &[MediaKind]) -> usize {
        let (client, offer) =
            Client::publisher(Self::addr(self.nodes.len()), codecs, kinds, self.now);
        let i = self.add(client);
        self.command(MediaCommand::Publish {
            peer,
            room: None,
            offer,
            transport: Default::default(),
            record: None,
        });
        let answer = self.answer_for(peer).expect("publish answer");
        self.nodes[i].client.accept_answer(&answer);
        i
    }

    pub fn publish(&mut self, peer: PeerId, codecs: &[Codec], kinds: &[MediaKind]) -> usize {
        let i = self.publish_start(peer, codecs, kinds);
        self.run_until(Duration::from_secs(5), |l| {
            l.connected(peer) && l.nodes[i].client.connected
        });
        i
    }

    /// A player with the given client; returns its node index once connected.
    pub fn play_with(&mut self, peer: PeerId, source: PeerId, client: (Client, String)) -> usize {
        self.play_with_answer(peer, source, client).0
    }

    /// [`Lab::play_with`], also returning the server's answer.
    pub fn play_with_answer(
        &mut self,
        peer: PeerId,
        source: PeerId,
        client: (Client, String),
    ) -> (usize, String) {
        let (client, offer) = client;
        let i = self.add(client);
        self.command(MediaCommand::Play {
            peer,
            source,
            offer,
            transport: Default::default(),
            constraints: Default::default(),
        });
        let answer = self
            .answer_for(peer)
            .unwrap_or_else(|| panic!("no play answer: {:?}", self.failed(peer)));
        self.nodes[i].client.accept_answer(&answer);
        self.run_until(Duration::from_secs(5), |l| {
            l.connected(peer) && l.nodes[i].client.connected
        });
        (i, answer)
    }

    pub fn play(&mut self, peer: PeerId, source: PeerId) -> usize {
        self.play_answer(peer, source).0
    }

    /// [`Lab::play`], also returning the server's answer.
    pub fn play_answer(&mut self, peer: PeerId, source: PeerId) -> (usize, String) {
        let client = Client::player(Self::addr(self.nodes.len()), self.now);
        self.play_with_answer(peer, source, client)
    }

    pub fn next_addr(&self) -> SocketAddr {
        Self::addr(self.nodes.len())
    }
}

/// A publisher's synthetic camera and microphone: VP8 frames of `video_bytes` at 30 fps and
/// Opus frames every 20 ms; a keyframe answers each keyframe request (at the next frame).
pub struct Source {
    pub node: usize,
    pub video_bytes: usize,
    next_video: Instant,
    next_audio: Instant,
    pub vi: u32,
    pub ai: u32,
    answered: usize,
    /// Keyframes sent (the first frame is one).
    pub keyframes: u32,
}

impl Source {
    pub fn new(node: usize, video_bytes: usize, now: Instant) -> Source {
        Source {
            node,
            video_bytes,
            next_video: now,
            next_audio: now,
            vi: 0,
            ai: 0,
            answered: 0,
            keyframes: 0,
        }
    }

    /// Writes the frames that are due.
    pub fn run(&mut self, lab: &mut Lab) {
        let now = lab.now;
        let c = &mut lab.nodes[self.node].client;
        if c.video.is_some() && now >= self.next_video {
            let requests = c.keyframe_requests.len();
            let key = self.vi == 0 || requests > self.answered;
            self.answered = requests;
            if key {
                self.keyframes += 1;
            }
            let mut frame = super::video_frame(Codec::Vp8, self.vi, key);
            frame.resize(self.video_bytes.max(frame.len()), 0x55);
            c.write(MediaKind::Video, now, self.vi as u64 * 3000, &frame);
            self.vi += 1;
            self.next_video += Duration::from_micros(33_333);
        }
        if c.audio.is_some() && now >= self.next_audio {
            let frame = super::audio_frame(Codec::Opus, self.ai);
            c.write(MediaKind::Audio, now, self.ai as u64 * 960, &frame);
            self.ai += 1;
            self.next_audio += Duration::from_millis(20);
        }
    }
}
