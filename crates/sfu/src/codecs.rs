//! Codec choice: which codec a publisher may send, and what a player is offered.
//!
//! A publisher's answer carries exactly one codec per m-line (the first one in the browser's
//! offer order that we support), so we always know what arrives before any player joins.
//! A player is configured with exactly the source's negotiated codecs; str0m then answers with
//! the player's own payload type numbers.

use str0m::format::{Codec, CodecConfig, CodecSpec, FormatParams, PayloadParams};
use str0m::media::{Frequency, MediaKind, Pt};

/// One m-line of an offer, as far as codec choice needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferedMedia {
    pub kind: Option<MediaKind>,
    pub mid: Option<String>,
    pub pts: Vec<OfferedPt>,
}

/// One payload type of an m-line, from `m=`, `a=rtpmap` and `a=fmtp`.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferedPt {
    pub pt: u8,
    pub name: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
    pub fmtp: String,
}

/// The codecs of a publisher after negotiation: at most one per kind.
#[derive(Debug, Clone, Default)]
pub struct SourceCodecs {
    pub audio: Option<PayloadParams>,
    pub video: Option<PayloadParams>,
}

impl SourceCodecs {
    pub fn get(&self, kind: MediaKind) -> Option<&PayloadParams> {
        match kind {
            MediaKind::Audio => self.audio.as_ref(),
            MediaKind::Video => self.video.as_ref(),
        }
    }
}

/// H.264 profiles we accept (profile_idc + constraint flags, any level).
const H264_PROFILES: &[u32] = &[0x42e0, 0x4200, 0x4d00];

/// Splits an SDP offer into m-lines with their payload types, in offer order.
/// Tolerant: unknown lines are skipped, never fails.
pub fn parse_offer(sdp: &str) -> Vec<OfferedMedia> {
    let mut out: Vec<OfferedMedia> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("m=") {
            let mut it = rest.split_whitespace();
            let kind = match it.next() {
                Some("audio") => Some(MediaKind::Audio),
                Some("video") => Some(MediaKind::Video),
                _ => None,
            };
            let pts = it
                .skip(2)
                .filter_map(|p| p.parse::<u8>().ok())
                .filter(|p| *p < 128)
                .map(static_pt)
                .collect();
            out.push(OfferedMedia {
                kind,
                mid: None,
                pts,
            });
            continue;
        }
        let Some(media) = out.last_mut() else {
            continue;
        };
        if let Some(mid) = line.strip_prefix("a=mid:") {
            media.mid = Some(mid.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            let Some((pt, spec)) = split_pt(rest) else {
                continue;
            };
            let mut parts = spec.split('/');
            let name = parts.next().unwrap_or_default().to_string();
            let clock_rate = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            let channels = parts.next().and_then(|c| c.parse().ok());
            if let Some(p) = media.pts.iter_mut().find(|p| p.pt == pt) {
                p.name = name;
                p.clock_rate = clock_rate;
                p.channels = channels;
            }
        } else if let Some(rest) = line.strip_prefix("a=fmtp:") {
            let Some((pt, fmtp)) = split_pt(rest) else {
                continue;
            };
            if let Some(p) = media.pts.iter_mut().find(|p| p.pt == pt) {
                p.fmtp = fmtp.to_string();
            }
        }
    }
    out
}

fn split_pt(rest: &str) -> Option<(u8, &str)> {
    let (pt, value) = rest.split_once(' ')?;
    Some((pt.parse().ok()?, value.trim()))
}

/// Payload type entry with the static meaning (RFC 3551) filled in; rtpmap may override it.
fn static_pt(pt: u8) -> OfferedPt {
    let (name, clock_rate) = match pt {
        0 => ("PCMU", 8000),
        8 => ("PCMA", 8000),
        _ => ("", 0),
    };
    OfferedPt {
        pt,
        name: name.to_string(),
        clock_rate,
        channels: None,
        fmtp: String::new(),
    }
}

/// Everything a publisher may send: Opus, PCMU, PCMA, VP8 and H.264 (CB/B/Main, mode 1).
/// Opus with RFC 2198 RED (`audio/red`) where the offer has it: str0m then lists RED before
/// Opus in the answer's m-line, and libwebrtc sends RED when RED comes before its send codec
/// there. Each packet then carries the previous one, and str0m recovers a packet lost on the
/// publisher's uplink from the next one (frame mode and, vendored patch 18, RTP mode), so
/// every player, recorder and RTMP tap gets the whole Opus stream. Audio has no NACK, and
/// Chrome turns Opus in-band FEC on only from the loss its receiver reports show.
pub fn supported() -> CodecConfig {
    let mut c = CodecConfig::empty();
    c.enable_opus(true, true);
    c.enable_pcmu(true, false);
    c.enable_pcma(true, false);
    c.enable_vp8(true);
    c.enable_h264(true);
    let keep: Vec<PayloadParams> = c.params().iter().copied().filter(is_allowed).collect();
    CodecConfig::new_from_payload_params(keep)
}

fn is_allowed(p: &PayloadParams) -> bool {
    let spec = p.spec();
    match spec.codec {
        Codec::Opus | Codec::PCMU | Codec::PCMA | Codec::Vp8 => true,
        Codec::H264 => {
            spec.format.packetization_mode == Some(1)
                && spec
                    .format
                    .profile_level_id
                    .is_some_and(|id| H264_PROFILES.contains(&(id >> 8)))
        }
        _ => false,
    }
}

fn frequency(hz: u32) -> Option<Frequency> {
    match hz {
        90_000 => Some(Frequency::NINETY_KHZ),
        48_000 => Some(Frequency::FORTY_EIGHT_KHZ),
        16_000 => Some(Frequency::SIXTEEN_KHZ),
        8_000 => Some(Frequency::EIGHT_KHZ),
        _ => None,
    }
}

/// Our params for an offered payload type, if we support it.
fn match_offered(supported: &CodecConfig, o: &OfferedPt) -> Option<PayloadParams> {
    let codec = Codec::from(o.name.as_str());
    if !(codec.is_audio() || codec.is_video()) || codec == Codec::CN {
        return None;
    }
    let clock_rate = frequency(o.clock_rate)?;
    let format = FormatParams::parse_line(&o.fmtp);
    if codec == Codec::H264 && format.packetization_mode != Some(1) {
        return None;
    }
    // Audio without a channel count means mono; str0m may spell that either way.
    let channel_variants: &[Option<u8>] = match (codec.is_audio(), o.channels) {
        (true, None) | (true, Some(1)) => &[None, Some(1)],
        _ => &[o.channels],
    };
    for channels in channel_variants {
        let offered = PayloadParams::new(
            Pt::from(o.pt),
            None,
            CodecSpec {
                codec,
                clock_rate,
                channels: *channels,
                format,
            },
        );
        if let Some(ours) = supported.match_params(offered) {
            if ours.spec().codec == codec && is_allowed(ours) {
                return Some(*ours);
            }
        }
    }
    None
}

/// For a publisher's offer: one codec per audio/video m-line, in the browser's preference order
/// — except video when `prefer_h264` is on and the m-line offers H.264 we accept: then H.264,
/// Constrained Baseline first, then Baseline, then Main (whatever the offer's order), so that
/// RTMP players (which cannot carry VP8) and every browser can play the stream.
/// Fails when an audio/video m-line has no codec we support.
pub fn choose_publisher_codecs(
    offer: &[OfferedMedia],
    prefer_h264: bool,
) -> Result<Vec<PayloadParams>, String> {
    let supported = supported();
    let mut chosen: Vec<PayloadParams> = Vec::new();
    let mut any = false;
    for m in offer {
        let Some(kind) = m.kind else {
            continue;
        };
        any = true;
        let preferred = (prefer_h264 && kind == MediaKind::Video)
            .then(|| best_h264(&supported, m))
            .flatten();
        let pick = preferred.or_else(|| m.pts.iter().find_map(|o| match_offered(&supported, o)));
        match pick {
            Some(p) if p.spec().codec.kind() == kind => {
                if !chosen.iter().any(|c| c.spec() == p.spec()) {
                    chosen.push(p);
                }
            }
            _ => return Err("No common codecs".to_string()),
        }
    }
    if !any {
        return Err("Bad SDP: no audio or video m-line".to_string());
    }
    Ok(chosen)
}

/// The H.264 of `m` we accept, by [`H264_PROFILES`] order (Constrained Baseline first), then
/// by offer order within one profile.
fn best_h264(supported: &CodecConfig, m: &OfferedMedia) -> Option<PayloadParams> {
    let rank = |p: &PayloadParams| {
        let id = p.spec().format.profile_level_id.unwrap_or(0);
        H264_PROFILES.iter().position(|profile| *profile == id >> 8)
    };
    m.pts
        .iter()
        .filter_map(|o| match_offered(supported, o))
        .filter(|p| p.spec().codec == Codec::H264)
        .filter_map(|p| Some((rank(&p)?, p)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, p)| p)
}

/// Whether a player whose offer is `offer` can decode the source's H.264 profile (RFC 6184
/// profile-level-id, levels not compared: see h264_profile.rs). The error names the profile
/// and the fix, instead of str0m's bare "No common codecs". `Ok` for other codecs and for an
/// offer without video (it gets audio only).
pub fn check_player_profile(source: &SourceCodecs, offer: &[OfferedMedia]) -> Result<(), String> {
    let Some(video) = source.video.filter(|v| v.spec().codec == Codec::H264) else {
        return Ok(());
    };
    let Some(pli) = video.spec().format.profile_level_id else {
        return Ok(());
    };
    let offered = h264_profiles_offered(offer);
    // No video, or no H.264 at all: not a profile question; the codec negotiation answers
    // ("No common codecs").
    if offered.is_empty() {
        return Ok(());
    }
    let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
    crate::h264_profile::check_player(&format!("{pli:06x}"), &offered)
}

/// The H.264 profile-level-ids (6 lower-case hex digits) a parsed offer can receive with
/// packetization-mode 1, from its video m-lines.
fn h264_profiles_offered(offer: &[OfferedMedia]) -> Vec<String> {
    offer
        .iter()
        .filter(|m| m.kind == Some(MediaKind::Video))
        .flat_map(|m| m.pts.iter())
        .filter(|o| o.name.eq_ignore_ascii_case("h264"))
        .filter_map(|o| {
            let f = FormatParams::parse_line(&o.fmtp);
            (f.packetization_mode == Some(1))
                .then_some(f.profile_level_id)
                .flatten()
        })
        .map(|id| format!("{id:06x}"))
        .collect()
}

/// The H.264 profile-level-ids an SDP offer can receive (see `h264_profiles_offered`); `None`
/// when it has no video m-line. The same reading as `check_player_profile`, for callers outside
/// the media plane that decide ahead of it (the RTMP edge's "nobody can play it" rule).
pub fn h264_receive_profiles(sdp: &str) -> Option<Vec<String>> {
    let offer = parse_offer(sdp);
    offer
        .iter()
        .any(|m| m.kind == Some(MediaKind::Video))
        .then(|| h264_profiles_offered(&offer))
}

/// A fresh (unlocked) copy of payload params, to seed another Rtc's codec config.
pub fn fresh(p: &PayloadParams) -> PayloadParams {
    PayloadParams::new(p.pt(), p.resend(), p.spec())
}

/// Opus as publishers send it, with RFC 2198 RED (`audio/red`) (see [`supported`]): a player
/// that offers RED too gets every Opus packet with the previous one inside, so one lost packet
/// is recovered from the next. Audio has no NACK, and the publisher's Opus in-band FEC only
/// engages for loss on its own uplink, so RED is what protects a lossy listener. str0m wraps
/// in frame mode, rtp/red.rs in RTP mode; a player that does not offer RED gets plain Opus.
fn opus_with_red() -> Option<PayloadParams> {
    supported()
        .params()
        .iter()
        .find(|p| p.spec().codec == Codec::Opus && p.red().is_some())
        .copied()
}

/// Codec config for a player of a source: the source's codecs only. A kind the source does not
/// send gets a default codec so that the answer stays valid (that track then stays silent).
pub fn player_config(source: &SourceCodecs) -> CodecConfig {
    let mut params = Vec::new();
    let defaults = supported();
    for kind in [MediaKind::Audio, MediaKind::Video] {
        match source.get(kind) {
            Some(p) if p.spec().codec == Codec::Opus => {
                // Same Opus spec as the source; the payload type numbers are the player's anyway.
                match opus_with_red().filter(|r| r.spec() == p.spec()) {
                    Some(red) => params.push(red),
                    None => params.push(fresh(p)),
                }
            }
            Some(p) => params.push(fresh(p)),
            None => {
                if let Some(p) = defaults
                    .params()
                    .iter()
                    .find(|p| p.spec().codec.kind() == kind)
                {
                    params.push(fresh(p));
                }
            }
        }
    }
    CodecConfig::new_from_payload_params(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_LIKE: &str = "v=0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
a=mid:0\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:110 telephone-event/48000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105\r\n\
a=mid:1\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n\
a=rtpmap:103 rtx/90000\r\n\
a=fmtp:103 apt=102\r\n\
a=rtpmap:104 H264/90000\r\n\
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:105 rtx/90000\r\n";

    #[test]
    fn parses_mlines_in_order() {
        let m = parse_offer(CHROME_LIKE);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].kind, Some(MediaKind::Audio));
        assert_eq!(m[0].mid.as_deref(), Some("0"));
        assert_eq!(m[0].pts[0].name, "opus");
        assert_eq!(m[0].pts[0].channels, Some(2));
        assert_eq!(m[1].pts.len(), 6);
        assert_eq!(
            m[1].pts[4].fmtp,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
        );
    }

    #[test]
    fn picks_first_supported_in_offer_order() {
        let chosen = choose_publisher_codecs(&parse_offer(CHROME_LIKE), false).unwrap();
        assert_eq!(chosen.len(), 2);
        assert_eq!(chosen[0].spec().codec, Codec::Opus);
        assert_eq!(chosen[1].spec().codec, Codec::Vp8);
    }

    #[test]
    fn h264_mode0_is_skipped_for_mode1() {
        let sdp = CHROME_LIKE.replace("96 97 102", "102 96 97");
        let sdp = sdp.replace(
            "m=video 9 UDP/TLS/RTP/SAVPF 102 96 97 103 104 105",
            "m=video 9 UDP/TLS/RTP/SAVPF 102 103 104 105 96 97",
        );
        let chosen = choose_publisher_codecs(&parse_offer(&sdp), false).unwrap();
        let v = chosen[1].spec();
        assert_eq!(v.codec, Codec::H264);
        assert_eq!(v.format.packetization_mode, Some(1));
        assert_eq!(v.format.profile_level_id, Some(0x42e01f));
    }

    #[test]
    fn prefer_h264_picks_constrained_baseline_over_an_earlier_vp8() {
        // CHROME_LIKE: VP8 first, then H.264 42001f (mode 0, not accepted) and 42e01f (mode 1).
        let offer = parse_offer(CHROME_LIKE);
        let video = |prefer| choose_publisher_codecs(&offer, prefer).unwrap()[1].spec();
        assert_eq!(
            video(false).codec,
            Codec::Vp8,
            "the browser's order when off"
        );
        let v = video(true);
        assert_eq!(v.codec, Codec::H264);
        assert_eq!(v.format.profile_level_id, Some(0x42e01f));
        assert_eq!(v.format.packetization_mode, Some(1));
        // Audio is not touched by the preference.
        assert_eq!(
            choose_publisher_codecs(&offer, true).unwrap()[0]
                .spec()
                .codec,
            Codec::Opus
        );
    }

    #[test]
    fn prefer_h264_ranks_profiles_not_offer_order() {
        // Main and Baseline offered before Constrained Baseline: CB still wins; without CB,
        // Baseline beats Main; a High-only offer is not accepted, so VP8 stays.
        let sdp = |fmtps: [&str; 3]| {
            format!(
                "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 100 101 102\r\na=mid:0\r\n\
                 a=rtpmap:96 VP8/90000\r\n\
                 a=rtpmap:100 H264/90000\r\na=fmtp:100 {}\r\n\
                 a=rtpmap:101 H264/90000\r\na=fmtp:101 {}\r\n\
                 a=rtpmap:102 H264/90000\r\na=fmtp:102 {}\r\n",
                fmtps[0], fmtps[1], fmtps[2]
            )
        };
        let h264 = |pli: &str| {
            format!("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={pli}")
        };
        let pick = |offer: String| {
            let spec = choose_publisher_codecs(&parse_offer(&offer), true).unwrap()[0].spec();
            (spec.codec, spec.format.profile_level_id)
        };
        let (main, base, cb, high) = (
            h264("4d001f"),
            h264("42001f"),
            h264("42e01f"),
            h264("64001f"),
        );
        assert_eq!(
            pick(sdp([&main, &base, &cb])),
            (Codec::H264, Some(0x42e01f))
        );
        assert_eq!(
            pick(sdp([&main, &base, &high])),
            (Codec::H264, Some(0x42001f))
        );
        assert_eq!(
            pick(sdp([&high, &main, &high])),
            (Codec::H264, Some(0x4d001f))
        );
        assert_eq!(pick(sdp([&high, &high, &high])).0, Codec::Vp8);
    }

    #[test]
    fn prefer_h264_without_h264_offered_keeps_vp8() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:0\r\n\
                   a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n";
        let chosen = choose_publisher_codecs(&parse_offer(sdp), true).unwrap();
        assert_eq!(chosen[0].spec().codec, Codec::Vp8);
    }

    #[test]
    fn pcmu_static_without_rtpmap() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:a\r\n";
        let chosen = choose_publisher_codecs(&parse_offer(sdp), false).unwrap();
        assert_eq!(chosen[0].spec().codec, Codec::PCMU);
    }

    #[test]
    fn unsupported_only_is_no_common_codecs() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 98\r\na=rtpmap:98 VP9/90000\r\n";
        assert_eq!(
            choose_publisher_codecs(&parse_offer(sdp), false).unwrap_err(),
            "No common codecs"
        );
    }

    #[test]
    fn a_high_profile_source_needs_a_player_offering_high() {
        let high = crate::ingest::source_codecs(&huddle_room::IngestCodecs {
            video: Some(huddle_room::IngestVideo::H264 {
                profile_level_id: 0x640028,
            }),
            audio: None,
        })
        .unwrap();
        // Debian's Chromium: CB, Baseline, Main (and 4:4:4), no High.
        let chromium = CHROME_LIKE.replace("profile-level-id=42001f", "profile-level-id=4d001f");
        let err = check_player_profile(&high, &parse_offer(&chromium)).unwrap_err();
        assert!(err.contains("High") && err.contains("baseline"), "{err}");
        let chrome = CHROME_LIKE.replace(
            "packetization-mode=1;profile-level-id=42e01f",
            "packetization-mode=1;profile-level-id=64001f",
        );
        assert!(check_player_profile(&high, &parse_offer(&chrome)).is_ok());
        // A VP8 source, or a player without video, is not this check's business.
        let vp8 = SourceCodecs {
            audio: None,
            video: Some(choose_publisher_codecs(&parse_offer(CHROME_LIKE), false).unwrap()[1]),
        };
        assert!(check_player_profile(&vp8, &parse_offer(&chromium)).is_ok());
        let audio_only =
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n";
        assert!(check_player_profile(&high, &parse_offer(audio_only)).is_ok());
    }

    #[test]
    fn player_config_has_source_codecs_and_defaults() {
        let chosen = choose_publisher_codecs(&parse_offer(CHROME_LIKE), false).unwrap();
        let src = SourceCodecs {
            audio: None,
            video: Some(chosen[1]),
        };
        let cfg = player_config(&src);
        let codecs: Vec<Codec> = cfg.params().iter().map(|p| p.spec().codec).collect();
        assert_eq!(codecs, vec![Codec::Opus, Codec::Vp8]);
    }
}
