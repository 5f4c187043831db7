//! `GET /metrics` in the Prometheus text format. Gauges are read at scrape time from the room
//! core and the media plane; counters are bumped by the edges as things happen.

use huddle_room::HubStats;
use huddle_sfu::{FanoutTimes, MediaStats, FANOUT_BOUNDS_US};
use prometheus::proto::{Bucket, Histogram, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

pub(crate) struct Metrics {
    registry: Registry,
    rooms: IntGauge,
    participants: IntGauge,
    sessions: IntGauge,
    connections: IntGauge,
    publishers: IntGauge,
    players: IntGauge,
    media_peers: IntGauge,
    media_packets_in: IntCounter,
    media_packets_out: IntCounter,
    media_packets_out_lane: IntCounter,
    media_bytes_in: IntCounter,
    media_bytes_out: IntCounter,
    media_dropped: IntCounter,
    media_frames_forwarded: IntCounter,
    media_keyframe_requests_asked: IntCounter,
    media_keyframe_requests_sent: IntCounter,
    media_video_frames_dropped: IntCounter,
    recording_dropped_frames: IntCounter,
    media_players_video_paused: IntGauge,
    /// The same per media shard (label `shard`): where the load is.
    shard_peers: IntGaugeVec,
    shard_packets_in: IntCounterVec,
    shard_packets_out: IntCounterVec,
    shard_bytes_out: IntCounterVec,
    /// Frames that could not be parsed.
    pub protocol_errors: IntCounter,
    /// Connections refused for their access token.
    pub auth_failures: IntCounter,
    /// Commands refused by the per-connection rate limit.
    pub rate_limited: IntCounter,
    /// Publishes sent to the media plane with a recording.
    pub recordings_started: IntCounter,
    /// Stream recordings that could not be opened, written or finished.
    pub recording_failures: IntCounter,
    pub mixes_started: IntCounter,
    pub mixes_done: IntCounter,
    pub mixes_failed: IntCounter,
    /// Room closes and kicks through the admin API.
    pub admin_actions: IntCounter,
    /// Sessions dropped because they did not read their messages (queue or write timeout).
    pub slow_sessions_dropped: IntCounter,
    /// Media commands the media plane refused as busy.
    pub media_busy: IntCounter,
    /// Publish/play requests refused by the pending-media or request-rate limits.
    pub media_admission_refused: IntCounter,
    /// TCP connections refused by the connection caps (HTTP/HTTPS and RTMP).
    pub connections_refused: IntCounter,
    /// Requests to the app backend (webhooks, WCS status events) delivered (src/hooks/).
    pub hooks_delivered: IntCounter,
    /// ... given up after their last try or refused for good.
    pub hooks_failed: IntCounter,
    /// ... dropped unsent from a full queue.
    pub hooks_dropped: IntCounter,
    /// Connect/publish/play requests refused by the REST hook backend.
    pub hooks_refused: IntCounter,
    /// Authorising REST hooks that got no answer in time.
    pub hooks_unanswered: IntCounter,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
            let g = IntGauge::new(name, help).expect("valid metric");
            r.register(Box::new(g.clone())).expect("unique metric");
            g
        }
        fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
            let c = IntCounter::new(name, help).expect("valid metric");
            r.register(Box::new(c.clone())).expect("unique metric");
            c
        }
        fn per_shard_gauge(r: &Registry, name: &str, help: &str) -> IntGaugeVec {
            let g = IntGaugeVec::new(Opts::new(name, help), &["shard"]).expect("valid metric");
            r.register(Box::new(g.clone())).expect("unique metric");
            g
        }
        fn per_shard_counter(r: &Registry, name: &str, help: &str) -> IntCounterVec {
            let c = IntCounterVec::new(Opts::new(name, help), &["shard"]).expect("valid metric");
            r.register(Box::new(c.clone())).expect("unique metric");
            c
        }
        let r = &registry;
        Self {
            shard_peers: per_shard_gauge(
                r,
                "huddle_media_shard_peers",
                "Live peers per media shard.",
            ),
            shard_packets_in: per_shard_counter(
                r,
                "huddle_media_shard_packets_in_total",
                "Packets received per media shard.",
            ),
            shard_packets_out: per_shard_counter(
                r,
                "huddle_media_shard_packets_out_total",
                "Packets sent per media shard.",
            ),
            shard_bytes_out: per_shard_counter(
                r,
                "huddle_media_shard_bytes_out_total",
                "Bytes sent per media shard.",
            ),
            rooms: gauge(r, "huddle_rooms", "Rooms that exist."),
            participants: gauge(
                r,
                "huddle_participants",
                "Participants in all rooms (away ones too).",
            ),
            sessions: gauge(r, "huddle_sessions", "Sessions that said connection."),
            connections: gauge(r, "huddle_connections", "Open WebSocket connections."),
            publishers: gauge(r, "huddle_publishers", "Published streams (room core)."),
            players: gauge(
                r,
                "huddle_players",
                "Players of published streams (room core).",
            ),
            media_peers: gauge(r, "huddle_media_peers", "Live peers in the media plane."),
            media_packets_in: counter(
                r,
                "huddle_media_packets_in_total",
                "UDP datagrams received by the media plane.",
            ),
            media_packets_out: counter(
                r,
                "huddle_media_packets_out_total",
                "UDP datagrams sent by the media plane.",
            ),
            media_packets_out_lane: counter(
                r,
                "huddle_media_packets_out_lane_total",
                "Of the datagrams sent: RTP-mode packets sent at once, past the pacer (its budget allowed).",
            ),
            media_bytes_in: counter(
                r,
                "huddle_media_bytes_in_total",
                "UDP bytes received by the media plane.",
            ),
            media_bytes_out: counter(
                r,
                "huddle_media_bytes_out_total",
                "UDP bytes sent by the media plane.",
            ),
            media_dropped: counter(
                r,
                "huddle_media_dropped_total",
                "Datagrams the media plane dropped (unknown peer, unparsable, unsendable).",
            ),
            media_frames_forwarded: counter(
                r,
                "huddle_media_frames_forwarded_total",
                "Media frames written to players.",
            ),
            media_keyframe_requests_asked: counter(
                r,
                "huddle_media_keyframe_requests_asked_total",
                "Keyframe requests players (and the SFU) asked of publishers.",
            ),
            media_keyframe_requests_sent: counter(
                r,
                "huddle_media_keyframe_requests_sent_total",
                "Keyframe requests sent to publishers after coalescing.",
            ),
            media_video_frames_dropped: counter(
                r,
                "huddle_media_video_frames_dropped_total",
                "Video frames not sent to players (paused for bandwidth or queue backed up).",
            ),
            recording_dropped_frames: counter(
                r,
                "huddle_recording_dropped_frames_total",
                "Recorded frames dropped because the disk fell behind (recording queue full).",
            ),
            media_players_video_paused: gauge(
                r,
                "huddle_media_players_video_paused",
                "Players whose video is paused because their link is too slow.",
            ),
            protocol_errors: counter(
                r,
                "huddle_protocol_errors_total",
                "Client frames that could not be parsed.",
            ),
            auth_failures: counter(
                r,
                "huddle_auth_failures_total",
                "Connections refused for their access token.",
            ),
            rate_limited: counter(
                r,
                "huddle_rate_limited_total",
                "Commands refused by the per-connection rate limit.",
            ),
            recordings_started: counter(
                r,
                "huddle_recordings_started_total",
                "Stream recordings started.",
            ),
            recording_failures: counter(
                r,
                "huddle_recording_failures_total",
                "Stream recordings that could not be opened, written or finished (file incomplete or missing).",
            ),
            mixes_started: counter(r, "huddle_mixes_started_total", "Room mixes started."),
            mixes_done: counter(r, "huddle_mixes_done_total", "Room mixes finished."),
            mixes_failed: counter(r, "huddle_mixes_failed_total", "Room mixes that failed."),
            admin_actions: counter(
                r,
                "huddle_admin_actions_total",
                "Admin API room closes and kicks.",
            ),
            slow_sessions_dropped: counter(
                r,
                "huddle_slow_sessions_dropped_total",
                "WebSockets dropped for not reading their messages.",
            ),
            media_busy: counter(
                r,
                "huddle_media_busy_total",
                "Media commands refused by a busy media plane.",
            ),
            media_admission_refused: counter(
                r,
                "huddle_media_admission_refused_total",
                "Publish/play requests refused by the pending-media or request-rate limits.",
            ),
            connections_refused: counter(
                r,
                "huddle_connections_refused_total",
                "TCP connections refused by the connection caps.",
            ),
            hooks_delivered: counter(
                r,
                "huddle_hooks_delivered_total",
                "Webhooks and WCS status events delivered to the app backend.",
            ),
            hooks_failed: counter(
                r,
                "huddle_hooks_failed_total",
                "Webhooks and WCS status events given up after their last try.",
            ),
            hooks_dropped: counter(
                r,
                "huddle_hooks_dropped_total",
                "Webhooks and WCS status events dropped from a full queue.",
            ),
            hooks_refused: counter(
                r,
                "huddle_hooks_refused_total",
                "Connect/publish/play requests refused by the REST hook backend.",
            ),
            hooks_unanswered: counter(
                r,
                "huddle_hooks_unanswered_total",
                "Authorising REST hooks that got no answer in time.",
            ),
            registry,
        }
    }

    /// The text exposition, with the gauges and media counters as of now.
    /// `shards` are the media plane's counters per shard (`media` is their sum).
    pub(crate) fn render(
        &self,
        hub: &HubStats,
        connections: usize,
        media: &MediaStats,
        shards: &[MediaStats],
    ) -> String {
        self.rooms.set(hub.rooms as i64);
        self.participants.set(hub.participants as i64);
        self.sessions.set(hub.sessions as i64);
        self.connections.set(connections as i64);
        self.publishers.set(hub.publishers as i64);
        self.players.set(hub.players as i64);
        self.media_peers.set(media.peers as i64);
        // The media plane's counters are totals: advance ours to them.
        let follow = |c: &IntCounter, total: u64| c.inc_by(total.saturating_sub(c.get()));
        follow(&self.media_packets_in, media.packets_in);
        follow(&self.media_packets_out, media.packets_out);
        follow(&self.media_packets_out_lane, media.packets_out_lane);
        follow(&self.media_bytes_in, media.bytes_in);
        follow(&self.media_bytes_out, media.bytes_out);
        follow(&self.media_dropped, media.dropped);
        follow(&self.media_frames_forwarded, media.frames_forwarded);
        follow(
            &self.media_keyframe_requests_asked,
            media.keyframe_requests_asked,
        );
        follow(
            &self.media_keyframe_requests_sent,
            media.keyframe_requests_sent,
        );
        follow(&self.media_video_frames_dropped, media.video_frames_dropped);
        follow(
            &self.recording_dropped_frames,
            media.recording_dropped_frames,
        );
        self.media_players_video_paused
            .set(media.players_video_paused as i64);
        for (i, shard) in shards.iter().enumerate() {
            let label = i.to_string();
            let label = [label.as_str()];
            self.shard_peers
                .with_label_values(&label)
                .set(shard.peers as i64);
            follow(
                &self.shard_packets_in.with_label_values(&label),
                shard.packets_in,
            );
            follow(
                &self.shard_packets_out.with_label_values(&label),
                shard.packets_out,
            );
            follow(
                &self.shard_bytes_out.with_label_values(&label),
                shard.bytes_out,
            );
        }
        let mut families = self.registry.gather();
        families.push(fanout_histogram(&media.fanout));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut out)
            .expect("text encoding");
        String::from_utf8(out).expect("UTF-8")
    }
}

/// `huddle_media_fanout_seconds`: the media plane keeps its own buckets (atomics on the media
/// threads, huddle_sfu's fanout_time.rs), so the histogram is built from them at each scrape
/// rather than observed into a `prometheus::Histogram`.
fn fanout_histogram(times: &FanoutTimes) -> MetricFamily {
    let mut cumulative = 0;
    let buckets = FANOUT_BOUNDS_US
        .iter()
        .zip(times.counts)
        .map(|(&bound_us, n)| {
            cumulative += n;
            let mut b = Bucket::default();
            b.set_upper_bound(bound_us as f64 / 1e6);
            b.set_cumulative_count(cumulative);
            b
        })
        .collect();
    let mut h = Histogram::default();
    h.set_bucket(buckets);
    h.set_sample_count(times.count());
    h.set_sample_sum(times.sum_us as f64 / 1e6);
    let mut m = Metric::default();
    m.set_histogram(h);
    let mut f = MetricFamily::default();
    f.set_name("huddle_media_fanout_seconds".into());
    f.set_help(
        "Time from the end of a publisher's frame to the last of its players' copies sent (RTP mode)"
            .into(),
    );
    f.set_field_type(MetricType::HISTOGRAM);
    f.set_metric(vec![m]);
    f
}
