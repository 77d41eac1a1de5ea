//! Shared fixture of the fuzz targets: coding tables and priors fitted (once) to deterministic
//! synthetic latents, standing in for a bundle's levels without running any network.
//!
//! The levels mirror the seeded bundle's shape: four quality levels (gains 0.5, 1, 2, 4 per
//! unit), K = 8 subclasses, 64 gains per level.

use std::sync::OnceLock;

use sacodec::codec::coder::{DecodedPayload, LevelCoder};
use sacodec::codec::entropy::{MAX_LATENT, Tables};
use sacodec::codec::mode::PriorMode;
use sacodec::codec::priors::LevelPriors;
use sacodec::model::{LATENT_CHANNELS, LATENT_LEN};
use sacodec::rng::SplitMix64;

/// Number of subclasses of the fixture (the seeded bundle's K).
pub const SUBCLASSES: usize = 8;
/// Quantization gains of the fixture's quality levels.
pub const GAINS: [f32; 4] = [0.5, 1.0, 2.0, 4.0];
/// Synthetic training patches the priors are fitted to.
const TRAIN_PATCHES: usize = 256;
const SEED: u64 = 0x00f0_2200_5ac0_dec0;

/// Per-level priors.
pub struct Fixture {
    /// One set of priors per quality level.
    pub levels: Vec<LevelPriors>,
}

/// Deterministic synthetic μ for `patches` patches (`patches × LATENT_LEN`) and their ids:
/// per-channel centres and spreads (some large, to reach the clamped edges of the coding
/// range), shifted per subclass so that the subclass priors differ.
pub fn synthetic_latents(patches: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = SplitMix64(seed);
    // Per channel: a centre in [-12, 12] (a few far out at ±40) and a spread in [0.05, 8].
    let channels: Vec<(f32, f32)> = (0..LATENT_CHANNELS)
        .map(|c| {
            let centre = if c % 16 == 15 {
                if c % 32 == 15 { 40.0 } else { -40.0 }
            } else {
                rng.unit() * 24.0 - 12.0
            };
            let spread = 0.05 + rng.unit() * rng.unit() * 8.0;
            (centre, spread)
        })
        .collect();
    let per_channel = LATENT_LEN / LATENT_CHANNELS;
    let ids: Vec<u8> = (0..patches)
        .map(|_| (rng.next_u64() % SUBCLASSES as u64) as u8)
        .collect();
    let mut mu = Vec::with_capacity(patches * LATENT_LEN);
    for &id in &ids {
        let shift = id as f32 * 1.5 - 5.0;
        for e in 0..LATENT_LEN {
            let (centre, spread) = channels[e / per_channel];
            // Roughly normal: a sum of four uniforms.
            let noise = (0..4).map(|_| rng.unit()).sum::<f32>() - 2.0;
            mu.push(centre + shift + spread * noise * 1.7);
        }
    }
    (mu, ids)
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tables = Tables::gaussian();
        let (mu, ids) = synthetic_latents(TRAIN_PATCHES, SEED);
        // The context fitted to the same latents read as a 16 × 16 grid.
        let grid = [(16, &mu[..], &ids[..])];
        let levels = GAINS
            .iter()
            .map(|&g| {
                let gain = vec![g; LATENT_CHANNELS];
                let mut level = LevelPriors::fit(tables, gain, &mu, &ids, SUBCLASSES);
                level.fit_context(tables, &grid, TRAIN_PATCHES, 1e-3);
                // And the sum scale context, so every context mode codes as it does in files.
                level.fit_scales(tables, &grid, TRAIN_PATCHES, false);
                level
            })
            .collect();
        Fixture { levels }
    })
}

/// One coder per quality level of the fixture, built on first use.
pub fn coders() -> &'static [LevelCoder<'static>] {
    static CODERS: OnceLock<Vec<LevelCoder<'static>>> = OnceLock::new();
    CODERS.get_or_init(|| {
        let fx = fixture();
        fx.levels.iter().map(LevelCoder::new).collect()
    })
}

/// The invariants of a successful decode of `patches` patches in `mode`: `LATENT_LEN`
/// latents per patch, all codable; one id per patch, each below K, in the subclass modes only.
pub fn check_decoded(
    level: &LevelCoder,
    decoded: &DecodedPayload,
    patches: usize,
    mode: PriorMode,
) {
    assert_eq!(decoded.latents.len(), patches * LATENT_LEN);
    match (mode, &decoded.ids) {
        (PriorMode::Global, None) => {}
        (mode, Some(ids)) if mode != PriorMode::Global => {
            assert_eq!(ids.len(), patches);
            assert!(ids.iter().all(|&k| (k as usize) < level.subclasses()));
        }
        (mode, ids) => panic!("mode {mode:?} decoded ids {ids:?}"),
    }
    check_codable(&decoded.latents);
}

/// Panics on the first decoded latent outside `[-MAX_LATENT, MAX_LATENT]`, a latent the
/// encoder never writes. `LevelCoder::decode` rejects those itself since the empty-payload
/// finding (see the README); this check keeps that fix honest.
pub fn check_codable(latents: &[i32]) {
    if let Some((i, z)) = latents
        .iter()
        .enumerate()
        .find(|(_, z)| z.abs() > MAX_LATENT)
    {
        panic!(
            "decoded latent {z} (patch {}, element {}) is outside the codable range \
             ±{MAX_LATENT}: the encoder never writes it",
            i / LATENT_LEN,
            i % LATENT_LEN
        );
    }
}
