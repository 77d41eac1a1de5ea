//! A network's parameters by name, through burn's own store (`burn::store`, burn-store).
//!
//! Parameters are named by their module path (`encoder.conv1.weight`), in burn's save layout,
//! with the network's prefix (`vae.`, `projection.`, `enhancer.`) in a weights file. Files hold
//! f32 (the trainer's export) or f16 (a bundle); either loads into f32 parameters. Values made
//! here are kept f16-representable (the bundle stores f16), so a network in memory and the
//! same network after a save/load round trip are identical.

use burn::module::Module;
use burn::store::burn_pack::{self, Bytes};
use burn::store::{FloatCastAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::DType;

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
                data: bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
            }
        })
        .collect()
}

/// Loads every float parameter of `module` from the `prefix.…` tensors of a safetensors file
/// (f32 or f16; other tensors are ignored). Fails on a missing tensor or a shape mismatch.
pub fn load<M: Module>(mut module: M, prefix: &str, safetensors: &[u8]) -> Result<M> {
    let mut store = SafetensorsStore::from_bytes(Some(safetensors.to_vec()))
        .with_key_remapping(format!(r"^{prefix}\."), "")
        .with_from_adapter(FloatCastAdapter::to(DType::F32));
    let result = module
        .load_from(&mut store)
        .map_err(|e| Error::Weights(format!("{prefix}: {e}")))?;
    match result.errors.first() {
        None => Ok(module),
        Some(e) => Err(Error::Weights(format!("{prefix}: {e}"))),
    }
}

/// Replaces every float parameter of `module` by the tensor of the same name in `tensors`
/// (names prefixed by `prefix.`, shapes as the module's).
fn apply<M: Module>(mut module: M, prefix: &str, tensors: Vec<NamedTensor>) -> M {
    let tensors = tensors
        .into_iter()
        .map(|t| {
            let name = t
                .name
                .strip_prefix(&format!("{prefix}."))
                .unwrap()
                .to_string();
            let bytes = Bytes::from_elems(t.data);
            burn_pack::Tensor::new(name, DType::F32, t.shape, None, bytes)
        })
        .collect();
    let result = module.apply(tensors, None, None, false);
    assert!(
        result.errors.is_empty() && result.missing.is_empty(),
        "{result:?}"
    );
    module
}

/// Re-initialises every float parameter of `module` deterministically from `seed`: uniform in
/// ±1/√fan_in (PyTorch's default bound), rounded to f16. The same seed gives the same values
/// on every machine (integer PRNG, exact arithmetic).
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
                .map(|_| f16_round((rng.unit() * 2.0 - 1.0) * bound))
                .collect();
            NamedTensor { data, ..t }
        })
        .collect();
    apply(module, prefix, tensors)
}

/// Rounds every float parameter to the nearest f16 value (what the bundle stores).
pub fn round_to_f16<M: Module>(module: M, prefix: &str) -> M {
    let tensors = collect(&module, prefix)
        .into_iter()
        .map(|mut t| {
            t.data.iter_mut().for_each(|v| *v = f16_round(*v));
            t
        })
        .collect();
    apply(module, prefix, tensors)
}

fn f16_round(v: f32) -> f32 {
    half::f16::from_f32(v).to_f32()
}

/// FNV-1a hash, to derive a per-tensor seed from its name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}
