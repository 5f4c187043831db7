//! Measures the per-frame cost of the ingest media pipeline (no network).
//!
//! ffmpeg writes an FLV file (H.264 without B-frames + AAC-LC); every FLV tag is then pushed
//! through the same code the RTMP server runs per message:
//!
//! * video: FLV AVC tag → Annex-B access unit (`MediaPipeline::push_video`);
//! * audio: FLV AAC tag → AAC decode → resample to 48 kHz → Opus (`MediaPipeline::push_audio`).
//!
//! ```text
//! cargo run --release -p huddle-rtmp --example pipeline_latency [-- SECONDS]
//! ```

use std::process::Command;
use std::time::{Duration, Instant};

use huddle_rtmp::{Media, MediaPipeline};

struct Tag {
    kind: u8,
    ts: u32,
    body: Vec<u8>,
}

fn read_flv(data: &[u8]) -> Vec<Tag> {
    assert!(data.starts_with(b"FLV"), "not an FLV file");
    let header = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header + 4; // skip PreviousTagSize0
    let mut tags = Vec::new();
    while pos + 11 <= data.len() {
        let kind = data[pos] & 0x1f;
        let size = u32::from_be_bytes([0, data[pos + 1], data[pos + 2], data[pos + 3]]) as usize;
        let ts = u32::from_be_bytes([data[pos + 7], data[pos + 4], data[pos + 5], data[pos + 6]]);
        let start = pos + 11;
        if start + size > data.len() {
            break;
        }
        tags.push(Tag {
            kind,
            ts,
            body: data[start..start + size].to_vec(),
        });
        pos = start + size + 4;
    }
    tags
}

fn make_flv(seconds: u32, size: &str, ac: u32, ar: u32) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!(
        "huddle-rtmp-bench-{}-{size}-{ac}-{ar}.flv",
        std::process::id()
    ));
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency=440:sample_rate={ar}"),
        ])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-bf", "0", "-g", "60", "-b:v", "2M"])
        .args([
            "-c:a",
            "aac",
            "-ac",
            &ac.to_string(),
            "-ar",
            &ar.to_string(),
        ])
        .args(["-f", "flv"])
        .arg(&path)
        .status()
        .expect("ffmpeg must be installed");
    assert!(status.success(), "ffmpeg failed");
    let data = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    data
}

fn stats(name: &str, mut v: Vec<Duration>, media_per_item_ms: f64) {
    if v.is_empty() {
        println!("{name}: no samples");
        return;
    }
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let total: Duration = v.iter().sum();
    let mean = total / v.len() as u32;
    let pct = |p: f64| v[((v.len() - 1) as f64 * p) as usize];
    let realtime = media_per_item_ms * v.len() as f64 / (total.as_secs_f64() * 1000.0);
    println!(
        "{name:<44} n={:>5}  mean={:>8.1}µs  p50={:>8.1}µs  p99={:>8.1}µs  max={:>8.1}µs  ({realtime:.0}× real time)",
        v.len(),
        us(mean),
        us(pct(0.5)),
        us(pct(0.99)),
        us(*v.last().unwrap()),
    );
}

fn run(seconds: u32, size: &str, ac: u32, ar: u32) {
    let tags = read_flv(&make_flv(seconds, size, ac, ar));
    let mut p = MediaPipeline::new();
    let mut out = Vec::new();
    let (mut video, mut video_bytes, mut audio, mut opus_frames, mut opus_bytes) =
        (Vec::new(), 0usize, Vec::new(), 0usize, 0usize);
    for tag in &tags {
        out.clear();
        let t = Instant::now();
        match tag.kind {
            9 => p.push_video(&tag.body, tag.ts, &mut out).unwrap(),
            8 => p.push_audio(&tag.body, tag.ts, &mut out).unwrap(),
            _ => continue,
        }
        let dt = t.elapsed();
        for m in &out {
            match m {
                Media::Video(f) => {
                    video.push(dt);
                    video_bytes += f.annexb.len();
                }
                Media::Audio(f) => {
                    opus_frames += 1;
                    opus_bytes += f.opus.len();
                }
                _ => {}
            }
        }
        if tag.kind == 8 && tag.body.get(1) == Some(&1) {
            audio.push(dt);
        }
    }
    println!(
        "\n{size} H.264 30 fps, AAC-LC {ac} ch {ar} Hz, {seconds} s: {} video frames (avg {} B), {} AAC frames -> {} Opus frames (avg {} B)",
        video.len(),
        video_bytes / video.len().max(1),
        audio.len(),
        opus_frames,
        opus_bytes / opus_frames.max(1),
    );
    stats(
        "video: FLV AVC tag -> Annex-B access unit",
        video,
        1000.0 / 30.0,
    );
    stats(
        "audio: AAC frame -> PCM -> 48k -> Opus",
        audio,
        1024.0 * 1000.0 / f64::from(ar),
    );
}

fn main() {
    let seconds: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    if cfg!(debug_assertions) {
        println!("(debug build: use --release for meaningful numbers)");
    }
    run(seconds, "640x360", 1, 44_100);
    run(seconds, "1280x720", 2, 44_100);
    run(seconds, "1280x720", 2, 48_000);
}
