//! Start and stop: sockets, TLS, the router, the room actor and the media plane.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use huddle_room::Hub;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::actor::{ActorMsg, RoomActor};
use crate::media::{MediaPlane, MediaSettings, MediaStarter};
use crate::recording::Recordings;
use crate::{acme, http, net, tls, Config, StartError};

/// Inputs that may wait for the room actor before sessions are slowed down.
const ACTOR_INBOX: usize = 8192;
/// How long open connections get to finish when the server stops.
const GRACEFUL_TIMEOUT: Duration = Duration::from_secs(3);

/// State shared by the HTTP handlers and the sessions.
pub(crate) struct Shared {
    pub config: Config,
    pub actor: mpsc::Sender<ActorMsg>,
    pub media: Arc<dyn MediaPlane>,
    pub shutdown: watch::Receiver<bool>,
    pub next_session: AtomicU64,
    /// Open WebSocket connections.
    pub connections: AtomicUsize,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The room mixes' states and progress (`GET /admin/mixes`).
    pub mixes: Arc<crate::mix_board::MixBoard>,
    /// Access-token checks; `None` when `auth_secret` is not set.
    pub auth: Option<crate::auth::Verifier>,
    /// Server-wide limits on publish/play requests.
    pub admission: crate::admission::Admission,
    /// The application backend's REST hooks and webhooks (each off unless configured).
    pub hooks: crate::hooks::Hooks,
    /// Rooms restreamed to RTMP (`POST /admin/rooms/{room}/restream`).
    pub restreams: Arc<crate::restream::Restreams>,
    /// Membership of a multi-node cluster (`redis_url` set).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// A running server. Drop does not stop it: call [`Server::shutdown`].
pub struct Server {
    http_addr: SocketAddr,
    https_addr: SocketAddr,
    media_addr: SocketAddr,
    rtmp_addr: SocketAddr,
    /// The RTMP listener (dropping its future closes every RTMP connection).
    rtmp_task: JoinHandle<()>,
    announce: Vec<IpAddr>,
    shutdown: watch::Sender<bool>,
    handles: Vec<Handle<SocketAddr>>,
    listeners: Vec<JoinHandle<()>>,
    actor: mpsc::Sender<ActorMsg>,
    actor_task: JoinHandle<()>,
    /// Reports the death of the room actor.
    fatal: crate::supervise::Fatal,
    media: Arc<dyn MediaPlane>,
    /// The HTTPS listener's TLS settings (certificate resolver included).
    tls: axum_server::tls_rustls::RustlsConfig,
    /// Orders and renews the ACME certificate while the server runs (`acme_domain` set).
    _acme: Option<acme::Acme>,
    restreams: Arc<crate::restream::Restreams>,
    cluster: Option<Arc<crate::cluster::Cluster>>,
}

impl Server {
    /// The HTTPS listener's rustls settings; its `cert_resolver` always answers with the
    /// current certificate (renewed ACME one, files or self-signed), so another TLS listener
    /// (TURN over TLS) can share it.
    pub fn tls_server_config(&self) -> Arc<rustls::ServerConfig> {
        self.tls.get_inner()
    }

    /// Resolves, with the reason, if the server can no longer work (its room actor
    /// panicked): the process should then exit non-zero so that it is restarted.
    pub async fn failed(&self) -> String {
        self.fatal.clone().wait().await
    }

    /// This node's id in its cluster (`redis_url` set).
    pub fn node_id(&self) -> Option<&str> {
        self.cluster.as_deref().map(|c| c.node_id())
    }

    /// The bound HTTP address (the real port when the config asked for 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The bound UDP media address.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// The bound RTMP ingest address.
    pub fn rtmp_addr(&self) -> SocketAddr {
        self.rtmp_addr
    }

    /// The IPs announced in ICE candidates and named in a self-signed certificate.
    pub fn announce_ips(&self) -> &[IpAddr] {
        &self.announce
    }

    /// The bound ICE-TCP media address, if the media plane takes ICE over TCP.
    pub fn media_tcp_addr(&self) -> Option<SocketAddr> {
        self.media.tcp_addr()
    }

    /// The line `huddle` prints when it is ready.
    pub fn ready_line(&self) -> String {
        let mut line = format!(
            "huddle ready http={} https={} media={} rtmp={}",
            self.http_addr, self.https_addr, self.media_addr, self.rtmp_addr
        );
        if let Some(tcp) = self.media_tcp_addr() {
            line.push_str(&format!(" media_tcp={tcp}"));
        }
        let shards = self.media.shard_addrs();
        if shards.len() > 1 {
            let udp: Vec<String> = shards.iter().map(|(u, _)| u.port().to_string()).collect();
            line.push_str(&format!(" media_shards={}", udp.join(",")));
        }
        if let Some(node) = self.node_id() {
            line.push_str(&format!(" node={node}"));
        }
        line
    }

    /// Graceful stop: close every socket (the hub sees the disconnects), stop listening,
    /// stop the room actor, then the media plane.
    pub async fn shutdown(self) {
        info!("shutting down");
        let _ = self.shutdown.send(true);
        for handle in &self.handles {
            handle.graceful_shutdown(Some(GRACEFUL_TIMEOUT));
        }
        for task in self.listeners {
            let _ = task.await;
        }
        self.rtmp_task.abort();
        let _ = self.rtmp_task.await;
        // The sessions have relayed their disconnects: give the rooms up to the other nodes.
        if let Some(cluster) = &self.cluster {
            cluster.stop().await;
        }
        let restreams = self.restreams.clone();
        let _ = tokio::task::spawn_blocking(move || restreams.stop_all("server stopping")).await;
        let _ = self.actor.send(ActorMsg::Shutdown).await;
        let _ = self.actor_task.await;
        let media = self.media.clone();
        let _ = tokio::task::spawn_blocking(move || media.shutdown()).await;
        info!("stopped");
    }
}

/// Starts the server with the `huddle-sfu` media plane.
pub async fn start(config: Config) -> Result<Server, StartError> {
    start_with_media(config, crate::media::sfu_starter()).await
}

/// Starts the server with the given media plane (tests use a fake one).
pub async fn start_with_media(config: Config, media: MediaStarter) -> Result<Server, StartError> {
    config.validate()?;
    let announce = net::announce_ips(&config.announce_ips, config.bind);
    let bind = |addr: SocketAddr, what: &'static str| {
        TcpListener::bind(addr).map_err(|source| StartError::Bind { what, addr, source })
    };
    let http_listener = bind(config.http_addr(), "http")?;
    let https_listener = bind(config.https_addr(), "https")?;
    let http_addr = http_listener.local_addr().map_err(StartError::Io)?;
    let https_addr = https_listener.local_addr().map_err(StartError::Io)?;
    let rtmp_listener = bind(config.rtmp_addr(), "rtmp")?;
    let rtmp_addr = rtmp_listener.local_addr().map_err(StartError::Io)?;
    // With acme_domain the certificate comes (and is renewed) over ACME; else files or self-signed.
    let acme = match config.acme_domain.is_empty() {
        true => None,
        false => Some(acme::Acme::start(&config)?),
    };
    let tls = match &acme {
        Some(acme) => acme.rustls_config(),
        None => tls::rustls_config(&config, &announce).await?,
    };

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let settings = MediaSettings {
        bind: config.media_addr(),
        announce: announce.clone(),
        records_dir: config.records_dir.clone(),
        tcp_bind: Some(config.media_tcp_addr()),
        shards: config.media_shard_count(),
        recording_queue_bytes: config.recording_queue_bytes,
        forwarding: config.forwarding,
        prefer_h264: config.prefer_h264,
        dtls_client: config.dtls_client,
    };
    let media = media(settings, events_tx).map_err(|source| StartError::Bind {
        what: "media",
        addr: config.media_addr(),
        source,
    })?;
    let media_addr = media.local_addr();

    let fd_limit = crate::conn_limit::raise_descriptor_limit();
    let (actor_tx, actor_rx) = mpsc::channel(ACTOR_INBOX);
    let hub = Hub::new(config.room_config());
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let recordings = Recordings::new(config.records_dir.clone(), config.mixer()?)
        .with_metrics(metrics.clone())
        .with_mix_limit(config.max_concurrent_mixes);
    let mixes = recordings.mix_board();
    recordings.resume_pending();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let hooks =
        crate::hooks::Hooks::start(&config, &metrics, &shutdown_rx).map_err(StartError::Tls)?;
    hooks.watch_mixes(&mixes, &shutdown_rx);
    // Tells RTMP encoders when nobody can play their stream (rtmp_unplayable.rs).
    let play_watch = Arc::new(crate::rtmp_edge::PlayWatch::new(
        config.rtmp_close_unplayable,
    ));
    let (actor_task, fatal) = crate::supervise::spawn_vital(
        "room actor",
        RoomActor::new(hub, media.clone(), recordings)
            .with_play_watch(play_watch.clone())
            .with_metrics(metrics.clone())
            .with_hooks(hooks.actor_part())
            .run(actor_rx, events_rx),
    );

    let cluster = match &config.redis_url {
        None => None,
        Some(url) => {
            // Addresses others can reach: the announced IP, not a wildcard bind address.
            let reachable = |addr: SocketAddr| SocketAddr::new(announce[0], addr.port());
            let me = crate::cluster::NodeInfo {
                id: format!("{:08x}", rand::random::<u32>()),
                url: config
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", reachable(http_addr))),
                media: reachable(media_addr).to_string(),
                started_unix_ms: crate::actor::now().unix_ms,
            };
            let cluster = crate::cluster::Cluster::start(
                url,
                me,
                actor_tx.clone(),
                config.max_queued_bytes,
                shutdown_rx.clone(),
            )
            .await
            .map_err(|e| StartError::Config(crate::ConfigError::Invalid(e)))?;
            Some(cluster)
        }
    };
    let restreams = Arc::new(crate::restream::Restreams::new(
        config.restream_max,
        config.mixer()?,
        crate::restream::EncodeSettings::default(),
        Arc::new(crate::restream::MediaTaps::new(media.clone())),
        std::env::temp_dir(),
    ));
    let shared = Arc::new(Shared {
        config: config.clone(),
        actor: actor_tx.clone(),
        media: media.clone(),
        shutdown: shutdown_rx,
        next_session: AtomicU64::new(1),
        connections: AtomicUsize::new(0),
        metrics,
        mixes,
        auth: config
            .auth_secret
            .as_deref()
            .map(crate::auth::Verifier::new),
        admission: crate::admission::Admission::new(
            crate::admission::Limits {
                max_pending: config.max_pending_media,
                max_pending_per_ip: config.max_pending_media_per_ip,
                per_sec: config.media_requests_per_sec,
                per_sec_per_ip: config.media_requests_per_sec_per_ip,
            },
            std::time::Instant::now(),
        ),
        hooks,
        restreams: restreams.clone(),
        cluster: cluster.clone(),
    });
    rtmp_listener
        .set_nonblocking(true)
        .map_err(StartError::Io)?;
    let rtmp_listener = tokio::net::TcpListener::from_std(rtmp_listener).map_err(StartError::Io)?;
    let rtmp_sink = crate::rtmp_edge::RtmpEdge::new(shared.clone(), play_watch);
    let rtmp_config = huddle_rtmp::ServerConfig {
        max_players: config.rtmp_max_players,
        ..Default::default()
    };
    let rtmp_task = tokio::spawn(async move {
        if let Err(e) = huddle_rtmp::serve_with_config(rtmp_listener, rtmp_sink, rtmp_config).await
        {
            error!(error = %e, "rtmp listener failed");
        }
    });
    let conn_limits = crate::conn_limit::ConnLimits::new(
        config.max_connections,
        config.max_connections_per_ip,
        fd_limit,
        shared.metrics.connections_refused.clone(),
    );
    let app = http::router(shared);

    let http_handle = Handle::new();
    let https_handle = Handle::new();
    let caps = crate::conn_limit::CappedAcceptor::new(conn_limits);
    let header_timeout = config.http_header_timeout();
    let mut http_server = axum_server::from_tcp(http_listener)
        .map_err(StartError::Io)?
        .acceptor(caps.clone())
        .first_request_timeout(header_timeout)
        .handle(http_handle.clone());
    http_server
        .http_builder()
        .http1()
        .header_read_timeout(header_timeout);
    let mut https_server = axum_server::from_tcp(https_listener)
        .map_err(StartError::Io)?
        .acceptor(
            axum_server::tls_rustls::RustlsAcceptor::new(tls.clone())
                .handshake_timeout(header_timeout)
                .acceptor(caps),
        )
        .first_request_timeout(header_timeout)
        .handle(https_handle.clone());
    https_server
        .http_builder()
        .http1()
        .header_read_timeout(header_timeout);
    let make = app.into_make_service_with_connect_info::<SocketAddr>();
    let make_tls = make.clone();
    let listeners = vec![
        tokio::spawn(async move {
            if let Err(e) = http_server.serve(make).await {
                error!(error = %e, "http listener failed");
            }
        }),
        tokio::spawn(async move {
            if let Err(e) = https_server.serve(make_tls).await {
                error!(error = %e, "https listener failed");
            }
        }),
    ];
    info!(%http_addr, %https_addr, %media_addr, %rtmp_addr, ?announce, web_dir = %config.web_dir.display(), "listening");
    Ok(Server {
        http_addr,
        https_addr,
        media_addr,
        rtmp_addr,
        rtmp_task,
        announce,
        shutdown: shutdown_tx,
        handles: vec![http_handle, https_handle],
        listeners,
        actor: actor_tx,
        actor_task,
        fatal,
        media,
        tls,
        _acme: acme,
        restreams,
        cluster,
    })
}
