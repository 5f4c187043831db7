//! The recorder's queue bound against a stalled disk (issue 12): while the writer is blocked
//! the media thread's sink never waits, the queued bytes stay under the bound, frames are
//! dropped and counted, the recording is reported as having a gap; once the writer recovers
//! the recording resumes at a keyframe and the file decodes cleanly.

use super::*;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use str0m::media::{Frequency, MediaTime};

/// 90 kHz ticks between frames (20 fps).
const TICKS: u32 = 4500;

/// VP8 frames (keyframe flag, bytes) of a 6 s test pattern with a keyframe every 20 frames,
/// made by ffmpeg and read back from its IVF container.
fn vp8_frames(dir: &Path) -> Vec<(bool, Vec<u8>)> {
    let ivf = dir.join("src.ivf");
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
        ])
        .args([
            "-i",
            "testsrc=size=320x240:rate=20",
            "-t",
            "6",
            "-c:v",
            "libvpx",
        ])
        .args(["-g", "20", "-b:v", "400k", "-f", "ivf"])
        .arg(&ivf)
        .output()
        .expect("ffmpeg installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&ivf).unwrap();
    // IVF: a 32-byte file header, then per frame a 12-byte header (u32 LE size, u64 pts).
    let mut frames = Vec::new();
    let mut at = 32;
    while at + 12 <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let frame = data[at + 12..at + 12 + len].to_vec();
        // VP8 frame tag: bit 0 clear = keyframe (RFC 6386 9.1).
        frames.push((frame[0] & 1 == 0, frame));
        at += 12 + len;
    }
    frames
}

fn frame(i: usize, key: bool, data: &[u8], t0: Instant) -> Frame {
    Frame {
        kind: MediaKind::Video,
        time: MediaTime::new(u64::from(i as u32 * TICKS), Frequency::NINETY_KHZ),
        network_time: t0 + Duration::from_millis(50 * i as u64),
        keyframe: key,
        data: data.into(),
    }
}

fn wait_drained(bound: &QueueBound) {
    let end = Instant::now() + Duration::from_secs(10);
    while bound.queued() > 0 {
        assert!(Instant::now() < end, "the recorder did not drain its queue");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_stalled_disk_drops_to_the_next_keyframe_and_the_file_still_decodes() {
    let dir = std::env::temp_dir().join(format!("huddle-rec-stall-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let frames = vp8_frames(&dir);
    assert!(frames.len() >= 110, "{} frames", frames.len());
    // A bound that the stalled phase's frames overflow (a third of them fit) but that holds
    // any two frames.
    let stalled_bytes: usize = frames[40..80].iter().map(|(_, d)| d.len()).sum();
    let largest = frames.iter().map(|(_, d)| d.len()).max().unwrap();
    let limit = (stalled_bytes / 3).max(2 * largest);
    assert!(
        limit < stalled_bytes,
        "the stalled frames overflow the bound"
    );

    // The "disk": blocks while `stall` is set, and notes what it writes (by RTP time).
    let stall = Arc::new(AtomicBool::new(false));
    let written = Arc::new(Mutex::new(Vec::<u32>::new()));
    let (hook_stall, hook_written) = (stall.clone(), written.clone());
    let hook: BeforeWrite = Box::new(move |_video, _key, rtp_ts| {
        while hook_stall.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        hook_written.lock().unwrap().push(rtp_ts);
    });
    let counters = Arc::new(Counters::default());
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut opener, queue, thread) =
        spawn_with(0, limit, counters.clone(), events_tx, hook).unwrap();
    let bound = opener.bound.clone();
    let path = dir.join("stall.webm");
    let mut sink = opener
        .open(PeerId(7), path.clone(), 0, Some(RecCodec::Vp8), None)
        .unwrap();
    let t0 = Instant::now();

    // 1. A healthy disk (it keeps up: each frame is written before the next comes).
    for (i, (key, data)) in frames.iter().enumerate().take(40) {
        sink.frame(&frame(i, *key, data, t0));
        wait_drained(&bound);
    }
    assert_eq!(counters.recording_dropped_frames.load(Ordering::Relaxed), 0);

    // 2. The disk blocks: the sink never waits and the queue stays under the bound.
    stall.store(true, Ordering::Release);
    let mut slowest = Duration::ZERO;
    let mut peak = 0;
    for (i, (key, data)) in frames.iter().enumerate().take(80).skip(40) {
        let started = Instant::now();
        sink.frame(&frame(i, *key, data, t0));
        slowest = slowest.max(started.elapsed());
        peak = peak.max(bound.queued());
    }
    assert!(peak <= limit, "queued {peak} bytes, bound {limit}");
    assert!(
        slowest < Duration::from_millis(100),
        "a frame took {slowest:?}"
    );
    let dropped = counters.recording_dropped_frames.load(Ordering::Relaxed);
    assert!(dropped > 0, "the stalled disk made the sink drop frames");
    match events_rx.try_recv() {
        Ok(MediaEvent::RecordingFailed { peer, reason }) => {
            assert_eq!(peer, PeerId(7));
            assert!(reason.contains("gap"), "{reason}");
        }
        other => panic!("expected a RecordingFailed report, got {other:?}"),
    }
    assert!(events_rx.try_recv().is_err(), "reported once per recording");

    // 3. The disk recovers: once the queue drained the sink asks for a keyframe, and goes
    // on at the next one.
    stall.store(false, Ordering::Release);
    wait_drained(&bound);
    assert!(
        sink.wants_keyframe(),
        "a sink in a video gap asks for a keyframe"
    );
    for (i, (key, data)) in frames.iter().enumerate().skip(80) {
        sink.frame(&frame(i, *key, data, t0));
        wait_drained(&bound);
    }
    assert!(!sink.wants_keyframe());
    sink.close();
    drop((sink, opener, queue));
    thread.join().unwrap();
    assert_eq!(bound.queued(), 0, "every queued byte was given back");

    // What reached the file: frames in order; after every gap, a keyframe first.
    let written: Vec<usize> = written
        .lock()
        .unwrap()
        .iter()
        .map(|&ts| (ts / TICKS) as usize)
        .collect();
    let total_dropped = counters.recording_dropped_frames.load(Ordering::Relaxed) as usize;
    assert_eq!(written.len() + total_dropped, frames.len());
    for pair in written.windows(2) {
        assert!(pair[1] > pair[0], "frames written in order: {written:?}");
        if pair[1] != pair[0] + 1 {
            assert!(
                frames[pair[1]].0,
                "frame {} after the gap {}..{} is not a keyframe",
                pair[1], pair[0], pair[1]
            );
        }
    }
    assert!(
        written.iter().any(|&i| i >= 80),
        "the recording resumed after the stall: {written:?}"
    );

    // The file decodes without an error, with every written frame in it.
    let decode = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(decode.status.success());
    assert_eq!(String::from_utf8_lossy(&decode.stderr), "", "decode errors");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    let decoded: usize = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(decoded, written.len(), "decoded frames");
    println!(
        "stall: {} frames, {} written, {} dropped, peak queue {} B of {} B, slowest sink call {:?}",
        frames.len(),
        written.len(),
        total_dropped,
        peak,
        limit,
        slowest
    );
    let _ = std::fs::remove_dir_all(&dir);
}
