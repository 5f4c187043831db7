//! FLV tag body headers of RTMP audio (type 8) and video (type 9) messages.

use crate::MediaError;

/// A parsed FLV video tag body.
#[derive(Debug, PartialEq, Eq)]
pub enum VideoTag<'a> {
    /// `AVCPacketType` 0: an `AVCDecoderConfigurationRecord`.
    AvcSequenceHeader(&'a [u8]),
    /// `AVCPacketType` 1: one access unit of AVCC length-prefixed NAL units.
    AvcNalu {
        /// FLV frame type 1 ("key frame").
        keyframe: bool,
        /// Composition time offset in ms (PTS − DTS).
        cts: i32,
        data: &'a [u8],
    },
    /// `AVCPacketType` 2.
    AvcEndOfSequence,
    /// Frame type 5 (video info / command frame): carries no picture.
    Info,
}

/// A parsed FLV audio tag body.
#[derive(Debug, PartialEq, Eq)]
pub enum AudioTag<'a> {
    /// `AACPacketType` 0: an `AudioSpecificConfig`.
    AacSequenceHeader(&'a [u8]),
    /// `AACPacketType` 1: one raw AAC frame (no ADTS header).
    AacRaw(&'a [u8]),
}

fn video_codec_name(id: u8) -> &'static str {
    match id {
        2 => "Sorenson H.263",
        3 => "Screen video",
        4 => "On2 VP6",
        5 => "On2 VP6 with alpha",
        6 => "Screen video v2",
        12 => "HEVC (non-standard FLV id 12)",
        _ => "unknown",
    }
}

/// Parses the header of an FLV video tag body.
pub fn parse_video(body: &[u8]) -> Result<VideoTag<'_>, MediaError> {
    let b0 = *body
        .first()
        .ok_or_else(|| MediaError::Malformed("empty video message".into()))?;
    if b0 & 0x80 != 0 {
        let fourcc = body.get(1..5).unwrap_or(&[]);
        return Err(MediaError::Unsupported(format!(
            "enhanced RTMP video (FourCC {:?}) is not supported: publish H.264 (ffmpeg -c:v libx264, OBS encoder x264)",
            String::from_utf8_lossy(fourcc)
        )));
    }
    let frame_type = b0 >> 4;
    let codec = b0 & 0x0f;
    if frame_type == 5 {
        return Ok(VideoTag::Info);
    }
    if codec != 7 {
        return Err(MediaError::Unsupported(format!(
            "video codec id {codec} ({}) is not supported: publish H.264 (ffmpeg -c:v libx264, OBS encoder x264)",
            video_codec_name(codec)
        )));
    }
    if body.len() < 5 {
        return Err(MediaError::Malformed(format!(
            "AVC video message of {} bytes is shorter than its 5-byte header",
            body.len()
        )));
    }
    let raw = (u32::from(body[2]) << 16) | (u32::from(body[3]) << 8) | u32::from(body[4]);
    // Sign-extend the 24-bit value.
    let cts = ((raw << 8) as i32) >> 8;
    let data = &body[5..];
    match body[1] {
        0 => Ok(VideoTag::AvcSequenceHeader(data)),
        1 => Ok(VideoTag::AvcNalu {
            keyframe: frame_type == 1,
            cts,
            data,
        }),
        2 => Ok(VideoTag::AvcEndOfSequence),
        t => Err(MediaError::Malformed(format!("unknown AVCPacketType {t}"))),
    }
}

fn audio_codec_name(id: u8) -> &'static str {
    match id {
        0 => "Linear PCM, platform endian",
        1 => "ADPCM",
        2 => "MP3",
        3 => "Linear PCM, little endian",
        4..=6 => "Nellymoser",
        7 => "G.711 A-law",
        8 => "G.711 mu-law",
        9 => "enhanced RTMP (FourCC)",
        11 => "Speex",
        14 => "MP3 8 kHz",
        _ => "unknown",
    }
}

/// Parses the header of an FLV audio tag body.
pub fn parse_audio(body: &[u8]) -> Result<AudioTag<'_>, MediaError> {
    let b0 = *body
        .first()
        .ok_or_else(|| MediaError::Malformed("empty audio message".into()))?;
    let format = b0 >> 4;
    if format != 10 {
        return Err(MediaError::Unsupported(format!(
            "audio format {format} ({}) is not supported: publish AAC-LC (ffmpeg -c:a aac, OBS audio AAC)",
            audio_codec_name(format)
        )));
    }
    let kind = *body
        .get(1)
        .ok_or_else(|| MediaError::Malformed("AAC audio message without AACPacketType".into()))?;
    match kind {
        0 => Ok(AudioTag::AacSequenceHeader(&body[2..])),
        1 => Ok(AudioTag::AacRaw(&body[2..])),
        t => Err(MediaError::Malformed(format!("unknown AACPacketType {t}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_headers() {
        assert_eq!(
            parse_video(&[0x17, 0, 0, 0, 0, 1, 2]).unwrap(),
            VideoTag::AvcSequenceHeader(&[1, 2])
        );
        assert_eq!(
            parse_video(&[0x27, 1, 0xff, 0xff, 0xfe, 9]).unwrap(),
            VideoTag::AvcNalu {
                keyframe: false,
                cts: -2,
                data: &[9]
            }
        );
        assert_eq!(
            parse_video(&[0x17, 1, 0, 0, 66, 9]).unwrap(),
            VideoTag::AvcNalu {
                keyframe: true,
                cts: 66,
                data: &[9]
            }
        );
        assert_eq!(
            parse_video(&[0x17, 2, 0, 0, 0]).unwrap(),
            VideoTag::AvcEndOfSequence
        );
        assert_eq!(parse_video(&[0x57, 0]).unwrap(), VideoTag::Info);
        assert!(matches!(
            parse_video(&[0x12, 0]),
            Err(MediaError::Unsupported(_))
        ));
        assert!(matches!(
            parse_video(&[0x90, b'h', b'v', b'c', b'1']),
            Err(MediaError::Unsupported(_))
        ));
        assert!(matches!(parse_video(&[]), Err(MediaError::Malformed(_))));
        assert!(matches!(
            parse_video(&[0x17, 1, 0]),
            Err(MediaError::Malformed(_))
        ));
        assert!(matches!(
            parse_video(&[0x17, 7, 0, 0, 0]),
            Err(MediaError::Malformed(_))
        ));
    }

    #[test]
    fn audio_headers() {
        assert_eq!(
            parse_audio(&[0xaf, 0, 0x12, 0x10]).unwrap(),
            AudioTag::AacSequenceHeader(&[0x12, 0x10])
        );
        assert_eq!(
            parse_audio(&[0xaf, 1, 0x21]).unwrap(),
            AudioTag::AacRaw(&[0x21])
        );
        assert!(matches!(
            parse_audio(&[0x2f, 1]),
            Err(MediaError::Unsupported(_))
        ));
        assert!(matches!(
            parse_audio(&[0xaf]),
            Err(MediaError::Malformed(_))
        ));
        assert!(matches!(parse_audio(&[]), Err(MediaError::Malformed(_))));
    }
}
