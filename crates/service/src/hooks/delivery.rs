//! Fire-and-forget requests to one destination (a webhook URL, or the REST hook base URL for
//! the WCS status events), off the room actor and the sessions: a bounded queue drained in
//! order by one task, each request retried with exponential backoff up to a cap.
//!
//! Order per destination is kept because one task sends one request at a time and retries
//! the head of the queue before taking the next. When the queue is full the oldest waiting
//! request is dropped (counted and logged): a backend that is down for long loses its oldest
//! news rather than holding the server's memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounter;
use tokio::sync::{watch, Notify};
use tracing::{debug, warn};

/// One request: POST `body` (JSON) to `url` with `headers`.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub url: String,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

/// How often and how patiently a request is retried.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    /// Tries in all (the first one included).
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_backoff: Duration,
    /// Longest wait between two tries.
    pub max_backoff: Duration,
    /// Longest time one try may take.
    pub timeout: Duration,
}

impl RetryPolicy {
    /// The wait after failed try number `attempt` (1-based).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What happens to the requests of one destination, for `/metrics`.
#[derive(Clone)]
pub(crate) struct Counters {
    pub delivered: IntCounter,
    /// Given up after the last try (or refused for good by a 4xx answer).
    pub failed: IntCounter,
    /// Dropped unsent because the queue was full.
    pub dropped: IntCounter,
}

/// The sending end of one destination's queue. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    jobs: Mutex<VecDeque<Job>>,
    capacity: usize,
    wake: Notify,
    counters: Counters,
}

impl Queue {
    /// A queue of at most `capacity` waiting requests and the task that sends them; the task
    /// ends when the server stops.
    pub(crate) fn spawn(
        name: String,
        client: reqwest::Client,
        capacity: usize,
        policy: RetryPolicy,
        counters: Counters,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let inner = Arc::new(Inner {
            name,
            jobs: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            wake: Notify::new(),
            counters,
        });
        tokio::spawn(run(inner.clone(), client, policy, shutdown));
        Self { inner }
    }

    /// Queues a request; never waits. A full queue loses its oldest request.
    pub(crate) fn push(&self, job: Job) {
        let dropped = {
            let mut jobs = self.inner.jobs.lock().expect("queue lock");
            let dropped = if jobs.len() >= self.inner.capacity {
                jobs.pop_front()
            } else {
                None
            };
            jobs.push_back(job);
            dropped
        };
        if let Some(old) = dropped {
            self.inner.counters.dropped.inc();
            warn!(destination = %self.inner.name, url = %old.url, "hook queue full: oldest request dropped");
        }
        self.inner.wake.notify_one();
    }

    /// The destination: a webhook URL, or the REST hook base URL.
    pub(crate) fn name(&self) -> &str {
        &self.inner.name
    }

    /// Requests waiting (not the one being sent).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.inner.jobs.lock().expect("queue lock").len()
    }
}

async fn run(
    inner: Arc<Inner>,
    client: reqwest::Client,
    policy: RetryPolicy,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let next = inner.jobs.lock().expect("queue lock").pop_front();
        let job = match next {
            Some(job) => job,
            None => {
                tokio::select! {
                    () = inner.wake.notified() => continue,
                    _ = shutdown.wait_for(|stop| *stop) => return,
                }
            }
        };
        tokio::select! {
            () = deliver(&inner, &client, &policy, &job) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Sends one request until it succeeds, is refused for good, or runs out of tries.
async fn deliver(inner: &Inner, client: &reqwest::Client, policy: &RetryPolicy, job: &Job) {
    for attempt in 1..=policy.max_attempts.max(1) {
        let outcome =
            super::http::post(client, &job.url, &job.body, &job.headers, policy.timeout).await;
        let error = match outcome {
            Ok(answer) if answer.status.is_success() => {
                inner.counters.delivered.inc();
                debug!(url = %job.url, attempt, "hook delivered");
                return;
            }
            Ok(answer) if !retryable(answer.status) => {
                inner.counters.failed.inc();
                warn!(url = %job.url, status = %answer.status, "hook refused by the backend; not retried");
                return;
            }
            Ok(answer) => format!("HTTP {}", answer.status),
            Err(e) => e.to_string(),
        };
        if attempt == policy.max_attempts.max(1) {
            inner.counters.failed.inc();
            warn!(url = %job.url, attempt, error, "hook not delivered; giving up");
            return;
        }
        let wait = policy.backoff(attempt);
        debug!(url = %job.url, attempt, error, ?wait, "hook not delivered; retrying");
        tokio::time::sleep(wait).await;
    }
}

/// Server errors, timeouts and rate limits may pass later; other refusals will not.
fn retryable(status: reqwest::StatusCode) -> bool {
    status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let waits: Vec<u64> = (1..=7).map(|a| p.backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(p.backoff(100), Duration::from_secs(5), "no overflow");
    }

    fn counters() -> Counters {
        Counters {
            delivered: IntCounter::new("d", "d").unwrap(),
            failed: IntCounter::new("f", "f").unwrap(),
            dropped: IntCounter::new("x", "x").unwrap(),
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_its_oldest_request() {
        let (_stop, shutdown) = watch::channel(true); // the sender task ends at once
        let counters = counters();
        let queue = Queue::spawn(
            "test".into(),
            reqwest::Client::new(),
            3,
            policy(),
            counters.clone(),
            shutdown,
        );
        tokio::task::yield_now().await;
        for i in 0..5 {
            queue.push(Job {
                url: format!("http://127.0.0.1:9/{i}"),
                body: Vec::new(),
                headers: Vec::new(),
            });
        }
        assert_eq!(queue.waiting(), 3);
        assert_eq!(counters.dropped.get(), 2);
        let urls: Vec<String> = queue
            .inner
            .jobs
            .lock()
            .unwrap()
            .iter()
            .map(|j| j.url.clone())
            .collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:9/2",
                "http://127.0.0.1:9/3",
                "http://127.0.0.1:9/4"
            ]
        );
    }
}
