//! The media driver through `start()` on 127.0.0.1: ICE over TCP (RFC 4571 framing) with str0m
//! clients whose UDP is unusable, garbage and silent connections on the TCP port, and a flood
//! of publish commands during a live call. (The idle cost is measured in `idle.rs`, a process
//! of its own so that no other test's media thread is running.)

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{assert_subsequence, audio_frame, video_frame, Client};
use huddle_room::{MediaCommand, MediaEvent, PeerId};
use huddle_sfu::{start, MediaHandle, SendError, SfuConfig, TcpLimits};
use str0m::format::Codec;
use str0m::media::MediaKind;
use str0m::net::{DatagramRecv, Protocol, Receive, TcpType};
use str0m::{Candidate, Input};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// How a test client reaches the server.
enum Link {
    Udp(UdpSocket),
    /// An ICE-TCP connection and the bytes read from it that do not form a frame yet.
    Tcp(TcpStream, Vec<u8>),
}

struct Net {
    handle: MediaHandle,
    events_rx: UnboundedReceiver<MediaEvent>,
    events: Vec<MediaEvent>,
    clients: Vec<(Client, Link)>,
}

fn config(limits: TcpLimits) -> SfuConfig {
    SfuConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        announce: vec!["127.0.0.1".parse().unwrap()],
        records_dir: std::env::temp_dir(),
        tcp_bind: Some("127.0.0.1:0".parse().unwrap()),
        tcp_limits: limits,
        shard: 0,
        ..SfuConfig::default()
    }
}

impl Net {
    fn new(limits: TcpLimits) -> Net {
        let (tx, events_rx) = unbounded_channel();
        let handle = start(config(limits), tx).expect("media plane starts");
        assert!(handle.tcp_addr().is_some_and(|a| a.port() != 0));
        Net {
            handle,
            events_rx,
            events: Vec::new(),
            clients: Vec::new(),
        }
    }

    fn tcp_addr(&self) -> SocketAddr {
        self.handle.tcp_addr().unwrap()
    }

    /// One round of client I/O. A TCP client's packets to the UDP candidate are dropped (its
    /// UDP is "blocked"), so its only working pair is the TCP one.
    fn turn(&mut self) {
        let (udp_server, tcp_server) = (self.handle.local_addr(), self.tcp_addr());
        let mut buf = vec![0u8; 64 * 1024];
        for (c, link) in &mut self.clients {
            send_outbox(c, link, udp_server, tcp_server);
            let now = Instant::now();
            match link {
                Link::Udp(s) => {
                    while let Ok((n, src)) = s.recv_from(&mut buf) {
                        c.receive(now, src, &buf[..n]);
                    }
                }
                Link::Tcp(s, pending) => {
                    loop {
                        match s.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                            Err(_) => break,
                        }
                    }
                    let mut at = 0;
                    while pending.len() >= at + 2 {
                        let len = u16::from_be_bytes([pending[at], pending[at + 1]]) as usize;
                        if pending.len() < at + 2 + len {
                            break;
                        }
                        let frame = &pending[at + 2..at + 2 + len];
                        receive_tcp(c, tcp_server, frame, now);
                        at += 2 + len;
                    }
                    pending.drain(..at);
                }
            }
            let now = Instant::now();
            if !c.negotiating() && c.next_timeout <= now {
                c.timeout(now);
            }
            send_outbox(c, link, udp_server, tcp_server);
        }
        while let Ok(e) = self.events_rx.try_recv() {
            self.events.push(e);
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if done(self) {
                return;
            }
            self.turn();
        }
        assert!(
            done(self),
            "condition not reached within {limit:?}: {:?}",
            self.events
        );
    }

    fn answer(&self, peer: PeerId) -> Option<String> {
        self.events.iter().find_map(|e| match e {
            MediaEvent::Answer { peer: p, sdp } if *p == peer => Some(sdp.clone()),
            MediaEvent::Failed { peer: p, reason } if *p == peer => {
                panic!("{peer} failed: {reason}")
            }
            _ => None,
        })
    }

    fn connected(&self, peer: PeerId) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, MediaEvent::Connected { peer: p } if *p == peer))
    }

    fn failed(&self) -> Vec<&MediaEvent> {
        self.events
            .iter()
            .filter(|e| matches!(e, MediaEvent::Failed { .. }))
            .collect()
    }

    /// Adds a client; `tcp`: it connects to the ICE-TCP port and offers an active TCP
    /// candidate (as Chrome does), else it uses a UDP socket.
    fn add(
        &mut self,
        peer: PeerId,
        tcp: bool,
        make: impl FnOnce(SocketAddr) -> (Client, String),
        cmd: impl FnOnce(String) -> MediaCommand,
    ) -> usize {
        let (link, addr) = if tcp {
            let s = TcpStream::connect(self.tcp_addr()).unwrap();
            s.set_nonblocking(true).unwrap();
            s.set_nodelay(true).unwrap();
            let a = s.local_addr().unwrap();
            (Link::Tcp(s, Vec::new()), a)
        } else {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            let a = s.local_addr().unwrap();
            (Link::Udp(s), a)
        };
        let (mut client, offer) = make(addr);
        if tcp {
            let c = Candidate::builder()
                .tcp()
                .host(addr)
                .tcptype(TcpType::Active)
                .build()
                .unwrap();
            client.rtc.add_local_candidate(c);
        }
        self.clients.push((client, link));
        let idx = self.clients.len() - 1;
        self.handle.send(cmd(offer)).expect("queued");
        self.run_until(Duration::from_secs(5), |n| n.answer(peer).is_some());
        let answer = self.answer(peer).unwrap();
        let tcp_candidate = format!(
            "127.0.0.1 {} typ host tcptype passive",
            self.tcp_addr().port()
        );
        assert!(
            answer.lines().any(|l| l.starts_with("a=candidate")
                && l.contains(" tcp ")
                && l.contains(&tcp_candidate)),
            "the answer offers a passive TCP candidate: {answer}"
        );
        self.clients[idx].0.accept_answer(&answer);
        self.run_until(Duration::from_secs(10), |n| {
            n.connected(peer) && n.clients[idx].0.connected
        });
        idx
    }

    /// Sends media from client `p` for `secs` seconds, running `each_turn` every turn.
    fn stream(
        &mut self,
        p: usize,
        duration: Duration,
        mut each_turn: impl FnMut(&mut Net),
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (mut sent_video, mut sent_audio) = (Vec::new(), Vec::new());
        let start = Instant::now();
        let (mut next_video, mut next_audio) = (start, start);
        let (mut vi, mut ai) = (0u32, 0u32);
        let mut handled_requests = 0;
        while start.elapsed() < duration {
            let now = Instant::now();
            if now >= next_video {
                let requests = self.clients[p].0.keyframe_requests.len();
                let key = vi.is_multiple_of(30) || requests > handled_requests;
                handled_requests = requests;
                let f = video_frame(Codec::Vp8, vi, key);
                self.clients[p]
                    .0
                    .write(MediaKind::Video, now, vi as u64 * 3000, &f);
                sent_video.push(f);
                vi += 1;
                next_video += Duration::from_millis(33);
            }
            if now >= next_audio {
                let f = audio_frame(Codec::Opus, ai);
                self.clients[p]
                    .0
                    .write(MediaKind::Audio, now, ai as u64 * 960, &f);
                sent_audio.push(f);
                ai += 1;
                next_audio += Duration::from_millis(20);
            }
            each_turn(self);
            self.turn();
        }
        let settle = Instant::now();
        while settle.elapsed() < Duration::from_millis(300) {
            self.turn();
        }
        (sent_video, sent_audio)
    }
}

fn send_outbox(c: &mut Client, link: &mut Link, udp_server: SocketAddr, tcp_server: SocketAddr) {
    for (dest, data) in std::mem::take(&mut c.outbox) {
        match link {
            Link::Udp(s) => {
                assert_eq!(dest, udp_server, "a UDP client only talks to the UDP port");
                let _ = s.send_to(&data, dest);
            }
            Link::Tcp(s, _) => {
                if dest != tcp_server {
                    continue; // UDP blocked
                }
                let mut framed = (data.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&data);
                write_all_nonblocking(s, &framed);
            }
        }
    }
}

fn write_all_nonblocking(s: &mut TcpStream, mut data: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !data.is_empty() {
        match s.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err(e) => panic!("client TCP write: {e}"),
        }
    }
}

fn receive_tcp(c: &mut Client, server: SocketAddr, frame: &[u8], now: Instant) {
    let Ok(contents) = DatagramRecv::try_from(frame) else {
        return;
    };
    let input = Input::Receive(
        now,
        Receive {
            proto: Protocol::Tcp,
            source: server,
            destination: c.addr,
            contents,
        },
    );
    if c.rtc.accepts(&input) {
        c.rtc.handle_input(input).expect("client input");
    }
    c.poll(now);
}

fn publisher(a: SocketAddr) -> (Client, String) {
    Client::publisher(
        a,
        &[Codec::Opus, Codec::Vp8],
        &[MediaKind::Audio, MediaKind::Video],
        Instant::now(),
    )
}

fn publish(peer: PeerId) -> impl FnOnce(String) -> MediaCommand {
    move |offer| MediaCommand::Publish {
        peer,
        room: None,
        offer,
        transport: Default::default(),
        record: None,
    }
}

fn play(peer: PeerId, source: PeerId) -> impl FnOnce(String) -> MediaCommand {
    move |offer| MediaCommand::Play {
        peer,
        source,
        offer,
        transport: Default::default(),
        constraints: Default::default(),
    }
}

fn assert_most_arrived(sent: &[Vec<u8>], got: &[&[u8]], what: &str) {
    assert_subsequence(sent, got, what);
    assert!(
        got.len() * 10 >= sent.len() * 8,
        "{what}: {} of {} frames",
        got.len(),
        sent.len()
    );
}

/// Whether the server closed `s` (EOF or reset) within `limit`.
fn closed_by_server(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut b = [0u8; 256];
    let end = Instant::now() + limit;
    while Instant::now() < end {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn ice_tcp_publish_and_play_with_garbage_on_the_port() {
    let limits = TcpLimits {
        handshake: Duration::from_secs(1),
        ..TcpLimits::default()
    };
    let mut net = Net::new(limits);
    let (pub_id, tcp_player, udp_player) = (PeerId(1), PeerId(2), PeerId(3));
    let p = net.add(pub_id, true, publisher, publish(pub_id));
    let q = net.add(
        tcp_player,
        true,
        |a| Client::player(a, Instant::now()),
        play(tcp_player, pub_id),
    );
    let r = net.add(
        udp_player,
        false,
        |a| Client::player(a, Instant::now()),
        play(udp_player, pub_id),
    );

    // During the call: connections that are not ICE. Random bytes, an HTTP request, a huge
    // frame length that never completes, and a connection that stays silent.
    let server = net.tcp_addr();
    let mut junk: Vec<TcpStream> = Vec::new();
    let mut rng_state = 0x9e37_79b9u32;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                rng_state ^= rng_state << 13;
                rng_state ^= rng_state >> 17;
                rng_state ^= rng_state << 5;
                rng_state as u8
            })
            .collect()
    };
    let mut turns = 0usize;
    let (sent_video, sent_audio) = net.stream(p, Duration::from_secs(2), |_| {
        turns += 1;
        if turns.is_multiple_of(20) && junk.len() < 24 {
            let mut s = TcpStream::connect(server).unwrap();
            let payload = match junk.len() % 4 {
                0 => random(3000),
                1 => b"GET / HTTP/1.1\r\nHost: huddle\r\n\r\n".to_vec(),
                2 => vec![0xff, 0xff, 1, 2, 3],
                _ => Vec::new(),
            };
            let _ = s.write_all(&payload);
            junk.push(s);
        }
    });
    for (kind, what) in [(q, "tcp player"), (r, "udp player")] {
        let got_video = net.clients[kind].0.frames(MediaKind::Video);
        let got_audio = net.clients[kind].0.frames(MediaKind::Audio);
        assert_most_arrived(&sent_video, &got_video, &format!("{what} video"));
        assert_most_arrived(&sent_audio, &got_audio, &format!("{what} audio"));
        eprintln!(
            "{what}: video {} of {}, audio {} of {}",
            got_video.len(),
            sent_video.len(),
            got_audio.len(),
            sent_audio.len()
        );
    }
    assert!(net.failed().is_empty(), "{:?}", net.failed());
    assert!(junk.len() >= 20, "garbage connections made: {}", junk.len());
    // Every garbage connection is closed by the server: at once when its first frame is not
    // STUN, after the handshake limit when it never completes one.
    for (i, s) in junk.iter_mut().enumerate() {
        assert!(
            closed_by_server(s, Duration::from_secs(4)),
            "garbage connection {i} was not closed"
        );
    }
    // The call still runs over TCP after all that.
    let before = net.clients[q].0.frames(MediaKind::Video).len();
    net.stream(p, Duration::from_millis(500), |_| {});
    assert!(net.clients[q].0.frames(MediaKind::Video).len() > before + 5);
    let stats = net.handle.stats();
    assert_eq!((stats.publishers, stats.players), (1, 2));
    net.handle.shutdown();
}

#[test]
fn a_publish_flood_does_not_stop_the_media_plane_reading() {
    let mut net = Net::new(TcpLimits::default());
    let (pub_id, player) = (PeerId(1), PeerId(2));
    let p = net.add(pub_id, false, publisher, publish(pub_id));
    let q = net.add(
        player,
        false,
        |a| Client::player(a, Instant::now()),
        play(player, pub_id),
    );
    // A real (parsable, codec-matching) offer, so every flooded publish builds an Rtc.
    let (_, offer) = publisher("127.0.0.1:9".parse().unwrap());
    let mut next_id = 1000u64;
    let (mut queued, mut busy) = (0usize, 0usize);
    let flood_started = Instant::now();
    let (sent_video, sent_audio) = net.stream(p, Duration::from_secs(3), |net| {
        // Keep the queue full for the whole window: up to 200 new publishes per turn.
        if flood_started.elapsed() < Duration::from_millis(2500) {
            for _ in 0..200 {
                let cmd = MediaCommand::Publish {
                    peer: PeerId(next_id),
                    room: None,
                    offer: offer.clone(),
                    transport: Default::default(),
                    record: None,
                };
                next_id += 1;
                match net.handle.send(cmd) {
                    Ok(()) => queued += 1,
                    Err(SendError::Busy) => busy += 1,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    });
    let got_video = net.clients[q].0.frames(MediaKind::Video);
    let got_audio = net.clients[q].0.frames(MediaKind::Audio);
    eprintln!(
        "flood: {queued} publishes queued, {busy} refused busy; player got video {} of {}, audio {} of {}",
        got_video.len(),
        sent_video.len(),
        got_audio.len(),
        sent_audio.len()
    );
    assert!(busy > 0, "the bounded queue refused some publishes");
    assert!(queued >= huddle_sfu::MAX_QUEUED_OPENS);
    assert_most_arrived(&sent_video, &got_video, "video during the flood");
    assert_most_arrived(&sent_audio, &got_audio, "audio during the flood");
    let live_failed: Vec<_> = net
        .failed()
        .into_iter()
        .filter(
            |e| matches!(e, MediaEvent::Failed { peer, .. } if *peer == pub_id || *peer == player),
        )
        .collect();
    assert!(live_failed.is_empty(), "{live_failed:?}");
    net.handle.shutdown();
}
