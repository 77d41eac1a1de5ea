//! The `.sac` container. All integers little-endian.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `\x89SAC` |
//! | 4 | 1 | format version (2; version 1 is read too) |
//! | 5 | 8 | model fingerprint (BLAKE3 of the weights and prior tables the file needs, first 8 bytes) |
//! | 13 | 4 | width in pixels (1..=16384) |
//! | 17 | 4 | height in pixels (1..=16384; width·height ≤ 16 Mpx) |
//! | 21 | 1 | quality level (index into the model's levels) |
//! | 22 | 1 | prior mode: 0 global, 1 subclass, 2 subclass with context (means only), 3 subclass with context (means, scales by the sum of the activities), 4 subclass with context (means, scales by the activities apart), 5 the same with logistic residuals, 6 the same with each id's prior following its left and top neighbours' (2–6: version 2 only) |
//! | 23 | 1 | how ids were chosen: 0 none (global), 1 SimCLR nearest centroid, 2 rate-optimal |
//! | 24 | 1 | K, the model's number of subclasses |
//! | 25 | 4 | payload length n in bytes (a multiple of 4) |
//! | 29 | n | payload: constriction ANS words (u32); in subclass mode it holds the patch ids, then the latents |
//! | 29+n | 4 | CRC-32 (IEEE) of bytes 0..29+n |
//!
//! The header is 33 bytes in all. Patches: ⌈w/32⌉·⌈h/32⌉ in raster order, 1024 latents each.
//! The decoder needs only the integers here and the model's prior tables; how ids were chosen
//! (byte 23) is informational. Version 1 (no context mode) has the same layout: it is read as
//! it always was, and written no more; nor is mode 2 (context before the scales followed it);
//! modes 3, 4 (Gaussian residuals) and 5 (ids alone) only when asked for, where the weights
//! can code mode 6.

use crate::codec::mode::PriorMode;
use crate::error::{Error, Result, check_size};

/// File magic.
pub const MAGIC: [u8; 4] = *b"\x89SAC";
/// Format version written (and the newest read).
pub const VERSION: u8 = 2;
/// The oldest version read: version 1 has no context mode.
pub const FIRST_VERSION: u8 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 29;
/// Bytes of header, length and checksum around the payload.
pub const OVERHEAD: usize = HEADER_LEN + 4;

/// How subclass ids were chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Assignment {
    /// Nearest SimCLR centroid (the seed's method).
    #[cfg_attr(feature = "cli", value(name = "simclr"))]
    SimClr,
    /// The subclass whose prior codes the patch in the fewest bits.
    #[cfg_attr(feature = "cli", value(name = "rate"))]
    RateOptimal,
}

/// The fields of a `.sac` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Model fingerprint.
    pub fingerprint: u64,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Quality level.
    pub quality: u8,
    /// Prior mode.
    pub mode: PriorMode,
    /// How ids were chosen (`None` in global mode).
    pub assignment: Option<Assignment>,
    /// Number of subclasses of the model.
    pub subclasses: u8,
}

/// Serialises a header and payload into a complete file.
pub fn write(h: &Header, payload: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OVERHEAD + 4 * payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&h.fingerprint.to_le_bytes());
    out.extend_from_slice(&h.width.to_le_bytes());
    out.extend_from_slice(&h.height.to_le_bytes());
    out.push(h.quality);
    out.push(mode_byte(h.mode));
    out.push(match h.assignment {
        None => 0,
        Some(Assignment::SimClr) => 1,
        Some(Assignment::RateOptimal) => 2,
    });
    out.push(h.subclasses);
    out.extend_from_slice(&((4 * payload.len()) as u32).to_le_bytes());
    payload
        .iter()
        .for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn mode_byte(mode: PriorMode) -> u8 {
    match mode {
        PriorMode::Global => 0,
        PriorMode::Subclass => 1,
        PriorMode::ContextMeans => 2,
        PriorMode::ContextSum => 3,
        PriorMode::ContextGaussian => 4,
        PriorMode::ContextIdsAlone => 5,
        PriorMode::Context => 6,
    }
}

/// Parses and checks a file: magic, version, length, checksum and every header field.
/// Returns the header and the payload words. Never allocates more than the file's size.
pub fn parse(bytes: &[u8]) -> Result<(Header, Vec<u32>)> {
    if bytes.len() < 5 || bytes[..4] != MAGIC {
        return Err(if MAGIC.starts_with(bytes) {
            Error::Truncated {
                have: bytes.len(),
                want: OVERHEAD,
            }
        } else {
            Error::NotSac
        });
    }
    let version = bytes[4];
    if !(FIRST_VERSION..=VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    if bytes.len() < OVERHEAD {
        return Err(Error::Truncated {
            have: bytes.len(),
            want: OVERHEAD,
        });
    }
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let payload_len = u32_at(25) as usize;
    let want = OVERHEAD + payload_len;
    if bytes.len() < want {
        return Err(Error::Truncated {
            have: bytes.len(),
            want,
        });
    }
    if bytes.len() > want {
        return Err(Error::Header(format!(
            "{} bytes after the end of the file the header declares",
            bytes.len() - want
        )));
    }
    let body = &bytes[..HEADER_LEN + payload_len];
    if crc32fast::hash(body) != u32_at(HEADER_LEN + payload_len) {
        return Err(Error::Checksum);
    }
    let header = Header {
        fingerprint: u64::from_le_bytes(bytes[5..13].try_into().unwrap()),
        width: u32_at(13),
        height: u32_at(17),
        quality: bytes[21],
        mode: match (version, bytes[22]) {
            (_, 0) => PriorMode::Global,
            (_, 1) => PriorMode::Subclass,
            (2.., 2) => PriorMode::ContextMeans,
            (2.., 3) => PriorMode::ContextSum,
            (2.., 4) => PriorMode::ContextGaussian,
            (2.., 5) => PriorMode::ContextIdsAlone,
            (2.., 6) => PriorMode::Context,
            (v, m) => {
                return Err(Error::Header(format!(
                    "unknown prior mode {m} in a version {v} file"
                )));
            }
        },
        assignment: match (bytes[22], bytes[23]) {
            (0, 0) => None,
            (1..=6, 1) => Some(Assignment::SimClr),
            (1..=6, 2) => Some(Assignment::RateOptimal),
            (_, a) => {
                return Err(Error::Header(format!(
                    "assignment {a} does not fit the prior mode"
                )));
            }
        },
        subclasses: bytes[24],
    };
    check_size(header.width as u64, header.height as u64)?;
    if !payload_len.is_multiple_of(4) {
        return Err(Error::Header(format!(
            "payload of {payload_len} bytes is not whole words"
        )));
    }
    let words = body[HEADER_LEN..]
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
        .collect();
    Ok((header, words))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            fingerprint: 0x0123_4567_89ab_cdef,
            width: 77,
            height: 33,
            quality: 2,
            mode: PriorMode::Subclass,
            assignment: Some(Assignment::RateOptimal),
            subclasses: 8,
        }
    }

    #[test]
    fn write_then_parse_round_trips() {
        let payload = [1u32, 0xdead_beef, 7];
        let bytes = write(&header(), &payload);
        assert_eq!(bytes.len(), OVERHEAD + 12);
        let (h, words) = parse(&bytes).unwrap();
        assert_eq!(h, header());
        assert_eq!(words, payload);
    }

    #[test]
    fn pinned_layout() {
        // The byte layout is the format: changing it needs a new version.
        let bytes = write(&header(), &[0x0403_0201]);
        assert_eq!(&bytes[..5], b"\x89SAC\x02");
        assert_eq!(&bytes[5..13], &0x0123_4567_89ab_cdef_u64.to_le_bytes());
        assert_eq!(&bytes[13..25], &[77, 0, 0, 0, 33, 0, 0, 0, 2, 1, 2, 8]);
        assert_eq!(&bytes[25..33], &[4, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(bytes.len(), 37);
    }

    #[test]
    fn version_1_reads_as_before_without_the_context_mode() {
        let mut h = header();
        let mut v1 = write(&h, &[7]);
        v1[4] = 1;
        let fix_crc = |b: &mut Vec<u8>| {
            let n = b.len() - 4;
            let crc = crc32fast::hash(&b[..n]);
            b[n..].copy_from_slice(&crc.to_le_bytes());
        };
        fix_crc(&mut v1);
        assert_eq!(parse(&v1).unwrap(), (h, vec![7]));
        for mode in [
            PriorMode::ContextMeans,
            PriorMode::ContextIdsAlone,
            PriorMode::Context,
        ] {
            h.mode = mode;
            let mut v1 = write(&h, &[7]);
            assert_eq!(parse(&v1).unwrap().0.mode, mode);
            v1[4] = 1;
            fix_crc(&mut v1);
            assert!(matches!(parse(&v1), Err(Error::Header(_))));
        }
        for v in [0, 3, 255] {
            let mut b = write(&header(), &[7]);
            b[4] = v;
            assert!(matches!(parse(&b), Err(Error::UnsupportedVersion { .. })));
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let bytes = write(&header(), &[1, 2, 3, 4]);
        for n in 0..bytes.len() {
            assert!(parse(&bytes[..n]).is_err(), "truncated to {n}");
        }
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(parse(&b).is_err(), "bit {i} flipped");
        }
    }

    #[test]
    fn oversized_header_is_rejected_before_any_allocation() {
        let mut h = header();
        h.width = 100_000;
        h.height = 100_000;
        assert!(matches!(
            parse(&write(&h, &[])),
            Err(Error::TooLarge { .. })
        ));
        h.width = 0;
        assert!(parse(&write(&h, &[])).is_err());
    }

    #[test]
    fn random_bytes_are_not_a_sac() {
        assert!(matches!(parse(b""), Err(Error::Truncated { .. })));
        assert!(matches!(parse(b"GIF89a......"), Err(Error::NotSac)));
        let mut rng = crate::rng::SplitMix64(7);
        for len in [1, 5, 32, 33, 100, 4096] {
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            assert!(parse(&bytes).is_err());
        }
    }
}
