//! The seed's networks: output shapes and ranges, parameter counts computed from the spec layer
//! by layer, and the deterministic seeded initialisation.

use burn::module::Module;
use burn::prelude::*;
use sacodec::model::weights::{F16_NETWORK, NamedTensor, Stored};
use sacodec::model::{AttentionUNetConfig, LatentSimClrProjectionConfig, Networks, PatchVaeConfig};
use sacodec::rng::SplitMix64;

fn device() -> Device {
    Device::flex()
}

/// A tensor of uniform values in `[lo, hi)` from a fixed seed.
fn uniform<const D: usize>(shape: [usize; D], lo: f32, hi: f32, seed: u64) -> Tensor<D> {
    let mut rng = SplitMix64(seed);
    let n = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| lo + (hi - lo) * rng.unit()).collect();
    Tensor::from_data(TensorData::new(data, shape), &device())
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor")
}

fn assert_in_unit_range(v: &[f32], what: &str) {
    for (i, &x) in v.iter().enumerate() {
        assert!(
            x.is_finite() && (0.0..=1.0).contains(&x),
            "{what}[{i}] = {x} is outside [0, 1]"
        );
    }
}

// Parameter counts of the layer kinds (weights + biases).

/// `k×k` convolution or transposed convolution, with bias.
fn conv(input: usize, output: usize, k: usize) -> usize {
    input * output * k * k + output
}

/// Fully connected layer, with bias.
fn linear(input: usize, output: usize) -> usize {
    input * output + output
}

/// Two 3×3 convolutions: `input → output → output`.
fn conv_block(input: usize, output: usize) -> usize {
    conv(input, output, 3) + conv(output, output, 3)
}

/// Attention gate of width `f`: 1×1 W_g (f → f/2), W_x (f → f/2), ψ (f/2 → 1).
fn attention_gate(f: usize) -> usize {
    conv(f, f / 2, 1) + conv(f, f / 2, 1) + conv(f / 2, 1, 1)
}

#[test]
fn patch_vae_shapes_and_range() {
    let device = device();
    let vae = PatchVaeConfig::new().init(&device);
    let n = 3;
    let x = uniform([n, 3, 32, 32], 0.0, 1.0, 1);
    let (mu, logvar) = vae.encoder.forward(x.clone());
    assert_eq!(mu.dims(), [n, 64, 4, 4]);
    assert_eq!(logvar.dims(), [n, 64, 4, 4]);
    // `mu` alone is the encoder's first head.
    let mu_only = values(vae.encoder.mu(x));
    assert_eq!(mu_only, values(mu.clone()));

    let z = uniform([n, 64, 4, 4], -3.0, 3.0, 2);
    let out = vae.decoder.forward(z);
    assert_eq!(out.dims(), [n, 3, 32, 32]);
    assert_in_unit_range(&values(out), "decoder output");

    // The decoder also takes the encoder's own output.
    let round_trip = vae.decoder.forward(mu);
    assert_eq!(round_trip.dims(), [n, 3, 32, 32]);
    assert_in_unit_range(&values(round_trip), "decoded μ");
}

#[test]
fn projection_gives_unit_vectors() {
    let device = device();
    let projection = LatentSimClrProjectionConfig::new().init(&device);
    for (n, side, seed) in [(5, 4, 3), (2, 8, 4)] {
        let z = uniform([n, 64, side, side], -4.0, 4.0, seed);
        let e = projection.forward(z);
        assert_eq!(e.dims(), [n, 128], "{side}×{side} latent");
        let v = values(e);
        for (i, row) in v.chunks_exact(128).enumerate() {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!(
                (norm - 1.0).abs() < 1e-4,
                "{side}×{side} latent, row {i}: norm {norm}"
            );
        }
    }
}

#[test]
fn attention_unet_keeps_the_shape_and_range() {
    let device = device();
    let unet = AttentionUNetConfig::new().init(&device);
    let x = uniform([1, 3, 64, 96], 0.0, 1.0, 5);
    let y = values(unet.forward(x.clone(), 0.0));
    assert_eq!(y.len(), 3 * 64 * 96);
    assert_in_unit_range(&y, "enhancer output");
    // The level channel changes the output; a network without it ignores the level.
    assert_ne!(y, values(unet.forward(x.clone(), 1.0)));
    let plain = AttentionUNetConfig::new()
        .with_level_input(false)
        .init(&device);
    assert_eq!(
        values(plain.forward(x.clone(), 0.0)),
        values(plain.forward(x, 1.0))
    );
}

#[test]
fn patch_vae_parameter_count_matches_the_spec() {
    let vae = PatchVaeConfig::new().init(&device());
    let encoder = conv(3, 32, 4) // 4×4/2
        + conv(32, 64, 4) // 4×4/2
        + conv(64, 128, 4) // 4×4/2
        + conv(128, 128, 3) // 3×3/1
        + conv(128, 64, 1) // μ head
        + conv(128, 64, 1); // logσ² head
    let decoder = conv(64, 128, 3) // convT 3×3/1
        + conv(128, 64, 4) // convT 4×4/2
        + conv(64, 32, 4) // convT 4×4/2
        + conv(32, 3, 4); // convT 4×4/2
    assert_eq!(encoder, 329_696);
    assert_eq!(decoder, 239_331);
    assert_eq!(Module::num_params(&vae.encoder), encoder);
    assert_eq!(Module::num_params(&vae.decoder), decoder);
    assert_eq!(Module::num_params(&vae), encoder + decoder);
    assert_eq!(encoder + decoder, 569_027);
}

#[test]
fn projection_parameter_count_matches_the_spec() {
    let projection = LatentSimClrProjectionConfig::new().init(&device());
    let spec = conv(64, 128, 3) + conv(128, 256, 3) + linear(256, 256) + linear(256, 128);
    assert_eq!(Module::num_params(&projection), spec);
    assert_eq!(spec, 467_712);
}

#[test]
fn attention_unet_parameter_count_matches_the_spec() {
    let unet = AttentionUNetConfig::new().init(&device());
    // Half the seed's widths (64-128-256, bottleneck 512), and a fourth input channel for the
    // quality level: see src/model/unet.rs.
    let encoder = conv_block(3 + 1, 32) + conv_block(32, 64) + conv_block(64, 128);
    let bottleneck = conv_block(128, 256);
    let upsampling = conv(256, 128, 2) + conv(128, 64, 2) + conv(64, 32, 2); // convT 2×2/2
    let gates = attention_gate(128) + attention_gate(64) + attention_gate(32);
    // The first conv of each decoder block reads [gated skip, upsampled] concatenated.
    let decoder = conv_block(256, 128) + conv_block(128, 64) + conv_block(64, 32);
    let head = conv(32, 3, 1);
    let spec = encoder + bottleneck + upsampling + gates + decoder + head;
    assert_eq!(Module::num_params(&unet), spec);
    assert_eq!(spec, 1_947_798);
    let without_level = AttentionUNetConfig::new()
        .with_level_input(false)
        .init(&device());
    assert_eq!(Module::num_params(&without_level), spec - 32 * 9);
}

#[test]
fn seeded_networks_are_deterministic_and_stored_exactly() {
    let device = device();
    let a = Networks::seeded(7, &device).tensors();
    let b = Networks::seeded(7, &device).tensors();
    let c = Networks::seeded(8, &device).tensors();

    // Every parameter of the three networks is there, once.
    let total: usize = a.iter().map(|t| t.data.len()).sum();
    assert_eq!(total, 569_027 + 467_712 + 1_947_798);
    for t in &a {
        assert_eq!(
            t.data.len(),
            t.shape.iter().product::<usize>(),
            "{}",
            t.name
        );
    }
    let mut names: Vec<&str> = a.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), a.len(), "duplicate tensor names");
    for prefix in ["vae.", "projection.", "enhancer."] {
        assert!(names.iter().any(|n| n.starts_with(prefix)), "no {prefix}…");
    }

    // Same seed: identical; another seed: every tensor differs.
    assert_eq!(a, b);
    assert_eq!(a.len(), c.len());
    for (x, y) in a.iter().zip(&c) {
        assert_eq!((&x.name, &x.shape), (&y.name, &y.shape));
        assert_ne!(x.data, y.data, "{} is the same under seeds 7 and 8", x.name);
    }

    // Exactly what a bundle stores (8-bit weights, f16 biases and PatchVAE), finite and not
    // all zero.
    for t in &a {
        assert!(t.data.iter().all(|v| v.is_finite()), "{}", t.name);
        assert_eq!(t.clone().rounded(), *t, "{}", t.name);
        assert!(t.data.iter().any(|&v| v != 0.0), "{} is all zero", t.name);
        let stored = Stored::of(t);
        match (t.shape.len(), &stored) {
            (1, Stored::F16(_)) => {}
            (_, Stored::F16(_)) if t.name.starts_with(F16_NETWORK) => {}
            (_, Stored::Q8 { q, scale }) if !t.name.starts_with(F16_NETWORK) => {
                assert_eq!(
                    (q.len(), scale.len()),
                    (t.data.len(), t.shape[0]),
                    "{}",
                    t.name
                );
                // Each slice's largest magnitude is ±127: the whole 8-bit range is used.
                let row = q.len() / scale.len();
                for slice in q.chunks(row) {
                    assert_eq!(slice.iter().map(|v| v.unsigned_abs()).max(), Some(127));
                }
            }
            _ => panic!("{} of shape {:?} stored as {stored:?}", t.name, t.shape),
        }
    }
}

#[test]
fn stored_weights_are_within_half_a_step_and_store_again_unchanged() {
    let mut rng = SplitMix64(11);
    // Four slices of 9 values with very different spreads, and one all-zero slice.
    let spreads = [1.0, 1e-3, 37.0, 1e-6, 0.0];
    let data: Vec<f32> = spreads
        .iter()
        .flat_map(|&s| {
            (0..9)
                .map(|_| (rng.unit() * 2.0 - 1.0) * s)
                .collect::<Vec<_>>()
        })
        .collect();
    let t = NamedTensor {
        name: "w".into(),
        shape: vec![5, 1, 3, 3],
        data: data.clone(),
    };
    let Stored::Q8 { q, scale } = Stored::of(&t) else {
        panic!("a 4-axis tensor is stored in 8 bits");
    };
    assert_eq!(scale[4], 0.0);
    for (i, (&v, &r)) in data.iter().zip(&t.clone().rounded().data).enumerate() {
        let step = scale[i / 9];
        assert!(
            (v - r).abs() <= step * 0.5 + f32::EPSILON * v.abs(),
            "{v} → {r}"
        );
    }
    let again = Stored::of(&t.clone().rounded());
    assert_eq!(again, Stored::Q8 { q, scale });
    // A bias stays f16.
    let bias = NamedTensor {
        name: "b".into(),
        shape: vec![3],
        data: vec![0.1, -2.5, 1e-3],
    };
    assert_eq!(
        bias.clone().rounded().data,
        bias.data
            .iter()
            .map(|&v| half::f16::from_f32(v).to_f32())
            .collect::<Vec<_>>()
    );
}
