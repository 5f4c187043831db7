//! The RTMP edge: bridges RTMP publishers (huddle-rtmp) to the room actor and the media plane.
//!
//! An encoder is not an SDK client, so the edge uses the actor's direct entry points
//! (actor/direct.rs), typed requests with replies on channels: `Join` opens a session for
//! the encoder's login and joins its room (refused with the room's reason, e.g. a duplicate
//! login). Once the media is known — the first video keyframe after the H.264
//! configuration, or for audio-only publishers the audio configuration plus
//! [`AUDIO_ONLY_AFTER`] — `Ingest` publishes the stream `<room>-<login>-rtmp` with its
//! typed codecs ([`IngestCodecs`]) and answers with the media peer; from then every frame
//! goes to [`MediaPlane::ingest`](crate::media::MediaPlane::ingest) addressed by that peer.
//! When the encoder stops, the edge sends `Leave` (a clean leave: UNPUBLISHED, LEFT; the
//! session closes). When the room ends the stream instead (a kick, the room closed by the
//! operator, a media failure) or drops the session, the join's [`Ended`] resolves and the
//! edge closes the encoder's TCP connection, so that the encoder sees its publish is over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huddle_room::Snapshot;
use huddle_room::{IngestAudio, IngestCodecs, IngestVideo, PeerId, SessionId, StreamRequest};
use huddle_rtmp::{
    CloseHandle, CloseReason, ConnId, FeedConfig, IngestSink, Media, PlayerFeed, RtmpRequest,
};
use huddle_sfu::IngestFrame;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::actor::{ActorMsg, DirectMsg, Ended};
use crate::rtmp_play::{MediaTaps, RtmpPlays};
use crate::server::Shared;

#[path = "rtmp_unplayable.rs"]
mod unplayable;
pub(crate) use unplayable::PlayWatch;

/// An audio-only publisher is published this long after its audio configuration when no
/// video configuration came.
pub const AUDIO_ONLY_AFTER: Duration = Duration::from_secs(1);
/// How long the room may take to answer the join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The `token` parameter of a stream key such as `alice?token=abc&x=1`.
fn token_of(stream_key: &str) -> Option<&str> {
    let (_, query) = stream_key.split_once('?')?;
    query.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// The stream name of an RTMP publisher.
pub fn stream_name(room: &str, login: &str) -> String {
    format!("{room}-{login}-rtmp")
}

/// The [`IngestSink`] of the server's RTMP listener.
pub(crate) struct RtmpEdge {
    shared: Arc<Shared>,
    conns: Mutex<HashMap<ConnId, Conn>>,
    /// RTMP players: one feed per played source (rtmp_play.rs).
    plays: RtmpPlays,
    taps: MediaTaps,
    /// Closes an encoder nobody can play (rtmp_unplayable.rs); the room actor feeds it.
    watch: Arc<PlayWatch>,
}

/// One accepted RTMP publish.
struct Conn {
    session: SessionId,
    room: String,
    name: String,
    /// The stream's id in the room's session (the hub keys a session's streams by it).
    media_session_id: String,
    /// The encoder's H.264 profile-level-id, once its configuration came.
    video: Option<u32>,
    audio_channels: Option<u8>,
    first_audio: Option<Instant>,
    /// The ingest was asked for.
    requested: bool,
    /// The media peer frames are addressed to, once the room accepted the ingest.
    peer: Option<PeerId>,
    /// The room ended the stream (or dropped the session): no more frames.
    ended: Arc<AtomicBool>,
    /// Closes the encoder's connection.
    close: CloseHandle,
}

impl RtmpEdge {
    pub(crate) fn new(shared: Arc<Shared>, watch: Arc<PlayWatch>) -> RtmpEdge {
        RtmpEdge {
            taps: MediaTaps::new(shared.media.clone()).with_watch(watch.clone()),
            watch,
            plays: RtmpPlays::new(FeedConfig::default()),
            shared,
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// Asks the room actor; `None` if it is gone (the server stops).
    async fn ask<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> DirectMsg) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .actor
            .send(ActorMsg::Direct(msg(reply)))
            .await
            .ok()?;
        answer.await.ok()
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides whether the stream can be published now; returns what to ask the room for.
    fn ready_to_publish(
        conn: &mut Conn,
        now: Instant,
        keyframe: bool,
    ) -> Option<(StreamRequest, IngestCodecs)> {
        if conn.requested {
            return None;
        }
        let audio = conn
            .audio_channels
            .map(|channels| IngestAudio::Opus { channels });
        let codecs = match conn.video {
            Some(profile_level_id) if keyframe => IngestCodecs {
                video: Some(IngestVideo::H264 { profile_level_id }),
                audio,
            },
            None if conn
                .first_audio
                .is_some_and(|t| now.duration_since(t) >= AUDIO_ONLY_AFTER)
                && audio.is_some() =>
            {
                IngestCodecs { video: None, audio }
            }
            _ => return None,
        };
        conn.requested = true;
        let request = StreamRequest {
            media_session_id: conn.media_session_id.clone(),
            name: conn.name.clone(),
            room: Some(conn.room.clone()),
            has_video: codecs.video.is_some(),
            has_audio: codecs.audio.is_some(),
            sdp: String::new(),
            transport: Default::default(),
            record: false,
            constraints: Default::default(),
        };
        Some((request, codecs))
    }
}

/// The stream an RTMP player asks for with `<room>/<key>`: the room's live stream named
/// `key`, else the live stream of the participant `key` (the oldest, i.e. the camera, if it
/// has several).
fn find_stream(snapshot: &Snapshot, room: &str, key: &str) -> Result<String, String> {
    let room_streams = snapshot
        .rooms
        .iter()
        .find(|r| r.name == room)
        .map(|r| r.streams.as_slice())
        .ok_or_else(|| format!("no room {room}"))?;
    let live = || room_streams.iter().filter(|s| s.live);
    live()
        .find(|s| s.name == key)
        .or_else(|| live().find(|s| s.login == key))
        .map(|s| s.name.clone())
        .ok_or_else(|| format!("{key} publishes no stream in room {room}"))
}

/// Waits for the room to end the stream (or drop the session), then closes the encoder's
/// connection so that the encoder sees its publish is over.
async fn watch_session(
    ended: Ended,
    flag: Arc<AtomicBool>,
    session: SessionId,
    close: CloseHandle,
) {
    let why = ended
        .await
        .unwrap_or_else(|_| "the session ended".to_string());
    flag.store(true, Ordering::Relaxed);
    if !close.is_closed() {
        info!(%session, reason = %why, "rtmp stream ended by the room; closing the encoder's connection");
    }
    close.close(why);
}

impl IngestSink for RtmpEdge {
    async fn publish(&self, req: RtmpRequest) -> Result<(), String> {
        // With access control on, an encoder needs a token too: `<login>?token=<jwt>` as the
        // stream key, checked exactly like the SDK's `custom.token`.
        let grants = match &self.shared.auth {
            None => None,
            Some(verifier) => match verifier.verify(token_of(&req.stream_key), Some(&req.login)) {
                Ok(grants) => Some(grants),
                Err(reason) => {
                    self.shared.metrics.auth_failures.inc();
                    info!(conn = %req.conn, login = %req.login, reason = %reason, "rtmp publish refused: token");
                    return Err(format!("Not authorized: {reason}"));
                }
            },
        };
        let session = SessionId(self.shared.next_session.fetch_add(1, Ordering::Relaxed));
        info!(%session, conn = %req.conn, peer = %req.peer, room = %req.room, login = %req.login, "rtmp publish request");
        // The app backend's `publishStream` REST hook, if any (docs/HOOKS.md).
        crate::hooks::session::authorize_rtmp(
            &self.shared.hooks,
            session,
            &format!("rtmp-{}", req.conn.0),
            &stream_name(&req.room, &req.login),
            &req.room,
            &req.login,
            &req.stream_key,
        )
        .await?;
        let (login, room) = (req.login.clone(), req.room.clone());
        let answer = tokio::time::timeout(
            JOIN_TIMEOUT,
            self.ask(|reply| DirectMsg::Join {
                session,
                login,
                grants,
                room,
                reply,
            }),
        )
        .await;
        let ended = match answer {
            Ok(Some(Ok(ended))) => ended,
            Ok(Some(Err(reason))) => {
                info!(%session, room = %req.room, login = %req.login, %reason, "rtmp publish refused");
                return Err(reason);
            }
            Ok(None) => return Err("server is shutting down".into()),
            Err(_) => return Err("the room did not answer the join".into()),
        };
        let flag = Arc::new(AtomicBool::new(false));
        tokio::spawn(watch_session(
            ended,
            flag.clone(),
            session,
            req.close.clone(),
        ));
        self.conns().insert(
            req.conn,
            Conn {
                session,
                name: stream_name(&req.room, &req.login),
                room: req.room,
                media_session_id: format!("rtmp-{}", req.conn.0),
                video: None,
                audio_channels: None,
                first_audio: None,
                requested: false,
                peer: None,
                ended: flag,
                close: req.close,
            },
        );
        Ok(())
    }

    async fn media(&self, conn: ConnId, media: Media) {
        let received = Instant::now();
        let (request, session, frame, peer) = {
            let mut conns = self.conns();
            let Some(c) = conns.get_mut(&conn) else {
                return;
            };
            let mut keyframe = false;
            let frame = match media {
                Media::VideoConfig(cfg) => {
                    let [p, c1, l] = cfg.profile_level_id;
                    let profile = u32::from_be_bytes([0, p, c1, l]);
                    if c.requested && c.video != Some(profile) {
                        warn!(%conn, profile = %cfg.profile_level_id_hex(), "H.264 configuration changed mid-stream; players keep the first one");
                    }
                    if !c.requested {
                        c.video = Some(profile);
                    }
                    None
                }
                Media::AudioConfig(cfg) => {
                    if !c.requested {
                        c.audio_channels = Some(cfg.channels.clamp(1, 2));
                    }
                    None
                }
                Media::Video(v) => {
                    keyframe = v.keyframe;
                    Some(IngestFrame::Video {
                        annexb: v.annexb.into(),
                        keyframe: v.keyframe,
                        rtp_time_90k: v.rtp_time_90k,
                        received,
                    })
                }
                Media::Audio(a) => {
                    c.first_audio.get_or_insert(received);
                    Some(IngestFrame::Audio {
                        opus: a.opus.into(),
                        rtp_time_48k: a.rtp_time_48k,
                        received,
                    })
                }
            };
            let request = Self::ready_to_publish(c, received, keyframe);
            let live = !c.ended.load(Ordering::Relaxed);
            let frame = frame.filter(|_| live);
            (request, c.session, frame, c.peer)
        };
        let mut peer = peer;
        if let Some((request, codecs)) = request {
            info!(%session, stream = %request.name, ?codecs, "rtmp stream ingest");
            let answer = self
                .ask(|reply| DirectMsg::Ingest {
                    session,
                    request,
                    codecs,
                    reply,
                })
                .await;
            match answer {
                Some(Ok(p)) => {
                    if let Some(c) = self.conns().get_mut(&conn) {
                        c.peer = Some(p);
                        // Nobody in the room may be able to decode its profile: then the
                        // encoder is closed at once, with the reason (rtmp_unplayable.rs).
                        if let Some(why) = self.watch.encoder(p, &c.name, c.close.clone()) {
                            info!(%session, reason = %why, "rtmp stream unplayable in its room");
                            c.ended.store(true, Ordering::Relaxed);
                        }
                    }
                    peer = Some(p);
                }
                Some(Err(reason)) => {
                    info!(%session, %reason, "rtmp ingest refused");
                    if let Some(c) = self.conns().get(&conn) {
                        c.ended.store(true, Ordering::Relaxed);
                        c.close.close(format!("ingest refused: {reason}"));
                    }
                }
                None => {}
            }
        }
        // The media plane has the ingest's command before the reply came, so frames addressed
        // to the peer from here on find it (the first keyframe included).
        if let (Some(frame), Some(peer)) = (frame, peer) {
            self.shared.media.ingest(peer, frame);
        }
    }

    async fn play(&self, req: RtmpRequest) -> Result<PlayerFeed, String> {
        // With access control on, a player needs a token for the room, as a publisher does
        // (`<login>?token=<jwt>`); the token's own login is the player's, whoever it plays.
        if let Some(verifier) = &self.shared.auth {
            let allowed = verifier
                .verify_any(token_of(&req.stream_key))
                .and_then(|(_, grants)| {
                    if grants.allows_room(&req.room) {
                        Ok(())
                    } else {
                        Err(format!("Access token is not for room {}", req.room))
                    }
                });
            if let Err(reason) = allowed {
                self.shared.metrics.auth_failures.inc();
                info!(conn = %req.conn, room = %req.room, reason = %reason, "rtmp play refused: token");
                return Err(format!("Not authorized: {reason}"));
            }
        }
        let (reply, snapshot) = oneshot::channel();
        if self
            .shared
            .actor
            .send(ActorMsg::Snapshot(reply))
            .await
            .is_err()
        {
            return Err("server is shutting down".into());
        }
        let snapshot = snapshot
            .await
            .map_err(|_| "server is shutting down".to_string())?;
        let stream = find_stream(&snapshot, &req.room, &req.login)?;
        self.taps.learn(&snapshot);
        let feed = self.plays.play(&self.taps, &stream).await;
        match &feed {
            Ok(_) => {
                info!(conn = %req.conn, peer = %req.peer, %stream, "rtmp play started")
            }
            Err(reason) => {
                info!(conn = %req.conn, %stream, %reason, "rtmp play refused")
            }
        }
        feed
    }

    async fn closed(&self, conn: ConnId, reason: CloseReason) {
        // A player that left may have been its source's last one.
        self.plays.sweep(&self.taps);
        let Some(c) = self.conns().remove(&conn) else {
            debug!(%conn, %reason, "rtmp connection closed before publishing");
            return;
        };
        info!(session = %c.session, %conn, %reason, room = %c.room, "rtmp publisher gone: leaving the room");
        c.ended.store(true, Ordering::Relaxed);
        // Already gone: the leave's UNPUBLISHED needs no close.
        c.close.close(reason.to_string());
        let _ = self
            .shared
            .actor
            .send(ActorMsg::Direct(DirectMsg::Leave {
                session: c.session,
                room: c.room,
            }))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Conn {
        Conn {
            session: SessionId(1),
            room: "R".into(),
            name: stream_name("R", "enc"),
            media_session_id: "rtmp-1".into(),
            video: None,
            audio_channels: None,
            first_audio: None,
            requested: false,
            peer: None,
            ended: Arc::new(AtomicBool::new(false)),
            close: CloseHandle::default(),
        }
    }

    #[test]
    fn publishes_at_the_first_keyframe_with_both_codecs() {
        let now = Instant::now();
        let mut c = conn();
        c.audio_channels = Some(1);
        assert!(RtmpEdge::ready_to_publish(&mut c, now, true).is_none());
        c.video = Some(0x42c01e);
        assert!(RtmpEdge::ready_to_publish(&mut c, now, false).is_none());
        let (req, codecs) = RtmpEdge::ready_to_publish(&mut c, now, true).unwrap();
        assert_eq!(
            codecs,
            IngestCodecs {
                video: Some(IngestVideo::H264 {
                    profile_level_id: 0x42c01e
                }),
                audio: Some(IngestAudio::Opus { channels: 1 }),
            }
        );
        assert!(req.sdp.is_empty(), "no codec text travels");
        assert_eq!(req.name, "R-enc-rtmp");
        assert_eq!(req.room.as_deref(), Some("R"));
        assert!(req.has_audio && req.has_video);
        assert!(
            RtmpEdge::ready_to_publish(&mut c, now, true).is_none(),
            "only once"
        );
    }

    #[tokio::test]
    async fn the_room_ending_the_stream_closes_the_encoder() {
        let (tx, ended) = oneshot::channel();
        let flag = Arc::new(AtomicBool::new(false));
        let close = CloseHandle::default();
        let watcher = tokio::spawn(watch_session(
            ended,
            flag.clone(),
            SessionId(1),
            close.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!close.is_closed(), "open while the stream lives");
        tx.send("stream R-enc-rtmp FAILED: media failed".into())
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .unwrap()
            .unwrap();
        assert!(close.is_closed());
        assert!(flag.load(Ordering::Relaxed), "no more frames");
    }

    #[tokio::test]
    async fn a_dropped_session_closes_the_encoder() {
        let (tx, ended) = oneshot::channel::<String>();
        let close = CloseHandle::default();
        let watcher = tokio::spawn(watch_session(
            ended,
            Arc::new(AtomicBool::new(false)),
            SessionId(1),
            close.clone(),
        ));
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .unwrap()
            .unwrap();
        assert!(close.is_closed());
    }

    #[test]
    fn token_comes_from_the_stream_key_query() {
        assert_eq!(token_of("alice?token=abc.def"), Some("abc.def"));
        assert_eq!(token_of("alice?x=1&token=t"), Some("t"));
        assert_eq!(token_of("alice"), None);
        assert_eq!(token_of("alice?tokens=t"), None);
    }

    #[test]
    fn audio_only_waits_a_second() {
        let t0 = Instant::now();
        let mut c = conn();
        c.audio_channels = Some(2);
        c.first_audio = Some(t0);
        assert!(
            RtmpEdge::ready_to_publish(&mut c, t0 + Duration::from_millis(500), false).is_none()
        );
        let (req, codecs) =
            RtmpEdge::ready_to_publish(&mut c, t0 + AUDIO_ONLY_AFTER, false).unwrap();
        assert_eq!(codecs.audio, Some(IngestAudio::Opus { channels: 2 }));
        assert!(codecs.video.is_none());
        assert!(req.has_audio && !req.has_video);
    }
}
