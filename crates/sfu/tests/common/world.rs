//! A deterministic world for the sans-IO core: one `Sfu`, str0m clients, datagrams moved in
//! memory, time simulated in [`STEP`]s. Shared by `tests/memory.rs` and `tests/rtp_mode.rs`.
//! Built on `lab.rs`'s server side (`standalone_sfu`, `sfu_queries!`); unlike the lab it has no
//! links: every datagram arrives at once unless `loss` drops it, and it counts the SFU's CPU time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huddle_room::{MediaCommand, MediaEvent, PeerId, RecordRequest};
use huddle_sfu::{check_answer, Forwarding, Frame, FrameSink, Sfu};
use str0m::format::Codec;
use str0m::media::MediaKind;

use super::lab::{sfu_queries, standalone_sfu};
use super::Client;

pub const STEP: Duration = Duration::from_millis(5);

/// Decides which datagrams are lost: called with the client's index, the client, whether the
/// datagram goes to the server (true) or comes from it, and the datagram (SRTP: its RTP header
/// is readable); true = lost.
pub type Loss = Box<dyn FnMut(usize, &Client, bool, &[u8]) -> bool>;

pub struct World {
    pub sfu: Sfu,
    pub server: SocketAddr,
    pub clients: Vec<Client>,
    pub now: Instant,
    pub events: Vec<MediaEvent>,
    /// CPU time this thread spent inside the SFU (for the fan-out benchmark).
    pub sfu_time: Duration,
    /// Datagrams lost on the way (none when unset).
    pub loss: Option<Loss>,
}

impl World {
    /// A world whose server forwards in the default mode.
    pub fn new() -> World {
        World::with_forwarding(Forwarding::default())
    }

    pub fn with_forwarding(forwarding: Forwarding) -> World {
        let now = Instant::now();
        let (mut sfu, server) = standalone_sfu(now);
        sfu.set_forwarding(forwarding);
        World {
            sfu,
            server,
            clients: Vec::new(),
            now,
            events: Vec::new(),
            sfu_time: Duration::ZERO,
            loss: None,
        }
    }

    pub fn client_addr(i: usize) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 10 + i as u8], 5000))
    }

    /// Moves datagrams until everything is delivered.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.clients.len() {
                for (dest, data) in std::mem::take(&mut self.clients[i].outbox) {
                    moved = true;
                    if self.lost(i, true, &data) || dest != self.server {
                        continue;
                    }
                    let t = thread_cpu();
                    let from = self.clients[i].addr;
                    self.sfu.handle_datagram(self.now, from, self.server, &data);
                    self.sfu_time += thread_cpu().saturating_sub(t);
                    // The clients' str0m seals into the thread's recycled buffers too (they
                    // share the server's thread here): give theirs back as well, so that the
                    // server finds as many as it would alone.
                    str0m::net::recycle_datagram(data);
                }
            }
            while let Some(t) = self.sfu.poll_transmit() {
                moved = true;
                let Some(i) = self.clients.iter().position(|c| c.addr == t.destination) else {
                    continue;
                };
                if !self.lost(i, false, &t.contents) {
                    self.clients[i].receive(self.now, self.server, &t.contents);
                }
                // As the driver does once a batch is sent.
                t.recycle();
            }
            while let Some(e) = self.sfu.poll_event() {
                self.events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("pump did not settle");
    }

    fn lost(&mut self, i: usize, to_server: bool, data: &[u8]) -> bool {
        match self.loss.as_mut() {
            Some(loss) => loss(i, &self.clients[i], to_server, data),
            None => false,
        }
    }

    pub fn step(&mut self) {
        self.now += STEP;
        if self.sfu.poll_timeout() <= self.now {
            let t = thread_cpu();
            self.sfu.handle_timeout(self.now);
            self.sfu_time += thread_cpu().saturating_sub(t);
        }
        for c in &mut self.clients {
            if !c.negotiating() && c.next_timeout <= self.now {
                c.timeout(self.now);
            }
        }
        self.pump();
    }

    /// Client 0 sends `n` frames of 25 fps VP8 (the first a keyframe if `key`), numbered on
    /// from `next`, stepping the world 40 ms after each.
    pub fn vp8_frames(&mut self, next: &mut u32, n: u32, key: bool) {
        for i in 0..n {
            let v = super::video_frame(Codec::Vp8, *next, key && i == 0);
            let now = self.now;
            self.clients[0].write(MediaKind::Video, now, 90_000 + *next as u64 * 3600, &v);
            *next += 1;
            for _ in 0..8 {
                self.step();
            }
        }
    }

    pub fn command(&mut self, cmd: MediaCommand) {
        self.sfu.handle_command(cmd, self.now);
        self.pump();
    }

    sfu_queries!(step);

    /// Every recorder opened from now on keeps the frames it is given in the returned list.
    pub fn record_into(&mut self) -> Arc<Mutex<Vec<Frame>>> {
        let frames = Arc::new(Mutex::new(Vec::new()));
        let keep = frames.clone();
        self.sfu.set_recorder_factory(Box::new(move |_, _, _| {
            Ok(Box::new(Keep(keep.clone())) as Box<dyn FrameSink>)
        }));
        frames
    }

    /// Publishes from a new client and waits for Connected. Returns the client index.
    pub fn publish(&mut self, peer: PeerId, codecs: &[Codec], kinds: &[MediaKind]) -> usize {
        self.publish_with(peer, codecs, kinds, None)
    }

    /// [`World::publish`] with a recording request.
    pub fn publish_with(
        &mut self,
        peer: PeerId,
        codecs: &[Codec],
        kinds: &[MediaKind],
        record: Option<RecordRequest>,
    ) -> usize {
        let client = Client::publisher(
            Self::client_addr(self.clients.len()),
            codecs,
            kinds,
            self.now,
        );
        self.publish_from(peer, client, record).0
    }

    /// Publishes from the given client and its offer; waits for Connected. Returns the client
    /// index and the server's answer.
    pub fn publish_from(
        &mut self,
        peer: PeerId,
        (client, offer): (Client, String),
        record: Option<RecordRequest>,
    ) -> (usize, String) {
        let idx = self.clients.len();
        self.clients.push(client);
        self.command(MediaCommand::Publish {
            peer,
            room: None,
            offer,
            transport: Default::default(),
            record,
        });
        let answer = self.answer_for(peer).unwrap_or_else(|| {
            panic!("no answer for publish: {:?}", self.failed(peer));
        });
        check_answer(&answer).expect("publish answer has what browsers need");
        self.clients[idx].accept_answer(&answer);
        self.pump();
        self.run_until(Duration::from_secs(5), |w| {
            w.connected(peer) && w.clients[idx].connected
        });
        (idx, answer)
    }

    /// Plays `source` from a new default client (PCMU/PCMA, VP8, H.264; no RED). Returns the
    /// client index and the server's answer.
    pub fn play(&mut self, peer: PeerId, source: PeerId) -> (usize, String) {
        let player = Client::player(Self::client_addr(self.clients.len()), self.now);
        self.play_from(peer, source, player)
    }

    /// Plays `source` from the given client and its offer; waits for Connected.
    pub fn play_from(
        &mut self,
        peer: PeerId,
        source: PeerId,
        (client, offer): (Client, String),
    ) -> (usize, String) {
        let idx = self.clients.len();
        self.clients.push(client);
        self.command(MediaCommand::Play {
            peer,
            source,
            offer,
            transport: Default::default(),
            constraints: Default::default(),
        });
        let answer = self.answer_for(peer).unwrap_or_else(|| {
            panic!("no answer for play: {:?}", self.failed(peer));
        });
        check_answer(&answer).expect("play answer has what browsers need");
        self.clients[idx].accept_answer(&answer);
        self.pump();
        self.run_until(Duration::from_secs(5), |w| {
            w.connected(peer) && w.clients[idx].connected
        });
        (idx, answer)
    }
}

/// A recorder stand-in: keeps what it is given.
struct Keep(Arc<Mutex<Vec<Frame>>>);

impl FrameSink for Keep {
    fn frame(&mut self, frame: &Frame) {
        self.0.lock().unwrap().push(frame.clone());
    }
    fn close(&mut self) {}
}

/// CPU time of the calling thread (not wall time: time the thread waits for a core while
/// other processes run is not counted).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
