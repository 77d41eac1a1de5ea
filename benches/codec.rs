//! CPU benchmarks of sacodec.
//!
//! - `entropy`: ANS coding of the latents of 384 patches (a 768×512 image, 384·1024 symbols)
//!   under priors fitted to synthetic latents, in global, subclass and context mode
//!   (symbols/s; the synthetic latents have no spatial correlation, so context does not pay
//!   here: it measures the predictions' cost).
//!   The coder's overhead over the ideal code length is printed first.
//! - `codec`: compress and decompress (no enhancer) of a 768×512 image with the shipped
//!   weights (`weights/sacodec.safetensors`; the seeded bundle where there are none) in their
//!   default prior mode.
//! - `enhancer`: the AttentionUNet alone on the decoded 768×512 image.
//!
//! The image is `$SACODEC_BENCH_IMAGE` if set, else a synthetic photo-like 768×512 image.
//!
//! ```text
//! cargo bench --bench codec              # full run (a few minutes on 2 cores)
//! cargo bench --bench codec -- --test    # each benchmark once
//! ```

use std::hint::black_box;
use std::time::Duration;

use burn::prelude::Device;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use image::RgbImage;
use sacodec::codec::coder::LevelCoder;
use sacodec::codec::entropy::Tables;
use sacodec::codec::mode::Coding;
use sacodec::codec::priors::LevelPriors;
use sacodec::model::{LATENT_CHANNELS, LATENT_LEN};
use sacodec::rng::SplitMix64;
use sacodec::{Bundle, Codec, CompressOptions, PriorMode};

/// Patches of a 768×512 image.
const PATCHES: usize = (768 / 32) * (512 / 32);
/// Patches the priors are fitted on (a grid of 64 × 64).
const TRAINING_PATCHES: usize = 4096;
const TRAINING_COLS: usize = 64;
/// Subclasses (groups of the synthetic latents).
const GROUPS: usize = 8;
const WIDTH: u32 = 768;
const HEIGHT: u32 = 512;
/// Patch columns of a 768×512 image.
const COLS: usize = WIDTH as usize / 32;

// ---------------------------------------------------------------------------------------------
// Synthetic latents

/// Standard normal sample (Box–Muller).
fn gaussian(rng: &mut SplitMix64) -> f64 {
    let u1 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn uniform(rng: &mut SplitMix64, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.unit() as f64
}

/// Per-group, per-element (mean, std) of the synthetic latents: each channel has a base
/// spread (log-uniform in [0.3, 6]) and offset, elements jitter around them, and each group
/// shifts the means and rescales the spreads of its own, so the groups' statistics differ.
struct LatentModel {
    /// `GROUPS × LATENT_LEN` (mean, std).
    stats: Vec<(f64, f64)>,
    /// Cumulative group probabilities (not uniform).
    cumulative: Vec<f64>,
}

impl LatentModel {
    fn new(rng: &mut SplitMix64) -> Self {
        let per_channel = LATENT_LEN / LATENT_CHANNELS;
        let channels: Vec<(f64, f64)> = (0..LATENT_CHANNELS)
            .map(|_| (uniform(rng, -3.0, 3.0), 0.3 * 20f64.powf(rng.unit() as f64)))
            .collect();
        let mut stats = Vec::with_capacity(GROUPS * LATENT_LEN);
        for _ in 0..GROUPS {
            let group_scale: Vec<f64> = (0..LATENT_CHANNELS)
                .map(|_| 2f64.powf(uniform(rng, -1.0, 1.0)))
                .collect();
            let group_shift: Vec<f64> = (0..LATENT_CHANNELS)
                .map(|_| uniform(rng, -2.0, 2.0))
                .collect();
            for e in 0..LATENT_LEN {
                let c = e / per_channel;
                let (mean, sd) = channels[c];
                let mean = mean + group_shift[c] + uniform(rng, -0.5, 0.5);
                let sd = (sd * group_scale[c] * uniform(rng, 0.8, 1.25)).clamp(0.3, 6.0);
                stats.push((mean, sd));
            }
        }
        let weights: Vec<f64> = (0..GROUPS).map(|g| 1.0 + g as f64).collect();
        let total: f64 = weights.iter().sum();
        let cumulative = weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w / total;
                Some(*acc)
            })
            .collect();
        Self { stats, cumulative }
    }

    /// `n` patches of μ (`n × LATENT_LEN`) and their group ids.
    fn sample(&self, n: usize, rng: &mut SplitMix64) -> (Vec<f32>, Vec<u8>) {
        let mut mu = Vec::with_capacity(n * LATENT_LEN);
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let u = rng.unit() as f64;
            let g = self
                .cumulative
                .iter()
                .position(|&c| u < c)
                .unwrap_or(GROUPS - 1);
            ids.push(g as u8);
            let stats = &self.stats[g * LATENT_LEN..][..LATENT_LEN];
            mu.extend(stats.iter().map(|&(m, s)| (m + s * gaussian(rng)) as f32));
        }
        (mu, ids)
    }
}

fn entropy_coding(c: &mut Criterion) {
    let tables = Tables::gaussian();
    let mut rng = SplitMix64(0x5ac0_be9c);
    let model = LatentModel::new(&mut rng);
    let (train_mu, train_ids) = model.sample(TRAINING_PATCHES, &mut rng);
    let gain = vec![1.0f32; LATENT_CHANNELS];
    let mut priors = LevelPriors::fit(tables, gain, &train_mu, &train_ids, GROUPS);
    let training = [(TRAINING_COLS, &train_mu[..], &train_ids[..])];
    priors.fit_context(tables, &training, TRAINING_PATCHES, 1e-3);
    let coder = LevelCoder::new(&priors);

    let (mu, ids) = model.sample(PATCHES, &mut rng);
    let latents = priors.quantize(&mu);
    let symbols = latents.len() as u64;

    let modes = PriorMode::ALL.map(|mode| (mode.name(), Coding::new(mode, &ids, COLS)));
    println!("entropy coder: {PATCHES} patches, {symbols} latent symbols");
    for (name, coding) in modes {
        let words = coder.encode(&latents, coding);
        let payload_bits = 32.0 * words.len() as f64;
        let information = coder.information_bits(&latents, coding);
        let decoded = coder
            .decode(words, PATCHES, coding.mode(), COLS)
            .expect("the payload decodes");
        assert_eq!(decoded.latents, latents, "{name}: latents round-trip");
        assert_eq!(
            decoded.ids.as_deref(),
            coding.ids(),
            "{name}: ids round-trip"
        );
        println!(
            "  {name:>8}: payload {payload_bits:.0} bits, information {information:.1} bits \
             ({:.3} bits/symbol), overhead {:.4} %",
            information / symbols as f64,
            100.0 * (payload_bits - information) / information,
        );
    }

    let mut group = c.benchmark_group("entropy");
    group.throughput(Throughput::Elements(symbols));
    for (name, coding) in modes {
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| coder.encode(black_box(&latents), black_box(coding)))
        });
        let words = coder.encode(&latents, coding);
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter_batched(
                || words.clone(),
                |words| {
                    coder
                        .decode(words, PATCHES, coding.mode(), COLS)
                        .expect("decodes")
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// The whole codec

/// A hash of a pixel position, uniform in [0, 1).
fn noise(x: u32, y: u32, salt: u64) -> f32 {
    let mut rng = SplitMix64(((y as u64) << 32 | x as u64) ^ salt.wrapping_mul(0x9e37_79b9));
    rng.unit()
}

/// Value noise: bilinear interpolation of a hashed lattice of cell `cell` pixels.
fn value_noise(x: u32, y: u32, cell: u32, salt: u64) -> f32 {
    let (cx, cy) = (x / cell, y / cell);
    let (fx, fy) = (
        (x % cell) as f32 / cell as f32,
        (y % cell) as f32 / cell as f32,
    );
    let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
    let (sx, sy) = (smooth(fx), smooth(fy));
    let top = noise(cx, cy, salt) * (1.0 - sx) + noise(cx + 1, cy, salt) * sx;
    let bottom = noise(cx, cy + 1, salt) * (1.0 - sx) + noise(cx + 1, cy + 1, salt) * sx;
    top * (1.0 - sy) + bottom * sy
}

/// A deterministic photo-like image: a sky-to-ground gradient, soft clouds, a textured field,
/// a few sharp-edged objects (a sun, a house with a striped roof) and sensor-like grain.
fn synthetic_image(width: u32, height: u32) -> RgbImage {
    let horizon = height as f32 * 0.55;
    RgbImage::from_fn(width, height, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let mut rgb = if yf < horizon {
            // Sky: vertical gradient with clouds.
            let t = yf / horizon;
            let cloud = (value_noise(x, y, 64, 1) * 0.6 + value_noise(x, y, 16, 2) * 0.4 - 0.45)
                .max(0.0)
                * 1.6;
            [
                0.35 + 0.4 * t + cloud,
                0.55 + 0.3 * t + cloud,
                0.95 - 0.1 * t + cloud * 0.8,
            ]
        } else {
            // Ground: textured grass with furrows getting finer towards the horizon.
            let t = (yf - horizon) / (height as f32 - horizon);
            let grass = value_noise(x, y, 4, 3) * 0.5 + value_noise(x, y, 24, 4) * 0.5;
            let furrow = 0.08 * ((xf - width as f32 / 2.0) / (8.0 + 40.0 * t)).sin();
            [
                0.2 + 0.25 * grass + furrow,
                0.35 + 0.3 * grass + 0.1 * t + furrow,
                0.1 + 0.1 * grass,
            ]
        };
        // Sun: a disc with a hard edge.
        let (dx, dy) = (xf - width as f32 * 0.8, yf - height as f32 * 0.18);
        if dx * dx + dy * dy < (height as f32 * 0.08).powi(2) {
            rgb = [1.0, 0.92, 0.6];
        }
        // House: a wall with a window, and a striped roof.
        let (hx0, hx1) = (width as f32 * 0.2, width as f32 * 0.45);
        let (wall_top, wall_bottom) = (height as f32 * 0.45, height as f32 * 0.75);
        if (hx0..hx1).contains(&xf) && (wall_top..wall_bottom).contains(&yf) {
            let brick = if (y / 6 + (x / 14) % 2).is_multiple_of(2) {
                0.05
            } else {
                -0.05
            };
            rgb = [0.7 + brick, 0.45 + brick, 0.35];
            let (wx, wy) = (
                (xf - hx0) / (hx1 - hx0),
                (yf - wall_top) / (wall_bottom - wall_top),
            );
            if (0.6..0.85).contains(&wx) && (0.2..0.5).contains(&wy) {
                rgb = [0.15, 0.2, 0.3];
            }
        }
        let roof_height = height as f32 * 0.15;
        let ry = wall_top - yf;
        if (0.0..roof_height).contains(&ry) {
            let half = (hx1 - hx0) / 2.0 * (1.0 - ry / roof_height) + 10.0;
            if (xf - (hx0 + hx1) / 2.0).abs() < half {
                let stripe = if (y / 5).is_multiple_of(2) { 0.0 } else { 0.12 };
                rgb = [0.55 + stripe, 0.15 + stripe, 0.1];
            }
        }
        // Grain.
        let grain = (noise(x, y, 5) - 0.5) * 0.04;
        image::Rgb(rgb.map(|v| ((v + grain).clamp(0.0, 1.0) * 255.0).round() as u8))
    })
}

/// `$SACODEC_BENCH_IMAGE` if set, else the synthetic 768×512 image.
fn bench_image() -> (RgbImage, String) {
    match std::env::var_os("SACODEC_BENCH_IMAGE") {
        Some(path) => {
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("SACODEC_BENCH_IMAGE={}: {e}", path.display()));
            let loaded = sacodec::image_io::load_image(&bytes)
                .unwrap_or_else(|e| panic!("SACODEC_BENCH_IMAGE={}: {e}", path.display()));
            (loaded.image, path.to_string_lossy().into_owned())
        }
        None => (synthetic_image(WIDTH, HEIGHT), "synthetic".into()),
    }
}

/// The shipped weights, or the seeded bundle where there are none.
fn bundle() -> Bundle {
    let device = Device::flex();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/sacodec.safetensors");
    match std::fs::read(path) {
        Ok(bytes) => Bundle::from_bytes(&bytes, &device).expect("weights/sacodec.safetensors"),
        Err(_) => Bundle::seeded(&device),
    }
}

fn whole_codec(c: &mut Criterion) {
    let codec = Codec::new(bundle());
    let (img, source) = bench_image();
    let (w, h) = img.dimensions();
    let pixels = w as u64 * h as u64;
    let opts = CompressOptions {
        mode: codec.default_mode(),
        ..CompressOptions::default()
    };

    let compressed = codec.compress(&img, opts).expect("compresses");
    let bytes = compressed.bytes;
    let decoded = codec.read(&bytes).expect("reads");
    let grid = decoded.grid();
    let planar = codec.reconstruct(&decoded);
    println!(
        "codec: {source} image {w}×{h}, {} patches, {} bytes ({:.3} bpp)",
        grid.len(),
        bytes.len(),
        sacodec::bpp(bytes.len(), grid),
    );

    let mut group = c.benchmark_group("codec");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(pixels));
    group.bench_function(format!("compress/{w}x{h}"), |b| {
        b.iter(|| codec.compress(black_box(&img), opts).expect("compresses"))
    });
    group.bench_function(format!("decompress/{w}x{h}"), |b| {
        b.iter(|| {
            codec
                .decompress(black_box(&bytes), false)
                .expect("decompresses")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("enhancer");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(pixels));
    group.bench_function(format!("enhance/{w}x{h}"), |b| {
        b.iter(|| codec.enhance(black_box(&planar), grid, opts.quality))
    });
    group.finish();
}

criterion_group!(benches, entropy_coding, whole_codec);
criterion_main!(benches);
