//! Fuzzes the untrusted-bytes path of decoding, without the networks: `format::parse`, then
//! the entropy decoding of the payload, as `Codec::read` does it (minus the fingerprint check,
//! which is ignored so that mutated files reach the decoder).
//!
//! CRC-32 guards the whole file, so almost every mutation stops at the checksum. Each input is
//! therefore tried twice: as it is (the exact reader path, the checksum check included), and,
//! when that fails on the checksum alone, once more with the CRC recomputed, so that mutated
//! headers and payloads reach the header checks and the decoder.
//!
//! Also that every decoded latent is in the encoder's range.
//!
//! Invariants checked on every file that decodes: one id per patch (subclass mode only),
//! each below K; `LATENT_LEN` latents per patch; and (up to 1024 patches, to keep the fuzzer
//! fast) re-encoding the decoded content gives back exactly the payload words.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sacodec::error::Error;
use sacodec::codec::format::{self, Header};
use sacodec::codec::patches::Grid;
use sacodec_fuzz::{check_decoded, coders};

fuzz_target!(|data: &[u8]| {
    match format::parse(data) {
        Ok((header, words)) => read(header, words),
        Err(Error::Checksum) => {
            // `parse` checked the length: the file ends in its 4-byte CRC.
            let mut fixed = data.to_vec();
            let body = fixed.len() - 4;
            let crc = crc32fast::hash(&fixed[..body]);
            fixed[body..].copy_from_slice(&crc.to_le_bytes());
            match format::parse(&fixed) {
                Ok((header, words)) => read(header, words),
                Err(Error::Checksum) => panic!("checksum still wrong after recomputing it"),
                Err(_) => {}
            }
        }
        Err(_) => {}
    }
});

/// `Codec::read` after `format::parse`, less the fingerprint check.
fn read(header: Header, words: Vec<u32>) {
    // Codec::read: an unknown quality level is an error...
    let Some(level) = coders().get(header.quality as usize) else {
        return;
    };
    // ...and so is a K other than the model's.
    if header.subclasses as usize != level.subclasses() {
        return;
    }
    let patches = Grid::new(header.width, header.height).len();
    let original = (patches <= 1024).then(|| words.clone());
    let Ok(decoded) = level.decode(words, patches, header.mode) else {
        return;
    };
    check_decoded(level, &decoded, patches, header.mode);
    if let Some(original) = original {
        let again = level.encode(&decoded.latents, decoded.ids.as_deref());
        assert!(again == original, "payload is not canonical");
    }
}
