//! StreamRecorder end to end: real encoded input from ffmpeg, checked with ffprobe.

use crate::common;

use common::*;
use huddle_record::{read_start_unix_ms, Codec, StreamRecorder};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const START: u64 = 1_795_000_000_123;

fn streams_by_kind(path: &Path) -> (Option<StreamInfo>, Option<StreamInfo>) {
    let s = probe_streams(path);
    let v = s.iter().find(|s| s.kind == "video").cloned();
    let a = s.iter().find(|s| s.kind == "audio").cloned();
    (v, a)
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= expected * 0.1,
        "{what}: {actual} not within 10% of {expected}"
    );
}

#[test]
fn h264_opus_records_plays_and_keeps_date() {
    let dir = TempDir::new("h264-opus");
    let video = gen_h264(&dir, "in.h264", 3.0, "320x240", 30);
    let audio = gen_opus(&dir, "in.ogg", 3.0, 440);
    assert_eq!(video.len(), 90);
    // libopus adds one packet for its pre-skip: 151 for 3 s.
    assert!((150..=151).contains(&audio.len()));
    // RTP clocks start just before the 32-bit wrap.
    let mut ev = video_events(&video, 0, u32::MAX - 20_000);
    ev.extend(audio_events(&audio, 5, u32::MAX - 10_000, 960));
    let out = dir.join("rec/alice/cam.mkv");
    record(&out, START, Some(Codec::H264), Some(Codec::Opus), ev);

    let (v, a) = streams_by_kind(&out);
    let (v, a) = (v.unwrap(), a.unwrap());
    assert_eq!((v.codec.as_str(), v.packets, v.frames), ("h264", 90, 90));
    assert_eq!((a.codec.as_str(), a.packets), ("opus", audio.len() as u64));
    assert_close(format_duration(&out), 3.0, "duration");
    assert_close(
        last_packet_time(&out, "video"),
        89.0 / 30.0,
        "last video pts",
    );
    let last_audio = (5 + (audio.len() as u64 - 1) * 20) as f64 / 1000.0;
    assert_close(
        last_packet_time(&out, "audio"),
        last_audio,
        "last audio pts",
    );
    assert_eq!(decode_errors(&out), "");
    assert_eq!(read_start_unix_ms(&out).unwrap(), Some(START));
    let info = ffprobe_json(&out, &["-show_entries", "stream=width,height:format_tags"]);
    assert_eq!(info["streams"][0]["width"], 320);
    assert_eq!(info["streams"][0]["height"], 240);
}

#[test]
fn vp8_opus_webm() {
    let dir = TempDir::new("vp8-opus");
    let video = gen_vp8(&dir, "in.ivf", 2.0, "320x240", 30);
    let audio = gen_opus(&dir, "in.ogg", 2.0, 440);
    let mut ev = video_events(&video, 0, 12345);
    ev.extend(audio_events(&audio, 0, 777, 960));
    let out = dir.join("cam.webm");
    record(&out, START, Some(Codec::Vp8), Some(Codec::Opus), ev);
    let (v, a) = streams_by_kind(&out);
    assert_eq!(
        v.as_ref().map(|v| (v.codec.as_str(), v.frames)),
        Some(("vp8", 60))
    );
    assert_eq!(
        a.as_ref().map(|a| (a.codec.as_str(), a.packets)),
        Some(("opus", audio.len() as u64))
    );
    assert_close(format_duration(&out), 2.0, "duration");
    assert_eq!(decode_errors(&out), "");
    let fmt = ffprobe_json(&out, &["-show_entries", "format=format_name"]);
    assert_eq!(fmt["format"]["format_name"], "matroska,webm");
}

/// G.711 is stored as 16-bit PCM decoded with our table; the samples must be
/// exactly what ffmpeg's own G.711 decoder gives.
fn g711_case(alaw: bool, video: Codec) {
    let dir = TempDir::new(if alaw { "pcma" } else { "pcmu" });
    let raw = gen_g711(&dir, "in.g711", 2.0, alaw);
    assert_eq!(raw.len(), 16_000);
    let frames = if video == Codec::H264 {
        gen_h264(&dir, "in.h264", 2.0, "160x120", 30)
    } else {
        gen_vp8(&dir, "in.ivf", 2.0, "160x120", 30)
    };
    let mut ev = video_events(&frames, 0, 0);
    ev.extend(audio_events(&g711_chunks(&raw), 0, 4_000_000_000, 160));
    let out = dir.join("phone.mkv");
    let codec = if alaw { Codec::Pcma } else { Codec::Pcmu };
    record(&out, START, Some(video), Some(codec), ev);

    let (v, a) = streams_by_kind(&out);
    assert_eq!(v.unwrap().frames, 60);
    let a = a.unwrap();
    assert_eq!(a.codec, "pcm_s16le");
    assert_eq!(a.packets, 100);
    assert_eq!(decode_errors(&out), "");
    let ours = ffmpeg_stdout(&[
        "-i",
        out.to_str().unwrap(),
        "-map",
        "0:a",
        "-f",
        "s16le",
        "-",
    ]);
    let fmt = if alaw { "alaw" } else { "mulaw" };
    let theirs = ffmpeg_stdout(&[
        "-f",
        fmt,
        "-ar",
        "8000",
        "-ac",
        "1",
        "-i",
        dir.join("in.g711").to_str().unwrap(),
        "-f",
        "s16le",
        "-",
    ]);
    assert_eq!(ours.len(), 32_000);
    assert!(
        ours == theirs,
        "decoded G.711 differs from ffmpeg's decoder"
    );
}

#[test]
fn h264_pcmu() {
    g711_case(false, Codec::H264);
}

#[test]
fn vp8_pcma() {
    g711_case(true, Codec::Vp8);
}

#[test]
fn audio_only_and_video_only() {
    let dir = TempDir::new("single");
    let audio = gen_opus(&dir, "in.ogg", 2.0, 440);
    let out = dir.join("mic.webm");
    record(
        &out,
        START,
        None,
        Some(Codec::Opus),
        audio_events(&audio, 40, 0, 960),
    );
    let (v, a) = streams_by_kind(&out);
    assert!(v.is_none());
    assert_eq!(a.unwrap().packets, audio.len() as u64);
    // First audio arrived 40 ms after creation: that is where it sits.
    let first = ffprobe_json(&out, &["-show_entries", "stream=start_time"]);
    assert_eq!(first["streams"][0]["start_time"], "0.040000");
    assert_close(format_duration(&out), 2.04, "audio-only duration");
    assert_eq!(decode_errors(&out), "");

    let video = gen_h264(&dir, "in.h264", 2.0, "320x240", 60);
    let out = dir.join("screen.mkv");
    record(
        &out,
        START,
        Some(Codec::H264),
        None,
        video_events(&video, 0, 0),
    );
    let (v, a) = streams_by_kind(&out);
    assert!(a.is_none());
    assert_eq!(v.unwrap().frames, 60);
    assert_close(format_duration(&out), 2.0, "video-only duration");
    assert_eq!(decode_errors(&out), "");
}

#[test]
fn odd_input_is_skipped_without_panic() {
    let dir = TempDir::new("odd");
    let video = gen_h264(&dir, "in.h264", 2.0, "320x240", 30);
    let audio = gen_opus(&dir, "in.ogg", 2.0, 440);
    let out = dir.join("odd.mkv");
    let epoch = Instant::now();
    let at = |ms: u64| epoch + Duration::from_millis(ms);
    let mut rec =
        StreamRecorder::create_with_epoch(&out, START, epoch, Some(Codec::H264), Some(Codec::Opus))
            .unwrap();
    // Garbage before anything valid.
    rec.write_video(0, at(0), true, &[]).unwrap();
    rec.write_video(0, at(0), true, &[1, 2, 3]).unwrap();
    rec.write_video(0, at(0), true, &[0, 0, 1]).unwrap();
    // An IDR slice without SPS/PPS: cannot start the file.
    let idr_only: Vec<u8> = {
        let nals = huddle_record::codec::annexb_nals(&video[0]);
        let idr = nals.iter().find(|n| n[0] & 0x1F == 5).unwrap();
        [&[0, 0, 0, 1][..], idr].concat()
    };
    rec.write_video(0, at(0), true, &idr_only).unwrap();
    rec.write_audio(0, at(0), &[]).unwrap();
    // Audio before the first key frame is buffered; the first 10 video
    // frames (P-frames of the first GOP, key frame missing) are dropped.
    for (i, a) in audio.iter().enumerate() {
        rec.write_audio(i as u32 * 960, at(i as u64 * 20), a)
            .unwrap();
    }
    for (i, v) in video.iter().enumerate().skip(1).take(59) {
        let ms = i as u64 * 1000 / 30;
        rec.write_video(i as u32 * 3000, at(ms), false, v).unwrap();
        if i == 45 {
            // Timestamp going backwards by one frame: skipped.
            rec.write_video(44 * 3000, at(ms + 1), false, &video[44])
                .unwrap();
        }
    }
    // 10 ms backwards (reordered packet): skipped.
    let last_rtp = (audio.len() as u32 - 1) * 960;
    rec.write_audio(last_rtp - 480, at(2100), &[0xFF; 3])
        .unwrap();
    let stats = rec.stats();
    rec.finish().unwrap();
    // Frames 1..29 precede the second key frame (frame 30): dropped.
    assert_eq!(stats.video_frames, 30);
    assert_eq!(stats.audio_frames, audio.len() as u64);
    // 3 garbage + IDR without SPS + empty audio + 29 P-frames + 2 backwards.
    assert_eq!(stats.skipped_frames, 3 + 1 + 1 + 29 + 2, "{stats:?}");
    let (v, a) = streams_by_kind(&out);
    assert_eq!(v.unwrap().frames, 30);
    assert_eq!(a.unwrap().packets, audio.len() as u64);
    assert_eq!(decode_errors(&out), "");
    // Never clobber an existing file.
    let again = StreamRecorder::create(&out, START, None, Some(Codec::Opus));
    assert_eq!(
        again.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::AlreadyExists)
    );
}

#[test]
fn flush_makes_buffered_frames_durable() {
    let dir = TempDir::new("flush");
    let audio = gen_opus(&dir, "in.ogg", 0.5, 440);
    let out = dir.join("quiet.webm");
    let epoch = Instant::now();
    let mut rec =
        StreamRecorder::create_with_epoch(&out, START, epoch, None, Some(Codec::Opus)).unwrap();
    let header_len = std::fs::metadata(&out).unwrap().len();
    assert!(header_len > 100);
    for (i, a) in audio.iter().take(10).enumerate() {
        let at = epoch + Duration::from_millis(i as u64 * 20);
        rec.write_audio(i as u32 * 960, at, a).unwrap();
    }
    // 200 ms: less than a cluster, still in memory; only the header is on disk.
    assert_eq!(std::fs::metadata(&out).unwrap().len(), header_len);
    rec.flush().unwrap();
    let (_, a) = streams_by_kind(&out);
    assert_eq!(a.unwrap().packets, 10);
    assert_eq!(decode_errors(&out), "");
    rec.finish().unwrap();
}

#[test]
fn nothing_recorded_leaves_no_file() {
    let dir = TempDir::new("nothing");
    for (name, v, a) in [
        ("v.mkv", Some(Codec::H264), None),
        ("a.webm", None, Some(Codec::Opus)),
    ] {
        let p = dir.join(name);
        let mut rec = StreamRecorder::create(&p, START, v, a).unwrap();
        assert!(p.exists());
        rec.write_video(1, Instant::now(), false, &[0, 0, 0, 1, 0x41, 0x9A])
            .unwrap();
        let stats = rec.finish().unwrap();
        assert_eq!(stats.video_frames + stats.audio_frames, 0);
        assert!(!p.exists(), "{name} should be removed");
    }
}

#[test]
fn h264_without_any_keyframe_keeps_audio() {
    let dir = TempDir::new("nokey");
    let video = gen_h264(&dir, "in.h264", 1.0, "160x120", 300);
    let audio = gen_opus(&dir, "in.ogg", 1.0, 440);
    let mut ev = video_events(&video[1..], 0, 0); // the only IDR is left out
    ev.extend(audio_events(&audio, 0, 0, 960));
    let out = dir.join("nokey.mkv");
    record(&out, START, Some(Codec::H264), Some(Codec::Opus), ev);
    let (v, a) = streams_by_kind(&out);
    assert!(v.is_none());
    assert_eq!(a.unwrap().packets, audio.len() as u64);
    assert_eq!(decode_errors(&out), "");
}

/// Truncated copies of a recording at arbitrary byte positions still open and
/// decode every frame of the clusters before the cut.
#[test]
fn truncated_file_stays_readable() {
    let dir = TempDir::new("trunc");
    let video = gen_h264(&dir, "in.h264", 4.0, "320x240", 30);
    let audio = gen_opus(&dir, "in.ogg", 4.0, 440);
    let mut ev = video_events(&video, 0, 0);
    ev.extend(audio_events(&audio, 0, 0, 960));
    let out = dir.join("full.mkv");
    record(&out, START, Some(Codec::H264), Some(Codec::Opus), ev);
    let full = std::fs::read(&out).unwrap();
    for frac in [0.31, 0.55, 0.77, 0.93] {
        let cut = (full.len() as f64 * frac) as usize + 7;
        let p = dir.join(&format!("cut-{cut}.mkv"));
        std::fs::write(&p, &full[..cut]).unwrap();
        let (v, a) = streams_by_kind(&p);
        let (v, a) = (v.unwrap(), a.unwrap());
        // Video dominates the bytes: about frac * 120 frames are before the cut,
        // at most one cluster (30 frames) of them is incomplete.
        let expect = (frac * 120.0) as u64;
        assert!(
            v.frames + 31 >= expect && v.frames <= expect + 31,
            "cut at {frac}: {} video frames, expected about {expect}",
            v.frames
        );
        assert!(a.packets >= (v.frames * 5 / 3).saturating_sub(60), "{a:?}");
        // Decoding reaches the cut; only the torn packet may be reported.
        let errs = decode_errors(&p);
        assert!(errs.lines().count() <= 3, "cut at {frac}: {errs}");
    }
}

/// The helper below runs in a child process: it records and then waits to be
/// killed with SIGKILL in the middle of the stream.
#[test]
#[ignore = "child process of kill9_keeps_flushed_clusters"]
fn crash_child_writer() {
    let Some(path) = std::env::var_os("HUDDLE_RECORD_CRASH_PATH") else {
        return;
    };
    let dir = TempDir::new("crash-child");
    let video = gen_h264(&dir, "in.h264", 3.0, "320x240", 30);
    let audio = gen_opus(&dir, "in.ogg", 3.0, 440);
    let epoch = Instant::now();
    let mut rec = StreamRecorder::create_with_epoch(
        Path::new(&path),
        START,
        epoch,
        Some(Codec::H264),
        Some(Codec::Opus),
    )
    .unwrap();
    let mut ev = video_events(&video[..76], 0, 0);
    ev.extend(audio_events(&audio[..126], 0, 0, 960));
    feed(&mut rec, epoch, ev);
    drop(dir);
    println!("KILLME");
    std::thread::sleep(Duration::from_secs(30));
    std::process::exit(3); // never reached when the parent kills us
}

#[test]
fn kill9_keeps_flushed_clusters() {
    let dir = TempDir::new("kill9");
    let out = dir.join("crashed.mkv");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "recorder::crash_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HUDDLE_RECORD_CRASH_PATH", &out)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let started = Instant::now();
    let mut ready = false;
    for line in BufReader::new(stdout).lines().take(100) {
        if line.unwrap().contains("KILLME") {
            ready = true;
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    assert!(ready, "child did not reach the kill point");
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    // Video frames 0..75 were written; clusters start at key frames 0, 30, 60.
    // Frames 60..75 were still in memory; everything before is on disk.
    let (v, a) = streams_by_kind(&out);
    let (v, a) = (v.unwrap(), a.unwrap());
    assert_eq!(v.frames, 60);
    assert!((95..=101).contains(&a.packets), "{a:?}");
    assert_eq!(decode_errors(&out), "");
    assert_eq!(read_start_unix_ms(&out).unwrap(), Some(START));
}
