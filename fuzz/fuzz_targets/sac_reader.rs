//! Fuzzes the untrusted-bytes path of decoding, without the networks: `format::parse`, then
//! the entropy decoding of the payload, as `Codec::read` does it (minus the fingerprint check,
//! which is ignored so that mutated files reach the decoder).
//!
//! The input is a `.sac` file less its 4-byte CRC-32; the target appends the CRC of what it
//! was given. So every mutation reaches the header checks and the payload decoder, instead of
//! stopping at the checksum (the checksum check itself is tested by `tests/bad_input.rs`,
//! which flips every bit of a file).
//!
//! Invariants checked on every file that decodes: one id per patch (subclass modes only),
//! each below K; `LATENT_LEN` latents per patch, all in the encoder's range; and (up to 1024
//! patches, to keep the fuzzer fast) re-encoding the decoded content gives back exactly the
//! payload words.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sacodec::codec::format::{self, Header};
use sacodec::codec::mode::Coding;
use sacodec::codec::patches::Grid;
use sacodec::error::Error;
use sacodec_fuzz::{check_decoded, coders};

// The fixture is fitted before the first input (seconds, more with the coverage
// instrumentation), so no input's time limit pays for it.
fuzz_target!(init: { coders(); }, |body: &[u8]| {
    let mut file = body.to_vec();
    file.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    match format::parse(&file) {
        Ok((header, words)) => read(header, words),
        Err(Error::Checksum) => panic!("checksum wrong after computing it"),
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
    let grid = Grid::new(header.width, header.height);
    let patches = grid.len();
    let original = (patches <= 1024).then(|| words.clone());
    let Ok(decoded) = level.decode(words, patches, header.mode, grid.cols()) else {
        return;
    };
    check_decoded(level, &decoded, patches, header.mode);
    if let Some(original) = original {
        let ids = decoded.ids.as_deref().unwrap_or_default();
        let coding = Coding::new(header.mode, ids, grid.cols());
        let again = level.encode(&decoded.latents, coding);
        assert!(again == original, "payload is not canonical");
    }
}
