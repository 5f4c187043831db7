//! One direction of an emulated link, as a sans-IO state machine: packets and the current time go
//! in ([`Pipe::push`]), packets come out when they are due ([`Pipe::pop_due`]); the caller sleeps
//! until [`Pipe::next_due`]. Randomness (loss, jitter) comes from a seeded RNG, so a test that
//! replays the same packets at the same times gets the same verdicts.
//!
//! The model, in the order a packet meets it:
//! 1. **block UDP**: UDP packets are dropped (TCP and everything else pass);
//! 2. **random loss** with probability `loss`;
//! 3. **bottleneck**: with a `rate`, packets are serialised one after another at that rate; a
//!    packet that would make the bytes waiting in the bottleneck exceed the queue limit is
//!    tail-dropped (a bounded router queue, not an infinite buffer);
//! 4. **propagation**: `delay` plus a uniform jitter in `[-jitter, +jitter]`; without `reorder`
//!    a packet never leaves before the one in front of it (jitter stretches gaps, as on a real
//!    access link), with `reorder` each packet keeps its own departure time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::ip;

/// How much the bottleneck queue holds before it tail-drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueLimit {
    /// At most this many bytes waiting.
    Bytes(usize),
    /// At most this much time's worth of bytes at the current rate.
    Time(Duration),
}

/// The impairment of one direction. `Default` is a perfect link.
#[derive(Debug, Clone, PartialEq)]
pub struct PipeConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Uniform jitter amplitude around `delay` (never below zero delay).
    pub jitter: Duration,
    /// Whether jitter may reorder packets.
    pub reorder: bool,
    /// Random loss probability, 0.0 ..= 1.0.
    pub loss: f64,
    /// Bottleneck rate in bits per second; `None` = unlimited.
    pub rate_bps: Option<u64>,
    /// Bottleneck queue bound (only meaningful with a rate).
    pub queue: QueueLimit,
    /// Drop every UDP packet.
    pub block_udp: bool,
}

/// The default queue: 200 ms at the configured rate, a common access-router buffer.
pub const DEFAULT_QUEUE: QueueLimit = QueueLimit::Time(Duration::from_millis(200));

impl Default for PipeConfig {
    fn default() -> Self {
        PipeConfig {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: false,
            loss: 0.0,
            rate_bps: None,
            queue: DEFAULT_QUEUE,
            block_udp: false,
        }
    }
}

/// What happened to the packets of one pipe so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Packets handed to [`Pipe::push`].
    pub received: u64,
    /// Packets handed out by [`Pipe::pop_due`].
    pub delivered: u64,
    /// Bytes handed out by [`Pipe::pop_due`].
    pub delivered_bytes: u64,
    /// Dropped by random loss.
    pub lost: u64,
    /// Tail-dropped because the bottleneck queue was full.
    pub queue_dropped: u64,
    /// Dropped because UDP is blocked.
    pub blocked: u64,
    /// The most bytes ever waiting in the bottleneck.
    pub max_backlog_bytes: u64,
}

/// Why [`Pipe::push`] did not accept a packet, or that it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Scheduled; it comes out of [`Pipe::pop_due`] at this time.
    Scheduled(Instant),
    Lost,
    QueueFull,
    Blocked,
}

/// One direction of an emulated link.
pub struct Pipe {
    config: PipeConfig,
    rng: StdRng,
    /// When the bottleneck finishes serialising what it already holds.
    bottleneck_free_at: Option<Instant>,
    /// Packets in the bottleneck: (time their last bit leaves it, size).
    in_bottleneck: VecDeque<(Instant, usize)>,
    backlog_bytes: usize,
    /// The latest departure scheduled so far (keeps order without `reorder`).
    last_departure: Option<Instant>,
    /// Packets waiting to leave: min-heap on (departure, arrival sequence).
    scheduled: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    next_seq: u64,
    counters: Counters,
}

impl Pipe {
    pub fn new(config: PipeConfig, seed: u64) -> Self {
        Pipe {
            config,
            rng: StdRng::seed_from_u64(seed),
            bottleneck_free_at: None,
            in_bottleneck: VecDeque::new(),
            backlog_bytes: 0,
            last_departure: None,
            scheduled: BinaryHeap::new(),
            next_seq: 0,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &PipeConfig {
        &self.config
    }

    /// Replace the impairment. Packets already scheduled keep their departure times (they are
    /// "on the wire"); the next packet sees the new settings.
    pub fn set_config(&mut self, config: PipeConfig) {
        self.config = config;
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Bytes waiting in the bottleneck at `now`.
    pub fn backlog_bytes(&mut self, now: Instant) -> usize {
        self.drain_bottleneck(now);
        self.backlog_bytes
    }

    /// Packets scheduled but not yet handed out.
    pub fn in_flight(&self) -> usize {
        self.scheduled.len()
    }

    /// A packet arrives at `now`.
    pub fn push(&mut self, now: Instant, packet: Vec<u8>) -> Verdict {
        self.counters.received += 1;
        if self.config.block_udp && ip::is_udp(&packet) {
            self.counters.blocked += 1;
            return Verdict::Blocked;
        }
        if self.config.loss > 0.0 && self.rng.random::<f64>() < self.config.loss {
            self.counters.lost += 1;
            return Verdict::Lost;
        }
        let leaves_bottleneck = match self.through_bottleneck(now, packet.len()) {
            Some(t) => t,
            None => {
                self.counters.queue_dropped += 1;
                return Verdict::QueueFull;
            }
        };
        let mut departure = leaves_bottleneck + self.propagation_delay();
        if !self.config.reorder {
            if let Some(last) = self.last_departure {
                departure = departure.max(last);
            }
        }
        self.last_departure = Some(self.last_departure.map_or(departure, |l| l.max(departure)));
        self.scheduled
            .push(Reverse((departure, self.next_seq, packet)));
        self.next_seq += 1;
        Verdict::Scheduled(departure)
    }

    /// The next packet due at or before `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        let Reverse((due, _, _)) = self.scheduled.peek()?;
        if *due > now {
            return None;
        }
        let Reverse((_, _, packet)) = self.scheduled.pop()?;
        self.counters.delivered += 1;
        self.counters.delivered_bytes += packet.len() as u64;
        Some(packet)
    }

    /// When the next packet is due (the caller's sleep deadline).
    pub fn next_due(&self) -> Option<Instant> {
        self.scheduled.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Serialise a packet of `len` bytes through the bottleneck; `None` when the queue is full.
    fn through_bottleneck(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(rate) = self.config.rate_bps.filter(|r| *r > 0) else {
            return Some(now);
        };
        self.drain_bottleneck(now);
        let limit = match self.config.queue {
            QueueLimit::Bytes(b) => b,
            QueueLimit::Time(d) => (rate as f64 * d.as_secs_f64() / 8.0) as usize,
        };
        // An empty queue always takes one packet, however small the limit: a link that can
        // never carry a full-size packet is not what anyone means by a rate limit.
        if self.backlog_bytes > 0 && self.backlog_bytes + len > limit {
            return None;
        }
        let start = self.bottleneck_free_at.map_or(now, |t| t.max(now));
        let done = start + Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
        self.bottleneck_free_at = Some(done);
        self.in_bottleneck.push_back((done, len));
        self.backlog_bytes += len;
        self.counters.max_backlog_bytes = self
            .counters
            .max_backlog_bytes
            .max(self.backlog_bytes as u64);
        Some(done)
    }

    /// Forget the packets whose last bit has left the bottleneck by `now`.
    fn drain_bottleneck(&mut self, now: Instant) {
        while let Some(&(done, len)) = self.in_bottleneck.front() {
            if done > now {
                break;
            }
            self.in_bottleneck.pop_front();
            self.backlog_bytes -= len;
        }
    }

    fn propagation_delay(&mut self) -> Duration {
        let jitter = self.config.jitter.as_secs_f64();
        if jitter == 0.0 {
            return self.config.delay;
        }
        let offset = self.rng.random_range(-jitter..=jitter);
        Duration::from_secs_f64((self.config.delay.as_secs_f64() + offset).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn udp(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len.max(20)];
        p[0] = 0x45;
        p[9] = 17;
        p
    }

    fn tcp(len: usize) -> Vec<u8> {
        let mut p = udp(len);
        p[9] = 6;
        p
    }

    /// Drain everything due up to `until`, stepping 1 ms; returns (time, packet) pairs.
    fn drain(pipe: &mut Pipe, from: Instant, until: Instant) -> Vec<(Instant, Vec<u8>)> {
        let mut out = Vec::new();
        let mut now = from;
        while now <= until {
            while let Some(p) = pipe.pop_due(now) {
                out.push((now, p));
            }
            now += MS;
        }
        out
    }

    #[test]
    fn perfect_link_passes_everything_at_once() {
        let t0 = Instant::now();
        let mut pipe = Pipe::new(PipeConfig::default(), 1);
        for i in 0..10 {
            assert_eq!(pipe.push(t0, udp(100 + i)), Verdict::Scheduled(t0));
        }
        let out: Vec<_> = std::iter::from_fn(|| pipe.pop_due(t0)).collect();
        assert_eq!(out.len(), 10);
        assert_eq!(
            out.iter().map(|p| p.len()).collect::<Vec<_>>(),
            (100..110).collect::<Vec<_>>()
        );
        assert_eq!(pipe.counters().delivered, 10);
    }

    #[test]
    fn delay_holds_packets_back_exactly() {
        let t0 = Instant::now();
        let cfg = PipeConfig {
            delay: 30 * MS,
            ..Default::default()
        };
        let mut pipe = Pipe::new(cfg, 1);
        pipe.push(t0, udp(100));
        assert_eq!(pipe.next_due(), Some(t0 + 30 * MS));
        assert!(pipe.pop_due(t0 + 29 * MS).is_none());
        assert!(pipe.pop_due(t0 + 30 * MS).is_some());
    }

    #[test]
    fn loss_rate_matches_the_setting_and_is_reproducible_with_a_seed() {
        let t0 = Instant::now();
        let cfg = PipeConfig {
            loss: 0.05,
            ..Default::default()
        };
        let run = |seed| {
            let mut pipe = Pipe::new(cfg.clone(), seed);
            let verdicts: Vec<_> = (0..20_000).map(|_| pipe.push(t0, udp(100))).collect();
            (pipe.counters().lost, verdicts)
        };
        let (lost, v1) = run(7);
        let (_, v2) = run(7);
        assert_eq!(v1, v2, "same seed, same verdicts");
        // 5 % of 20 000 = 1000; binomial sd ~ 31
        assert!((900..=1100).contains(&lost), "lost {lost}");
    }

    #[test]
    fn rate_limit_serialises_packets_at_the_rate() {
        let t0 = Instant::now();
        // 1000 bytes at 800 kbit/s = 10 ms per packet
        let cfg = PipeConfig {
            rate_bps: Some(800_000),
            queue: QueueLimit::Bytes(100_000),
            ..Default::default()
        };
        let mut pipe = Pipe::new(cfg, 1);
        for _ in 0..5 {
            pipe.push(t0, udp(1000));
        }
        let times: Vec<_> = drain(&mut pipe, t0, t0 + 100 * MS)
            .into_iter()
            .map(|(t, _)| t - t0)
            .collect();
        assert_eq!(times, vec![10 * MS, 20 * MS, 30 * MS, 40 * MS, 50 * MS]);
    }

    #[test]
    fn full_queue_tail_drops_and_drains_at_the_rate() {
        let t0 = Instant::now();
        // 300 kbit/s, 200 ms queue = 7500 bytes: a burst of 20 x 1000 B keeps 7 (the 8th would exceed)
        let cfg = PipeConfig {
            rate_bps: Some(300_000),
            ..Default::default()
        };
        let mut pipe = Pipe::new(cfg, 1);
        let accepted = (0..20)
            .filter(|_| matches!(pipe.push(t0, udp(1000)), Verdict::Scheduled(_)))
            .count();
        assert_eq!(accepted, 7);
        assert_eq!(pipe.counters().queue_dropped, 13);
        assert_eq!(pipe.counters().max_backlog_bytes, 7000);
        // after the queue has drained, new packets are accepted again
        let later = t0 + Duration::from_millis(200);
        assert_eq!(pipe.backlog_bytes(later), 0);
        assert!(matches!(pipe.push(later, udp(1000)), Verdict::Scheduled(_)));
    }

    #[test]
    fn offered_load_above_the_rate_delivers_only_the_rate() {
        let t0 = Instant::now();
        let cfg = PipeConfig {
            rate_bps: Some(300_000),
            ..Default::default()
        };
        let mut pipe = Pipe::new(cfg, 1);
        // offer 2.4 Mbit/s (1200 B every 4 ms) for 2 s
        let mut now = t0;
        let mut delivered_bytes = 0usize;
        while now < t0 + Duration::from_secs(2) {
            pipe.push(now, udp(1200));
            while let Some(p) = pipe.pop_due(now) {
                delivered_bytes += p.len();
            }
            now += 4 * MS;
        }
        let kbit = delivered_bytes as f64 * 8.0 / 2.0 / 1000.0;
        assert!((260.0..=300.0).contains(&kbit), "delivered {kbit} kbit/s");
        assert!(pipe.counters().queue_dropped > 350, "{:?}", pipe.counters());
    }

    #[test]
    fn lifting_the_rate_lets_new_packets_through_without_serialisation() {
        let t0 = Instant::now();
        let mut pipe = Pipe::new(
            PipeConfig {
                rate_bps: Some(100_000),
                ..Default::default()
            },
            1,
        );
        assert_eq!(pipe.push(t0, udp(1250)), Verdict::Scheduled(t0 + 100 * MS));
        pipe.set_config(PipeConfig::default());
        // without reorder the new packet still leaves after the one already on the wire
        assert_eq!(
            pipe.push(t0 + MS, udp(1250)),
            Verdict::Scheduled(t0 + 100 * MS)
        );
        assert_eq!(
            pipe.push(t0 + 200 * MS, udp(1250)),
            Verdict::Scheduled(t0 + 200 * MS)
        );
    }

    #[test]
    fn jitter_without_reorder_keeps_order_and_stays_in_bounds() {
        let t0 = Instant::now();
        let cfg = PipeConfig {
            delay: 100 * MS,
            jitter: 30 * MS,
            ..Default::default()
        };
        let mut pipe = Pipe::new(cfg, 3);
        for i in 0..200u64 {
            let mut p = udp(100);
            p[20..28].copy_from_slice(&i.to_be_bytes());
            pipe.push(t0 + i as u32 * MS, p);
        }
        let out = drain(&mut pipe, t0, t0 + Duration::from_secs(1));
        assert_eq!(out.len(), 200);
        let ids: Vec<u64> = out
            .iter()
            .map(|(_, p)| u64::from_be_bytes(p[20..28].try_into().unwrap()))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");
        for (i, (t, _)) in out.iter().enumerate() {
            let d = *t - (t0 + i as u32 * MS);
            assert!(d >= 70 * MS && d <= 131 * MS, "packet {i} delayed {d:?}");
        }
    }

    #[test]
    fn jitter_with_reorder_reorders_some_packets() {
        let t0 = Instant::now();
        let cfg = PipeConfig {
            delay: 50 * MS,
            jitter: 20 * MS,
            reorder: true,
            ..Default::default()
        };
        let mut pipe = Pipe::new(cfg, 3);
        for i in 0..200u64 {
            let mut p = udp(100);
            p[20..28].copy_from_slice(&i.to_be_bytes());
            pipe.push(t0 + i as u32 * MS, p);
        }
        let out = drain(&mut pipe, t0, t0 + Duration::from_secs(1));
        assert_eq!(out.len(), 200);
        let ids: Vec<u64> = out
            .iter()
            .map(|(_, p)| u64::from_be_bytes(p[20..28].try_into().unwrap()))
            .collect();
        let inversions = ids.windows(2).filter(|w| w[0] > w[1]).count();
        assert!(inversions > 10, "only {inversions} reorderings");
    }

    #[test]
    fn block_udp_drops_udp_and_passes_tcp() {
        let t0 = Instant::now();
        let mut pipe = Pipe::new(
            PipeConfig {
                block_udp: true,
                ..Default::default()
            },
            1,
        );
        assert_eq!(pipe.push(t0, udp(100)), Verdict::Blocked);
        assert_eq!(pipe.push(t0, tcp(100)), Verdict::Scheduled(t0));
        assert_eq!(pipe.counters().blocked, 1);
        assert_eq!(pipe.pop_due(t0).map(|p| p[9]), Some(6));
    }
}
