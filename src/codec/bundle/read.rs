//! Reading a bundle ([`Bundle::from_bytes`]): every tensor is checked — name, dtype, shape,
//! values — before anything is built from it, so a damaged or foreign file is an error, never
//! a panic.

use burn::prelude::Device;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use super::{Bundle, FORMAT, GRID_PREFIX, SUM_PREFIX};
use crate::codec::context::{PREDICTOR_LEN, Predictor};
use crate::codec::entropy::GaussianPrior;
use crate::codec::priors::{LevelContext, LevelPriors};
use crate::codec::scales::{Buckets, GRID, SUM_BUCKETS, ScaleContext};
use crate::error::{Error, Result};
use crate::model::weights::le_f32s;
use crate::model::{LATENT_CHANNELS, LATENT_LEN, Networks, PROJECTION_DIM};

fn bad(why: String) -> Error {
    Error::Weights(why)
}

/// Reads a bundle written by [`Bundle::to_bytes`].
pub(super) fn bundle(bytes: &[u8], device: &Device) -> Result<Bundle> {
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad(format!("not a {FORMAT} file")));
    }
    let count: usize = (meta.get("levels").and_then(|l| l.parse().ok()))
        .filter(|n| (1..=255).contains(n))
        .ok_or_else(|| bad(format!("level count {:?}: 1 to 255", meta.get("levels"))))?;
    let file = File(SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?);
    let nets = Networks::from_safetensors(bytes, device)?;
    let centroids = file.centroids()?;
    let k = centroids.len() / PROJECTION_DIM;
    let mut levels: Vec<LevelPriors> = Vec::with_capacity(count);
    for q in 0..count {
        let level = file.level(q, k)?;
        if q > 0 && level.context.is_some() != levels[0].context.is_some() {
            return Err(bad(format!(
                "level {q}: context priors at some levels only"
            )));
        }
        levels.push(level);
    }
    let enhance = match meta.get("enhance") {
        None => vec![true; count],
        Some(list) => parse_enhance_list(list, count)
            .ok_or_else(|| bad(format!("enhance = {list:?}: one 0 or 1 per level")))?,
    };
    Ok(Bundle {
        nets,
        centroids,
        levels,
        enhance,
        trained: meta.get("trained").map(String::as_str) == Some("true"),
        description: meta.get("description").cloned().unwrap_or_default(),
    })
}

/// `enhance` metadata: one `0`/`1` per level, comma-separated.
fn parse_enhance_list(list: &str, levels: usize) -> Option<Vec<bool>> {
    let flags: Option<Vec<bool>> = list
        .split(',')
        .map(|f| match f {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        })
        .collect();
    flags.filter(|f| f.len() == levels)
}

/// A bundle's tensors.
struct File<'a>(SafeTensors<'a>);

impl File<'_> {
    fn has(&self, name: &str) -> bool {
        self.0.tensor(name).is_ok()
    }

    /// Tensor `name`, of `dtype`.
    fn any_shape(&self, name: &str, dtype: Dtype) -> Result<TensorView<'_>> {
        let t = (self.0.tensor(name)).map_err(|_| bad(format!("missing tensor {name}")))?;
        match t.dtype() == dtype {
            true => Ok(t),
            false => Err(bad(format!(
                "{name} is {:?}, expected {dtype:?}",
                t.dtype()
            ))),
        }
    }

    /// The bytes of tensor `name`, of `dtype` and `shape`.
    fn bytes(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&[u8]> {
        let t = self.any_shape(name, dtype)?;
        match t.shape() == shape {
            true => Ok(t.data()),
            false => Err(bad(format!(
                "{name}: shape {:?}, expected {shape:?}",
                t.shape()
            ))),
        }
    }

    fn f32s(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        Ok(le_f32s(self.bytes(name, Dtype::F32, shape)?))
    }

    /// The values of tensor `name`, of `dtype` and `shape`, each read from its `N`
    /// little-endian bytes by `from`.
    fn values<T, const N: usize>(
        &self,
        name: &str,
        dtype: Dtype,
        shape: &[usize],
        from: fn([u8; N]) -> T,
    ) -> Result<Vec<T>> {
        let b = self.bytes(name, dtype, shape)?;
        Ok((b.chunks_exact(N))
            .map(|b| from(b.try_into().expect("N bytes")))
            .collect())
    }

    fn i16s(&self, name: &str, shape: &[usize]) -> Result<Vec<i16>> {
        self.values(name, Dtype::I16, shape, i16::from_le_bytes)
    }

    fn u32s(&self, name: &str, shape: &[usize]) -> Result<Vec<u32>> {
        self.values(name, Dtype::U32, shape, u32::from_le_bytes)
    }

    /// K unit centroids, `K × PROJECTION_DIM`, 1 ≤ K ≤ 255.
    fn centroids(&self) -> Result<Vec<f32>> {
        let t = self.any_shape("centroids", Dtype::F32)?;
        match t.shape() {
            &[k, PROJECTION_DIM] if (1..=255).contains(&k) => Ok(le_f32s(t.data())),
            shape => Err(bad(format!("centroids of shape {shape:?}"))),
        }
    }

    /// The priors `{name}.mean` and `{name}.scale` of `shape` (one row of `LATENT_LEN` per
    /// prior), each valid.
    fn priors(&self, name: &str, shape: &[usize]) -> Result<Vec<GaussianPrior>> {
        let means = self.i16s(&format!("{name}.mean"), shape)?;
        let scales = self.bytes(&format!("{name}.scale"), Dtype::U8, shape)?;
        let priors: Vec<GaussianPrior> = (means.chunks_exact(LATENT_LEN))
            .zip(scales.chunks_exact(LATENT_LEN))
            .map(|(m, s)| GaussianPrior {
                mean_q: m.to_vec(),
                scale_idx: s.to_vec(),
            })
            .collect();
        for p in &priors {
            p.validate().map_err(|e| match e {
                Error::Weights(why) => bad(format!("{name}: {why}")),
                e => e,
            })?;
        }
        Ok(priors)
    }

    /// Level `q` of a bundle of `k` subclasses.
    fn level(&self, q: usize, k: usize) -> Result<LevelPriors> {
        let name = |s: &str| format!("levels.{q}.{s}");
        let gain = self.f32s(&name("gain"), &[LATENT_CHANNELS])?;
        if gain.iter().any(|g| !(g.is_finite() && *g > 0.0)) {
            return Err(bad(format!("level {q}: gains must be positive")));
        }
        let global = self.priors(&name("global"), &[LATENT_LEN])?.remove(0);
        Ok(LevelPriors {
            gain,
            global,
            subclasses: self.priors(&name("subclass"), &[k, LATENT_LEN])?,
            id_counts: self.u32s(&name("ids"), &[k])?,
            context: self.context(q, k)?,
        })
    }

    /// Level `q`'s context, where the bundle has one.
    fn context(&self, q: usize, k: usize) -> Result<Option<LevelContext>> {
        let name = |s: &str| format!("levels.{q}.{s}");
        if !self.has(&name("context.predictor")) {
            return Ok(None);
        }
        let weights = self.values(
            &name("context.predictor"),
            Dtype::I32,
            &[PREDICTOR_LEN],
            i32::from_le_bytes,
        )?;
        let predictor = Predictor::new(weights).map_err(|why| bad(format!("level {q}: {why}")))?;
        Ok(Some(LevelContext {
            predictor,
            subclasses: self.priors(&name("context"), &[k, LATENT_LEN])?,
            scales: self.scale_context(&name(SUM_PREFIX), false)?,
            grid: self.scale_context(&name(GRID_PREFIX), true)?,
        }))
    }

    /// The sum (or with `grid` the grid) scale context under `prefix`, where its moves are.
    fn scale_context(&self, prefix: &str, grid: bool) -> Result<Option<ScaleContext>> {
        let name = |what: &str| format!("{prefix}.{what}");
        if !self.has(&name("shifts")) {
            return Ok(None);
        }
        fn array<T, const N: usize>(v: Vec<T>) -> [T; N] {
            v.try_into().ok().expect("shaped")
        }
        let edges = |what: &str, len: usize| self.u32s(&name(what), &[len]);
        let buckets = match grid {
            false => Buckets::Sum(array(edges("edges", SUM_BUCKETS - 1)?)),
            true => Buckets::Grid {
                spatial: array(edges("spatial", GRID[0] - 1)?),
                cross: array(edges("cross", GRID[1] - 1)?),
                scale: array(
                    self.bytes(&name("scale"), Dtype::U8, &[GRID[2] - 1])?
                        .to_vec(),
                ),
            },
        };
        let shape = [LATENT_CHANNELS, buckets.count()];
        let shifts = self.bytes(&name("shifts"), Dtype::I8, &shape)?;
        let shifts = shifts.iter().map(|&b| b as i8).collect();
        let scales =
            ScaleContext::new(buckets, shifts).map_err(|why| bad(format!("{prefix}: {why}")))?;
        Ok(Some(scales))
    }
}
