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
