//! Telling an RTMP encoder when nobody can play its H.264 profile (issue 16).
//!
//! ffmpeg and OBS default to the H.264 High profile; a browser whose offer has no High
//! decoder (Debian's Chromium) is refused such a stream, naming the profile (huddle_sfu's
//! `check_player_profile`). The browser user sees that, but the person at the encoder does
//! not. [`PlayWatch`] sees every media command the room actor sends (actor.rs calls
//! [`PlayWatch::command`]) and closes an encoder's connection with the reason and the fix
//! (the RTMP server sends it as an `onStatus` error, which ffmpeg prints) when:
//!
//! * **a play is refused and the stream has no consumer left**: a browser's play of the
//!   encoder's stream is refused for the profile, and the stream has no other player (a
//!   WebRTC player that was not refused, an RTMP player) and no recorder; or
//! * **at publish time**, the room already holds players whose receive capabilities are
//!   known from their offers (every player of any stream in the room), none of them decodes
//!   the profile, and the stream is not recorded.
//!
//! Both rules only close, they never refuse a play that would work; `rtmp_close_unplayable
//! = false` turns the closing off. The watch is sans-IO and deterministic: it decides from the
//! commands alone (a play's refusal is the same profile check the media plane makes), with
//! no clock.

use std::collections::HashMap;
use std::sync::Mutex;

use huddle_room::{IngestVideo, MediaCommand, PeerId};
use huddle_rtmp::CloseHandle;
use huddle_sfu::h264_receive_profiles;
use tracing::warn;

/// What the watch knows of the media plane's peers, and the encoders it may close.
pub(crate) struct PlayWatch {
    close_unplayable: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Publishers (WebRTC and ingest), from their Publish/Ingest command until Close.
    sources: HashMap<PeerId, Source>,
    /// Players, from their Play command until Close.
    players: HashMap<PeerId, Player>,
}

struct Source {
    room: Option<String>,
    recorded: bool,
    /// An ingest's H.264 profile-level-id (6 hex digits).
    h264: Option<String>,
    /// RTMP players (taps) of this source.
    rtmp_players: usize,
    /// The encoder's connection, for an RTMP ingest ([`PlayWatch::encoder`]).
    encoder: Option<Encoder>,
}

struct Encoder {
    stream: String,
    close: CloseHandle,
}

struct Player {
    source: PeerId,
    /// The H.264 profile-level-ids the offer can receive (packetization-mode 1); `None` for
    /// an offer without video.
    h264: Option<Vec<String>>,
    /// Refused for the source's profile (it never plays).
    refused: bool,
}

impl PlayWatch {
    pub(crate) fn new(close_unplayable: bool) -> PlayWatch {
        PlayWatch {
            close_unplayable,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A media command the room actor sends to the media plane.
    pub(crate) fn command(&self, command: &MediaCommand) {
        let mut st = self.state();
        match command {
            MediaCommand::Publish {
                peer, room, record, ..
            } => {
                st.sources
                    .insert(*peer, Source::new(room, record.is_some(), None));
            }
            MediaCommand::Ingest {
                peer,
                room,
                codecs,
                record,
            } => {
                let h264 = codecs.video.map(|IngestVideo::H264 { profile_level_id }| {
                    format!("{profile_level_id:06x}")
                });
                st.sources
                    .insert(*peer, Source::new(room, record.is_some(), h264));
            }
            MediaCommand::Play {
                peer,
                source,
                offer,
                ..
            } => {
                let h264 = h264_receive_profiles(offer);
                let refusal = st
                    .sources
                    .get(source)
                    .and_then(|s| s.h264.as_deref())
                    .zip(h264.as_deref())
                    .and_then(|(stream, offered)| refusal(stream, offered));
                st.players.insert(
                    *peer,
                    Player {
                        source: *source,
                        h264,
                        refused: refusal.is_some(),
                    },
                );
                if refusal.is_some() && self.close_unplayable && !st.has_consumer(*source) {
                    if let Some(profile) = st.sources.get(source).and_then(|s| s.h264.clone()) {
                        let why = format!(
                            "nobody can play {}: a browser without that decoder tried, and \
                             the stream has no other player; {FIX}",
                            describe(&profile)
                        );
                        st.close_encoder(*source, &why);
                    }
                }
            }
            MediaCommand::Close { peer } => {
                st.players.remove(peer);
                st.sources.remove(peer);
            }
        }
    }

    /// The RTMP ingest `peer` (its Ingest command came first) belongs to the encoder whose
    /// connection `close` closes. Returns why it is closed at once, if the room's players
    /// cannot decode its profile (the publish-time rule).
    pub(crate) fn encoder(&self, peer: PeerId, stream: &str, close: CloseHandle) -> Option<String> {
        let mut st = self.state();
        let source = st.sources.get_mut(&peer)?;
        source.encoder = Some(Encoder {
            stream: stream.to_string(),
            close,
        });
        if !self.close_unplayable || source.recorded {
            return None;
        }
        let (room, profile) = (source.room.clone()?, source.h264.clone()?);
        let why = st.room_cannot_decode(&room, &profile)?;
        st.close_encoder(peer, &why);
        Some(why)
    }

    /// An RTMP player started (`+1`) or stopped (`-1`) playing the source `peer`.
    pub(crate) fn rtmp_player(&self, peer: PeerId, started: bool) {
        if let Some(s) = self.state().sources.get_mut(&peer) {
            s.rtmp_players = if started {
                s.rtmp_players + 1
            } else {
                s.rtmp_players.saturating_sub(1)
            };
        }
    }
}

impl Source {
    fn new(room: &Option<String>, recorded: bool, h264: Option<String>) -> Source {
        Source {
            room: room.clone(),
            recorded,
            h264,
            rtmp_players: 0,
            encoder: None,
        }
    }
}

impl State {
    /// Whether anything consumes the source: a recorder, an RTMP player, or a WebRTC
    /// player that was not refused.
    fn has_consumer(&self, source: PeerId) -> bool {
        let Some(s) = self.sources.get(&source) else {
            return true; // unknown: never close on a guess
        };
        s.recorded
            || s.rtmp_players > 0
            || self
                .players
                .values()
                .any(|p| p.source == source && !p.refused)
    }

    /// Why no player in `room` can decode `profile`, if there are players with video whose
    /// offers are known and none of them can.
    fn room_cannot_decode(&self, room: &str, profile: &str) -> Option<String> {
        let mut known = 0;
        for p in self.players.values() {
            let in_room = self
                .sources
                .get(&p.source)
                .is_some_and(|s| s.room.as_deref() == Some(room));
            let Some(offered) = p.h264.as_deref().filter(|_| in_room) else {
                continue;
            };
            known += 1;
            refusal(profile, offered)?;
        }
        (known > 0).then(|| {
            format!(
                "none of the {known} players in room {room} can decode {}; {FIX}",
                describe(profile)
            )
        })
    }

    fn close_encoder(&mut self, source: PeerId, why: &str) {
        if let Some(enc) = self.sources.get(&source).and_then(|s| s.encoder.as_ref()) {
            if !enc.close.is_closed() {
                warn!(stream = %enc.stream, reason = %why, "closing the RTMP encoder: nobody can play its stream");
            }
            enc.close.close(why);
        }
    }
}

/// What the encoder should change (the refusals are sent to it: see huddle_rtmp's status.rs).
const FIX: &str = "encode with ffmpeg -profile:v baseline (OBS: Profile baseline)";

/// `H.264 High (profile-level-id 640028)`.
fn describe(profile: &str) -> String {
    let name = huddle_sfu::h264_profile_of(profile).map_or("", |p| p.name());
    format!("H.264 {name} (profile-level-id {profile})")
}

/// Why a player offering `offered` cannot decode an H.264 stream of `profile`; `None` if it
/// can. An offer with video but no H.264 at all cannot play it either.
fn refusal(profile: &str, offered: &[String]) -> Option<String> {
    if offered.is_empty() {
        return Some("the browser offers no H.264".into());
    }
    let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
    huddle_sfu::check_h264_player(profile, &offered).err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use huddle_room::{IngestCodecs, RecordRequest, Transport};

    /// Debian's Chromium receive offer: no High.
    fn offer(profiles: &[&str]) -> String {
        let mut sdp =
            String::from("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n");
        let pts: Vec<String> = (0..profiles.len())
            .map(|i| (102 + 2 * i).to_string())
            .collect();
        sdp += &format!(
            "m=video 9 UDP/TLS/RTP/SAVPF 96 {}\r\na=rtpmap:96 VP8/90000\r\n",
            pts.join(" ")
        );
        for (pt, id) in pts.iter().zip(profiles) {
            sdp += &format!(
                "a=rtpmap:{pt} H264/90000\r\na=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={id}\r\n"
            );
        }
        sdp
    }
    const CHROMIUM: [&str; 4] = ["42001f", "42e01f", "4d001f", "f4001f"];
    const CHROME: [&str; 4] = ["42e01f", "4d001f", "640c1f", "64001f"];
    const HIGH: u32 = 0x640028;

    fn ingest(peer: u64, room: &str, profile: u32, record: bool) -> MediaCommand {
        MediaCommand::Ingest {
            peer: PeerId(peer),
            room: Some(room.into()),
            codecs: IngestCodecs {
                video: Some(IngestVideo::H264 {
                    profile_level_id: profile,
                }),
                audio: None,
            },
            record: record.then(|| RecordRequest {
                file_name: "x.mkv".into(),
                room: Some(room.into()),
                login: "enc".into(),
                stream: "R-enc-rtmp".into(),
                started_unix_ms: 0,
            }),
        }
    }

    fn play(peer: u64, source: u64, offer: String) -> MediaCommand {
        MediaCommand::Play {
            peer: PeerId(peer),
            source: PeerId(source),
            offer,
            transport: Transport::default(),
            constraints: Default::default(),
        }
    }

    /// A watch with the High ingest 1 in room R, its encoder registered.
    fn watch_with_encoder(record: bool) -> (PlayWatch, CloseHandle) {
        let w = PlayWatch::new(true);
        w.command(&ingest(1, "R", HIGH, record));
        let close = CloseHandle::default();
        assert_eq!(w.encoder(PeerId(1), "R-enc-rtmp", close.clone()), None);
        (w, close)
    }

    #[test]
    fn reads_the_h264_receive_profiles_of_an_offer() {
        assert_eq!(
            h264_receive_profiles(&offer(&CHROMIUM)),
            Some(CHROMIUM.map(String::from).to_vec())
        );
        let audio_only = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        assert_eq!(h264_receive_profiles(audio_only), None);
        let mode0 = offer(&["42e01f"]).replace("packetization-mode=1", "packetization-mode=0");
        assert_eq!(h264_receive_profiles(&mode0), Some(vec![]));
        // An H.264 line of the audio section is not video.
        let odd = "m=audio 9 X 102\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=640028\r\nm=video 9 X 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(h264_receive_profiles(odd), Some(vec![]));
    }

    #[test]
    fn a_refused_play_with_no_other_consumer_closes_the_encoder() {
        let (w, close) = watch_with_encoder(false);
        w.command(&play(10, 1, offer(&CHROMIUM)));
        assert!(close.is_closed(), "nobody can play it");
        // (The server sends the reason as the encoder's last status: see the close test in
        // tests/service/rtmp_encoder_defaults.rs.)
    }

    #[test]
    fn a_refused_play_beside_a_real_player_closes_nothing() {
        let (w, close) = watch_with_encoder(false);
        w.command(&play(10, 1, offer(&CHROME)));
        w.command(&play(11, 1, offer(&CHROMIUM)));
        assert!(!close.is_closed(), "Chrome plays it");
        // Chrome's player left; the next refusal finds nobody.
        w.command(&MediaCommand::Close { peer: PeerId(10) });
        w.command(&play(12, 1, offer(&CHROMIUM)));
        assert!(close.is_closed());
    }

    #[test]
    fn an_rtmp_player_or_a_recorder_is_a_consumer() {
        let (w, close) = watch_with_encoder(false);
        w.rtmp_player(PeerId(1), true);
        w.command(&play(10, 1, offer(&CHROMIUM)));
        assert!(!close.is_closed(), "the RTMP player plays High");
        w.rtmp_player(PeerId(1), false);
        w.command(&play(11, 1, offer(&CHROMIUM)));
        assert!(close.is_closed());

        let (w, close) = watch_with_encoder(true);
        w.command(&play(10, 1, offer(&CHROMIUM)));
        assert!(!close.is_closed(), "the recorder takes High");
    }

    #[test]
    fn decodable_plays_and_other_sources_close_nothing() {
        let (w, close) = watch_with_encoder(false);
        w.command(&play(10, 1, offer(&CHROME)));
        w.command(&MediaCommand::Close { peer: PeerId(10) });
        // A Constrained Baseline ingest is played by Chromium.
        w.command(&ingest(2, "R", 0x42c01f, false));
        let cb = CloseHandle::default();
        assert_eq!(w.encoder(PeerId(2), "R-cb-rtmp", cb.clone()), None);
        w.command(&play(11, 2, offer(&CHROMIUM)));
        assert!(!close.is_closed() && !cb.is_closed());
    }

    #[test]
    fn the_setting_off_closes_nothing() {
        let w = PlayWatch::new(false);
        w.command(&ingest(1, "R", HIGH, false));
        let close = CloseHandle::default();
        w.encoder(PeerId(1), "R-enc-rtmp", close.clone());
        w.command(&play(10, 1, offer(&CHROMIUM)));
        assert!(!close.is_closed());
    }

    /// A WebRTC publisher 5 in room R with players 20 (Chromium) and 21 (an audio-only one).
    fn room_with_chromium_players(w: &PlayWatch) {
        w.command(&MediaCommand::Publish {
            peer: PeerId(5),
            room: Some("R".into()),
            offer: String::new(),
            transport: Transport::default(),
            record: None,
        });
        w.command(&play(20, 5, offer(&CHROMIUM)));
        w.command(&play(
            21,
            5,
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n".into(),
        ));
    }

    #[test]
    fn at_publish_time_a_room_that_cannot_decode_closes_the_encoder() {
        let w = PlayWatch::new(true);
        room_with_chromium_players(&w);
        w.command(&ingest(1, "R", HIGH, false));
        let close = CloseHandle::default();
        let why = w.encoder(PeerId(1), "R-enc-rtmp", close.clone()).unwrap();
        assert!(close.is_closed());
        assert!(
            why.contains("1 players in room R")
                && why.contains("H.264 High (profile-level-id 640028)")
                && why.contains("-profile:v baseline"),
            "{why}"
        );
    }

    #[test]
    fn at_publish_time_one_capable_player_or_another_room_or_recording_keeps_it() {
        let w = PlayWatch::new(true);
        room_with_chromium_players(&w);
        w.command(&play(22, 5, offer(&CHROME)));
        w.command(&ingest(1, "R", HIGH, false));
        assert_eq!(
            w.encoder(PeerId(1), "R-enc-rtmp", CloseHandle::default()),
            None
        );

        let w = PlayWatch::new(true);
        room_with_chromium_players(&w);
        w.command(&ingest(1, "Other", HIGH, false));
        assert_eq!(
            w.encoder(PeerId(1), "Other-enc-rtmp", CloseHandle::default()),
            None
        );
        w.command(&ingest(2, "R", HIGH, true));
        assert_eq!(
            w.encoder(PeerId(2), "R-enc-rtmp", CloseHandle::default()),
            None,
            "recorded"
        );
        w.command(&ingest(3, "R", 0x4d0028, false));
        assert_eq!(
            w.encoder(PeerId(3), "R-main-rtmp", CloseHandle::default()),
            None,
            "Main decodes"
        );
    }
}
