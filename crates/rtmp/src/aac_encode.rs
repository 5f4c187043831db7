//! Opus → AAC-LC for RTMP players.
//!
//! Opus packets are decoded here (audiopus, the libopus the workspace already links) to 48 kHz
//! stereo PCM, and Debian's `ffmpeg` encodes the PCM to AAC-LC in a subprocess (PCM on its
//! stdin, ADTS on its stdout). Why ffmpeg and not a crate: the only maintained AAC encoder
//! crate (`fdk-aac`) wraps Fraunhofer's FDK library, whose licence Debian and the FSF count as
//! non-free (it would bar the Debian package), and pure-Rust AAC crates only decode. The
//! server already depends on ffmpeg (room mixes), its native `aac` encoder is LGPL, and a
//! subprocess keeps an encoder crash away from the server. One encoder serves all players of
//! a stream ([`crate::LiveFeed`]).

use std::path::PathBuf;
use std::process::Stdio;

use audiopus::coder::Decoder;
use audiopus::{Channels, SampleRate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// PCM rate fed to the encoder (Opus always decodes to it).
pub const PCM_RATE: u32 = 48_000;
/// Samples per channel in one AAC-LC frame.
pub const AAC_FRAME_SAMPLES: u32 = 1024;
/// Longest Opus frame: 120 ms at 48 kHz.
const MAX_OPUS_SAMPLES: usize = 5760;
/// PCM chunks (20 ms each) queued for the encoder's stdin; beyond that audio is dropped
/// rather than holding up the feed.
const PCM_QUEUE: usize = 64;

/// What the encoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AacOut {
    /// The AudioSpecificConfig of the stream (sent once, before the first frame).
    Config(Vec<u8>),
    /// One raw AAC frame (ADTS header removed), [`AAC_FRAME_SAMPLES`] samples long.
    Frame(Vec<u8>),
}

/// Decodes Opus packets to interleaved stereo PCM.
pub struct OpusToPcm {
    decoder: Decoder,
    buf: Vec<i16>,
    /// Samples per channel of the last packet: the length concealment produces.
    last_samples: usize,
}

impl OpusToPcm {
    pub fn new() -> Result<OpusToPcm, String> {
        let decoder = Decoder::new(SampleRate::Hz48000, Channels::Stereo)
            .map_err(|e| format!("opus decoder: {e}"))?;
        Ok(OpusToPcm {
            decoder,
            buf: vec![0; MAX_OPUS_SAMPLES * 2],
            last_samples: 960,
        })
    }

    /// Interleaved stereo samples of one packet (`None`: packet loss concealment for as
    /// long as the last packet).
    pub fn decode(&mut self, packet: Option<&[u8]>) -> Result<&[i16], String> {
        let (input, room) = match packet {
            Some(p) => (
                Some(p.try_into().map_err(|e| format!("opus packet: {e}"))?),
                MAX_OPUS_SAMPLES,
            ),
            // libopus conceals as many samples as the output buffer holds.
            None => (None, self.last_samples),
        };
        let out = (&mut self.buf[..room * 2])
            .try_into()
            .map_err(|e| format!("opus output: {e}"))?;
        let n = self
            .decoder
            .decode(input, out, false)
            .map_err(|e| format!("opus decode: {e}"))?;
        if packet.is_some() && n > 0 {
            self.last_samples = n;
        }
        Ok(&self.buf[..n * 2])
    }
}

/// A running ffmpeg AAC encoder: PCM in with [`AacEncoder::push_pcm`], [`AacOut`] from
/// [`AacEncoder::output`]. Dropping it kills ffmpeg.
pub struct AacEncoder {
    pcm: mpsc::Sender<Vec<u8>>,
    out: mpsc::Receiver<AacOut>,
    _child: Child,
    dropped_chunks: u64,
}

impl AacEncoder {
    /// Starts `ffmpeg` (the given binary) encoding 48 kHz stereo s16le to AAC-LC at
    /// `bitrate` bit/s. Must be called inside a tokio runtime.
    pub fn spawn(ffmpeg: &PathBuf, bitrate: u32) -> Result<AacEncoder, String> {
        let mut child = Command::new(ffmpeg)
            .args(["-hide_banner", "-loglevel", "error"])
            .args(["-f", "s16le", "-ar", "48000", "-ac", "2", "-i", "pipe:0"])
            .args(["-c:a", "aac", "-b:a", &bitrate.to_string()])
            // One write per frame: no muxer buffering between the encoder and us.
            .args(["-flush_packets", "1", "-f", "adts", "pipe:1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", ffmpeg.display()))?;
        let mut stdin = child.stdin.take().ok_or("ffmpeg stdin")?;
        let mut stdout = child.stdout.take().ok_or("ffmpeg stdout")?;
        let (pcm_tx, mut pcm_rx) = mpsc::channel::<Vec<u8>>(PCM_QUEUE);
        tokio::spawn(async move {
            while let Some(chunk) = pcm_rx.recv().await {
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
        let (out_tx, out_rx) = mpsc::channel(PCM_QUEUE);
        tokio::spawn(async move {
            let mut adts = AdtsReader::default();
            let mut buf = vec![0u8; 16 * 1024];
            let mut sent_config = false;
            loop {
                let n = match stdout.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                adts.feed(&buf[..n]);
                while let Some(frame) = adts.next_frame() {
                    match frame {
                        Ok((config, raw)) => {
                            if !sent_config {
                                sent_config = true;
                                if out_tx.send(AacOut::Config(config)).await.is_err() {
                                    return;
                                }
                            }
                            if out_tx.send(AacOut::Frame(raw)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "AAC encoder output unreadable");
                            return;
                        }
                    }
                }
            }
        });
        Ok(AacEncoder {
            pcm: pcm_tx,
            out: out_rx,
            _child: child,
            dropped_chunks: 0,
        })
    }

    /// Queues interleaved stereo PCM; returns false (and drops it) when the encoder is behind
    /// or gone.
    pub fn push_pcm(&mut self, samples: &[i16]) -> bool {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let ok = self.pcm.try_send(bytes).is_ok();
        if !ok {
            self.dropped_chunks += 1;
        }
        ok
    }

    /// PCM chunks dropped because the encoder was behind.
    pub fn dropped_chunks(&self) -> u64 {
        self.dropped_chunks
    }

    /// The encoder's output, in order; `None` once ffmpeg has exited.
    pub async fn output(&mut self) -> Option<AacOut> {
        self.out.recv().await
    }
}

/// Splits an ADTS byte stream into raw AAC frames.
#[derive(Debug, Default)]
pub struct AdtsReader {
    buf: Vec<u8>,
}

/// The AudioSpecificConfig and the raw frame of one ADTS frame.
type AdtsFrame = (Vec<u8>, Vec<u8>);

impl AdtsReader {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` if more bytes are needed, `Err` if the stream is not ADTS.
    pub fn next_frame(&mut self) -> Option<Result<AdtsFrame, String>> {
        let b = &self.buf;
        if b.len() < 7 {
            return None;
        }
        if b[0] != 0xFF || b[1] & 0xF6 != 0xF0 {
            return Some(Err("no ADTS sync word".into()));
        }
        let header_len = if b[1] & 1 == 1 { 7 } else { 9 };
        let frame_len =
            (usize::from(b[3] & 0x03) << 11) | (usize::from(b[4]) << 3) | usize::from(b[5] >> 5);
        if frame_len < header_len {
            return Some(Err(format!("ADTS frame length {frame_len}")));
        }
        if b.len() < frame_len {
            return None;
        }
        let object_type = (b[2] >> 6) + 1;
        let freq_index = (b[2] >> 2) & 0x0F;
        let channels = ((b[2] & 1) << 2) | (b[3] >> 6);
        let config = vec![
            (object_type << 3) | (freq_index >> 1),
            ((freq_index & 1) << 7) | (channels << 3),
        ];
        let raw = b[header_len..frame_len].to_vec();
        self.buf.drain(..frame_len);
        Some(Ok((config, raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ADTS header for AAC-LC, 48 kHz (index 3), stereo, no CRC, with `payload` bytes.
    fn adts(payload: &[u8]) -> Vec<u8> {
        let len = payload.len() + 7;
        let mut v = vec![
            0xFF,
            0xF1,
            (1 << 6) | (3 << 2),
            (2 << 6) | ((len >> 11) as u8 & 3),
            (len >> 3) as u8,
            ((len as u8 & 7) << 5) | 0x1F,
            0xFC,
        ];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn adts_frames_split_across_reads() {
        let mut stream = adts(&[1, 2, 3]);
        stream.extend(adts(&[4; 300]));
        let mut r = AdtsReader::default();
        r.feed(&stream[..5]);
        assert!(r.next_frame().is_none());
        r.feed(&stream[5..12]);
        let (config, raw) = r.next_frame().unwrap().unwrap();
        // AAC-LC (2), 48 kHz (3), 2 channels: 0x11 0x90.
        assert_eq!(config, vec![0x11, 0x90]);
        assert_eq!(raw, vec![1, 2, 3]);
        assert!(r.next_frame().is_none());
        r.feed(&stream[12..]);
        assert_eq!(r.next_frame().unwrap().unwrap().1, vec![4; 300]);
        assert!(r.next_frame().is_none());
    }

    #[test]
    fn garbage_is_an_error() {
        let mut r = AdtsReader::default();
        r.feed(&[0x12; 10]);
        assert!(r.next_frame().unwrap().is_err());
    }

    #[test]
    fn opus_round_trip_to_pcm() {
        let enc = audiopus::coder::Encoder::new(
            SampleRate::Hz48000,
            Channels::Stereo,
            audiopus::Application::Audio,
        )
        .unwrap();
        let pcm: Vec<i16> = (0..960 * 2)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let mut packet = vec![0u8; 1500];
        let n = enc.encode(&pcm, &mut packet).unwrap();
        let mut dec = OpusToPcm::new().unwrap();
        assert_eq!(dec.decode(Some(&packet[..n])).unwrap().len(), 960 * 2);
        assert_eq!(dec.decode(None).unwrap().len(), 960 * 2);
        assert!(dec.decode(Some(&[0xff; 3])).is_err());
    }
}
