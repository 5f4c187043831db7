//! Test-only helpers: temp folders, ffmpeg/ffprobe runners and tiny parsers
//! for Annex-B H.264, IVF and Ogg, plus a feeder into `StreamRecorder`.
#![allow(dead_code)]

use huddle_record::{Codec, StreamRecorder};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "huddle-record-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("HUDDLE_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Runs ffmpeg quietly; panics with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg installed (apt-get install -y ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs ffmpeg and returns stdout (raw output such as `-f rawvideo -`).
pub fn ffmpeg_stdout(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Decodes the whole file; returns ffmpeg's error output (empty = clean).
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        s.push_str(&format!("\nexit status {}", out.status));
    }
    s
}

pub fn ffprobe_json(path: &Path, extra: &[&str]) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub codec: String,
    pub kind: String,
    pub packets: u64,
    pub frames: u64,
}

/// Streams with packet and decoded frame counts.
pub fn probe_streams(path: &Path) -> Vec<StreamInfo> {
    let v = ffprobe_json(
        path,
        &[
            "-count_packets",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,codec_type,nb_read_packets,nb_read_frames",
        ],
    );
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| StreamInfo {
            codec: s["codec_name"].as_str().unwrap_or("").to_string(),
            kind: s["codec_type"].as_str().unwrap_or("").to_string(),
            packets: s["nb_read_packets"]
                .as_str()
                .unwrap_or("0")
                .parse()
                .unwrap(),
            frames: s["nb_read_frames"].as_str().unwrap_or("0").parse().unwrap(),
        })
        .collect()
}

pub fn format_duration(path: &Path) -> f64 {
    let v = ffprobe_json(path, &["-show_entries", "format=duration"]);
    v["format"]["duration"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Timestamp (s) of the last packet of the given stream type.
pub fn last_packet_time(path: &Path, kind: &str) -> f64 {
    let sel = if kind == "video" { "v:0" } else { "a:0" };
    let v = ffprobe_json(
        path,
        &["-select_streams", sel, "-show_entries", "packet=pts_time"],
    );
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["pts_time"].as_str()?.parse::<f64>().ok())
        .fold(f64::NAN, f64::max)
}

// ------------------------------------------------------------ inputs

/// H.264 Annex-B, baseline (no B-frames, like WebRTC), key frame every `gop`.
pub fn gen_h264(dir: &TempDir, name: &str, secs: f64, size: &str, gop: u32) -> Vec<Vec<u8>> {
    let p = dir.join(name);
    let src = format!("testsrc2=size={size}:rate=30");
    let g = gop.to_string();
    let t = secs.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-t",
        &t,
        "-c:v",
        "libx264",
        "-profile:v",
        "baseline",
        "-preset",
        "ultrafast",
        "-bf",
        "0",
        "-g",
        &g,
        "-keyint_min",
        &g,
        "-sc_threshold",
        "0",
        "-bsf:v",
        "h264_mp4toannexb",
        "-f",
        "h264",
        p.to_str().unwrap(),
    ]);
    annexb_access_units(&std::fs::read(&p).unwrap())
}

/// VP8 frames from an IVF file.
pub fn gen_vp8(dir: &TempDir, name: &str, secs: f64, size: &str, gop: u32) -> Vec<Vec<u8>> {
    let p = dir.join(name);
    let src = format!("testsrc2=size={size}:rate=30");
    let g = gop.to_string();
    let t = secs.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-t",
        &t,
        "-c:v",
        "libvpx",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-b:v",
        "500k",
        "-g",
        &g,
        "-keyint_min",
        &g,
        "-auto-alt-ref",
        "0",
        "-f",
        "ivf",
        p.to_str().unwrap(),
    ]);
    ivf_frames(&std::fs::read(&p).unwrap())
}

/// Opus packets (20 ms each) from an Ogg file.
pub fn gen_opus(dir: &TempDir, name: &str, secs: f64, freq: u32) -> Vec<Vec<u8>> {
    let p = dir.join(name);
    let src = format!("sine=frequency={freq}:sample_rate=48000");
    let t = secs.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-t",
        &t,
        "-c:a",
        "libopus",
        "-b:a",
        "32k",
        "-frame_duration",
        "20",
        "-f",
        "ogg",
        p.to_str().unwrap(),
    ]);
    let mut packets = ogg_packets(&std::fs::read(&p).unwrap());
    assert!(packets.len() > 2);
    packets.drain(..2); // OpusHead, OpusTags
    packets
}

/// Raw G.711 (µ-law or A-law) at 8 kHz mono.
pub fn gen_g711(dir: &TempDir, name: &str, secs: f64, alaw: bool) -> Vec<u8> {
    let p = dir.join(name);
    let t = secs.to_string();
    let (c, f) = if alaw {
        ("pcm_alaw", "alaw")
    } else {
        ("pcm_mulaw", "mulaw")
    };
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:sample_rate=8000",
        "-t",
        &t,
        "-ac",
        "1",
        "-c:a",
        c,
        "-f",
        f,
        p.to_str().unwrap(),
    ]);
    std::fs::read(&p).unwrap()
}

/// Splits an Annex-B stream into access units (Annex-B bytes each): a new
/// unit starts at an AUD/SPS/PPS/SEI after a slice, or at a slice whose
/// first_mb_in_slice is 0 after a slice.
pub fn annexb_access_units(data: &[u8]) -> Vec<Vec<u8>> {
    // Start-code positions.
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let s = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            starts.push((s, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut has_slice = false;
    for (k, &(s, payload)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(data.len(), |n| n.0);
        let nal = &data[payload..end];
        let Some(&hdr) = nal.first() else { continue };
        let t = hdr & 0x1F;
        let is_slice = t == 1 || t == 5;
        let first_mb_zero = is_slice && nal.get(1).is_some_and(|b| b & 0x80 != 0);
        let starts_new = has_slice && (matches!(t, 6..=9) || first_mb_zero);
        if starts_new {
            units.push(std::mem::take(&mut cur));
            has_slice = false;
        }
        cur.extend_from_slice(&data[s..end]);
        has_slice |= is_slice;
    }
    if !cur.is_empty() {
        units.push(cur);
    }
    units
}

pub fn ivf_frames(data: &[u8]) -> Vec<Vec<u8>> {
    assert_eq!(&data[..4], b"DKIF");
    let hlen = u16::from_le_bytes([data[6], data[7]]) as usize;
    let mut pos = hlen;
    let mut frames = Vec::new();
    while pos + 12 <= data.len() {
        let size = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        pos += 12;
        frames.push(data[pos..pos + size].to_vec());
        pos += size;
    }
    frames
}

pub fn ogg_packets(data: &[u8]) -> Vec<Vec<u8>> {
    let mut pos = 0;
    let mut packets = Vec::new();
    let mut cur = Vec::new();
    while pos + 27 <= data.len() {
        assert_eq!(&data[pos..pos + 4], b"OggS", "ogg sync at {pos}");
        let nseg = data[pos + 26] as usize;
        let lacing = &data[pos + 27..pos + 27 + nseg];
        let mut body = pos + 27 + nseg;
        for &l in lacing {
            cur.extend_from_slice(&data[body..body + l as usize]);
            body += l as usize;
            if l < 255 {
                packets.push(std::mem::take(&mut cur));
            }
        }
        pos = body;
    }
    packets
}

// ------------------------------------------------------------ feeding

pub enum Ev {
    Video { rtp: u32, key: bool, data: Vec<u8> },
    Audio { rtp: u32, data: Vec<u8> },
}

/// Video frames at 30 fps starting at `start_ms`, RTP starting at `rtp0`.
pub fn video_events(frames: &[Vec<u8>], start_ms: u64, rtp0: u32) -> Vec<(u64, Ev)> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let key = is_key(f);
            (
                start_ms + (i as u64 * 1000) / 30,
                Ev::Video {
                    rtp: rtp0.wrapping_add(i as u32 * 3000),
                    key,
                    data: f.clone(),
                },
            )
        })
        .collect()
}

/// 20 ms audio frames; `ticks` RTP ticks per frame (960 Opus, 160 G.711).
pub fn audio_events(frames: &[Vec<u8>], start_ms: u64, rtp0: u32, ticks: u32) -> Vec<(u64, Ev)> {
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                start_ms + i as u64 * 20,
                Ev::Audio {
                    rtp: rtp0.wrapping_add(i as u32 * ticks),
                    data: f.clone(),
                },
            )
        })
        .collect()
}

fn is_key(f: &[u8]) -> bool {
    // H.264: IDR NAL present; VP8: key-frame bit.
    if f.starts_with(&[0, 0, 1]) || f.starts_with(&[0, 0, 0, 1]) {
        huddle_record::codec::annexb_nals(f)
            .iter()
            .any(|n| n[0] & 0x1F == 5)
    } else {
        huddle_record::codec::vp8_is_keyframe(f)
    }
}

/// Feeds events in arrival order; arrivals are `epoch + ms`.
pub fn feed(rec: &mut StreamRecorder, epoch: Instant, mut events: Vec<(u64, Ev)>) {
    events.sort_by_key(|e| e.0);
    for (ms, ev) in events {
        let at = epoch + Duration::from_millis(ms);
        match ev {
            Ev::Video { rtp, key, data } => rec.write_video(rtp, at, key, &data).unwrap(),
            Ev::Audio { rtp, data } => rec.write_audio(rtp, at, &data).unwrap(),
        }
    }
}

pub fn g711_chunks(raw: &[u8]) -> Vec<Vec<u8>> {
    raw.chunks(160).map(<[u8]>::to_vec).collect()
}

/// Records a file from prepared events; returns its path.
pub fn record(
    path: &Path,
    start_unix_ms: u64,
    video: Option<Codec>,
    audio: Option<Codec>,
    events: Vec<(u64, Ev)>,
) -> PathBuf {
    let epoch = Instant::now();
    let mut rec =
        StreamRecorder::create_with_epoch(path, start_unix_ms, epoch, video, audio).unwrap();
    feed(&mut rec, epoch, events);
    rec.finish().unwrap();
    path.to_path_buf()
}
