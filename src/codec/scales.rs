//! Scales that follow the context: a latent whose neighbours surprised the coder is likely to
//! surprise it too, and one among quiet neighbours is likely quiet.
//!
//! With context ([`crate::codec::context`]), every coded latent has a *surprise*: how far it
//! fell from the mean it was coded under, in units of its context prior's scale
//! ([`surprise`], integers only). A latent's *activity* ([`PatchActivity`]) is the mean
//! surprise of the cells of its channel nearest it that were coded before it
//! ([`ACTIVITY_TAPS`]), plus the mean surprise of the earlier channels at its own cell. A
//! level's [`ScaleContext`] sorts activities into [`BUCKETS`] by rising thresholds and moves
//! the context prior's scale index of each latent by an amount per channel and bucket, fitted
//! on training latents for the fewest bits ([`ScaleContext::fit`]).
//!
//! Surprises are measured under the context prior's own scale, before it moves, so they follow
//! from the latents, the ids and the predictions alone; everything is integer, so the scales
//! are bit-exact on every machine and in the browser.

use crate::codec::context::{ByCell, CELLS, OwnTaps, Source, TAPS, sources};
use crate::codec::entropy::{GaussianPrior, GaussianTables, MEAN_STEPS, SCALE_LEVELS, scales};
use crate::model::{LATENT_CHANNELS, LATENT_LEN};

/// Activity buckets per channel.
pub const BUCKETS: usize = 16;
/// The largest move of a scale index.
pub const MAX_SHIFT: i8 = 16;
/// The taps (indices into [`TAPS`]) whose surprises make a latent's activity: (0, −1),
/// (0, −2), (−1, −1), (−1, 0), (−1, 1), (−2, 0).
pub const ACTIVITY_TAPS: [usize; 6] = [0, 1, 3, 4, 5, 8];
/// Fractional bits of a surprise.
const SURPRISE_BITS: u32 = 6;

/// One level's scale context: activity thresholds and the scale moves they select.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleContext {
    /// [`BUCKETS`] − 1 thresholds, rising: a latent's bucket is the number at or below its
    /// activity.
    edges: [u32; BUCKETS - 1],
    /// Per channel, per bucket, the move of the scale index, within ±[`MAX_SHIFT`].
    shifts: [i8; LATENT_CHANNELS * BUCKETS],
}

/// The surprise of latent `z` coded under mean `mean_q` (quarter steps) and scale index
/// `scale_idx`: `|z − mean| / scale` in units of 2^−6, from integers only.
#[inline]
pub fn surprise(z: i32, mean_q: i16, scale_idx: u8) -> u32 {
    let distance = (z * MEAN_STEPS - mean_q as i32).unsigned_abs() as u64;
    ((distance * INVERSE_SCALES[scale_idx as usize] as u64) >> 16) as u32
}

/// `round(2^(16 + SURPRISE_BITS) / (MEAN_STEPS · scale))` for every scale of the grid: the
/// scales come from multiplications only, so the table is the same everywhere.
static INVERSE_SCALES: std::sync::LazyLock<[u32; SCALE_LEVELS]> = std::sync::LazyLock::new(|| {
    scales()
        .map(|s| ((1u64 << (16 + SURPRISE_BITS)) as f64 / (MEAN_STEPS as f64 * s)).round() as u32)
});

impl ScaleContext {
    /// The scale context that moves nothing: what a bundle without one codes with, and what
    /// files coded with context before scales followed it were coded with.
    pub const NONE: Self = Self {
        edges: [0; BUCKETS - 1],
        shifts: [0; LATENT_CHANNELS * BUCKETS],
    };

    /// The scale context with these thresholds and moves, if they are well formed.
    pub fn new(edges: &[u32], shifts: &[i8]) -> Result<Self, String> {
        let edges: [u32; BUCKETS - 1] = edges
            .try_into()
            .map_err(|_| format!("{} scale thresholds, not {}", edges.len(), BUCKETS - 1))?;
        if edges.windows(2).any(|w| w[0] > w[1]) {
            return Err("scale thresholds not rising".into());
        }
        let shifts: [i8; LATENT_CHANNELS * BUCKETS] = shifts.try_into().map_err(|_| {
            format!(
                "{} scale moves, not {}",
                shifts.len(),
                LATENT_CHANNELS * BUCKETS
            )
        })?;
        if let Some(s) = shifts.iter().find(|s| s.abs() > MAX_SHIFT) {
            return Err(format!("scale move {s} beyond ±{MAX_SHIFT}"));
        }
        Ok(Self { edges, shifts })
    }

    /// The thresholds.
    pub fn edges(&self) -> &[u32] {
        &self.edges
    }

    /// The moves, channel by channel.
    pub fn shifts(&self) -> &[i8] {
        &self.shifts
    }

    /// The scale index a latent of channel `c` with this activity is coded under, its context
    /// prior's being `scale_idx`.
    #[inline]
    pub fn scale(&self, c: usize, activity: u32, scale_idx: u8) -> u8 {
        // The thresholds rise: those at or below the activity are its bucket (counted without
        // a branch).
        let bucket: usize = self.edges.iter().map(|&e| (e <= activity) as usize).sum();
        Self::moved(scale_idx, self.shifts[c * BUCKETS + bucket])
    }

    fn moved(scale_idx: u8, shift: i8) -> u8 {
        (scale_idx as i32 + shift as i32).clamp(0, SCALE_LEVELS as i32 - 1) as u8
    }

    /// The fewest bits any patch can cost under a context prior, whatever its means and
    /// activities (a bound for payloads coded under it): a function of the prior.
    pub fn min_patch_bits(&self, tables: &GaussianTables) -> impl Fn(&GaussianPrior) -> f64 {
        // Per channel and scale index, the fewest bits of any scale a move reaches.
        let any_mean: Vec<f32> = (0..SCALE_LEVELS as u8)
            .map(|s| tables.min_bits_any_mean(s))
            .collect();
        let floor: Vec<f32> = (0..LATENT_CHANNELS * SCALE_LEVELS)
            .map(|i| {
                let (c, s) = (i / SCALE_LEVELS, (i % SCALE_LEVELS) as u8);
                (self.shifts[c * BUCKETS..(c + 1) * BUCKETS].iter())
                    .map(|&shift| any_mean[Self::moved(s, shift) as usize])
                    .fold(f32::INFINITY, f32::min)
            })
            .collect();
        move |prior| {
            (prior.scale_idx.iter().enumerate())
                .map(|(e, &s)| floor[e / CELLS * SCALE_LEVELS + s as usize] as f64)
                .sum()
        }
    }

    /// Fits the thresholds (the activities' quantiles) and, per channel and bucket, the move
    /// that codes the latents there in the fewest bits. `samples` holds, per latent, its
    /// channel, activity, the grid mean and the scale index its context prior codes it under,
    /// and the latent itself.
    pub fn fit(tables: &GaussianTables, samples: &[Sample]) -> Self {
        if samples.is_empty() {
            return Self::NONE;
        }
        let mut activities: Vec<u32> = samples.iter().map(|s| s.activity).collect();
        activities.sort_unstable();
        let edges: Vec<u32> = (1..BUCKETS)
            .map(|i| activities[i * activities.len() / BUCKETS])
            .collect();
        let mut out = Self::new(&edges, &[0; LATENT_CHANNELS * BUCKETS]).expect("sorted");
        let mut groups = vec![Vec::new(); LATENT_CHANNELS * BUCKETS];
        for s in samples {
            let bucket = out.edges.partition_point(|&e| e <= s.activity);
            groups[s.channel as usize * BUCKETS + bucket].push(s);
        }
        for (shift, group) in out.shifts.iter_mut().zip(&groups) {
            let cost = |d: i8| -> f64 {
                (group.iter())
                    .map(|s| tables.bits(s.mean_q, Self::moved(s.scale_idx, d), s.z) as f64)
                    .sum()
            };
            // The cost is near convex in the move: walk downhill from 0.
            let mut best: (i8, f64) = (0, cost(0));
            for step in [-1, 1] {
                loop {
                    let d = best.0 + step;
                    if d.abs() > MAX_SHIFT {
                        break;
                    }
                    let c = cost(d);
                    if c >= best.1 {
                        break;
                    }
                    best = (d, c);
                }
            }
            *shift = best.0;
        }
        out
    }
}

/// One training latent for [`ScaleContext::fit`].
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Its channel.
    pub channel: u8,
    /// Its activity.
    pub activity: u32,
    /// The grid mean it is coded under (quarter steps).
    pub mean_q: i16,
    /// Its context prior's scale index.
    pub scale_idx: u8,
    /// The latent.
    pub z: i32,
}

/// The activities of one patch's latents, made in their order as they are coded.
#[derive(Clone, Debug)]
pub struct PatchActivity {
    /// Per element, the sum of the surprises of its taps in earlier patches.
    earlier: Vec<u32>,
    /// Per cell, its taps in its own patch.
    own: &'static OwnTaps,
    /// Per cell, how many of its taps there are (the rest lie past the image or are not
    /// coded yet).
    count: [u32; CELLS],
    /// Per cell, the sum of the surprises of its channels before the current one.
    cross: [u32; CELLS],
    /// The next element.
    e: usize,
}

impl PatchActivity {
    /// Begins patch `patch` of a grid `cols` patches wide; `surprises` holds those of every
    /// patch before it.
    pub fn new(surprises: &ByCell<u32>, cols: usize, patch: usize) -> Self {
        static OWN: std::sync::LazyLock<OwnTaps> =
            std::sync::LazyLock::new(|| OwnTaps::of(&ACTIVITY_TAPS));
        let sources = sources(cols, patch);
        let mut earlier = vec![0; LATENT_LEN];
        let mut count = [0; CELLS];
        for (cell, taps) in sources.iter().enumerate() {
            // The cell's taps in earlier patches, every channel at once.
            let mut sums = [0; LATENT_CHANNELS];
            for &t in &ACTIVITY_TAPS {
                match taps[t] {
                    Source::Absent => continue,
                    Source::Own(_) => {}
                    Source::Earlier(p, k) => {
                        for (sum, &s) in sums.iter_mut().zip(surprises.cell(p, k)) {
                            *sum += s;
                        }
                    }
                }
                count[cell] += 1;
            }
            for (dst, sum) in earlier[cell..].iter_mut().step_by(CELLS).zip(sums) {
                *dst = sum;
            }
        }
        Self {
            earlier,
            own: &OWN,
            count,
            cross: [0; CELLS],
            e: 0,
        }
    }

    /// The activity of the next element; `own` holds the surprises of the patch's latents
    /// before it (at least).
    #[inline]
    pub fn next(&mut self, own: &[u32]) -> u32 {
        let (e, c, cell) = (self.e, self.e / CELLS, self.e % CELLS);
        if c > 0 && cell == 0 {
            for (sum, &s) in self.cross.iter_mut().zip(&own[(c - 1) * CELLS..c * CELLS]) {
                *sum += s;
            }
        }
        let values = &own[c * CELLS..];
        let taps = self.earlier[e]
            + (self.own.cell(cell).iter())
                .map(|&(_, k)| values[k as usize])
                .sum::<u32>();
        self.e += 1;
        divide(taps, self.count[cell]) + divide(self.cross[cell], c as u32)
    }
}

/// `⌈2^32 / n⌉` for `n` in `1..=LATENT_CHANNELS` (and `n = 0` as 1).
const RECIPROCALS: [u64; LATENT_CHANNELS + 1] = {
    let mut t = [0; LATENT_CHANNELS + 1];
    let mut n = 1;
    while n <= LATENT_CHANNELS {
        t[n] = (1u64 << 32).div_ceil(n as u64);
        n += 1;
    }
    t[0] = t[1];
    t
};

/// `⌊x / max(n, 1)⌋` by a multiplication: exact for `x·n < 2^32` (every sum of surprises
/// here: below 2^25 over at most 64 terms), and several times faster than a division.
#[inline]
fn divide(x: u32, n: u32) -> u32 {
    ((x as u64 * RECIPROCALS[n as usize]) >> 32) as u32
}

// A surprise is below 2^18 (|z − mean| ≤ 254 latent units over the smallest scale, 0.11, in
// units of 2^−6): the sums of a cell's taps and of its earlier channels fit a u32.
const _: () = assert!((TAPS.len() + LATENT_CHANNELS) as u64 * (1 << 18) < u32::MAX as u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surprise_is_distance_over_scale() {
        let scales = scales();
        for (z, m, s) in [(3, 0, 20), (-5, 7, 0), (0, 0, 40), (100, -300, 63)] {
            let want = (z as f64 - m as f64 / 4.0).abs() / scales[s as usize] * 64.0;
            let got = surprise(z, m, s) as f64;
            assert!(
                (got - want).abs() <= 1.0 + want * 1e-6,
                "{z} {m} {s}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn divide_is_integer_division() {
        for n in 0..=LATENT_CHANNELS as u32 {
            let top = (u32::MAX / n.max(1)) >> 1;
            for x in (0..4096).chain(top - 4096..top).chain([top / 3, top / 7]) {
                assert_eq!(divide(x, n), x / n.max(1), "{x} / {n}");
            }
        }
    }

    #[test]
    fn activity_sees_only_what_was_coded() {
        // A 2 × 2 grid of patches, surprises 1 everywhere before the element, 1000 after.
        let cols = 2;
        let (patch, e) = (3, 5 * CELLS + 6);
        let mut surprises = vec![1; patch * LATENT_LEN + e];
        surprises.extend(vec![1000; LATENT_LEN - e]);
        let mut a = PatchActivity::new(&ByCell::of(&surprises[..patch * LATENT_LEN]), cols, patch);
        let own = &surprises[patch * LATENT_LEN..];
        for i in 0..=e {
            let activity = a.next(own);
            // Every tap and every earlier channel has surprise 1: the means are 1 and 1 (0 for
            // channel 0's missing channels).
            let want = if i < CELLS { 1 } else { 2 };
            assert_eq!(activity, want, "element {i}");
        }
    }

    #[test]
    fn the_fit_narrows_quiet_latents_and_widens_busy_ones() {
        let tables = GaussianTables::new();
        // Channel 0: activity 0 → latents at the mean; activity 1000 → latents ±8 away; all
        // under scale index 20 (≈ 2.5).
        let samples: Vec<Sample> = (0..4000)
            .map(|i| {
                let busy = i % 2 == 1;
                Sample {
                    channel: 0,
                    activity: if busy { 1000 } else { 0 },
                    mean_q: 0,
                    scale_idx: 20,
                    z: if busy {
                        8 * if i % 4 == 1 { 1 } else { -1 }
                    } else {
                        0
                    },
                }
            })
            .collect();
        let fitted = ScaleContext::fit(&tables, &samples);
        assert!(fitted.scale(0, 0, 20) < 20 && fitted.scale(0, 1000, 20) > 20);
        let bits = |ctx: &ScaleContext| -> f64 {
            (samples.iter())
                .map(|s| tables.bits(s.mean_q, ctx.scale(0, s.activity, s.scale_idx), s.z) as f64)
                .sum()
        };
        assert!(bits(&fitted) < 0.8 * bits(&ScaleContext::NONE));
        // The bound holds for what the fit codes best.
        let prior = GaussianPrior::uniform(0, 20);
        assert!(
            fitted.min_patch_bits(&tables)(&prior)
                < ScaleContext::NONE.min_patch_bits(&tables)(&prior)
        );
    }

    #[test]
    fn malformed_scale_contexts_are_refused() {
        let shifts = [0; LATENT_CHANNELS * BUCKETS];
        assert_eq!(
            ScaleContext::new(&[0; BUCKETS - 1], &shifts),
            Ok(ScaleContext::NONE)
        );
        assert!(ScaleContext::new(&[0; BUCKETS], &shifts).is_err());
        let mut falling = [5; BUCKETS - 1];
        falling[3] = 4;
        assert!(ScaleContext::new(&falling, &shifts).is_err());
        let mut far = shifts;
        far[7] = MAX_SHIFT + 1;
        assert!(ScaleContext::new(&[0; BUCKETS - 1], &far).is_err());
        assert!(ScaleContext::new(&[0; BUCKETS - 1], &[0; 3]).is_err());
    }
}
