//! Huddle recording.
//!
//! * [`StreamRecorder`]: one crash-tolerant Matroska file per published
//!   stream (H.264, VP8, Opus, PCMU/PCMA), fed with depacketized frames.
//! * [`run_mix`] / [`spawn_mix`]: the offline room mix (grid video + mixed
//!   audio) made by running `ffmpeg` as a subprocess, set up by [`MixerConfig`].
//! * [`ProgressParser`]: ffmpeg's `-progress` output, read while a mix runs.
//! * [`list_recordings`]: recordings in a folder, for the HTTP layer.

pub mod codec;
mod ebml;
mod list;
mod mix;
mod mkv;
mod progress;
mod recorder;

pub use list::{list_recordings, RecordingEntry, RECORDING_EXTENSIONS};
pub use mix::{
    build_filter_graph, build_live_filter_graph, ffmpeg_args, grid, probe_input,
    read_start_unix_ms, run_mix, run_mix_with_progress, spawn_mix, MixError, MixHandle, MixInput,
    MixJob, MixOutcome, MixerConfig, ProbedInput,
};
pub use progress::{ProgressParser, ProgressReport};
pub use recorder::{Codec, RecorderStats, StreamRecorder};
