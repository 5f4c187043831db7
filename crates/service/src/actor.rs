//! The room actor: one task that owns the [`Hub`], fed by the sessions, the media plane and
//! the hub's own timer, and that routes the hub's outputs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use huddle_room::{
    FinalizedRoom, Hub, HubStats, Input, MediaCommand, MediaEvent, Now, Output, ServerMessage,
    SessionId,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::media::MediaPlane;
use crate::recording::Recordings;

pub(crate) use crate::outbound::Outbound;

mod direct;
pub(crate) use direct::{DirectMsg, Ended};

/// What the sessions and the HTTP API ask of the actor.
pub(crate) enum ActorMsg {
    /// A socket opened: messages for `session` go to `outbound`.
    Open {
        session: SessionId,
        outbound: Outbound,
    },
    /// An input for the hub (Connect, Command, Disconnect).
    Input(Input),
    /// A reply made by the edge itself (a request it could not parse), queued behind the
    /// session's earlier commands so that replies keep their order.
    Reply {
        session: SessionId,
        message: ServerMessage,
    },
    Stats(oneshot::Sender<HubStats>),
    /// The admin API's view of the rooms.
    Snapshot(oneshot::Sender<huddle_room::Snapshot>),
    /// An operator input (`CloseRoom`, `Kick`); the reply says whether its room / participant
    /// existed (then it was applied).
    Admin {
        input: Input,
        reply: oneshot::Sender<bool>,
    },
    /// A client that is not the SDK (an RTMP encoder): typed requests, replies on channels.
    Direct(DirectMsg),
    /// Stop after the messages already queued.
    Shutdown,
}

pub(crate) fn now() -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Now {
        at: Instant::now(),
        unix_ms,
    }
}

pub(crate) struct RoomActor {
    hub: Hub,
    sessions: HashMap<SessionId, Outbound>,
    /// Sessions dropped for not reading their messages; the hub hears of it after the
    /// current outputs are routed.
    overflowed: Vec<SessionId>,
    media: Arc<dyn MediaPlane>,
    recordings: Recordings,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Turns inputs and outputs into webhook events (`webhook_urls` set).
    hooks: Option<crate::hooks::ActorHooks>,
    /// Sessions of non-SDK clients (see actor/direct.rs).
    direct: direct::DirectSessions,
    /// Sees every media command, to tell RTMP encoders nobody can play (rtmp_unplayable.rs).
    play_watch: Option<Arc<crate::rtmp_edge::PlayWatch>>,
}

impl RoomActor {
    /// Send lifecycle webhooks.
    pub(crate) fn with_hooks(mut self, hooks: Option<crate::hooks::ActorHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// Show every media command to the RTMP encoders' [`crate::rtmp_edge::PlayWatch`].
    pub(crate) fn with_play_watch(mut self, watch: Arc<crate::rtmp_edge::PlayWatch>) -> Self {
        self.play_watch = Some(watch);
        self
    }

    /// Count recordings started.
    pub(crate) fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub(crate) fn new(hub: Hub, media: Arc<dyn MediaPlane>, recordings: Recordings) -> Self {
        Self {
            hub,
            sessions: HashMap::new(),
            overflowed: Vec::new(),
            media,
            recordings,
            metrics: None,
            hooks: None,
            direct: Default::default(),
            play_watch: None,
        }
    }

    pub(crate) async fn run(
        mut self,
        mut inbox: mpsc::Receiver<ActorMsg>,
        // Unbounded, and that is safe: the media plane sends a few events per peer or
        // recording over its life (its answer, connected, failed, a recording failure), peers
        // exist only after media admission (max_pending_media, the publish/play rate limits),
        // and each event takes this loop microseconds. A bound would have to drop an event (a
        // peer never torn down) or block the media thread. See docs/SECURITY.md.
        mut media_events: mpsc::UnboundedReceiver<MediaEvent>,
    ) {
        info!("room actor started");
        loop {
            let deadline = self.hub.poll_timeout();
            let timer = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = inbox.recv() => match msg {
                    None | Some(ActorMsg::Shutdown) => break,
                    Some(msg) => self.handle(msg),
                },
                Some(event) = media_events.recv() => {
                    log_media_event(&event);
                    if let (MediaEvent::RecordingFailed { .. }, Some(m)) = (&event, &self.metrics) {
                        m.recording_failures.inc();
                    }
                    self.hub.handle_input(now(), Input::Media(event));
                }
                () = timer => self.hub.handle_timeout(now()),
            }
            self.drain();
        }
        self.finalize_all_rooms();
        // The finalized rooms' job files are written on the job thread: wait for them, so a
        // process that exits right after shutdown leaves completed jobs, not open ones.
        self.recordings.jobs_written().await;
        info!("room actor stopped");
    }

    /// The server stops: every room still alive ends now, so that recorded rooms get their
    /// mix job written (and mixed now, or at the next start if the process exits first).
    fn finalize_all_rooms(&mut self) {
        let rooms: Vec<String> = self
            .hub
            .snapshot()
            .rooms
            .into_iter()
            .map(|r| r.name)
            .collect();
        for room in rooms {
            info!(room = %room, "server stopping: room finalized");
            self.hub.handle_input(now(), Input::CloseRoom { room });
        }
        self.drain();
    }

    fn handle(&mut self, msg: ActorMsg) {
        match msg {
            ActorMsg::Open { session, outbound } => {
                debug!(%session, "socket registered");
                self.sessions.insert(session, outbound);
            }
            ActorMsg::Input(input) => {
                let closed = match &input {
                    Input::Disconnect { session } => Some(*session),
                    _ => None,
                };
                if let Some(hooks) = &mut self.hooks {
                    hooks.input(&input);
                }
                self.hub.handle_input(now(), input);
                if let Some(session) = closed {
                    // Outputs of the disconnect are for the others; drop this one's route
                    // after routing them.
                    self.drain();
                    self.sessions.remove(&session);
                }
            }
            ActorMsg::Reply { session, message } => self.deliver(session, message),
            ActorMsg::Direct(msg) => self.handle_direct(msg),
            ActorMsg::Stats(reply) => {
                let _ = reply.send(self.hub.stats());
            }
            ActorMsg::Snapshot(reply) => {
                let _ = reply.send(self.hub.snapshot());
            }
            ActorMsg::Admin { input, reply } => {
                let exists = match &input {
                    Input::CloseRoom { room } => self.hub.has_room(room),
                    Input::Kick { room, login } => self.hub.has_participant(room, login),
                    _ => true,
                };
                if exists {
                    info!(?input, "admin action");
                    self.hub.handle_input(now(), input);
                }
                let _ = reply.send(exists);
            }
            ActorMsg::Shutdown => {}
        }
    }

    fn drain(&mut self) {
        loop {
            while let Some(output) = self.hub.poll_output() {
                self.route(output);
            }
            if self.overflowed.is_empty() {
                return;
            }
            // A session too slow to read is gone for the room, as if its socket dropped: its
            // participant goes away (chat to it fails, its login can rejoin) instead of
            // silently eating messages.
            for session in std::mem::take(&mut self.overflowed) {
                let input = Input::Disconnect { session };
                if let Some(hooks) = &mut self.hooks {
                    hooks.input(&input);
                }
                self.hub.handle_input(now(), input);
            }
        }
    }

    fn route(&mut self, output: Output) {
        if let Some(hooks) = &mut self.hooks {
            hooks.output(&output);
        }
        match output {
            Output::Send { session, message } => self.deliver(session, message),
            Output::Media(command) => {
                log_media_command(&command);
                let recorded = matches!(
                    &command,
                    MediaCommand::Publish {
                        record: Some(_),
                        ..
                    } | MediaCommand::Ingest {
                        record: Some(_),
                        ..
                    }
                );
                if let (Some(m), true) = (&self.metrics, recorded) {
                    m.recordings_started.inc();
                }
                if let Some(watch) = &self.play_watch {
                    watch.command(&command);
                }
                let peer = command_peer(&command);
                if let Err(busy) = self.media.try_send(command) {
                    // The media plane refuses new work: the stream fails with the
                    // reason instead of waiting for a timeout.
                    warn!(%peer, reason = %busy, "media plane refused a command");
                    if let Some(m) = &self.metrics {
                        m.media_busy.inc();
                    }
                    let reason = busy.to_string();
                    self.hub
                        .handle_input(now(), Input::Media(MediaEvent::Failed { peer, reason }));
                }
            }
            Output::Recording {
                room,
                room_started_unix_ms,
                stream,
            } => {
                self.recordings
                    .stream_recording(&room, room_started_unix_ms, &stream);
            }
            Output::RoomFinalized(room) => {
                log_room_finalized(&room);
                // The room's Close commands went out before this output: once the media
                // plane has applied them, its files are complete.
                let settled = self.media.settled();
                self.recordings.room_finalized(&room, async move {
                    let _ = settled.await;
                });
            }
        }
    }

    /// An input for the hub, shown to the hooks first.
    fn input(&mut self, input: Input) {
        if let Some(hooks) = &mut self.hooks {
            hooks.input(&input);
        }
        self.hub.handle_input(now(), input);
    }

    fn deliver(&mut self, session: SessionId, message: ServerMessage) {
        if self.direct.contains(session) {
            return self.direct.deliver(session, message);
        }
        let Some(outbound) = self.sessions.get(&session) else {
            debug!(%session, "message for a closed session dropped");
            return;
        };
        match outbound.push(message) {
            Ok(()) => {}
            Err(crate::outbound::Refused::Full) => {
                // Dropping the sender ends the session's writer, which closes the socket.
                warn!(%session, "session is too slow to read its messages; disconnecting it");
                if let Some(m) = &self.metrics {
                    m.slow_sessions_dropped.inc();
                }
                self.sessions.remove(&session);
                self.overflowed.push(session);
            }
            Err(crate::outbound::Refused::Closed) => {
                self.sessions.remove(&session);
            }
        }
    }
}

/// The peer a media command is about.
fn command_peer(command: &MediaCommand) -> huddle_room::PeerId {
    match command {
        MediaCommand::Publish { peer, .. }
        | MediaCommand::Ingest { peer, .. }
        | MediaCommand::Play { peer, .. }
        | MediaCommand::Close { peer } => *peer,
    }
}

/// The last participant left a room.
fn log_room_finalized(room: &FinalizedRoom) {
    info!(
        room = %room.name,
        record = room.record,
        streams = room.streams.len(),
        duration_ms = room.ended_unix_ms.saturating_sub(room.started_unix_ms),
        "room finalized"
    );
}

fn log_media_command(command: &MediaCommand) {
    match command {
        MediaCommand::Publish { peer, record, .. } => {
            debug!(%peer, record = record.as_ref().map(|r| r.file_name.as_str()), "media: publish")
        }
        MediaCommand::Ingest {
            peer,
            room,
            codecs,
            record,
        } => {
            debug!(%peer, ?room, ?codecs, record = record.as_ref().map(|r| r.file_name.as_str()), "media: ingest")
        }
        MediaCommand::Play { peer, source, .. } => debug!(%peer, %source, "media: play"),
        MediaCommand::Close { peer } => debug!(%peer, "media: close"),
    }
}

fn log_media_event(event: &MediaEvent) {
    match event {
        MediaEvent::Answer { peer, sdp } => debug!(%peer, sdp_bytes = sdp.len(), "media: answer"),
        MediaEvent::Connected { peer } => debug!(%peer, "media: connected"),
        MediaEvent::Failed { peer, reason } => debug!(%peer, %reason, "media: failed"),
        MediaEvent::RecordingFailed { peer, reason } => {
            warn!(%peer, %reason, "media: recording failed")
        }
    }
}
