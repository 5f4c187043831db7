//! Janus VideoRoom adapter (Janus WebSocket API, subprotocol `janus-protocol`).
//!
//! Publisher: create session, attach `janus.plugin.videoroom`, `joinandconfigure` as publisher
//! with the str0m offer, apply Janus's answer. Subscriber: attach another handle, `join` as
//! subscriber with `streams:[{feed}]`; Janus sends the offer, str0m answers with `start`.

use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::peer::BoxError;
use crate::ws::WsConn;

const T: Duration = Duration::from_secs(15);

pub struct JanusClient {
    ws: WsConn,
    session: u64,
    next_tx: u64,
    keepalive: tokio::task::JoinHandle<()>,
}

fn id_of(v: &Value) -> Option<u64> {
    v.pointer("/data/id").and_then(Value::as_u64)
}

impl JanusClient {
    pub async fn connect(url: &str) -> Result<JanusClient, BoxError> {
        let ws = WsConn::connect(url, Some("janus-protocol"), None).await?;
        let mut c = JanusClient {
            ws,
            session: 0,
            next_tx: 0,
            keepalive: tokio::spawn(async {}),
        };
        let r = c.call(json!({"janus": "create"})).await?;
        c.session = id_of(&r).ok_or("create: no session id")?;
        let tx = c.ws.sender();
        let session = c.session;
        c.keepalive = tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                tokio::time::sleep(Duration::from_secs(20)).await;
                n += 1;
                let m = json!({"janus": "keepalive", "session_id": session, "transaction": format!("ka{n}")});
                if tx.send(Message::Text(m.to_string().into())).is_err() {
                    break;
                }
            }
        });
        Ok(c)
    }

    fn tx_id(&mut self) -> String {
        self.next_tx += 1;
        format!("t{}", self.next_tx)
    }

    /// Send a request and wait for its final reply ("success", "event" or "error"; not "ack").
    async fn call(&mut self, mut req: Value) -> Result<Value, BoxError> {
        let tx = self.tx_id();
        req["transaction"] = json!(tx);
        if self.session != 0 {
            req["session_id"] = json!(self.session);
        }
        self.ws.send(&req)?;
        let what = format!("reply to {}", req["janus"]);
        let v = self
            .ws
            .wait_for(T, &what, |v| {
                let kind = v["janus"].as_str().unwrap_or("");
                (v["transaction"].as_str() == Some(tx.as_str()) && kind != "ack").then(|| v.clone())
            })
            .await?;
        if v["janus"] == "error" {
            return Err(format!("janus error: {}", v["error"]).into());
        }
        if let Some(e) = v.pointer("/plugindata/data/error") {
            return Err(format!("videoroom error: {e}").into());
        }
        Ok(v)
    }

    pub async fn attach(&mut self) -> Result<u64, BoxError> {
        let r = self
            .call(json!({"janus": "attach", "plugin": "janus.plugin.videoroom"}))
            .await?;
        id_of(&r).ok_or_else(|| "attach: no handle id".into())
    }

    pub async fn message(
        &mut self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Value, BoxError> {
        let mut m = json!({"janus": "message", "handle_id": handle, "body": body});
        if let Some(j) = jsep {
            m["jsep"] = j;
        }
        self.call(m).await
    }

    /// Tell Janus there are no more candidates (ours are in the SDP).
    pub fn trickle_completed(&mut self, handle: u64) -> Result<(), BoxError> {
        let tx = self.tx_id();
        self.ws.send(
            &json!({"janus": "trickle", "session_id": self.session, "handle_id": handle,
            "transaction": tx, "candidate": {"completed": true}}),
        )
    }

    /// Create a VP8/Opus room. Returns when Janus confirms.
    pub async fn create_room(&mut self, room: u64, publishers: u32) -> Result<(), BoxError> {
        let h = self.attach().await?;
        self.message(
            h,
            json!({"request": "create", "room": room, "publishers": publishers,
                   "bitrate": 4_000_000, "videocodec": "vp8", "audiocodec": "opus",
                   "fir_freq": 0, "notify_joining": false}),
            None,
        )
        .await?;
        Ok(())
    }

    pub async fn destroy_room(&mut self, room: u64) -> Result<(), BoxError> {
        let h = self.attach().await?;
        self.message(h, json!({"request": "destroy", "room": room}), None)
            .await?;
        Ok(())
    }

    /// Join `room` as a publisher with `offer`; returns (feed id, answer SDP).
    pub async fn publish(
        &mut self,
        room: u64,
        display: &str,
        offer: &str,
    ) -> Result<(u64, String), BoxError> {
        let h = self.attach().await?;
        let r = self
            .message(
                h,
                json!({"request": "joinandconfigure", "room": room, "ptype": "publisher",
                       "display": display}),
                Some(json!({"type": "offer", "sdp": offer})),
            )
            .await?;
        let data = r
            .pointer("/plugindata/data")
            .ok_or("publish: no plugindata")?;
        if data["videoroom"] != "joined" {
            return Err(format!("publish: unexpected reply {data}").into());
        }
        let feed = data["id"].as_u64().ok_or("publish: no feed id")?;
        let sdp = r
            .pointer("/jsep/sdp")
            .and_then(Value::as_str)
            .ok_or("publish: no jsep answer")?;
        self.trickle_completed(h)?;
        Ok((feed, sdp.to_string()))
    }

    /// Attach a subscriber handle for `feed`; returns (handle, Janus's offer SDP).
    pub async fn subscribe_offer(
        &mut self,
        room: u64,
        feed: u64,
    ) -> Result<(u64, String), BoxError> {
        let h = self.attach().await?;
        let r = self
            .message(
                h,
                json!({"request": "join", "ptype": "subscriber", "room": room,
                       "streams": [{"feed": feed}]}),
                None,
            )
            .await?;
        let sdp = r
            .pointer("/jsep/sdp")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("subscribe: no jsep offer in {r}"))?;
        Ok((h, sdp.to_string()))
    }

    /// Send our answer with `start`.
    pub async fn subscribe_start(&mut self, handle: u64, answer: &str) -> Result<(), BoxError> {
        self.message(
            handle,
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer})),
        )
        .await?;
        self.trickle_completed(handle)?;
        Ok(())
    }

    /// Destroy the session (best effort) and close the socket.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.call(json!({"janus": "destroy"})),
        )
        .await;
        self.keepalive.abort();
        self.ws.close();
    }
}
