//! The RTMP edge: bridges RTMP publishers (huddle-rtmp) to the room actor and the media plane.
//!
//! Each RTMP connection that asks to publish becomes one session in the room actor, like a
//! WebSocket: `Connect { login }`, then `Join { room }`. The join's answer accepts or refuses
//! the RTMP publish (a duplicate login is refused with the room's reason). Once the media is
//! known — the first video keyframe after the H.264 configuration, or for audio-only
//! publishers the audio configuration plus [`AUDIO_ONLY_AFTER`] — the edge sends
//! `Command::Ingest` for the stream `<room>-<login>-rtmp` with a codec description for the
//! media plane (`video=h264:<profile-level-id>;audio=opus:<channels>`), and from the moment
//! the room reports it PUBLISHING pushes every frame with [`MediaPlane::ingest`]. When the
//! encoder stops, the edge leaves the room (a clean leave: UNPUBLISHED, LEFT) and closes the
//! session. When the room ends the stream instead (UNPUBLISHED or FAILED: a kick, the room
//! closed by the operator, a media failure, a refused ingest) or the session is dropped, the
//! edge closes the encoder's TCP connection, so that the encoder sees its publish is over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use huddle_room::{Command, Input, ServerMessage, SessionId, StreamRequest, StreamState};
use huddle_rtmp::{CloseHandle, CloseReason, ConnId, IngestSink, Media, PublishRequest};
use huddle_sfu::IngestFrame;
use tracing::{debug, info, warn};

use crate::actor::ActorMsg;
use crate::server::Shared;

/// An audio-only publisher is published this long after its audio configuration when no
/// video configuration came.
pub const AUDIO_ONLY_AFTER: Duration = Duration::from_secs(1);
/// How long the room may take to answer the join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);
const JOIN_OP: &str = "rtmp-join";
const LEAVE_OP: &str = "rtmp-leave";

/// The stream name of an RTMP publisher.
/// The `token` parameter of a stream key such as `alice?token=abc&x=1`.
fn token_of(stream_key: &str) -> Option<&str> {
    let (_, query) = stream_key.split_once('?')?;
    query.split('&').find_map(|kv| kv.strip_prefix("token="))
}

pub fn stream_name(room: &str, login: &str) -> String {
    format!("{room}-{login}-rtmp")
}

/// The [`IngestSink`] of the server's RTMP listener.
pub(crate) struct RtmpEdge {
    shared: Arc<Shared>,
    conns: Mutex<HashMap<ConnId, Conn>>,
}

/// One accepted RTMP publish.
struct Conn {
    session: SessionId,
    room: String,
    name: String,
    media_session_id: String,
    video: Option<String>,
    audio_channels: Option<u8>,
    first_audio: Option<Instant>,
    /// `Command::Ingest` was sent.
    requested: bool,
    /// The room reported PUBLISHING (and not yet FAILED/UNPUBLISHED): frames go out.
    live: Arc<AtomicBool>,
    /// Closes the encoder's connection.
    close: CloseHandle,
}

impl RtmpEdge {
    pub(crate) fn new(shared: Arc<Shared>) -> RtmpEdge {
        RtmpEdge {
            shared,
            conns: Mutex::new(HashMap::new()),
        }
    }

    async fn to_actor(&self, msg: ActorMsg) -> bool {
        self.shared.actor.send(msg).await.is_ok()
    }

    async fn input(&self, input: Input) -> bool {
        self.to_actor(ActorMsg::Input(input)).await
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Conn>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides whether the stream can be announced now; returns the Ingest command to send.
    fn ready_to_publish(conn: &mut Conn, now: Instant, keyframe: bool) -> Option<StreamRequest> {
        if conn.requested {
            return None;
        }
        let description = match (&conn.video, conn.audio_channels) {
            (Some(profile), audio) if keyframe => {
                let mut d = format!("video=h264:{profile}");
                if let Some(ch) = audio {
                    d.push_str(&format!(";audio=opus:{ch}"));
                }
                d
            }
            (None, Some(ch))
                if conn
                    .first_audio
                    .is_some_and(|t| now.duration_since(t) >= AUDIO_ONLY_AFTER) =>
            {
                format!("audio=opus:{ch}")
            }
            _ => return None,
        };
        conn.requested = true;
        Some(StreamRequest {
            media_session_id: conn.media_session_id.clone(),
            name: conn.name.clone(),
            room: Some(conn.room.clone()),
            has_video: description.contains("video="),
            has_audio: description.contains("audio="),
            sdp: description,
            record: false,
        })
    }
}

/// Reads the session's messages after the join: learns when the stream is live or ends; when
/// the room ends it, or drops the session, the encoder's connection is closed.
async fn watch_session(
    mut rx: crate::outbound::Inbox,
    media_session_id: String,
    live: Arc<AtomicBool>,
    session: SessionId,
    close: CloseHandle,
) {
    while let Some(msg) = rx.recv().await {
        if let ServerMessage::StreamStatus(st) = msg {
            if st.media_session_id != media_session_id {
                continue;
            }
            match st.status {
                StreamState::Publishing => {
                    info!(%session, stream = %st.name, "rtmp stream publishing");
                    live.store(true, Ordering::Relaxed);
                }
                StreamState::Failed | StreamState::Unpublished => {
                    live.store(false, Ordering::Relaxed);
                    if !close.is_closed() {
                        info!(%session, stream = %st.name, status = ?st.status, info = %st.info, "rtmp stream ended by the room; closing the encoder's connection");
                    }
                    let why = if st.info.is_empty() {
                        st.status.as_str().to_string()
                    } else {
                        format!("{}: {}", st.status.as_str(), st.info)
                    };
                    close.close(format!("stream {} {why}", st.name));
                }
                _ => {}
            }
        }
    }
    // The actor dropped the session (server stopping, session too slow, disconnected).
    live.store(false, Ordering::Relaxed);
    close.close("the session ended");
}

impl IngestSink for RtmpEdge {
    async fn publish(&self, req: PublishRequest) -> Result<(), String> {
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
        let (outbound, mut rx) = crate::outbound::channel(self.shared.config.max_queued_bytes);
        if !self.to_actor(ActorMsg::Open { session, outbound }).await {
            return Err("server is shutting down".into());
        }
        info!(%session, conn = %req.conn, peer = %req.peer, room = %req.room, login = %req.login, "rtmp publish request");
        self.input(Input::Connect {
            session,
            login: Some(req.login.clone()),
            grants,
        })
        .await;
        self.input(Input::Command {
            session,
            command: Command::Join {
                op: JOIN_OP.into(),
                room: req.room.clone(),
                record: false,
            },
        })
        .await;
        let answer = tokio::time::timeout(JOIN_TIMEOUT, async {
            while let Some(msg) = rx.recv().await {
                if let ServerMessage::DataStatus { op, result } = msg {
                    if op == JOIN_OP {
                        return result;
                    }
                }
            }
            Err("server is shutting down".to_string())
        })
        .await
        .unwrap_or_else(|_| Err("the room did not answer the join".into()));
        if let Err(reason) = answer {
            info!(%session, room = %req.room, login = %req.login, %reason, "rtmp publish refused");
            self.input(Input::Disconnect { session }).await;
            return Err(reason);
        }
        let media_session_id = format!("rtmp-{}", req.conn.0);
        let live = Arc::new(AtomicBool::new(false));
        tokio::spawn(watch_session(
            rx,
            media_session_id.clone(),
            live.clone(),
            session,
            req.close.clone(),
        ));
        self.conns().insert(
            req.conn,
            Conn {
                session,
                name: stream_name(&req.room, &req.login),
                room: req.room,
                media_session_id,
                video: None,
                audio_channels: None,
                first_audio: None,
                requested: false,
                live,
                close: req.close,
            },
        );
        Ok(())
    }

    async fn media(&self, conn: ConnId, media: Media) {
        let received = Instant::now();
        let (request, session, frame, name) = {
            let mut conns = self.conns();
            let Some(c) = conns.get_mut(&conn) else {
                return;
            };
            let mut keyframe = false;
            let frame = match media {
                Media::VideoConfig(cfg) => {
                    let profile = cfg.profile_level_id_hex();
                    if c.requested && c.video.as_deref() != Some(profile.as_str()) {
                        warn!(%conn, %profile, "H.264 configuration changed mid-stream; players keep the first one");
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
            // Frames flow once the room has the stream live (the media plane knows the name).
            let frame = frame.filter(|_| c.live.load(Ordering::Relaxed));
            (request, c.session, frame, c.name.clone())
        };
        if let Some(req) = request {
            info!(%session, stream = %req.name, description = %req.sdp, "rtmp stream ingest");
            self.input(Input::Command {
                session,
                command: Command::Ingest(req),
            })
            .await;
        }
        if let Some(frame) = frame {
            self.shared.media.ingest(&name, frame);
        }
    }

    async fn closed(&self, conn: ConnId, reason: CloseReason) {
        let Some(c) = self.conns().remove(&conn) else {
            debug!(%conn, %reason, "rtmp connection closed before publishing");
            return;
        };
        info!(session = %c.session, %conn, %reason, room = %c.room, "rtmp publisher gone: leaving the room");
        c.live.store(false, Ordering::Relaxed);
        // Already gone: the leave's UNPUBLISHED needs no close.
        c.close.close(reason.to_string());
        self.input(Input::Command {
            session: c.session,
            command: Command::Leave {
                op: LEAVE_OP.into(),
                room: c.room,
            },
        })
        .await;
        self.input(Input::Disconnect { session: c.session }).await;
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
            live: Arc::new(AtomicBool::new(false)),
            close: CloseHandle::default(),
        }
    }

    #[test]
    fn publishes_at_the_first_keyframe_with_both_codecs() {
        let now = Instant::now();
        let mut c = conn();
        c.audio_channels = Some(1);
        assert!(RtmpEdge::ready_to_publish(&mut c, now, true).is_none());
        c.video = Some("42c01e".into());
        assert!(RtmpEdge::ready_to_publish(&mut c, now, false).is_none());
        let req = RtmpEdge::ready_to_publish(&mut c, now, true).unwrap();
        assert_eq!(req.sdp, "video=h264:42c01e;audio=opus:1");
        assert_eq!(req.name, "R-enc-rtmp");
        assert_eq!(req.room.as_deref(), Some("R"));
        assert!(req.has_audio && req.has_video);
        assert!(
            RtmpEdge::ready_to_publish(&mut c, now, true).is_none(),
            "only once"
        );
    }

    fn status(msid: &str, status: StreamState, info: &str) -> ServerMessage {
        ServerMessage::StreamStatus(huddle_room::StreamStatus {
            media_session_id: msid.into(),
            name: "R-enc-rtmp".into(),
            published: true,
            has_audio: true,
            has_video: true,
            record: false,
            status,
            info: info.into(),
            record_name: None,
        })
    }

    #[tokio::test]
    async fn the_room_ending_the_stream_closes_the_encoder() {
        let (tx, rx) = crate::outbound::channel(1 << 20);
        let live = Arc::new(AtomicBool::new(false));
        let close = CloseHandle::default();
        let watcher = tokio::spawn(watch_session(
            rx,
            "rtmp-1".into(),
            live.clone(),
            SessionId(1),
            close.clone(),
        ));
        tx.push(status("rtmp-1", StreamState::Publishing, ""))
            .unwrap();
        // Another stream's end is not this one's.
        tx.push(status("other", StreamState::Unpublished, ""))
            .unwrap();
        for _ in 0..100 {
            if live.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(live.load(Ordering::Relaxed));
        assert!(!close.is_closed());
        tx.push(status("rtmp-1", StreamState::Failed, "media failed"))
            .unwrap();
        for _ in 0..100 {
            if close.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(close.is_closed());
        assert!(!live.load(Ordering::Relaxed));
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_dropped_session_closes_the_encoder() {
        let (tx, rx) = crate::outbound::channel(1 << 20);
        let close = CloseHandle::default();
        let watcher = tokio::spawn(watch_session(
            rx,
            "rtmp-1".into(),
            Arc::new(AtomicBool::new(true)),
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
        let req = RtmpEdge::ready_to_publish(&mut c, t0 + AUDIO_ONLY_AFTER, false).unwrap();
        assert_eq!(req.sdp, "audio=opus:2");
        assert!(req.has_audio && !req.has_video);
    }
}
