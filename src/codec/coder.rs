//! Entropy coding of patch latents and subclass ids with constriction's ANS coder.
//!
//! Stream order (as decoded): in subclass mode, every patch's subclass id under the
//! categorical id prior, then every patch's 1024 latents under its subclass's Gaussian prior;
//! in global mode, only the latents, all under the global prior. ANS is a stack, so the
//! encoder pushes the symbols in reverse.

use constriction::stream::Decode;
use constriction::stream::stack::DefaultAnsCoder;

use crate::codec::entropy::{
    GaussianPrior, GaussianTables, MAX_LATENT, Model, categorical_fixed_point, clamp_latent,
    fit_prior, fixed_point_bits, latent_from_symbol, table_and_symbol,
};
use crate::error::{Error, Result};
use crate::model::LATENT_LEN;

/// How latents are coded: one global prior, or per-subclass priors with the ids in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PriorMode {
    /// One table for every patch; no ids.
    Global,
    /// One table per subclass; each patch's id is coded first.
    Subclass,
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
    /// Subclass ids (subclass mode only).
    pub ids: Option<Vec<u8>>,
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

    fn prior(&self, id: Option<u8>) -> &GaussianPrior {
        match id {
            Some(k) => &self.priors.subclasses[k as usize],
            None => &self.priors.global,
        }
    }

    /// Code length in bits of one patch (its id included) under subclass `id`, or the global
    /// prior for `None`.
    pub fn patch_bits(&self, z: &[i32], id: Option<u8>) -> f64 {
        let id_bits = id.map_or(0.0, |k| self.id_bits[k as usize] as f64);
        id_bits + self.tables.patch_bits(self.prior(id), z)
    }

    /// The subclass that codes each patch in the fewest bits, its id included.
    pub fn rate_optimal_ids(&self, latents: &[i32]) -> Vec<u8> {
        latents
            .chunks_exact(LATENT_LEN)
            .map(|z| {
                (0..self.subclasses() as u8)
                    .map(|k| (k, self.patch_bits(z, Some(k))))
                    .fold(
                        (0, f64::INFINITY),
                        |best, c| if c.1 < best.1 { c } else { best },
                    )
                    .0
            })
            .collect()
    }

    /// Information content Σ −log₂ p of the whole stream, in bits.
    pub fn information_bits(&self, latents: &[i32], ids: Option<&[u8]>) -> f64 {
        latents
            .chunks_exact(LATENT_LEN)
            .enumerate()
            .map(|(i, z)| self.patch_bits(z, ids.map(|ids| ids[i])))
            .sum()
    }

    /// Encodes `latents` (`n × LATENT_LEN`, each in the codable range, see
    /// [`crate::codec::entropy::clamp_latent`]) and, in subclass mode, one id per patch.
    pub fn encode(&self, latents: &[i32], ids: Option<&[u8]>) -> Vec<u32> {
        assert_eq!(latents.len() % LATENT_LEN, 0);
        let n = latents.len() / LATENT_LEN;
        if let Some(ids) = ids {
            assert_eq!(ids.len(), n, "one id per patch");
        }
        let mut coder = DefaultAnsCoder::new();
        for (i, z) in latents.chunks_exact(LATENT_LEN).enumerate().rev() {
            let prior = self.prior(ids.map(|ids| ids[i]));
            let symbols =
                z.iter()
                    .zip(prior.mean_q.iter().zip(&prior.scale_idx))
                    .map(|(&z, (&m, &s))| {
                        let (table, symbol) = table_and_symbol(m, s, z);
                        (symbol, self.tables.model(table))
                    });
            coder
                .encode_symbols_reverse(symbols)
                .expect("latents are in the codable range");
        }
        if let Some(ids) = ids {
            coder
                .encode_iid_symbols_reverse(ids.iter().map(|&k| k as usize), &self.id_model)
                .expect("ids are below the number of subclasses");
        }
        coder
            .into_compressed()
            .expect("Vec<u32> backend cannot fail")
    }

    /// The fewest payload bits any file of `patches` patches can have in `mode`: every patch
    /// coded with its likeliest latents (and its cheapest subclass, id included), less a slack
    /// for the up to 64 bits ANS holds in its final state and for the rounding of the
    /// per-symbol code lengths.
    pub fn min_payload_bits(&self, patches: usize, mode: PriorMode) -> f64 {
        let per_patch = match mode {
            PriorMode::Global => self.tables.min_patch_bits(&self.priors.global),
            PriorMode::Subclass => (self.priors.subclasses.iter().zip(&self.id_bits))
                .map(|(prior, &id)| id as f64 + self.tables.min_patch_bits(prior))
                .fold(f64::INFINITY, f64::min),
        };
        patches as f64 * per_patch * (1.0 - 1e-4) - 64.0
    }

    /// Decodes `patches` patches from `words`. Fails if the words do not hold exactly that
    /// stream. The work is bounded by the payload: a payload shorter than the fewest bits such
    /// a stream can take ([`LevelCoder::min_payload_bits`]) is refused before any decoding, so
    /// a header that declares a large image costs nothing without the bits to fill it; and it
    /// decodes at most `patches × (LATENT_LEN + 1)` symbols.
    pub fn decode(
        &self,
        words: Vec<u32>,
        patches: usize,
        mode: PriorMode,
    ) -> Result<DecodedPayload> {
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
            PriorMode::Subclass => {
                let ids: Result<Vec<u8>, _> = coder
                    .decode_iid_symbols(patches, &self.id_model)
                    .map(|s| s.map(|k| k as u8))
                    .collect();
                Some(ids.map_err(|e| Error::Payload(format!("id stream: {e:?}")))?)
            }
        };
        let mut latents = Vec::with_capacity(patches * LATENT_LEN);
        for i in 0..patches {
            let prior = self.prior(ids.as_ref().map(|ids| ids[i]));
            for (&m, &s) in prior.mean_q.iter().zip(&prior.scale_idx) {
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
}
