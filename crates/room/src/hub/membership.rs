//! Sessions, rooms and participants: connect, join, leave, chat, away and finalize.

use super::*;

impl Hub {
    // ---- connection ----

    pub(super) fn connect(
        &mut self,
        session: SessionId,
        login: Option<String>,
        grants: Option<crate::Grants>,
    ) {
        let login = login
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| format!("guest-{}", session.0));
        if let Some(existing) = self.sessions.get(&session) {
            // A second `connection` changes nothing: the session keeps its login and grants,
            // and is told so.
            debug!(%session, login = %existing.login, ignored = %login, "repeated connection");
            let login = existing.login.clone();
            self.send(session, ServerMessage::Established { login });
            return;
        }
        info!(%session, login = %login, "session established");
        self.sessions.insert(
            session,
            Session {
                login: login.clone(),
                rooms: BTreeSet::new(),
                media: HashMap::new(),
                grants,
            },
        );
        self.send(session, ServerMessage::Established { login });
    }

    pub(super) fn disconnect(&mut self, now: Now, session: SessionId) {
        let Some(state) = self.sessions.remove(&session) else {
            return;
        };
        info!(%session, login = %state.login, "session closed");
        for peer in state.media.values() {
            self.end_peer(*peer, StopCause::Disconnect);
        }
        for room in state.rooms {
            let until = now.at + self.config.grace_period;
            let Some(p) = self
                .rooms
                .get_mut(&room)
                .and_then(|r| r.participant_mut(&state.login))
            else {
                continue;
            };
            p.presence = Presence::Away { until };
            info!(room = %room, login = %state.login, "participant away");
            self.away.insert((until, room, state.login.clone()));
        }
        // A zero grace period removes at once.
        self.handle_timeout(now);
    }

    /// Join: runs the effects into a list so that ACCEPTED goes out before them.
    pub(super) fn join(
        &mut self,
        now: Now,
        session: SessionId,
        room_name: &str,
        record: bool,
    ) -> Result<Vec<Output>, String> {
        if room_name.trim().is_empty() {
            return Err("Room name is empty".into());
        }
        self.check_join(session, room_name)?;
        let login = self.sessions[&session].login.clone();
        let mut effects = Vec::new();
        let room = match self.rooms.get_mut(room_name) {
            Some(room) => room,
            None => {
                info!(room = %room_name, record, creator = %login, "room created");
                self.rooms.entry(room_name.to_string()).or_insert(Room {
                    name: room_name.to_string(),
                    record,
                    started_unix_ms: now.unix_ms,
                    participants: Vec::new(),
                    recorded: Vec::new(),
                })
            }
        };
        match room.participant(&login).map(|p| p.presence) {
            Some(Presence::Active(s)) if s == session => {
                // Joining twice is harmless: the state is sent again.
            }
            Some(Presence::Active(_)) => {
                return Err("Participant with same login already in the room".into());
            }
            Some(Presence::Away { until }) => {
                room.participant_mut(&login).expect("present").presence = Presence::Active(session);
                self.away
                    .remove(&(until, room_name.to_string(), login.clone()));
                info!(room = %room_name, login = %login, "participant resumed");
            }
            None => {
                let max = self.config.max_participants;
                if max > 0 && room.participants.len() >= max {
                    return Err("Room is full".into());
                }
                room.participants.push(Participant {
                    login: login.clone(),
                    presence: Presence::Active(session),
                });
                info!(room = %room_name, login = %login, participants = room.participants.len(), "participant joined");
                for other in room.audience(&login) {
                    effects.push(room_event(
                        other,
                        room_name,
                        RoomEvent::Joined(login.clone()),
                    ));
                }
            }
        }
        let state = self.state_for(room_name, &login);
        effects.insert(0, room_event(session, room_name, RoomEvent::State(state)));
        self.sessions
            .get_mut(&session)
            .expect("checked")
            .rooms
            .insert(room_name.to_string());
        Ok(effects)
    }

    /// STATE for `viewer`: every other participant's login, then their live streams.
    pub(super) fn state_for(&self, room_name: &str, viewer: &str) -> Vec<StateEntry> {
        let room = &self.rooms[room_name];
        let mut entries: Vec<StateEntry> = room
            .participants
            .iter()
            .filter(|p| p.login != viewer)
            .map(|p| StateEntry::Login(p.login.clone()))
            .collect();
        let mut streams: Vec<&Publication> = self
            .publications
            .values()
            .filter(|p| {
                p.room.as_deref() == Some(room_name) && p.login != viewer && p.phase == Phase::Live
            })
            .collect();
        streams.sort_by(|a, b| (a.started_unix_ms, &a.name).cmp(&(b.started_unix_ms, &b.name)));
        entries.extend(streams.into_iter().map(|p| StateEntry::Stream(p.info())));
        entries
    }

    pub(super) fn leave(
        &mut self,
        now: Now,
        session: SessionId,
        room_name: &str,
    ) -> Result<Vec<Output>, String> {
        let state = &self.sessions[&session];
        if !state.rooms.contains(room_name) {
            return Err(format!("Not in room {room_name}"));
        }
        let login = state.login.clone();
        // Effects of a leave go out after ACCEPTED: collect them from the queue.
        let mark = self.outputs.len();
        info!(room = %room_name, login = %login, "participant left");
        self.depart(now, session, room_name, &login);
        Ok(self.outputs.drain(mark..).collect())
    }

    /// A connected participant goes (leave, or removed by the operator): its streams in the
    /// room end and it is told so, the room is dropped from its session, the others get LEFT.
    pub(super) fn depart(&mut self, now: Now, session: SessionId, room_name: &str, login: &str) {
        for peer in self.session_peers_in_room(session, room_name) {
            self.end_peer(peer, StopCause::Owner);
        }
        if let Some(state) = self.sessions.get_mut(&session) {
            state.rooms.remove(room_name);
        }
        self.remove_participant(now, room_name, login);
    }

    pub(super) fn session_peers_in_room(&self, session: SessionId, room_name: &str) -> Vec<PeerId> {
        let Some(state) = self.sessions.get(&session) else {
            return Vec::new();
        };
        let mut peers: Vec<PeerId> = state
            .media
            .values()
            .copied()
            .filter(
                |peer| match (self.publications.get(peer), self.playbacks.get(peer)) {
                    (Some(p), _) => p.room.as_deref() == Some(room_name),
                    (None, Some(pb)) => {
                        self.publications
                            .get(&pb.source)
                            .and_then(|s| s.room.as_deref())
                            == Some(room_name)
                    }
                    (None, None) => false,
                },
            )
            .collect();
        peers.sort();
        peers
    }

    /// Remove a participant (leave or grace expiry): LEFT to the others, finalize an empty room.
    pub(super) fn remove_participant(&mut self, now: Now, room_name: &str, login: &str) {
        let Some(room) = self.rooms.get_mut(room_name) else {
            return;
        };
        let before = room.participants.len();
        room.participants.retain(|p| p.login != login);
        if room.participants.len() == before {
            return;
        }
        for other in room.audience(login) {
            let out = room_event(other, room_name, RoomEvent::Left(login.to_string()));
            self.outputs.push_back(out);
        }
        if room.participants.is_empty() {
            let room = self.rooms.remove(room_name).expect("present");
            info!(room = %room.name, record = room.record, recordings = room.recorded.len(), "room finalized");
            self.outputs.push_back(Output::RoomFinalized(FinalizedRoom {
                name: room.name,
                record: room.record,
                started_unix_ms: room.started_unix_ms,
                ended_unix_ms: now.unix_ms,
                streams: room.recorded,
            }));
        }
    }

    pub(super) fn message(
        &mut self,
        session: SessionId,
        room_name: &str,
        to: &str,
        text: String,
    ) -> Result<Vec<Output>, String> {
        let state = &self.sessions[&session];
        if !state.rooms.contains(room_name) {
            return Err(format!("Not in room {room_name}"));
        }
        let limit = self.config.max_message_bytes;
        if text.len() > limit {
            return Err(format!(
                "Message is too long: {} bytes, the limit is {limit}",
                text.len()
            ));
        }
        if to == state.login {
            return Err("Cannot send a message to yourself".into());
        }
        let from = state.login.clone();
        let room = &self.rooms[room_name];
        let Some(target) = room.participant(to) else {
            return Err(format!("Participant {to} is not in room {room_name}"));
        };
        let Presence::Active(target) = target.presence else {
            return Err(format!("Participant {to} is not connected"));
        };
        Ok(vec![room_event(
            target,
            room_name,
            RoomEvent::Message { from, text },
        )])
    }
}
