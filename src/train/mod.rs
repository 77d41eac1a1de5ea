//! The Rust half of training (native only): turning the networks the Python trainer made
//! (`training/`, on a GPU) into the shipped bundle. What takes seconds to minutes on a CPU
//! stays here:
//!
//! 1. load the trainer's export ([`TrainedNetworks`]: the three networks, each level's
//!    quantization gains and λ, and the trainer's record);
//! 2. encode training patches and held-out patches (every `holdout`-th file; never Kodak);
//! 3. for each candidate K: spherical k-means on the SimCLR projections, each level's priors
//!    fitted by maximum likelihood on the rounded training latents, and the bits they code the
//!    held-out patches in; the K whose SimCLR subclasses save the most bits is shipped;
//! 4. each level's context ([`crate::codec::context`]): the predictor and the context priors,
//!    fitted on whole training images; the bits it saves measured on whole held-out ones;
//! 5. per level, on held-out data: PSNR of decoded patches (stored and f32 weights, and with
//!    unquantized μ: the autoencoder's ceiling), and the enhancer's gain on decoded crops;
//!    the bundle enhances only the levels where it gains at least [`MIN_ENHANCER_GAIN_DB`].

mod context;
pub mod data;
mod networks;

pub use context::add_context;
pub use networks::{NETWORKS_FORMAT, TrainedNetworks};

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::codec::bundle::Bundle;
use crate::codec::coder::LevelCoder;
use crate::codec::entropy::Tables;
use crate::codec::fit;
use crate::codec::manifest::{HeldOut, LevelMetrics, SubclassChoice, TrainerRecord};
use crate::codec::mode::{Coding, PriorMode};
use crate::codec::patches::{self, Grid};
use crate::codec::priors::LevelPriors;
use crate::error::{Error, Result};
use crate::model::{LATENT_LEN, Networks, PATCH, PATCH_LEN};
use context::fit_context;
use data::Sampler;
use image::RgbImage;

/// The least held-out gain (dB) for which a level runs the enhancer: below it the enhancer
/// costs time (seconds on a CPU) for nothing a person could see.
pub const MIN_ENHANCER_GAIN_DB: f64 = 0.1;

/// Settings of `sacodec train`.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct TrainConfig {
    /// The trainer's export: networks, per-level gains and λ
    /// (`python -m sacodec_train export`).
    #[arg(long, required_unless_present = "bundle", conflicts_with = "bundle")]
    pub networks: Option<PathBuf>,
    /// Instead of `--networks`: a bundle made before context priors or before the grid scale
    /// context, to which only what it lacks is added. Everything else stays as it is, and so
    /// do the fingerprints its files record, so every file made with it still decodes with the
    /// new one.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Folders of training photographs (never the evaluation set).
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Where the bundle is written; `manifest.json` beside it gets an entry for it.
    #[arg(long, default_value = "weights/sacodec.safetensors")]
    pub out: PathBuf,
    /// Longer image sides are scaled down to this on loading.
    #[arg(long, default_value_t = 1024)]
    pub max_side: u32,
    /// Every `holdout`-th file (sorted by path) is held out: K and the enhancer's levels are
    /// chosen on it.
    #[arg(long, default_value_t = 10)]
    pub holdout: usize,
    /// Training patches the priors are fitted on.
    #[arg(long, default_value_t = 32768)]
    pub prior_patches: usize,
    /// Held-out patches K is chosen on.
    #[arg(long, default_value_t = 4096)]
    pub valid_patches: usize,
    /// Candidate numbers of subclasses (comma-separated, each 1..=255).
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    pub subclasses: Vec<usize>,
    /// Patches of whole training images the context's predictor and scale context are fitted
    /// on (the first images, in order).
    #[arg(long, default_value_t = 16384)]
    pub predictor_patches: usize,
    /// Patches of whole training images the context priors are fitted on (the first images,
    /// in order).
    #[arg(long, default_value_t = 131072)]
    pub context_patches: usize,
    /// Ridge of the context's least squares, relative to each feature's mean square.
    #[arg(long, default_value_t = 1e-3)]
    pub context_ridge: f64,
    /// Held-out 128×128 crops the enhancer is checked on, per level.
    #[arg(long, default_value_t = 16)]
    pub enhancer_crops: usize,
    /// Seed of the patch and crop sampling.
    #[arg(long, default_value_t = 0x5ac0_dec0)]
    pub seed: u64,
}

/// The bundle `sacodec train` made, and what it measured.
pub struct Trained {
    /// The bundle (networks rounded to what it stores, `Networks::round_to_stored`).
    pub bundle: Bundle,
    /// What made the networks.
    pub record: TrainerRecord,
    /// Held-out measurements.
    pub held_out: HeldOut,
    /// Wall seconds of this step.
    pub wall_s: f64,
}

/// PSNR of 8-bit roundings of two `[0, 1]` buffers.
fn psnr_u8(a: &[f32], b: &[f32]) -> f64 {
    let u8s = |v: &[f32]| v.iter().map(|&v| patches::to_u8(v)).collect::<Vec<_>>();
    crate::metrics::psnr_samples(&u8s(a), &u8s(b))
}

/// About `n` patches spread evenly over the images (every image contributes), for a fixed
/// held-out set.
fn image_patches(images: &[RgbImage], n: usize) -> Vec<f32> {
    let per_image = n.div_ceil(images.len().max(1));
    let mut out = Vec::with_capacity(n * PATCH_LEN);
    for img in images {
        let all = patches::to_patches(img);
        let count = all.len() / PATCH_LEN;
        let stride = (count / per_image.max(1)).max(1);
        for p in all.chunks_exact(PATCH_LEN).step_by(stride).take(per_image) {
            out.extend_from_slice(p);
        }
    }
    out
}

/// Bits of held-out latents at one level: global prior, SimCLR subclasses, rate-optimal.
fn level_bits(level: &LevelPriors, mu: &[f32], ids: &[u8]) -> [f64; 3] {
    let coder = LevelCoder::new(level);
    let z = level.quantize(mu);
    let rate_ids = coder.rate_optimal_ids(&z, PriorMode::Subclass, 0);
    [
        coder.information_bits(&z, Coding::Global),
        coder.information_bits(&z, Coding::Subclass { ids }),
        coder.information_bits(&z, Coding::Subclass { ids: &rate_ids }),
    ]
}

/// Decoded (stitched) and enhanced crops at one level: `(decoded, enhanced)`, planar.
fn crops_at_level(
    nets: &Networks,
    level: &LevelPriors,
    crops: &[RgbImage],
    t: f32,
) -> [Vec<f32>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for crop in crops {
        let grid = Grid::new(crop.width(), crop.height());
        let mu = nets.encode_mu(&patches::to_patches(crop));
        let decoded = nets.decode(&level.dequantize(&level.quantize(&mu)));
        let planar = patches::stitch(&decoded, grid);
        let (h, w) = (grid.padded_height(), grid.padded_width());
        out[1].extend(nets.enhance(&planar, h, w, t));
        out[0].extend(planar);
    }
    out
}

/// Fits priors and K to `trained`'s networks on the images under `cfg.data` and measures the
/// bundle on held-out images. `log` receives one line per event.
pub fn run(
    cfg: &TrainConfig,
    trained: TrainedNetworks,
    log: &mut dyn FnMut(&str),
) -> Result<Trained> {
    let started = Instant::now();
    let bad = |m: String| Error::Weights(m);
    if let Some(&k) = cfg.subclasses.iter().find(|k| !(1..=255).contains(*k)) {
        return Err(bad(format!("{k} subclasses: K must be 1..=255")));
    }
    let images = data::load(&cfg.data, cfg.max_side, cfg.holdout)?;
    log(&format!(
        "data: {} training and {} held-out images",
        images.train.len(),
        images.valid.len()
    ));
    let TrainedNetworks {
        nets: f32_nets,
        gains,
        lambdas,
        record,
    } = trained;
    let nets = f32_nets.clone().round_to_stored();

    let mut sampler = Sampler::new(cfg.seed ^ 0x9210);
    let train_patches = sampler.crops(&images.train, cfg.prior_patches, PATCH);
    let valid_patches = image_patches(&images.valid, cfg.valid_patches);
    let mu_train = nets.encode_mu(&train_patches);
    let mu_valid = nets.encode_mu(&valid_patches);
    let mu_valid_f32 = f32_nets.encode_mu(&valid_patches);
    let emb_train = nets.project(&mu_train);
    let emb_valid = nets.project(&mu_valid);
    let n_valid = mu_valid.len() / LATENT_LEN;
    let pixels = (n_valid * PATCH * PATCH) as f64;
    let tables = Tables::gaussian();
    log(&format!(
        "encoded {} training and {n_valid} held-out patches",
        mu_train.len() / LATENT_LEN
    ));

    // Choose K by the bits the SimCLR subclasses save on held-out patches, over all levels.
    let mut choices = Vec::new();
    let mut best: Option<(f64, Vec<f32>, Vec<LevelPriors>)> = None;
    for &k in &cfg.subclasses {
        let centroids = fit::spherical_kmeans(&emb_train, k, 25);
        let ids_train = fit::nearest(&emb_train, &centroids);
        let ids_valid = fit::nearest(&emb_valid, &centroids);
        let levels: Vec<LevelPriors> = gains
            .iter()
            .map(|g| LevelPriors::fit(tables, g.clone(), &mu_train, &ids_train, k))
            .collect();
        let bits: Vec<[f64; 3]> = levels
            .iter()
            .map(|l| level_bits(l, &mu_valid, &ids_valid))
            .collect();
        let total = |i: usize| bits.iter().map(|b| b[i]).sum::<f64>();
        let choice = SubclassChoice {
            k,
            bits_global: total(0),
            bits_simclr: total(1),
            bits_rate_optimal: total(2),
            saving_simclr_percent: 100.0 * (1.0 - total(1) / total(0)),
            saving_rate_optimal_percent: 100.0 * (1.0 - total(2) / total(0)),
            per_level_bpp: bits.iter().map(|b| b.map(|v| v / pixels)).collect(),
        };
        log(&format!(
            "K = {k}: held-out bits {:.0} global, {:.0} SimCLR ({:.2} % saved), {:.0} \
             rate-optimal ({:.2} % saved)",
            choice.bits_global,
            choice.bits_simclr,
            choice.saving_simclr_percent,
            choice.bits_rate_optimal,
            choice.saving_rate_optimal_percent
        ));
        if best
            .as_ref()
            .is_none_or(|b| choice.saving_simclr_percent > b.0)
        {
            best = Some((choice.saving_simclr_percent, centroids, levels));
        }
        choices.push(choice);
    }
    let (_, centroids, mut levels) = best.ok_or_else(|| bad("no candidate K".into()))?;
    let shipped = choices
        .iter()
        .find(|c| c.k == centroids.len() / crate::model::PROJECTION_DIM)
        .expect("the shipped K was a candidate")
        .clone();
    log(&format!("shipping K = {}", shipped.k));

    let context = fit_context(cfg, tables, &nets, &centroids, &mut levels, &images, log);

    // Per level: distortion, the autoencoder's ceiling, and the enhancer's gain.
    // 128×128 crops (64×64 if no held-out image is that large; the loader keeps ≥ 64 px).
    let side = match images
        .valid
        .iter()
        .any(|i| i.width().min(i.height()) >= 128)
    {
        true => 128,
        false => 64,
    };
    let crops = Sampler::new(cfg.seed ^ 0xe4).crop_images(&images.valid, cfg.enhancer_crops, side);
    let originals: Vec<f32> = crops.iter().flat_map(patches::to_planar_padded).collect();
    let ceiling = psnr_u8(&f32_nets.decode(&mu_valid_f32), &valid_patches);
    let mut per_level = Vec::new();
    for (q, level) in levels.iter().enumerate() {
        let decoded = nets.decode(&level.dequantize(&level.quantize(&mu_valid)));
        let decoded32 = f32_nets.decode(&level.dequantize(&level.quantize(&mu_valid_f32)));
        let input = crate::model::enhancer_input(q as u8, levels.len());
        let [dec, enh] = crops_at_level(&nets, level, &crops, input);
        let (psnr_dec, psnr_enh) = (psnr_u8(&dec, &originals), psnr_u8(&enh, &originals));
        let bpp = shipped.per_level_bpp[q];
        per_level.push(LevelMetrics {
            quality: q,
            lambda: lambdas.get(q).copied().unwrap_or(f32::NAN),
            bpp_global: bpp[0],
            bpp_simclr: bpp[1],
            bpp_rate_optimal: bpp[2],
            psnr_patches_stored: psnr_u8(&decoded, &valid_patches),
            psnr_patches_f32: psnr_u8(&decoded32, &valid_patches),
            psnr_ceiling: Some(ceiling),
            psnr_decoded_crops: Some(psnr_dec),
            psnr_enhanced_crops: Some(psnr_enh),
            enhance: psnr_enh >= psnr_dec + MIN_ENHANCER_GAIN_DB,
            context: Some(context[q].clone()),
        });
        log(&format!("held-out level {q}: {:?}", per_level[q]));
    }

    let enhance = per_level.iter().map(|l| l.enhance).collect();
    let bundle = Bundle {
        nets,
        centroids,
        levels,
        enhance,
        trained: true,
        description: format!(
            "networks from {} ({}), K = {} and priors fitted by `sacodec train`",
            record.run, record.framework, shipped.k
        ),
    };
    Ok(Trained {
        bundle,
        record,
        held_out: HeldOut {
            subclass_choices: choices,
            shipped_k: shipped.k,
            levels: per_level,
        },
        wall_s: started.elapsed().as_secs_f64(),
    })
}
