//! H.264 `profile-level-id` (RFC 6184 §8.1): which profile a stream is, and whether a player
//! whose offer lists some profiles can decode it.
//!
//! The profile patterns are those of RFC 6184 table 5 as WebRTC implementations read them
//! (profile_idc plus the constraint_set flags of profile-iop). Levels are not compared:
//! browsers offer `level-asymmetry-allowed=1` and decode higher levels than they offer in
//! practice; a forwarded stream cannot be changed anyway.

/// The H.264 profiles WebRTC distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H264Profile {
    ConstrainedBaseline,
    Baseline,
    Main,
    ConstrainedHigh,
    High,
    PredictiveHigh444,
}

impl H264Profile {
    pub fn name(self) -> &'static str {
        match self {
            H264Profile::ConstrainedBaseline => "Constrained Baseline",
            H264Profile::Baseline => "Baseline",
            H264Profile::Main => "Main",
            H264Profile::ConstrainedHigh => "Constrained High",
            H264Profile::High => "High",
            H264Profile::PredictiveHigh444 => "High 4:4:4 Predictive",
        }
    }

    /// Whether a player that offered profile `self` decodes a stream of profile `stream`:
    /// the same profile, or one whose decoders must decode it by H.264 Annex A
    /// (Constrained Baseline ⊂ Baseline; Constrained Baseline ⊂ Main ⊂ High;
    /// Constrained High ⊂ High). High 4:4:4 Predictive counts only for itself: Debian's
    /// Chromium offers it but not High, and is taken at its word.
    pub fn decodes(self, stream: H264Profile) -> bool {
        use H264Profile::*;
        match self {
            ConstrainedBaseline => stream == ConstrainedBaseline,
            Baseline => matches!(stream, ConstrainedBaseline | Baseline),
            Main => matches!(stream, ConstrainedBaseline | Main),
            ConstrainedHigh => matches!(stream, ConstrainedBaseline | Main | ConstrainedHigh),
            High => matches!(stream, ConstrainedBaseline | Main | ConstrainedHigh | High),
            PredictiveHigh444 => stream == PredictiveHigh444,
        }
    }
}

/// `(profile_idc, mask, value)`: profile-iop & mask == value.
const PATTERNS: [(u8, u8, u8, H264Profile); 9] = [
    (0x42, 0x4F, 0x40, H264Profile::ConstrainedBaseline), // x1xx0000
    (0x4D, 0x8F, 0x80, H264Profile::ConstrainedBaseline), // 1xxx0000
    (0x58, 0xCF, 0xC0, H264Profile::ConstrainedBaseline), // 11xx0000
    (0x42, 0x4F, 0x00, H264Profile::Baseline),            // x0xx0000
    (0x58, 0xCF, 0x80, H264Profile::Baseline),            // 10xx0000
    (0x4D, 0xAF, 0x00, H264Profile::Main),                // 0x0x0000
    (0x64, 0xFF, 0x00, H264Profile::High),                // 00000000
    (0x64, 0xFF, 0x0C, H264Profile::ConstrainedHigh),     // 00001100
    (0xF4, 0xFF, 0x00, H264Profile::PredictiveHigh444),   // 00000000
];

/// The profile of a `profile-level-id` (6 hex digits), `None` if it is malformed or a
/// profile WebRTC does not know.
pub fn profile_of(profile_level_id: &str) -> Option<H264Profile> {
    let id = profile_level_id.trim();
    if id.len() != 6 || !id.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&id[i..i + 2], 16).ok();
    let (idc, iop) = (byte(0)?, byte(2)?);
    byte(4)?;
    PATTERNS
        .iter()
        .find(|(p, mask, value, _)| *p == idc && iop & mask == *value)
        .map(|(.., profile)| *profile)
}

/// Whether a player offering `offered` profile-level-ids can decode a stream with
/// `stream` as its profile-level-id; the error names the profile and the fix.
pub fn check_player(stream: &str, offered: &[&str]) -> Result<(), String> {
    let Some(have) = profile_of(stream) else {
        return Err(format!(
            "the stream's H.264 profile-level-id {stream:?} is not a profile WebRTC knows"
        ));
    };
    if offered
        .iter()
        .filter_map(|o| profile_of(o))
        .any(|p| p.decodes(have))
    {
        return Ok(());
    }
    Err(format!(
        "this browser cannot decode H.264 {} (profile-level-id {stream}); the publisher must \
         send Constrained Baseline or Main (ffmpeg -profile:v baseline, OBS profile baseline \
         or main)",
        have.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use H264Profile::*;

    #[test]
    fn profiles_of_common_ids() {
        assert_eq!(profile_of("42e01f"), Some(ConstrainedBaseline));
        assert_eq!(profile_of("42c01e"), Some(ConstrainedBaseline));
        assert_eq!(profile_of("42001f"), Some(Baseline));
        assert_eq!(profile_of("4d001f"), Some(Main));
        assert_eq!(profile_of("4D0028"), Some(Main));
        assert_eq!(profile_of("640028"), Some(High));
        assert_eq!(profile_of("640c1f"), Some(ConstrainedHigh));
        assert_eq!(profile_of("f4001f"), Some(PredictiveHigh444));
        assert_eq!(profile_of("6e001f"), None); // High 10: not a WebRTC profile
        assert_eq!(profile_of("42e0"), None);
        assert_eq!(profile_of("zz001f"), None);
        assert_eq!(profile_of("4€001"), None);
    }

    /// Debian's Chromium receive offer (no High) and Google Chrome's (with High).
    const CHROMIUM: [&str; 4] = ["42001f", "42e01f", "4d001f", "f4001f"];
    const CHROME: [&str; 5] = ["42001f", "42e01f", "4d001f", "640c1f", "64001f"];

    #[test]
    fn high_profile_needs_a_high_decoder_levels_ignored() {
        assert!(check_player("42c01e", &CHROMIUM).is_ok());
        assert!(check_player("4d0028", &CHROMIUM).is_ok()); // level 4.0 > offered 3.1: allowed
        let err = check_player("640028", &CHROMIUM).unwrap_err();
        assert!(
            err.contains("High") && err.contains("-profile:v baseline"),
            "{err}"
        );
        assert!(check_player("640028", &CHROME).is_ok());
        assert!(check_player("64001f", &["42e01f"]).is_err());
        assert!(check_player("nonsense", &CHROME).is_err());
    }

    #[test]
    fn decoding_hierarchy() {
        assert!(High.decodes(Main) && High.decodes(ConstrainedBaseline));
        assert!(!High.decodes(Baseline)); // Baseline has FMO/ASO, which High lacks
        assert!(Baseline.decodes(ConstrainedBaseline) && !ConstrainedBaseline.decodes(Baseline));
        assert!(!Main.decodes(High) && !ConstrainedHigh.decodes(High));
        assert!(!PredictiveHigh444.decodes(High));
    }
}
