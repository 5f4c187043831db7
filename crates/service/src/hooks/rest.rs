//! Flashphoner WCS REST hooks: `connect`, `publishStream` and `playStream` are asked and
//! awaited by the session that wants them (the room actor never waits on HTTP); a non-2xx
//! answer refuses. `ConnectionStatusEvent` and `StreamStatusEvent` are told through the
//! delivery queue and never wait.

use std::time::Duration;

use prometheus::IntCounter;
use serde_json::Value;
use tracing::warn;

use super::delivery::{Job, Queue};
use super::http::post;

/// The backend's decision on an authorising hook.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Go on; the answer's JSON object, when it sent one (fields it may override).
    Allow(Option<Value>),
    /// Refused, with the reason the client is told.
    Deny(String),
}

pub(crate) struct RestHooks {
    pub(super) client: reqwest::Client,
    /// `rest_hook_url` without a trailing `/`.
    pub(super) base: String,
    pub(super) timeout: Duration,
    /// A backend that cannot be reached (or is too slow) lets the request through.
    pub(super) fail_open: bool,
    pub(super) signer: Option<super::Signer>,
    pub(super) events: Queue,
    /// Requests refused by the backend.
    pub(super) refused: IntCounter,
    /// Authorising hooks that got no answer in time (or none at all).
    pub(super) errors: IntCounter,
}

impl RestHooks {
    fn url(&self, method: &str) -> String {
        format!("{}/{method}", self.base)
    }

    /// Asks the backend about `connect`, `publishStream` or `playStream`; waits at most the
    /// hook timeout.
    pub(crate) async fn authorize(&self, method: &str, body: &Value) -> Verdict {
        let bytes = serde_json::to_vec(body).expect("JSON values serialize");
        let headers = super::headers(self.signer.as_ref(), &bytes);
        match post(
            &self.client,
            &self.url(method),
            &bytes,
            &headers,
            self.timeout,
        )
        .await
        {
            Ok(answer) if answer.status.is_success() => {
                let fields = serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .filter(Value::is_object);
                Verdict::Allow(fields)
            }
            Ok(answer) => {
                self.refused.inc();
                let reason =
                    super::wcs::refusal_reason(method, answer.status.as_u16(), &answer.body);
                Verdict::Deny(reason)
            }
            Err(error) => {
                self.errors.inc();
                if self.fail_open {
                    warn!(method, %error, "REST hook unanswered; let through (rest_hook_fail_open)");
                    Verdict::Allow(None)
                } else {
                    warn!(method, %error, "REST hook unanswered; refused");
                    Verdict::Deny(format!("Failed by {method} REST hook: {error}"))
                }
            }
        }
    }

    /// Tells the backend an event (`ConnectionStatusEvent`, `StreamStatusEvent`); queued.
    pub(crate) fn notify(&self, method: &str, body: &Value) {
        let bytes = serde_json::to_vec(body).expect("JSON values serialize");
        let headers = super::headers(self.signer.as_ref(), &bytes);
        self.events.push(Job {
            url: self.url(method),
            body: bytes,
            headers,
        });
    }
}
