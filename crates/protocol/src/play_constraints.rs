//! `playStream`'s picture and rate limits: the SDK's `width`, `height`, `bitrate` and
//! `quality` fields (it fills them from the app's `constraints.video` or the deprecated
//! `playWidth`/`playHeight`, and sends 0 for "none").
//!
//! These are wishes, not requirements: a value that is missing, 0, negative, not a number or
//! not a numeric string is read as "no limit", never as an error that would fail the play
//! (an app passing a text field's `"320"` still gets its limit).

use huddle_room::media::PlayConstraints;
use serde_json::{Map, Value};

/// The limits of one `playStream` payload.
pub(crate) fn play_constraints(data: &Map<String, Value>) -> PlayConstraints {
    PlayConstraints {
        width: positive(data.get("width")).map(|w| w.min(u32::MAX as f64) as u32),
        height: positive(data.get("height")).map(|h| h.min(u32::MAX as f64) as u32),
        // The SDK's bitrates are kbit/s (it multiplies maxBitrate by 1000 for the encoder).
        video_bps: positive(data.get("bitrate")).map(|kbps| (kbps * 1000.0) as u64),
        // The SDK caps quality at 100 itself; below 1 is none.
        quality: positive(data.get("quality")).map(|q| q.min(100.0) as u8),
    }
}

/// A number, or a string holding one, that is at least 1 (whole units: 0.5 pixel or kbit/s
/// is no limit); fractions are cut.
fn positive(value: Option<&Value>) -> Option<f64> {
    let n = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (n.is_finite() && n >= 1.0).then(|| n.floor())
}
