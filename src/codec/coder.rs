//! Entropy coding of patch latents and subclass ids with constriction's ANS coder.
//!
//! Stream order (as decoded): in the subclass modes, every patch's subclass id under the
//! categorical id prior, then every patch's 1024 latents under its subclass's Gaussian prior
//! (with context, its context prior shifted by each latent's prediction from the latents
//! decoded before it, [`crate::codec::context`]); in global mode, only the latents, all under
//! the global prior. ANS is a stack, so the encoder pushes the symbols in reverse.

use constriction::stream::Decode;
use constriction::stream::stack::DefaultAnsCoder;

use crate::codec::context::{Predictor, fit_residual_prior, shifted_mean};
use crate::codec::entropy::{
    GaussianPrior, GaussianTables, MAX_LATENT, Model, categorical_fixed_point, clamp_latent,
    fit_prior, fixed_point_bits, latent_from_symbol, table_and_symbol,
};
use crate::error::{Error, Result};
use crate::model::LATENT_LEN;

/// How latents are coded: one global prior, per-subclass priors with the ids in the stream,
/// or per-subclass context priors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PriorMode {
    /// One table for every patch; no ids.
    Global,
    /// One table per subclass; each patch's id is coded first.
    Subclass,
    /// One context prior per subclass, its means shifted by each latent's prediction from the
    /// latents decoded before it; each patch's id is coded first.
    Context,
}

impl PriorMode {
    /// Its name, as the CLI takes it and `info` and the page show it.
    pub fn name(self) -> &'static str {
        match self {
            PriorMode::Global => "global",
            PriorMode::Subclass => "subclass",
            PriorMode::Context => "context",
        }
    }
}

/// A stream to code: its mode, and what the mode needs besides the latents.
#[derive(Clone, Copy, Debug)]
pub enum Coding<'a> {
    /// Every patch under the global prior.
    Global,
    /// Each patch under its subclass's prior.
    Subclass {
        /// One id per patch.
        ids: &'a [u8],
    },
    /// Each patch under its subclass's context prior.
    Context {
        /// One id per patch.
        ids: &'a [u8],
        /// The patch grid's width (the predictions' neighbours).
        cols: usize,
    },
}

impl<'a> Coding<'a> {
    /// The coding of `mode` with these ids (unused in global mode) on a grid `cols` wide.
    pub fn new(mode: PriorMode, ids: &'a [u8], cols: usize) -> Self {
        match mode {
            PriorMode::Global => Coding::Global,
            PriorMode::Subclass => Coding::Subclass { ids },
            PriorMode::Context => Coding::Context { ids, cols },
        }
    }

    /// Its mode.
    pub fn mode(&self) -> PriorMode {
        match self {
            Coding::Global => PriorMode::Global,
            Coding::Subclass { .. } => PriorMode::Subclass,
            Coding::Context { .. } => PriorMode::Context,
        }
    }

    /// The ids it codes (none in global mode).
    pub fn ids(&self) -> Option<&'a [u8]> {
        match *self {
            Coding::Global => None,
            Coding::Subclass { ids } | Coding::Context { ids, .. } => Some(ids),
        }
    }

    /// With context, the grid's width.
    fn context(&self) -> Option<usize> {
        match *self {
            Coding::Context { cols, .. } => Some(cols),
            _ => None,
        }
    }
}

/// A level's context: the predictor and one context prior per subclass.
#[derive(Clone, Debug, PartialEq)]
pub struct LevelContext {
    /// Each latent predicted from those decoded before it.
    pub predictor: Predictor,
    /// One prior of the residuals per subclass.
    pub subclasses: Vec<GaussianPrior>,
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

/// Everything needed to code at one quality level: the shared tables plus this level's priors.
pub struct LevelCoder<'a> {
    tables: &'a GaussianTables,
    priors: &'a LevelPriors,
    id_model: Model,
    id_bits: Vec<f32>,
}

/// The decoded content of a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedPayload {
    /// `n × LATENT_LEN` latents, patch-major.
    pub latents: Vec<i32>,
    /// Subclass ids (subclass modes only).
    pub ids: Option<Vec<u8>>,
}

/// The grid point every latent of a patch is coded under: its prior and, with context, the
/// predictions shifting its means.
struct PatchPrior<'p> {
    prior: &'p GaussianPrior,
    predictions: Option<&'p [i16]>,
}

impl PatchPrior<'_> {
    #[inline]
    fn at(&self, e: usize) -> (i16, u8) {
        let m = self.prior.mean_q[e];
        let m = self.predictions.map_or(m, |p| shifted_mean(p[e], m));
        (m, self.prior.scale_idx[e])
    }
}

impl<'a> LevelCoder<'a> {
    /// Prepares the id model of `priors`.
    pub fn new(tables: &'a GaussianTables, priors: &'a LevelPriors) -> Self {
        let probs = categorical_fixed_point(&priors.id_counts);
        let id_bits = probs.iter().map(|&p| fixed_point_bits(p)).collect();
        let id_model = Model::from_nonzero_fixed_point_probabilities(&probs, false)
            .expect("probabilities sum to 2^PRECISION");
        Self {
            tables,
            priors,
            id_model,
            id_bits,
        }
    }

    /// Number of subclasses.
    pub fn subclasses(&self) -> usize {
        self.priors.subclasses.len()
    }

    /// Whether the level can code in `mode` (context priors are absent from older bundles).
    pub fn supports(&self, mode: PriorMode) -> bool {
        mode != PriorMode::Context || self.priors.context.is_some()
    }

    fn context(&self) -> Result<&'a LevelContext> {
        self.priors.context.as_ref().ok_or(Error::NoContext)
    }

    /// The prior of subclass `id` (or the global one for `None`) in `mode`.
    fn prior(&self, mode: PriorMode, id: Option<u8>) -> &'a GaussianPrior {
        match (mode, id) {
            (PriorMode::Context, Some(k)) => {
                &self.context().expect("checked").subclasses[k as usize]
            }
            (_, Some(k)) => &self.priors.subclasses[k as usize],
            (_, None) => &self.priors.global,
        }
    }

    /// What a patch is coded under: the prior of `id` in `mode`, shifted by `predictions`.
    fn patch_prior<'p>(
        &self,
        mode: PriorMode,
        id: Option<u8>,
        predictions: Option<&'p [i16]>,
    ) -> PatchPrior<'p>
    where
        'a: 'p,
    {
        PatchPrior {
            prior: self.prior(mode, id),
            predictions,
        }
    }

    /// With `context` (the grid's width), the predictions of every latent of patch `patch`.
    fn predictions(
        &self,
        latents: &[i32],
        context: Option<usize>,
        patch: usize,
    ) -> Option<Vec<i16>> {
        let predictor = &self.context().ok()?.predictor;
        context.map(|cols| predictor.predict_patch(latents, cols, patch))
    }

    fn check(&self, coding: Coding, patches: usize) {
        assert!(
            self.supports(coding.mode()),
            "no context priors at this level"
        );
        if let Some(ids) = coding.ids() {
            assert_eq!(ids.len(), patches, "one id per patch");
        }
    }

    /// The bits of a patch's latents `z` under `prior` (shifted by `predictions`).
    fn latent_bits(&self, z: &[i32], prior: &PatchPrior) -> f64 {
        z.iter()
            .enumerate()
            .map(|(e, &z)| {
                let (m, s) = prior.at(e);
                self.tables.bits(m, s, z) as f64
            })
            .sum()
    }

    /// The subclass that codes each patch in the fewest bits, its id included; with
    /// `context` (the grid's width), under the context priors.
    pub fn rate_optimal_ids(&self, latents: &[i32], context: Option<usize>) -> Vec<u8> {
        let mode = match context {
            Some(_) => PriorMode::Context,
            None => PriorMode::Subclass,
        };
        assert!(self.supports(mode), "no context priors at this level");
        latents
            .chunks_exact(LATENT_LEN)
            .enumerate()
            .map(|(i, z)| {
                let predictions = self.predictions(latents, context, i);
                (0..self.subclasses() as u8)
                    .map(|k| {
                        let prior = self.patch_prior(mode, Some(k), predictions.as_deref());
                        (
                            k,
                            self.id_bits[k as usize] as f64 + self.latent_bits(z, &prior),
                        )
                    })
                    .fold(
                        (0, f64::INFINITY),
                        |best, c| if c.1 < best.1 { c } else { best },
                    )
                    .0
            })
            .collect()
    }

    /// Code length in bits of each patch of the stream, its id included.
    pub fn patch_bits(&self, latents: &[i32], coding: Coding) -> Vec<f64> {
        let n = latents.len() / LATENT_LEN;
        self.check(coding, n);
        latents
            .chunks_exact(LATENT_LEN)
            .enumerate()
            .map(|(i, z)| {
                let id = coding.ids().map(|ids| ids[i]);
                let predictions = self.predictions(latents, coding.context(), i);
                let prior = self.patch_prior(coding.mode(), id, predictions.as_deref());
                id.map_or(0.0, |k| self.id_bits[k as usize] as f64) + self.latent_bits(z, &prior)
            })
            .collect()
    }

    /// Information content Σ −log₂ p of the whole stream, in bits.
    pub fn information_bits(&self, latents: &[i32], coding: Coding) -> f64 {
        self.patch_bits(latents, coding).iter().sum()
    }

    /// Encodes `latents` (`n × LATENT_LEN`, each in the codable range, see
    /// [`crate::codec::entropy::clamp_latent`]) and, in the subclass modes, one id per patch.
    pub fn encode(&self, latents: &[i32], coding: Coding) -> Vec<u32> {
        assert_eq!(latents.len() % LATENT_LEN, 0);
        let n = latents.len() / LATENT_LEN;
        self.check(coding, n);
        let mut coder = DefaultAnsCoder::new();
        for (i, z) in latents.chunks_exact(LATENT_LEN).enumerate().rev() {
            let predictions = self.predictions(latents, coding.context(), i);
            let id = coding.ids().map(|ids| ids[i]);
            let prior = self.patch_prior(coding.mode(), id, predictions.as_deref());
            let symbols = z.iter().enumerate().map(|(e, &z)| {
                let (m, s) = prior.at(e);
                let (table, symbol) = table_and_symbol(m, s, z);
                (symbol, self.tables.model(table))
            });
            coder
                .encode_symbols_reverse(symbols)
                .expect("latents are in the codable range");
        }
        if let Some(ids) = coding.ids() {
            coder
                .encode_iid_symbols_reverse(ids.iter().map(|&k| k as usize), &self.id_model)
                .expect("ids are below the number of subclasses");
        }
        coder
            .into_compressed()
            .expect("Vec<u32> backend cannot fail")
    }

    /// The fewest payload bits any file of `patches` patches can have in `mode`: every patch
    /// coded with its likeliest latents (and its cheapest subclass, id included; with context,
    /// under the best mean each scale allows), less a slack for the up to 64 bits ANS holds in
    /// its final state and for the rounding of the per-symbol code lengths.
    pub fn min_payload_bits(&self, patches: usize, mode: PriorMode) -> f64 {
        let cheapest = |priors: &[GaussianPrior], min: &dyn Fn(&GaussianPrior) -> f64| {
            (priors.iter().zip(&self.id_bits))
                .map(|(prior, &id)| id as f64 + min(prior))
                .fold(f64::INFINITY, f64::min)
        };
        let per_patch = match mode {
            PriorMode::Global => self.tables.min_patch_bits(&self.priors.global),
            PriorMode::Subclass => {
                cheapest(&self.priors.subclasses, &|p| self.tables.min_patch_bits(p))
            }
            PriorMode::Context => match &self.priors.context {
                Some(ctx) => cheapest(&ctx.subclasses, &|p| self.tables.min_patch_bits_any_mean(p)),
                None => 0.0,
            },
        };
        patches as f64 * per_patch * (1.0 - 1e-4) - 64.0
    }

    /// Decodes `patches` patches of a grid `cols` patches wide from `words`. Fails if the words
    /// do not hold exactly that stream. The work is bounded by the payload: a payload shorter
    /// than the fewest bits such a stream can take ([`LevelCoder::min_payload_bits`]) is
    /// refused before any decoding, so a header that declares a large image costs nothing
    /// without the bits to fill it; and it decodes at most `patches × (LATENT_LEN + 1)` symbols.
    pub fn decode(
        &self,
        words: Vec<u32>,
        patches: usize,
        mode: PriorMode,
        cols: usize,
    ) -> Result<DecodedPayload> {
        let context = match mode {
            PriorMode::Context => Some(&self.context()?.predictor),
            _ => None,
        };
        let least = self.min_payload_bits(patches, mode);
        let have = 32.0 * words.len() as f64;
        if have < least {
            return Err(Error::Payload(format!(
                "payload too short: {have} bits, and {patches} patches take at least {least:.0}"
            )));
        }
        let mut coder = DefaultAnsCoder::from_compressed(words)
            .map_err(|_| Error::Payload("payload ends in a zero word".into()))?;
        let ids = match mode {
            PriorMode::Global => None,
            PriorMode::Subclass | PriorMode::Context => {
                let ids: Result<Vec<u8>, _> = coder
                    .decode_iid_symbols(patches, &self.id_model)
                    .map(|s| s.map(|k| k as u8))
                    .collect();
                Some(ids.map_err(|e| Error::Payload(format!("id stream: {e:?}")))?)
            }
        };
        let mut latents = Vec::with_capacity(patches * LATENT_LEN);
        for i in 0..patches {
            let prior = self.prior(mode, ids.as_ref().map(|ids| ids[i]));
            let mut predictions = context.map(|p| p.patch(&latents, cols, i));
            for e in 0..LATENT_LEN {
                let (mut m, s) = (prior.mean_q[e], prior.scale_idx[e]);
                if let Some(predictions) = &mut predictions {
                    m = shifted_mean(predictions.next(&latents[i * LATENT_LEN..]), m);
                }
                let (table, _) = table_and_symbol(m, s, 0);
                let symbol = coder
                    .decode_symbol(self.tables.model(table))
                    .map_err(|e| Error::Payload(format!("latent stream: {e:?}")))?;
                let z = latent_from_symbol(m, symbol);
                // The encoder clamps to ±MAX_LATENT: anything else is not a file it wrote
                // (an empty or forged payload decodes to such values).
                if z.abs() > MAX_LATENT {
                    return Err(Error::Payload(format!(
                        "latent {z} outside the codable range ±{MAX_LATENT}"
                    )));
                }
                latents.push(z);
            }
        }
        if !coder.is_empty() {
            return Err(Error::Payload(
                "payload holds more data than its header declares".into(),
            ));
        }
        Ok(DecodedPayload { latents, ids })
    }
}

impl LevelPriors {
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
    pub fn fit(tables: &GaussianTables, gain: Vec<f32>, mu: &[f32], ids: &[u8], k: usize) -> Self {
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
    /// patches and their ids: the predictor by least squares (ridge `lambda`) on the first
    /// images holding `predictor_patches` patches (its cost grows with the square of its
    /// inputs), then each subclass's context prior to the residuals of its patches in all of
    /// them (its plain prior where it has none).
    pub fn fit_context(
        &mut self,
        tables: &GaussianTables,
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
        let predictor = Predictor::fit(&first.copied().collect::<Vec<_>>(), lambda);
        let predictions: Vec<Vec<i16>> = grids
            .iter()
            .map(|&(cols, z)| {
                (0..z.len() / LATENT_LEN)
                    .flat_map(|i| predictor.predict_patch(z, cols, i))
                    .collect()
            })
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
        });
    }
}
