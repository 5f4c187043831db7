//! mediasoup adapter: talks to `bench/mediasoup/server.js` (a small WebSocket JSON front for
//! mediasoup 3.8.4; requests `{id, method, data}`, replies `{id, ok, data|error}`).
//!
//! Publisher: createTransport, connect (str0m's DTLS fingerprint from its offer), produce one
//! producer per m-section, answer str0m with SDP written from the transport parameters.
//! Subscriber: createTransport, consume every producer of the publisher (paused), offer str0m
//! SDP written from the consumers' parameters, connect with str0m's answer, resume. Like the
//! Janus adapter, one PeerConnection (one transport) per subscription. SDP work: `ms_sdp.rs`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::ms_sdp;
use crate::peer::BoxError;
use crate::ws::WsConn;

const T: Duration = Duration::from_secs(15);

pub struct MsClient {
    ws: WsConn,
    next_id: u64,
}

/// A subscription between its offer and its start: what `subscribe_start` needs.
pub struct PendingSubscription {
    transport_id: String,
    consumer_ids: Vec<String>,
}

impl MsClient {
    pub async fn connect(url: &str) -> Result<MsClient, BoxError> {
        Ok(MsClient {
            ws: WsConn::connect(url, None, None).await?,
            next_id: 0,
        })
    }

    async fn call(&mut self, method: &str, data: Value) -> Result<Value, BoxError> {
        self.next_id += 1;
        let id = self.next_id;
        self.ws
            .send(&json!({"id": id, "method": method, "data": data}))?;
        let reply = self
            .ws
            .wait_for(T, method, |v| (v["id"] == json!(id)).then(|| v.clone()))
            .await?;
        if reply["ok"] != json!(true) {
            return Err(format!("mediasoup {method}: {}", reply["error"]).into());
        }
        Ok(reply["data"].clone())
    }

    fn id_of(v: &Value, key: &str) -> Result<String, BoxError> {
        v[key]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("reply without {key}: {v}").into())
    }

    /// Publish str0m's `offer` in `room`; returns (producer ids, answer SDP).
    pub async fn publish(
        &mut self,
        room: u64,
        offer: &str,
    ) -> Result<(Vec<String>, String), BoxError> {
        let parsed = ms_sdp::parse_offer(offer)?;
        let transport = self.call("createTransport", json!({"room": room})).await?;
        let tid = Self::id_of(&transport, "transportId")?;
        self.call(
            "connect",
            json!({"transportId": tid, "dtlsParameters": ms_sdp::client_dtls(&parsed)}),
        )
        .await?;
        let mut producers = Vec::new();
        let mut accepted = Vec::new();
        for s in &parsed.sections {
            let params = ms_sdp::producer_rtp_parameters(s, ms_sdp::mediasoup_bwe())?;
            let r = self
                .call(
                    "produce",
                    json!({"transportId": tid, "kind": s.kind, "rtpParameters": params}),
                )
                .await?;
            producers.push(Self::id_of(&r, "producerId")?);
            accepted.push(params);
        }
        let answer = ms_sdp::publish_answer(&parsed, &transport, &accepted)?;
        tracing::debug!(%offer, %answer, ?accepted, "mediasoup publish");
        Ok((producers, answer))
    }

    /// Consume `producers` (paused) on a new transport; returns the offer SDP for str0m.
    pub async fn subscribe_offer(
        &mut self,
        room: u64,
        producers: &[String],
    ) -> Result<(PendingSubscription, String), BoxError> {
        let transport = self.call("createTransport", json!({"room": room})).await?;
        let tid = Self::id_of(&transport, "transportId")?;
        let mut consumers = Vec::new();
        for p in producers {
            consumers.push(
                self.call("consume", json!({"transportId": tid, "producerId": p}))
                    .await?,
            );
        }
        let offer = ms_sdp::consumer_offer(&transport, &consumers)?;
        tracing::debug!(%offer, ?consumers, "mediasoup subscribe");
        let consumer_ids = consumers
            .iter()
            .map(|c| Self::id_of(c, "consumerId"))
            .collect::<Result<_, _>>()?;
        Ok((
            PendingSubscription {
                transport_id: tid,
                consumer_ids,
            },
            offer,
        ))
    }

    /// Connect the transport with str0m's `answer` and resume the consumers.
    pub async fn subscribe_start(
        &mut self,
        pending: PendingSubscription,
        answer: &str,
    ) -> Result<(), BoxError> {
        let parsed = ms_sdp::parse_offer(answer)?;
        self.call(
            "connect",
            json!({"transportId": pending.transport_id, "dtlsParameters": ms_sdp::client_dtls(&parsed)}),
        )
        .await?;
        for c in pending.consumer_ids {
            self.call("resume", json!({"consumerId": c})).await?;
        }
        Ok(())
    }

    /// Close the room's router (best effort; closes every transport in it).
    pub async fn close_room(&mut self, room: u64) {
        let _ = self.call("closeRoom", json!({"room": room})).await;
    }

    /// Close the socket; the adapter closes every transport this connection created.
    pub fn close(self) {
        self.ws.close();
    }
}
