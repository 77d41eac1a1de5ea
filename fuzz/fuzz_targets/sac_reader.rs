//! Fuzzes the untrusted-bytes path of decoding, without the networks: `format::parse`, then
//! the entropy decoding of the payload, as `Codec::read` does it (minus the fingerprint check,
//! which is ignored so that mutated files reach the decoder).
//!
//! Invariants checked on every file that decodes: one id per patch (subclass mode only),
//! each below K; `LATENT_LEN` latents per patch; and re-encoding the decoded content gives
//! back exactly the payload words (the payload is canonical).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sacodec::coder::PriorMode;
use sacodec::format;
use sacodec::model::LATENT_LEN;
use sacodec::patches::Grid;
use sacodec_fuzz::coders;

fuzz_target!(|data: &[u8]| {
    let Ok((header, words)) = format::parse(data) else {
        return;
    };
    // Codec::read: an unknown quality level is an error...
    let Some(level) = coders().get(header.quality as usize) else {
        return;
    };
    // ...and so is a K other than the model's.
    if header.subclasses as usize != level.subclasses() {
        return;
    }
    let patches = Grid::new(header.width, header.height).len();
    let original = words.clone();
    let Ok(decoded) = level.decode(words, patches, header.mode) else {
        return;
    };
    assert_eq!(decoded.latents.len(), patches * LATENT_LEN);
    match (header.mode, &decoded.ids) {
        (PriorMode::Global, None) => {}
        (PriorMode::Subclass, Some(ids)) => {
            assert_eq!(ids.len(), patches);
            assert!(ids.iter().all(|&k| (k as usize) < level.subclasses()));
        }
        (mode, ids) => panic!("mode {mode:?} decoded ids {ids:?}"),
    }
    let again = level.encode(&decoded.latents, decoded.ids.as_deref());
    assert!(again == original, "payload is not canonical");
});
