//! A network's parameters by name, through burn's own store (`burn::store`, burn-store).
//!
//! Parameters are named by their module path (`encoder.conv1.weight`), in burn's save layout,
//! with the network's prefix (`vae.`, `projection.`, `enhancer.`) in a weights file. Files hold
//! f32 (the trainer's export) or a bundle's 8-bit weights ([`Stored`]); either loads into f32
//! parameters. Values made here are rounded as a bundle stores them, so a network in memory
//! and the same network after a save/load round trip are identical.

use burn::module::Module;
use burn::store::burn_pack::{self, Bytes};
use burn::store::{FloatCastAdapter, ModuleSnapshot};
use burn::tensor::DType;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// One named float tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Module path, dot-separated.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// All float parameters of `module`, in visiting order, names prefixed by `prefix.`.
pub fn collect<M: Module>(module: &M, prefix: &str) -> Vec<NamedTensor> {
    let f32s = Box::new(FloatCastAdapter::to(DType::F32));
    module
        .collect(None, Some(f32s), false)
        .into_iter()
        .map(|t| {
            let (name, _, shape, _, bytes) = t.into_parts().expect("a module's own tensor");
            NamedTensor {
                name: format!("{prefix}.{name}"),
                shape: shape.to_vec(),
                data: le_f32s(&bytes),
            }
        })
        .collect()
}

/// Loads every float parameter of `module` from the `prefix.…` tensors of a safetensors file:
/// f32 (the trainer's export), f16, or 8-bit with its scales (a bundle, [`Stored`]); other
/// tensors are ignored. Fails on a missing tensor, another dtype or a shape mismatch.
pub fn load<M: Module>(module: M, prefix: &str, st: &SafeTensors) -> Result<M> {
    let bad = |m: String| Error::Weights(format!("{prefix}: {m}"));
    let ours = format!("{prefix}.");
    let mut tensors = Vec::new();
    for (name, t) in st.tensors() {
        if !name.starts_with(&ours) || name.ends_with(SCALE_SUFFIX) {
            continue;
        }
        let bytes = t.data();
        let data = match t.dtype() {
            Dtype::F32 => le_f32s(bytes),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::I8 => {
                let scale_name = format!("{name}{SCALE_SUFFIX}");
                let s = st
                    .tensor(&scale_name)
                    .map_err(|_| bad(format!("missing tensor {scale_name}")))?;
                let rows = t.shape().first().copied().unwrap_or(0);
                if s.dtype() != Dtype::F32 || s.shape() != [rows] || rows == 0 {
                    return Err(bad(format!("{scale_name}: not {rows} f32 scales")));
                }
                Stored::Q8 {
                    q: bytes.iter().map(|&b| b as i8).collect(),
                    scale: le_f32s(s.data()),
                }
                .restore()
            }
            other => return Err(bad(format!("{name} is {other:?}"))),
        };
        tensors.push(NamedTensor {
            name,
            shape: t.shape().to_vec(),
            data,
        });
    }
    apply(module, prefix, tensors).map_err(bad)
}

/// Replaces every float parameter of `module` by the tensor of the same name in `tensors`
/// (names prefixed by `prefix.`). Fails on a missing tensor or a shape mismatch.
fn apply<M: Module>(
    mut module: M,
    prefix: &str,
    tensors: Vec<NamedTensor>,
) -> std::result::Result<M, String> {
    let tensors = tensors
        .into_iter()
        .map(|t| {
            let name = t.name[prefix.len() + 1..].to_string();
            let bytes = Bytes::from_elems(t.data);
            burn_pack::Tensor::new(name, DType::F32, t.shape, None, bytes)
        })
        .collect();
    let result = module.apply(tensors, None, None, false);
    if let Some(e) = result.errors.first() {
        return Err(e.to_string());
    }
    match result.missing.first() {
        Some((name, _)) => Err(format!("missing tensor {prefix}.{name}")),
        None => Ok(module),
    }
}

/// Re-initialises every float parameter of `module` deterministically from `seed`: uniform in
/// ±1/√fan_in (PyTorch's default bound), then rounded as a bundle stores it ([`Stored`]). The
/// same seed gives the same values on every machine (integer PRNG, exact arithmetic).
pub fn seed<M: Module>(module: M, prefix: &str, seed: u64) -> M {
    let mut fan_in = 1;
    let tensors = collect(&module, prefix)
        .into_iter()
        .map(|t| {
            fan_in = match t.shape.len() {
                1 => fan_in,     // a bias: the fan-in of the weight before it
                2 => t.shape[0], // Linear, stored [in, out]
                _ => t.shape[1..].iter().product(),
            };
            let bound = 1.0 / (fan_in as f32).sqrt();
            let mut rng = SplitMix64(seed ^ fnv1a(t.name.as_bytes()));
            let data = t
                .data
                .iter()
                .map(|_| (rng.unit() * 2.0 - 1.0) * bound)
                .collect();
            NamedTensor { data, ..t }.rounded()
        })
        .collect();
    apply(module, prefix, tensors).expect("a module's own tensors")
}

/// Rounds every float parameter to what a bundle stores ([`Stored`]).
pub fn round_to_stored<M: Module>(module: M, prefix: &str) -> M {
    let tensors = collect(&module, prefix)
        .into_iter()
        .map(NamedTensor::rounded)
        .collect();
    apply(module, prefix, tensors).expect("a module's own tensors")
}

/// The network whose weights a bundle keeps in f16, not 8 bits: the PatchVAE (570 k weights,
/// 0.6 MB more), whose 8-bit weights cost its held-out decoded patches 0.02 dB at level 0 to
/// 0.12 dB at level 7 in the last 8-bit bundle (`weights/manifest.json`, `psnr_patches_f32`
/// against `psnr_patches_stored` of `previous/02fd903b…`; f16: under 0.001 dB); the
/// projection's and the enhancer's stay 8-bit.
pub const F16_NETWORK: &str = "vae.";

/// Suffix of the scales of an 8-bit tensor in a bundle (`{name}.scale`).
pub const SCALE_SUFFIX: &str = ".scale";

/// A parameter as a bundle stores it: a tensor of two or more axes (a convolution's or a
/// linear layer's weight) as 8-bit integers, one f32 scale per slice of its first axis
/// (symmetric: the slice's largest magnitude maps to ±127); a bias or a norm's parameter, and
/// every tensor of the PatchVAE ([`F16_NETWORK`]), in f16. The scale keeps 11 significant
/// bits, so 127 × scale is exact and storing a restored tensor again gives the same integers
/// and scales.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// 8-bit values, row-major, and one scale per slice of the first axis.
    Q8 { q: Vec<i8>, scale: Vec<f32> },
    /// f16 values.
    F16(Vec<half::f16>),
}

impl Stored {
    /// How a bundle stores `t`.
    pub fn of(t: &NamedTensor) -> Self {
        if t.shape.len() < 2 || t.data.is_empty() || t.name.starts_with(F16_NETWORK) {
            return Self::F16(t.data.iter().map(|&v| half::f16::from_f32(v)).collect());
        }
        let row = t.data.len() / t.shape[0];
        let mut q = Vec::with_capacity(t.data.len());
        let mut scale = Vec::with_capacity(t.shape[0]);
        for slice in t.data.chunks_exact(row) {
            let max = slice.iter().fold(0f32, |m, v| m.max(v.abs()));
            let s = keep_11_bits(max / 127.0);
            scale.push(s);
            q.extend(slice.iter().map(|&v| match s > 0.0 {
                true => (v / s).round().clamp(-127.0, 127.0) as i8,
                false => 0,
            }));
        }
        Self::Q8 { q, scale }
    }

    /// The f32 values.
    pub fn restore(&self) -> Vec<f32> {
        match self {
            Self::F16(v) => v.iter().map(|v| v.to_f32()).collect(),
            Self::Q8 { q, scale } => {
                let row = q.len() / scale.len().max(1);
                q.chunks_exact(row.max(1))
                    .zip(scale)
                    .flat_map(|(slice, &s)| slice.iter().map(move |&v| v as f32 * s))
                    .collect()
            }
        }
    }
}

impl NamedTensor {
    /// The same tensor, rounded to what a bundle stores.
    pub fn rounded(self) -> Self {
        let data = Stored::of(&self).restore();
        Self { data, ..self }
    }
}

/// `v` rounded to 11 significant bits (f16's precision, f32's range).
fn keep_11_bits(v: f32) -> f32 {
    const DROP: u32 = 23 - 10;
    f32::from_bits((v.to_bits() + (1 << (DROP - 1))) & !((1 << DROP) - 1))
}

/// Little-endian f32s (a whole number of them; a trailing partial one is ignored).
pub fn le_f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// FNV-1a hash, to derive a per-tensor seed from its name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
