//! One WebSocket connection: frames in -> protocol -> room actor; the session's messages out.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use huddle_protocol::{ClientMessage, ConnectionRequest, ErrorReply, ProtocolError};
use huddle_room::{Input, ServerMessage, SessionId, StreamState, StreamStatus};
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::actor::ActorMsg;
use crate::server::Shared;

/// Frames that fail to parse before the socket is closed.
const MAX_BAD_FRAMES: u32 = 50;
/// How long the closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a session ended: logged, and mapped to a WebSocket close code.
#[derive(Debug)]
enum End {
    ClientClosed,
    SocketError(String),
    MissedPongs,
    TooManyBadFrames,
    /// The access token was refused: dropped without a closing handshake.
    AuthFailed,
    TooManyRequests,
    DroppedByServer,
    /// The node owning one of the session's rooms is gone (multi-node, docs/SCALING.md).
    RoomNodeLost(String),
    /// One write to the socket took longer than `send_timeout_secs`.
    SendTimeout,
    /// The `connection` message broke a limit: refused like a bad token.
    BadConnection,
    ServerShutdown,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::ClientClosed => f.write_str("closed by the client"),
            End::SocketError(e) => write!(f, "socket error: {e}"),
            End::MissedPongs => f.write_str("missed pongs"),
            End::TooManyBadFrames => f.write_str("too many bad frames"),
            End::AuthFailed => f.write_str("access token refused"),
            End::TooManyRequests => f.write_str("too many requests"),
            End::DroppedByServer => f.write_str("too slow to read its messages"),
            End::RoomNodeLost(why) => write!(f, "room relay ended: {why}"),
            End::SendTimeout => f.write_str("a write timed out"),
            End::BadConnection => f.write_str("connection message refused"),
            End::ServerShutdown => f.write_str("server shutdown"),
        }
    }
}

struct Session {
    id: SessionId,
    shared: Arc<Shared>,
    /// The `connection` request, echoed back in `getUserData`.
    connection: Option<ConnectionRequest>,
    auth_token: String,
    bad_frames: u32,
    rate: crate::ratelimit::RateLimit,
    /// Why the access token (or the `connection` message) was refused.
    refusal: Option<String>,
    remote: SocketAddr,
    /// Publish/play requests admitted and not yet settled (by mediaSessionId).
    pending_media: HashSet<String>,
    /// The relay of the session's rooms owned by other nodes (`redis_url` set).
    edge: Option<crate::cluster::EdgeSession>,
}

pub(crate) async fn run(mut socket: WebSocket, shared: Arc<Shared>, remote: SocketAddr) {
    let id = SessionId(shared.next_session.fetch_add(1, Ordering::Relaxed));
    let (outbound, mut messages) = crate::outbound::channel(shared.config.max_queued_bytes);
    if shared
        .actor
        .send(ActorMsg::Open {
            session: id,
            outbound,
        })
        .await
        .is_err()
    {
        return;
    }
    shared.connections.fetch_add(1, Ordering::Relaxed);
    info!(session = %id, %remote, "socket opened");

    let mut session = Session {
        id,
        shared: shared.clone(),
        connection: None,
        auth_token: format!("{:032x}", rand::random::<u128>()),
        bad_frames: 0,
        rate: crate::ratelimit::RateLimit::new(
            shared.config.max_commands_per_sec,
            shared.config.command_burst,
            std::time::Instant::now(),
        ),
        refusal: None,
        remote,
        pending_media: HashSet::new(),
        edge: shared
            .cluster
            .clone()
            .map(|cluster| crate::cluster::EdgeSession::new(cluster, id)),
    };
    let send_timeout = shared.config.send_timeout();
    let period = shared.config.ping_interval();
    let mut ping = interval_at(Instant::now() + period, period);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut unanswered: u32 = 0;
    let mut shutdown = shared.shutdown.clone();

    let end = loop {
        tokio::select! {
            frame = socket.recv() => match frame {
                None => break End::ClientClosed,
                Some(Err(e)) => break End::SocketError(e.to_string()),
                Some(Ok(Message::Close(_))) => break End::ClientClosed,
                Some(Ok(Message::Text(text))) => {
                    unanswered = 0;
                    if let Err(end) = session.on_text(text.as_str()).await {
                        break end;
                    }
                }
                // Binary frames and WebSocket pings/pongs prove nothing: only a complete
                // text message (the SDK answers our `ping` with one) does. A client that
                // starts a fragmented message and never ends it, pinging meanwhile, cannot
                // send one, so it is closed after `max_missed_pongs` pings (finding 7).
                Some(Ok(_)) => {}
            },
            message = messages.recv() => {
                let Some(message) = message else { break End::DroppedByServer };
                session.settle_media(&message);
                if let (ServerMessage::Established { login }, Some(edge)) = (&message, &mut session.edge) {
                    edge.established(login);
                }
                crate::hooks::session::outgoing(&shared.hooks, session.connection.as_ref(), id, &message);
                let text = session.encode(&message);
                if let Err(end) = send(&mut socket, text, send_timeout).await {
                    break end;
                }
            }
            relayed = relayed(&mut session.edge) => match relayed {
                crate::cluster::Relayed::Message { text, status } => {
                    if let Some(status) = status {
                        // A relayed stream's status settles and is told like a local one.
                        let message = ServerMessage::StreamStatus(status);
                        session.settle_media(&message);
                        crate::hooks::session::outgoing(&shared.hooks, session.connection.as_ref(), id, &message);
                    }
                    if let Err(end) = send(&mut socket, text, send_timeout).await {
                        break end;
                    }
                }
                crate::cluster::Relayed::Lost(why) => break End::RoomNodeLost(why),
            },
            _ = ping.tick() => {
                if unanswered >= shared.config.max_missed_pongs {
                    break End::MissedPongs;
                }
                unanswered += 1;
                if let Err(end) = send(&mut socket, huddle_protocol::encode_ping(), send_timeout).await {
                    break end;
                }
            }
            () = stopping(&mut shutdown) => break End::ServerShutdown,
        }
    };

    info!(session = %id, reason = %end, "socket closed");
    let failure = match &end {
        End::ClientClosed | End::ServerShutdown => None,
        End::AuthFailed | End::BadConnection => session.refusal.clone(),
        other => Some(other.to_string()),
    };
    crate::hooks::session::closed(
        &shared.hooks,
        session.connection.as_ref(),
        id,
        failure.as_deref(),
    );
    if matches!(end, End::SendTimeout) {
        shared.metrics.slow_sessions_dropped.inc();
    }
    session.release_all_media();
    if let Some(edge) = session.edge.take() {
        edge.close().await;
    }
    let _ = shared
        .actor
        .send(ActorMsg::Input(Input::Disconnect { session: id }))
        .await;
    shared.connections.fetch_sub(1, Ordering::Relaxed);
    if let End::AuthFailed | End::BadConnection = end {
        let info = session.refusal.take().unwrap_or_default();
        let fail = serde_json::json!({"message": "fail", "data": [{
            "apiMethod": "ConnectionStatusEvent", "status": "FAILED", "info": info}]});
        let _ = tokio::time::timeout(
            CLOSE_TIMEOUT,
            socket.send(Message::Text(fail.to_string().into())),
        )
        .await;
        // No close frame: the browser reports an error, and the SDK a FAILED session.
        return;
    }
    let close = match end {
        End::ClientClosed
        | End::SocketError(_)
        | End::AuthFailed
        | End::BadConnection
        | End::SendTimeout => None,
        End::TooManyRequests => Some((close_code::POLICY, "too many requests")),
        End::MissedPongs => Some((close_code::POLICY, "missed pongs")),
        End::TooManyBadFrames => Some((close_code::POLICY, "too many bad frames")),
        End::DroppedByServer => Some((close_code::AGAIN, "too slow")),
        End::RoomNodeLost(_) => Some((close_code::AWAY, "room node lost")),
        End::ServerShutdown => Some((close_code::AWAY, "server shutdown")),
    };
    if let Some((code, reason)) = close {
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(frame)).await;
    }
}

/// One write, bounded in time: a client that stops reading fills its TCP window, and an
/// unbounded write would park this task forever (no ping check, no disconnect).
async fn send(socket: &mut WebSocket, text: String, limit: Duration) -> Result<(), End> {
    match tokio::time::timeout(limit, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(End::SocketError(e.to_string())),
        Err(_) => Err(End::SendTimeout),
    }
}

/// The next message relayed from another node; never resolves on a single node.
async fn relayed(edge: &mut Option<crate::cluster::EdgeSession>) -> crate::cluster::Relayed {
    match edge {
        Some(edge) => edge.recv().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the server stops (or its stop signal is gone).
async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

impl Session {
    async fn to_actor(&self, msg: ActorMsg) -> Result<(), End> {
        self.shared
            .actor
            .send(msg)
            .await
            .map_err(|_| End::ServerShutdown)
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        match huddle_protocol::parse(text) {
            Ok(ClientMessage::Connection(request)) => {
                if let Err(reason) = self.check_connection(text.len(), &request) {
                    warn!(session = %self.id, reason, "connection refused");
                    self.refusal = Some(reason);
                    return Err(End::BadConnection);
                }
                if self.connection.is_some() {
                    // A repeated `connection` changes nothing (the room core answers with
                    // the session's login); the token is not checked again.
                    return self
                        .to_actor(ActorMsg::Input(Input::Connect {
                            session: self.id,
                            login: None,
                            grants: None,
                        }))
                        .await;
                }
                let login = request.login.clone();
                debug!(session = %self.id, login = ?login, has_token = request.token.is_some(), "connection");
                let grants = match &self.shared.auth {
                    None => None,
                    Some(verifier) => {
                        match verifier.verify(request.token.as_deref(), login.as_deref()) {
                            Ok(grants) => Some(grants),
                            Err(reason) => return Err(self.refuse(&reason)),
                        }
                    }
                };
                // The app backend's `connect` REST hook, if any, has the last word.
                let max = self.shared.config.max_name_bytes;
                let hook = crate::hooks::session::authorize_connect(
                    &self.shared.hooks,
                    &request,
                    self.id,
                    max,
                );
                let login = match hook.await {
                    Ok(granted) => granted.or(login),
                    Err(reason) => {
                        self.refusal = Some(reason);
                        return Err(End::BadConnection);
                    }
                };
                self.connection = Some(request);
                if let Some(edge) = &mut self.edge {
                    edge.set_grants(grants.clone());
                }
                self.to_actor(ActorMsg::Input(Input::Connect {
                    session: self.id,
                    login,
                    grants,
                }))
                .await
            }
            Ok(ClientMessage::Ping | ClientMessage::Pong) => Ok(()),
            Ok(ClientMessage::Command(command)) => {
                match self.rate.check(std::time::Instant::now()) {
                    crate::ratelimit::Verdict::Allow => {}
                    verdict => {
                        self.shared.metrics.rate_limited.inc();
                        if verdict == crate::ratelimit::Verdict::Close {
                            warn!(session = %self.id, "too many requests; closing");
                            return Err(End::TooManyRequests);
                        }
                        if let Some(message) = too_many_requests(command) {
                            self.to_actor(ActorMsg::Reply {
                                session: self.id,
                                message,
                            })
                            .await?;
                        }
                        return Ok(());
                    }
                }
                let hook = crate::hooks::session::authorize_media(
                    &self.shared.hooks,
                    self.connection.as_ref(),
                    self.id,
                    &command,
                );
                if let Err(refusal) = hook.await {
                    return self
                        .to_actor(ActorMsg::Reply {
                            session: self.id,
                            message: refusal,
                        })
                        .await;
                }
                if let Some(refusal) = self.admit_media(&command) {
                    self.shared.metrics.media_admission_refused.inc();
                    return self
                        .to_actor(ActorMsg::Reply {
                            session: self.id,
                            message: refusal,
                        })
                        .await;
                }
                if self.edge.is_some() {
                    return self.route_command(text, command).await;
                }
                self.to_actor(ActorMsg::Input(Input::Command {
                    session: self.id,
                    command,
                }))
                .await
            }
            Ok(ClientMessage::Ignored(name)) => {
                debug!(session = %self.id, message = name, "ignored message");
                Ok(())
            }
            Err(error) => self.on_bad_frame(error).await,
        }
    }

    /// The size of the `connection` message (kept and echoed all session long) and the length
    /// of its login.
    fn check_connection(&self, bytes: usize, request: &ConnectionRequest) -> Result<(), String> {
        let config = &self.shared.config;
        if bytes > config.max_connection_bytes {
            return Err(format!(
                "connection message is too large: at most {} bytes",
                config.max_connection_bytes
            ));
        }
        if request
            .login
            .as_ref()
            .is_some_and(|l| l.len() > config.max_name_bytes)
        {
            return Err(format!(
                "Login is too long: at most {} bytes",
                config.max_name_bytes
            ));
        }
        Ok(())
    }

    /// Publish and play go through the server-wide admission ([`crate::admission`]); the
    /// FAILED answer when refused.
    fn admit_media(&mut self, command: &huddle_room::Command) -> Option<ServerMessage> {
        use huddle_room::Command;
        let (req, published) = match command {
            Command::Publish(req) => (req, true),
            Command::Play(req) => (req, false),
            _ => return None,
        };
        if self.pending_media.contains(&req.media_session_id) {
            // A duplicate id: the room core refuses it; nothing new to admit.
            return None;
        }
        let ip = self.remote.ip();
        match self.shared.admission.admit(ip, std::time::Instant::now()) {
            Ok(()) => {
                self.pending_media.insert(req.media_session_id.clone());
                None
            }
            Err(reason) => {
                info!(session = %self.id, %ip, stream = %req.name, reason, "media request refused");
                Some(stream_failed(req.clone(), published, reason))
            }
        }
    }

    /// A stream status on its way out settles an admitted request: PUBLISHING / PLAYING
    /// (connected), or a final state.
    fn settle_media(&mut self, message: &ServerMessage) {
        if let ServerMessage::StreamStatus(status) = message {
            if self.pending_media.remove(&status.media_session_id) {
                self.shared.admission.release(self.remote.ip());
            }
        }
    }

    /// Multi-node: the command goes to the node owning its room (this one or another).
    async fn route_command(
        &mut self,
        text: &str,
        command: huddle_room::Command,
    ) -> Result<(), End> {
        let Some(edge) = &mut self.edge else {
            return Ok(());
        };
        let relayed = match edge.route(&command).await {
            Ok(crate::cluster::Route::Local) => None,
            Ok(crate::cluster::Route::Remote(node)) => Some(edge.relay(&node, text).await),
            Err(reason) => Some(Err(reason)),
        };
        match relayed {
            None => {
                self.to_actor(ActorMsg::Input(Input::Command {
                    session: self.id,
                    command,
                }))
                .await
            }
            Some(Ok(())) => Ok(()),
            Some(Err(reason)) => {
                warn!(session = %self.id, %reason, "command not relayed");
                match refused(command, &reason) {
                    Some(message) => {
                        self.to_actor(ActorMsg::Reply {
                            session: self.id,
                            message,
                        })
                        .await
                    }
                    None => Ok(()),
                }
            }
        }
    }

    fn release_all_media(&mut self) {
        for _ in self.pending_media.drain() {
            self.shared.admission.release(self.remote.ip());
        }
    }

    /// A refused access token: the reason goes out as a `fail` (the SDK's WARN callback), the
    /// socket is then dropped. Nothing reaches the room core.
    fn refuse(&mut self, reason: &str) -> End {
        warn!(session = %self.id, reason, "access token refused");
        self.shared.metrics.auth_failures.inc();
        self.refusal = Some(reason.to_string());
        End::AuthFailed
    }

    async fn on_bad_frame(&mut self, error: ProtocolError) -> Result<(), End> {
        self.shared.metrics.protocol_errors.inc();
        self.bad_frames += 1;
        warn!(session = %self.id, %error, count = self.bad_frames, "bad frame");
        if let Some(reply) = error.reply() {
            let message = failure_reply(reply, &error);
            self.to_actor(ActorMsg::Reply {
                session: self.id,
                message,
            })
            .await?;
        }
        if self.bad_frames >= MAX_BAD_FRAMES {
            return Err(End::TooManyBadFrames);
        }
        Ok(())
    }

    fn encode(&self, message: &ServerMessage) -> String {
        match (message, &self.connection) {
            (ServerMessage::Established { login }, Some(request)) => {
                huddle_protocol::encode_user_data(
                    request,
                    login,
                    &self.id.to_string(),
                    &self.auth_token,
                )
            }
            _ => huddle_protocol::encode(message),
        }
    }
}

/// The FAILED answer to a command over the rate limit (stops get none).
fn too_many_requests(command: huddle_room::Command) -> Option<ServerMessage> {
    refused(command, "Too many requests")
}

/// The FAILED answer to a refused command (stops get none).
fn refused(command: huddle_room::Command, info: &str) -> Option<ServerMessage> {
    use huddle_room::Command;
    match command {
        Command::Join { op, .. }
        | Command::Leave { op, .. }
        | Command::SendMessage { op, .. }
        | Command::UnknownData { op, .. } => Some(ServerMessage::DataStatus {
            op,
            result: Err(info.into()),
        }),
        Command::Publish(req) => Some(stream_failed(req, true, info)),
        Command::Play(req) => Some(stream_failed(req, false, info)),
        _ => None,
    }
}

fn stream_failed(req: huddle_room::StreamRequest, published: bool, info: &str) -> ServerMessage {
    ServerMessage::StreamStatus(StreamStatus {
        media_session_id: req.media_session_id,
        name: req.name,
        published,
        has_audio: req.has_audio,
        has_video: req.has_video,
        record: false,
        status: StreamState::Failed,
        info: info.into(),
        record_name: None,
    })
}

/// The FAILED answer to a request that could not be parsed.
fn failure_reply(reply: &ErrorReply, error: &ProtocolError) -> ServerMessage {
    match reply {
        ErrorReply::Data { op } => ServerMessage::DataStatus {
            op: op.clone(),
            result: Err(error.to_string()),
        },
        ErrorReply::Stream {
            media_session_id,
            name,
            published,
        } => ServerMessage::StreamStatus(StreamStatus {
            media_session_id: media_session_id.clone(),
            name: name.clone(),
            published: *published,
            has_audio: false,
            has_video: false,
            record: false,
            status: StreamState::Failed,
            info: error.to_string(),
            record_name: None,
        }),
    }
}
