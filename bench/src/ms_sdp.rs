//! SDP ⇄ mediasoup parameters, for the mediasoup adapter (`mediasoup.rs`).
//!
//! mediasoup speaks no SDP: a client hands it ORTC-style `rtpParameters` and writes the remote
//! SDP for its own PeerConnection from the transport's ICE/DTLS parameters (that is what
//! mediasoup-client does in a browser). The load generator's str0m peers want SDP, so this
//! file does the same job for exactly what they need: Opus and VP8 (+ RTX), BUNDLE, rtcp-mux,
//! one SSRC per track. It is not a general SDP library; anything unexpected is an error.
//!
//! - Publisher: [`parse_offer`] reads str0m's sendonly offer, [`producer_rtp_parameters`]
//!   turns each m-section into `produce()` parameters, [`publish_answer`] writes the recvonly
//!   answer from the transport parameters.
//! - Subscriber: [`consumer_offer`] writes a sendonly offer from the transport and the
//!   consumers' `rtpParameters`; [`parse_offer`] reads str0m's answer for its DTLS fingerprint.

use serde_json::{json, Map, Value};

use crate::peer::BoxError;

/// Header extensions passed through to mediasoup.
const EXTENSIONS: &[&str] = &[
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "urn:ietf:params:rtp-hdrext:toffset",
    "urn:3gpp:video-orientation",
];
const TRANSPORT_CC: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// Whether mediasoup runs its bandwidth estimation (transport-cc), as Huddle does for its
/// players and mediasoup-client does in a browser: on unless `MEDIASOUP_BWE=0`. The adapter
/// (`bench/mediasoup/server.js`) reads the same variable for its consumers.
pub fn mediasoup_bwe() -> bool {
    std::env::var("MEDIASOUP_BWE").map_or(true, |v| v != "0")
}

/// One m-section as far as the adapter needs it.
#[derive(Debug, Default, Clone)]
pub struct Section {
    pub kind: String,
    pub mid: String,
    /// `a=rtpmap`: (payload type, "name/clock[/channels]").
    pub rtpmaps: Vec<(u8, String)>,
    pub fmtps: Vec<(u8, String)>,
    /// `a=rtcp-fb`: (payload type, "type[ parameter]").
    pub feedback: Vec<(u8, String)>,
    pub extmaps: Vec<(u8, String)>,
    /// First `a=ssrc` of the section and the RTX one from `a=ssrc-group:FID`.
    pub ssrc: Option<u32>,
    pub rtx_ssrc: Option<u32>,
    pub cname: Option<String>,
}

/// The parts of a str0m offer or answer the adapter reads.
#[derive(Debug, Default, Clone)]
pub struct ParsedSdp {
    /// sha-256 fingerprint ("AB:CD:…").
    pub fingerprint: String,
    /// `a=setup` value (actpass / active / passive).
    pub setup: String,
    pub sections: Vec<Section>,
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.strip_prefix("a=")?
        .strip_prefix(name)?
        .strip_prefix(':')
}

/// `"96 VP8/90000"` → (96, "VP8/90000").
fn pt_and_rest(v: &str) -> Option<(u8, String)> {
    let (pt, rest) = v.split_once(' ')?;
    Some((pt.parse().ok()?, rest.trim().to_string()))
}

pub fn parse_offer(sdp: &str) -> Result<ParsedSdp, BoxError> {
    let mut out = ParsedSdp::default();
    let mut cur: Option<Section> = None;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            out.sections.extend(cur.take());
            let kind = m.split(' ').next().unwrap_or("").to_string();
            cur = Some(Section {
                kind,
                ..Default::default()
            });
            continue;
        }
        if let Some(v) = attr(line, "fingerprint") {
            if let Some(hex) = v.strip_prefix("sha-256 ") {
                out.fingerprint = hex.trim().to_string();
            }
        } else if let Some(v) = attr(line, "setup") {
            out.setup = v.to_string();
        }
        let Some(s) = cur.as_mut() else { continue };
        if let Some(v) = attr(line, "mid") {
            s.mid = v.to_string();
        } else if let Some(v) = attr(line, "rtpmap").and_then(pt_and_rest) {
            s.rtpmaps.push(v);
        } else if let Some(v) = attr(line, "fmtp").and_then(pt_and_rest) {
            s.fmtps.push(v);
        } else if let Some(v) = attr(line, "rtcp-fb").and_then(pt_and_rest) {
            s.feedback.push(v);
        } else if let Some(v) = attr(line, "extmap").and_then(pt_and_rest) {
            s.extmaps.push(v);
        } else if let Some(v) = attr(line, "ssrc-group") {
            // FID <primary> <rtx>
            let ids: Vec<u32> = v
                .split(' ')
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.starts_with("FID ") && ids.len() == 2 {
                s.ssrc = Some(ids[0]);
                s.rtx_ssrc = Some(ids[1]);
            }
        } else if let Some(v) = attr(line, "ssrc") {
            let (id, rest) = v.split_once(' ').unwrap_or((v, ""));
            if let Ok(id) = id.parse::<u32>() {
                s.ssrc.get_or_insert(id);
                if let Some(c) = rest.strip_prefix("cname:") {
                    s.cname.get_or_insert_with(|| c.to_string());
                }
            }
        }
    }
    out.sections.extend(cur);
    if out.fingerprint.is_empty() {
        return Err("SDP has no sha-256 fingerprint".into());
    }
    Ok(out)
}

/// `"minptime=10;useinbandfec=1"` → {"minptime": 10, "useinbandfec": 1}.
fn fmtp_params(s: &str) -> Value {
    let mut m = Map::new();
    for kv in s.split(';').map(str::trim).filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = v
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(v));
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// Feedback mediasoup is not given: REMB always (Huddle does not use it either), transport-cc
/// when its bandwidth estimation is off.
fn is_dropped_feedback(fb: &str, bwe: bool) -> bool {
    fb.starts_with("goog-remb") || (fb.starts_with("transport-cc") && !bwe)
}

/// `produce()` parameters for one m-section of str0m's offer: its Opus or VP8 codec, the RTX
/// codec that repairs it (if offered with an RTX SSRC), the SSRCs, mid and header extensions.
pub fn producer_rtp_parameters(s: &Section, bwe: bool) -> Result<Value, BoxError> {
    let main_name = if s.kind == "audio" { "opus/" } else { "VP8/" };
    let (pt, rtpmap) = s
        .rtpmaps
        .iter()
        .find(|(_, r)| {
            r.to_ascii_lowercase()
                .starts_with(&main_name.to_ascii_lowercase())
        })
        .ok_or_else(|| format!("m={} has no {main_name}", s.kind))?;
    let ssrc = s
        .ssrc
        .ok_or_else(|| format!("m={} has no a=ssrc", s.kind))?;
    let params_of = |pt: u8| {
        s.fmtps
            .iter()
            .find(|(p, _)| *p == pt)
            .map(|(_, f)| fmtp_params(f))
            .unwrap_or_else(|| json!({}))
    };
    let feedback: Vec<Value> = s
        .feedback
        .iter()
        .filter(|(p, fb)| *p == *pt && !is_dropped_feedback(fb, bwe))
        .map(|(_, fb)| {
            let (t, p) = fb.split_once(' ').unwrap_or((fb, ""));
            json!({"type": t, "parameter": p})
        })
        .collect();
    let mut parts = rtpmap.split('/');
    let name = parts.next().unwrap_or_default();
    let clock: u32 = parts.next().unwrap_or("").parse()?;
    let mut codec = json!({
        "mimeType": format!("{}/{name}", s.kind),
        "payloadType": pt,
        "clockRate": clock,
        "parameters": params_of(*pt),
        "rtcpFeedback": feedback,
    });
    if let Some(ch) = parts.next() {
        codec["channels"] = json!(ch.parse::<u32>()?);
    }
    let mut codecs = vec![codec];
    let mut encoding = json!({ "ssrc": ssrc });
    // The RTX payload type whose fmtp says apt=<main pt>.
    let rtx = s.rtpmaps.iter().find(|(p, r)| {
        r.to_ascii_lowercase().starts_with("rtx/")
            && params_of(*p).get("apt") == Some(&json!(*pt as u64))
    });
    if let (Some((rtx_pt, _)), Some(rtx_ssrc)) = (rtx, s.rtx_ssrc) {
        codecs.push(json!({
            "mimeType": format!("{}/rtx", s.kind),
            "payloadType": rtx_pt,
            "clockRate": clock,
            "parameters": {"apt": pt},
            "rtcpFeedback": [],
        }));
        encoding["rtx"] = json!({ "ssrc": rtx_ssrc });
    }
    Ok(json!({
        "mid": s.mid,
        "codecs": codecs,
        "headerExtensions": extensions(s, bwe),
        "encodings": [encoding],
        "rtcp": {"cname": s.cname.clone().unwrap_or_else(|| "bench".into()), "reducedSize": true},
    }))
}

fn extensions(s: &Section, bwe: bool) -> Vec<Value> {
    s.extmaps
        .iter()
        .filter(|(_, uri)| EXTENSIONS.contains(&uri.as_str()) || (uri == TRANSPORT_CC && bwe))
        .map(|(id, uri)| json!({"uri": uri, "id": id}))
        .collect()
}

/// Session part shared by both directions: ICE-lite, credentials, fingerprint, BUNDLE.
fn session(transport: &Value, setup: &str, mids: &[String]) -> Result<String, BoxError> {
    let ice = &transport["iceParameters"];
    let fp = transport["dtlsParameters"]["fingerprints"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["algorithm"] == "sha-256"))
        .and_then(|f| f["value"].as_str())
        .ok_or("transport has no sha-256 fingerprint")?;
    let ufrag = ice["usernameFragment"].as_str().ok_or("no ICE ufrag")?;
    let pwd = ice["password"].as_str().ok_or("no ICE password")?;
    Ok(format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n\
         a=group:BUNDLE {}\r\na=msid-semantic: WMS *\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n\
         a=fingerprint:sha-256 {fp}\r\na=setup:{setup}\r\n",
        mids.join(" ")
    ))
}

/// `a=candidate` lines (with the `c=` line) of mediasoup's candidates.
fn candidates(transport: &Value) -> Result<String, BoxError> {
    let list = transport["iceCandidates"]
        .as_array()
        .ok_or("transport has no candidates")?;
    let mut out = String::from("c=IN IP4 127.0.0.1\r\n");
    for c in list {
        out += &format!(
            "a=candidate:{} 1 {} {} {} {} typ {}\r\n",
            c["foundation"].as_str().unwrap_or("0"),
            c["protocol"].as_str().unwrap_or("udp"),
            c["priority"],
            c["ip"].as_str().ok_or("candidate without ip")?,
            c["port"],
            c["type"].as_str().unwrap_or("host"),
        );
    }
    Ok(out + "a=end-of-candidates\r\n")
}

/// Lines describing `codecs` (mediasoup `RtpCodecParameters`) for an m-section.
fn codec_lines(codecs: &[Value]) -> (Vec<String>, String) {
    let mut pts = Vec::new();
    let mut out = String::new();
    for c in codecs {
        let pt = c["payloadType"].to_string();
        let name = c["mimeType"]
            .as_str()
            .unwrap_or("")
            .split('/')
            .nth(1)
            .unwrap_or("");
        out += &format!("a=rtpmap:{pt} {name}/{}", c["clockRate"]);
        if let Some(ch) = c["channels"].as_u64() {
            out += &format!("/{ch}");
        }
        out += "\r\n";
        if let Some(p) = c["parameters"].as_object().filter(|p| !p.is_empty()) {
            let kv: Vec<String> = p
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    v => format!("{k}={v}"),
                })
                .collect();
            out += &format!("a=fmtp:{pt} {}\r\n", kv.join(";"));
        }
        for fb in c["rtcpFeedback"].as_array().into_iter().flatten() {
            let param = fb["parameter"].as_str().unwrap_or("");
            let sep = if param.is_empty() { "" } else { " " };
            out += &format!(
                "a=rtcp-fb:{pt} {}{sep}{param}\r\n",
                fb["type"].as_str().unwrap_or("")
            );
        }
        pts.push(pt);
    }
    (pts, out)
}

fn ext_lines(exts: &[Value]) -> String {
    exts.iter()
        .map(|e| {
            format!(
                "a=extmap:{} {}\r\n",
                e["id"],
                e["uri"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// The recvonly answer to str0m's offer: mediasoup is ICE-lite and the DTLS server (passive).
/// `accepted` holds, per offered m-section, the parameters given to `produce()`.
pub fn publish_answer(
    offer: &ParsedSdp,
    transport: &Value,
    accepted: &[Value],
) -> Result<String, BoxError> {
    let mids: Vec<String> = offer.sections.iter().map(|s| s.mid.clone()).collect();
    let mut sdp = session(transport, "passive", &mids)?;
    for (s, params) in offer.sections.iter().zip(accepted) {
        let codecs = params["codecs"].as_array().cloned().unwrap_or_default();
        let (pts, lines) = codec_lines(&codecs);
        sdp += &format!("m={} 9 UDP/TLS/RTP/SAVPF {}\r\n", s.kind, pts.join(" "));
        sdp += &candidates(transport)?;
        sdp += &format!(
            "a=mid:{}\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n",
            s.mid
        );
        sdp += &lines;
        sdp += &ext_lines(params["headerExtensions"].as_array().map_or(&[], |v| v));
    }
    Ok(sdp)
}

/// The sendonly offer for a subscriber: one m-section per consumer (`consume()` replies:
/// {kind, rtpParameters}), DTLS role left to the answerer (actpass).
pub fn consumer_offer(transport: &Value, consumers: &[Value]) -> Result<String, BoxError> {
    let mids: Vec<String> = consumers
        .iter()
        .map(|c| c["rtpParameters"]["mid"].as_str().unwrap_or("").to_string())
        .collect();
    let mut sdp = session(transport, "actpass", &mids)?;
    for (c, mid) in consumers.iter().zip(&mids) {
        let p = &c["rtpParameters"];
        let kind = c["kind"].as_str().ok_or("consumer without kind")?;
        let codecs = p["codecs"].as_array().cloned().unwrap_or_default();
        let (pts, lines) = codec_lines(&codecs);
        let enc = &p["encodings"][0];
        let ssrc = enc["ssrc"].as_u64().ok_or("consumer without ssrc")?;
        let cname = p["rtcp"]["cname"].as_str().unwrap_or("mediasoup");
        sdp += &format!("m={kind} 9 UDP/TLS/RTP/SAVPF {}\r\n", pts.join(" "));
        sdp += &candidates(transport)?;
        sdp += &format!("a=mid:{mid}\r\na=sendonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n");
        sdp += &lines;
        sdp += &ext_lines(p["headerExtensions"].as_array().map_or(&[], |v| v));
        sdp += &format!("a=msid:ms-{mid} track-{mid}\r\n");
        if let Some(rtx) = enc["rtx"]["ssrc"].as_u64() {
            sdp += &format!("a=ssrc-group:FID {ssrc} {rtx}\r\na=ssrc:{rtx} cname:{cname}\r\n");
        }
        sdp += &format!("a=ssrc:{ssrc} cname:{cname}\r\n");
    }
    Ok(sdp)
}

/// mediasoup's `dtlsParameters` for the str0m side of `sdp` (its offer or answer). Our answers
/// say `passive` for mediasoup, so str0m is then the DTLS client; in str0m's own answer
/// `active` means the same.
pub fn client_dtls(sdp: &ParsedSdp) -> Value {
    let role = if sdp.setup == "passive" {
        "server"
    } else {
        "client"
    };
    json!({"role": role, "fingerprints": [{"algorithm": "sha-256", "value": sdp.fingerprint}]})
}

#[cfg(test)]
mod tests {
    //! Round trips through real str0m peers (the load generator's own `Peer`): what the adapter
    //! writes must be accepted by str0m, and what str0m writes must give valid parameters.
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::peer::{Peer, Role};

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// What `createWebRtcTransport` returns, in mediasoup 3.8's shape.
    fn transport() -> Value {
        json!({
            "transportId": "t1",
            "iceParameters": {"usernameFragment": "msufrag1", "password": "mspassword0123456789abcd", "iceLite": true},
            "iceCandidates": [{"foundation": "udpcandidate", "priority": 1076302079u64, "ip": "127.0.0.1",
                               "protocol": "udp", "port": 40123, "type": "host"}],
            "dtlsParameters": {"role": "auto", "fingerprints": [
                {"algorithm": "sha-1", "value": "AA:BB"},
                {"algorithm": "sha-256", "value": (0..32).map(|i| format!("{i:02X}")).collect::<Vec<_>>().join(":")}]},
        })
    }

    #[tokio::test]
    async fn publisher_offer_to_producers_and_answer_accepted_by_str0m() {
        let mut peer = Peer::bind(LO, "pub").await.unwrap();
        let offer = peer
            .create_offer(Role::Publisher {
                audio: true,
                video: true,
            })
            .unwrap();
        let parsed = parse_offer(&offer).unwrap();
        assert_eq!(parsed.setup, "actpass");
        assert_eq!(parsed.fingerprint.split(':').count(), 32);
        let kinds: Vec<&str> = parsed.sections.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["audio", "video"]);

        let params: Vec<Value> = parsed
            .sections
            .iter()
            .map(|s| producer_rtp_parameters(s, false).unwrap())
            .collect();
        let audio = &params[0];
        assert_eq!(audio["codecs"][0]["mimeType"], "audio/opus");
        assert_eq!(audio["codecs"][0]["channels"], 2);
        assert_eq!(audio["mid"], json!(parsed.sections[0].mid));
        let video = &params[1];
        assert_eq!(video["codecs"][0]["mimeType"], "video/VP8");
        assert_eq!(video["codecs"][0]["clockRate"], 90000);
        assert_eq!(
            video["encodings"][0]["ssrc"],
            json!(parsed.sections[1].ssrc.unwrap())
        );
        // Without bandwidth estimation no transport-cc feedback or extension reaches
        // mediasoup; with it, both do (on the video codec and both m-sections); REMB never.
        let text = serde_json::to_string(&params).unwrap();
        assert!(!text.contains("transport-cc") && !text.contains("transport-wide-cc"));
        let with_bwe: Vec<Value> = parsed
            .sections
            .iter()
            .map(|s| producer_rtp_parameters(s, true).unwrap())
            .collect();
        for p in &with_bwe {
            let uris: Vec<&str> = p["headerExtensions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["uri"].as_str().unwrap())
                .collect();
            assert!(uris.contains(&TRANSPORT_CC), "{uris:?}");
        }
        assert!(with_bwe[1]["codecs"][0]["rtcpFeedback"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["type"] == "transport-cc"));
        assert!(!serde_json::to_string(&with_bwe)
            .unwrap()
            .contains("goog-remb"));
        if let Some(rtx) = video["codecs"].as_array().unwrap().get(1) {
            assert_eq!(rtx["mimeType"], "video/rtx");
            assert_eq!(rtx["parameters"]["apt"], video["codecs"][0]["payloadType"]);
            assert!(video["encodings"][0]["rtx"]["ssrc"].as_u64().is_some());
        }

        let answer = publish_answer(&parsed, &transport(), &params).unwrap();
        assert!(answer.contains("a=ice-lite") && answer.contains("a=setup:passive"));
        assert!(answer.contains("127.0.0.1 40123 typ host"));
        peer.accept_answer(&answer)
            .expect("str0m accepts the publish answer");
        assert_eq!(client_dtls(&parsed)["role"], "client");
    }

    #[tokio::test]
    async fn consumer_offer_accepted_by_str0m_and_its_answer_parsed() {
        let consumers = [
            json!({"consumerId": "c1", "kind": "audio", "rtpParameters": {
                "mid": "0",
                "codecs": [{"mimeType": "audio/opus", "payloadType": 100, "clockRate": 48000, "channels": 2,
                            "parameters": {"minptime": 10, "useinbandfec": 1}, "rtcpFeedback": []}],
                "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1}],
                "encodings": [{"ssrc": 11111111}],
                "rtcp": {"cname": "abc", "reducedSize": true}}}),
            json!({"consumerId": "c2", "kind": "video", "rtpParameters": {
                "mid": "1",
                "codecs": [{"mimeType": "video/VP8", "payloadType": 101, "clockRate": 90000, "parameters": {},
                            "rtcpFeedback": [{"type": "nack", "parameter": ""}, {"type": "nack", "parameter": "pli"}]},
                           {"mimeType": "video/rtx", "payloadType": 102, "clockRate": 90000, "parameters": {"apt": 101},
                            "rtcpFeedback": []}],
                "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 1},
                                     {"uri": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "id": 4}],
                "encodings": [{"ssrc": 22222222, "rtx": {"ssrc": 33333333}}],
                "rtcp": {"cname": "abc", "reducedSize": true}}}),
        ];
        let offer = consumer_offer(&transport(), &consumers).unwrap();
        assert!(offer.contains("a=ssrc-group:FID 22222222 33333333"));
        assert!(!offer.contains("a=fmtp:101 "), "no empty fmtp");
        assert!(offer.contains("a=fmtp:102 apt=101"));
        let mut peer = Peer::bind(LO, "sub").await.unwrap();
        let answer = peer
            .accept_offer(&offer)
            .expect("str0m accepts the consumer offer");
        let parsed = parse_offer(&answer).unwrap();
        let mids: Vec<&str> = parsed.sections.iter().map(|s| s.mid.as_str()).collect();
        assert_eq!(mids, ["0", "1"]);
        assert!(answer.contains("a=recvonly"));
        // str0m answers an actpass offer as DTLS client or server; the role follows it.
        let role = client_dtls(&parsed)["role"].clone();
        assert_eq!(
            role,
            if parsed.setup == "passive" {
                "server"
            } else {
                "client"
            }
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_offer("not sdp at all").is_err());
        let s = Section {
            kind: "video".into(),
            ..Default::default()
        };
        assert!(producer_rtp_parameters(&s, false).is_err());
        assert!(consumer_offer(&json!({}), &[]).is_err());
    }
}
