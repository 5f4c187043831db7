//! Supervision of the room actor: it owns all signaling state, so if it panics the server is
//! half-dead (sockets open, nothing answered). Rather than live on like that, the panic is
//! reported through [`Fatal`] and the binary exits non-zero, so that a service manager
//! restarts it (issue 12, finding 10).

use std::future::Future;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::error;

/// Resolves with the reason once a task the server cannot live without has died.
#[derive(Clone)]
pub(crate) struct Fatal(watch::Receiver<Option<String>>);

impl Fatal {
    pub(crate) async fn wait(mut self) -> String {
        match self.0.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The supervisor is gone without a report: the task ended normally (shutdown).
            Err(_) => std::future::pending().await,
        }
    }
}

/// Runs `task` (named `what`); its panic is logged and reported to the returned [`Fatal`].
pub(crate) fn spawn_vital<F>(what: &'static str, task: F) -> (JoinHandle<()>, Fatal)
where
    F: Future<Output = ()> + Send + 'static,
{
    let (report, fatal) = watch::channel(None);
    let inner = tokio::spawn(task);
    let supervisor = tokio::spawn(async move {
        if let Err(e) = inner.await {
            let reason = if e.is_panic() {
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                format!("{what} panicked: {message}")
            } else {
                format!("{what} was cancelled")
            };
            error!(%reason, "a vital task died; the server must restart");
            let _ = report.send(Some(reason));
            // Keep the report readable until the server is dropped.
            report.closed().await;
        }
    });
    (supervisor, Fatal(fatal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_panic_is_reported_a_normal_end_is_not() {
        let (task, fatal) = spawn_vital("room actor", async { panic!("boom") });
        let reason = tokio::time::timeout(Duration::from_secs(5), fatal.wait())
            .await
            .expect("reported");
        assert_eq!(reason, "room actor panicked: boom");
        drop(task);
        let (task, fatal) = spawn_vital("room actor", async {});
        task.await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(200), fatal.wait())
                .await
                .is_err(),
            "a normal end is not fatal"
        );
    }
}
