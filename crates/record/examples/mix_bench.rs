//! Mix speed for a synthetic 4-participant, 60 s room.
//!
//! `cargo run --release -p huddle-record --example mix_bench`
//! Prints the recorder write rate and the mix speed (× real time) with the
//! default mixer config (1280x720, 30 fps, libx264 veryfast, libopus).

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use huddle_record::{run_mix, Codec, MixInput, MixJob, MixerConfig};
use std::time::Instant;

const ROOM_START: u64 = 1_795_000_000_000;
const ROOM_SECS: u64 = 60;

fn main() {
    let dir = TempDir::new("mix-bench");
    let t0 = Instant::now();
    let mut inputs = Vec::new();
    let mut record_secs = 0.0;
    let mut media_secs = 0.0;
    for i in 0..4u64 {
        let offset = i * 5;
        let secs = (ROOM_SECS - offset) as f64;
        let video = gen_h264(&dir, &format!("v{i}.h264"), secs, "640x360", 60);
        let mut ev = video_events(&video, 0, i as u32 * 1000);
        let audio = if i == 3 {
            ev.extend(audio_events(
                &g711_chunks(&gen_g711(&dir, "a3.ul", secs, false)),
                0,
                0,
                160,
            ));
            Codec::Pcmu
        } else {
            ev.extend(audio_events(
                &gen_opus(&dir, &format!("a{i}.ogg"), secs, 300 + 100 * i as u32),
                0,
                0,
                960,
            ));
            Codec::Opus
        };
        let path = dir.join(&format!("rec/p{i}.mkv"));
        let t = Instant::now();
        record(
            &path,
            ROOM_START + offset * 1000,
            Some(Codec::H264),
            Some(audio),
            ev,
        );
        record_secs += t.elapsed().as_secs_f64();
        media_secs += secs;
        inputs.push(MixInput::from_recording(&path, ROOM_START).unwrap());
    }
    println!(
        "inputs: 4 recordings (640x360 H.264 + Opus/PCMU), made in {:.1} s; \
         StreamRecorder wrote {media_secs:.0} s of media in {:.3} s ({:.0}x real time)",
        t0.elapsed().as_secs_f64(),
        record_secs,
        media_secs / record_secs
    );
    let config = MixerConfig::default();
    let job = MixJob {
        inputs,
        duration_ms: ROOM_SECS * 1000,
        output: dir.join("room.mkv"),
    };
    let outcome = run_mix(&config, &job).expect("mix");
    let size = std::fs::metadata(&outcome.output).map_or(0, |m| m.len());
    println!(
        "mix: {}x{} @ {} fps, {} {}, {} s room -> {:.1} s wall, {:.2}x real time, {:.1} MB, duration {:.2} s",
        config.width,
        config.height,
        config.fps,
        config.video_codec,
        config.video_preset.as_deref().unwrap_or("-"),
        ROOM_SECS,
        outcome.elapsed_ms as f64 / 1000.0,
        outcome.speed,
        size as f64 / 1e6,
        format_duration(&outcome.output)
    );
}
