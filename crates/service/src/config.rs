//! Server settings: defaults, then a TOML file (`--config`), then `HUDDLE_*` environment
//! variables, then command-line flags. Every setting is documented in `docs/CONFIG.md`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use huddle_record::MixerConfig;
use huddle_room::RoomConfig;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// All settings of one server. `Default` is what `huddle` runs with when given nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP, HTTPS and media sockets bind to.
    pub bind: IpAddr,
    /// Plain HTTP + WebSocket port (`0` picks a free port).
    pub http_port: u16,
    /// HTTPS + secure WebSocket port (`0` picks a free port).
    pub https_port: u16,
    /// UDP port of the media plane (`0` picks a free port).
    pub media_port: u16,
    /// TCP port of the RTMP ingest, on the same bind address (`0` picks a free port).
    pub rtmp_port: u16,
    /// RTMP players (clients playing a room participant's stream) at once, server-wide;
    /// more are refused with "server full". `0` turns RTMP play off.
    pub rtmp_max_players: usize,
    /// Close an RTMP encoder's publish, telling it why, when nobody can play its H.264
    /// profile: a browser's play was refused for the profile and the stream has no other
    /// player nor recorder, or at publish time no player in the room decodes it.
    pub rtmp_close_unplayable: bool,
    /// TCP port of the media plane's ICE-TCP listener, for browsers whose UDP is blocked
    /// (`0` picks a free port). Same number as the UDP media port by default.
    pub media_tcp_port: u16,
    /// Media shards: threads that each own the peers of some rooms, with their own UDP port
    /// (`media_port + i`) and ICE-TCP port (`media_tcp_port + i`); `0` = one per core
    /// (docs/SHARDS.md).
    pub media_shards: usize,
    /// How publishers' media reaches players: `frame` (str0m re-packetizes every frame per
    /// player) or `rtp` (packets forwarded as they are, payload shared; docs/CONFIG.md).
    pub forwarding: huddle_sfu::Forwarding,
    /// Answer browser publishers with H.264 (Constrained Baseline first) when their offer has
    /// it, instead of their first codec (VP8 in Chromium/Chrome): RTMP players, which cannot
    /// carry VP8, can then play every browser's stream. Server-wide (docs/RTMP.md).
    pub prefer_h264: bool,
    /// Answer browsers' `a=setup:actpass` offers `a=setup:active`: the server starts the DTLS
    /// handshake on the first valid ICE check, one round trip sooner (docs/CONFIG.md).
    pub dtls_client: bool,
    /// STUN/TURN servers handed to Huddle's web apps (`GET /api/ice-servers`) as given.
    pub ice_servers: Vec<crate::turn::IceServer>,
    /// TURN URLs handed out with fresh time-limited credentials made from `turn_secret`.
    pub turn_urls: Vec<String>,
    /// coturn's `static-auth-secret` (TURN REST credentials); required with `turn_urls`.
    pub turn_secret: Option<String>,
    /// Lifetime of the generated TURN credentials, in seconds.
    pub turn_ttl_secs: u64,
    /// Addresses put in ICE candidates and in the self-signed certificate; empty means
    /// auto-detect (the bind address if it is specific, else the host's interface addresses).
    pub announce_ips: Vec<IpAddr>,
    /// How long a participant whose socket dropped without `leave` stays in its rooms.
    pub grace_period_secs: u64,
    /// Participants allowed in one room; `0` means unlimited.
    pub max_participants: usize,
    /// Largest chat text, in bytes of UTF-8.
    pub max_message_bytes: usize,
    /// Largest WebSocket message or frame, in bytes; a larger one closes that socket.
    pub max_frame_bytes: usize,
    /// Where recordings are written.
    pub records_dir: PathBuf,
    /// Static files served over HTTP(S) (`GET /` serves `index.html`).
    pub web_dir: PathBuf,
    /// PEM certificate chain for HTTPS; with `tls_key`. Absent: a self-signed certificate.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS; with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Domain names to get a trusted HTTPS certificate for over ACME (Let's Encrypt);
    /// empty: no ACME. A single string is accepted in the file. See `crate::acme`.
    #[serde(deserialize_with = "one_or_many")]
    pub acme_domain: Vec<String>,
    /// Contact e-mail given to the ACME server (expiry notices).
    pub acme_email: Option<String>,
    /// Where the ACME account key and certificates are cached.
    pub acme_cache: PathBuf,
    /// ACME directory URL.
    pub acme_directory: String,
    /// PEM CA certificate(s) trusted, alone, for the ACME directory's HTTPS (a private or
    /// test ACME server); absent: the public web roots.
    pub acme_directory_ca: Option<PathBuf>,
    /// Seconds between the server's application-level `ping`s.
    pub ping_interval_secs: u64,
    /// Unanswered pings after which the socket is closed.
    pub max_missed_pongs: u32,
    /// Recording file name template: `{room}`, `{login}`, `{stream}`, `{start}`.
    pub record_template: String,
    /// JSON file with the room mixer's layout, size, frame rate, codecs and `on_done` hook;
    /// absent: the documented defaults of `huddle_record::MixerConfig`.
    pub mixer_config: Option<PathBuf>,
    /// Shared secret of the HS256 access tokens (`custom.token`); absent: no access control.
    pub auth_secret: Option<String>,
    /// Bearer secret of the admin API (`/admin/...`); absent: the admin API is off (404).
    pub admin_secret: Option<String>,
    /// Rooms on the server; `0` means unlimited.
    pub max_rooms: usize,
    /// Streams one session may publish at once; `0` means unlimited.
    pub max_streams_per_session: usize,
    /// Sustained commands per second allowed on one connection.
    pub max_commands_per_sec: u32,
    /// Commands one connection may send in a burst above the sustained rate.
    pub command_burst: u32,
    /// Longest room name, login, stream name and mediaSessionId, in bytes.
    pub max_name_bytes: usize,
    /// Largest `connection` message, in bytes (it is kept and echoed for the whole session).
    pub max_connection_bytes: usize,
    /// Seconds one write to a WebSocket may take before the connection is dropped.
    pub send_timeout_secs: u64,
    /// Bytes of messages that may wait for one slow WebSocket before it is dropped.
    pub max_queued_bytes: usize,
    /// Seconds a new HTTP connection has to send its first request headers, and an idle
    /// keep-alive connection its next ones.
    pub http_header_timeout_secs: u64,
    /// Open HTTP(S) connections (WebSockets included) on the server; `0` means unlimited.
    pub max_connections: usize,
    /// Open HTTP(S) connections from one IP address; `0` means unlimited.
    pub max_connections_per_ip: usize,
    /// Publish/play requests waiting for their WebRTC connection, on the server.
    pub max_pending_media: usize,
    /// Publish/play requests waiting for their WebRTC connection, from one IP address.
    pub max_pending_media_per_ip: usize,
    /// Publish/play requests per second accepted from one IP address (burst: twice this).
    pub media_requests_per_sec_per_ip: u32,
    /// Publish/play requests per second accepted on the server (burst: twice this).
    pub media_requests_per_sec: u32,
    /// Room mixes (ffmpeg) run at once; more wait their turn.
    pub max_concurrent_mixes: usize,
    /// Bytes of recorded frames that may wait for the disk, per media shard; over it frames
    /// are dropped up to the next keyframe and the recording is reported (docs/SECURITY.md).
    pub recording_queue_bytes: usize,
    /// Room restreams to RTMP (one ffmpeg each) at once; `0` turns restreaming off.
    pub restream_max: usize,
    /// Base URL of the Flashphoner WCS REST hooks (`<url>/connect`, `/publishStream`, ...);
    /// absent: no REST hooks. See docs/HOOKS.md.
    pub rest_hook_url: Option<String>,
    /// Milliseconds one request to the application's backend (REST hook or webhook) may take.
    pub hook_timeout_ms: u64,
    /// An unanswered authorising REST hook lets the request through instead of refusing it.
    pub rest_hook_fail_open: bool,
    /// URLs that receive the signed webhook events; empty: no webhooks.
    pub webhook_urls: Vec<String>,
    /// HMAC-SHA256 secret signing every hook request (`X-Huddle-Signature`); required with
    /// `webhook_urls`.
    pub webhook_secret: Option<String>,
    /// Requests waiting per destination; when full the oldest is dropped.
    pub webhook_queue_size: usize,
    /// Tries of one webhook or status-event request before it is given up.
    pub webhook_max_attempts: u32,
    /// Longest wait between two tries (the wait doubles from 250 ms), in milliseconds.
    pub webhook_max_backoff_ms: u64,
    /// Redis of a multi-node cluster (`redis://host:port[/db]`): rooms are shared with the
    /// other nodes using the same Redis (docs/SCALING.md). Absent: a single node.
    pub redis_url: Option<String>,
    /// How operators reach this node over HTTP (`http(s)://host:port`), as registered in the
    /// cluster and shown by `GET /admin/nodes`. Absent: `http://<first announced IP>:<http_port>`.
    pub public_url: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            http_port: 8080,
            https_port: 8443,
            media_port: 40000,
            rtmp_port: 1935,
            rtmp_max_players: 64,
            rtmp_close_unplayable: true,
            media_tcp_port: 40000,
            media_shards: 0,
            // RTP mode since session 11 (docs/RTP_MODE.md): less CPU and memory per player, the
            // browser and network-lab suites pass in it. `frame` stays selectable.
            forwarding: huddle_sfu::Forwarding::Rtp,
            prefer_h264: false,
            dtls_client: huddle_sfu::SfuConfig::default().dtls_client,
            ice_servers: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl_secs: 86400,
            announce_ips: Vec::new(),
            grace_period_secs: 60,
            max_participants: 0,
            max_message_bytes: 64 * 1024,
            max_frame_bytes: 1024 * 1024,
            records_dir: PathBuf::from("./records"),
            web_dir: PathBuf::from("./web"),
            tls_cert: None,
            tls_key: None,
            acme_domain: Vec::new(),
            acme_email: None,
            acme_cache: PathBuf::from("./acme"),
            acme_directory: crate::acme::LETS_ENCRYPT_DIRECTORY.to_string(),
            acme_directory_ca: None,
            ping_interval_secs: 5,
            max_missed_pongs: 6,
            record_template: huddle_room::record_name::DEFAULT_TEMPLATE.to_string(),
            mixer_config: None,
            auth_secret: None,
            admin_secret: None,
            max_rooms: 0,
            max_streams_per_session: 8,
            max_commands_per_sec: 50,
            command_burst: 100,
            max_name_bytes: huddle_room::DEFAULT_MAX_NAME_BYTES,
            max_connection_bytes: 64 * 1024,
            send_timeout_secs: 10,
            max_queued_bytes: 1024 * 1024,
            http_header_timeout_secs: 10,
            max_connections: 20_000,
            max_connections_per_ip: 256,
            max_pending_media: 200,
            max_pending_media_per_ip: 32,
            media_requests_per_sec_per_ip: 20,
            media_requests_per_sec: 200,
            max_concurrent_mixes: 2,
            recording_queue_bytes: huddle_sfu::DEFAULT_RECORDING_QUEUE_BYTES,
            restream_max: 2,
            rest_hook_url: None,
            hook_timeout_ms: 3000,
            rest_hook_fail_open: false,
            webhook_urls: Vec::new(),
            webhook_secret: None,
            webhook_queue_size: 1000,
            webhook_max_attempts: 8,
            webhook_max_backoff_ms: 30_000,
            redis_url: None,
            public_url: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a TOML file; missing keys keep their defaults, unknown keys are an error.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Rejects settings the server cannot run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |s: &str| Err(ConfigError::Invalid(s.to_string()));
        if self.http_port != 0 && self.http_port == self.https_port {
            return invalid("http_port and https_port must differ");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid("tls_cert and tls_key must be given together");
        }
        if let Some(url) = &self.redis_url {
            if !url.starts_with("redis://") && !url.starts_with("unix://") {
                return invalid("redis_url must be redis://host:port[/db] or unix:///path");
            }
        }
        if let Some(url) = &self.public_url {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return invalid("public_url must be http(s)://host[:port]");
            }
        }
        let shards = self.media_shard_count() as u32;
        if shards > 1024 {
            return invalid("media_shards must be at most 1024");
        }
        let last = |first: u16| u32::from(first) + shards - 1;
        if (self.media_port != 0 && last(self.media_port) > 65535)
            || (self.media_tcp_port != 0 && last(self.media_tcp_port) > 65535)
        {
            return invalid("media_port + media_shards - 1 (and the TCP one) must be a port");
        }
        if self.media_tcp_port != 0
            && (self.media_tcp_port..=last(self.media_tcp_port) as u16).contains(&self.rtmp_port)
        {
            return invalid("media_tcp_port and rtmp_port must differ (both are TCP; each media shard takes the next port)");
        }
        if !self.turn_urls.is_empty() && self.turn_secret.as_deref().unwrap_or("").is_empty() {
            return invalid("turn_urls need turn_secret (coturn's static-auth-secret)");
        }
        self.validate_acme()?;
        if self.ping_interval_secs == 0 {
            return invalid("ping_interval_secs must be at least 1");
        }
        if self.max_missed_pongs == 0 {
            return invalid("max_missed_pongs must be at least 1");
        }
        if self.max_frame_bytes < 1024 {
            return invalid("max_frame_bytes must be at least 1024");
        }
        if self.record_template.trim().is_empty() {
            return invalid("record_template must not be empty");
        }
        if self.auth_secret.as_ref().is_some_and(|s| s.is_empty()) {
            return invalid("auth_secret must not be empty");
        }
        if self.admin_secret.as_ref().is_some_and(|s| s.len() < 8) {
            return invalid("admin_secret must be at least 8 characters");
        }
        if self.max_commands_per_sec == 0 || self.command_burst == 0 {
            return invalid("max_commands_per_sec and command_burst must be at least 1");
        }
        self.validate_limits()?;
        crate::hooks::validate(self)?;
        Ok(())
    }

    /// ACME settings: plain DNS names, an e-mail, an https directory, not with `tls_cert`.
    fn validate_acme(&self) -> Result<(), ConfigError> {
        let invalid = |s: String| Err(ConfigError::Invalid(s));
        if self.acme_domain.is_empty() {
            return Ok(());
        }
        if self.tls_cert.is_some() {
            return invalid("acme_domain and tls_cert exclude each other".into());
        }
        for domain in &self.acme_domain {
            let plain = domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if !plain || domain.len() > 253 || domain.parse::<IpAddr>().is_ok() {
                return invalid(format!("acme_domain {domain:?} is not a DNS name"));
            }
        }
        if let Some(email) = &self.acme_email {
            if !email.contains('@') || email.contains(char::is_whitespace) {
                return invalid(format!("acme_email {email:?} is not an e-mail address"));
            }
        }
        if !self.acme_directory.starts_with("https://") {
            return invalid("acme_directory must be an https:// URL".into());
        }
        Ok(())
    }

    /// The abuse limits of docs/SECURITY.md: none may be zero where zero would refuse all.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let at_least = |name: &str, value: u64, min: u64| {
            if value < min {
                Err(ConfigError::Invalid(format!(
                    "{name} must be at least {min}"
                )))
            } else {
                Ok(())
            }
        };
        at_least("max_name_bytes", self.max_name_bytes as u64, 16)?;
        at_least(
            "max_connection_bytes",
            self.max_connection_bytes as u64,
            1024,
        )?;
        at_least("send_timeout_secs", self.send_timeout_secs, 1)?;
        at_least("max_queued_bytes", self.max_queued_bytes as u64, 64 * 1024)?;
        at_least("http_header_timeout_secs", self.http_header_timeout_secs, 1)?;
        at_least("max_pending_media", self.max_pending_media as u64, 1)?;
        at_least(
            "max_pending_media_per_ip",
            self.max_pending_media_per_ip as u64,
            1,
        )?;
        at_least(
            "media_requests_per_sec_per_ip",
            u64::from(self.media_requests_per_sec_per_ip),
            1,
        )?;
        at_least(
            "media_requests_per_sec",
            u64::from(self.media_requests_per_sec),
            1,
        )?;
        at_least(
            "recording_queue_bytes",
            self.recording_queue_bytes as u64,
            1 << 20,
        )?;
        at_least("max_concurrent_mixes", self.max_concurrent_mixes as u64, 1)
    }

    pub fn send_timeout(&self) -> Duration {
        Duration::from_secs(self.send_timeout_secs)
    }

    pub fn http_header_timeout(&self) -> Duration {
        Duration::from_secs(self.http_header_timeout_secs)
    }

    /// The room core's rules.
    pub fn room_config(&self) -> RoomConfig {
        RoomConfig {
            grace_period: Duration::from_secs(self.grace_period_secs),
            max_participants: self.max_participants,
            max_message_bytes: self.max_message_bytes,
            record_template: self.record_template.clone(),
            max_rooms: self.max_rooms,
            max_streams_per_session: self.max_streams_per_session,
            max_name_bytes: self.max_name_bytes,
        }
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.http_port)
    }

    pub fn https_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.https_port)
    }

    pub fn media_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.media_port)
    }

    /// Where the media plane's ICE-TCP listener binds.
    pub fn media_tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.media_tcp_port)
    }

    /// How many media shards run: `media_shards`, or one per core when it is 0.
    pub fn media_shard_count(&self) -> usize {
        match self.media_shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// What `/api/ice-servers` hands out.
    pub fn ice_settings(&self) -> crate::turn::IceSettings {
        crate::turn::IceSettings {
            static_servers: self.ice_servers.clone(),
            turn_urls: self.turn_urls.clone(),
            secret: self.turn_secret.clone(),
            ttl_secs: self.turn_ttl_secs,
        }
    }

    /// Where the RTMP ingest listens.
    pub fn rtmp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.rtmp_port)
    }

    /// The room mixer settings: the `mixer_config` file, else the defaults.
    pub fn mixer(&self) -> Result<MixerConfig, ConfigError> {
        match &self.mixer_config {
            None => Ok(MixerConfig::default()),
            Some(path) => MixerConfig::load(path)
                .map_err(|e| ConfigError::Invalid(format!("mixer_config {}: {e}", path.display()))),
        }
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }
}

/// `acme_domain = "a.example"` or `acme_domain = ["a.example", "b.example"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// Command-line flags; each one also reads its `HUDDLE_*` environment variable. A flag beats
/// its variable, which beats the config file, which beats the default.
#[derive(Args, Clone, Debug, Default)]
pub struct ConfigArgs {
    /// TOML config file.
    #[arg(long, env = "HUDDLE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Bind address for all sockets [default: 0.0.0.0].
    #[arg(long, env = "HUDDLE_BIND")]
    pub bind: Option<IpAddr>,
    /// HTTP + WebSocket port [default: 8080].
    #[arg(long, env = "HUDDLE_HTTP_PORT")]
    pub http_port: Option<u16>,
    /// HTTPS + secure WebSocket port [default: 8443].
    #[arg(long, env = "HUDDLE_HTTPS_PORT")]
    pub https_port: Option<u16>,
    /// UDP media port [default: 40000].
    #[arg(long, env = "HUDDLE_MEDIA_PORT")]
    pub media_port: Option<u16>,
    /// RTMP ingest TCP port [default: 1935].
    #[arg(long, env = "HUDDLE_RTMP_PORT")]
    pub rtmp_port: Option<u16>,
    /// RTMP players at once, server-wide; 0 turns RTMP play off [default: 64].
    #[arg(long, env = "HUDDLE_RTMP_MAX_PLAYERS")]
    pub rtmp_max_players: Option<usize>,
    /// Close an RTMP encoder (telling it why) when nobody can play its H.264 profile
    /// [default: true].
    #[arg(long, env = "HUDDLE_RTMP_CLOSE_UNPLAYABLE")]
    pub rtmp_close_unplayable: Option<bool>,
    /// ICE-TCP media port, for browsers whose UDP is blocked [default: 40000].
    #[arg(long, env = "HUDDLE_MEDIA_TCP_PORT")]
    pub media_tcp_port: Option<u16>,
    /// Media shards (threads, each with ports media_port+i and media_tcp_port+i); 0 = one
    /// per core [default: 0].
    #[arg(long, env = "HUDDLE_MEDIA_SHARDS")]
    pub media_shards: Option<usize>,
    /// Forwarding: "rtp" (forward packets as they are) or "frame" (re-packetize per
    /// player) [default: rtp].
    #[arg(long, env = "HUDDLE_FORWARDING")]
    pub forwarding: Option<huddle_sfu::Forwarding>,
    /// Answer browser publishers with H.264 when they offer it, so RTMP players can play
    /// them (true/false) [default: false].
    #[arg(long, env = "HUDDLE_PREFER_H264")]
    pub prefer_h264: Option<bool>,
    /// Start the DTLS handshake as client when the browser leaves the role open
    /// (true/false) [default: true].
    #[arg(long, env = "HUDDLE_DTLS_CLIENT")]
    pub dtls_client: Option<bool>,
    /// Comma-separated TURN URLs handed to the web apps with generated credentials
    /// [default: none].
    #[arg(long, env = "HUDDLE_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Option<Vec<String>>,
    /// coturn static-auth-secret for TURN REST credentials [default: none].
    #[arg(long, env = "HUDDLE_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// Lifetime of generated TURN credentials in seconds [default: 86400].
    #[arg(long, env = "HUDDLE_TURN_TTL_SECS")]
    pub turn_ttl_secs: Option<u64>,
    /// Comma-separated IPs announced in ICE candidates [default: auto-detect].
    #[arg(
        long,
        alias = "announce-ip",
        env = "HUDDLE_ANNOUNCE_IPS",
        value_delimiter = ','
    )]
    pub announce_ips: Option<Vec<IpAddr>>,
    /// Seconds a dropped participant stays in its rooms [default: 60].
    #[arg(long, env = "HUDDLE_GRACE_PERIOD_SECS")]
    pub grace_period_secs: Option<u64>,
    /// Participants per room, 0 = unlimited [default: 0].
    #[arg(long, env = "HUDDLE_MAX_PARTICIPANTS")]
    pub max_participants: Option<usize>,
    /// Largest chat text in bytes [default: 65536].
    #[arg(long, env = "HUDDLE_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Largest WebSocket message in bytes [default: 1048576].
    #[arg(long, env = "HUDDLE_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Recordings folder [default: ./records].
    #[arg(long, env = "HUDDLE_RECORDS_DIR")]
    pub records_dir: Option<PathBuf>,
    /// Static web files folder [default: ./web].
    #[arg(long, env = "HUDDLE_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// PEM certificate chain for HTTPS [default: self-signed].
    #[arg(long, env = "HUDDLE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS [default: self-signed].
    #[arg(long, env = "HUDDLE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Domain(s) to get a trusted certificate for over ACME, repeatable or comma-separated
    /// [default: none].
    #[arg(long, env = "HUDDLE_ACME_DOMAIN", value_delimiter = ',')]
    pub acme_domain: Option<Vec<String>>,
    /// Contact e-mail for the ACME account [default: none].
    #[arg(long, env = "HUDDLE_ACME_EMAIL")]
    pub acme_email: Option<String>,
    /// ACME account and certificate cache folder [default: ./acme].
    #[arg(long, env = "HUDDLE_ACME_CACHE", value_name = "DIR")]
    pub acme_cache: Option<PathBuf>,
    /// ACME directory URL [default: Let's Encrypt production].
    #[arg(long, env = "HUDDLE_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,
    /// PEM CA trusted for the ACME directory (private/test ACME server) [default: web roots].
    #[arg(long, env = "HUDDLE_ACME_DIRECTORY_CA", value_name = "FILE")]
    pub acme_directory_ca: Option<PathBuf>,
    /// Seconds between server pings [default: 5].
    #[arg(long, env = "HUDDLE_PING_INTERVAL_SECS")]
    pub ping_interval_secs: Option<u64>,
    /// Missed pongs before the socket is closed [default: 6].
    #[arg(long, env = "HUDDLE_MAX_MISSED_PONGS")]
    pub max_missed_pongs: Option<u32>,
    /// Recording file name template [default: {room}-{login}-{stream}-{start}].
    #[arg(long, env = "HUDDLE_RECORD_TEMPLATE")]
    pub record_template: Option<String>,
    /// Room mixer JSON (layout, size, fps, codecs, on_done hook) [default: built-in].
    #[arg(long, env = "HUDDLE_MIXER_CONFIG", value_name = "FILE")]
    pub mixer_config: Option<PathBuf>,
    /// HS256 secret of access tokens; set: every connection needs a valid token [default: off].
    #[arg(long, env = "HUDDLE_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<String>,
    /// Bearer secret of the admin API [default: off, admin API disabled].
    #[arg(long, env = "HUDDLE_ADMIN_SECRET", hide_env_values = true)]
    pub admin_secret: Option<String>,
    /// Rooms on the server, 0 = unlimited [default: 0].
    #[arg(long, env = "HUDDLE_MAX_ROOMS")]
    pub max_rooms: Option<usize>,
    /// Streams one session may publish at once, 0 = unlimited [default: 8].
    #[arg(long, env = "HUDDLE_MAX_STREAMS_PER_SESSION")]
    pub max_streams_per_session: Option<usize>,
    /// Sustained commands per second per connection [default: 50].
    #[arg(long, env = "HUDDLE_MAX_COMMANDS_PER_SEC")]
    pub max_commands_per_sec: Option<u32>,
    /// Command burst per connection [default: 100].
    #[arg(long, env = "HUDDLE_COMMAND_BURST")]
    pub command_burst: Option<u32>,
    /// Longest room name, login, stream name, mediaSessionId in bytes [default: 256].
    #[arg(long, env = "HUDDLE_MAX_NAME_BYTES")]
    pub max_name_bytes: Option<usize>,
    /// Largest `connection` message in bytes [default: 65536].
    #[arg(long, env = "HUDDLE_MAX_CONNECTION_BYTES")]
    pub max_connection_bytes: Option<usize>,
    /// Seconds one WebSocket write may take [default: 10].
    #[arg(long, env = "HUDDLE_SEND_TIMEOUT_SECS")]
    pub send_timeout_secs: Option<u64>,
    /// Bytes queued for one slow WebSocket before it is dropped [default: 1048576].
    #[arg(long, env = "HUDDLE_MAX_QUEUED_BYTES")]
    pub max_queued_bytes: Option<usize>,
    /// Seconds to send HTTP request headers (new or idle connection) [default: 10].
    #[arg(long, env = "HUDDLE_HTTP_HEADER_TIMEOUT_SECS")]
    pub http_header_timeout_secs: Option<u64>,
    /// Open HTTP(S) connections, 0 = unlimited [default: 20000].
    #[arg(long, env = "HUDDLE_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open HTTP(S) connections per IP, 0 = unlimited [default: 256].
    #[arg(long, env = "HUDDLE_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Publish/play requests waiting for WebRTC, server-wide [default: 200].
    #[arg(long, env = "HUDDLE_MAX_PENDING_MEDIA")]
    pub max_pending_media: Option<usize>,
    /// Publish/play requests waiting for WebRTC, per IP [default: 32].
    #[arg(long, env = "HUDDLE_MAX_PENDING_MEDIA_PER_IP")]
    pub max_pending_media_per_ip: Option<usize>,
    /// Publish/play requests per second per IP [default: 20].
    #[arg(long, env = "HUDDLE_MEDIA_REQUESTS_PER_SEC_PER_IP")]
    pub media_requests_per_sec_per_ip: Option<u32>,
    /// Publish/play requests per second, server-wide [default: 200].
    #[arg(long, env = "HUDDLE_MEDIA_REQUESTS_PER_SEC")]
    pub media_requests_per_sec: Option<u32>,
    /// Room mixes (ffmpeg) at once [default: 2].
    #[arg(long, env = "HUDDLE_MAX_CONCURRENT_MIXES")]
    pub max_concurrent_mixes: Option<usize>,
    /// Bytes of recorded frames waiting for the disk, per media shard [default: 67108864].
    #[arg(long, env = "HUDDLE_RECORDING_QUEUE_BYTES")]
    pub recording_queue_bytes: Option<usize>,
    /// Room restreams to RTMP at once, 0 = off [default: 2].
    #[arg(long, env = "HUDDLE_RESTREAM_MAX")]
    pub restream_max: Option<usize>,
    /// The application backend's hooks (REST hooks, webhooks).
    #[command(flatten)]
    pub hooks: crate::hooks::HookArgs,
    /// Redis of a multi-node cluster, redis://host:port [default: none, single node].
    #[arg(long, env = "HUDDLE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// This node's HTTP address for operators, http(s)://host:port [default: http://<announced IP>:<http_port>].
    #[arg(long, env = "HUDDLE_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl ConfigArgs {
    /// Defaults, then the file, then these values (flags and environment); validated.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        set(&mut c.bind, &self.bind);
        set(&mut c.http_port, &self.http_port);
        set(&mut c.https_port, &self.https_port);
        set(&mut c.media_port, &self.media_port);
        set(&mut c.rtmp_port, &self.rtmp_port);
        set(&mut c.rtmp_max_players, &self.rtmp_max_players);
        set(&mut c.rtmp_close_unplayable, &self.rtmp_close_unplayable);
        set(&mut c.media_tcp_port, &self.media_tcp_port);
        set(&mut c.media_shards, &self.media_shards);
        set(&mut c.forwarding, &self.forwarding);
        set(&mut c.prefer_h264, &self.prefer_h264);
        set(&mut c.dtls_client, &self.dtls_client);
        set(&mut c.turn_urls, &self.turn_urls);
        if self.turn_secret.is_some() {
            c.turn_secret = self.turn_secret.clone();
        }
        set(&mut c.turn_ttl_secs, &self.turn_ttl_secs);
        set(&mut c.announce_ips, &self.announce_ips);
        set(&mut c.grace_period_secs, &self.grace_period_secs);
        set(&mut c.max_participants, &self.max_participants);
        set(&mut c.max_message_bytes, &self.max_message_bytes);
        set(&mut c.max_frame_bytes, &self.max_frame_bytes);
        set(&mut c.records_dir, &self.records_dir);
        set(&mut c.web_dir, &self.web_dir);
        if self.tls_cert.is_some() {
            c.tls_cert = self.tls_cert.clone();
        }
        if self.tls_key.is_some() {
            c.tls_key = self.tls_key.clone();
        }
        set(&mut c.acme_domain, &self.acme_domain);
        if self.acme_email.is_some() {
            c.acme_email = self.acme_email.clone();
        }
        set(&mut c.acme_cache, &self.acme_cache);
        set(&mut c.acme_directory, &self.acme_directory);
        if self.acme_directory_ca.is_some() {
            c.acme_directory_ca = self.acme_directory_ca.clone();
        }
        set(&mut c.ping_interval_secs, &self.ping_interval_secs);
        set(&mut c.max_missed_pongs, &self.max_missed_pongs);
        set(&mut c.record_template, &self.record_template);
        if self.mixer_config.is_some() {
            c.mixer_config = self.mixer_config.clone();
        }
        if self.auth_secret.is_some() {
            c.auth_secret = self.auth_secret.clone();
        }
        if self.admin_secret.is_some() {
            c.admin_secret = self.admin_secret.clone();
        }
        set(&mut c.max_rooms, &self.max_rooms);
        set(
            &mut c.max_streams_per_session,
            &self.max_streams_per_session,
        );
        set(&mut c.max_commands_per_sec, &self.max_commands_per_sec);
        set(&mut c.command_burst, &self.command_burst);
        set(&mut c.max_name_bytes, &self.max_name_bytes);
        set(&mut c.max_connection_bytes, &self.max_connection_bytes);
        set(&mut c.send_timeout_secs, &self.send_timeout_secs);
        set(&mut c.max_queued_bytes, &self.max_queued_bytes);
        set(
            &mut c.http_header_timeout_secs,
            &self.http_header_timeout_secs,
        );
        set(&mut c.max_connections, &self.max_connections);
        set(&mut c.max_connections_per_ip, &self.max_connections_per_ip);
        set(&mut c.max_pending_media, &self.max_pending_media);
        set(
            &mut c.max_pending_media_per_ip,
            &self.max_pending_media_per_ip,
        );
        set(
            &mut c.media_requests_per_sec_per_ip,
            &self.media_requests_per_sec_per_ip,
        );
        set(&mut c.media_requests_per_sec, &self.media_requests_per_sec);
        set(&mut c.max_concurrent_mixes, &self.max_concurrent_mixes);
        set(&mut c.recording_queue_bytes, &self.recording_queue_bytes);
        set(&mut c.restream_max, &self.restream_max);
        self.hooks.apply(&mut c);
        if self.redis_url.is_some() {
            c.redis_url = self.redis_url.clone();
        }
        if self.public_url.is_some() {
            c.public_url = self.public_url.clone();
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ConfigArgs,
    }

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["huddle"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .expect("flags parse")
            .config
            .load()
    }

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("huddle-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_match_the_docs() {
        let c = Config::default();
        assert_eq!(c.http_addr().to_string(), "0.0.0.0:8080");
        assert_eq!(c.https_addr().to_string(), "0.0.0.0:8443");
        assert_eq!(c.media_addr().to_string(), "0.0.0.0:40000");
        assert_eq!(c.rtmp_addr().to_string(), "0.0.0.0:1935");
        assert!(c.announce_ips.is_empty());
        assert_eq!(c.grace_period_secs, 60);
        assert_eq!(c.max_participants, 0);
        assert_eq!(c.max_message_bytes, 65536);
        assert_eq!(c.max_frame_bytes, 1048576);
        assert_eq!(c.records_dir, PathBuf::from("./records"));
        assert_eq!(c.web_dir, PathBuf::from("./web"));
        assert_eq!((c.tls_cert.clone(), c.tls_key.clone()), (None, None));
        assert_eq!(c.ping_interval_secs, 5);
        assert_eq!(c.max_missed_pongs, 6);
        assert_eq!(c.record_template, "{room}-{login}-{stream}-{start}");
        assert_eq!(c.forwarding, huddle_sfu::Forwarding::Rtp);
        c.validate().unwrap();
    }

    #[test]
    fn every_key_in_the_docs_is_a_field() {
        let docs = include_str!("../../../docs/CONFIG.md");
        let value = toml::Value::try_from(Config::default()).unwrap();
        for key in value.as_table().unwrap().keys() {
            assert!(
                docs.contains(&format!("`{key}`")),
                "{key} is not documented"
            );
        }
        for key in [
            "tls_cert",
            "tls_key",
            "auth_secret",
            "admin_secret",
            "rest_hook_url",
            "webhook_secret",
        ] {
            assert!(
                docs.contains(&format!("`{key}`")),
                "{key} is not documented"
            );
        }
    }

    #[test]
    fn no_arguments_give_the_defaults() {
        // `ConfigArgs::default()` is what clap yields for no flags and no HUDDLE_* variables;
        // built directly, the test cannot be skewed by the environment it runs in.
        assert_eq!(ConfigArgs::default().load().unwrap(), Config::default());
    }

    #[test]
    fn file_then_flags() {
        let path = temp_file(
            "a.toml",
            "http_port = 9000\nhttps_port = 9443\nannounce_ips = [\"10.0.0.1\"]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
        );
        let c = parse(&["--config", path.to_str().unwrap(), "--https-port", "7443"]).unwrap();
        assert_eq!(c.http_port, 9000, "from the file");
        assert_eq!(c.https_port, 7443, "flag beats file");
        assert_eq!(c.announce_ips, vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(c.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(c.media_port, 40000, "default kept");
        let c = parse(&["--announce-ip", "127.0.0.1"]).unwrap();
        assert_eq!(c.announce_ips, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        let c = parse(&[
            "--announce-ips",
            "127.0.0.1,::1",
            "--max-participants",
            "3",
            "--record-template",
            "{room}/{login}",
        ])
        .unwrap();
        assert_eq!(c.announce_ips.len(), 2);
        assert_eq!(c.max_participants, 3);
        assert_eq!(c.room_config().max_participants, 3);
        assert_eq!(c.room_config().record_template, "{room}/{login}");
    }

    #[test]
    fn bad_files_and_values_are_rejected() {
        let path = temp_file("typo.toml", "http_prot = 1\n");
        let err = parse(&["--config", path.to_str().unwrap()]).unwrap_err();
        assert!(err.to_string().contains("http_prot"), "{err}");
        let err = parse(&["--config", "/nonexistent/huddle.toml"]).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        for args in [
            &["--http-port", "9000", "--https-port", "9000"][..],
            &["--tls-cert", "c.pem"],
            &["--ping-interval-secs", "0"],
            &["--max-missed-pongs", "0"],
            &["--max-frame-bytes", "10"],
        ] {
            assert!(
                matches!(parse(args), Err(ConfigError::Invalid(_))),
                "{args:?}"
            );
        }
        let mut cli = Cli::try_parse_from(["huddle", "--http-port", "99999"]);
        assert!(cli.is_err());
        cli = Cli::try_parse_from(["huddle", "--bind", "not-an-ip"]);
        assert!(cli.is_err());
    }

    #[test]
    fn prefer_h264_from_file_and_flag() {
        assert!(!Config::default().prefer_h264, "off by default");
        let path = temp_file("h264.toml", "prefer_h264 = true\n");
        assert!(
            parse(&["--config", path.to_str().unwrap()])
                .unwrap()
                .prefer_h264
        );
        let c = parse(&["--config", path.to_str().unwrap(), "--prefer-h264", "false"]).unwrap();
        assert!(!c.prefer_h264, "flag beats file");
        assert!(parse(&["--prefer-h264", "true"]).unwrap().prefer_h264);
        assert!(Cli::try_parse_from(["huddle", "--prefer-h264", "maybe"]).is_err());
    }
}
