//! The application's own backend: Flashphoner WCS REST hooks (`rest_hook_url`) and signed
//! webhooks (`webhook_urls`). docs/HOOKS.md describes both for the backend's authors.
//!
//! - [`rest`]: `connect`, `publishStream`, `playStream` asked by the session (awaited, with a
//!   timeout; a non-2xx answer refuses), `ConnectionStatusEvent` / `StreamStatusEvent` told.
//! - [`lifecycle`] + [`webhook`]: room / participant / stream / recording events derived in
//!   the room actor from the hub's outputs, sent as signed JSON.
//! - [`delivery`]: the bounded, ordered, retrying queue both use for what is only told.

mod delivery;
mod http;
pub(crate) mod lifecycle;
mod mix_watch;
pub(crate) mod rest;
pub(crate) mod session;
mod settings;
pub mod signature;
pub(crate) mod wcs;
pub(crate) mod webhook;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use huddle_room::{Input, Output};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::Config;

pub(crate) use settings::validate;
pub use settings::HookArgs;
pub use signature::{sign, verify, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Wait after a request's first failed try (doubled after each further one, up to
/// `webhook_max_backoff_ms`).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// Signs request bodies with `webhook_secret`.
#[derive(Clone)]
pub(crate) struct Signer(Arc<[u8]>);

/// The headers of one signed (or unsigned) request.
pub(crate) fn headers(signer: Option<&Signer>, body: &[u8]) -> Vec<(&'static str, String)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut headers = vec![(TIMESTAMP_HEADER, now.to_string())];
    if let Some(Signer(secret)) = signer {
        headers.push((SIGNATURE_HEADER, sign(secret, body)));
    }
    headers
}

/// The hooks of one server; both parts are off unless configured.
#[derive(Default)]
pub(crate) struct Hooks {
    pub rest: Option<rest::RestHooks>,
    pub webhooks: Option<Arc<webhook::Webhooks>>,
}

impl Hooks {
    /// The hooks `config` asks for; their queues' tasks stop with `shutdown`.
    pub(crate) fn start(
        config: &Config,
        metrics: &Metrics,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Self, String> {
        if config.rest_hook_url.is_none() && config.webhook_urls.is_empty() {
            return Ok(Self::default());
        }
        let client = http::client().map_err(|e| format!("hooks HTTP client: {e}"))?;
        let timeout = Duration::from_millis(config.hook_timeout_ms);
        let policy = delivery::RetryPolicy {
            max_attempts: config.webhook_max_attempts,
            first_backoff: FIRST_BACKOFF.min(Duration::from_millis(config.webhook_max_backoff_ms)),
            max_backoff: Duration::from_millis(config.webhook_max_backoff_ms),
            timeout,
        };
        let counters = delivery::Counters {
            delivered: metrics.hooks_delivered.clone(),
            failed: metrics.hooks_failed.clone(),
            dropped: metrics.hooks_dropped.clone(),
        };
        let signer = config
            .webhook_secret
            .as_deref()
            .map(|s| Signer(Arc::from(s.as_bytes())));
        let queue = |name: &str| {
            delivery::Queue::spawn(
                name.to_string(),
                client.clone(),
                config.webhook_queue_size,
                policy,
                counters.clone(),
                shutdown.clone(),
            )
        };
        let rest = config.rest_hook_url.as_deref().map(|base| rest::RestHooks {
            client: client.clone(),
            base: base.trim_end_matches('/').to_string(),
            timeout,
            fail_open: config.rest_hook_fail_open,
            signer: signer.clone(),
            events: queue(base),
            refused: metrics.hooks_refused.clone(),
            errors: metrics.hooks_unanswered.clone(),
        });
        let webhooks = match (&signer, config.webhook_urls.is_empty()) {
            (Some(signer), false) => Some(Arc::new(webhook::Webhooks {
                queues: config.webhook_urls.iter().map(|u| queue(u)).collect(),
                signer: signer.clone(),
            })),
            _ => None,
        };
        Ok(Self { rest, webhooks })
    }

    /// Sends `mix_finished` for the mixes on `board` (webhooks on).
    pub(crate) fn watch_mixes(
        &self,
        board: &Arc<crate::mix_board::MixBoard>,
        shutdown: &watch::Receiver<bool>,
    ) {
        if let Some(webhooks) = &self.webhooks {
            mix_watch::spawn(board.clone(), webhooks.clone(), shutdown.clone());
        }
    }

    /// The room actor's part, when webhooks are on.
    pub(crate) fn actor_part(&self) -> Option<ActorHooks> {
        self.webhooks.clone().map(|webhooks| ActorHooks {
            lifecycle: lifecycle::Lifecycle::default(),
            webhooks,
        })
    }
}

/// Held by the room actor: turns what it sees into webhook events, queued at once.
pub(crate) struct ActorHooks {
    lifecycle: lifecycle::Lifecycle,
    webhooks: Arc<webhook::Webhooks>,
}

impl ActorHooks {
    /// Before `input` goes to the hub.
    pub(crate) fn input(&mut self, input: &Input) {
        let events = self.lifecycle.input(input);
        self.send(&events);
    }

    /// As `output` is routed.
    pub(crate) fn output(&mut self, output: &Output) {
        let events = self.lifecycle.output(output);
        self.send(&events);
    }

    fn send(&self, events: &[lifecycle::Event]) {
        if events.is_empty() {
            return;
        }
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        for event in events {
            self.webhooks.send(event, unix_ms);
        }
    }
}
