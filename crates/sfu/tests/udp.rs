//! Through `start()` with real UDP sockets on 127.0.0.1: publish, play, garbage on the port,
//! close, shutdown.

use crate::common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{assert_subsequence, audio_frame, garbage, video_frame, Client};
use huddle_room::{MediaCommand, MediaEvent, PeerId, RecordRequest};
use huddle_sfu::{start, MediaHandle, SfuConfig};
use str0m::format::Codec;
use str0m::media::MediaKind;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

struct Net {
    handle: MediaHandle,
    events_rx: UnboundedReceiver<MediaEvent>,
    events: Vec<MediaEvent>,
    clients: Vec<(Client, UdpSocket)>,
    buf: Vec<u8>,
}

impl Net {
    fn new() -> Net {
        Net::with_records(std::env::temp_dir())
    }

    fn with_records(records_dir: std::path::PathBuf) -> Net {
        let (tx, events_rx) = unbounded_channel();
        let config = SfuConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            announce: vec!["127.0.0.1".parse().unwrap()],
            records_dir,
            tcp_bind: Some("127.0.0.1:0".parse().unwrap()),
            ..SfuConfig::default()
        };
        let handle = start(config, tx).expect("media plane starts");
        assert_eq!(handle.local_addr().ip().to_string(), "127.0.0.1");
        assert_ne!(handle.local_addr().port(), 0);
        Net {
            handle,
            events_rx,
            events: Vec::new(),
            clients: Vec::new(),
            buf: vec![0; 2048],
        }
    }

    fn socket() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    /// One round of client I/O: send outboxes, read sockets, fire timers, collect events.
    fn turn(&mut self) {
        let server = self.handle.local_addr();
        for (c, s) in &mut self.clients {
            for (dest, data) in std::mem::take(&mut c.outbox) {
                assert_eq!(dest, server, "clients only talk to the server");
                let _ = s.send_to(&data, dest);
            }
            for _ in 0..1000 {
                match s.recv_from(&mut self.buf) {
                    Ok((n, src)) => c.receive(Instant::now(), src, &self.buf[..n]),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if !c.negotiating() && c.next_timeout <= now {
                c.timeout(now);
            }
            for (dest, data) in std::mem::take(&mut c.outbox) {
                let _ = s.send_to(&data, dest);
            }
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
        assert!(done(self), "condition not reached within {limit:?}");
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

    fn failed(&self, peer: PeerId) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, MediaEvent::Failed { peer: p, .. } if *p == peer))
    }

    fn add(
        &mut self,
        peer: PeerId,
        make: impl FnOnce(SocketAddr) -> (Client, String),
        cmd: impl FnOnce(String) -> MediaCommand,
    ) -> usize {
        let s = Net::socket();
        let (client, offer) = make(s.local_addr().unwrap());
        self.clients.push((client, s));
        let idx = self.clients.len() - 1;
        self.handle.send(cmd(offer)).expect("queued");
        self.run_until(Duration::from_secs(5), |n| n.answer(peer).is_some());
        let answer = self.answer(peer).unwrap();
        self.clients[idx].0.accept_answer(&answer);
        self.run_until(Duration::from_secs(10), |n| {
            n.connected(peer) && n.clients[idx].0.connected
        });
        idx
    }
}

#[test]
fn loopback_publish_play_with_garbage_then_close() {
    let t0 = Instant::now();
    let records = std::env::temp_dir().join(format!(
        "huddle-sfu-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut net = Net::with_records(records.clone());
    let server = net.handle.local_addr();
    let publisher = PeerId(1);
    let player = PeerId(2);

    let p = net.add(
        publisher,
        |a| {
            Client::publisher(
                a,
                &[Codec::Opus, Codec::Vp8],
                &[MediaKind::Audio, MediaKind::Video],
                Instant::now(),
            )
        },
        |offer| MediaCommand::Publish {
            peer: publisher,
            room: None,
            offer,
            transport: Default::default(),
            record: Some(RecordRequest {
                file_name: "room1/alice-stream.mkv".into(),
                room: Some("room1".into()),
                login: "alice".into(),
                stream: "stream".into(),
                started_unix_ms: 1_700_000_000_000,
            }),
        },
    );
    let q = net.add(
        player,
        |a| Client::player(a, Instant::now()),
        |offer| MediaCommand::Play {
            peer: player,
            source: publisher,
            offer,
            transport: Default::default(),
            constraints: Default::default(),
        },
    );

    let connect_time = t0.elapsed();
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = rand::rng();
    let mut sent_video = Vec::new();
    let mut sent_audio = Vec::new();
    let start = Instant::now();
    let mut next_video = start;
    let mut next_audio = start;
    let mut junk_sent = 0usize;
    let (mut vi, mut ai) = (0u32, 0u32);
    let mut handled_requests = 0;
    while start.elapsed() < Duration::from_secs(2) {
        let now = Instant::now();
        if now >= next_video {
            let requests = net.clients[p].0.keyframe_requests.len();
            let key = vi.is_multiple_of(30) || requests > handled_requests;
            handled_requests = requests;
            let f = video_frame(Codec::Vp8, vi, key);
            net.clients[p]
                .0
                .write(MediaKind::Video, now, vi as u64 * 3000, &f);
            sent_video.push(f);
            vi += 1;
            next_video += Duration::from_millis(33);
        }
        if now >= next_audio {
            let f = audio_frame(Codec::Opus, ai);
            net.clients[p]
                .0
                .write(MediaKind::Audio, now, ai as u64 * 960, &f);
            sent_audio.push(f);
            ai += 1;
            next_audio += Duration::from_millis(20);
        }
        for _ in 0..5 {
            let g = garbage(&mut rng, junk_sent);
            junk.send_to(&g, server).unwrap();
            junk_sent += 1;
        }
        net.turn();
    }
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(300) {
        net.turn();
    }

    let got_video = net.clients[q].0.frames(MediaKind::Video);
    let got_audio = net.clients[q].0.frames(MediaKind::Audio);
    assert_subsequence(&sent_video, &got_video, "video");
    assert_subsequence(&sent_audio, &got_audio, "audio");
    assert!(
        got_video.len() * 10 >= sent_video.len() * 8,
        "video {} of {}",
        got_video.len(),
        sent_video.len()
    );
    assert!(
        got_audio.len() * 10 >= sent_audio.len() * 8,
        "audio {} of {}",
        got_audio.len(),
        sent_audio.len()
    );
    assert!(
        !net.failed(publisher) && !net.failed(player),
        "{:?}",
        net.events
    );

    let stats = net.handle.stats();
    assert_eq!((stats.peers, stats.publishers, stats.players), (2, 1, 1));
    assert!(
        stats.dropped as usize >= junk_sent / 2,
        "garbage counted as dropped: {stats:?}"
    );
    assert!(stats.packets_in > 0 && stats.packets_out > 0 && stats.bytes_out > 0);
    // The junk socket got nothing back.
    junk.set_nonblocking(true).unwrap();
    assert!(junk.recv_from(&mut [0u8; 2048]).is_err());

    net.handle
        .send(MediaCommand::Close { peer: player })
        .unwrap();
    net.handle
        .send(MediaCommand::Close { peer: publisher })
        .unwrap();
    // The settle barrier fires only once the closed publisher's recording is finished:
    // finishing writes the Cues element, so it must be in the file by then.
    let (settled_tx, settled_rx) = std::sync::mpsc::channel();
    net.handle.settle(move || {
        let _ = settled_tx.send(());
    });
    settled_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("settle barrier fired");
    let at_settle =
        std::fs::read(records.join("room1/alice-stream.mkv")).expect("recording exists");
    assert!(
        at_settle.windows(4).any(|w| w == [0x1C, 0x53, 0xBB, 0x6B]),
        "the recording is finished (Cues written) when the barrier fires"
    );
    eprintln!(
        "connect {connect_time:?}, video {} of {}, audio {} of {}",
        got_video.len(),
        sent_video.len(),
        got_audio.len(),
        sent_audio.len()
    );
    assert!(
        connect_time < Duration::from_secs(4),
        "two peers took {connect_time:?} to connect"
    );
    let h = net.handle.clone();
    net.run_until(Duration::from_secs(2), |_| h.stats().peers == 0);
    // The clients heard the goodbye (DTLS close_notify).
    net.run_until(Duration::from_secs(2), |n| {
        n.clients.iter().all(|(c, _)| c.closed)
    });
    net.handle.shutdown();
    net.handle.shutdown();

    // The recording was finished: a Matroska file with the frames in it.
    let file = records.join("room1/alice-stream.mkv");
    let bytes = std::fs::read(&file).expect("recording exists");
    assert_eq!(&bytes[..4], &[0x1a, 0x45, 0xdf, 0xa3], "EBML magic");
    let payload: usize = sent_video.iter().map(|f| f.len()).sum::<usize>() / 2;
    assert!(
        bytes.len() > payload,
        "recording holds the media: {} bytes",
        bytes.len()
    );
    let marker = &sent_video[40][..40];
    assert!(
        bytes.windows(marker.len()).any(|w| w == marker),
        "a forwarded frame is in the file"
    );
    let _ = std::fs::remove_dir_all(&records);
}

#[test]
fn loopback_bad_offer_and_shutdown() {
    let mut net = Net::new();
    net.handle
        .send(MediaCommand::Publish {
            peer: PeerId(7),
            room: None,
            offer: "v=0\r\nthis is not sdp".into(),
            transport: Default::default(),
            record: None,
        })
        .unwrap();
    net.run_until(Duration::from_secs(2), |n| n.failed(PeerId(7)));
    assert_eq!(net.handle.stats().peers, 0);
    net.handle.shutdown();
    // Commands after shutdown are refused, not a panic.
    assert_eq!(
        net.handle.send(MediaCommand::Close { peer: PeerId(7) }),
        Err(huddle_sfu::SendError::Stopped)
    );
}
