//! Shared test fixtures: one seeded codec per test binary and synthetic photos.
#![allow(dead_code)]

use std::sync::OnceLock;

use burn::prelude::Device;
use image::RgbImage;
use sacodec::rng::SplitMix64;
use sacodec::{Bundle, Codec};

/// The seeded codec, built once per test binary.
pub fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| Codec::new(Bundle::seeded(&Device::flex())))
}

/// The shipped weights, and a file the native CLI made with them from
/// `tests/fixtures/parrots-200x136.png` (`sacodec compress … -q 3`): every platform must read
/// the same latents and ids from it (`tests/codec.rs` natively, `tests/wasm.rs` in wasm on
/// the CPU and on WebGPU).
pub const SHIPPED_WEIGHTS: &[u8] = include_bytes!("../../weights/sacodec.safetensors");
/// See [`SHIPPED_WEIGHTS`].
pub const PARROTS_SAC: &[u8] = include_bytes!("../fixtures/parrots-200x136-q3.sac");
/// The `latents_digest` of [`PARROTS_SAC`], as `sacodec info` printed it when it was made.
pub const PARROTS_DIGEST: &str = "a477997067959674";

/// Reads [`PARROTS_SAC`] with `codec` and checks what every platform must agree on.
pub fn check_parrots(codec: &Codec) {
    let d = codec.read(PARROTS_SAC).expect("the fixture decodes");
    assert_eq!(
        (d.header.width, d.header.height, d.header.quality),
        (200, 136, 3)
    );
    assert_eq!(d.ids.as_ref().map(Vec::len), Some(35));
    let digest = sacodec::codec::latents_digest(&d.latents, d.ids.as_deref());
    assert_eq!(digest, PARROTS_DIGEST);
}

/// A deterministic photo-like image: smooth gradients, a few edges and some texture.
pub fn photo(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = SplitMix64(seed);
    let edges: Vec<(f32, f32, f32)> = (0..4)
        .map(|_| (rng.unit() * 2.0 - 1.0, rng.unit() * 2.0 - 1.0, rng.unit()))
        .collect();
    RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (
            x as f32 / width.max(2) as f32,
            y as f32 / height.max(2) as f32,
        );
        let mut px = [u * 200.0 + 20.0, v * 180.0 + 40.0, (u + v) * 90.0 + 30.0];
        for (k, &(a, b, c)) in edges.iter().enumerate() {
            if a * (u - 0.5) + b * (v - 0.5) > c - 0.5 {
                px[k % 3] = 255.0 - px[k % 3];
            }
        }
        let t = (rng.unit() - 0.5) * 30.0 * (u > 0.6) as u8 as f32;
        image::Rgb(px.map(|p| (p + t).clamp(0.0, 255.0) as u8))
    })
}
