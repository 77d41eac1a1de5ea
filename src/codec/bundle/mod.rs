//! A weights bundle: the three networks, the SimCLR centroids and every quality level's
//! priors, in one safetensors file, with its fingerprint.
//!
//! Tensors (networks in 8 bits, the PatchVAE in f16 since 2026-12-04, [`Stored`]; the rest
//! exact):
//!
//! | name | dtype | shape |
//! |---|---|---|
//! | `projection.…`, `enhancer.…` weights (and `vae.…` before 2026-12-04) | I8 | as the module |
//! | the same, `….scale` | F32 | the weight's first axis |
//! | `vae.…` weights; biases and norms | F16 | as the module |
//! | `centroids` | F32 | K × 128 |
//! | `levels.{q}.gain` | F32 | 64 |
//! | `levels.{q}.global.mean` / `.scale` | I16 / U8 | 1024 |
//! | `levels.{q}.subclass.mean` / `.scale` | I16 / U8 | K × 1024 |
//! | `levels.{q}.ids` | U32 | K |
//! | `levels.{q}.context.predictor` | I32 | [`PREDICTOR_LEN`] (optional: every level or none) |
//! | `levels.{q}.context.mean` / `.scale` | I16 / U8 | K × 1024 |
//! | `levels.{q}.context.scales.edges` / `.shifts` | U32 / I8 | 15 / 64 × 16 (a [`Buckets::Sum`] [`ScaleContext`]; optional) |
//! | `levels.{q}.context.scales.grid.spatial` / `.cross` / `.scale` / `.shifts` | U32 / U32 / U8 / I8 | 11 / 11 / 3 / 64 × 576 (a [`Buckets::Grid`] one; optional) |
//!
//! Metadata: `format` = `sacodec-bundle-1`, `levels`, `trained`, `description`, and
//! `enhance`: one `0`/`1` per level, comma-separated, whether the enhancer runs at that level
//! (`sacodec train` turns it off where it does not gain on held-out images; absent: every
//! level). Metadata is not part of the fingerprint.
//! The fingerprint is BLAKE3 over every tensor (sorted by name: name, dtype, shape, bytes); a
//! `.sac` file records the fingerprint of what it needs, so a file decodes only with the
//! weights that made it: a file coded with context, the whole bundle's; one coded with the sum
//! scale context, that over every tensor but the grid's; one coded with context before the
//! scales followed it, that over every tensor but the scale contexts'; any other, the base
//! fingerprint, over every tensor but the context ones (so adding context priors, or a scale
//! context, to a bundle keeps its older files decodable).

use std::collections::HashMap;

mod read;

use burn::prelude::Device;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

use crate::codec::context::PREDICTOR_LEN;
use crate::codec::entropy::{GaussianPrior, Tables};
use crate::codec::fit;
use crate::codec::mode::PriorMode;
use crate::codec::priors::LevelPriors;
use crate::codec::scales::{Buckets, ScaleContext};
use crate::error::{Error, Result};
use crate::model::weights::{SCALE_SUFFIX, Stored};
use crate::model::{LATENT_CHANNELS, LATENT_LEN, Networks, PROJECTION_DIM};

const FORMAT: &str = "sacodec-bundle-1";
/// Seed of the deterministic untrained bundle.
pub const SEED: u64 = 0x5ac0_dec0;
/// Subclasses of the seeded bundle.
pub const SEEDED_SUBCLASSES: usize = 8;
/// Quantization gains of the seeded bundle's four quality levels, in units of 1/std(μ).
pub const SEEDED_GAINS: [f32; 4] = [0.5, 1.0, 2.0, 4.0];

/// Networks, centroids and priors.
pub struct Bundle {
    /// The networks.
    pub nets: Networks,
    /// K unit centroids, `K × PROJECTION_DIM`.
    pub centroids: Vec<f32>,
    /// Priors of each quality level, lowest quality first.
    pub levels: Vec<LevelPriors>,
    /// Per level, whether the enhancer runs (it is off where it does not gain).
    pub enhance: Vec<bool>,
    /// Whether the weights were trained (false: the seeded initialisation).
    pub trained: bool,
    /// Free text: what made these weights.
    pub description: String,
}

struct Entry {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Entry {
    fn new<T: Copy>(
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        values: &[T],
        to: fn(T) -> Vec<u8>,
    ) -> Self {
        let data = values.iter().flat_map(|&v| to(v)).collect();
        Self {
            name,
            dtype,
            shape,
            data,
        }
    }
}

/// BLAKE3 over (name, dtype, shape, bytes) of tensors sorted by name; first 8 bytes.
fn digest<'a>(tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>) -> u64 {
    let mut h = blake3::Hasher::new();
    for (name, dtype, shape, data) in tensors {
        h.update(name.as_bytes());
        h.update(&[0]);
        h.update(format!("{dtype:?}").as_bytes());
        for &d in shape {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(&(data.len() as u64).to_le_bytes());
        h.update(data);
    }
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().unwrap())
}

impl Bundle {
    /// Whether the enhancer runs at quality level `quality`.
    pub fn enhances(&self, quality: u8) -> bool {
        self.enhance.get(quality as usize).copied().unwrap_or(false)
    }

    /// Number of subclasses K.
    pub fn subclasses(&self) -> usize {
        self.centroids.len() / PROJECTION_DIM
    }

    /// The untrained, deterministic bundle: seeded networks, centroids from spherical k-means
    /// on synthetic patches, and priors fitted by maximum likelihood to their latents.
    pub fn seeded(device: &Device) -> Self {
        let nets = Networks::seeded(SEED, device);
        let patches = fit::synthetic_patches(1280, SEED);
        let mu = nets.encode_mu(&patches);
        let embeddings = nets.project(&mu);
        let centroids = fit::spherical_kmeans(&embeddings, SEEDED_SUBCLASSES, 10);
        let ids = fit::nearest(&embeddings, &centroids);
        let tables = Tables::gaussian();
        // Gains relative to the latents' spread, so every level codes some information.
        let n = mu.len() as f64;
        let mean = mu.iter().map(|&v| v as f64).sum::<f64>() / n;
        let sd = (mu.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        let unit = (1.0 / sd.max(1e-6)) as f32;
        // The first 64 patches, as an 8 × 8 grid, for the context (whose fit wants whole
        // images; these synthetic patches are no neighbours of each other, so it predicts
        // little, but it codes).
        let grid = [(8, &mu[..64 * LATENT_LEN], &ids[..64])];
        let levels: Vec<LevelPriors> = SEEDED_GAINS
            .iter()
            .map(|&g| {
                let gain = vec![g * unit; LATENT_CHANNELS];
                let mut level = LevelPriors::fit(tables, gain, &mu, &ids, SEEDED_SUBCLASSES);
                level.fit_context(tables, &grid, 64, 1e-3);
                // And the sum scale context, so the seeded bundle codes every mode.
                level.fit_scales(tables, &grid, 64, false);
                level
            })
            .collect();
        Self {
            nets,
            centroids,
            enhance: vec![true; levels.len()],
            levels,
            trained: false,
            description: "untrained: deterministic seeded initialisation with fitted priors".into(),
        }
    }

    fn entries(&self) -> Vec<Entry> {
        let k = self.subclasses();
        let f32b = |v: f32| v.to_le_bytes().to_vec();
        let i16b = |v: i16| v.to_le_bytes().to_vec();
        let mut out = Vec::new();
        for t in self.nets.tensors() {
            match Stored::of(&t) {
                Stored::F16(v) => out.push(Entry::new(t.name, Dtype::F16, t.shape, &v, |v| {
                    v.to_le_bytes().to_vec()
                })),
                Stored::Q8 { q, scale } => {
                    let rows = vec![scale.len()];
                    let scale_name = format!("{}{SCALE_SUFFIX}", t.name);
                    out.push(Entry::new(scale_name, Dtype::F32, rows, &scale, f32b));
                    out.push(Entry::new(t.name, Dtype::I8, t.shape, &q, |v| {
                        vec![v as u8]
                    }));
                }
            }
        }
        out.push(Entry::new(
            "centroids".into(),
            Dtype::F32,
            vec![k, PROJECTION_DIM],
            &self.centroids,
            f32b,
        ));
        for (q, level) in self.levels.iter().enumerate() {
            let name = |s: &str| format!("levels.{q}.{s}");
            out.push(Entry::new(
                name("gain"),
                Dtype::F32,
                vec![LATENT_CHANNELS],
                &level.gain,
                f32b,
            ));
            out.push(Entry::new(
                name("global.mean"),
                Dtype::I16,
                vec![LATENT_LEN],
                &level.global.mean_q,
                i16b,
            ));
            out.push(Entry::new(
                name("global.scale"),
                Dtype::U8,
                vec![LATENT_LEN],
                &level.global.scale_idx,
                |v| vec![v],
            ));
            out.extend(prior_entries(&name, "subclass", &level.subclasses));
            out.push(Entry::new(
                name("ids"),
                Dtype::U32,
                vec![k],
                &level.id_counts,
                |v: u32| v.to_le_bytes().to_vec(),
            ));
            if let Some(ctx) = &level.context {
                out.push(Entry::new(
                    name("context.predictor"),
                    Dtype::I32,
                    vec![PREDICTOR_LEN],
                    ctx.predictor.weights(),
                    |v: i32| v.to_le_bytes().to_vec(),
                ));
                out.extend(prior_entries(&name, "context", &ctx.subclasses));
                for scales in [&ctx.scales, &ctx.grid].into_iter().flatten() {
                    out.extend(scale_entries(&name, scales));
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The fingerprints of the bundle (see the module's docs).
    pub fn fingerprints(&self) -> Fingerprints {
        let entries = self.entries();
        Fingerprints::of(
            entries
                .iter()
                .map(|e| (&e.name[..], e.dtype, &e.shape[..], &e.data[..])),
        )
    }

    /// The fingerprints of the bundle a safetensors file holds, read from the file itself:
    /// no tensor is read back from a device (a browser's WebGPU cannot do that synchronously).
    /// Equal to [`Bundle::fingerprints`] of the bundle loaded from it.
    pub fn file_fingerprints(bytes: &[u8]) -> Result<Fingerprints> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::Weights(e.to_string()))?;
        let mut tensors = st.tensors();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Fingerprints::of(
            tensors
                .iter()
                .map(|(n, t)| (&n[..], t.dtype(), t.shape(), t.data())),
        ))
    }

    /// The bundle as a safetensors file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let entries = self.entries();
        let views = entries.iter().map(|e| {
            let view =
                TensorView::new(e.dtype, e.shape.clone(), &e.data).expect("consistent entry");
            (e.name.clone(), view)
        });
        let meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("levels".to_string(), self.levels.len().to_string()),
            ("trained".to_string(), self.trained.to_string()),
            ("description".to_string(), self.description.clone()),
            ("enhance".to_string(), enhance_list(&self.enhance)),
        ]);
        safetensors::serialize(views, Some(meta)).expect("serialisable tensors")
    }

    /// Reads a bundle written by [`Bundle::to_bytes`]; every tensor is checked.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        read::bundle(bytes, device)
    }
}

/// What a `.sac` file may name: the whole bundle, all of it but the grid scale context, all
/// of it but the scale contexts, or all of it but the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprints {
    /// BLAKE3 of every tensor, first 8 bytes, little-endian: what a file coded with the grid
    /// scale context ([`PriorMode::Context`], [`PriorMode::ContextIdsAlone`],
    /// [`PriorMode::ContextGaussian`]) records.
    pub full: u64,
    /// The same over every tensor but the grid scale context: what a file coded with the sum
    /// scale context ([`PriorMode::ContextSum`]) records.
    pub sum: u64,
    /// The same over every tensor but the scale contexts: what a file coded with context
    /// before the scales followed it records.
    pub means: u64,
    /// The same over every tensor but the context priors: what any other file records.
    pub base: u64,
}

impl Fingerprints {
    fn of<'a>(
        tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])> + Clone,
    ) -> Self {
        let without = |part: &str| digest(tensors.clone().filter(|t| !t.0.contains(part)));
        Self {
            full: digest(tensors.clone()),
            sum: without(&format!(".{GRID_PREFIX}.")),
            means: without(&format!(".{SUM_PREFIX}.")),
            base: without(".context."),
        }
    }

    /// The fingerprint a file coded in `mode` records.
    pub fn of_mode(self, mode: PriorMode) -> u64 {
        match mode {
            PriorMode::Context | PriorMode::ContextIdsAlone | PriorMode::ContextGaussian => {
                self.full
            }
            PriorMode::ContextSum => self.sum,
            PriorMode::ContextMeans => self.means,
            PriorMode::Global | PriorMode::Subclass => self.base,
        }
    }
}

/// Where a level's sum and grid scale contexts are (under `levels.{q}.`).
const SUM_PREFIX: &str = "context.scales";
const GRID_PREFIX: &str = "context.scales.grid";

/// The entries of a scale context, named by `name`.
fn scale_entries(name: &dyn Fn(&str) -> String, scales: &ScaleContext) -> Vec<Entry> {
    let u32b = |v: u32| v.to_le_bytes().to_vec();
    let at = |prefix: &str, what: &str| name(&format!("{prefix}.{what}"));
    let edges =
        |prefix, what, e: &[u32]| Entry::new(at(prefix, what), Dtype::U32, vec![e.len()], e, u32b);
    let (prefix, mut out) = match scales.buckets() {
        Buckets::Sum(e) => (SUM_PREFIX, vec![edges(SUM_PREFIX, "edges", e)]),
        Buckets::Grid {
            spatial,
            cross,
            scale,
        } => (
            GRID_PREFIX,
            vec![
                edges(GRID_PREFIX, "spatial", spatial),
                edges(GRID_PREFIX, "cross", cross),
                Entry::new(
                    at(GRID_PREFIX, "scale"),
                    Dtype::U8,
                    vec![scale.len()],
                    scale,
                    |v| vec![v],
                ),
            ],
        ),
    };
    out.push(Entry::new(
        at(prefix, "shifts"),
        Dtype::I8,
        vec![LATENT_CHANNELS, scales.buckets().count()],
        scales.shifts(),
        |v: i8| v.to_le_bytes().to_vec(),
    ));
    out
}

/// The `{what}.mean` and `{what}.scale` entries of one row per prior, named by `name`.
fn prior_entries(
    name: &dyn Fn(&str) -> String,
    what: &str,
    priors: &[GaussianPrior],
) -> [Entry; 2] {
    let (means, scales) = prior_rows(priors);
    let shape = vec![priors.len(), LATENT_LEN];
    [
        Entry::new(
            name(&format!("{what}.mean")),
            Dtype::I16,
            shape.clone(),
            &means,
            |v: i16| v.to_le_bytes().to_vec(),
        ),
        Entry::new(
            name(&format!("{what}.scale")),
            Dtype::U8,
            shape,
            &scales,
            |v| vec![v],
        ),
    ]
}

/// The means and scales of priors, one row per prior.
fn prior_rows(priors: &[GaussianPrior]) -> (Vec<i16>, Vec<u8>) {
    let means = priors.iter().flat_map(|p| p.mean_q.clone()).collect();
    let scales = priors.iter().flat_map(|p| p.scale_idx.clone()).collect();
    (means, scales)
}

fn enhance_list(enhance: &[bool]) -> String {
    let flags: Vec<&str> = enhance.iter().map(|&e| if e { "1" } else { "0" }).collect();
    flags.join(",")
}
