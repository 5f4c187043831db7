//! `bench floor`: what forwarding costs when a core does nothing else — issue 15's "what the
//! machine allows: one AES-GCM seal plus one sendmmsg slot per packet".
//!
//! One thread, pinned where the servers run, sends each scenario's packets the way an SFU must
//! at the least: every subscription's copy gets its own RTP header (with the two extensions every
//! server here writes: transport-wide sequence number and abs-send-time) and is sealed with
//! AES-256-GCM under that subscription's own key (str0m's SRTP cipher, the code Huddle runs),
//! then handed to the kernel in batches as Huddle sends (`sendmmsg`, a frame's packets to one
//! subscriber in one UDP GSO message: huddle-sfu's `BatchSender`). A second thread, pinned where
//! the load generator runs, reads every subscription's UDP socket on loopback and counts.
//!
//! The figure is the sending thread's CPU (utime + stime) per packet delivered — measured the way
//! `bench run` measures a server. On loopback the kernel delivers each datagram to the receiving
//! socket inside the sender's system call, so the floor carries that cost, as every server's
//! figure does. Nothing here decides anything (no bandwidth estimation, no feedback, no resends,
//! no pacing): a server's distance to this floor is what its own logic costs.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use huddle_sfu::{BatchSender, Transmit, BATCH};
use str0m::crypto::AeadAes256GcmCipher;
use str0m::net::Protocol;

use crate::media::MediaShape;
use crate::scenario::{Scenario, ScenarioResult};
use crate::stats::{clk_tck, loadavg, percentile_ms, stat_cpu_secs};

/// Most payload bytes in one RTP packet of a video frame (what the load generator's str0m
/// packetizer produces with its default MTU: the packet rates of `floor` rows match the
/// servers' rows).
pub const MAX_PAYLOAD: usize = 1_150;
/// RTP header with a one-byte-form extension block: 12 + 4 + (1 + 2) transport-cc +
/// (1 + 3) abs-send-time, padded to 24.
const HEADER_LEN: usize = 24;
const TAG_LEN: usize = 16;

pub struct FloorOpts {
    pub scenario: Scenario,
    pub warmup: Duration,
    pub measure: Duration,
    /// Cores for the sending and the receiving thread (None: not pinned, e.g. in tests).
    pub send_cpu: Option<usize>,
    pub recv_cpu: Option<usize>,
    pub shape: MediaShape,
}

/// One subscription: where its copies go and its own SRTP state.
struct Subscription {
    dest: SocketAddr,
    cipher: Box<dyn AeadAes256GcmCipher>,
    salt: [u8; 12],
    ssrc: u32,
    seq: u16,
    twcc: u16,
}

/// What a publisher sends, and who receives it.
struct Publisher {
    video: bool,
    subs: Vec<Subscription>,
    frame: u64,
    next_video: Instant,
    next_audio: Instant,
}

/// Runs the floor for one scenario and returns its row (server `floor`).
pub fn run(o: &FloorOpts) -> ScenarioResult {
    let mut r = ScenarioResult {
        server: "floor".into(),
        scenario: o.scenario.label(),
        description: o.scenario.describe(),
        publishers: o.scenario.publishers(),
        subscriptions: o.scenario.subscriptions(),
        ..Default::default()
    };
    match measure(o, &mut r) {
        Ok(()) => {}
        Err(e) => r.error = Some(e),
    }
    r
}

fn measure(o: &FloorOpts, r: &mut ScenarioResult) -> Result<(), String> {
    let socks: Vec<UdpSocket> = (0..o.scenario.subscriptions())
        .map(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("binding the receiving sockets: {e}"))?;
    let addrs: Vec<SocketAddr> = socks.iter().filter_map(|s| s.local_addr().ok()).collect();
    let received = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sink = {
        let (received, bytes, stop) = (received.clone(), bytes.clone(), stop.clone());
        let cpu = o.recv_cpu;
        std::thread::Builder::new()
            .name("floor-sink".into())
            .spawn(move || sink(socks, cpu, &received, &bytes, &stop))
            .map_err(|e| e.to_string())?
    };
    if let Some(cpu) = o.send_cpu {
        pin(cpu)?;
    }
    let result = send(o, &addrs, (&received, &bytes), r);
    stop.store(true, Ordering::Relaxed);
    let _ = sink.join();
    result
}

/// The sending side: the scenario's media timeline, sealed and sent per subscription.
fn send(
    o: &FloorOpts,
    addrs: &[SocketAddr],
    (received, bytes): (&AtomicU64, &AtomicU64),
    r: &mut ScenarioResult,
) -> Result<(), String> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let crypto = str0m::crypto::from_feature_flags();
    let aead = crypto.srtp_provider.aead_aes_256_gcm();
    let start = Instant::now();
    let mut next = addrs.iter();
    let mut n = 0u32;
    let mut publishers: Vec<Publisher> = per_publisher(o.scenario)
        .into_iter()
        .enumerate()
        .map(|(i, (video, subs))| {
            // Publishers start spread over a frame interval, as real ones are not in step.
            let offset = Duration::from_micros(33_333 * i as u64 / o.scenario.publishers() as u64);
            Publisher {
                video,
                subs: (0..subs)
                    .filter_map(|_| next.next())
                    .map(|&dest| {
                        n += 1;
                        let mut key = [0u8; 32];
                        key[..4].copy_from_slice(&n.to_be_bytes());
                        Subscription {
                            dest,
                            cipher: aead.create_cipher(key, true),
                            salt: [n as u8; 12],
                            ssrc: 0x1000_0000 + n,
                            seq: 1,
                            twcc: 1,
                        }
                    })
                    .collect(),
                frame: 0,
                next_video: start + offset,
                next_audio: start + offset,
            }
        })
        .collect();
    let (key_size, delta_size) = o.shape.frame_sizes();
    let frame_interval = Duration::from_secs(1) / o.shape.fps;
    let audio_interval = Duration::from_millis(o.shape.audio_ptime_ms as u64);
    let video_payload = vec![0x5au8; key_size.max(delta_size)];
    let audio_payload = vec![0xa5u8; o.shape.audio_bytes];
    let mut sender = BatchSender::new();
    let mut batch: Vec<Transmit> = Vec::with_capacity(BATCH);
    // Buffers of sent datagrams, sealed into again (as Huddle's driver gives them back to str0m).
    let mut spare: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let (tid, tck) = (unsafe { libc::gettid() }, clk_tck());
    let window_start = start + o.warmup;
    let end = window_start + o.measure;
    // (time, the sender's CPU seconds, (datagrams, bytes) received) at the window's start.
    let mut before: Option<(Instant, f64, (u64, u64))> = None;
    let mut sent = 0u64;
    // Each turn's fan-out in the window, µs: from starting to seal the copies of what fell due
    // to the return of the last `sendmmsg` (what Huddle's `huddle_media_fanout_seconds` times).
    let mut fanouts: Vec<u32> = Vec::new();
    let rx = || {
        (
            received.load(Ordering::Relaxed),
            bytes.load(Ordering::Relaxed),
        )
    };
    loop {
        let now = Instant::now();
        if before.is_none() && now >= window_start {
            let cpu = thread_cpu_secs(tid, tck).ok_or("reading the thread's CPU")?;
            before = Some((now, cpu, rx()));
        }
        if now >= end {
            break;
        }
        let mut due = end;
        let sent_before = sent;
        for p in publishers.iter_mut() {
            if p.video && now >= p.next_video {
                let key = p.frame % o.shape.keyframe_interval_frames as u64 == 0;
                let size = if key { key_size } else { delta_size };
                let frame = &video_payload[..size];
                for s in p.subs.iter_mut() {
                    let chunks = frame.chunks(MAX_PAYLOAD);
                    let last = chunks.len() - 1;
                    for (i, chunk) in chunks.enumerate() {
                        let buf = spare.pop().unwrap_or_default();
                        let t = seal(s, chunk, i == last, 96, p.frame as u32 * 3000, buf);
                        enqueue(t, &mut batch, &mut spare, &mut sender, &socket);
                        sent += 1;
                    }
                }
                p.frame += 1;
                p.next_video += frame_interval;
            }
            if now >= p.next_audio {
                for s in p.subs.iter_mut() {
                    let buf = spare.pop().unwrap_or_default();
                    let t = seal(s, &audio_payload, true, 111, 0, buf);
                    enqueue(t, &mut batch, &mut spare, &mut sender, &socket);
                    sent += 1;
                }
                p.next_audio += audio_interval;
            }
            due = due.min(p.next_audio);
            if p.video {
                due = due.min(p.next_video);
            }
        }
        flush(&mut sender, &socket, &mut batch, &mut spare);
        let turn_start = now;
        let now = Instant::now();
        if sent > sent_before && before.is_some() {
            fanouts.push(
                now.duration_since(turn_start)
                    .as_micros()
                    .min(u32::MAX as u128) as u32,
            );
        }
        if due > now {
            std::thread::sleep(due - now);
        }
    }
    let cpu_after = thread_cpu_secs(tid, tck).ok_or("reading the thread's CPU")?;
    let rx1 = rx();
    let t1 = Instant::now();
    // Datagrams still in flight reach the sockets within milliseconds on loopback.
    std::thread::sleep(Duration::from_millis(200));
    let total_received = received.load(Ordering::Relaxed);
    let (t0, cpu0, rx0) = before.ok_or("the window never started")?;
    let secs = t1.duration_since(t0).as_secs_f64();
    let cpu = cpu_after - cpu0;
    let delivered = rx1.0 - rx0.0;
    r.rx_mbit_per_s = (rx1.1 - rx0.1) as f64 * 8.0 / secs / 1e6;
    r.window_secs = secs;
    r.subscribers_receiving = r.subscriptions as u64;
    r.rx_packets_per_s = delivered as f64 / secs;
    r.server_cpu_pct = Some(cpu / secs * 100.0);
    r.server_cpu_us_per_pkt = (delivered > 0).then(|| cpu * 1e6 / delivered as f64);
    r.loss_pct = if sent > 0 {
        100.0 * sent.saturating_sub(total_received) as f64 / sent as f64
    } else {
        0.0
    };
    r.loadavg = loadavg();
    fanouts.sort_unstable();
    r.server_fanouts = Some(fanouts.len() as u64);
    r.server_fanout_p99_ms = percentile_ms(&fanouts, 99.0);
    if delivered == 0 {
        return Err("no packet reached the receiving sockets".into());
    }
    Ok(())
}

/// (sends video, number of subscriptions) per publisher.
fn per_publisher(s: Scenario) -> Vec<(bool, usize)> {
    match s {
        Scenario::Fanout(n) => vec![(true, n)],
        Scenario::Meeting(n) => vec![(true, n - 1); n],
        Scenario::Audio { pubs, subs } => vec![(false, subs); pubs],
        Scenario::Rooms { rooms, subs } => vec![(true, subs); rooms],
    }
}

/// One subscription's SRTP packet (RFC 7714: AEAD_AES_256_GCM, the header as associated data),
/// sealed into `buf` (a sent datagram's buffer: every byte is written again).
fn seal(
    s: &mut Subscription,
    payload: &[u8],
    marker: bool,
    pt: u8,
    ts: u32,
    mut buf: Vec<u8>,
) -> Transmit {
    buf.resize(HEADER_LEN + payload.len() + TAG_LEN, 0);
    buf[0] = 0x90; // V=2, X=1
    buf[1] = pt | if marker { 0x80 } else { 0 };
    buf[2..4].copy_from_slice(&s.seq.to_be_bytes());
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
    buf[8..12].copy_from_slice(&s.ssrc.to_be_bytes());
    buf[12..16].copy_from_slice(&[0xbe, 0xde, 0, 2]);
    buf[16] = 0x31; // id 3, 2 bytes: transport-wide sequence number
    buf[17..19].copy_from_slice(&s.twcc.to_be_bytes());
    buf[19] = 0x22; // id 2, 3 bytes: abs-send-time
    let mut iv = s.salt;
    for (b, x) in iv[2..6].iter_mut().zip(s.ssrc.to_be_bytes()) {
        *b ^= x;
    }
    for (b, x) in iv[10..12].iter_mut().zip(s.seq.to_be_bytes()) {
        *b ^= x;
    }
    let (aad, body) = buf.split_at_mut(HEADER_LEN);
    s.cipher
        .encrypt(&iv, aad, payload, body)
        .expect("AES-256-GCM seal");
    s.seq = s.seq.wrapping_add(1);
    s.twcc = s.twcc.wrapping_add(1);
    Transmit {
        proto: Protocol::Udp,
        destination: s.dest,
        contents: buf,
    }
}

/// Adds a datagram to the batch, sending the batch once it is full.
fn enqueue(
    t: Transmit,
    batch: &mut Vec<Transmit>,
    spare: &mut Vec<Vec<u8>>,
    sender: &mut BatchSender,
    socket: &UdpSocket,
) {
    batch.push(t);
    if batch.len() == BATCH {
        flush(sender, socket, batch, spare);
    }
}

/// Sends the batch and keeps its buffers for the next datagrams.
fn flush(
    sender: &mut BatchSender,
    socket: &UdpSocket,
    batch: &mut Vec<Transmit>,
    spare: &mut Vec<Vec<u8>>,
) {
    if !batch.is_empty() {
        sender.send(socket, batch, |_, _| {});
        spare.extend(batch.drain(..).map(|t| t.contents));
    }
}

/// The receiving side: reads every socket until told to stop, counting datagrams and bytes.
fn sink(
    socks: Vec<UdpSocket>,
    cpu: Option<usize>,
    received: &AtomicU64,
    bytes: &AtomicU64,
    stop: &AtomicBool,
) {
    use std::os::fd::AsRawFd;
    if let Some(cpu) = cpu {
        let _ = pin(cpu);
    }
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    for s in &socks {
        let _ = s.set_nonblocking(true);
    }
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `fds` is a valid array of pollfd for its length during the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
        if n <= 0 {
            continue;
        }
        for (pfd, s) in fds.iter_mut().zip(&socks) {
            if pfd.revents & libc::POLLIN == 0 {
                continue;
            }
            pfd.revents = 0;
            while let Ok(n) = s.recv(&mut buf) {
                received.fetch_add(1, Ordering::Relaxed);
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Pins the calling thread to one core.
fn pin(cpu: usize) -> Result<(), String> {
    // SAFETY: cpu_set_t is a plain bit set; zeroed is empty, CPU_SET sets one bit in it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "pinning to core {cpu}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// utime + stime of one thread of this process, in seconds.
fn thread_cpu_secs(tid: libc::pid_t, tck: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    stat_cpu_secs(&stat, tck)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscription_gets_every_packet_of_the_timeline() {
        let o = FloorOpts {
            scenario: Scenario::Meeting(3),
            warmup: Duration::from_millis(200),
            measure: Duration::from_millis(1_000),
            send_cpu: None,
            recv_cpu: None,
            shape: MediaShape::default(),
        };
        let r = run(&o);
        assert_eq!(r.error, None);
        assert_eq!(r.loss_pct, 0.0, "{r:?}");
        // 6 subscriptions, each 50 audio + 30 video frames of 5-6 packets a second (keyframes
        // of 27): ~240 packets per subscription and second.
        let per_sub = r.rx_packets_per_s / 6.0;
        assert!(
            (200.0..280.0).contains(&per_sub),
            "{per_sub} packets/s per subscription"
        );
        // Measured as a server's is, from the thread's clock ticks (10 ms): this second of
        // meeting:3 costs the sender a few ms, so it may read 0 ticks; a figure must be there.
        assert!(
            r.server_cpu_us_per_pkt
                .is_some_and(|us| us.is_finite() && us >= 0.0),
            "{r:?}"
        );
        // Its fan-outs were timed: 3 publishers' 30 frames and 50 audio packets a second, some
        // falling due in one turn.
        let fanouts = r.server_fanouts.unwrap();
        assert!((80..=250).contains(&fanouts), "{fanouts} fan-outs in 1 s");
        assert!(r.server_fanout_p99_ms.is_some_and(|ms| ms > 0.0));
    }

    #[test]
    fn a_sealed_packet_opens_with_the_subscriptions_key() {
        let crypto = str0m::crypto::from_feature_flags();
        let aead = crypto.srtp_provider.aead_aes_256_gcm();
        let key = [7u8; 32];
        let mut s = Subscription {
            dest: (Ipv4Addr::LOCALHOST, 9).into(),
            cipher: aead.create_cipher(key, true),
            salt: [3; 12],
            ssrc: 42,
            seq: 5,
            twcc: 1,
        };
        let payload = b"the payload of one packet";
        // Sealed into a longer, dirty buffer, as a sent datagram's is reused.
        let t = seal(&mut s, payload, true, 96, 0, vec![0xee; 1200]);
        assert_eq!(t.contents.len(), HEADER_LEN + payload.len() + TAG_LEN);
        assert_eq!(&t.contents[2..4], &5u16.to_be_bytes());
        assert_ne!(&t.contents[HEADER_LEN..HEADER_LEN + payload.len()], payload);
        let mut iv = [3u8; 12];
        for (b, x) in iv[2..6].iter_mut().zip(42u32.to_be_bytes()) {
            *b ^= x;
        }
        for (b, x) in iv[10..12].iter_mut().zip(5u16.to_be_bytes()) {
            *b ^= x;
        }
        let mut open = aead.create_cipher(key, false);
        let mut out = vec![0u8; t.contents.len()];
        let n = open
            .decrypt(
                &iv,
                &[&t.contents[..HEADER_LEN]],
                &t.contents[HEADER_LEN..],
                &mut out,
            )
            .expect("opens");
        assert_eq!(&out[..n], payload);
    }
}
