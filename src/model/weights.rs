//! Reading, writing and seeding a network's parameters by name.
//!
//! Parameters are named by their module path (`encoder.conv1.weight`), in burn's save
//! layout. Values are kept f16-representable (the bundle stores f16), so a network in memory
//! and the same network after a save/load round trip are identical.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

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
    let mut c = Collector {
        path: vec![prefix.to_string()],
        out: Vec::new(),
    };
    module.visit(&mut c);
    c.out
}

struct Collector {
    path: Vec<String>,
    out: Vec<NamedTensor>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.transform_for_save().val();
        let shape = tensor.dims().to_vec();
        let data = tensor
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 data");
        self.out.push(NamedTensor {
            name: self.path.join("."),
            shape,
            data,
        });
    }
}

/// Replaces every float parameter of `module` by the tensor of the same name (prefixed by
/// `prefix.`) in `tensors`. Fails on a missing tensor or a shape mismatch.
pub fn load<M: Module>(
    module: M,
    prefix: &str,
    tensors: &HashMap<String, NamedTensor>,
) -> Result<M, String> {
    let mut loader = Loader {
        path: vec![prefix.to_string()],
        tensors,
        errors: Vec::new(),
    };
    let module = module.map(&mut loader);
    match loader.errors.is_empty() {
        true => Ok(module),
        false => Err(loader.errors.join("; ")),
    }
}

struct Loader<'a> {
    path: Vec<String>,
    tensors: &'a HashMap<String, NamedTensor>,
    errors: Vec<String>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.join(".");
        let want = param.transform_for_save().val().dims().to_vec();
        match self.tensors.get(&name) {
            None => self.errors.push(format!("missing tensor {name}")),
            Some(t) if t.shape != want => self
                .errors
                .push(format!("{name}: shape {:?}, expected {want:?}", t.shape)),
            Some(t) => {
                let device = param.lazy_device();
                let tensor = Tensor::from_data(TensorData::new(t.data.clone(), want), &device);
                let id = param.id;
                return param.transform_for_load(tensor, id);
            }
        }
        param
    }
}

/// Re-initialises every float parameter of `module` deterministically from `seed`: uniform in
/// ±1/√fan_in (PyTorch's default bound), rounded to f16. The same seed gives the same values
/// on every machine (integer PRNG, exact arithmetic).
pub fn seed<M: Module>(module: M, prefix: &str, seed: u64) -> M {
    let names = collect(&module, prefix);
    let mut fan_in = 1;
    let tensors = names
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
            (t.name.clone(), NamedTensor { data, ..t })
        })
        .collect();
    load(module, prefix, &tensors).expect("same module, same names")
}

/// Rounds every float parameter to the nearest f16 value (what the bundle stores).
pub fn round_to_f16<M: Module>(module: M, prefix: &str) -> M {
    let tensors = collect(&module, prefix)
        .into_iter()
        .map(|mut t| {
            t.data.iter_mut().for_each(|v| *v = f16_round(*v));
            (t.name.clone(), t)
        })
        .collect();
    load(module, prefix, &tensors).expect("same module, same names")
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
