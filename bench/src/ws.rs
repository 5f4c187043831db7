//! A small JSON-over-WebSocket client used by both signaling adapters: a reader task that parses
//! frames (and may answer some by itself, e.g. pings), a writer task, and a receive side that can
//! wait for the first message matching a predicate while keeping the others for later waits.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use crate::peer::BoxError;

/// Messages for which `auto_reply` returns Some are answered by the reader task and not queued.
pub type AutoReply = fn(&Value) -> Option<Value>;

pub struct WsConn {
    tx: mpsc::UnboundedSender<Message>,
    rx: mpsc::UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
}

const BACKLOG_MAX: usize = 4096;

impl WsConn {
    pub async fn connect(
        url: &str,
        subprotocol: Option<&str>,
        auto_reply: Option<AutoReply>,
    ) -> Result<WsConn, BoxError> {
        check_loopback_url(url)?;
        let mut req = url.into_client_request()?;
        if let Some(p) = subprotocol {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p)?);
        }
        let (stream, _resp) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(req),
        )
        .await
        .map_err(|_| format!("WebSocket connect to {url} timed out"))??;
        let (mut sink, mut source) = stream.split();
        let (tx, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let (in_tx, rx) = mpsc::unbounded_channel::<Value>();
        tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                let close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || close {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reply_tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = source.next().await {
                let Message::Text(t) = m else { continue };
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                    continue;
                };
                if let Some(f) = auto_reply {
                    if let Some(r) = f(&v) {
                        let _ = reply_tx.send(Message::Text(r.to_string().into()));
                        continue;
                    }
                }
                if in_tx.send(v).is_err() {
                    break;
                }
            }
        });
        Ok(WsConn {
            tx,
            rx,
            backlog: VecDeque::new(),
        })
    }

    pub fn send(&self, v: &Value) -> Result<(), BoxError> {
        self.tx
            .send(Message::Text(v.to_string().into()))
            .map_err(|_| "WebSocket closed".into())
    }

    /// A sender usable from another task (keepalives).
    pub fn sender(&self) -> mpsc::UnboundedSender<Message> {
        self.tx.clone()
    }

    /// Wait for the first message (backlog first) for which `f` returns Some.
    pub async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&Value) -> Option<T>,
    ) -> Result<T, BoxError> {
        if let Some(pos) = self.backlog.iter().position(|v| f(v).is_some()) {
            let v = self.backlog.remove(pos).expect("position exists");
            return Ok(f(&v).expect("matched before"));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => return Err(format!("timed out waiting for {what}").into()),
                Ok(None) => return Err(format!("socket closed while waiting for {what}").into()),
                Ok(Some(v)) => v,
            };
            if let Some(t) = f(&v) {
                return Ok(t);
            }
            if self.backlog.len() >= BACKLOG_MAX {
                self.backlog.pop_front();
            }
            self.backlog.push_back(v);
        }
    }

    pub fn close(&self) {
        let _ = self.tx.send(Message::Close(None));
    }
}

impl Drop for WsConn {
    fn drop(&mut self) {
        self.close();
    }
}

/// Only ws:// URLs on 127.0.0.0/8 (or localhost) are allowed.
pub fn check_loopback_url(url: &str) -> Result<(), BoxError> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("only ws:// URLs are supported: {url}"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = host_port
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(host_port);
    let ok = host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(format!("refusing non-loopback server URL {url}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::check_loopback_url;

    #[test]
    fn loopback_only() {
        assert!(check_loopback_url("ws://127.0.0.1:8080/").is_ok());
        assert!(check_loopback_url("ws://127.0.0.2:8188").is_ok());
        assert!(check_loopback_url("ws://localhost:1").is_ok());
        assert!(check_loopback_url("ws://10.0.0.1:8080/").is_err());
        assert!(check_loopback_url("ws://example.com/").is_err());
        assert!(check_loopback_url("wss://127.0.0.1/").is_err());
    }
}
