//! Scenarios and the runner: set up publishers and subscribers through one server adapter,
//! measure a fixed window, tear down, and compute the figures.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::flashphoner::FpClient;
use crate::janus::JanusClient;
use crate::media::MediaShape;
use crate::mediasoup::{MsClient, PendingSubscription};
use crate::peer::{BoxError, Ctx, Peer, Role};
use crate::stats::{
    clk_tck, percentile_ms, runqueue_wait_secs, sample_proc, sample_threads, Stats,
};

/// Which server and how to reach it.
#[derive(Debug, Clone)]
pub enum Target {
    Huddle {
        url: String,
    },
    Janus {
        url: String,
    },
    /// `bench/mediasoup/server.js` in front of a mediasoup worker.
    Mediasoup {
        url: String,
    },
    /// No server: each subscriber is connected straight to its own publisher PeerConnection
    /// (str0m to str0m). Measures the load generator's own latency floor.
    Direct,
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Huddle { .. } => "huddle",
            Target::Janus { .. } => "janus",
            Target::Mediasoup { .. } => "mediasoup",
            Target::Direct => "direct",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 1 publisher (audio+video) → N subscribers.
    Fanout(usize),
    /// N participants, each publishes audio+video and plays the N-1 others.
    Meeting(usize),
    /// P audio-only publishers, S subscribers each playing all P.
    Audio { pubs: usize, subs: usize },
    /// R rooms, each a fan-out of 1 publisher → N subscribers (rooms land on different
    /// media shards: the per-shard CPU shows whether they use different cores).
    Rooms { rooms: usize, subs: usize },
}

impl Scenario {
    pub fn parse(s: &str) -> Result<Scenario, BoxError> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |i: usize| -> Result<usize, BoxError> {
            let n: usize = parts
                .get(i)
                .ok_or_else(|| format!("{s}: missing number"))?
                .parse()?;
            if n == 0 || n > 1000 {
                return Err(format!("{s}: count out of range").into());
            }
            Ok(n)
        };
        match parts[0] {
            "fanout" => Ok(Scenario::Fanout(num(1)?)),
            "meeting" => Ok(Scenario::Meeting(num(1)?)),
            "audio" => Ok(Scenario::Audio {
                pubs: num(1)?,
                subs: num(2)?,
            }),
            "rooms" => Ok(Scenario::Rooms {
                rooms: num(1)?,
                subs: num(2)?,
            }),
            _ => Err(
                format!("unknown scenario {s} (fanout:N, meeting:N, audio:P:S, rooms:R:N)").into(),
            ),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Scenario::Fanout(n) => format!("fanout:{n}"),
            Scenario::Meeting(n) => format!("meeting:{n}"),
            Scenario::Audio { pubs, subs } => format!("audio:{pubs}:{subs}"),
            Scenario::Rooms { rooms, subs } => format!("rooms:{rooms}:{subs}"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Scenario::Fanout(n) => {
                format!("(a) 1 publisher → {n} subscribers, VP8 1.5 Mbit/s + Opus")
            }
            Scenario::Meeting(n) => format!("(b) {n}×{n} meeting, VP8 1.5 Mbit/s + Opus each"),
            Scenario::Audio { pubs, subs } => {
                format!("(c) audio only: {pubs} publishers → {subs} subscribers of each")
            }
            Scenario::Rooms { rooms, subs } => {
                format!("(d) {rooms} rooms, each 1 publisher → {subs} subscribers, VP8 1.5 Mbit/s + Opus")
            }
        }
    }

    pub fn publishers(&self) -> usize {
        match *self {
            Scenario::Fanout(_) => 1,
            Scenario::Meeting(n) => n,
            Scenario::Audio { pubs, .. } => pubs,
            Scenario::Rooms { rooms, .. } => rooms,
        }
    }

    pub fn subscriptions(&self) -> usize {
        match *self {
            Scenario::Fanout(n) => n,
            Scenario::Meeting(n) => n * (n - 1),
            Scenario::Audio { pubs, subs } => pubs * subs,
            Scenario::Rooms { rooms, subs } => rooms * subs,
        }
    }
}

pub const DEFAULT_SET: &str =
    "fanout:10,fanout:50,fanout:100,fanout:200,meeting:4,meeting:8,meeting:16,audio:10:30";

#[derive(Debug, Clone)]
pub struct RunOpts {
    pub target: Target,
    /// Loopback address the clients bind (127.0.0.1; 127.0.0.2 for Janus in its namespace).
    pub client_ip: IpAddr,
    pub server_pid: Option<u32>,
    pub warmup: Duration,
    pub measure: Duration,
    pub setup_timeout: Duration,
    /// How many clients set up at the same time.
    pub concurrency: usize,
    pub shape: MediaShape,
}

/// The figures of one scenario run against one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub server: String,
    pub scenario: String,
    pub description: String,
    pub publishers: usize,
    pub subscriptions: usize,
    pub peers_connected: u64,
    pub peers_failed: u64,
    pub subscribers_receiving: u64,
    pub setup_secs: f64,
    pub window_secs: f64,
    pub tx_video_fps: f64,
    pub tx_audio_pps: f64,
    pub rx_packets_per_s: f64,
    pub rx_mbit_per_s: f64,
    pub rx_video_fps: f64,
    pub rx_audio_pps: f64,
    pub lost_frames: u64,
    /// Audio part of `lost_frames` (cumulative over the whole run, not only the window).
    #[serde(default)]
    pub lost_audio_frames_total: u64,
    pub loss_pct: f64,
    pub discontinuities: u64,
    pub bad_payloads: u64,
    pub lat_video_p50_ms: Option<f64>,
    pub lat_video_p99_ms: Option<f64>,
    pub lat_audio_p50_ms: Option<f64>,
    pub lat_audio_p99_ms: Option<f64>,
    /// Server CPU in percent of one core during the window.
    pub server_cpu_pct: Option<f64>,
    /// Server CPU microseconds per packet delivered to subscribers.
    pub server_cpu_us_per_pkt: Option<f64>,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_kib: Option<u64>,
    pub server_kib_per_subscription: Option<f64>,
    /// Like `server_kib_per_subscription`, from the anonymous RSS only (`RssAnon`): leaves out
    /// the code pages a run touches for the first time, which grow with the binary, not with
    /// the subscriptions.
    #[serde(default)]
    pub server_anon_kib_per_subscription: Option<f64>,
    pub loadgen_cpu_pct: Option<f64>,
    /// 1-minute load average of the machine at the end of the window (other work on the box).
    #[serde(default)]
    pub loadavg: Option<f64>,
    /// Time the server's threads waited for a CPU while runnable, % of the window.
    #[serde(default)]
    pub server_runq_wait_pct: Option<f64>,
    /// Same for the load generator.
    #[serde(default)]
    pub loadgen_runq_wait_pct: Option<f64>,
    /// CPU of each media shard thread (`huddle-media-N`), % of one core during the window.
    #[serde(default)]
    pub shard_cpu_pct: Vec<(String, f64)>,
    /// Huddle's own fan-out time (its `huddle_media_fanout_seconds` over the window): p99 in
    /// ms and how many fan-outs it is of (fanout_metric.rs).
    #[serde(default)]
    pub server_fanout_p99_ms: Option<f64>,
    #[serde(default)]
    pub server_fanouts: Option<u64>,
    pub error: Option<String>,
}

enum Conn {
    Fp(FpClient),
    Janus(JanusClient),
    Ms(MsClient),
    None,
}

#[derive(Clone)]
enum PubKey {
    Stream(String),
    Feed(u64),
    /// mediasoup producer ids of one publisher (audio, video).
    Producers(Vec<String>),
}

struct Room {
    name: String,
    id: u64,
}

struct Participant {
    conn: Conn,
    login: String,
    tasks: Vec<JoinHandle<Result<bool, BoxError>>>,
}

impl Participant {
    async fn join(opts: &RunOpts, room: &Room, login: String) -> Result<Participant, BoxError> {
        let conn = match &opts.target {
            Target::Huddle { url } => {
                let mut c = FpClient::connect(url, &login).await?;
                c.join(&room.name).await?;
                Conn::Fp(c)
            }
            Target::Janus { url } => Conn::Janus(JanusClient::connect(url).await?),
            Target::Mediasoup { url } => Conn::Ms(MsClient::connect(url).await?),
            Target::Direct => Conn::None,
        };
        Ok(Participant {
            conn,
            login,
            tasks: Vec::new(),
        })
    }

    async fn publish(
        &mut self,
        opts: &RunOpts,
        ctx: &Ctx,
        room: &Room,
        audio: bool,
        video: bool,
    ) -> Result<PubKey, BoxError> {
        let role = Role::Publisher { audio, video };
        // mediasoup needs VP8 picture IDs, which only RTP-mode publishers send (vp8_rtp.rs).
        let rtp_mode = matches!(opts.target, Target::Mediasoup { .. });
        let name = format!("{}-pub", self.login);
        let mut peer = Peer::bind_with(opts.client_ip, name, rtp_mode).await?;
        let offer = peer.create_offer(role)?;
        let (tx, rx) = oneshot::channel();
        let key = match &mut self.conn {
            Conn::Fp(c) => {
                let (msid, name, answer) = c.publish(&room.name, &offer, audio, video).await?;
                peer.accept_answer(&answer)?;
                self.tasks
                    .push(tokio::spawn(peer.run(role, ctx.clone(), Some(tx))));
                c.wait_status(&msid, "PUBLISHING", opts.setup_timeout)
                    .await?;
                PubKey::Stream(name)
            }
            Conn::Janus(c) => {
                let (feed, answer) = c.publish(room.id, &self.login, &offer).await?;
                peer.accept_answer(&answer)?;
                self.tasks
                    .push(tokio::spawn(peer.run(role, ctx.clone(), Some(tx))));
                PubKey::Feed(feed)
            }
            Conn::Ms(c) => {
                let (producers, answer) = c.publish(room.id, &offer).await?;
                peer.accept_answer(&answer)?;
                self.tasks
                    .push(tokio::spawn(peer.run(role, ctx.clone(), Some(tx))));
                PubKey::Producers(producers)
            }
            Conn::None => return Err("direct mode has no server to publish to".into()),
        };
        tokio::time::timeout(opts.setup_timeout, rx)
            .await
            .map_err(|_| format!("{}: publisher not connected in time", self.login))?
            .map_err(|_| format!("{}: publisher failed", self.login))?;
        Ok(key)
    }

    async fn subscribe(
        &mut self,
        opts: &RunOpts,
        ctx: &Ctx,
        room: &Room,
        key: &PubKey,
    ) -> Result<(), BoxError> {
        let mut peer = Peer::bind(opts.client_ip, format!("{}-sub", self.login)).await?;
        match (&mut self.conn, key) {
            (Conn::Fp(c), PubKey::Stream(name)) => {
                let offer = peer.create_offer(Role::Subscriber)?;
                let (_msid, answer) = c.play(&room.name, name, &offer).await?;
                peer.accept_answer(&answer)?;
                self.tasks
                    .push(tokio::spawn(peer.run(Role::Subscriber, ctx.clone(), None)));
            }
            (Conn::Janus(c), PubKey::Feed(feed)) => {
                let (h, offer) = c.subscribe_offer(room.id, *feed).await?;
                let answer = peer.accept_offer(&offer)?;
                self.tasks
                    .push(tokio::spawn(peer.run(Role::Subscriber, ctx.clone(), None)));
                c.subscribe_start(h, &answer).await?;
            }
            (Conn::Ms(c), PubKey::Producers(producers)) => {
                let (pending, offer): (PendingSubscription, String) =
                    c.subscribe_offer(room.id, producers).await?;
                let answer = peer.accept_offer(&offer)?;
                self.tasks
                    .push(tokio::spawn(peer.run(Role::Subscriber, ctx.clone(), None)));
                c.subscribe_start(pending, &answer).await?;
            }
            _ => return Err("publisher key does not match the server kind".into()),
        }
        Ok(())
    }

    async fn close(self) {
        match self.conn {
            Conn::Fp(c) => c.close().await,
            Conn::Janus(c) => c.close().await,
            Conn::Ms(c) => c.close(),
            Conn::None => {}
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }
}

fn unique() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    (t ^ (u64::from(std::process::id()) << 20)) % 1_000_000_000 + 1
}

/// Run `f` over `items` with at most `n` in flight.
async fn bounded<T, F, Fut>(items: Vec<T>, n: usize, f: F) -> Vec<Result<(), BoxError>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<(), BoxError>>,
{
    let mut out = Vec::new();
    let mut it = items.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<_> = it.by_ref().take(n.max(1)).map(&f).collect();
        out.extend(join_all(chunk).await);
    }
    out
}

pub async fn run_scenario(opts: &RunOpts, scen: Scenario) -> ScenarioResult {
    let mut res = ScenarioResult {
        server: opts.target.name().into(),
        scenario: scen.label(),
        description: scen.describe(),
        publishers: scen.publishers(),
        subscriptions: scen.subscriptions(),
        ..Default::default()
    };
    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let ctx = Ctx {
        stats: stats.clone(),
        base: Instant::now(),
        shape: opts.shape,
        stop: stop_rx,
        connect_timeout: opts.setup_timeout,
    };
    let tck = clk_tck();
    let pid = opts.server_pid.map(|p| p.to_string());
    let server_sample = || pid.as_deref().and_then(|p| sample_proc(p, tck));
    let before = server_sample();
    res.server_rss_before_kib = before.map(|s| s.rss_kib);

    let id = unique();
    let room = Room {
        name: format!("bench-{}-{id}", scen.label().replace(':', "-")),
        id,
    };
    let mut control = None;
    if let Target::Janus { url } = &opts.target {
        match JanusClient::connect(url).await {
            Ok(mut c) => {
                if let Err(e) = c.create_room(room.id, scen.publishers() as u32 + 4).await {
                    res.error = Some(format!("create room: {e}"));
                    return res;
                }
                control = Some(c);
            }
            Err(e) => {
                res.error = Some(format!("connect: {e}"));
                return res;
            }
        }
    }

    let t0 = Instant::now();
    let mut participants: Vec<Participant> = Vec::new();
    let setup_result = if let Target::Direct = opts.target {
        tokio::time::timeout(
            opts.setup_timeout * 2,
            setup_direct(opts, &ctx, scen, &mut participants),
        )
        .await
    } else {
        let setup = async {
            match scen {
                // One fan-out per room, one room after the other.
                Scenario::Rooms { rooms, subs } => {
                    let mut errors = Vec::new();
                    for r in 0..rooms {
                        let room = Room {
                            name: format!("{}-r{r}", room.name),
                            id: room.id + r as u64,
                        };
                        let fanout = Scenario::Fanout(subs);
                        errors.extend(setup(opts, &ctx, &room, fanout, &mut participants).await);
                    }
                    errors
                }
                _ => setup(opts, &ctx, &room, scen, &mut participants).await,
            }
        };
        tokio::time::timeout(opts.setup_timeout * 2, setup).await
    };
    let mut errors: Vec<String> = match setup_result {
        Err(_) => vec!["setup timed out".into()],
        Ok(errs) => errs,
    };
    // Wait until every subscription delivers media (bounded).
    let want = scen.subscriptions() as u64;
    let deadline = Instant::now() + opts.setup_timeout;
    while stats.subscribers_receiving.load(Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    res.setup_secs = t0.elapsed().as_secs_f64();
    tokio::time::sleep(opts.warmup).await;
    let after_setup = server_sample();
    res.server_rss_kib = after_setup.map(|s| s.rss_kib);
    if let (Some(b), Some(a)) = (before, after_setup) {
        res.server_kib_per_subscription =
            Some((a.rss_kib as f64 - b.rss_kib as f64) / scen.subscriptions().max(1) as f64);
        res.server_anon_kib_per_subscription = Some(
            (a.rss_anon_kib as f64 - b.rss_anon_kib as f64) / scen.subscriptions().max(1) as f64,
        );
    }

    // Measurement window. (The server's fan-out histogram is read just outside it: the
    // requests' CPU is not the forwarding's.)
    let fanout_url = match &opts.target {
        Target::Huddle { url } => Some(url.as_str()),
        _ => None,
    };
    let fanout0 = match fanout_url {
        Some(url) => crate::fanout_metric::scrape(url).await,
        None => None,
    };
    stats.take_latencies();
    let s0 = stats.snapshot();
    let p0 = server_sample();
    let t0_threads = pid
        .as_deref()
        .map(|p| sample_threads(p, "huddle-media", tck));
    let l0 = sample_proc("self", tck);
    let w0 = (
        pid.as_deref().and_then(runqueue_wait_secs),
        runqueue_wait_secs("self"),
    );
    stats.measuring.store(true, Relaxed);
    tokio::time::sleep(opts.measure).await;
    stats.measuring.store(false, Relaxed);
    let s1 = stats.snapshot();
    let p1 = server_sample();
    let t1_threads = pid
        .as_deref()
        .map(|p| sample_threads(p, "huddle-media", tck));
    let l1 = sample_proc("self", tck);
    let w1 = (
        pid.as_deref().and_then(runqueue_wait_secs),
        runqueue_wait_secs("self"),
    );
    let (mut lv, mut la) = stats.take_latencies();
    if let (Some(url), Some(before)) = (fanout_url, &fanout0) {
        if let Some(after) = crate::fanout_metric::scrape(url).await {
            if let Some((n, p99)) = crate::fanout_metric::quantile_ms(before, &after, 0.99) {
                res.server_fanouts = Some(n);
                res.server_fanout_p99_ms = Some(p99);
            }
        }
    }
    res.loadavg = crate::stats::loadavg();

    let d = s1.delta(&s0);
    let secs =
        (s1.at.unwrap_or_else(Instant::now) - s0.at.unwrap_or_else(Instant::now)).as_secs_f64();
    res.window_secs = secs;
    if let (Some(a), Some(b)) = (w0.0, w1.0) {
        res.server_runq_wait_pct = Some(100.0 * (b - a) / secs);
    }
    if let (Some(a), Some(b)) = (w0.1, w1.1) {
        res.loadgen_runq_wait_pct = Some(100.0 * (b - a) / secs);
    }
    res.peers_connected = stats.peers_connected.load(Relaxed);
    res.peers_failed = stats.peers_failed.load(Relaxed);
    res.subscribers_receiving = stats.subscribers_receiving.load(Relaxed);
    res.tx_video_fps = d.tx_video_frames as f64 / secs;
    res.tx_audio_pps = d.tx_audio_frames as f64 / secs;
    res.rx_packets_per_s = d.rx_packets as f64 / secs;
    res.rx_mbit_per_s = d.rx_bytes as f64 * 8.0 / secs / 1e6;
    res.rx_video_fps = d.rx_video_frames as f64 / secs;
    res.rx_audio_pps = d.rx_audio_frames as f64 / secs;
    res.lost_frames = d.lost_frames;
    res.lost_audio_frames_total = stats.lost_audio_frames.load(Relaxed);
    let got = d.rx_video_frames + d.rx_audio_frames;
    res.loss_pct = if got + d.lost_frames > 0 {
        100.0 * d.lost_frames as f64 / (got + d.lost_frames) as f64
    } else {
        100.0
    };
    res.discontinuities = d.discontinuities;
    res.bad_payloads = d.bad_payloads;
    lv.sort_unstable();
    la.sort_unstable();
    res.lat_video_p50_ms = percentile_ms(&lv, 50.0);
    res.lat_video_p99_ms = percentile_ms(&lv, 99.0);
    res.lat_audio_p50_ms = percentile_ms(&la, 50.0);
    res.lat_audio_p99_ms = percentile_ms(&la, 99.0);
    if let (Some(a), Some(b)) = (&t0_threads, &t1_threads) {
        res.shard_cpu_pct = b
            .iter()
            .filter_map(|(name, end)| {
                let (_, start) = a.iter().find(|(n, _)| n == name)?;
                Some((name.clone(), 100.0 * (end - start) / secs))
            })
            .collect();
    }
    if let (Some(a), Some(b)) = (p0, p1) {
        let cpu = b.cpu_secs - a.cpu_secs;
        let wall = (b.at - a.at).as_secs_f64();
        res.server_cpu_pct = Some(100.0 * cpu / wall);
        if d.rx_packets > 0 {
            res.server_cpu_us_per_pkt = Some(cpu * 1e6 / d.rx_packets as f64);
        }
    }
    if let (Some(a), Some(b)) = (l0, l1) {
        res.loadgen_cpu_pct = Some(100.0 * (b.cpu_secs - a.cpu_secs) / (b.at - a.at).as_secs_f64());
    }

    // Tear down.
    let _ = stop_tx.send(true);
    join_all(participants.into_iter().map(|p| p.close())).await;
    if let Some(mut c) = control {
        let _ = c.destroy_room(room.id).await;
        c.close().await;
    }
    if let Target::Mediasoup { url } = &opts.target {
        // Close the room's router, so the next scenario starts from an empty worker.
        if let Ok(mut c) = MsClient::connect(url).await {
            c.close_room(room.id).await;
            c.close();
        }
    }
    if res.subscribers_receiving < want {
        errors.push(format!(
            "only {} of {want} subscriptions received media",
            res.subscribers_receiving
        ));
    }
    if !errors.is_empty() {
        errors.truncate(5);
        res.error = Some(errors.join("; "));
    }
    res
}

async fn setup(
    opts: &RunOpts,
    ctx: &Ctx,
    room: &Room,
    scen: Scenario,
    out: &mut Vec<Participant>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let c = opts.concurrency;
    let (pub_logins, audio_only): (Vec<String>, bool) = match scen {
        Scenario::Fanout(_) | Scenario::Rooms { .. } => (vec!["pub0".into()], false),
        Scenario::Meeting(n) => ((0..n).map(|i| format!("p{i}")).collect(), false),
        Scenario::Audio { pubs, .. } => ((0..pubs).map(|i| format!("apub{i}")).collect(), true),
    };
    // Publishers.
    let pubs = join_all(pub_logins.into_iter().map(|login| async move {
        let mut p = Participant::join(opts, room, login).await?;
        let key = p.publish(opts, ctx, room, true, !audio_only).await?;
        Ok::<_, BoxError>((p, key))
    }))
    .await;
    let mut keys = Vec::new();
    let mut publishers = Vec::new();
    for r in pubs {
        match r {
            Ok((p, k)) => {
                publishers.push(p);
                keys.push(k);
            }
            Err(e) => errors.push(format!("publish: {e}")),
        }
    }
    if keys.is_empty() {
        return errors;
    }
    let results = match scen {
        Scenario::Meeting(_) => {
            // Every participant plays every other one, over its own connection.
            let keys = &keys;
            let pairs: Vec<(usize, &mut Participant)> = publishers.iter_mut().enumerate().collect();
            let r = bounded(pairs, c, |(i, p)| async move {
                for (j, k) in keys.iter().enumerate() {
                    if j != i {
                        p.subscribe(opts, ctx, room, k).await?;
                    }
                }
                Ok(())
            })
            .await;
            out.append(&mut publishers);
            r
        }
        Scenario::Fanout(n) | Scenario::Audio { subs: n, .. } | Scenario::Rooms { subs: n, .. } => {
            out.append(&mut publishers);
            let subs = std::cell::RefCell::new(Vec::new());
            let keys = &keys;
            let r = bounded((0..n).collect(), c, |i| {
                let subs = &subs;
                async move {
                    let mut p = Participant::join(opts, room, format!("sub{i}")).await?;
                    let mut res = Ok(());
                    for k in keys {
                        if let Err(e) = p.subscribe(opts, ctx, room, k).await {
                            res = Err(e);
                            break;
                        }
                    }
                    subs.borrow_mut().push(p);
                    res
                }
            })
            .await;
            out.append(&mut subs.into_inner());
            r
        }
    };
    errors.extend(
        results
            .into_iter()
            .filter_map(|r| r.err().map(|e| format!("subscribe: {e}"))),
    );
    errors
}

/// Pass criteria of the smoke scenario (1 publisher → 2 subscribers): every subscription got
/// video and audio, nothing was lost, every payload parsed.
pub fn smoke_check(r: &ScenarioResult) -> Result<(), String> {
    let mut why = Vec::new();
    if let Some(e) = &r.error {
        why.push(e.clone());
    }
    if r.subscribers_receiving < r.subscriptions as u64 {
        why.push(format!(
            "{} of {} subscriptions received media",
            r.subscribers_receiving, r.subscriptions
        ));
    }
    if r.rx_video_fps <= 0.0 {
        why.push("no video frames arrived in the window".into());
    }
    if r.rx_audio_pps <= 0.0 {
        why.push("no audio packets arrived in the window".into());
    }
    if r.lost_frames > 0 {
        why.push(format!("{} frames lost", r.lost_frames));
    }
    if r.bad_payloads > 0 {
        why.push(format!("{} payloads did not parse", r.bad_payloads));
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

/// Direct mode: for every subscription, a publisher PeerConnection offers straight to a
/// subscriber PeerConnection in the same process.
async fn setup_direct(
    opts: &RunOpts,
    ctx: &Ctx,
    scen: Scenario,
    out: &mut Vec<Participant>,
) -> Vec<String> {
    let audio_only = matches!(scen, Scenario::Audio { .. });
    let role = Role::Publisher {
        audio: true,
        video: !audio_only,
    };
    let mut errors = Vec::new();
    for i in 0..scen.subscriptions() {
        let r: Result<Participant, BoxError> = async {
            let mut a = Peer::bind(opts.client_ip, format!("direct{i}-pub")).await?;
            let mut b = Peer::bind(opts.client_ip, format!("direct{i}-sub")).await?;
            let offer = a.create_offer(role)?;
            let answer = b.accept_offer(&offer)?;
            a.accept_answer(&answer)?;
            let mut p = Participant {
                conn: Conn::None,
                login: format!("direct{i}"),
                tasks: Vec::new(),
            };
            p.tasks.push(tokio::spawn(a.run(role, ctx.clone(), None)));
            p.tasks
                .push(tokio::spawn(b.run(Role::Subscriber, ctx.clone(), None)));
            Ok(p)
        }
        .await;
        match r {
            Ok(p) => out.push(p),
            Err(e) => errors.push(format!("direct: {e}")),
        }
    }
    errors
}
