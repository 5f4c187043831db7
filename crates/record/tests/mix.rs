//! Room mix end to end: recordings made with StreamRecorder, mixed by ffmpeg.

use crate::common;

use common::*;
use huddle_record::{
    run_mix, run_mix_with_progress, spawn_mix, Codec, MixError, MixInput, MixJob, MixerConfig,
};
use std::path::Path;
use std::time::{Duration, Instant};

const ROOM_START: u64 = 1_795_000_000_000;

fn small_config() -> MixerConfig {
    MixerConfig {
        width: 320,
        height: 240,
        fps: 15,
        video_preset: Some("ultrafast".into()),
        ..Default::default()
    }
}

/// Mean luma (0..255) of a region of the frame shown at `t` seconds.
fn region_mean(path: &Path, t: f64, crop: &str) -> f64 {
    let ss = format!("{t:.3}");
    let vf = format!("crop={crop}");
    let raw = ffmpeg_stdout(&[
        "-ss",
        &ss,
        "-i",
        path.to_str().unwrap(),
        "-frames:v",
        "1",
        "-vf",
        &vf,
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "-",
    ]);
    assert!(!raw.is_empty(), "no frame at {t}");
    raw.iter().map(|&b| f64::from(b)).sum::<f64>() / raw.len() as f64
}

/// RMS of the mixed audio (mono, 8 kHz) between `from` and `to` seconds.
fn audio_rms(samples: &[i16], from: f64, to: f64) -> f64 {
    let (a, b) = ((from * 8000.0) as usize, (to * 8000.0) as usize);
    let w = &samples[a.min(samples.len())..b.min(samples.len())];
    assert!(!w.is_empty(), "no audio in {from}..{to}");
    (w.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / w.len() as f64).sqrt()
}

struct Room {
    dir: TempDir,
    inputs: Vec<MixInput>,
}

/// A: VP8 video only, 0..5 s, resolution changes at 2.5 s (320x240 -> 640x360).
/// B: H.264 + PCMU, joins at 2 s, leaves at 4 s.
/// C: Opus audio only, 1..2 s.
fn make_room(tag: &str) -> Room {
    let dir = TempDir::new(tag);
    let mut a_frames = gen_vp8(&dir, "a1.ivf", 2.5, "320x240", 30);
    a_frames.extend(gen_vp8(&dir, "a2.ivf", 2.5, "640x360", 30));
    let a = record(
        &dir.join("rec/a.webm"),
        ROOM_START,
        Some(Codec::Vp8),
        None,
        video_events(&a_frames, 0, 1000),
    );
    let b_video = gen_h264(&dir, "b.h264", 2.0, "320x240", 30);
    let b_audio = g711_chunks(&gen_g711(&dir, "b.ul", 2.0, false));
    let mut ev = video_events(&b_video, 0, 5);
    ev.extend(audio_events(&b_audio, 0, 9, 160));
    let b = record(
        &dir.join("rec/b.mkv"),
        ROOM_START + 2000,
        Some(Codec::H264),
        Some(Codec::Pcmu),
        ev,
    );
    let c_audio = gen_opus(&dir, "c.ogg", 1.0, 440);
    let c = record(
        &dir.join("rec/c.webm"),
        ROOM_START + 1000,
        None,
        Some(Codec::Opus),
        audio_events(&c_audio, 0, 0, 960),
    );
    // Offsets come from each file's DateUTC.
    let inputs: Vec<MixInput> = [a, b, c]
        .iter()
        .map(|p| MixInput::from_recording(p, ROOM_START).unwrap())
        .collect();
    assert_eq!(
        inputs.iter().map(|i| i.offset_ms).collect::<Vec<_>>(),
        [0, 2000, 1000]
    );
    Room { dir, inputs }
}

#[test]
fn mix_places_tiles_and_audio_at_their_offsets() {
    let room = make_room("mix");
    let out = room.dir.join("out/room.mkv");
    let job = MixJob {
        inputs: room.inputs.clone(),
        duration_ms: 5000,
        output: out.clone(),
    };
    let mut seen = Vec::new();
    let outcome = run_mix_with_progress(&small_config(), &job, &mut |p| seen.push(p)).unwrap();
    assert_eq!(outcome.output, out);
    assert!(outcome.speed > 0.0);
    assert_eq!(seen.last(), Some(&1.0));
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");

    let s = probe_streams(&out);
    let kinds: Vec<_> = s
        .iter()
        .map(|s| (s.kind.as_str(), s.codec.as_str()))
        .collect();
    assert_eq!(kinds, [("video", "h264"), ("audio", "opus")]);
    let dur = format_duration(&out);
    assert!((dur - 5.0).abs() <= 0.5, "duration {dur}");
    assert!((70..=80).contains(&s[0].frames), "{:?}", s[0]);
    assert_eq!(decode_errors(&out), "");
    assert!(!room.dir.join("out/room.mkv.part").exists());

    // Grid of 2 video inputs in 320x240: tiles 160x240; A left, B right.
    // The 4:3 picture fills y = 60..180 of each tile.
    let a_tile = "100:80:30:80";
    let b_tile = "100:80:190:80";
    let b_before = region_mean(&out, 1.0, b_tile);
    let b_during = region_mean(&out, 3.0, b_tile);
    let b_after = region_mean(&out, 4.6, b_tile);
    assert!(b_before < 25.0, "B tile before it joins: {b_before}");
    assert!(b_during > 45.0, "B tile while present: {b_during}");
    assert!(b_after < 25.0, "B tile after it left: {b_after}");
    for t in [0.5, 2.0, 3.5, 4.6] {
        let a = region_mean(&out, t, a_tile);
        assert!(a > 45.0, "A tile at {t}: {a}");
    }

    // Audio: silence, C (1..2 s), B (2..4 s), silence.
    let pcm = ffmpeg_stdout(&[
        "-i",
        out.to_str().unwrap(),
        "-map",
        "0:a",
        "-ac",
        "1",
        "-ar",
        "8000",
        "-f",
        "s16le",
        "-",
    ]);
    let samples: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let n = samples.len() as f64 / 8000.0;
    assert!((n - 5.0).abs() < 0.1, "audio length {n}");
    let quiet = [(0.1, 0.9), (4.3, 4.9)];
    let loud = [(1.2, 1.8), (2.3, 3.7)];
    for (a, b) in quiet {
        let r = audio_rms(&samples, a, b);
        assert!(r < 100.0, "expected silence in {a}..{b}: rms {r}");
    }
    for (a, b) in loud {
        let r = audio_rms(&samples, a, b);
        assert!(r > 1000.0, "expected sound in {a}..{b}: rms {r}");
    }
    // Sources untouched.
    for i in &room.inputs {
        assert!(i.path.exists());
    }
    // Output is never clobbered.
    let again = run_mix(&small_config(), &job);
    assert!(matches!(again, Err(MixError::OutputExists(_))), "{again:?}");
}

#[test]
fn failed_mix_keeps_sources_and_explains() {
    let room = make_room("mixfail");
    let out = room.dir.join("bad.mkv");
    let cfg = MixerConfig {
        video_codec: "no_such_encoder".into(),
        ..small_config()
    };
    let job = MixJob {
        inputs: room.inputs.clone(),
        duration_ms: 5000,
        output: out.clone(),
    };
    let err = run_mix(&cfg, &job).unwrap_err();
    match &err {
        MixError::Ffmpeg { stderr_tail, .. } => {
            assert!(stderr_tail.contains("no_such_encoder"), "{stderr_tail}")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("ffmpeg failed"));
    assert!(!out.exists());
    assert!(!room.dir.join("bad.mkv.part").exists());
    for i in &room.inputs {
        assert!(i.path.exists());
    }

    // A file that is not media fails at the probe step.
    let junk = room.dir.join("junk.mkv");
    std::fs::write(&junk, b"not a matroska file").unwrap();
    let job = MixJob {
        inputs: vec![MixInput {
            path: junk.clone(),
            offset_ms: 0,
        }],
        duration_ms: 1000,
        output: out.clone(),
    };
    let err = run_mix(&small_config(), &job).unwrap_err();
    assert!(matches!(err, MixError::Probe { .. }), "{err:?}");
    assert!(junk.exists());
    // Next to a good recording, a junk or empty file is left out with a warning.
    let empty_file = room.dir.join("empty.mkv");
    std::fs::write(&empty_file, b"").unwrap();
    let mixed = MixJob {
        inputs: vec![
            room.inputs[0].clone(),
            MixInput {
                path: junk.clone(),
                offset_ms: 0,
            },
            MixInput {
                path: empty_file.clone(),
                offset_ms: 0,
            },
        ],
        duration_ms: 1000,
        output: room.dir.join("partial.mkv"),
    };
    let outcome = run_mix(&small_config(), &mixed).unwrap();
    assert_eq!(outcome.skipped_inputs, [junk.clone(), empty_file]);
    let kinds: Vec<_> = probe_streams(&outcome.output)
        .into_iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(kinds, ["video", "audio"]);
    let empty = MixJob {
        inputs: vec![],
        ..job
    };
    assert!(matches!(
        run_mix(&small_config(), &empty),
        Err(MixError::InvalidJob(_))
    ));
}

#[test]
fn spawned_mix_runs_hook_and_can_be_cancelled() {
    let dir = TempDir::new("mixhook");
    let audio = gen_opus(&dir, "in.ogg", 1.0, 440);
    let video = gen_h264(&dir, "in.h264", 1.0, "160x120", 30);
    let mut ev = video_events(&video, 0, 0);
    ev.extend(audio_events(&audio, 0, 0, 960));
    let rec = record(
        &dir.join("x.mkv"),
        ROOM_START,
        Some(Codec::H264),
        Some(Codec::Opus),
        ev,
    );
    let hook = dir.join("hook.sh");
    let marker = dir.join("hook-ran.txt");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.join("mix.mkv");
    let cfg = MixerConfig {
        on_done: Some(hook),
        ..small_config()
    };
    let handle = spawn_mix(
        cfg,
        MixJob {
            inputs: vec![MixInput {
                path: rec.clone(),
                offset_ms: 500,
            }],
            duration_ms: 2000,
            output: out.clone(),
        },
    );
    let outcome = handle.join().unwrap();
    assert_eq!(outcome.hook_ok, Some(true));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        out.to_str().unwrap()
    );
    let dur = format_duration(&out);
    assert!((dur - 2.0).abs() <= 0.2, "duration {dur}");

    // A long room (10 min) cancelled right away.
    let out2 = dir.join("long.mkv");
    let handle = spawn_mix(
        small_config(),
        MixJob {
            inputs: vec![MixInput {
                path: rec,
                offset_ms: 0,
            }],
            duration_ms: 600_000,
            output: out2.clone(),
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    handle.cancel();
    let res = handle.join();
    assert!(matches!(res, Err(MixError::Cancelled)), "{res:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!out2.exists());
    assert!(!dir.join("long.mkv.part").exists());
}
