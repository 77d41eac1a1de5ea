//! Each level's context fitted on whole training images (the predictor, the context priors,
//! the scale context; or only what a bundle lacks), and the bits it saves measured on whole
//! held-out ones.

use crate::codec::bundle::Bundle;
use crate::codec::coder::LevelCoder;
use crate::codec::entropy::Tables;
use crate::codec::fit;
use crate::codec::manifest::ContextMetrics;
use crate::codec::mode::{Coding, PriorMode};
use crate::codec::patches::{self, Grid};
use crate::codec::priors::LevelPriors;
use crate::error::Result;
use crate::model::{Networks, PATCH};
use image::RgbImage;

use super::{TrainConfig, data};

/// A whole image for the context: its grid's width, μ of its patches, their SimCLR ids.
type WholeImage = (usize, Vec<f32>, Vec<u8>);

/// The first of `images` holding about `n` patches in all (at least one image), whole.
fn whole_images(
    nets: &Networks,
    centroids: &[f32],
    images: &[RgbImage],
    n: usize,
) -> Vec<WholeImage> {
    let mut out = Vec::new();
    let mut patches = 0;
    for img in images {
        if patches >= n.max(1) {
            break;
        }
        let mu = nets.encode_mu(&patches::to_patches(img));
        let ids = fit::nearest(&nets.project(&mu), centroids);
        patches += ids.len();
        out.push((Grid::new(img.width(), img.height()).cols(), mu, ids));
    }
    out
}

/// Bits of whole held-out images at one level, with and without context, SimCLR and
/// rate-optimal ids: `[subclass SimCLR, context SimCLR, subclass rate, context rate]`.
fn context_bits(level: &LevelPriors, images: &[WholeImage]) -> [f64; 4] {
    let coder = LevelCoder::new(level);
    let mut bits = [0.0; 4];
    for (cols, mu, ids) in images {
        let z = level.quantize(mu);
        let rate = coder.rate_optimal_ids(&z, PriorMode::Subclass, *cols);
        let rate_context = coder.rate_optimal_ids(&z, PriorMode::Context, *cols);
        let codings = [
            Coding::new(PriorMode::Subclass, ids, *cols),
            Coding::new(PriorMode::Context, ids, *cols),
            Coding::new(PriorMode::Subclass, &rate, *cols),
            Coding::new(PriorMode::Context, &rate_context, *cols),
        ];
        for (b, coding) in bits.iter_mut().zip(codings) {
            *b += coder.information_bits(&z, coding);
        }
    }
    bits
}

/// Fits every level's context ([`LevelPriors::fit_context`], or only its scale context where
/// it has the rest) on whole training images, and measures what it saves on whole held-out
/// ones.
pub(super) fn fit_context(
    cfg: &TrainConfig,
    tables: &Tables,
    nets: &Networks,
    centroids: &[f32],
    levels: &mut [LevelPriors],
    images: &data::Images,
    log: &mut dyn FnMut(&str),
) -> Vec<ContextMetrics> {
    // Where every level has its context priors, only the scale context is fitted: on the
    // predictor's images.
    let fit_patches = match levels.iter().all(|l| l.context.is_some()) {
        true => cfg.predictor_patches,
        false => cfg.context_patches.max(cfg.predictor_patches),
    };
    let fit_on = whole_images(nets, centroids, &images.train, fit_patches);
    let measure_on = whole_images(nets, centroids, &images.valid, cfg.valid_patches);
    let patches: usize = measure_on.iter().map(|(_, _, ids)| ids.len()).sum();
    let pixels = (patches * PATCH * PATCH) as f64;
    log(&format!(
        "context: fitting on {} training patches of whole images",
        fit_on.iter().map(|(_, _, ids)| ids.len()).sum::<usize>()
    ));
    let refs: Vec<(usize, &[f32], &[u8])> = fit_on
        .iter()
        .map(|(c, mu, ids)| (*c, &mu[..], &ids[..]))
        .collect();
    let mut out = Vec::new();
    for (q, level) in levels.iter_mut().enumerate() {
        match level.context {
            None => level.fit_context(tables, &refs, cfg.predictor_patches, cfg.context_ridge),
            // A bundle with context priors made before the grid scale context: only that is added.
            Some(_) => level.fit_scales(tables, &refs, cfg.predictor_patches, true),
        }
        let [simclr, context_simclr, rate, context_rate] = context_bits(level, &measure_on);
        let m = ContextMetrics {
            patches,
            bpp_simclr: simclr / pixels,
            bpp_context_simclr: context_simclr / pixels,
            bpp_rate_optimal: rate / pixels,
            bpp_context_rate_optimal: context_rate / pixels,
            saving_simclr_percent: 100.0 * (1.0 - context_simclr / simclr),
            saving_rate_optimal_percent: 100.0 * (1.0 - context_rate / rate),
        };
        log(&format!(
            "level {q}: context saves {:.2} % (SimCLR ids) and {:.2} % (rate-optimal) of the \
             subclass priors' bits on {patches} held-out patches of whole images",
            m.saving_simclr_percent, m.saving_rate_optimal_percent
        ));
        out.push(m);
    }
    out
}

/// Adds what `bundle` lacks of the context: the context priors and the grid scale context
/// (made before them), or the grid alone; everything else stays as it is.
/// Returns what they save on held-out images, per level.
pub fn add_context(
    cfg: &TrainConfig,
    bundle: &mut Bundle,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<ContextMetrics>> {
    let images = data::load(&cfg.data, cfg.max_side, cfg.holdout)?;
    log(&format!(
        "data: {} training and {} held-out images",
        images.train.len(),
        images.valid.len()
    ));
    let tables = Tables::gaussian();
    let centroids = bundle.centroids.clone();
    Ok(fit_context(
        cfg,
        tables,
        &bundle.nets,
        &centroids,
        &mut bundle.levels,
        &images,
        log,
    ))
}
