//! A network lab in simulated time: the sans-IO `Sfu` and str0m clients, each client behind
//! its own two links (up: client -> server, down: server -> client) with a rate limit and a
//! bounded queue (tail drop, like a router), random loss and a fixed delay.

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
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    rng: StdRng,
    pub sent: u64,
    pub dropped: u64,
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
        }
    }

    fn send(&mut self, now: Instant, data: Vec<u8>) {
        self.sent += 1;
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
            .map_or(deliver, |(t, _)| deliver.max(*t));
        self.in_flight.push_back((deliver, data));
    }

    fn due(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while self.in_flight.front().is_some_and(|(t, _)| *t <= now) {
            out.push(self.in_flight.pop_front().unwrap().1);
        }
        out
    }
}

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
}

impl Lab {
    pub fn new() -> Lab {
        let now = Instant::now();
        let server: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        Lab {
            sfu: Sfu::new_standalone(vec![server], now),
            server,
            nodes: Vec::new(),
            now,
            events: Vec::new(),
            step: Duration::from_millis(2),
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
                        n.up.send(now, data);
                    }
                }
            }
            for i in 0..self.nodes.len() {
                let addr = self.nodes[i].client.addr;
                for data in self.nodes[i].up.due(now) {
                    moved = true;
                    self.sfu.handle_datagram(now, addr, self.server, &data);
                }
            }
            while let Some(t) = self.sfu.poll_transmit() {
                if let Some(n) = self
                    .nodes
                    .iter_mut()
                    .find(|n| n.client.addr == t.destination)
                {
                    n.down.send(now, t.contents);
                }
            }
            for n in &mut self.nodes {
                for data in n.down.due(now) {
                    moved = true;
                    n.client.receive(now, self.server, &data);
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

    pub fn answer_for(&self, peer: PeerId) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            MediaEvent::Answer { peer: p, sdp } if *p == peer => Some(sdp.clone()),
            _ => None,
        })
    }

    pub fn connected(&self, peer: PeerId) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, MediaEvent::Connected { peer: p } if *p == peer))
    }

    pub fn failed(&self, peer: PeerId) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            MediaEvent::Failed { peer: p, reason } if *p == peer => Some(reason.clone()),
            _ => None,
        })
    }

    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Lab) -> bool) -> Duration {
        let start = self.now;
        while self.now < start + limit {
            if done(self) {
                return self.now - start;
            }
            self.tick();
        }
        assert!(done(self), "condition not reached within {limit:?}");
        self.now - start
    }

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
        let (client, offer) = client;
        let i = self.add(client);
        self.command(MediaCommand::Play {
            peer,
            source,
            offer,
            transport: Default::default(),
        });
        let answer = self
            .answer_for(peer)
            .unwrap_or_else(|| panic!("no play answer: {:?}", self.failed(peer)));
        self.nodes[i].client.accept_answer(&answer);
        self.run_until(Duration::from_secs(5), |l| {
            l.connected(peer) && l.nodes[i].client.connected
        });
        i
    }

    pub fn play(&mut self, peer: PeerId, source: PeerId) -> usize {
        let client = Client::player(Self::addr(self.nodes.len()), self.now);
        self.play_with(peer, source, client)
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
