//! One quality level's priors — its quantization gains, the global and per-subclass priors, the
//! id counts, the context — and how they are fitted to training latents.

use crate::codec::coder::ContextPatch;
use crate::codec::context::{ByCell, CELLS, Predictor, fit_residual_prior};
use crate::codec::entropy::{GaussianPrior, Tables, clamp_latent, fit_prior, scales};
use crate::codec::mode::PriorMode;
use crate::codec::scales::{PatchActivity, Sample, ScaleContext, surprise};
use crate::model::LATENT_LEN;

/// A level's context: the predictor, one context prior per subclass, the scale context.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelContext {
    /// Each latent predicted from those decoded before it.
    pub predictor: Predictor,
    /// One prior of the residuals per subclass.
    pub subclasses: Vec<GaussianPrior>,
    /// How the scales follow the sum of the activities ([`PriorMode::ContextSum`]; bundles made
    /// before it, or after the grid, have none: the scales stay).
    pub scales: Option<ScaleContext>,
    /// How the scales follow the activities apart ([`PriorMode::Context`],
    /// [`PriorMode::ContextIdsAlone`] and [`PriorMode::ContextGaussian`]; bundles made before it
    /// have none).
    pub grid: Option<ScaleContext>,
}

impl LevelContext {
    /// The scale context of `mode`, if the level has it.
    pub(crate) fn scales(&self, mode: PriorMode) -> Option<&ScaleContext> {
        match mode {
            PriorMode::Context | PriorMode::ContextIdsAlone | PriorMode::ContextGaussian => {
                self.grid.as_ref()
            }
            PriorMode::ContextSum => Some(self.scales.as_ref().unwrap_or(ScaleContext::none())),
            _ => Some(ScaleContext::none()),
        }
    }
}

/// The priors of one quality level.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelPriors {
    /// Per-channel quantization gain: ẑ = round(μ·gain), the decoder sees ẑ / gain.
    pub gain: Vec<f32>,
    /// The global prior.
    pub global: GaussianPrior,
    /// One prior per subclass.
    pub subclasses: Vec<GaussianPrior>,
    /// Training counts of each subclass id (the categorical id prior is counts + 1).
    pub id_counts: Vec<u32>,
    /// The context priors (bundles made before them have none).
    pub context: Option<LevelContext>,
}

impl LevelPriors {
    /// Whether the level can code in `mode` (context priors, and the grid scale context, are
    /// absent from older bundles).
    pub fn supports(&self, mode: PriorMode) -> bool {
        !mode.has_context() || (self.context.as_ref()).is_some_and(|c| c.scales(mode).is_some())
    }

    /// ẑ = clamp(round(μ·gain)) for `n × LATENT_LEN` latents (channel-major within a patch).
    pub fn quantize(&self, mu: &[f32]) -> Vec<i32> {
        let per_channel = LATENT_LEN / self.gain.len();
        mu.iter()
            .enumerate()
            .map(|(i, &v)| clamp_latent(v * self.gain[(i % LATENT_LEN) / per_channel]))
            .collect()
    }

    /// ẑ / gain, what the decoder network sees.
    pub fn dequantize(&self, z: &[i32]) -> Vec<f32> {
        let per_channel = LATENT_LEN / self.gain.len();
        z.iter()
            .enumerate()
            .map(|(i, &v)| v as f32 / self.gain[(i % LATENT_LEN) / per_channel])
            .collect()
    }

    /// Fits a level to training latents: the global prior on all of them, each subclass's on
    /// its own patches (the global one where a subclass has none), and the id counts.
    pub fn fit(tables: &Tables, gain: Vec<f32>, mu: &[f32], ids: &[u8], k: usize) -> Self {
        let mut level = LevelPriors {
            gain,
            global: GaussianPrior::uniform(0, 0),
            subclasses: Vec::new(),
            id_counts: vec![0; k],
            context: None,
        };
        let z = level.quantize(mu);
        let patches = z.chunks_exact(LATENT_LEN);
        level.global = fit_prior(tables, patches.clone(), &GaussianPrior::uniform(0, 32));
        level.subclasses = (0..k)
            .map(|c| {
                let mine = patches
                    .clone()
                    .zip(ids)
                    .filter(|&(_, &id)| id as usize == c);
                fit_prior(tables, mine.map(|(p, _)| p), &level.global)
            })
            .collect();
        ids.iter().for_each(|&id| level.id_counts[id as usize] += 1);
        level
    }

    /// Fits the level's context to whole images, each given as its grid's width, μ of its
    /// patches and their ids: the predictor by weighted least squares (ridge `lambda`) on the
    /// first images holding `predictor_patches` patches (its cost grows with the square of its
    /// inputs), then each subclass's context prior to the residuals of its patches in all of
    /// them (its plain prior where it has none), then the scale context
    /// ([`LevelPriors::fit_scales`]) on the same first images.
    pub fn fit_context(
        &mut self,
        tables: &Tables,
        images: &[(usize, &[f32], &[u8])],
        predictor_patches: usize,
        lambda: f64,
    ) {
        let latents: Vec<Vec<i32>> = images.iter().map(|(_, mu, _)| self.quantize(mu)).collect();
        let grids: Vec<(usize, &[i32])> = images
            .iter()
            .zip(&latents)
            .map(|((cols, _, _), z)| (*cols, &z[..]))
            .collect();
        let mut patches = 0;
        let first = grids.iter().take_while(|(_, z)| {
            let before = patches;
            patches += z.len() / LATENT_LEN;
            before < predictor_patches.max(1)
        });
        // Each latent's squared error weighs as its subclass prior's 1/σ² (σ at least half a
        // unit): what an error costs in bits, roughly.
        let sigmas = scales();
        let weight = |image: usize, i: usize| {
            let id = images[image].2[i / LATENT_LEN] as usize;
            let s = sigmas[self.subclasses[id].scale_idx[i % LATENT_LEN] as usize].max(0.5);
            1.0 / (s * s)
        };
        let predictor = Predictor::fit(&first.copied().collect::<Vec<_>>(), weight, lambda);
        let predictions: Vec<Vec<i16>> = (grids.iter())
            .map(|&(cols, z)| predictor.predict_image(z, cols))
            .collect();
        // (subclass, predictions, latents) of every patch.
        let patches = || {
            images
                .iter()
                .zip(&predictions)
                .zip(&latents)
                .flat_map(|(((_, _, ids), p), z)| {
                    ids.iter()
                        .zip(p.chunks_exact(LATENT_LEN).zip(z.chunks_exact(LATENT_LEN)))
                })
        };
        let subclasses = (0..self.subclasses.len())
            .map(|k| {
                let mine = patches()
                    .filter(move |(id, _)| **id as usize == k)
                    .map(|(_, pz)| pz);
                fit_residual_prior(tables, mine, &self.subclasses[k])
            })
            .collect();
        self.context = Some(LevelContext {
            predictor,
            subclasses,
            scales: None,
            grid: None,
        });
        self.fit_scales(tables, images, predictor_patches, true);
    }

    /// Fits the level's grid scale context (or with `grid` false its sum one, what bundles no
    /// longer get; [`ScaleContext::fit`]) to the first of `images` (as in
    /// [`LevelPriors::fit_context`]) holding `patches` patches, under its context priors.
    pub fn fit_scales(
        &mut self,
        tables: &Tables,
        images: &[(usize, &[f32], &[u8])],
        patches: usize,
        grid: bool,
    ) {
        let Some(ctx) = &self.context else { return };
        let mut samples = Vec::new();
        for &(cols, mu, ids) in images {
            if samples.len() >= patches.max(1) * LATENT_LEN {
                break;
            }
            let z = self.quantize(mu);
            let cells = ByCell::of(&z);
            let (mut surprises, mut own) = (ByCell::default(), Vec::with_capacity(LATENT_LEN));
            for ((i, &id), z) in ids.iter().enumerate().zip(z.chunks_exact(LATENT_LEN)) {
                let predictions = ctx.predictor.predict_patch(&cells, z, cols, i);
                let mut patch = ContextPatch {
                    prior: &ctx.subclasses[id as usize],
                    activity: PatchActivity::new(&surprises, cols, i),
                };
                own.clear();
                for (e, &v) in z.iter().enumerate() {
                    let (m, s, activity) = patch.next(e, predictions[e], &own);
                    own.push(surprise(v, m, s));
                    samples.push(Sample {
                        channel: (e / CELLS) as u8,
                        activity,
                        mean_q: m,
                        scale_idx: s,
                        z: v,
                    });
                }
                surprises.push(&own);
            }
        }
        let scales = Some(ScaleContext::fit(tables, &samples, grid));
        let ctx = self.context.as_mut().expect("checked");
        match grid {
            true => ctx.grid = scales,
            false => ctx.scales = scales,
        }
    }
}
