//! End-to-end tests: real ffmpeg publishers against `huddle_rtmp::serve` on loopback.
//!
//! Needs `ffmpeg` (with libx264 and the native aac encoder) on PATH: `scripts/install-deps.sh`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audiopus::coder::Decoder;
use audiopus::packet::Packet;
use audiopus::{Channels, MutSignals, SampleRate};
use huddle_record::codec::annexb_nals as split_annexb;
use huddle_rtmp::avc::nal_type;
use huddle_rtmp::{
    serve_with_config, AudioConfig, AudioFrame, AvcConfig, CloseReason, ConnId, IngestEvent, Media,
    RtmpRequest, ServerConfig, VideoFrame,
};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{timeout, Instant};

#[derive(Debug, Default)]
struct ConnLog {
    publish: Option<RtmpRequest>,
    video_config: Vec<AvcConfig>,
    audio_config: Vec<AudioConfig>,
    video: Vec<(Instant, VideoFrame)>,
    audio: Vec<(Instant, AudioFrame)>,
    closed: Option<CloseReason>,
}

struct Harness {
    port: u16,
    log: Arc<Mutex<BTreeMap<ConnId, ConnLog>>>,
    changed: Arc<Notify>,
    _server: tokio::task::JoinHandle<()>,
    _collector: tokio::task::JoinHandle<()>,
}

impl Harness {
    /// Starts the server; publishes to room "forbidden" are refused, all others accepted.
    async fn start() -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_max_level(tracing::Level::INFO)
            .try_init();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sink, mut rx) = huddle_rtmp::channel(64);
        let server = tokio::spawn(async move {
            huddle_rtmp::serve(listener, sink).await.unwrap();
        });
        let log: Arc<Mutex<BTreeMap<ConnId, ConnLog>>> = Arc::default();
        let changed = Arc::new(Notify::new());
        let (log2, changed2) = (log.clone(), changed.clone());
        let collector = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let now = Instant::now();
                {
                    let mut log = log2.lock().unwrap();
                    match ev {
                        IngestEvent::Publish { request, reply } => {
                            if request.room == "forbidden" {
                                reply.refuse("room is closed");
                            } else {
                                reply.accept();
                            }
                            let conn = request.conn;
                            log.entry(conn).or_default().publish = Some(request);
                        }
                        IngestEvent::Media { conn, media } => {
                            let c = log.entry(conn).or_default();
                            match media {
                                Media::VideoConfig(v) => c.video_config.push(v),
                                Media::AudioConfig(a) => c.audio_config.push(a),
                                Media::Video(f) => c.video.push((now, f)),
                                Media::Audio(f) => c.audio.push((now, f)),
                            }
                        }
                        IngestEvent::Closed { conn, reason } => {
                            let c = log.entry(conn).or_default();
                            assert!(c.closed.is_none(), "second Closed for {conn}");
                            c.closed = Some(reason);
                        }
                    }
                }
                changed2.notify_waiters();
            }
        });
        Harness {
            port,
            log,
            changed,
            _server: server,
            _collector: collector,
        }
    }

    /// Waits (bounded) until `pred` holds on the log, then returns what `pred` returned.
    async fn wait_for<T>(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&BTreeMap<ConnId, ConnLog>) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if let Some(t) = pred(&self.log.lock().unwrap()) {
                return t;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "condition not met within {limit:?}; log: {:#?}",
                    summary(&self.log.lock().unwrap())
                );
            }
            let _ = timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// Waits for the Closed of the connection that published as `room`/`login`.
    async fn closed_publish(&self, room: &str, login: &str) -> ConnId {
        self.wait_for(Duration::from_secs(30), |log| {
            log.iter()
                .find(|(_, c)| {
                    c.closed.is_some()
                        && c.publish
                            .as_ref()
                            .is_some_and(|p| p.room == room && p.login == login)
                })
                .map(|(id, _)| *id)
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.port)
    }
}

fn summary(log: &BTreeMap<ConnId, ConnLog>) -> Vec<String> {
    log.iter()
        .map(|(id, c)| {
            format!(
                "{id}: publish={:?} video={} audio={} closed={:?}",
                c.publish.as_ref().map(|p| (&p.room, &p.login)),
                c.video.len(),
                c.audio.len(),
                c.closed
            )
        })
        .collect()
}

/// Runs ffmpeg publishing 3 s of test video + 440 Hz tone; returns its exit success.
async fn ffmpeg_publish(url: &str, extra_video: &[&str], seconds: u32) -> bool {
    ffmpeg_publish_with(url, extra_video, &[], seconds).await
}

async fn ffmpeg_publish_with(
    url: &str,
    extra_video: &[&str],
    extra_audio: &[&str],
    seconds: u32,
) -> bool {
    let secs = seconds.to_string();
    let mut args: Vec<&str> = vec![
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=15",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        &secs,
        "-c:v",
        "libx264",
    ];
    args.extend_from_slice(extra_video);
    args.extend_from_slice(&["-g", "30", "-c:a", "aac"]);
    args.extend_from_slice(extra_audio);
    args.extend_from_slice(&["-f", "flv", url]);
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg must be installed (scripts/install-deps.sh)");
    let mut stderr = child.stderr.take().unwrap();
    let status = timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("ffmpeg did not finish within 30 s")
        .unwrap();
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err).await;
    if !status.success() {
        eprintln!("ffmpeg {url} exited with {status}: {err}");
    }
    status.success()
}

/// Frequency (Hz) from upward zero crossings, and RMS, of mono PCM at 48 kHz.
fn tone(pcm: &[f32]) -> (f64, f64) {
    let ups = pcm.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    let rms = (pcm.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
    (ups as f64 * 48_000.0 / pcm.len() as f64, rms)
}

/// `paced`: the encoder emits in real time (x264 `zerolatency`); without it, x264's lookahead
/// makes ffmpeg send the first and last second in bursts, so only media timestamps are checked.
fn check_good_publish(c: &ConnLog, seconds: f64, paced: bool) {
    // Video: configuration, then a keyframe that carries SPS + PPS in Annex-B.
    assert_eq!(c.video_config.len(), 1, "one AVC configuration");
    let cfg = &c.video_config[0];
    assert_eq!(
        cfg.profile_level_id,
        [cfg.sps[0][1], cfg.sps[0][2], cfg.sps[0][3]]
    );
    assert_eq!(cfg.profile_level_id_hex().len(), 6);
    let (_, first) = &c.video[0];
    assert!(first.keyframe, "first video frame is a keyframe");
    assert!(first.annexb.starts_with(&[0, 0, 0, 1]));
    let types: Vec<u8> = split_annexb(&first.annexb)
        .iter()
        .map(|n| nal_type(n))
        .collect();
    assert_eq!(&types[..2], &[7, 8], "SPS, PPS first: {types:?}");
    assert!(types.contains(&5), "IDR slice in the keyframe: {types:?}");
    assert_eq!(split_annexb(&first.annexb)[0], &cfg.sps[0][..]);
    // ~15 fps over the duration, increasing timestamps, 90 kHz = ms * 90.
    let n = c.video.len() as f64;
    assert!(
        (n - 15.0 * seconds).abs() <= 5.0,
        "{n} video frames for {seconds} s at 15 fps"
    );
    for w in c.video.windows(2) {
        assert!(w[1].1.pts_ms > w[0].1.pts_ms, "video pts increase");
    }
    for (_, f) in &c.video {
        assert_eq!(f.rtp_time_90k, (f.pts_ms * 90) as u32);
        assert!(f.annexb.starts_with(&[0, 0, 0, 1]));
    }
    // -g 30: keyframes every 2 s carry SPS/PPS too.
    let keys: Vec<_> = c.video.iter().filter(|(_, f)| f.keyframe).collect();
    assert!(keys.len() >= 2, "{} keyframes", keys.len());
    for (_, k) in keys {
        assert_eq!(nal_type(&k.annexb[4..]), 7);
    }
    let span = c.video.last().unwrap().1.pts_ms - c.video[0].1.pts_ms;
    assert!(
        (span as f64 - (seconds - 1.0 / 15.0) * 1000.0).abs() < 150.0,
        "video spans {span} ms"
    );

    // Audio: mono 44.1 kHz AAC became 20 ms Opus frames, 50 per second.
    assert_eq!(
        c.audio_config,
        vec![AudioConfig {
            source_rate: 44_100,
            channels: 1
        }]
    );
    let a = &c.audio;
    let n = a.len() as f64;
    assert!(
        (n - 50.0 * seconds).abs() <= 8.0,
        "{n} Opus frames for {seconds} s"
    );
    for w in a.windows(2) {
        assert_eq!(w[1].1.rtp_time_48k.wrapping_sub(w[0].1.rtp_time_48k), 960);
        assert!(w[1].1.pts_ms >= w[0].1.pts_ms + 19 && w[1].1.pts_ms <= w[0].1.pts_ms + 21);
    }
    // Same time base as video: both start near 0 ms.
    assert!(a[0].1.pts_ms < 100 && c.video[0].1.pts_ms < 100);
    assert_eq!(a[0].1.rtp_time_48k, (a[0].1.pts_ms * 48) as u32);
    let media_span = (a.last().unwrap().1.pts_ms - a[0].1.pts_ms) as f64;
    assert!(
        (media_span - (n - 1.0) * 20.0).abs() <= 1.0,
        "50 frames per media second"
    );
    // Paced in real time by ffmpeg -re (with x264 zerolatency, no lookahead burst): 50/s of
    // wall clock too, i.e. the pipeline neither holds back nor bunches audio.
    if paced {
        let wall = a.last().unwrap().0 - a[0].0;
        let rate = (n - 1.0) / wall.as_secs_f64();
        assert!(
            (35.0..=70.0).contains(&rate),
            "{rate} Opus frames per second"
        );
    }

    // The Opus decodes back to a 440 Hz tone.
    let mut dec = Decoder::new(SampleRate::Hz48000, Channels::Mono).unwrap();
    let mut pcm = Vec::new();
    let mut buf = vec![0f32; 960];
    for (_, f) in a {
        let got = dec
            .decode_float(
                Some(Packet::try_from(&f.opus[..]).unwrap()),
                MutSignals::try_from(&mut buf[..]).unwrap(),
                false,
            )
            .unwrap();
        assert_eq!(got, 960);
        pcm.extend_from_slice(&buf);
    }
    let (freq, rms) = tone(&pcm[9600..]);
    assert!((freq - 440.0).abs() < 10.0, "decoded tone at {freq} Hz");
    // lavfi sine has amplitude 1/8: RMS 0.088.
    assert!((0.05..0.15).contains(&rms), "decoded RMS {rms}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ffmpeg_publish_produces_h264_and_opus() {
    let h = Harness::start().await;
    // The command line of the brief: default x264 settings apart from -bf 0.
    let ok = ffmpeg_publish(&h.url("live/room1/alice"), &["-bf", "0"], 3).await;
    assert!(ok, "ffmpeg publish failed");
    let conn = h.closed_publish("room1", "alice").await;
    let log = h.log.lock().unwrap();
    let c = &log[&conn];
    let p = c.publish.as_ref().unwrap();
    assert_eq!((p.room.as_str(), p.login.as_str()), ("room1", "alice"));
    assert_eq!(p.app, "live/room1");
    assert_eq!(p.stream_key, "alice");
    assert!(
        matches!(
            c.closed,
            Some(CloseReason::Finished | CloseReason::Disconnected)
        ),
        "{:?}",
        c.closed
    );
    check_good_publish(c, 3.0, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn b_frames_are_rejected() {
    let h = Harness::start().await;
    let ok = ffmpeg_publish(
        &h.url("live/room1/bob"),
        &["-bf", "2", "-x264-params", "b-adapt=0"],
        3,
    )
    .await;
    assert!(!ok, "ffmpeg should fail when the server drops it");
    let conn = h.closed_publish("room1", "bob").await;
    let log = h.log.lock().unwrap();
    match &log[&conn].closed {
        Some(CloseReason::Unsupported(m)) => {
            assert!(m.contains("B-frames") && m.contains("-bf 0"), "{m}")
        }
        other => panic!("expected Unsupported(B-frames), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_publish_and_unknown_app() {
    let h = Harness::start().await;
    assert!(!ffmpeg_publish(&h.url("live/forbidden/carol"), &["-bf", "0"], 1).await);
    let conn = h.closed_publish("forbidden", "carol").await;
    assert_eq!(
        h.log.lock().unwrap()[&conn].closed,
        Some(CloseReason::Refused("room is closed".into()))
    );
    assert!(h.log.lock().unwrap()[&conn].video.is_empty());

    assert!(!ffmpeg_publish(&h.url("vod/room1/dave"), &["-bf", "0"], 1).await);
    h.wait_for(Duration::from_secs(10), |log| {
        log.values()
            .find(|c| matches!(&c.closed, Some(CloseReason::UnknownApp(a)) if a == "vod/room1"))
            .map(|_| ())
    })
    .await;
}

/// Client side of the RTMP handshake, for hand-made malformed sessions.
async fn handshake(s: &mut TcpStream) {
    let mut hs = Handshake::new(PeerType::Client);
    s.write_all(&hs.generate_outbound_p0_and_p1().unwrap())
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    for _ in 0..100 {
        let n = timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "server closed during handshake");
        match hs.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                s.write_all(&response_bytes).await.unwrap()
            }
            HandshakeProcessResult::Completed { response_bytes, .. } => {
                s.write_all(&response_bytes).await.unwrap();
                return;
            }
        }
    }
    panic!("handshake did not complete");
}

/// Reads until the server closes the connection (bounded).
async fn expect_server_close(s: &mut TcpStream) {
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut buf)).await {
            Err(_) => panic!("server did not close the connection"),
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_closes_only_its_connection() {
    let h = Harness::start().await;
    let url = h.url("live/room2/erin");
    let good = tokio::spawn(async move {
        ffmpeg_publish(&url, &["-bf", "0", "-tune", "zerolatency"], 3).await
    });
    // Let the publish get going, then attack.
    h.wait_for(Duration::from_secs(10), |log| {
        log.values().find(|c| c.video.len() > 3).map(|_| ())
    })
    .await;
    let addr = format!("127.0.0.1:{}", h.port);

    // 1. Not RTMP at all.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    expect_server_close(&mut s).await;

    // 2. Valid handshake, then a chunk continuing a stream that never started.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    handshake(&mut s).await;
    s.write_all(&[0xc5, 1, 2, 3, 4, 5, 6, 7, 8]).await.unwrap();
    expect_server_close(&mut s).await;

    // 3. Valid handshake, then pseudo-random bytes.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    handshake(&mut s).await;
    let mut x: u32 = 0x1234_5678;
    let junk: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let _ = s.write_all(&junk).await;
    expect_server_close(&mut s).await;

    // 4. Valid handshake, a huge chunk size, then a message header declaring 16 MiB - 1:
    //    refused on the header, before the body is buffered.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    handshake(&mut s).await;
    // Set Chunk Size (type 1) to 0x7fffffff.
    s.write_all(&[
        0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
    ])
    .await
    .unwrap();
    // Video message (type 9) of length 0xffffff on csid 6, and the start of its body.
    s.write_all(&[0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0])
        .await
        .unwrap();
    let _ = s.write_all(&[0x17; 1000]).await;
    expect_server_close(&mut s).await;

    // 5. Valid handshake, a truncated chunk, then the client goes away.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    handshake(&mut s).await;
    s.write_all(&[0x03, 0, 0, 0, 0, 1, 0]).await.unwrap();
    drop(s);

    // 6. Truncated handshake. The client half-closes and reads what the server sent (its S0/S1
    // may already be on the way): dropping a socket with unread data makes the kernel send a
    // reset, and the server would see "connection reset" instead of the end of the handshake.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(&[3, 0, 0, 0]).await.unwrap();
    s.shutdown().await.unwrap();
    expect_server_close(&mut s).await;

    // The garbage connections were closed with a reason; the publish kept going.
    h.wait_for(Duration::from_secs(10), |log| {
        let bad = log
            .values()
            .filter(|c| c.publish.is_none() && c.closed.is_some())
            .count();
        (bad >= 6).then_some(())
    })
    .await;
    {
        let log = h.log.lock().unwrap();
        // Connection ids follow accept order: the publish first, then cases 1..=6.
        let reasons: Vec<_> = log
            .values()
            .filter(|c| c.publish.is_none())
            .map(|c| c.closed.clone().unwrap())
            .collect();
        let proto = |i: usize, needle: &str| match &reasons[i] {
            CloseReason::Protocol(m) => assert!(m.contains(needle), "case {}: {m}", i + 1),
            other => panic!("case {}: {other:?}", i + 1),
        };
        proto(0, "handshake");
        proto(1, "before a type 0 chunk");
        proto(2, "");
        proto(3, "exceeds the 4194304 byte limit");
        assert!(
            matches!(reasons[4], CloseReason::Disconnected | CloseReason::Io(_)),
            "{:?}",
            reasons[4]
        );
        proto(5, "closed during the handshake");
        let publishing = log.values().find(|c| c.publish.is_some()).unwrap();
        assert!(publishing.closed.is_none(), "good publish survived");
    }
    assert!(good.await.unwrap(), "good publish completed");
    let conn = h.closed_publish("room2", "erin").await;
    check_good_publish(&h.log.lock().unwrap()[&conn], 3.0, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stereo_48k_aac_becomes_stereo_opus() {
    let h = Harness::start().await;
    let ok = ffmpeg_publish_with(
        &h.url("live/room3/frank"),
        &["-bf", "0", "-tune", "zerolatency"],
        &["-ac", "2", "-ar", "48000"],
        2,
    )
    .await;
    assert!(ok, "ffmpeg publish failed");
    let conn = h.closed_publish("room3", "frank").await;
    let log = h.log.lock().unwrap();
    let c = &log[&conn];
    assert_eq!(
        c.audio_config,
        vec![AudioConfig {
            source_rate: 48_000,
            channels: 2
        }]
    );
    assert!(
        (90..=110).contains(&c.audio.len()),
        "{} frames",
        c.audio.len()
    );
    let mut dec = Decoder::new(SampleRate::Hz48000, Channels::Stereo).unwrap();
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let mut buf = vec![0f32; 2 * 960];
    for (_, f) in &c.audio {
        let n = dec
            .decode_float(
                Some(Packet::try_from(&f.opus[..]).unwrap()),
                MutSignals::try_from(&mut buf[..]).unwrap(),
                false,
            )
            .unwrap();
        assert_eq!(n, 960);
        for fr in buf.chunks(2) {
            left.push(fr[0]);
            right.push(fr[1]);
        }
    }
    for ch in [&left, &right] {
        let (freq, rms) = tone(&ch[9600..]);
        assert!((freq - 440.0).abs() < 10.0, "decoded tone at {freq} Hz");
        assert!((0.05..0.15).contains(&rms), "decoded RMS {rms}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_time_out_and_connection_cap_holds() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (sink, mut rx) = huddle_rtmp::channel(16);
    let config = ServerConfig {
        max_pending: 1,
        handshake_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    };
    let server = tokio::spawn(serve_with_config(listener, sink, config));
    // Holds the only slot and sends nothing.
    let _silent = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    expect_server_close(&mut second).await;
    let mut reasons = Vec::new();
    for _ in 0..2 {
        match timeout(Duration::from_secs(5), rx.recv()).await.unwrap() {
            Some(IngestEvent::Closed { conn, reason }) => reasons.push((conn, reason)),
            other => panic!("unexpected {other:?}"),
        }
    }
    reasons.sort_by_key(|(c, _)| *c);
    assert_eq!(reasons[1].1, CloseReason::ServerFull(1));
    assert!(
        matches!(&reasons[0].1, CloseReason::Timeout(m) if m.contains("handshake not done")),
        "{:?}",
        reasons[0]
    );
    server.abort();
}

/// The sink ends a publish (the room kicked the encoder): the server closes the TCP
/// connection at once, reports `Closed` with the sink's reason, and the encoder stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sink_can_close_a_publishing_connection() {
    let h = Harness::start().await;
    let url = h.url("live/room1/kicked");
    let started = Instant::now();
    let ffmpeg = tokio::spawn(async move { ffmpeg_publish(&url, &["-bf", "0"], 25).await });
    // Wait until media flows, then close from the sink's side.
    let close = h
        .wait_for(Duration::from_secs(15), |log| {
            log.values()
                .find(|c| c.video.len() >= 5)
                .and_then(|c| c.publish.as_ref())
                .map(|p| p.close.clone())
        })
        .await;
    assert!(!close.is_closed());
    close.close("kicked by the operator");
    close.close("a second close is ignored");
    assert!(close.is_closed());
    let conn = h.closed_publish("room1", "kicked").await;
    assert_eq!(
        h.log.lock().unwrap()[&conn].closed,
        Some(CloseReason::Closed("kicked by the operator".into()))
    );
    let ok = timeout(Duration::from_secs(15), ffmpeg)
        .await
        .expect("ffmpeg stops once its connection is closed")
        .unwrap();
    assert!(!ok, "ffmpeg reports the broken publish");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "ffmpeg ended well before its 25 s: {:?}",
        started.elapsed()
    );
}

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.x).
async fn connect_from(from: &str, addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Half-open sockets (issue 12, finding 5): one address holds at most `max_per_ip` of them,
/// they never take a publishing slot, and they are closed when the handshake is late; a real
/// encoder publishes meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_open_sockets_do_not_block_a_real_publish() {
    let h = Harness::start().await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", h.port).parse().unwrap();
    let max_per_ip = ServerConfig::default().max_per_ip;
    let mut silent = Vec::new();
    for _ in 0..max_per_ip + 4 {
        silent.push(connect_from("127.0.0.2", addr).await);
    }
    // The ones over the per-address cap are closed at once.
    let mut closed_early = 0;
    for s in &mut silent {
        let mut b = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) = timeout(Duration::from_millis(300), s.read(&mut b)).await {
            closed_early += 1;
        }
    }
    assert_eq!(closed_early, 4);
    let url = h.url("live/room1/encoder");
    assert!(
        ffmpeg_publish(&url, &["-bf", "0"], 2).await,
        "the real publish works"
    );
    // The held ones are closed by the handshake timeout (5 s from accept).
    for s in &mut silent {
        expect_server_close(s).await;
    }
}
