//! Trust and operations: grants and limits, the operator's view ([`Hub::snapshot`]) and the
//! operator's commands (close a room, kick a participant).

use super::*;

/// Every room with its participants, streams and players, at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// By name.
    pub rooms: Vec<RoomSnapshot>,
    /// Streams published outside any room.
    pub streams: Vec<StreamSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomSnapshot {
    pub name: String,
    pub record: bool,
    pub started_unix_ms: u64,
    /// In join order.
    pub participants: Vec<ParticipantSnapshot>,
    /// By start time, then name.
    pub streams: Vec<StreamSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantSnapshot {
    pub login: String,
    /// The connected session; `None` while away (socket closed, grace period running).
    pub session: Option<SessionId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSnapshot {
    pub name: String,
    pub login: String,
    pub peer: PeerId,
    /// Media flows (PUBLISHING); false while negotiating.
    pub live: bool,
    pub has_audio: bool,
    pub has_video: bool,
    pub record_name: Option<String>,
    /// Why its recording failed, if it did (the file is incomplete or missing).
    pub recording_failed: Option<String>,
    pub started_unix_ms: u64,
    /// By peer id.
    pub players: Vec<PlayerSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerSnapshot {
    pub login: String,
    pub peer: PeerId,
    /// Media flows (PLAYING); false while negotiating.
    pub live: bool,
}

impl Hub {
    /// The operator's view of every room. Deterministic order.
    pub fn snapshot(&self) -> Snapshot {
        let mut streams: Vec<(&PeerId, &Publication)> = self.publications.iter().collect();
        streams.sort_by(|(pa, a), (pb, b)| {
            (a.started_unix_ms, &a.name, *pa).cmp(&(b.started_unix_ms, &b.name, *pb))
        });
        let stream = |peer: PeerId, p: &Publication| StreamSnapshot {
            name: p.name.clone(),
            login: p.login.clone(),
            peer,
            live: p.phase == Phase::Live,
            has_audio: p.has_audio,
            has_video: p.has_video,
            record_name: p.record_name.clone(),
            recording_failed: p.recording_failed.clone(),
            started_unix_ms: p.started_unix_ms,
            players: p
                .players
                .iter()
                .filter_map(|peer| {
                    let pb = self.playbacks.get(peer)?;
                    Some(PlayerSnapshot {
                        login: self
                            .sessions
                            .get(&pb.session)
                            .map(|s| s.login.clone())
                            .unwrap_or_default(),
                        peer: *peer,
                        live: pb.phase == Phase::Live,
                    })
                })
                .collect(),
        };
        let rooms = self
            .rooms
            .values()
            .map(|room| RoomSnapshot {
                name: room.name.clone(),
                record: room.record,
                started_unix_ms: room.started_unix_ms,
                participants: room
                    .participants
                    .iter()
                    .map(|p| ParticipantSnapshot {
                        login: p.login.clone(),
                        session: p.presence.session(),
                    })
                    .collect(),
                streams: streams
                    .iter()
                    .filter(|(_, p)| p.room.as_deref() == Some(room.name.as_str()))
                    .map(|(peer, p)| stream(**peer, p))
                    .collect(),
            })
            .collect();
        Snapshot {
            rooms,
            streams: streams
                .iter()
                .filter(|(_, p)| p.room.is_none())
                .map(|(peer, p)| stream(**peer, p))
                .collect(),
        }
    }

    pub fn has_room(&self, room: &str) -> bool {
        self.rooms.contains_key(room)
    }

    pub fn has_participant(&self, room: &str, login: &str) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.participant(login).is_some())
    }

    // ---- grants and limits ----

    /// May `session` join `room_name` (its grants, the server's room limit)?
    pub(super) fn check_join(&self, session: SessionId, room_name: &str) -> Result<(), String> {
        self.check_name("Room name", room_name)?;
        if let Some(grants) = &self.sessions[&session].grants {
            if !grants.allows_room(room_name) {
                return Err(format!("Not allowed to join room {room_name}"));
            }
        }
        let max = self.config.max_rooms;
        if max > 0 && !self.rooms.contains_key(room_name) && self.rooms.len() >= max {
            return Err("Too many rooms".into());
        }
        Ok(())
    }

    /// A client-chosen name within [`RoomConfig::max_name_bytes`].
    pub(super) fn check_name(&self, what: &str, name: &str) -> Result<(), String> {
        let max = self.config.max_name_bytes;
        if name.len() > max {
            return Err(format!("{what} is too long: at most {max} bytes"));
        }
        Ok(())
    }

    /// A session whose token names one room may only publish in that room: a stream outside
    /// any room would be reachable from everywhere.
    pub(super) fn check_publish_scope(
        &self,
        session: SessionId,
        room: Option<&str>,
    ) -> Result<(), String> {
        let scoped = self.sessions[&session]
            .grants
            .as_ref()
            .is_some_and(|g| g.room != "*");
        if scoped && room.is_none() {
            return Err("Not allowed to publish outside a room".into());
        }
        Ok(())
    }

    /// Without the record grant, `record: true` is ignored.
    pub(super) fn restrict_record(&self, session: SessionId, mut command: Command) -> Command {
        let may_record = self.sessions[&session]
            .grants
            .as_ref()
            .is_none_or(|g| g.record);
        if !may_record {
            match &mut command {
                Command::Join { record, .. } => *record = false,
                Command::Publish(req) => req.record = false,
                _ => {}
            }
        }
        command
    }

    /// The publish grant and the per-session stream limit.
    pub(super) fn check_publish_limits(&self, session: SessionId) -> Result<(), String> {
        let state = &self.sessions[&session];
        if state.grants.as_ref().is_some_and(|g| !g.publish) {
            return Err("Not allowed to publish".into());
        }
        let max = self.config.max_streams_per_session;
        if max > 0
            && self
                .publications
                .values()
                .filter(|p| p.session == session)
                .count()
                >= max
        {
            return Err(format!("Too many streams: at most {max} per session"));
        }
        Ok(())
    }

    // ---- operator commands ----

    /// Remove every participant (streams ended, LEFT to the others); the room is finalized
    /// with the last one.
    pub(super) fn close_room(&mut self, now: Now, room_name: &str) {
        let Some(room) = self.rooms.get(room_name) else {
            debug!(room = %room_name, "close of an unknown room");
            return;
        };
        let logins: Vec<String> = room.participants.iter().map(|p| p.login.clone()).collect();
        info!(room = %room_name, participants = logins.len(), "room closed by the operator");
        for login in logins {
            self.kick(now, room_name, &login);
        }
    }

    /// Remove one participant: its streams in the room end (it gets UNPUBLISHED / STOPPED),
    /// the others get LEFT, an empty room is finalized.
    pub(super) fn kick(&mut self, now: Now, room_name: &str, login: &str) {
        let Some(presence) = self
            .rooms
            .get(room_name)
            .and_then(|r| r.participant(login))
            .map(|p| p.presence)
        else {
            debug!(room = %room_name, login, "kick of an unknown participant");
            return;
        };
        info!(room = %room_name, login, "participant removed by the operator");
        match presence {
            Presence::Active(session) => self.depart(now, session, room_name, login),
            Presence::Away { until } => {
                self.away
                    .remove(&(until, room_name.to_string(), login.to_string()));
                self.remove_participant(now, room_name, login);
            }
        }
    }
}
