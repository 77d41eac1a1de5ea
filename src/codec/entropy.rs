//! Discretized priors on a fixed coding grid, and their integer probability tables.
//!
//! A prior gives every latent element a mean and a scale. For coding, both live on a grid:
//! the mean in quarter steps (`mean_q / 4`), the scale as an index into [`scales`]
//! (64 values, log-spaced from 0.11 to 256, as CompressAI's scale table). A coded symbol is
//! the residual `r = ẑ − floor(mean)`, in `[-TAIL, TAIL]`, under the distribution of a
//! [`Family`] — the Gaussian, or the heavier-tailed logistic — of the mean's fractional part
//! and standard deviation the scale.
//!
//! Each family's 4 × 64 probability tables are built from its CDF in integer fixed point
//! (2^24 total, every symbol ≥ 1, so the model is "leaky"). The CDFs are evaluated with
//! only `+ − × ÷`, `floor` and bit operations (no platform `exp`/`erf`), so the tables — and
//! therefore every `.sac` file — are bit-identical on every machine and in the browser.
//!
//! Latent range: ẑ is clamped to `[-MAX_LATENT, MAX_LATENT]` and means to
//! `[-MAX_MEAN, MAX_MEAN]`, so every residual fits the table (`MAX_LATENT + MAX_MEAN + 1 ≤ TAIL`).

use std::borrow::Borrow;
use std::num::NonZeroU32;

use constriction::stream::model::{
    DecoderModel, DefaultContiguousCategoricalEntropyModel, EncoderModel, EntropyModel,
};

use crate::model::LATENT_LEN;

/// Fixed-point precision of every probability (bits).
pub const PRECISION: usize = 24;
/// Number of scale levels.
pub const SCALE_LEVELS: usize = 64;
/// Smallest scale (CompressAI's lower bound).
pub const SCALE_MIN: f64 = 0.11;
/// Ratio between consecutive scales: (256 / 0.11)^(1/63).
const SCALE_RATIO: f64 = 1.130_946_394_351_932_7;
/// Mean grid: steps per unit.
pub const MEAN_STEPS: i32 = 4;
/// Residuals are coded in `[-TAIL, TAIL]`.
pub const TAIL: i32 = 255;
/// Latents are clamped to `[-MAX_LATENT, MAX_LATENT]` before coding.
pub const MAX_LATENT: i32 = 127;
/// Prior means are limited to `[-MAX_MEAN, MAX_MEAN]` (in latent units).
pub const MAX_MEAN: i32 = 127;
const SYMBOLS: usize = (2 * TAIL + 1) as usize;

/// A categorical entropy model (the subclass ids).
pub type CategoricalModel = DefaultContiguousCategoricalEntropyModel;

/// The entropy model of one table: the cumulative probabilities of its residuals.
///
/// Decoding looks a symbol up from the middle of the table outwards (a latent is mostly near
/// its mean): it reads fewer entries than a binary search over the whole table, and those it
/// reads are the ones every lookup reads.
pub struct Table {
    /// `cdf[s]`: the probability of the residuals before symbol `s`; `SYMBOLS + 1` entries
    /// from 0 to 2^[`PRECISION`], rising (every probability is at least 1).
    cdf: Vec<u32>,
}

impl Table {
    /// The table of these probabilities (each ≥ 1, summing to 2^[`PRECISION`]).
    fn new(probabilities: &[u32]) -> Self {
        let mut cdf = Vec::with_capacity(probabilities.len() + 1);
        cdf.push(0);
        for &p in probabilities {
            debug_assert!(p > 0);
            cdf.push(cdf[cdf.len() - 1] + p);
        }
        assert_eq!(cdf[probabilities.len()], 1 << PRECISION);
        Self { cdf }
    }

    /// Symbol `s`'s left cumulative and probability.
    fn range(&self, s: usize) -> (u32, NonZeroU32) {
        let (left, right) = (self.cdf[s], self.cdf[s + 1]);
        (
            left,
            NonZeroU32::new(right - left).expect("every probability ≥ 1"),
        )
    }
}

impl EntropyModel<PRECISION> for Table {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for Table {
    fn left_cumulative_and_probability(
        &self,
        symbol: impl Borrow<usize>,
    ) -> Option<(u32, NonZeroU32)> {
        let s = *symbol.borrow();
        (s < SYMBOLS).then(|| self.range(s))
    }
}

impl DecoderModel<PRECISION> for Table {
    fn quantile_function(&self, quantile: u32) -> (usize, u32, NonZeroU32) {
        // The symbol s with cdf[s] ≤ quantile < cdf[s + 1]: steps of 1, 2, 4… from the middle
        // until they pass it, then bisection. cdf[0] = 0 and cdf[SYMBOLS] = 2^PRECISION bound
        // the steps.
        let cdf = &self.cdf;
        let middle = TAIL as usize;
        let (mut lo, mut hi) = (middle, middle);
        let mut step = 1;
        if cdf[middle] <= quantile {
            loop {
                hi = (middle + step).min(SYMBOLS);
                if cdf[hi] > quantile {
                    break;
                }
                (lo, step) = (hi, 2 * step);
            }
        } else {
            loop {
                lo = middle.saturating_sub(step);
                if cdf[lo] <= quantile {
                    break;
                }
                (hi, step) = (lo, 2 * step);
            }
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if cdf[mid] <= quantile {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let (left, probability) = self.range(lo);
        (lo, left, probability)
    }
}

/// The 64 scales of the grid, `SCALE_MIN · SCALE_RATIO^i`.
pub fn scales() -> [f64; SCALE_LEVELS] {
    let mut s = [0.0; SCALE_LEVELS];
    let mut v = SCALE_MIN;
    for x in &mut s {
        *x = v;
        v *= SCALE_RATIO;
    }
    s
}

/// A discretized Gaussian prior on the coding grid: one (mean, scale) per latent element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaussianPrior {
    /// Means in quarter steps, each in `[-MAX_MEAN·4, MAX_MEAN·4]`.
    pub mean_q: Vec<i16>,
    /// Indices into the scale table, each `< SCALE_LEVELS`.
    pub scale_idx: Vec<u8>,
}

impl GaussianPrior {
    /// The same (mean, scale) for every element.
    pub fn uniform(mean_q: i16, scale_idx: u8) -> Self {
        Self {
            mean_q: vec![mean_q; LATENT_LEN],
            scale_idx: vec![scale_idx; LATENT_LEN],
        }
    }

    /// Checks lengths and ranges (used when loading weights).
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |e: String| Err(crate::error::Error::Weights(e));
        if self.mean_q.len() != LATENT_LEN || self.scale_idx.len() != LATENT_LEN {
            return bad(format!(
                "prior has {} entries, expected {LATENT_LEN}",
                self.mean_q.len()
            ));
        }
        let max_q = (MAX_MEAN * MEAN_STEPS) as i16;
        if self.mean_q.iter().any(|m| m.abs() > max_q) {
            return bad("prior mean out of range".into());
        }
        if self.scale_idx.iter().any(|&s| s as usize >= SCALE_LEVELS) {
            return bad("prior scale index out of range".into());
        }
        Ok(())
    }
}

/// Which table and symbol code latent `z` under grid mean `mean_q` and scale `scale_idx`.
#[inline]
pub fn table_and_symbol(mean_q: i16, scale_idx: u8, z: i32) -> (usize, usize) {
    let m = mean_q as i32;
    let (base, frac) = (m.div_euclid(MEAN_STEPS), m.rem_euclid(MEAN_STEPS));
    let table = frac as usize * SCALE_LEVELS + scale_idx as usize;
    let symbol = (z - base + TAIL) as usize;
    (table, symbol)
}

/// Inverse of [`table_and_symbol`] for decoding.
#[inline]
pub fn latent_from_symbol(mean_q: i16, symbol: usize) -> i32 {
    (mean_q as i32).div_euclid(MEAN_STEPS) + symbol as i32 - TAIL
}

/// A latent `μ·g` rounded — halves to even, as the trainer's `rate.round_latents` (tied by
/// the parity test) — and clamped to the codable range.
#[inline]
pub fn clamp_latent(z: f32) -> i32 {
    (z.round_ties_even() as i32).clamp(-MAX_LATENT, MAX_LATENT)
}

/// The shape of a prior's residuals: a distribution of the prior's mean and of standard
/// deviation its scale, discretized to unit bins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// The Gaussian: every prior mode but [`crate::PriorMode::Context`].
    Gaussian,
    /// The logistic (scale `σ·√3/π`): heavier tails, which fit the context priors' residuals
    /// — what the neighbours did not predict — better than the Gaussian.
    Logistic,
}

/// One family's 4 × 64 probability tables and the code length of every symbol under each.
pub struct Tables {
    models: Vec<Table>,
    bits: Vec<f32>,
    /// The fewest bits any symbol of each table costs.
    min_bits: Vec<f32>,
}

impl Tables {
    /// The Gaussian tables (built on first use, a few milliseconds).
    pub fn gaussian() -> &'static Self {
        static GAUSSIAN: std::sync::LazyLock<Tables> =
            std::sync::LazyLock::new(|| Tables::new(Family::Gaussian));
        &GAUSSIAN
    }

    /// The logistic tables (built on first use).
    pub fn logistic() -> &'static Self {
        static LOGISTIC: std::sync::LazyLock<Tables> =
            std::sync::LazyLock::new(|| Tables::new(Family::Logistic));
        &LOGISTIC
    }

    /// The tables of `family`.
    pub fn of(family: Family) -> &'static Self {
        match family {
            Family::Gaussian => Self::gaussian(),
            Family::Logistic => Self::logistic(),
        }
    }

    fn new(family: Family) -> Self {
        let scales = scales();
        let mut models = Vec::with_capacity(MEAN_STEPS as usize * SCALE_LEVELS);
        let mut bits = Vec::with_capacity(MEAN_STEPS as usize * SCALE_LEVELS * SYMBOLS);
        for frac in 0..MEAN_STEPS {
            let offset = frac as f64 / MEAN_STEPS as f64;
            for &scale in &scales {
                let probs = fixed_point(family, offset, scale);
                bits.extend(probs.iter().map(|&p| fixed_point_bits(p)));
                models.push(Table::new(&probs));
            }
        }
        let min_bits = bits
            .chunks_exact(SYMBOLS)
            .map(|t| t.iter().copied().fold(f32::INFINITY, f32::min))
            .collect();
        Self {
            models,
            bits,
            min_bits,
        }
    }

    /// The entropy model of table `table` (see [`table_and_symbol`]).
    #[inline]
    pub fn model(&self, table: usize) -> &Table {
        &self.models[table]
    }

    /// Code length in bits of latent `z` under (mean_q, scale_idx).
    #[inline]
    pub fn bits(&self, mean_q: i16, scale_idx: u8, z: i32) -> f32 {
        let (table, symbol) = table_and_symbol(mean_q, scale_idx, z);
        self.bits[table * SYMBOLS + symbol]
    }

    /// [`Tables::bits`] for any latent and mean: one beyond the residual range costs
    /// what the end symbol that holds its tail does (fitting meets such pairs; coding never).
    pub fn tail_bits(&self, mean_q: i16, scale_idx: u8, z: i32) -> f32 {
        let (table, _) = table_and_symbol(mean_q, scale_idx, 0);
        let r = z - (mean_q as i32).div_euclid(MEAN_STEPS);
        self.bits[table * SYMBOLS + (r.clamp(-TAIL, TAIL) + TAIL) as usize]
    }

    /// The bits a latent drawn from (mean_q, scale_idx) costs on average: the entropy of
    /// its table, `Σ p·bits`.
    pub fn entropy(&self, mean_q: i16, scale_idx: u8) -> f32 {
        let (table, _) = table_and_symbol(mean_q, scale_idx, 0);
        (self.bits[table * SYMBOLS..][..SYMBOLS].iter())
            .map(|&b| (-b).exp2() * b)
            .sum()
    }

    /// The fewest bits any patch can cost under `prior`: what its likeliest latents cost.
    pub fn min_patch_bits(&self, prior: &GaussianPrior) -> f64 {
        prior
            .mean_q
            .iter()
            .zip(&prior.scale_idx)
            .map(|(&m, &s)| self.min_bits[table_and_symbol(m, s, 0).0] as f64)
            .sum()
    }

    /// The fewest bits a latent can cost under scale index `scale_idx`, whatever its mean: a
    /// bound for context priors, whose means move with the predictions.
    pub fn min_bits_any_mean(&self, scale_idx: u8) -> f32 {
        (0..MEAN_STEPS as i16)
            .map(|frac| self.min_bits[table_and_symbol(frac, scale_idx, 0).0])
            .fold(f32::INFINITY, f32::min)
    }
}

/// Code length in bits of a symbol with fixed-point probability `p`.
pub fn fixed_point_bits(p: u32) -> f32 {
    (PRECISION as f64 - (p as f64).log2()) as f32
}

/// Integer probabilities (sum 2^PRECISION, each ≥ 1) of the residuals `-TAIL..=TAIL` under
/// `family` of mean `offset` and standard deviation `scale`; the end symbols take the tails.
fn fixed_point(family: Family, offset: f64, scale: f64) -> Vec<u32> {
    let (cdf, unit): (fn(f64) -> f64, f64) = match family {
        Family::Gaussian => (phi, scale),
        Family::Logistic => (logistic, scale * SQRT_3 / std::f64::consts::PI),
    };
    // F(hi) − F(lo), computed on the side where it does not cancel (both are symmetric).
    let mass = |lo: f64, hi: f64| match lo > 0.0 {
        true => cdf(-lo) - cdf(-hi),
        false => cdf(hi) - cdf(lo),
    };
    let p: Vec<f64> = (-TAIL..=TAIL)
        .map(|r| {
            let lo = if r == -TAIL {
                f64::NEG_INFINITY
            } else {
                (r as f64 - 0.5 - offset) / unit
            };
            let hi = if r == TAIL {
                f64::INFINITY
            } else {
                (r as f64 + 0.5 - offset) / unit
            };
            mass(lo, hi)
        })
        .collect();
    quantize_probabilities(&p)
}

/// √3, for the logistic's scale.
const SQRT_3: f64 = 1.732_050_807_568_877_2;

/// Fixed-point probabilities summing to exactly 2^PRECISION, each ≥ 1: `1 + ⌊p·free⌋`,
/// the remainder going to the most probable symbol.
pub fn quantize_probabilities(p: &[f64]) -> Vec<u32> {
    let total = 1u64 << PRECISION;
    let sum: f64 = p.iter().sum();
    let free = (total - p.len() as u64) as f64;
    let mut q: Vec<u32> = p
        .iter()
        .map(|&x| 1 + (x / sum * free).floor() as u32)
        .collect();
    let used: u64 = q.iter().map(|&x| x as u64).sum();
    let argmax = (0..q.len()).fold(0, |best, i| if q[i] > q[best] { i } else { best });
    q[argmax] += (total - used) as u32;
    q
}

/// Standard normal CDF, from [`erfc`].
fn phi(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        0.0
    } else if x == f64::INFINITY {
        1.0
    } else {
        0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
    }
}

/// Standard logistic CDF `1 / (1 + e^−x)`, from [`exp_det`].
fn logistic(x: f64) -> f64 {
    match x {
        f64::NEG_INFINITY => 0.0,
        f64::INFINITY => 1.0,
        // Where e^−x would overflow, e^x is the CDF to 1 ulp.
        x if x < -700.0 => 0.0,
        x => 1.0 / (1.0 + exp_det(-x)),
    }
}

/// Complementary error function, relative error < 1.2·10⁻⁷ (Numerical Recipes' Chebyshev
/// fit), using [`exp_det`] so the result is the same on every platform.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * exp_det(-z * z + poly);
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// `e^x` from basic IEEE operations only (Cody–Waite reduction, degree-13 Taylor polynomial),
/// so it rounds identically everywhere. Accurate to a few ulp; 0 below −700.
fn exp_det(x: f64) -> f64 {
    if x < -700.0 {
        return 0.0;
    }
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let k = (x * std::f64::consts::LOG2_E + 0.5).floor();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut sum = 1.0;
    for n in (1..=13).rev() {
        sum = 1.0 + sum * r / n as f64;
    }
    let two_k = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    sum * two_k
}

/// Fixed-point categorical probabilities from counts (each count + 1, so no id is impossible).
pub fn categorical_fixed_point(counts: &[u32]) -> Vec<u32> {
    let p: Vec<f64> = counts.iter().map(|&c| c as f64 + 1.0).collect();
    quantize_probabilities(&p)
}

/// Maximum-likelihood fit of one element's grid (mean, scale) to a histogram of latent
/// values `(value, count)`: start from the moments, then coordinate descent on the exact code
/// length under the coding tables until no neighbouring grid point codes the data in fewer bits.
pub fn fit_element(tables: &Tables, hist: &[(i32, u32)]) -> (i16, u8) {
    let shifted: Vec<(i16, i32, u32)> = hist.iter().map(|&(v, c)| (0, v, c)).collect();
    fit_element_offsets(tables, &shifted)
}

/// [`fit_element`] for values each coded under the fitted mean shifted by its own offset (in
/// quarter steps, `0..MEAN_STEPS`): a histogram of `(offset, value, count)`, the cost of an
/// entry being its count times the bits of `value` under mean `offset + m` and scale `s`.
pub fn fit_element_offsets(tables: &Tables, hist: &[(i16, i32, u32)]) -> (i16, u8) {
    let n: f64 = hist.iter().map(|&(_, _, c)| c as f64).sum();
    if n == 0.0 {
        return (0, 0);
    }
    // Moments of the values relative to their offsets, in latent units.
    let at = |o: i16, v: i32| v as f64 - o as f64 / MEAN_STEPS as f64;
    let mean = hist
        .iter()
        .map(|&(o, v, c)| at(o, v) * c as f64)
        .sum::<f64>()
        / n;
    let var = hist
        .iter()
        .map(|&(o, v, c)| (at(o, v) - mean).powi(2) * c as f64)
        .sum::<f64>()
        / n;
    let sd = (var - 1.0 / 12.0).max(SCALE_MIN * SCALE_MIN).sqrt();
    let max_q = (MAX_MEAN * MEAN_STEPS) as i16;
    let mut m = ((mean * MEAN_STEPS as f64).round() as i16).clamp(-max_q, max_q);
    let scales = scales();
    let mut s = scales
        .iter()
        .position(|&x| x >= sd)
        .unwrap_or(SCALE_LEVELS - 1) as u8;

    let cost = |m: i16, s: u8| -> f64 {
        hist.iter()
            .map(|&(o, v, c)| tables.tail_bits(o + m, s, v) as f64 * c as f64)
            .sum()
    };
    let mut best = cost(m, s);
    loop {
        let mut moved = false;
        for (dm, ds) in [
            (-1i16, 0i16),
            (1, 0),
            (0, -1),
            (0, 1),
            (-1, -1),
            (1, 1),
            (-1, 1),
            (1, -1),
        ] {
            let (m2, s2) = (m + dm, s as i16 + ds);
            if m2.abs() > max_q || !(0..SCALE_LEVELS as i16).contains(&s2) {
                continue;
            }
            let c = cost(m2, s2 as u8);
            if c < best {
                (best, m, s, moved) = (c, m2, s2 as u8, true);
            }
        }
        if !moved {
            return (m, s);
        }
    }
}

/// Fits a [`GaussianPrior`] to patches of latents (each `LATENT_LEN` long) by maximum
/// likelihood per element. With no patches, returns `fallback`.
pub fn fit_prior<'a>(
    tables: &Tables,
    patches: impl Iterator<Item = &'a [i32]> + Clone,
    fallback: &GaussianPrior,
) -> GaussianPrior {
    if patches.clone().next().is_none() {
        return fallback.clone();
    }
    let mut prior = GaussianPrior::uniform(0, 0);
    let mut column = Vec::new();
    for e in 0..LATENT_LEN {
        column.clear();
        column.extend(patches.clone().map(|p| p[e]));
        column.sort_unstable();
        let mut hist: Vec<(i32, u32)> = Vec::new();
        for &v in &column {
            match hist.last_mut() {
                Some((last, c)) if *last == v => *c += 1,
                _ => hist.push((v, 1)),
            }
        }
        (prior.mean_q[e], prior.scale_idx[e]) = fit_element(tables, &hist);
    }
    prior
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_is_a_discretized_gaussians() {
        let tables = Tables::gaussian();
        let scales = scales();
        let entropy: Vec<f32> = (0..SCALE_LEVELS as u8)
            .map(|s| tables.entropy(0, s))
            .collect();
        // Up to scales the residual range (±TAIL) cuts off.
        let uncut = scales.iter().filter(|&&s| s < TAIL as f64 / 4.0).count();
        assert!(
            entropy[..uncut].windows(2).all(|w| w[0] < w[1]),
            "rises with the scale: {entropy:?}"
        );
        assert!(entropy[0] < 0.01, "the narrowest scale: {}", entropy[0]);
        for (i, &scale) in scales.iter().enumerate() {
            if (2.0..16.0).contains(&scale) {
                // A wide Gaussian discretized to unit bins: log₂(σ·√(2πe)).
                let want =
                    (scale * (2.0 * std::f64::consts::PI * std::f64::consts::E).sqrt()).log2();
                assert!(
                    (entropy[i] as f64 - want).abs() < 0.02,
                    "σ {scale}: {} vs {want}",
                    entropy[i]
                );
            }
        }
    }

    #[test]
    fn exp_det_matches_std() {
        for i in -7000..=300 {
            let x = i as f64 * 0.1;
            let (a, b) = (exp_det(x), x.exp());
            assert!(((a - b) / b).abs() < 1e-14, "x={x}: {a} vs {b}");
        }
    }

    #[test]
    fn phi_is_accurate_and_monotone() {
        // Reference values of the standard normal CDF.
        for (x, want) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_543),
            (-2.0, 0.022_750_131_948_179_2),
            (-5.0, 2.866_515_718_791_939e-7),
        ] {
            assert!(
                ((phi(x) - want) / want).abs() < 2e-7,
                "phi({x}) = {}",
                phi(x)
            );
        }
        let mut last = 0.0;
        for i in -800..=800 {
            let p = phi(i as f64 * 0.01);
            assert!(p >= last);
            last = p;
        }
    }

    #[test]
    fn tables_sum_to_one_and_match_the_gaussian() {
        let t = Tables::gaussian();
        for table in 0..(MEAN_STEPS as usize * SCALE_LEVELS) {
            let sum: f64 = (0..SYMBOLS)
                .map(|s| (-(t.bits[table * SYMBOLS + s] as f64)).exp2())
                .sum();
            assert!((sum - 1.0).abs() < 1e-4, "table {table} sums to {sum}");
        }
        // Unit scale, zero mean: P(0) = Φ(½) − Φ(−½) = 0.38292.
        let s1 = scales().iter().position(|&s| s >= 1.0).unwrap() as u8;
        let sigma = scales()[s1 as usize];
        let want = phi(0.5 / sigma) - phi(-0.5 / sigma);
        let got = (-(t.bits(0, s1, 0) as f64)).exp2();
        // Within the leak: every one of the 511 symbols gets at least 2^-24.
        assert!(((got - want) / want).abs() < 1e-4, "{got} vs {want}");
    }

    #[test]
    fn logistic_tables_are_the_logistic_of_the_same_deviation() {
        let (t, g) = (Tables::logistic(), Tables::gaussian());
        let s = |sigma: f64| scales().iter().position(|&s| s >= sigma).unwrap() as u8;
        let p = |t: &Tables, m, s, z| (-(t.bits(m, s, z) as f64)).exp2();
        // Mean 0.25 (one quarter step), σ ≈ 2: the mass of [1.5, 2.5) − 0.25.
        let (s2, m) = (s(2.0), 1);
        let unit = scales()[s2 as usize] * SQRT_3 / std::f64::consts::PI;
        let want = logistic(2.25 / unit) - logistic(1.25 / unit);
        assert!(((p(t, m, s2, 2) - want) / want).abs() < 1e-4);
        // Heavier tails and a sharper peak than the Gaussian's of the same deviation.
        assert!(p(t, 0, s2, 0) > p(g, 0, s2, 0));
        assert!(p(t, 0, s2, 12) > 10.0 * p(g, 0, s2, 12));
        assert!(logistic(-800.0) == 0.0 && logistic(800.0) == 1.0 && logistic(0.0) == 0.5);
    }

    #[test]
    fn tables_decode_as_a_binary_search_does() {
        // Every symbol's first and last quantile, and quantiles spread over [0, 2^24), find
        // the symbol constriction's categorical model finds, with the same range.
        let families = [Family::Gaussian, Family::Logistic];
        let points = [(0.0, 0.11), (0.25, 1.0), (0.75, 7.0), (0.5, 256.0)];
        for (family, (offset, scale)) in families.into_iter().flat_map(|f| points.map(|p| (f, p))) {
            let probs = fixed_point(family, offset, scale);
            let (table, reference) = (
                Table::new(&probs),
                CategoricalModel::from_nonzero_fixed_point_probabilities(&probs, false).unwrap(),
            );
            let quantiles = (0..SYMBOLS)
                .flat_map(|s| [table.cdf[s], table.cdf[s + 1] - 1])
                .chain((0..4096).map(|i| i * 4093 + 17));
            for q in quantiles {
                assert_eq!(
                    table.quantile_function(q),
                    reference.quantile_function(q),
                    "{q}"
                );
            }
            for s in [0, 1, TAIL as usize, SYMBOLS - 1, SYMBOLS] {
                assert_eq!(
                    table.left_cumulative_and_probability(s),
                    reference.left_cumulative_and_probability(s)
                );
            }
        }
    }

    #[test]
    fn residual_mapping_round_trips() {
        for m in [-508i16, -5, -4, -1, 0, 3, 4, 508] {
            for z in [-MAX_LATENT, -1, 0, 1, MAX_LATENT] {
                let (_, sym) = table_and_symbol(m, 0, z);
                assert!(sym < SYMBOLS);
                assert_eq!(latent_from_symbol(m, sym), z);
            }
        }
        assert_eq!(clamp_latent(1e9), MAX_LATENT);
        assert_eq!(clamp_latent(-1e9), -MAX_LATENT);
        assert_eq!(clamp_latent(f32::NAN), 0);
    }

    #[test]
    fn fit_recovers_a_known_gaussian() {
        // Histogram of a discretized N(2.25, 3²), 10⁵ samples in expectation.
        let t = Tables::gaussian();
        let hist: Vec<(i32, u32)> = (-20..=25)
            .map(|v| {
                let p = phi((v as f64 + 0.5 - 2.25) / 3.0) - phi((v as f64 - 0.5 - 2.25) / 3.0);
                (v, (p * 1e5).round() as u32)
            })
            .filter(|&(_, c)| c > 0)
            .collect();
        let (m, s) = fit_element(t, &hist);
        assert_eq!(m, 9, "mean 2.25 = 9 quarter steps");
        let sigma = scales()[s as usize];
        assert!((sigma / 3.0 - 1.0).abs() < 0.07, "scale {sigma}");
    }

    #[test]
    fn ml_fit_beats_moments_on_skewed_data() {
        // Mostly zeros with a few large outliers: the ML fit must code it in no more bits
        // than the moment estimate it starts from.
        let t = Tables::gaussian();
        let hist = [(0, 950u32), (1, 20), (-1, 20), (40, 10)];
        let (m, s) = fit_element(t, &hist);
        let cost = |m, s| {
            hist.iter()
                .map(|&(v, c)| t.bits(m, s, v) as f64 * c as f64)
                .sum::<f64>()
        };
        let n = 1000.0;
        let mean = (20.0 - 20.0 + 400.0) / n;
        let var = (20.0 + 20.0 + 16000.0) / n - mean * mean;
        let m0 = (mean * 4.0_f64).round() as i16;
        let s0 = scales()
            .iter()
            .position(|&x| x >= (var - 1.0 / 12.0_f64).sqrt())
            .unwrap() as u8;
        assert!(
            cost(m, s) < cost(m0, s0) * 0.8,
            "{} vs {}",
            cost(m, s),
            cost(m0, s0)
        );
    }

    #[test]
    fn quantized_probabilities_are_exact() {
        let q = quantize_probabilities(&[0.5, 0.25, 0.25, 0.0]);
        assert_eq!(q.iter().map(|&x| x as u64).sum::<u64>(), 1 << PRECISION);
        assert!(q.iter().all(|&x| x >= 1));
        let ids = categorical_fixed_point(&[0, 10, 1000]);
        assert_eq!(ids.iter().map(|&x| x as u64).sum::<u64>(), 1 << PRECISION);
        assert!(ids[2] > ids[1] && ids[1] > ids[0]);
    }
}
