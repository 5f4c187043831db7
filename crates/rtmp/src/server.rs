//! The RTMP server edge: accept loop and one task per connection.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{timeout, Instant};

use crate::guard::ChunkGuard;
use crate::status;
use crate::PlayTag;
use play::Playing;

#[path = "server_play.rs"]
mod play;
use crate::{CloseHandle, CloseReason, ConnId, IngestSink, Media, MediaPipeline, RtmpRequest};
pub use play::vp8_refusal;

/// Read buffer per connection.
const READ_BUF: usize = 64 * 1024;
/// Longest room or login.
const MAX_NAME: usize = 64;
/// After telling a client why it is closed, how long the server keeps reading (and
/// discarding) what the client still sends, so that the client reads the reason before the
/// connection goes: closing a socket with unread input sends a reset, which can destroy the
/// reason in the client's receive buffer.
const LINGER: Duration = Duration::from_secs(2);
/// The message stream a publish status goes to: the first `createStream` (rml_rtmp numbers
/// streams from 1, and an encoder creates one; rml_rtmp's publish event does not name it).
/// ffmpeg does not check it.
const PUBLISH_STREAM: u32 = 1;

/// Limits of the RTMP server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Publishing connections served at once; a publish beyond it is refused
    /// ([`CloseReason::ServerFull`]). Only accepted publishes hold one of these slots, so
    /// half-open sockets cannot take them from real encoders.
    pub max_connections: usize,
    /// RTMP players served at once; a play beyond it is refused
    /// ([`CloseReason::ServerFull`]). Like publishing slots, only accepted plays hold one.
    pub max_players: usize,
    /// Connections not yet publishing (handshake, connect, publish request) at once; more
    /// are closed right after accept.
    pub max_pending: usize,
    /// Connections from one IP address at once (publishing or not); more are closed right
    /// after accept.
    pub max_per_ip: usize,
    /// Time from TCP accept until the RTMP handshake must be complete.
    pub handshake_timeout: Duration,
    /// Time from TCP accept until the publish must have been requested.
    pub publish_timeout: Duration,
    /// Time the sink has to answer a publish request before it is refused.
    pub decision_timeout: Duration,
    /// A publishing client that sends nothing for this long is dropped.
    pub idle_timeout: Duration,
    /// Time allowed for writing one response to the client.
    pub write_timeout: Duration,
    /// Longest RTMP message accepted (a video frame is one message); longer ones close the
    /// connection before they are buffered. RTMP itself allows up to 16 MiB.
    pub max_message_size: u32,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            max_connections: 64,
            max_players: 64,
            max_pending: 64,
            max_per_ip: 8,
            handshake_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(10),
            decision_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_message_size: 4 << 20,
        }
    }
}

/// Serves RTMP publishers on `listener` with the default [`ServerConfig`] until the returned
/// future is dropped (which also closes every connection it serves) or accepting fails
/// for good.
pub async fn serve(listener: TcpListener, sink: impl IngestSink) -> std::io::Result<()> {
    serve_with_config(listener, sink, ServerConfig::default()).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with_config(
    listener: TcpListener,
    sink: impl IngestSink,
    config: ServerConfig,
) -> std::io::Result<()> {
    let sink = Arc::new(sink);
    let config = Arc::new(config);
    let slots = Slots {
        publishing: Arc::new(Semaphore::new(config.max_connections)),
        players: Arc::new(Semaphore::new(config.max_players)),
        pending: Arc::new(Semaphore::new(config.max_pending)),
        per_ip: Arc::new(Mutex::new(HashMap::new())),
    };
    let next_id = AtomicU64::new(1);
    let mut tasks = JoinSet::new();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "RTMP ingest listening");
    }
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "RTMP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let conn = ConnId(next_id.fetch_add(1, Ordering::Relaxed));
        let sink = sink.clone();
        let config = config.clone();
        let admitted = slots.admit(peer.ip(), &config);
        let publishing = slots.publishing.clone();
        let players = slots.players.clone();
        tasks.spawn(async move {
            let reason = match admitted {
                Err(reason) => reason,
                Ok((pending, _ip)) => {
                    let inner = AbortOnDrop(tokio::spawn(run_connection(
                        stream,
                        peer,
                        conn,
                        sink.clone(),
                        config,
                        Permits {
                            pending: Some(pending),
                            publishing,
                            players,
                            held: None,
                        },
                    )));
                    supervise(inner).await
                }
            };
            match &reason {
                CloseReason::Disconnected | CloseReason::Finished => {
                    tracing::info!(%conn, %peer, %reason, "RTMP connection closed")
                }
                _ => tracing::warn!(%conn, %peer, %reason, "RTMP connection closed"),
            }
            sink.closed(conn, reason).await;
        });
    }
}

/// The server's connection slots.
struct Slots {
    publishing: Arc<Semaphore>,
    players: Arc<Semaphore>,
    pending: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in the per-IP count; dropped with the connection.
struct IpSlot {
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Slots {
    /// A new connection from `ip`: a per-IP place and a pending slot, or why not.
    fn admit(
        &self,
        ip: IpAddr,
        config: &ServerConfig,
    ) -> Result<(OwnedSemaphorePermit, IpSlot), CloseReason> {
        let ip_slot = {
            let mut map = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let n = map.entry(ip).or_insert(0);
            if *n >= config.max_per_ip {
                return Err(CloseReason::TooManyFromAddress(config.max_per_ip));
            }
            *n += 1;
            IpSlot {
                per_ip: self.per_ip.clone(),
                ip,
            }
        };
        let pending = self
            .pending
            .clone()
            .try_acquire_owned()
            .map_err(|_| CloseReason::ServerFull(config.max_pending))?;
        Ok((pending, ip_slot))
    }
}

/// A connection's slots: pending until its publish (or play) is accepted, then publishing
/// (or playing).
struct Permits {
    pending: Option<OwnedSemaphorePermit>,
    publishing: Arc<Semaphore>,
    players: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Awaits the connection task; a panic in it becomes [`CloseReason::Internal`].
async fn supervise(mut inner: AbortOnDrop<CloseReason>) -> CloseReason {
    match (&mut inner.0).await {
        Ok(reason) => reason,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            CloseReason::Internal(format!("connection task panicked: {msg}"))
        }
        Err(_) => CloseReason::Internal("connection task cancelled".into()),
    }
}

/// Splits an RTMP application and stream key into `(room, login)`.
///
/// Accepted forms: app `live/<room>` + key `<login>`, or app `live` + key `<room>/<login>`.
/// A `?query` on the key is ignored. Returns `Err` with a human-readable reason otherwise.
pub fn parse_publish_target(app: &str, stream_key: &str) -> Result<(String, String), String> {
    let key = stream_key.split('?').next().unwrap_or("");
    let app = app.trim_end_matches('/');
    let (room, login) = if app == "live" {
        key.split_once('/').ok_or_else(|| {
            format!("no room: publish to live/<room> with stream key <login> (got key {key:?})")
        })?
    } else if let Some(room) = app.strip_prefix("live/") {
        (room, key)
    } else {
        return Err(format!("application {app:?} is not live/<room>"));
    };
    check_name("room", room)?;
    check_name("login", login)?;
    Ok((room.to_string(), login.to_string()))
}

fn check_name(what: &str, v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err(format!("empty {what}"));
    }
    if v.len() > MAX_NAME {
        return Err(format!("{what} longer than {MAX_NAME} characters"));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(format!("{what} {v:?} may only contain A-Z a-z 0-9 _ - ."));
    }
    Ok(())
}

fn is_live_app(app: &str) -> bool {
    let app = app.trim_end_matches('/');
    app == "live" || app.starts_with("live/")
}

/// One connection: handshake, RTMP session, media pipeline. Returns why it ended.
async fn run_connection<S: IngestSink>(
    stream: TcpStream,
    peer: SocketAddr,
    conn: ConnId,
    sink: Arc<S>,
    config: Arc<ServerConfig>,
    permits: Permits,
) -> CloseReason {
    let _ = stream.set_nodelay(true);
    let guard = ChunkGuard::new(config.max_message_size);
    let publish_timeout = config.publish_timeout;
    let (close, closer) = CloseHandle::new();
    let mut c = Conn {
        close,
        closer,
        stream,
        peer,
        conn,
        sink,
        config,
        session: None,
        publishing: None,
        told: false,
        playing: None,
        player_mode: false,
        pipeline: MediaPipeline::new(),
        media: Vec::new(),
        deadline: None,
        deadline_what: "RTMP handshake not done in time",
        publish_deadline: Instant::now() + publish_timeout,
        guard,
        permits,
    };
    c.deadline = Some(Instant::now() + c.config.handshake_timeout.min(c.config.publish_timeout));
    let reason = match c.run().await {
        Ok(reason) | Err(reason) => reason,
    };
    c.goodbye(&reason).await;
    reason
}

struct Conn<S> {
    /// Given to the sink with the publish request; `closer` sees its close.
    close: CloseHandle,
    closer: tokio::sync::watch::Receiver<Option<String>>,
    stream: TcpStream,
    peer: SocketAddr,
    conn: ConnId,
    sink: Arc<S>,
    config: Arc<ServerConfig>,
    session: Option<ServerSession>,
    /// (app, stream key) once the publish was accepted.
    publishing: Option<(String, String)>,
    /// The client was sent why it is refused or closed: linger before closing.
    told: bool,
    /// The accepted play (taken out while a read or a tag is awaited).
    playing: Option<Playing>,
    /// A play was accepted: the client may stay silent (players send little).
    player_mode: bool,
    pipeline: MediaPipeline,
    media: Vec<Media>,
    /// Until the publish is accepted: the time by which the current step (handshake, then
    /// publish request) must be done, and what is late if it is not.
    deadline: Option<Instant>,
    deadline_what: &'static str,
    publish_deadline: Instant,
    guard: ChunkGuard,
    permits: Permits,
}

type Step<T> = Result<T, CloseReason>;

/// What a playing connection waits for.
enum Next {
    Tag(Option<PlayTag>),
    Bytes(Step<usize>),
}

/// Players send only acknowledgements, which may be far apart; a dead player is found by
/// the write timeout instead.
const PLAYER_SILENCE: Duration = Duration::from_secs(24 * 3600);

fn protocol(e: impl std::fmt::Display) -> CloseReason {
    CloseReason::Protocol(e.to_string())
}

impl<S: IngestSink> Conn<S> {
    async fn run(&mut self) -> Step<CloseReason> {
        let mut buf = vec![0u8; READ_BUF];
        // Handshake.
        let mut handshake = Handshake::new(PeerType::Server);
        let leftover = loop {
            let n = self.read(&mut buf).await?;
            match handshake
                .process_bytes(&buf[..n])
                .map_err(|e| protocol(format!("handshake: {e:?}")))?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    self.write(&response_bytes).await?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    self.write(&response_bytes).await?;
                    break remaining_bytes;
                }
            }
        };
        drop(handshake);
        self.deadline = Some(self.publish_deadline);
        self.deadline_what = "no publish request in time";
        let (session, results) =
            ServerSession::new(ServerSessionConfig::new()).map_err(protocol)?;
        self.session = Some(session);
        self.handle_results(results).await?;
        if !leftover.is_empty() {
            self.input(&leftover).await?;
        }
        loop {
            let Some(mut playing) = self.playing.take() else {
                let n = self.read(&mut buf).await?;
                self.input(&buf[..n]).await?;
                continue;
            };
            let next = tokio::select! {
                tag = playing.feed.recv() => Next::Tag(tag),
                n = self.read(&mut buf) => Next::Bytes(n),
            };
            let step = match next {
                Next::Tag(Some(tag)) => self.send_tag(&mut playing, tag).await,
                Next::Tag(None) => self.end_play(&playing).await,
                Next::Bytes(n) => {
                    self.playing = Some(playing);
                    let n = n?;
                    self.input(&buf[..n]).await?;
                    continue;
                }
            };
            self.playing = Some(playing);
            step?;
        }
    }

    /// Reads at least one byte; EOF and timeouts end the connection.
    async fn read(&mut self, buf: &mut [u8]) -> Step<usize> {
        let (limit, what) = match self.deadline {
            Some(d) => (
                d.saturating_duration_since(Instant::now()),
                self.deadline_what,
            ),
            None if self.player_mode => (PLAYER_SILENCE, "player sent nothing"),
            None => (self.config.idle_timeout, "publisher sent nothing"),
        };
        let closer = &mut self.closer;
        let closed = async {
            let reason = closer.wait_for(Option::is_some).await.map(|r| r.clone());
            match reason {
                Ok(reason) => reason.unwrap_or_default(),
                // Never: the connection holds a handle.
                Err(_) => std::future::pending().await,
            }
        };
        let read = tokio::select! {
            biased;
            reason = closed => {
                tracing::info!(conn = %self.conn, peer = %self.peer, %reason, "RTMP connection closed by the sink");
                return Err(CloseReason::Closed(reason));
            }
            read = timeout(limit, self.stream.read(buf)) => read,
        };
        match read {
            Err(_) => Err(CloseReason::Timeout(format!("{what} ({limit:?})"))),
            Ok(Ok(0)) => Err(if self.publishing.is_some() || self.session.is_some() {
                CloseReason::Disconnected
            } else {
                CloseReason::Protocol("connection closed during the handshake".into())
            }),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(CloseReason::Io(e.to_string())),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Step<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match timeout(self.config.write_timeout, self.stream.write_all(bytes)).await {
            Err(_) => Err(CloseReason::Timeout(
                "client does not read responses".into(),
            )),
            Ok(Err(e)) => Err(CloseReason::Io(e.to_string())),
            Ok(Ok(())) => Ok(()),
        }
    }

    fn session(&mut self) -> &mut ServerSession {
        self.session
            .as_mut()
            .expect("session exists after the handshake")
    }

    async fn input(&mut self, bytes: &[u8]) -> Step<()> {
        self.guard.feed(bytes).map_err(protocol)?;
        let results = self.session().handle_input(bytes).map_err(protocol)?;
        self.handle_results(results).await
    }

    async fn handle_results(&mut self, results: Vec<ServerSessionResult>) -> Step<()> {
        let mut queue: VecDeque<ServerSessionResult> = results.into();
        while let Some(r) = queue.pop_front() {
            match r {
                ServerSessionResult::OutboundResponse(packet) => self.write(&packet.bytes).await?,
                ServerSessionResult::RaisedEvent(ev) => {
                    let more = self.handle_event(ev).await?;
                    // Responses to this event go out before anything queued after it.
                    for (i, r) in more.into_iter().enumerate() {
                        queue.insert(i, r);
                    }
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(())
    }

    /// Writes `results` (responses to a refusal) and closes with `reason`.
    async fn refuse(
        &mut self,
        results: Result<Vec<ServerSessionResult>, rml_rtmp::sessions::ServerSessionError>,
        reason: CloseReason,
    ) -> Step<Vec<ServerSessionResult>> {
        if let Ok(results) = results {
            for r in results {
                if let ServerSessionResult::OutboundResponse(p) = r {
                    self.write(&p.bytes).await?;
                }
            }
            self.told = true;
        }
        Err(reason)
    }

    /// The connection ends for `reason`. A publisher the server is closing (unsupported
    /// media, the room ended its stream, a timeout…) is first sent an `onStatus` error that
    /// names the reason (status.rs: ffmpeg prints it); a client that was told anything
    /// gets [`LINGER`] to read it before the socket closes.
    async fn goodbye(&mut self, reason: &CloseReason) {
        if self.publishing.is_some() && self.session.is_some() {
            if let Some((code, description)) = status::goodbye(reason) {
                let chunk_size = ServerSessionConfig::new().chunk_size;
                match status::error_status(PUBLISH_STREAM, chunk_size, code, &description) {
                    Ok(bytes) => {
                        // A client that does not read gets the short timeout, not the usual one.
                        let sent = timeout(LINGER, self.stream.write_all(&bytes)).await;
                        self.told = matches!(sent, Ok(Ok(())));
                        tracing::info!(conn = %self.conn, peer = %self.peer, %description, told = self.told, "RTMP publisher told why it is closed");
                    }
                    Err(e) => {
                        tracing::warn!(conn = %self.conn, error = %e, "RTMP status not serialized")
                    }
                }
            }
        }
        if !self.told {
            return;
        }
        // Half-close (FIN after the reason), then drain until the client closes or LINGER.
        let until = Instant::now() + LINGER;
        let _ = timeout(LINGER, self.stream.shutdown()).await;
        let mut sink = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout_at(until, self.stream.read(&mut sink)).await {
            if n == 0 {
                break;
            }
        }
    }

    async fn handle_event(&mut self, ev: ServerSessionEvent) -> Step<Vec<ServerSessionResult>> {
        match ev {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                if is_live_app(&app_name) {
                    self.session().accept_request(request_id).map_err(protocol)
                } else {
                    let r = self.session().reject_request(
                        request_id,
                        "NetConnection.Connect.Rejected",
                        "unknown application: publish to rtmp://HOST:1935/live/<room> with stream key <login>",
                    );
                    self.refuse(r, CloseReason::UnknownApp(app_name)).await
                }
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => self.on_publish(request_id, app_name, stream_key).await,
            ServerSessionEvent::PublishStreamFinished { .. } => Err(CloseReason::Finished),
            ServerSessionEvent::PlayStreamRequested {
                request_id,
                app_name,
                stream_key,
                stream_id,
                ..
            } => {
                self.on_play(request_id, app_name, stream_key, stream_id)
                    .await
            }
            ServerSessionEvent::PlayStreamFinished { .. } => {
                Err(CloseReason::PlayEnded("the player stopped".into()))
            }
            ServerSessionEvent::ReleaseStreamRequested { request_id, .. } => {
                self.session().accept_request(request_id).map_err(protocol)
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                if self.publishing.is_some() {
                    let mut media = std::mem::take(&mut self.media);
                    let r = self.pipeline.push_video(&data, timestamp.value, &mut media);
                    self.deliver(&mut media, r).await?;
                    self.media = media;
                }
                Ok(Vec::new())
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                if self.publishing.is_some() {
                    let mut media = std::mem::take(&mut self.media);
                    let r = self.pipeline.push_audio(&data, timestamp.value, &mut media);
                    self.deliver(&mut media, r).await?;
                    self.media = media;
                }
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Hands produced media to the sink (also what came before an error), then maps the error.
    async fn deliver(
        &mut self,
        media: &mut Vec<Media>,
        result: Result<(), crate::MediaError>,
    ) -> Step<()> {
        for m in media.drain(..) {
            self.sink.media(self.conn, m).await;
        }
        result.map_err(|e| {
            let reason = CloseReason::from(e);
            tracing::warn!(conn = %self.conn, peer = %self.peer, %reason, "rejecting RTMP stream");
            reason
        })
    }

    async fn on_publish(
        &mut self,
        request_id: u32,
        app: String,
        stream_key: String,
    ) -> Step<Vec<ServerSessionResult>> {
        if self.publishing.is_some() {
            let r = self.session().reject_request(
                request_id,
                "NetStream.Publish.BadName",
                "one publish per connection",
            );
            return self
                .refuse(r, protocol("second publish on one connection"))
                .await;
        }
        let (room, login) = match parse_publish_target(&app, &stream_key) {
            Ok(x) => x,
            Err(why) => {
                let r =
                    self.session()
                        .reject_request(request_id, "NetStream.Publish.BadName", &why);
                return self.refuse(r, CloseReason::BadName(why)).await;
            }
        };
        // Only a real publish takes a publishing slot (half-open sockets never do).
        let Ok(slot) = self.permits.publishing.clone().try_acquire_owned() else {
            let max = self.config.max_connections;
            let r = self.session().reject_request(
                request_id,
                "NetStream.Publish.Rejected",
                "server full",
            );
            return self.refuse(r, CloseReason::ServerFull(max)).await;
        };
        let req = RtmpRequest {
            conn: self.conn,
            peer: self.peer,
            room,
            login,
            app: app.clone(),
            stream_key: stream_key.clone(),
            close: self.close.clone(),
        };
        tracing::info!(conn = %self.conn, peer = %self.peer, room = %req.room, login = %req.login, "RTMP publish requested");
        let decision = match timeout(self.config.decision_timeout, self.sink.publish(req)).await {
            Ok(d) => d,
            Err(_) => Err("no answer from the room in time".to_string()),
        };
        match decision {
            Ok(()) => {
                self.publishing = Some((app, stream_key));
                self.deadline = None;
                self.permits.held = Some(slot);
                self.permits.pending = None;
                self.session().accept_request(request_id).map_err(protocol)
            }
            Err(why) => {
                let r =
                    self.session()
                        .reject_request(request_id, "NetStream.Publish.Rejected", &why);
                self.refuse(r, CloseReason::Refused(why)).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_connection_becomes_an_internal_close() {
        let task = AbortOnDrop(tokio::spawn(async {
            if std::hint::black_box(true) {
                panic!("parser bug");
            }
            CloseReason::Finished
        }));
        assert_eq!(
            supervise(task).await,
            CloseReason::Internal("connection task panicked: parser bug".into())
        );
    }

    #[test]
    fn publish_targets() {
        assert_eq!(
            parse_publish_target("live/room1", "alice"),
            Ok(("room1".into(), "alice".into()))
        );
        assert_eq!(
            parse_publish_target("live/room1/", "alice?token=x"),
            Ok(("room1".into(), "alice".into()))
        );
        assert_eq!(
            parse_publish_target("live", "room-2/bob.b"),
            Ok(("room-2".into(), "bob.b".into()))
        );
        assert!(parse_publish_target("live", "alice").is_err());
        assert!(parse_publish_target("app/room1", "alice").is_err());
        assert!(parse_publish_target("live/room 1", "alice").is_err());
        assert!(parse_publish_target("live/room1", "").is_err());
        assert!(parse_publish_target("live/a/b", "alice").is_err());
        assert!(parse_publish_target("live/room1", &"x".repeat(65)).is_err());
        assert!(is_live_app("live/"));
        assert!(!is_live_app("liver"));
    }
}
