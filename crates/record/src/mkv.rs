//! Streaming Matroska writer: unknown-size Segment, whole Clusters written
//! and flushed one at a time, optional finalize (Duration, Cues, SeekHead,
//! Segment size) on clean close.

use crate::ebml::{self, id};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

/// Milliseconds between 1970-01-01 and 2001-01-01 (the Matroska epoch).
pub const MKV_EPOCH_UNIX_MS: i64 = 978_307_200_000;

/// Start a new cluster once it spans this much time (ms).
pub const CLUSTER_MAX_MS: i64 = 1000;
/// Hard limit so relative block timestamps always fit an i16.
const CLUSTER_HARD_SPAN_MS: i64 = 30_000;
/// Reserved room at the segment start for the SeekHead written on finalize.
const SEEKHEAD_RESERVE: usize = 96;
/// Void that is replaced by the Duration element (ID 2 + size 1 + f64 8).
const DURATION_RESERVE: usize = 11;

#[derive(Debug, Clone)]
pub enum TrackKind {
    Video {
        width: u32,
        height: u32,
    },
    Audio {
        rate: f64,
        channels: u8,
        bit_depth: Option<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct TrackSpec {
    pub number: u8,
    pub kind: TrackKind,
    pub codec_id: &'static str,
    pub codec_private: Option<Vec<u8>>,
    /// Opus: CodecDelay / SeekPreRoll in ns.
    pub opus_delays: Option<(u64, u64)>,
}

struct Block {
    track: u8,
    ts: i64,
    key: bool,
    data: Vec<u8>,
}

struct TrackTime {
    last_ts: i64,
    last_delta: i64,
}

pub struct MkvWriter {
    file: File,
    doc_type: &'static str,
    date_utc_unix_ms: u64,
    /// File offsets (absolute).
    segment_size_pos: u64,
    segment_data_start: u64,
    seekhead_pos: u64,
    duration_pos: u64,
    info_rel: u64,
    tracks_rel: u64,
    end: u64,
    header_written: bool,
    cue_track: u8,
    video_track: Option<u8>,
    cluster: Vec<Block>,
    cluster_min: i64,
    cluster_max: i64,
    cluster_first: i64,
    cues: Vec<(i64, u8, u64)>,
    times: Vec<(u8, TrackTime)>,
}

impl MkvWriter {
    /// Takes an already created (empty) file. Nothing is written until
    /// [`MkvWriter::write_header`].
    pub fn new(file: File, doc_type: &'static str, date_utc_unix_ms: u64) -> Self {
        Self {
            file,
            doc_type,
            date_utc_unix_ms,
            segment_size_pos: 0,
            segment_data_start: 0,
            seekhead_pos: 0,
            duration_pos: 0,
            info_rel: 0,
            tracks_rel: 0,
            end: 0,
            header_written: false,
            cue_track: 1,
            video_track: None,
            cluster: Vec::new(),
            cluster_min: 0,
            cluster_max: 0,
            cluster_first: 0,
            cues: Vec::new(),
            times: Vec::new(),
        }
    }

    pub fn header_written(&self) -> bool {
        self.header_written
    }

    /// Writes EBML header, Segment (unknown size), reserved SeekHead space,
    /// Info and Tracks in one write, then flushes.
    pub fn write_header(&mut self, tracks: &[TrackSpec]) -> io::Result<()> {
        if self.header_written {
            return Ok(());
        }
        let mut out = Vec::with_capacity(512);
        let mut h = Vec::new();
        ebml::put_uint(&mut h, id::EBML_VERSION, 1);
        ebml::put_uint(&mut h, id::EBML_READ_VERSION, 1);
        ebml::put_uint(&mut h, id::EBML_MAX_ID_LENGTH, 4);
        ebml::put_uint(&mut h, id::EBML_MAX_SIZE_LENGTH, 8);
        ebml::put_str(&mut h, id::DOC_TYPE, self.doc_type);
        ebml::put_uint(&mut h, id::DOC_TYPE_VERSION, 4);
        ebml::put_uint(&mut h, id::DOC_TYPE_READ_VERSION, 2);
        ebml::put_master(&mut out, id::EBML, &h);

        ebml::put_id(&mut out, id::SEGMENT);
        self.segment_size_pos = out.len() as u64;
        out.extend_from_slice(&ebml::UNKNOWN_SIZE);
        self.segment_data_start = out.len() as u64;

        self.seekhead_pos = out.len() as u64;
        ebml::put_void(&mut out, SEEKHEAD_RESERVE);

        self.info_rel = out.len() as u64 - self.segment_data_start;
        let mut info = Vec::new();
        ebml::put_uint(&mut info, id::TIMECODE_SCALE, 1_000_000);
        let date_ns = (self.date_utc_unix_ms as i64 - MKV_EPOCH_UNIX_MS).saturating_mul(1_000_000);
        ebml::put_int(&mut info, id::DATE_UTC, date_ns);
        ebml::put_str(&mut info, id::MUXING_APP, "huddle");
        ebml::put_str(&mut info, id::WRITING_APP, "huddle-record");
        let duration_in_info = info.len();
        ebml::put_void(&mut info, DURATION_RESERVE);
        let info_start = out.len();
        ebml::put_master(&mut out, id::INFO, &info);
        let info_header_len = out.len() - info_start - info.len();
        self.duration_pos = (info_start + info_header_len + duration_in_info) as u64;

        self.tracks_rel = out.len() as u64 - self.segment_data_start;
        let mut tr = Vec::new();
        for t in tracks {
            let mut e = Vec::new();
            ebml::put_uint(&mut e, id::TRACK_NUMBER, u64::from(t.number));
            ebml::put_uint(&mut e, id::TRACK_UID, u64::from(t.number));
            let ttype = match t.kind {
                TrackKind::Video { .. } => 1,
                TrackKind::Audio { .. } => 2,
            };
            ebml::put_uint(&mut e, id::TRACK_TYPE, ttype);
            ebml::put_uint(&mut e, id::FLAG_LACING, 0);
            ebml::put_str(&mut e, id::CODEC_ID, t.codec_id);
            if let Some(cp) = &t.codec_private {
                ebml::put_bytes(&mut e, id::CODEC_PRIVATE, cp);
            }
            if let Some((delay, preroll)) = t.opus_delays {
                ebml::put_uint(&mut e, id::CODEC_DELAY, delay);
                ebml::put_uint(&mut e, id::SEEK_PRE_ROLL, preroll);
            }
            match t.kind {
                TrackKind::Video { width, height } => {
                    let mut v = Vec::new();
                    ebml::put_uint(&mut v, id::PIXEL_WIDTH, u64::from(width));
                    ebml::put_uint(&mut v, id::PIXEL_HEIGHT, u64::from(height));
                    ebml::put_master(&mut e, id::VIDEO, &v);
                    if self.video_track.is_none() {
                        self.video_track = Some(t.number);
                    }
                }
                TrackKind::Audio {
                    rate,
                    channels,
                    bit_depth,
                } => {
                    let mut a = Vec::new();
                    ebml::put_float(&mut a, id::SAMPLING_FREQUENCY, rate);
                    ebml::put_uint(&mut a, id::CHANNELS, u64::from(channels));
                    if let Some(bd) = bit_depth {
                        ebml::put_uint(&mut a, id::BIT_DEPTH, u64::from(bd));
                    }
                    ebml::put_master(&mut e, id::AUDIO, &a);
                }
            }
            ebml::put_master(&mut tr, id::TRACK_ENTRY, &e);
        }
        ebml::put_master(&mut out, id::TRACKS, &tr);
        self.cue_track = self
            .video_track
            .or(tracks.first().map(|t| t.number))
            .unwrap_or(1);

        self.file.write_all(&out)?;
        self.file.flush()?;
        self.end = out.len() as u64;
        self.header_written = true;
        Ok(())
    }

    /// Queues one frame; writes the current cluster first when this frame
    /// starts a new one (video key frame, ~1 s elapsed, span limit).
    pub fn add_block(&mut self, track: u8, ts: i64, key: bool, data: Vec<u8>) -> io::Result<()> {
        debug_assert!(self.header_written);
        let is_video_key = key && self.video_track == Some(track);
        if !self.cluster.is_empty() {
            let span = ts.max(self.cluster_max) - ts.min(self.cluster_min);
            if is_video_key
                || ts - self.cluster_first >= CLUSTER_MAX_MS
                || span > CLUSTER_HARD_SPAN_MS
            {
                self.flush_cluster()?;
            }
        }
        if self.cluster.is_empty() {
            self.cluster_min = ts;
            self.cluster_max = ts;
            self.cluster_first = ts;
        } else {
            self.cluster_min = self.cluster_min.min(ts);
            self.cluster_max = self.cluster_max.max(ts);
        }
        match self.times.iter_mut().find(|(t, _)| *t == track) {
            Some((_, tt)) => {
                if ts > tt.last_ts {
                    tt.last_delta = ts - tt.last_ts;
                    tt.last_ts = ts;
                }
            }
            None => self.times.push((
                track,
                TrackTime {
                    last_ts: ts,
                    last_delta: 0,
                },
            )),
        }
        self.cluster.push(Block {
            track,
            ts,
            key,
            data,
        });
        Ok(())
    }

    /// Writes the buffered cluster as one element and flushes it to the OS.
    pub fn flush_cluster(&mut self) -> io::Result<()> {
        if self.cluster.is_empty() {
            return Ok(());
        }
        let base = self.cluster_min;
        let mut body = Vec::with_capacity(self.cluster.iter().map(|b| b.data.len() + 8).sum());
        ebml::put_uint(&mut body, id::TIMECODE, base as u64);
        let mut cue = None;
        for b in &self.cluster {
            let rel = (b.ts - base) as i16;
            ebml::put_id(&mut body, id::SIMPLE_BLOCK);
            ebml::put_size(&mut body, b.data.len() as u64 + 4);
            body.push(0x80 | b.track); // track number as 1-byte vint (< 127)
            body.extend_from_slice(&rel.to_be_bytes());
            body.push(if b.key { 0x80 } else { 0 });
            body.extend_from_slice(&b.data);
            if cue.is_none() && b.key && b.track == self.cue_track {
                cue = Some(b.ts);
            }
        }
        let mut out = Vec::with_capacity(body.len() + 12);
        ebml::put_master(&mut out, id::CLUSTER, &body);
        let cluster_rel = self.end - self.segment_data_start;
        self.file.write_all(&out)?;
        self.file.flush()?;
        self.end += out.len() as u64;
        if let Some(t) = cue {
            self.cues.push((t, self.cue_track, cluster_rel));
        }
        self.cluster.clear();
        Ok(())
    }

    /// Duration in ms: last timestamp plus one frame of the longest track.
    pub fn duration_ms(&self) -> i64 {
        self.times
            .iter()
            .map(|(_, t)| t.last_ts + t.last_delta)
            .max()
            .unwrap_or(0)
    }

    /// Writes the last cluster, then Cues, SeekHead, Duration and the
    /// Segment size, and syncs the file.
    pub fn finalize(mut self) -> io::Result<()> {
        if !self.header_written {
            return self.file.sync_all();
        }
        self.flush_cluster()?;
        let mut cues_rel = None;
        if !self.cues.is_empty() {
            let mut c = Vec::new();
            for (t, track, pos) in &self.cues {
                let mut tp = Vec::new();
                ebml::put_uint(&mut tp, id::CUE_TRACK, u64::from(*track));
                ebml::put_uint(&mut tp, id::CUE_CLUSTER_POSITION, *pos);
                let mut cp = Vec::new();
                ebml::put_uint(&mut cp, id::CUE_TIME, *t as u64);
                ebml::put_master(&mut cp, id::CUE_TRACK_POSITIONS, &tp);
                ebml::put_master(&mut c, id::CUE_POINT, &cp);
            }
            let mut out = Vec::new();
            ebml::put_master(&mut out, id::CUES, &c);
            cues_rel = Some(self.end - self.segment_data_start);
            self.file.write_all(&out)?;
            self.end += out.len() as u64;
        }

        // SeekHead into the reserved space (rest stays Void).
        let mut sh = Vec::new();
        let mut entries = vec![(id::INFO, self.info_rel), (id::TRACKS, self.tracks_rel)];
        if let Some(c) = cues_rel {
            entries.push((id::CUES, c));
        }
        for (eid, pos) in entries {
            let mut s = Vec::new();
            let mut idb = Vec::new();
            ebml::put_id(&mut idb, eid);
            ebml::put_bytes(&mut s, id::SEEK_ID, &idb);
            ebml::put_uint(&mut s, id::SEEK_POSITION, pos);
            ebml::put_master(&mut sh, id::SEEK, &s);
        }
        let mut seekhead = Vec::new();
        ebml::put_master(&mut seekhead, id::SEEK_HEAD, &sh);
        if seekhead.len() + 2 <= SEEKHEAD_RESERVE {
            let rest = SEEKHEAD_RESERVE - seekhead.len();
            ebml::put_void(&mut seekhead, rest);
            self.file.seek(SeekFrom::Start(self.seekhead_pos))?;
            self.file.write_all(&seekhead)?;
        }

        let mut dur = Vec::new();
        ebml::put_float(&mut dur, id::DURATION, self.duration_ms() as f64);
        debug_assert_eq!(dur.len(), DURATION_RESERVE);
        self.file.seek(SeekFrom::Start(self.duration_pos))?;
        self.file.write_all(&dur)?;

        let mut size = Vec::new();
        ebml::put_size_fixed(&mut size, self.end - self.segment_data_start, 8);
        self.file.seek(SeekFrom::Start(self.segment_size_pos))?;
        self.file.write_all(&size)?;
        self.file.seek(SeekFrom::Start(self.end))?;
        self.file.flush()?;
        self.file.sync_all()
    }
}
