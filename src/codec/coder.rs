//! Entropy coding of patch latents and subclass ids with constriction's ANS coder.
//!
//! Stream order (as decoded): in the subclass modes, every patch's subclass id under the
//! categorical id prior (in [`PriorMode::Context`], that prior with the subclasses of the
//! patch's left and top neighbours made likelier, [`ID_BOOST`]), then every patch's 1024
//! latents under its subclass's Gaussian prior (with context, its context prior shifted by
//! each latent's prediction from the latents decoded before it, [`crate::codec::context`], its
//! scale moved by how surprising they were, [`crate::codec::scales`]); in global mode, only
//! the latents, all under the global prior. ANS is a stack, so the encoder pushes the symbols
//! in reverse.

use std::borrow::Cow;

use constriction::stream::Decode;
use constriction::stream::stack::DefaultAnsCoder;

use crate::codec::context::{ByCell, CELLS, shifted_mean};
use crate::codec::entropy::{
    CategoricalModel, GaussianPrior, MAX_LATENT, categorical_fixed_point, fixed_point_bits,
    latent_from_symbol, quantize_probabilities, table_and_symbol,
};
use crate::codec::mode::{Coding, PriorMode};
use crate::codec::priors::{LevelContext, LevelPriors};
use crate::codec::scales::{Activity, PatchActivity, ScaleContext, surprise};
use crate::error::{Error, Result};
use crate::model::{LATENT_CHANNELS, LATENT_LEN};

/// How much likelier [`PriorMode::Context`] makes a patch's subclass for each of its left and
/// top neighbours that has it: the id prior weighs subclass `k` as (count_k + 1) · (1 +
/// `ID_BOOST` · [k = left] + `ID_BOOST` · [k = top]). Chosen on training images, the
/// rate-optimal ids re-chosen under each: 16 saved less than 64, 256 no more.
pub const ID_BOOST: u32 = 64;

/// Everything needed to code at one quality level: this level's priors and its static id
/// model (the coding tables are shared by all).
pub struct LevelCoder<'a> {
    priors: &'a LevelPriors,
    id_probabilities: Vec<u32>,
    id_model: CategoricalModel,
}

/// The subclasses of patch `i`'s left and top neighbours on a grid `cols` patches wide, where
/// it has them; `ids` holds at least the ids before it.
fn neighbour_ids(ids: &[u8], cols: usize, i: usize) -> [Option<u8>; 2] {
    [
        (!i.is_multiple_of(cols)).then(|| ids[i - 1]),
        (i >= cols).then(|| ids[i - cols]),
    ]
}

/// The decoded content of a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedPayload {
    /// `n × LATENT_LEN` latents, patch-major.
    pub latents: Vec<i32>,
    /// Subclass ids (subclass modes only).
    pub ids: Option<Vec<u8>>,
}

/// The grid points (mean, scale) of a patch's latents under `prior` without context.
fn plain_points(prior: &GaussianPrior) -> impl Iterator<Item = (i16, u8)> + '_ {
    (prior.mean_q.iter().copied()).zip(prior.scale_idx.iter().copied())
}

/// One patch coded with context: its context prior and its latents' activities.
pub(crate) struct ContextPatch<'p> {
    pub(crate) prior: &'p GaussianPrior,
    pub(crate) activity: PatchActivity,
}

impl<'p> ContextPatch<'p> {
    /// Element `e`'s mean (its prediction shifted by the prior's), its prior's scale and its
    /// activity; `surprises` holds those of the patch's latents before it.
    #[inline]
    pub(crate) fn next(
        &mut self,
        e: usize,
        prediction: i16,
        surprises: &[u32],
    ) -> (i16, u8, Activity) {
        let m = shifted_mean(prediction, self.prior.mean_q[e]);
        (m, self.prior.scale_idx[e], self.activity.next(surprises))
    }

    /// The grid points (mean, scale) of all of the patch's latents `z`, predicted at
    /// `predictions`, their scales moved by `scales`, in order; their surprises go to
    /// `surprises` as the points are taken.
    fn points<'s>(
        mut self,
        scales: &'s ScaleContext,
        z: &'s [i32],
        predictions: &'s [i16],
        surprises: &'s mut Vec<u32>,
    ) -> impl Iterator<Item = (i16, u8)> + 's
    where
        'p: 's,
    {
        let start = surprises.len();
        (0..LATENT_LEN).map(move |e| {
            let (m, s, activity) = self.next(e, predictions[e], &surprises[start..]);
            surprises.push(surprise(z[e], m, s));
            (m, scales.scale(e / CELLS, activity, s))
        })
    }
}

impl<'a> LevelCoder<'a> {
    /// Prepares the id model of `priors`.
    pub fn new(priors: &'a LevelPriors) -> Self {
        let id_probabilities = categorical_fixed_point(&priors.id_counts);
        let id_model =
            CategoricalModel::from_nonzero_fixed_point_probabilities(&id_probabilities, false)
                .expect("probabilities sum to 2^PRECISION");
        Self {
            priors,
            id_probabilities,
            id_model,
        }
    }

    /// The id prior (fixed point) of a patch whose left and top neighbours have the subclasses
    /// `neighbours` (see [`ID_BOOST`]).
    fn boosted_id_probabilities(&self, neighbours: [Option<u8>; 2]) -> Vec<u32> {
        let weights: Vec<f64> = (self.priors.id_counts.iter().enumerate())
            .map(|(k, &count)| {
                let boosts = neighbours.iter().filter(|&&n| n == Some(k as u8)).count();
                (count as f64 + 1.0) * (1.0 + (ID_BOOST as usize * boosts) as f64)
            })
            .collect();
        quantize_probabilities(&weights)
    }

    /// The id prior (fixed point) of patch `i` on a grid `cols` patches wide in subclass mode
    /// `mode`, `ids` holding at least the ids before it: the static one, or where the mode's ids
    /// follow their neighbours' the one its neighbours' subclasses boost.
    fn id_probabilities(
        &self,
        mode: PriorMode,
        ids: &[u8],
        cols: usize,
        i: usize,
    ) -> Cow<'_, [u32]> {
        match mode.ids_follow_neighbours() {
            true => Cow::Owned(self.boosted_id_probabilities(neighbour_ids(ids, cols, i))),
            false => Cow::Borrowed(&self.id_probabilities),
        }
    }

    /// [`LevelCoder::id_probabilities`] as a model to code with.
    fn id_model(
        &self,
        mode: PriorMode,
        ids: &[u8],
        cols: usize,
        i: usize,
    ) -> Cow<'_, CategoricalModel> {
        match self.id_probabilities(mode, ids, cols, i) {
            Cow::Borrowed(_) => Cow::Borrowed(&self.id_model),
            Cow::Owned(p) => Cow::Owned(
                CategoricalModel::from_nonzero_fixed_point_probabilities(&p, false)
                    .expect("probabilities sum to 2^PRECISION"),
            ),
        }
    }

    /// Number of subclasses.
    pub fn subclasses(&self) -> usize {
        self.priors.subclasses.len()
    }

    /// Whether the level can code in `mode` ([`LevelPriors::supports`]).
    pub fn supports(&self, mode: PriorMode) -> bool {
        self.priors.supports(mode)
    }

    /// The scale context of context mode `mode` (which the level supports).
    fn scales(&self, mode: PriorMode) -> &'a ScaleContext {
        (self.context().ok())
            .and_then(|c| c.scales(mode))
            .expect("checked")
    }

    fn context(&self) -> Result<&'a LevelContext> {
        self.priors.context.as_ref().ok_or(Error::NoContext)
    }

    /// The prior of subclass `id` (or the global one for `None`) in `mode`.
    fn prior(&self, mode: PriorMode, id: Option<u8>) -> &'a GaussianPrior {
        match id {
            Some(k) if mode.has_context() => {
                &self.context().expect("checked").subclasses[k as usize]
            }
            Some(k) => &self.priors.subclasses[k as usize],
            None => &self.priors.global,
        }
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

    /// The grid point (mean, scale) every latent of the stream is coded under, in order.
    fn points(&self, latents: &[i32], coding: Coding) -> Vec<(i16, u8)> {
        let mode = coding.mode();
        let mut out = Vec::with_capacity(latents.len());
        let context = (coding.context())
            .map(|cols| (cols, self.context().expect("checked"), ByCell::of(latents)));
        // The surprises of the patches before, and of the patch's latents so far.
        let (mut surprises, mut own) = (ByCell::default(), Vec::with_capacity(LATENT_LEN));
        for (i, z) in latents.chunks_exact(LATENT_LEN).enumerate() {
            let prior = self.prior(mode, coding.ids().map(|ids| ids[i]));
            match &context {
                None => out.extend(plain_points(prior)),
                Some((cols, ctx, cells)) => {
                    let predictions = ctx.predictor.predict_patch(cells, z, *cols, i);
                    let patch = ContextPatch {
                        prior,
                        activity: PatchActivity::new(&surprises, *cols, i),
                    };
                    own.clear();
                    out.extend(patch.points(self.scales(mode), z, &predictions, &mut own));
                    surprises.push(&own);
                }
            }
        }
        out
    }

    /// The bits of latents `z` coded at grid points `points` in `mode`.
    fn latent_bits(mode: PriorMode, z: &[i32], points: impl Iterator<Item = (i16, u8)>) -> f64 {
        let tables = mode.tables();
        (z.iter().zip(points))
            .map(|(&z, (m, s))| tables.bits(m, s, z) as f64)
            .sum()
    }

    /// The subclass that codes each patch in the fewest bits in `mode` (a subclass mode), its
    /// id included, on a grid `cols` patches wide.
    pub fn rate_optimal_ids(&self, latents: &[i32], mode: PriorMode, cols: usize) -> Vec<u8> {
        assert!(self.supports(mode), "no context priors at this level");
        let cells = mode.has_context().then(|| (cols, ByCell::of(latents)));
        let mut surprises = ByCell::default();
        let mut candidate = Vec::new();
        let mut ids = Vec::with_capacity(latents.len() / LATENT_LEN);
        for (i, z) in latents.chunks_exact(LATENT_LEN).enumerate() {
            let context = cells.as_ref().map(|(cols, cells)| {
                let ctx = self.context().expect("checked");
                let predictions = ctx.predictor.predict_patch(cells, z, *cols, i);
                (predictions, PatchActivity::new(&surprises, *cols, i))
            });
            let id_probabilities = self.id_probabilities(mode, &ids, cols, i);
            let mut best = (0, f64::INFINITY, Vec::new());
            for k in 0..self.subclasses() as u8 {
                let prior = self.prior(mode, Some(k));
                candidate.clear();
                let bits = fixed_point_bits(id_probabilities[k as usize]) as f64
                    + match &context {
                        None => Self::latent_bits(mode, z, plain_points(prior)),
                        Some((predictions, activity)) => {
                            let patch = ContextPatch {
                                prior,
                                activity: activity.clone(),
                            };
                            let points =
                                patch.points(self.scales(mode), z, predictions, &mut candidate);
                            Self::latent_bits(mode, z, points)
                        }
                    };
                if bits < best.1 {
                    best = (k, bits, std::mem::take(&mut candidate));
                }
            }
            if context.is_some() {
                surprises.push(&best.2);
            }
            ids.push(best.0);
        }
        ids
    }

    /// The bits a patch drawn from subclass `id`'s prior (the global one for `None`) costs
    /// in each latent channel on average (the prior's entropy; no id, no context): what the
    /// prior expects of each channel. None for a subclass the level does not have.
    pub fn channel_bits(&self, id: Option<u8>) -> Option<Vec<f32>> {
        if id.is_some_and(|k| k as usize >= self.subclasses()) {
            return None;
        }
        let points: Vec<(i16, u8)> = plain_points(self.prior(PriorMode::Subclass, id)).collect();
        let cells = LATENT_LEN / LATENT_CHANNELS;
        Some(
            (points.chunks_exact(cells))
                .map(|cell| {
                    let tables = PriorMode::Subclass.tables();
                    cell.iter().map(|&(m, s)| tables.entropy(m, s)).sum()
                })
                .collect(),
        )
    }

    /// Code length in bits of each patch of the stream, its id included.
    pub fn patch_bits(&self, latents: &[i32], coding: Coding) -> Vec<f64> {
        let n = latents.len() / LATENT_LEN;
        self.check(coding, n);
        let (mode, cols) = (coding.mode(), coding.context().unwrap_or(1));
        let points = self.points(latents, coding);
        (latents
            .chunks_exact(LATENT_LEN)
            .zip(points.chunks_exact(LATENT_LEN)))
        .enumerate()
        .map(|(i, (z, points))| {
            let id = coding.ids().map(|ids| {
                fixed_point_bits(self.id_probabilities(mode, ids, cols, i)[ids[i] as usize])
            });
            id.map_or(0.0, f64::from) + Self::latent_bits(mode, z, points.iter().copied())
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
        let points = self.points(latents, coding);
        let tables = coding.mode().tables();
        for (z, points) in (latents
            .chunks_exact(LATENT_LEN)
            .zip(points.chunks_exact(LATENT_LEN)))
        .rev()
        {
            let symbols = z.iter().zip(points).map(|(&z, &(m, s))| {
                let (table, symbol) = table_and_symbol(m, s, z);
                (symbol, tables.model(table))
            });
            coder
                .encode_symbols_reverse(symbols)
                .expect("latents are in the codable range");
        }
        if let Some(ids) = coding.ids() {
            let cols = coding.context().unwrap_or(1);
            let models: Vec<_> = (0..n)
                .map(|i| self.id_model(coding.mode(), ids, cols, i))
                .collect();
            coder
                .encode_symbols_reverse(ids.iter().zip(&models).map(|(&k, m)| (k as usize, &**m)))
                .expect("ids are below the number of subclasses");
        }
        coder
            .into_compressed()
            .expect("Vec<u32> backend cannot fail")
    }

    /// The fewest payload bits any file of `patches` patches can have in `mode`: every patch
    /// coded with its likeliest latents (and its cheapest subclass, id included, its neighbours
    /// of the same subclass where that makes it likelier; with context, under the best mean
    /// and scale the context allows), less a slack for the up to 64 bits ANS holds in its final
    /// state and for the rounding of the per-symbol code lengths.
    pub fn min_payload_bits(&self, patches: usize, mode: PriorMode) -> f64 {
        let id_bits = |k: usize| {
            let p = match mode.ids_follow_neighbours() {
                true => self.boosted_id_probabilities([Some(k as u8), Some(k as u8)])[k],
                false => self.id_probabilities[k],
            };
            fixed_point_bits(p) as f64
        };
        let cheapest = |priors: &[GaussianPrior], min: &dyn Fn(&GaussianPrior) -> f64| {
            (priors.iter().enumerate())
                .map(|(k, prior)| id_bits(k) + min(prior))
                .fold(f64::INFINITY, f64::min)
        };
        let tables = mode.tables();
        let per_patch = match (mode, &self.priors.context) {
            (PriorMode::Global, _) => tables.min_patch_bits(&self.priors.global),
            (PriorMode::Subclass, _) => {
                cheapest(&self.priors.subclasses, &|p| tables.min_patch_bits(p))
            }
            (_, Some(ctx)) if self.supports(mode) => {
                cheapest(&ctx.subclasses, &self.scales(mode).min_patch_bits(tables))
            }
            _ => 0.0,
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
        if !self.supports(mode) {
            return Err(Error::NoContext);
        }
        let context = mode
            .has_context()
            .then(|| self.context().expect("supported"));
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
            _ => {
                let mut ids = Vec::with_capacity(patches);
                for i in 0..patches {
                    let model = self.id_model(mode, &ids, cols, i);
                    let k = (coder.decode_symbol(&*model))
                        .map_err(|e| Error::Payload(format!("id stream: {e:?}")))?;
                    ids.push(k as u8);
                }
                Some(ids)
            }
        };
        let mut latents = Vec::with_capacity(patches * LATENT_LEN);
        // With context: the latents and surprises of the patches before, as the taps read
        // them, and the surprises of the patch's latents so far.
        let room = context.map_or(0, |_| patches);
        let (mut cells, mut surprises) = (ByCell::with_capacity(room), ByCell::with_capacity(room));
        let mut own = Vec::with_capacity(LATENT_LEN);
        let tables = mode.tables();
        for i in 0..patches {
            let prior = self.prior(mode, ids.as_ref().map(|ids| ids[i]));
            own.clear();
            let mut context = context.map(|ctx| {
                let patch = ContextPatch {
                    prior,
                    activity: PatchActivity::new(&surprises, cols, i),
                };
                (
                    ctx.predictor.patch(&cells, cols, i),
                    patch,
                    self.scales(mode),
                )
            });
            for e in 0..LATENT_LEN {
                let (mut m, mut s) = (prior.mean_q[e], prior.scale_idx[e]);
                let mut surprise_scale = s;
                if let Some((predictions, patch, scales)) = &mut context {
                    let prediction = predictions.next(&latents[i * LATENT_LEN..]);
                    let activity;
                    (m, surprise_scale, activity) = patch.next(e, prediction, &own);
                    s = scales.scale(e / CELLS, activity, surprise_scale);
                }
                let (table, _) = table_and_symbol(m, s, 0);
                let symbol = coder
                    .decode_symbol(tables.model(table))
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
                if context.is_some() {
                    own.push(surprise(z, m, surprise_scale));
                }
            }
            if context.is_some() {
                cells.push(&latents[i * LATENT_LEN..]);
                surprises.push(&own);
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
