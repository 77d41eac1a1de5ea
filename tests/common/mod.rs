//! Shared test fixtures: one seeded codec per test binary and synthetic photos.
#![allow(dead_code)]

use std::sync::OnceLock;

use burn::prelude::Device;
use image::RgbImage;
use sacodec::rng::SplitMix64;
use sacodec::{Bundle, Codec, PriorMode};

/// The seeded codec, built once per test binary.
pub fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| Codec::new(Bundle::seeded(&Device::flex())))
}

/// The shipped weights.
pub const SHIPPED_WEIGHTS: &[u8] = include_bytes!("../../weights/sacodec.safetensors");

/// Which weights a fixture was made with: the shipped bundle, or one shipped before it, kept
/// (named by its fingerprint) so that every file made with it still decodes: the CLI finds it
/// there by the fingerprint a file records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    Shipped,
    /// `weights/previous/729660a3ee1d6957.safetensors` (shipped until 2026-12-03, morning).
    First,
    /// `weights/previous/0ff61aa3b3800824.safetensors` (shipped 2026-12-03).
    Second,
    /// `weights/previous/3a27760cad9e4403.safetensors` (shipped 2026-12-03, afternoon).
    Third,
    /// `weights/previous/dddfe8c0b296f4f4.safetensors` (shipped 2026-12-03, evening).
    Fourth,
    /// `weights/previous/02f20b26eaee81e8.safetensors` (shipped 2026-12-03, night, until
    /// 2026-12-04).
    Fifth,
    /// `weights/previous/02fd903b8577951e.safetensors` (shipped 2026-12-04).
    Sixth,
    /// `weights/previous/bd2279310c674a20.safetensors` (shipped 2026-12-04, evening, until
    /// 2026-12-06).
    Seventh,
}

impl Weights {
    /// The bundle's bytes.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Weights::Shipped => SHIPPED_WEIGHTS,
            Weights::First => include_bytes!("../../weights/previous/729660a3ee1d6957.safetensors"),
            Weights::Second => {
                include_bytes!("../../weights/previous/0ff61aa3b3800824.safetensors")
            }
            Weights::Third => {
                include_bytes!("../../weights/previous/3a27760cad9e4403.safetensors")
            }
            Weights::Fourth => {
                include_bytes!("../../weights/previous/dddfe8c0b296f4f4.safetensors")
            }
            Weights::Fifth => {
                include_bytes!("../../weights/previous/02f20b26eaee81e8.safetensors")
            }
            Weights::Sixth => {
                include_bytes!("../../weights/previous/02fd903b8577951e.safetensors")
            }
            Weights::Seventh => {
                include_bytes!("../../weights/previous/bd2279310c674a20.safetensors")
            }
        }
    }
}

/// A file the native CLI made from `tests/fixtures/parrots-200x136.png` (`sacodec compress
/// …`): its bytes, and what it must decode to. There is one per format version and prior mode
/// and per bundle shipped: every platform must read the same latents and ids from them
/// (`tests/codec.rs` natively, `tests/wasm.rs` in wasm on the CPU and on WebGPU), and every
/// later version of the reader too.
pub struct Fixture {
    /// The `.sac` file.
    pub bytes: &'static [u8],
    /// The weights it was made with.
    pub weights: Weights,
    /// Its format version.
    pub version: u8,
    /// Its quality level.
    pub quality: u8,
    /// Its prior mode.
    pub mode: PriorMode,
    /// The `latents_digest` `sacodec info` printed for it when it was made.
    pub digest: &'static str,
}

/// Every fixture.
pub const PARROTS: [Fixture; 14] = [
    // `-q 0 --prior global`, made before context priors (version 1).
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q0-global.v1.sac"),
        weights: Weights::First,
        version: 1,
        quality: 0,
        mode: PriorMode::Global,
        digest: "16a3346715f59e7b",
    },
    // `-q 3` (subclass priors, SimCLR ids), made before context priors (version 1).
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.sac"),
        weights: Weights::First,
        version: 1,
        quality: 3,
        mode: PriorMode::Subclass,
        digest: "a477997067959674",
    },
    // `-q 3` with context, made before the scales followed it (version 2, mode 2): the same
    // latents and ids, so the same digest.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3-context.sac"),
        weights: Weights::First,
        version: 2,
        quality: 3,
        mode: PriorMode::ContextMeans,
        digest: "a477997067959674",
    },
    // `-q 3` with context, the scales following it (version 2, mode 3): the same latents and
    // ids, so the same digest.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3-context-scales.sac"),
        weights: Weights::First,
        version: 2,
        quality: 3,
        mode: PriorMode::ContextSum,
        digest: "a477997067959674",
    },
    // `-q 3` (the default mode then: context, its scales by the sum of the activities) with the second bundle.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.0ff61aa3.sac"),
        weights: Weights::Second,
        version: 2,
        quality: 3,
        mode: PriorMode::ContextSum,
        digest: "9529ff431880d2c3",
    },
    // `-q 3` (the default mode then: context, its scales by the sum of the activities) with the third bundle.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.3a27760c.sac"),
        weights: Weights::Third,
        version: 2,
        quality: 3,
        mode: PriorMode::ContextSum,
        digest: "8cd80d6bcc912bb8",
    },
    // `-q 3` (the default mode then: context, its scales by the sum of the activities) with the fourth bundle.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.dddfe8c0.sac"),
        weights: Weights::Fourth,
        version: 2,
        quality: 3,
        mode: PriorMode::ContextSum,
        digest: "71fd13a1e6157d5f",
    },
    // `-q 3` (the default mode then: context, its scales by the sum of the activities) with the
    // fifth bundle before its grid scale context was added: it still reads it.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.e1ac2994.sac"),
        weights: Weights::Fifth,
        version: 2,
        quality: 3,
        mode: PriorMode::ContextSum,
        digest: "62a53439d7334b5a",
    },
    // `-q 3` (context, its scales by the activities apart; version 2, mode 4) with the fifth
    // bundle: the same latents and ids, so the same digest.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.02f20b26.sac"),
        weights: Weights::Fifth,
        version: 2,
        quality: 3,
        mode: PriorMode::ContextGaussian,
        digest: "62a53439d7334b5a",
    },
    // `-q 3` (the default mode then: the same with logistic residuals; version 2, mode 5): the
    // same latents and ids.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3-logistic.02f20b26.sac"),
        weights: Weights::Fifth,
        version: 2,
        quality: 3,
        mode: PriorMode::ContextIdsAlone,
        digest: "62a53439d7334b5a",
    },
    // `-q 3` (the same with each id's prior following its neighbours'; version 2, mode 6): the
    // same latents and ids.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3-neighbour-ids.02f20b26.sac"),
        weights: Weights::Fifth,
        version: 2,
        quality: 3,
        mode: PriorMode::Context,
        digest: "62a53439d7334b5a",
    },
    // `-q 3` (mode 6) with the sixth bundle.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.02fd903b.sac"),
        weights: Weights::Sixth,
        version: 2,
        quality: 3,
        mode: PriorMode::Context,
        digest: "fcbe4b53d1ab97d0",
    },
    // `-q 3` (mode 6) with the seventh bundle.
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.bd227931.sac"),
        weights: Weights::Seventh,
        version: 2,
        quality: 3,
        mode: PriorMode::Context,
        digest: "7abb3321e165eb15",
    },
    // `-q 3` (the default mode, 6) with the shipped weights (ten levels).
    Fixture {
        bytes: include_bytes!("../fixtures/parrots-200x136-q3.89556eab.sac"),
        weights: Weights::Shipped,
        version: 2,
        quality: 3,
        mode: PriorMode::Context,
        digest: "db0c2c664e9cbf35",
    },
];

/// Reads every fixture in [`PARROTS`] with its weights on `device` and checks what every
/// platform must agree on.
pub fn check_parrots(device: &Device) {
    // Each bundle the fixtures name, loaded once (so a new one needs no list of its own).
    for (i, first) in PARROTS.iter().enumerate() {
        if PARROTS[..i].iter().any(|f| f.weights == first.weights) {
            continue;
        }
        let codec = Codec::from_bytes(first.weights.bytes(), device).unwrap();
        for f in PARROTS.iter().filter(|f| f.weights == first.weights) {
            check_fixture(&codec, f);
        }
    }
}

/// Reads fixture `f` with `codec` (its weights) and checks what every platform must agree on.
fn check_fixture(codec: &Codec, f: &Fixture) {
    let d = codec.read(f.bytes).expect("the fixture decodes");
    let header = (
        d.header.width,
        d.header.height,
        d.header.quality,
        d.header.mode,
    );
    assert_eq!(
        (f.bytes[4], header),
        (f.version, (200, 136, f.quality, f.mode))
    );
    let ids = (f.mode != PriorMode::Global).then_some(35);
    assert_eq!(d.ids.as_ref().map(Vec::len), ids);
    let digest = sacodec::codec::latents_digest(&d.latents, d.ids.as_deref());
    assert_eq!(digest, f.digest, "{:?}, version {}", f.mode, f.version);
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
