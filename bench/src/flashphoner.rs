//! Huddle adapter: the Flashphoner Web SDK JSON protocol over WebSocket
//! (connection → getUserData; sendData join → DataStatusEvent; publishStream → setRemoteSDP →
//! notifyStreamStatusEvent PUBLISHING; playStream → setRemoteSDP → PLAYING).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde_json::{json, Value};

use crate::peer::BoxError;
use crate::ws::WsConn;

const T: Duration = Duration::from_secs(15);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn new_id(prefix: &str) -> String {
    let n = NEXT_ID.fetch_add(1, Relaxed);
    format!("{prefix}-{n:08x}-{:04x}", std::process::id() & 0xffff)
}

fn frame(message: &str, payload: Value) -> Value {
    json!({"message": message, "data": [payload]})
}

/// Answer the server's application ping.
fn auto_pong(v: &Value) -> Option<Value> {
    (v["message"] == "ping").then(|| json!({"message": "pong", "data": [null]}))
}

pub struct FpClient {
    ws: WsConn,
    pub login: String,
    room: Option<String>,
    /// (mediaSessionId, stream name, published) of every stream this client started.
    streams: Vec<(String, String, bool)>,
}

impl FpClient {
    /// Open the socket, send `connection`, wait for `getUserData`.
    pub async fn connect(url: &str, login: &str) -> Result<FpClient, BoxError> {
        let ws = WsConn::connect(url, None, Some(auto_pong)).await?;
        let mut c = FpClient {
            ws,
            login: login.to_string(),
            room: None,
            streams: Vec::new(),
        };
        c.ws.send(&frame(
            "connection",
            json!({"appKey": "roomApp", "mediaProviders": ["WebRTC"], "clientVersion": "2.0",
                   "clientOSVersion": "huddle-bench", "clientBrowserVersion": "huddle-bench",
                   "msePacketizationVersion": 2, "custom": {"login": login}}),
        ))?;
        c.ws.wait_for(T, "getUserData", |v| {
            (v["message"] == "getUserData").then_some(())
        })
        .await?;
        Ok(c)
    }

    /// `sendData` join; waits for the DataStatusEvent.
    pub async fn join(&mut self, room: &str) -> Result<(), BoxError> {
        let op = new_id("op");
        self.ws.send(&frame(
            "sendData",
            json!({"operationId": op, "payload": {"command": "join", "options": {"name": room}}}),
        ))?;
        let status = self
            .ws
            .wait_for(T, "join DataStatusEvent", |v| {
                let d = &v["data"][0];
                (v["message"] == "DataStatusEvent" && d["operationId"] == op.as_str())
                    .then(|| d.clone())
            })
            .await?;
        if status["status"] != "ACCEPTED" {
            return Err(format!("join {room} failed: {status}").into());
        }
        self.room = Some(room.to_string());
        Ok(())
    }

    /// Fields shared by publishStream and playStream (`published` tells them apart).
    fn stream_msg(published: bool, msid: &str, name: &str, room: &str, sdp: &str) -> Value {
        json!({"mediaSessionId": msid, "name": name, "published": published,
               "hasVideo": true, "hasAudio": true, "status": "PENDING", "record": false,
               "mediaProvider": "WebRTC", "sdp": sdp, "custom": {"name": room},
               "bitrate": 0, "minBitrate": 0, "maxBitrate": 0})
    }

    async fn wait_answer(&mut self, msid: &str) -> Result<String, BoxError> {
        let r = self
            .ws
            .wait_for(T, "setRemoteSDP", |v| {
                let d = &v["data"];
                if v["message"] == "setRemoteSDP" && d[0] == msid {
                    return Some(Ok(d[1].as_str().unwrap_or("").to_string()));
                }
                if v["message"] == "notifyStreamStatusEvent"
                    && d[0]["mediaSessionId"] == msid
                    && d[0]["status"] == "FAILED"
                {
                    return Some(Err(format!("stream {msid} FAILED: {}", d[0]["info"])));
                }
                None
            })
            .await?;
        Ok(r?)
    }

    /// `publishStream` with our offer; returns (mediaSessionId, stream name, answer SDP).
    pub async fn publish(
        &mut self,
        room: &str,
        offer: &str,
        audio: bool,
        video: bool,
    ) -> Result<(String, String, String), BoxError> {
        let msid = new_id("pub");
        let name = format!("{room}-{}-{}", self.login, &msid[msid.len() - 8..]);
        let mut m = Self::stream_msg(true, &msid, &name, room, offer);
        m["hasAudio"] = json!(audio);
        m["hasVideo"] = json!(video);
        self.ws.send(&frame("publishStream", m))?;
        self.streams.push((msid.clone(), name.clone(), true));
        let answer = self.wait_answer(&msid).await?;
        Ok((msid, name, answer))
    }

    /// `playStream` with our recvonly offer; returns (mediaSessionId, answer SDP).
    pub async fn play(
        &mut self,
        room: &str,
        name: &str,
        offer: &str,
    ) -> Result<(String, String), BoxError> {
        let msid = new_id("play");
        let m = Self::stream_msg(false, &msid, name, room, offer);
        self.ws.send(&frame("playStream", m))?;
        self.streams.push((msid.clone(), name.to_string(), false));
        let answer = self.wait_answer(&msid).await?;
        Ok((msid, answer))
    }

    /// Wait for `notifyStreamStatusEvent` with `status` (e.g. PUBLISHING) for `msid`.
    pub async fn wait_status(
        &mut self,
        msid: &str,
        status: &str,
        timeout: Duration,
    ) -> Result<(), BoxError> {
        let r = self
            .ws
            .wait_for(timeout, status, |v| {
                let d = &v["data"][0];
                if v["message"] != "notifyStreamStatusEvent" || d["mediaSessionId"] != msid {
                    return None;
                }
                if d["status"] == status {
                    Some(Ok(()))
                } else if d["status"] == "FAILED" {
                    Some(Err(format!("stream {msid} FAILED: {}", d["info"])))
                } else {
                    None
                }
            })
            .await?;
        Ok(r?)
    }

    /// Leave cleanly, as the SDK does: `leave` (wait for its DataStatusEvent, bounded), then
    /// unPublishStream / stopStream for our streams, then close the socket. Without this the
    /// server keeps the participant for its grace period.
    pub async fn close(mut self) {
        if let Some(room) = self.room.take() {
            let op = new_id("op");
            let _ = self.ws.send(&frame(
                "sendData",
                json!({"operationId": op, "payload": {"command": "leave", "options": {"name": room}}}),
            ));
            let _ = self
                .ws
                .wait_for(Duration::from_secs(2), "leave", |v| {
                    (v["message"] == "DataStatusEvent"
                        && v["data"][0]["operationId"] == op.as_str())
                    .then_some(())
                })
                .await;
        }
        for (msid, name, published) in std::mem::take(&mut self.streams) {
            let (message, status) = if published {
                ("unPublishStream", "PUBLISHING")
            } else {
                ("stopStream", "PLAYING")
            };
            let _ = self.ws.send(&frame(
                message,
                json!({"mediaSessionId": msid, "name": name, "published": published,
                       "hasVideo": true, "hasAudio": true, "status": status, "record": false}),
            ));
        }
        // Give the writer task a moment to flush before the close frame.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.ws.close();
    }
}
