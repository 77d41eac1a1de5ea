//! Scales that follow the context: a latent whose neighbours surprised the coder is likely to
//! surprise it too, and one among quiet neighbours is likely quiet.
//!
//! With context ([`crate::codec::context`]), every coded latent has a *surprise*: how far it
//! fell from the mean it was coded under, in units of its context prior's scale
//! ([`surprise`], integers only). A latent's *activity* ([`PatchActivity`]) is the mean
//! surprise of the cells of its channel nearest it that were coded before it
//! ([`ACTIVITY_TAPS`]), and the mean surprise of the earlier channels at its own cell. A
//! level's [`ScaleContext`] sorts latents into [`Buckets`] by rising thresholds on these (and
//! on the context prior's scale) and moves the context prior's scale index of each latent by
//! an amount per channel and bucket, fitted on training latents for the fewest bits
//! ([`ScaleContext::fit`]). The first scale contexts bucketed the sum of the two activities
//! ([`Buckets::Sum`]); bucketing them apart, and by the prior's scale, saves more
//! ([`Buckets::Grid`]).
//!
//! Surprises are measured under the context prior's own scale, before it moves, so they follow
//! from the latents, the ids and the predictions alone; everything is integer, so the scales
//! are bit-exact on every machine and in the browser.

use crate::codec::context::{ByCell, CELLS, OwnTaps, Source, TAPS, sources};
use crate::codec::entropy::{GaussianPrior, MEAN_STEPS, SCALE_LEVELS, Tables, scales};
use crate::model::{LATENT_CHANNELS, LATENT_LEN};

/// Buckets per channel of a [`Buckets::Sum`] scale context.
pub const SUM_BUCKETS: usize = 16;
/// Buckets per channel of a [`Buckets::Grid`] scale context, along its spatial and cross
/// activities and the context prior's scale.
pub const GRID: [usize; 3] = [12, 12, 4];
/// The largest move of a scale index.
pub const MAX_SHIFT: i8 = 16;
/// The taps (indices into [`TAPS`]) whose surprises make a latent's activity: (0, −1),
/// (0, −2), (−1, −1), (−1, 0), (−1, 1), (−2, 0).
pub const ACTIVITY_TAPS: [usize; 6] = [0, 1, 3, 4, 5, 8];
/// Fractional bits of a surprise.
const SURPRISE_BITS: u32 = 6;

/// How a scale context sorts a channel's latents into buckets, each by thresholds that rise:
/// a value's bucket along an axis is the number of that axis's thresholds at or below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Buckets {
    /// By the sum of the activity's parts ([`SUM_BUCKETS`] − 1 thresholds): the first scale
    /// context, which files coded in [`crate::PriorMode::ContextSum`] were coded with.
    Sum([u32; SUM_BUCKETS - 1]),
    /// By the spatial activity, the cross activity and the context prior's scale index, apart
    /// ([`GRID`] − 1 thresholds each; the bucket is scale-major, spatial fastest).
    Grid {
        /// Thresholds of the spatial activity.
        spatial: [u32; GRID[0] - 1],
        /// Thresholds of the cross activity.
        cross: [u32; GRID[1] - 1],
        /// Thresholds of the context prior's scale index.
        scale: [u8; GRID[2] - 1],
    },
}

/// How many thresholds at or below `x` (counted without a branch).
#[inline(always)]
fn count_at_or_below<T: PartialOrd + Copy, const N: usize>(edges: &[T; N], x: T) -> usize {
    let mut n = 0;
    for &e in edges {
        n += (e <= x) as usize;
    }
    n
}

impl Buckets {
    /// Buckets per channel.
    pub fn count(&self) -> usize {
        match self {
            Buckets::Sum(_) => SUM_BUCKETS,
            Buckets::Grid { .. } => GRID.iter().product(),
        }
    }

    /// The bucket of a latent with this activity whose context prior's scale index is
    /// `scale_idx`.
    #[inline(always)]
    fn of(&self, activity: Activity, scale_idx: u8) -> usize {
        match self {
            Buckets::Sum(edges) => count_at_or_below(edges, activity.sum()),
            Buckets::Grid {
                spatial,
                cross,
                scale,
            } => {
                let s = count_at_or_below(scale, scale_idx);
                let c = count_at_or_below(cross, activity.cross);
                (s * GRID[1] + c) * GRID[0] + count_at_or_below(spatial, activity.spatial)
            }
        }
    }

    /// The thresholds of each kind, fitted to the samples' quantiles.
    fn fit(grid: bool, samples: &[Sample]) -> Self {
        /// `N` quantiles of `v`, cutting it into `N` + 1 parts (0 where it is empty).
        fn quantiles<T: Ord + Copy + Default, const N: usize>(mut v: Vec<T>) -> [T; N] {
            v.sort_unstable();
            std::array::from_fn(|i| {
                (v.get((i + 1) * v.len() / (N + 1)).copied()).unwrap_or_default()
            })
        }
        let all = |f: fn(&Sample) -> u32| samples.iter().map(f).collect();
        match grid {
            false => Buckets::Sum(quantiles(all(|s| s.activity.sum()))),
            true => Buckets::Grid {
                spatial: quantiles(all(|s| s.activity.spatial)),
                // Of the channels that have a cross activity (not the first).
                cross: quantiles(
                    (samples.iter().filter(|s| s.channel > 0))
                        .map(|s| s.activity.cross)
                        .collect(),
                ),
                scale: quantiles(samples.iter().map(|s| s.scale_idx).collect()),
            },
        }
    }

    /// Checks that the thresholds rise.
    fn check(&self) -> Result<(), String> {
        fn rising<T: PartialOrd>(what: &str, edges: &[T]) -> Result<(), String> {
            match edges.windows(2).any(|w| w[0] > w[1]) {
                true => Err(format!("{what} thresholds not rising")),
                false => Ok(()),
            }
        }
        match self {
            Buckets::Sum(edges) => rising("scale", edges),
            Buckets::Grid {
                spatial,
                cross,
                scale,
            } => {
                rising("spatial", spatial)?;
                rising("cross", cross)?;
                rising("prior scale", scale)
            }
        }
    }
}

/// One level's scale context: its buckets and the scale moves they select.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleContext {
    buckets: Buckets,
    /// Per channel, per bucket, the move of the scale index, within ±[`MAX_SHIFT`].
    shifts: Vec<i8>,
    /// Buckets per channel.
    per_channel: usize,
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
    /// The scale context that moves nothing: what files coded with context before scales
    /// followed it were coded with, and what a bundle without a sum scale context codes
    /// [`crate::PriorMode::ContextSum`] with.
    pub fn none() -> &'static Self {
        static NONE: std::sync::LazyLock<ScaleContext> = std::sync::LazyLock::new(|| {
            ScaleContext::new(
                Buckets::Sum([0; SUM_BUCKETS - 1]),
                vec![0; LATENT_CHANNELS * SUM_BUCKETS],
            )
            .expect("well formed")
        });
        &NONE
    }

    /// The scale context with these buckets and moves, if they are well formed.
    pub fn new(buckets: Buckets, shifts: Vec<i8>) -> Result<Self, String> {
        buckets.check()?;
        let want = LATENT_CHANNELS * buckets.count();
        if shifts.len() != want {
            return Err(format!("{} scale moves, not {want}", shifts.len()));
        }
        if let Some(s) = shifts.iter().find(|s| s.abs() > MAX_SHIFT) {
            return Err(format!("scale move {s} beyond ±{MAX_SHIFT}"));
        }
        let per_channel = buckets.count();
        Ok(Self {
            buckets,
            shifts,
            per_channel,
        })
    }

    /// Its buckets.
    pub fn buckets(&self) -> &Buckets {
        &self.buckets
    }

    /// The moves, channel by channel.
    pub fn shifts(&self) -> &[i8] {
        &self.shifts
    }

    /// The scale index a latent of channel `c` with this activity is coded under, its context
    /// prior's being `scale_idx`.
    #[inline]
    pub fn scale(&self, c: usize, activity: Activity, scale_idx: u8) -> u8 {
        let bucket = self.buckets.of(activity, scale_idx);
        Self::moved(scale_idx, self.shifts[c * self.per_channel + bucket])
    }

    fn moved(scale_idx: u8, shift: i8) -> u8 {
        (scale_idx as i32 + shift as i32).clamp(0, SCALE_LEVELS as i32 - 1) as u8
    }

    /// The fewest bits any patch can cost under a context prior, whatever its means and
    /// activities (a bound for payloads coded under it): a function of the prior.
    pub fn min_patch_bits(&self, tables: &Tables) -> impl Fn(&GaussianPrior) -> f64 {
        // Per channel and scale index, the fewest bits of any scale a move reaches.
        let any_mean: Vec<f32> = (0..SCALE_LEVELS as u8)
            .map(|s| tables.min_bits_any_mean(s))
            .collect();
        // Per channel, the moves it makes (at most 2·MAX_SHIFT + 1, however many buckets).
        let moves: Vec<Vec<i8>> = (self.shifts.chunks_exact(self.per_channel))
            .map(|shifts| {
                (-MAX_SHIFT..=MAX_SHIFT)
                    .filter(|d| shifts.contains(d))
                    .collect()
            })
            .collect();
        let floor: Vec<f32> = (0..LATENT_CHANNELS * SCALE_LEVELS)
            .map(|i| {
                let (c, s) = (i / SCALE_LEVELS, (i % SCALE_LEVELS) as u8);
                (moves[c].iter())
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

    /// Fits a scale context to training latents: the thresholds (quantiles of the samples)
    /// and, per channel and bucket, the move that codes the latents there in the fewest bits.
    /// `grid`: a [`Buckets::Grid`] one, else a [`Buckets::Sum`] one.
    pub fn fit(tables: &Tables, samples: &[Sample], grid: bool) -> Self {
        // Without samples, thresholds 0 and no moves.
        let buckets = Buckets::fit(grid, samples);
        let n = buckets.count();
        let mut groups = vec![Vec::new(); LATENT_CHANNELS * n];
        for s in samples {
            groups[s.channel as usize * n + buckets.of(s.activity, s.scale_idx)].push(s);
        }
        let shifts = (groups.iter())
            .map(|group| {
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
                best.0
            })
            .collect();
        Self::new(buckets, shifts).expect("fitted")
    }
}

/// One training latent for [`ScaleContext::fit`].
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Its channel.
    pub channel: u8,
    /// Its activity.
    pub activity: Activity,
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
    pub fn next(&mut self, own: &[u32]) -> Activity {
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
        Activity {
            spatial: divide(taps, self.count[cell]),
            cross: divide(self.cross[cell], c as u32),
        }
    }
}

/// A latent's activity: the mean surprise of its taps, and that of the earlier channels at its
/// cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    /// The mean surprise of its channel's cells nearest it that were coded before it.
    pub spatial: u32,
    /// The mean surprise of the earlier channels at its own cell (0 for the first channel).
    pub cross: u32,
}

impl Activity {
    /// Both, summed.
    pub fn sum(self) -> u32 {
        self.spatial + self.cross
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
            let cross = if i < CELLS { 0 } else { 1 };
            assert_eq!(activity, Activity { spatial: 1, cross }, "element {i}");
        }
    }

    /// Latents of channel 1 under scale index 20 (≈ 2.5): at the mean where `quiet`, ±8 away
    /// where not.
    fn sample(i: usize, quiet: bool, activity: Activity) -> Sample {
        let z = if quiet {
            0
        } else if i % 4 < 2 {
            8
        } else {
            -8
        };
        Sample {
            channel: 1,
            activity,
            mean_q: 0,
            scale_idx: 20,
            z,
        }
    }

    fn bits(tables: &Tables, ctx: &ScaleContext, samples: &[Sample]) -> f64 {
        (samples.iter())
            .map(|s| tables.bits(s.mean_q, ctx.scale(1, s.activity, s.scale_idx), s.z) as f64)
            .sum()
    }

    #[test]
    fn the_fit_narrows_quiet_latents_and_widens_busy_ones() {
        let tables = Tables::gaussian();
        let (calm, busy) = (
            Activity {
                spatial: 0,
                cross: 0,
            },
            Activity {
                spatial: 900,
                cross: 100,
            },
        );
        let samples: Vec<Sample> = (0..4000)
            .map(|i| sample(i, i % 2 == 0, if i % 2 == 0 { calm } else { busy }))
            .collect();
        for grid in [false, true] {
            let fitted = ScaleContext::fit(tables, &samples, grid);
            assert!(fitted.scale(1, calm, 20) < 20 && fitted.scale(1, busy, 20) > 20);
            assert!(
                bits(tables, &fitted, &samples)
                    < 0.8 * bits(tables, ScaleContext::none(), &samples)
            );
            // The bound holds for what the fit codes best.
            let prior = GaussianPrior::uniform(0, 20);
            assert!(
                fitted.min_patch_bits(tables)(&prior)
                    < ScaleContext::none().min_patch_bits(tables)(&prior)
            );
        }
    }

    #[test]
    fn the_grid_tells_apart_what_the_sum_cannot() {
        // Busy where the earlier channels surprised, quiet where the neighbours did: the sums
        // are equal.
        let tables = Tables::gaussian();
        let samples: Vec<Sample> = (0..4000)
            .map(|i| {
                let quiet = i % 2 == 0;
                let (spatial, cross) = if quiet { (500, 0) } else { (0, 500) };
                sample(i, quiet, Activity { spatial, cross })
            })
            .collect();
        let [sum, grid] = [false, true].map(|g| ScaleContext::fit(tables, &samples, g));
        assert!(
            matches!(sum.buckets(), Buckets::Sum(_))
                && matches!(grid.buckets(), Buckets::Grid { .. })
        );
        assert!(bits(tables, &grid, &samples) < 0.8 * bits(tables, &sum, &samples));
    }

    #[test]
    fn malformed_scale_contexts_are_refused() {
        let shifts = || vec![0; LATENT_CHANNELS * SUM_BUCKETS];
        let zeros = Buckets::Sum([0; SUM_BUCKETS - 1]);
        assert_eq!(
            ScaleContext::new(zeros.clone(), shifts()).as_ref(),
            Ok(ScaleContext::none())
        );
        let mut falling = [5; SUM_BUCKETS - 1];
        falling[3] = 4;
        assert!(ScaleContext::new(Buckets::Sum(falling), shifts()).is_err());
        let mut far = shifts();
        far[7] = MAX_SHIFT + 1;
        assert!(ScaleContext::new(zeros.clone(), far).is_err());
        assert!(ScaleContext::new(zeros, vec![0; 3]).is_err());
        let grid = |scale| Buckets::Grid {
            spatial: [0; GRID[0] - 1],
            cross: [0; GRID[1] - 1],
            scale,
        };
        let n = LATENT_CHANNELS * GRID.iter().product::<usize>();
        assert!(ScaleContext::new(grid([1, 2, 3]), vec![0; n]).is_ok());
        assert!(ScaleContext::new(grid([1, 3, 2]), vec![0; n]).is_err());
        assert!(ScaleContext::new(grid([1, 2, 3]), shifts()).is_err());
    }
}
