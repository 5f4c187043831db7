//! Publishers and players: publish, play, stop, and the media plane's reports.

use super::*;

impl Hub {
    // ---- streams ----

    /// `publishStream`, or with `ingest` an RTMP publish (no offer: the encoder's codecs).
    pub(super) fn publish(
        &mut self,
        now: Now,
        session: SessionId,
        req: StreamRequest,
        ingest: Option<crate::IngestCodecs>,
    ) -> Result<PeerId, String> {
        if let Err(reason) = self.check_publish(session, &req) {
            info!(%session, stream = %req.name, reason = %reason, "publish refused");
            let status = request_status(&req, true, StreamState::Failed, &reason);
            self.send(session, ServerMessage::StreamStatus(status));
            return Err(reason);
        }
        let login = self.sessions[&session].login.clone();
        let room_records = req
            .room
            .as_ref()
            .and_then(|r| self.rooms.get(r))
            .is_some_and(|r| r.record);
        let record = (req.record || room_records).then(|| {
            let file_name = record_name::render(
                &self.config.record_template,
                req.room.as_deref(),
                &login,
                &req.name,
                now.unix_ms,
            );
            RecordRequest {
                file_name,
                room: req.room.clone(),
                login: login.clone(),
                stream: req.name.clone(),
                started_unix_ms: now.unix_ms,
            }
        });
        let peer = self.allocate_peer();
        info!(%session, %peer, stream = %req.name, room = ?req.room, record = record.is_some(), ingest = ingest.is_some(), "publish requested");
        self.stream_names.insert(req.name.clone(), peer);
        self.sessions
            .get_mut(&session)
            .expect("checked")
            .media
            .insert(req.media_session_id.clone(), peer);
        let record_name = record.as_ref().map(|r| r.file_name.clone());
        let room = req.room.clone();
        let command = match ingest {
            Some(codecs) => MediaCommand::Ingest {
                peer,
                room,
                codecs,
                record,
            },
            None => MediaCommand::Publish {
                peer,
                room,
                offer: req.sdp,
                transport: req.transport,
                record,
            },
        };
        self.publications.insert(
            peer,
            Publication {
                session,
                media_session_id: req.media_session_id,
                name: req.name,
                room: req.room,
                login,
                has_audio: req.has_audio,
                has_video: req.has_video,
                record_name,
                recording_failed: None,
                started_unix_ms: now.unix_ms,
                phase: Phase::Pending,
                players: BTreeSet::new(),
            },
        );
        self.outputs.push_back(Output::Media(command));
        Ok(peer)
    }

    pub(super) fn check_publish(
        &self,
        session: SessionId,
        req: &StreamRequest,
    ) -> Result<(), String> {
        let state = &self.sessions[&session];
        if req.name.is_empty() {
            return Err("Stream name is empty".into());
        }
        self.check_name("Stream name", &req.name)?;
        self.check_name("mediaSessionId", &req.media_session_id)?;
        self.check_publish_scope(session, req.room.as_deref())?;
        if state.media.contains_key(&req.media_session_id) {
            return Err("mediaSessionId is already in use".into());
        }
        if self.stream_names.contains_key(&req.name) {
            return Err(NAME_IN_USE.into());
        }
        if let Some(room) = &req.room {
            if !state.rooms.contains(room) {
                return Err(format!("Not in room {room}"));
            }
        }
        self.check_publish_limits(session)
    }

    pub(super) fn play(&mut self, session: SessionId, req: StreamRequest) {
        let source = match self.check_play(session, &req) {
            Ok(source) => source,
            Err(reason) => {
                info!(%session, stream = %req.name, reason = %reason, "play refused");
                let status = request_status(&req, false, StreamState::Failed, &reason);
                self.send(session, ServerMessage::StreamStatus(status));
                return;
            }
        };
        let peer = self.allocate_peer();
        info!(%session, %peer, stream = %req.name, %source, "play requested");
        self.sessions
            .get_mut(&session)
            .expect("checked")
            .media
            .insert(req.media_session_id.clone(), peer);
        self.publications
            .get_mut(&source)
            .expect("checked")
            .players
            .insert(peer);
        self.playbacks.insert(
            peer,
            Playback {
                session,
                media_session_id: req.media_session_id,
                name: req.name,
                source,
                has_audio: req.has_audio,
                has_video: req.has_video,
                phase: Phase::Pending,
            },
        );
        self.outputs.push_back(Output::Media(MediaCommand::Play {
            peer,
            source,
            offer: req.sdp,
            transport: req.transport,
            constraints: req.constraints,
        }));
    }

    pub(super) fn check_play(
        &self,
        session: SessionId,
        req: &StreamRequest,
    ) -> Result<PeerId, String> {
        let state = &self.sessions[&session];
        self.check_name("mediaSessionId", &req.media_session_id)?;
        if state.media.contains_key(&req.media_session_id) {
            return Err("mediaSessionId is already in use".into());
        }
        let source = *self.stream_names.get(&req.name).ok_or(STREAM_NOT_FOUND)?;
        let publication = &self.publications[&source];
        if publication.phase != Phase::Live {
            return Err(STREAM_NOT_FOUND.into());
        }
        match &publication.room {
            Some(room) if !state.rooms.contains(room) => {
                return Err(format!("Not in room {room}"));
            }
            Some(_) => {}
            // A stream outside any room is not for sessions whose token names one room.
            None if state.grants.as_ref().is_some_and(|g| g.room != "*") => {
                return Err(STREAM_NOT_FOUND.into());
            }
            None => {}
        }
        Ok(source)
    }

    /// unPublishStream / stopStream: the client stops one of its own streams.
    pub(super) fn stop_by_client(&mut self, session: SessionId, media_session_id: &str) {
        let peer = self
            .sessions
            .get(&session)
            .and_then(|s| s.media.get(media_session_id))
            .copied();
        match peer {
            Some(peer) => self.end_peer(peer, StopCause::Owner),
            None => {
                // Already released (e.g. by leave): tolerate, repeat nothing.
                debug!(%session, media_session_id, "stop of an unknown or released stream");
            }
        }
    }

    /// End a publisher or player peer and tell everyone concerned.
    pub(super) fn end_peer(&mut self, peer: PeerId, cause: StopCause) {
        if let Some(publication) = self.publications.remove(&peer) {
            self.end_publication(peer, publication, cause);
        } else if let Some(playback) = self.playbacks.remove(&peer) {
            let status = match cause {
                StopCause::Owner => Some(playback.status(StreamState::Stopped, "")),
                StopCause::Failure(reason) => Some(playback.status(StreamState::Failed, reason)),
                StopCause::Disconnect => None,
            };
            self.end_playback(peer, playback, status);
        }
    }

    /// A player (already taken out of `playbacks`) ends: unlinked from its source and its
    /// session, told `status` if any, closed in the media plane.
    fn end_playback(&mut self, peer: PeerId, playback: Playback, status: Option<StreamStatus>) {
        if let Some(source) = self.publications.get_mut(&playback.source) {
            source.players.remove(&peer);
        }
        if let Some(s) = self.sessions.get_mut(&playback.session) {
            s.media.remove(&playback.media_session_id);
        }
        if let Some(status) = status {
            self.send(playback.session, ServerMessage::StreamStatus(status));
        }
        info!(%peer, stream = %playback.name, "player ended");
        self.outputs
            .push_back(Output::Media(MediaCommand::Close { peer }));
    }

    pub(super) fn end_publication(
        &mut self,
        peer: PeerId,
        publication: Publication,
        cause: StopCause,
    ) {
        info!(%peer, stream = %publication.name, login = %publication.login, "publisher ended");
        self.stream_names.remove(&publication.name);
        if let Some(s) = self.sessions.get_mut(&publication.session) {
            s.media.remove(&publication.media_session_id);
        }
        // Players first: their sessions learn the stream is gone.
        for player in &publication.players {
            if let Some(playback) = self.playbacks.remove(player) {
                let status = playback.status(StreamState::Stopped, STOPPED_BY_PUBLISHER);
                self.end_playback(*player, playback, Some(status));
            }
        }
        match cause {
            StopCause::Owner => {
                let status = publication.status(StreamState::Unpublished, "");
                self.send(publication.session, ServerMessage::StreamStatus(status));
            }
            StopCause::Failure(reason) => {
                let status = publication.status(StreamState::Failed, reason);
                self.send(publication.session, ServerMessage::StreamStatus(status));
            }
            StopCause::Disconnect => {}
        }
        if publication.phase == Phase::Live {
            if let Some(room) = publication.room.as_ref().and_then(|r| self.rooms.get(r)) {
                let event = match cause {
                    StopCause::Failure(_) => RoomEvent::Failed(publication.info()),
                    _ => RoomEvent::Unpublished(publication.info()),
                };
                for other in room.audience(&publication.login) {
                    self.outputs
                        .push_back(room_event(other, &room.name, event.clone()));
                }
            }
        }
        self.outputs
            .push_back(Output::Media(MediaCommand::Close { peer }));
    }

    // ---- media plane reports ----

    pub(super) fn media_event(&mut self, event: MediaEvent) {
        match event {
            MediaEvent::Answer { peer, sdp } => {
                let target = self
                    .publications
                    .get(&peer)
                    .map(|p| (p.session, p.media_session_id.clone()))
                    .or_else(|| {
                        self.playbacks
                            .get(&peer)
                            .map(|p| (p.session, p.media_session_id.clone()))
                    });
                if let Some((session, media_session_id)) = target {
                    self.send(
                        session,
                        ServerMessage::RemoteSdp {
                            media_session_id,
                            sdp,
                        },
                    );
                }
            }
            MediaEvent::Connected { peer } => self.connected(peer),
            MediaEvent::Failed { peer, reason } => {
                info!(%peer, reason = %reason, "media failed");
                self.end_peer(peer, StopCause::Failure(&reason));
            }
            MediaEvent::RecordingFailed { peer, reason } => {
                // The stream goes on; the operator sees the failure in the snapshot.
                if let Some(p) = self.publications.get_mut(&peer) {
                    tracing::warn!(%peer, stream = %p.name, reason = %reason, "recording failed");
                    p.recording_failed.get_or_insert(reason);
                }
            }
        }
    }

    pub(super) fn connected(&mut self, peer: PeerId) {
        if let Some(p) = self.publications.get_mut(&peer) {
            if p.phase == Phase::Live {
                return;
            }
            p.phase = Phase::Live;
            info!(%peer, stream = %p.name, login = %p.login, "publishing");
            let status = p.status(StreamState::Publishing, "");
            let (session, info, room_name) = (p.session, p.info(), p.room.clone());
            let recorded = p.record_name.clone().map(|file_name| RecordedStream {
                file_name,
                login: p.login.clone(),
                stream: p.name.clone(),
                started_unix_ms: p.started_unix_ms,
            });
            let room = room_name.as_ref().and_then(|r| self.rooms.get_mut(r));
            if let (Some(room), Some(stream)) = (room, recorded) {
                // Before PUBLISHING: once the owner hears of it, the mix is noted down.
                if room.record {
                    self.outputs.push_back(Output::Recording {
                        room: room.name.clone(),
                        room_started_unix_ms: room.started_unix_ms,
                        stream: stream.clone(),
                    });
                }
                room.recorded.push(stream);
            }
            self.send(session, ServerMessage::StreamStatus(status));
            if let Some(room) = room_name.as_ref().and_then(|r| self.rooms.get(r)) {
                for other in room.audience(&info.login) {
                    self.outputs.push_back(room_event(
                        other,
                        &room.name,
                        RoomEvent::Published(info.clone()),
                    ));
                }
            }
        } else if let Some(pb) = self.playbacks.get_mut(&peer) {
            if pb.phase == Phase::Live {
                return;
            }
            pb.phase = Phase::Live;
            info!(%peer, stream = %pb.name, "playing");
            let status = pb.status(StreamState::Playing, "");
            let session = pb.session;
            self.send(session, ServerMessage::StreamStatus(status));
        }
    }
}
