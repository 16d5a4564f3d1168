//! How waveform blocks are stored (docs/api.md "Stored waveforms"): integer microvolts, the first
//! sample then the difference from the previous one, each zigzag-mapped (0, -1, 1, -2, … → 0, 1, 2,
//! 3, …) and written as an unsigned LEB128 varint. Consecutive ECG samples differ by little, so most
//! take one byte and the steep QRS slopes two: about 1.1–1.4 bytes a sample instead of 4.

/// Stored encodings (`waveform_blocks.encoding`).
pub const ENCODING_F32_MV: i16 = 0;
pub const ENCODING_DELTA_UV: i16 = 1;

/// Millivolts to integer microvolts (the stored resolution), rounding to nearest.
pub fn mv_to_uv(mv: f32) -> i32 {
    (f64::from(mv) * 1000.0).round() as i32
}

/// Encodes microvolt samples (encoding 1).
pub fn encode_uv(samples: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    let mut prev = 0i64;
    for &s in samples {
        let d = i64::from(s) - prev;
        prev = i64::from(s);
        let mut z = ((d << 1) ^ (d >> 63)) as u64;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// Why stored bytes could not be decoded (a corrupt row: never expected).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("stored waveform block is corrupt: {0}")]
pub struct Corrupt(&'static str);

/// Decodes a stored block of `count` samples to millivolts.
pub fn decode_mv(encoding: i16, bytes: &[u8], count: usize) -> Result<Vec<f32>, Corrupt> {
    match encoding {
        ENCODING_F32_MV => {
            if bytes.len() != count * 4 {
                return Err(Corrupt("length is not 4 bytes a sample"));
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        }
        ENCODING_DELTA_UV => {
            let uv = decode_uv(bytes, count)?;
            Ok(uv.into_iter().map(|v| v as f32 / 1000.0).collect())
        }
        _ => Err(Corrupt("unknown encoding")),
    }
}

/// Decodes encoding 1 to microvolts.
pub fn decode_uv(bytes: &[u8], count: usize) -> Result<Vec<i32>, Corrupt> {
    let mut out = Vec::with_capacity(count.min(bytes.len()));
    let mut prev = 0i64;
    let mut z = 0u64;
    let mut shift = 0u32;
    for &b in bytes {
        if shift > 63 {
            return Err(Corrupt("varint too long"));
        }
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 != 0 {
            shift += 7;
            continue;
        }
        let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
        prev = prev.checked_add(d).ok_or(Corrupt("sample overflows"))?;
        out.push(i32::try_from(prev).map_err(|_| Corrupt("sample overflows"))?);
        z = 0;
        shift = 0;
    }
    if shift != 0 || out.len() != count {
        return Err(Corrupt("sample count does not match"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_steps_take_one_byte_and_extremes_round_trip() {
        assert_eq!(encode_uv(&[0, 1, -1, 63, 0]), vec![0, 2, 3, 128, 1, 125]);
        let extremes = [i32::MAX, i32::MIN, 0, i32::MIN, i32::MAX];
        assert_eq!(decode_uv(&encode_uv(&extremes), 5).unwrap(), extremes);
    }

    #[test]
    fn corrupt_bytes_are_refused() {
        assert!(decode_uv(&[0x80], 1).is_err(), "unterminated varint");
        assert!(decode_uv(&[0, 0], 3).is_err(), "too few samples");
        assert!(decode_uv(&[0xff; 12], 1).is_err(), "varint too long");
        assert!(decode_mv(9, &[], 0).is_err());
        assert!(decode_mv(ENCODING_F32_MV, &[0; 3], 1).is_err());
    }

    proptest! {
        #[test]
        fn encoding_round_trips(samples in proptest::collection::vec(any::<i32>(), 0..300)) {
            prop_assert_eq!(decode_uv(&encode_uv(&samples), samples.len()).unwrap(), samples);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            count in 0usize..300,
            encoding in -1i16..3,
        ) {
            let _ = decode_mv(encoding, &bytes, count);
        }
    }
}
