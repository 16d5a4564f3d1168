//! What a sender posts to `POST /timeseries/ingest`: a JSON batch (scalar samples and waveform
//! blocks), or the binary waveform format (docs/api.md "Binary waveform batches"), decoded here
//! into the same [`Batch`]. The decoder reads untrusted bytes: it never panics, checks every length
//! against the bytes actually present before allocating, and names the byte offset of a problem.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use uuid::Uuid;

/// Streams in one batch, at most.
pub const MAX_STREAMS: usize = 200;
/// Scalar samples in one batch, at most.
pub const MAX_SAMPLES: usize = 100_000;
/// Samples in one waveform block, at most (two minutes at 500 Hz).
pub const MAX_BLOCK_SAMPLES: usize = 60_000;
/// Waveform samples in one batch, at most.
pub const MAX_WAVE_SAMPLES: usize = 2_000_000;

/// The media type of the binary format.
pub const MEDIA_TYPE: &str = "application/vnd.heartguard.waveform";

/// The binary format's magic bytes and version.
pub const MAGIC: &[u8; 4] = b"HGWB";
pub const VERSION: u8 = 1;
const BATCH_HEADER: usize = 8;
const BLOCK_HEADER: usize = 36;

/// A batch of samples for one or more streams.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = IngestBatch)]
pub struct Batch {
    pub streams: Vec<StreamBatch>,
}

/// The samples of one stream in a batch: scalar samples, or waveform blocks for an ECG stream.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = IngestStream)]
pub struct StreamBatch {
    pub stream_id: Uuid,
    #[serde(default)]
    pub samples: Vec<Sample>,
    #[serde(default)]
    pub blocks: Vec<Block>,
}

/// One scalar sample; `value2` is the diastolic pressure of a BP sample.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = IngestSample)]
pub struct Sample {
    pub ts: DateTime<Utc>,
    pub value: f32,
    #[serde(default)]
    pub value2: Option<f32>,
}

/// Consecutive waveform samples: sample `i` is at `start_ts + i / sample_rate_hz` seconds.
#[derive(Debug, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WaveformBlock)]
pub struct Block {
    pub start_ts: DateTime<Utc>,
    pub sample_rate_hz: f32,
    pub values_mv: Vec<f32>,
}

/// How the binary format carries a block's samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// 1: little-endian i16 microvolts (±32.767 mV).
    I16Microvolts,
    /// 2: little-endian f32 millivolts.
    F32Millivolts,
}

impl SampleFormat {
    fn code(self) -> u8 {
        match self {
            SampleFormat::I16Microvolts => 1,
            SampleFormat::F32Millivolts => 2,
        }
    }

    fn width(self) -> usize {
        match self {
            SampleFormat::I16Microvolts => 2,
            SampleFormat::F32Millivolts => 4,
        }
    }
}

/// Why a binary batch could not be read: where and what.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {problem}")]
pub struct WireError {
    pub offset: usize,
    pub problem: String,
}

fn err<T>(offset: usize, problem: impl Into<String>) -> Result<T, WireError> {
    Err(WireError {
        offset,
        problem: problem.into(),
    })
}

/// A little-endian reader that refuses to read past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], WireError> {
        match self.at.checked_add(n) {
            Some(end) if end <= self.bytes.len() => {
                let s = &self.bytes[self.at..end];
                self.at = end;
                Ok(s)
            }
            _ => err(
                self.at,
                format!(
                    "the body ends inside {what} ({n} bytes needed, {} left)",
                    self.bytes.len() - self.at
                ),
            ),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], WireError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
}

/// Reads a binary waveform batch. Blocks of the same stream are grouped in the order they came.
pub fn decode(bytes: &[u8]) -> Result<Batch, WireError> {
    let mut r = Reader { bytes, at: 0 };
    if r.array::<4>("the magic bytes")? != *MAGIC {
        return err(
            0,
            "not a HeartGuard waveform batch (the magic bytes are not \"HGWB\")",
        );
    }
    let version = r.array::<1>("the version")?[0];
    if version != VERSION {
        return err(4, format!("version {version} is not supported (1 is)"));
    }
    if r.array::<1>("the flags")?[0] != 0 {
        return err(5, "the flags byte is reserved and must be 0");
    }
    let count = u16::from_le_bytes(r.array("the block count")?) as usize;
    if count == 0 {
        return err(6, "the batch has no blocks");
    }
    // Every block needs at least its header and one 2-byte sample: refuse a count the body cannot
    // hold before reserving room for it.
    if count > (bytes.len() - BATCH_HEADER) / (BLOCK_HEADER + 2) {
        return err(
            6,
            format!("{count} blocks cannot fit in {} bytes", bytes.len()),
        );
    }
    let mut streams: Vec<StreamBatch> = Vec::new();
    let mut total = 0usize;
    for _ in 0..count {
        let at = r.at;
        let stream_id = Uuid::from_bytes(r.array("a block's stream id")?);
        let micros = i64::from_le_bytes(r.array("a block's start time")?);
        let Some(start_ts) = Utc.timestamp_micros(micros).single() else {
            return err(at + 16, "the start time is out of range");
        };
        let sample_rate_hz = f32::from_le_bytes(r.array("a block's sample rate")?);
        let n = u32::from_le_bytes(r.array("a block's sample count")?) as usize;
        let format = match r.array::<1>("a block's sample format")?[0] {
            1 => SampleFormat::I16Microvolts,
            2 => SampleFormat::F32Millivolts,
            other => {
                return err(
                    at + 32,
                    format!("sample format {other} is unknown (1 or 2)"),
                );
            }
        };
        if r.array::<3>("a block's reserved bytes")? != [0; 3] {
            return err(at + 33, "the reserved bytes must be 0");
        }
        if n == 0 || n > MAX_BLOCK_SAMPLES {
            return err(
                at + 28,
                format!("a block holds 1 to {MAX_BLOCK_SAMPLES} samples, not {n}"),
            );
        }
        total += n;
        if total > MAX_WAVE_SAMPLES {
            return err(
                at,
                format!("a batch holds at most {MAX_WAVE_SAMPLES} samples"),
            );
        }
        let raw = r.take(n * format.width(), "a block's samples")?;
        let values_mv = match format {
            SampleFormat::I16Microvolts => raw
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 1000.0)
                .collect(),
            SampleFormat::F32Millivolts => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        };
        let block = Block {
            start_ts,
            sample_rate_hz,
            values_mv,
        };
        match streams.iter_mut().find(|s| s.stream_id == stream_id) {
            Some(s) => s.blocks.push(block),
            None => {
                if streams.len() == MAX_STREAMS {
                    return err(at, format!("a batch holds at most {MAX_STREAMS} streams"));
                }
                streams.push(StreamBatch {
                    stream_id,
                    samples: Vec::new(),
                    blocks: vec![block],
                });
            }
        }
    }
    if r.at != bytes.len() {
        return err(r.at, "unexpected bytes after the last block");
    }
    Ok(Batch { streams })
}

/// Blocks a batch holds at most (its header counts them in 16 bits).
pub const MAX_BATCH_BLOCKS: usize = u16::MAX as usize;

/// Writes blocks (each with its stream) as one batch in the binary format (the simulator, tests and
/// benchmarks send it; the ECG window answers in it). Samples in [`SampleFormat::I16Microvolts`]
/// are rounded and clamped to ±32.767 mV.
pub fn encode(blocks: &[(Uuid, &Block)], format: SampleFormat) -> Vec<u8> {
    let samples: usize = blocks.iter().map(|(_, b)| b.values_mv.len()).sum();
    let mut out = Vec::with_capacity(BATCH_HEADER + blocks.len() * BLOCK_HEADER + samples * 4);
    encode_header(&mut out, blocks.len());
    for (stream, b) in blocks {
        encode_block(&mut out, *stream, b, format);
    }
    out
}

/// The batch header announcing `count` blocks (at most [`MAX_BATCH_BLOCKS`]), for a batch written
/// a block at a time with [`encode_block`].
pub fn encode_header(out: &mut Vec<u8>, count: usize) {
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(0);
    out.extend_from_slice(&(count.min(MAX_BATCH_BLOCKS) as u16).to_le_bytes());
}

/// One block of stream `stream`, samples in `format`.
pub fn encode_block(out: &mut Vec<u8>, stream: Uuid, b: &Block, format: SampleFormat) {
    out.reserve(BLOCK_HEADER + b.values_mv.len() * 4);
    out.extend_from_slice(stream.as_bytes());
    out.extend_from_slice(&b.start_ts.timestamp_micros().to_le_bytes());
    out.extend_from_slice(&b.sample_rate_hz.to_le_bytes());
    out.extend_from_slice(&(b.values_mv.len() as u32).to_le_bytes());
    out.extend_from_slice(&[format.code(), 0, 0, 0]);
    for v in &b.values_mv {
        match format {
            SampleFormat::I16Microvolts => {
                let uv = (v * 1000.0).round().clamp(-32767.0, 32767.0) as i16;
                out.extend_from_slice(&uv.to_le_bytes());
            }
            SampleFormat::F32Millivolts => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(start: &str, values: &[f32]) -> Block {
        Block {
            start_ts: start.parse().unwrap(),
            sample_rate_hz: 250.0,
            values_mv: values.to_vec(),
        }
    }

    #[test]
    fn both_sample_formats_round_trip_and_group_by_stream() {
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let a = block("2026-12-03T10:00:00Z", &[0.1, -0.25, 1.5]);
        let b = block("2026-12-03T10:00:01Z", &[0.0]);
        for format in [SampleFormat::I16Microvolts, SampleFormat::F32Millivolts] {
            let bytes = encode(&[(s1, &a), (s2, &b), (s1, &b)], format);
            let batch = decode(&bytes).unwrap();
            assert_eq!(batch.streams.len(), 2);
            assert_eq!(batch.streams[0].stream_id, s1);
            assert_eq!(batch.streams[0].blocks.len(), 2);
            assert_eq!(batch.streams[0].blocks[0].values_mv, a.values_mv);
            assert_eq!(batch.streams[0].blocks[0].start_ts, a.start_ts);
            assert_eq!(batch.streams[1].blocks[0].sample_rate_hz, 250.0);
        }
    }

    #[test]
    fn each_malformation_names_its_offset() {
        let good = encode(
            &[(Uuid::nil(), &block("2026-12-03T10:00:00Z", &[0.5, 0.5]))],
            SampleFormat::I16Microvolts,
        );
        assert_eq!(decode(&good[..3]).unwrap_err().offset, 0);
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad).unwrap_err().offset, 0);
        let mut bad = good.clone();
        bad[4] = 2;
        assert!(decode(&bad).unwrap_err().problem.contains("version 2"));
        let mut bad = good.clone();
        bad[8 + 32] = 7;
        assert_eq!(decode(&bad).unwrap_err().offset, 40);
        let mut bad = good.clone();
        bad.push(0);
        assert!(
            decode(&bad)
                .unwrap_err()
                .problem
                .contains("after the last block")
        );
        assert!(
            decode(&good[..good.len() - 1])
                .unwrap_err()
                .problem
                .contains("samples")
        );
        let mut bad = good.clone();
        bad[6] = 0xff;
        assert!(decode(&bad).unwrap_err().problem.contains("cannot fit"));
        let mut bad = good;
        bad[8 + 28..8 + 32].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode(&bad).unwrap_err().problem.contains("1 to"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The decoder is total: any bytes give a batch or an error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode(&bytes);
        }

        /// Arbitrary bytes behind a valid header reach the block parser.
        #[test]
        fn arbitrary_blocks_never_panic(
            count in any::<u16>(),
            body in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut bytes = b"HGWB\x01\x00".to_vec();
            bytes.extend_from_slice(&count.to_le_bytes());
            bytes.extend_from_slice(&body);
            let _ = decode(&bytes);
        }
    }
}
