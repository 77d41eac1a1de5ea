//! Fuzzes `LevelCoder::decode` on arbitrary payload words, past the CRC that guards them in a
//! `.sac` file. Input: byte 0 → patch count `1 + b % 16` and (its high bits) the grid's width,
//! byte 1 → prior mode (`b % n`, in the order of the `n` modes of `PriorMode::ALL`) and quality
//! level (`b / n`); the rest, in little-endian u32 words, is the payload.
//!
//! Also that every decoded latent is in the encoder's range.
//!
//! Checks: decoding never panics; on success the shapes are right and re-encoding the
//! decoded content gives back exactly the words (the payload is canonical).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sacodec::codec::mode::{Coding, PriorMode};
use sacodec_fuzz::{check_decoded, coders};

// The fixture is fitted before the first input (seconds, more with the coverage
// instrumentation), so no input's time limit pays for it.
fuzz_target!(init: { coders(); }, |data: &[u8]| {
    let [count, flags, rest @ ..] = data else {
        return;
    };
    let patches = 1 + *count as usize % 16;
    let cols = 1 + (*count as usize / 16) % patches;
    let mode = PriorMode::ALL[*flags as usize % PriorMode::ALL.len()];
    let coders = coders();
    let level = &coders[(*flags as usize / PriorMode::ALL.len()) % coders.len()];
    let words: Vec<u32> = rest
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
        .collect();
    let Ok(decoded) = level.decode(words.clone(), patches, mode, cols) else {
        return;
    };
    check_decoded(level, &decoded, patches, mode);
    let ids = decoded.ids.as_deref().unwrap_or_default();
    let again = level.encode(&decoded.latents, Coding::new(mode, ids, cols));
    assert!(again == words, "payload is not canonical");
});
