//! The play side of an RTMP connection: `play` request → the sink's [`PlayerFeed`] → FLV
//! tags written to the client with timestamps from 0.

use rml_rtmp::sessions::{ServerSessionResult, StreamMetadata};
use rml_rtmp::time::RtmpTimestamp;
use tokio::time::timeout;

use super::{parse_publish_target, protocol, Conn, Step};
use crate::fanout::{PlayTag, PlayerFeed, TagKind};
use crate::{CloseReason, IngestSink, RtmpRequest};

/// FLV codec ids for `onMetaData`.
const FLV_AVC: u32 = 7;
const FLV_AAC: u32 = 10;

/// An accepted play.
pub(super) struct Playing {
    pub(super) stream_id: u32,
    pub(super) feed: PlayerFeed,
    /// Stream time (ms) of the player's first tag: its timestamp 0.
    base_ms: Option<u64>,
}

/// The refusal for a stream this server cannot send over RTMP without transcoding.
pub fn vp8_refusal() -> String {
    "the stream is VP8, which RTMP cannot carry; the publisher must send H.264 \
     (a room that prefers H.264 for publishers, or the SDK's publish option \
     stripCodecs: 'VP8')"
        .to_string()
}

impl<S: IngestSink> Conn<S> {
    pub(super) async fn on_play(
        &mut self,
        request_id: u32,
        app: String,
        stream_key: String,
        stream_id: u32,
    ) -> Step<Vec<ServerSessionResult>> {
        if self.publishing.is_some() || self.playing.is_some() || self.player_mode {
            let r = self.session().reject_request(
                request_id,
                "NetStream.Play.Failed",
                "one publish or play per connection",
            );
            return self
                .refuse(r, protocol("second publish/play on one connection"))
                .await;
        }
        let (room, login) = match parse_publish_target(&app, &stream_key) {
            Ok(x) => x,
            Err(why) => {
                let why = why.replace("publish to", "play");
                let r = self.session().reject_request(
                    request_id,
                    "NetStream.Play.StreamNotFound",
                    &why,
                );
                return self.refuse(r, CloseReason::BadName(why)).await;
            }
        };
        let Ok(slot) = self.permits.players.clone().try_acquire_owned() else {
            let max = self.config.max_players;
            let r = self.session().reject_request(
                request_id,
                "NetStream.Play.Failed",
                "server full (RTMP players)",
            );
            return self.refuse(r, CloseReason::ServerFull(max)).await;
        };
        let req = RtmpRequest {
            conn: self.conn,
            peer: self.peer,
            room,
            login,
            app,
            stream_key,
            close: self.close.clone(),
        };
        tracing::info!(conn = %self.conn, peer = %self.peer, room = %req.room, login = %req.login, "RTMP play requested");
        let decision = match timeout(self.config.decision_timeout, self.sink.play(req)).await {
            Ok(d) => d,
            Err(_) => Err("no answer from the room in time".to_string()),
        };
        match decision {
            Ok(feed) => {
                self.deadline = None;
                self.permits.held = Some(slot);
                self.permits.pending = None;
                self.player_mode = true;
                self.playing = Some(Playing {
                    stream_id,
                    feed,
                    base_ms: None,
                });
                self.session().accept_request(request_id).map_err(protocol)
            }
            Err(why) => {
                tracing::info!(conn = %self.conn, peer = %self.peer, reason = %why, "RTMP play refused");
                let r = self
                    .session()
                    .reject_request(request_id, "NetStream.Play.Failed", &why);
                self.refuse(r, CloseReason::Refused(why)).await
            }
        }
    }

    /// Writes one tag of the feed to the player.
    pub(super) async fn send_tag(&mut self, playing: &mut Playing, tag: PlayTag) -> Step<()> {
        let base = *playing.base_ms.get_or_insert(tag.ts_ms);
        if tag.ts_ms < base && matches!(tag.kind, TagKind::Audio | TagKind::Video { .. }) {
            // From before the player's start (audio leaves the encoder late): a player must
            // not see time go backwards.
            return Ok(());
        }
        let ts = RtmpTimestamp::new(tag.ts_ms.saturating_sub(base) as u32);
        let id = playing.stream_id;
        let session = self.session();
        let packet = match tag.kind {
            TagKind::Metadata {
                width,
                height,
                video,
                audio,
            } => {
                let mut meta = StreamMetadata::new();
                if video {
                    meta.video_codec_id = Some(FLV_AVC);
                    if width > 0 && height > 0 {
                        meta.video_width = Some(width);
                        meta.video_height = Some(height);
                    }
                }
                if audio {
                    meta.audio_codec_id = Some(FLV_AAC);
                    meta.audio_sample_rate = Some(48_000);
                    meta.audio_channels = Some(2);
                    meta.audio_is_stereo = Some(true);
                }
                meta.encoder = Some("huddle".into());
                session.send_metadata(id, &meta)
            }
            TagKind::VideoConfig { .. } | TagKind::Video { .. } => {
                session.send_video_data(id, tag.body, ts, false)
            }
            TagKind::AudioConfig | TagKind::Audio => {
                session.send_audio_data(id, tag.body, ts, false)
            }
        }
        .map_err(protocol)?;
        self.write(&packet.bytes).await
    }

    /// The feed ended (the publisher left): tell the player and close.
    pub(super) async fn end_play(&mut self, playing: &Playing) -> Step<()> {
        if let Ok(p) = self.session().finish_playing(playing.stream_id) {
            self.write(&p.bytes).await?;
        }
        Err(CloseReason::PlayEnded("the stream ended".into()))
    }
}
