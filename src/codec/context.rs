//! Context: every latent predicted from the latents decoded before it.
//!
//! Within a patch the coder goes channel by channel, and through each channel's 4×4 cells in
//! raster order (element `c·16 + y·4 + x`, the order of the latents everywhere). Seen as one
//! 64-channel map of the whole image, a cell per 8×8 pixels, the cells of a channel decoded
//! before a given cell are those of the earlier patches (every patch above, and the ones to the
//! left) and the earlier cells of its own patch; and every earlier channel is decoded at every
//! cell of its own patch.
//!
//! A level's [`Predictor`] predicts each latent, linearly, from [`TAPS`]: ten cells of its own
//! channel above and to the left, each with a term for being there at all (absent: past the
//! image's edge, or in the patch to the right, not decoded yet); and from the earlier channels
//! at the same cell. Its weights are integers in units of 2^−[`FRAC_BITS`] and the sums are
//! integer, so the prediction is bit-exact on every machine and in the browser; it lands on the
//! priors' mean grid (quarter steps). The latent is then coded under its subclass's *context
//! prior*: a discretized Gaussian fitted to the residuals, its mean shifted by the prediction.
//!
//! Both are fitted by [`Predictor::fit`] and [`fit_residual_prior`] where the other priors are
//! (`sacodec train`): least squares on the training latents, each error weighed by its subclass
//! prior's 1/σ² (what it costs in bits, roughly), then maximum likelihood.

use crate::codec::entropy::{
    GaussianPrior, MAX_LATENT, MAX_MEAN, MEAN_STEPS, Tables, fit_element_offsets,
};
use crate::model::{LATENT_CHANNELS, LATENT_LEN};

/// Where the taps of a cell are, `(dy, dx)` in cells: the nearest cells of its channel decoded
/// before it (above, or left in its row).
pub const TAPS: [(i32, i32); 10] = [
    (0, -1),
    (0, -2),
    (-1, -2),
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (-1, 2),
    (-2, -1),
    (-2, 0),
    (-2, 1),
];
/// Fractional bits of the predictor's weights.
pub const FRAC_BITS: u32 = 12;
/// Side of a patch's latent in cells.
const SIDE: usize = 4;
/// Cells per channel of a patch.
pub(crate) const CELLS: usize = SIDE * SIDE;
/// A channel's weights: taps, their presence terms, the earlier channels, then the bias.
const fn row_len(c: usize) -> usize {
    2 * TAPS.len() + c + 1
}
const fn row_start(c: usize) -> usize {
    c * (2 * TAPS.len() + 1) + c * c.saturating_sub(1) / 2
}
/// Number of weights of a [`Predictor`].
pub const PREDICTOR_LEN: usize = row_start(LATENT_CHANNELS);
const MAX_MEAN_Q: i32 = MAX_MEAN * MEAN_STEPS;
/// The largest magnitude of a weight that multiplies a latent (a tap, an earlier channel): 32
/// latent units.
pub const MAX_TAP_WEIGHT: i32 = 1 << 17;
/// The largest magnitude of a weight that is added (a presence term, the bias): 4,096 units.
pub const MAX_OFFSET_WEIGHT: i32 = 1 << 24;
// With these bounds and latents within ±MAX_LATENT, a prediction's sum fits in an i32.
const _: () = assert!(
    (TAPS.len() + LATENT_CHANNELS) as i64 * MAX_TAP_WEIGHT as i64 * MAX_LATENT as i64
        + (TAPS.len() + 1) as i64 * MAX_OFFSET_WEIGHT as i64
        + (1 << FRAC_BITS)
        < i32::MAX as i64
);

/// One level's linear predictor of every latent from those decoded before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Predictor {
    /// [`PREDICTOR_LEN`] weights in units of 2^−[`FRAC_BITS`]: channel by channel, its taps,
    /// their presence terms, the earlier channels at the same cell, its bias; within
    /// [`MAX_TAP_WEIGHT`] and [`MAX_OFFSET_WEIGHT`].
    weights: Vec<i32>,
    /// Per tap, its weight and its presence term in each channel.
    by_tap: Vec<[[i32; LATENT_CHANNELS]; 2]>,
    /// Per element, the part of its sum every patch shares: its bias and the presence terms of
    /// the taps in its own patch.
    base: Vec<i32>,
    /// Per cell, the later cells of its patch that have it as a tap, as (tap, cell) pairs.
    targets: OwnTaps,
    /// `cross[c · LATENT_CHANNELS + d]`: the weight of channel `c` in the prediction of a later
    /// channel `d` at the same cell (0 where `d ≤ c`).
    cross: Vec<i32>,
}

/// Per cell, those of some of its [`TAPS`] that lie in its own patch, as (tap, cell) pairs:
/// the same in every patch. Fixed-size, so beginning a patch allocates nothing for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OwnTaps {
    pairs: [[(u8, u8); TAPS.len()]; CELLS],
    len: [u8; CELLS],
}

impl OwnTaps {
    /// Those of the taps `which` (indices into [`TAPS`]) that lie in the cell's own patch.
    pub(crate) fn of(which: &[usize]) -> Self {
        let mut out = Self {
            pairs: [[(0, 0); TAPS.len()]; CELLS],
            len: [0; CELLS],
        };
        for (cell, taps) in sources(1, 0).iter().enumerate() {
            for &t in which {
                if let Source::Own(k) = taps[t] {
                    out.pairs[cell][out.len[cell] as usize] = (t as u8, k as u8);
                    out.len[cell] += 1;
                }
            }
        }
        out
    }

    /// Cell `cell`'s (tap, cell) pairs.
    #[inline]
    pub(crate) fn cell(&self, cell: usize) -> &[(u8, u8)] {
        &self.pairs[cell][..self.len[cell] as usize]
    }

    /// The other way round: per cell, the (tap, cell) pairs of the cells that have it as that
    /// tap (a cell is at most one tap of each later cell, so at most `TAPS.len()` of them).
    fn targets(&self) -> Self {
        let mut out = Self {
            pairs: [[(0, 0); TAPS.len()]; CELLS],
            len: [0; CELLS],
        };
        for later in 0..CELLS {
            for &(t, k) in self.cell(later) {
                let k = k as usize;
                out.pairs[k][out.len[k] as usize] = (t, later as u8);
                out.len[k] += 1;
            }
        }
        out
    }
}

/// Where a tap's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Past the image's edge, or in the patch to the right (not decoded yet).
    Absent,
    /// The cell of the patch itself with this index (decoded before the cell whose tap it is).
    Own(usize),
    /// A cell (the second) of an earlier patch (the first).
    Earlier(usize, usize),
}

/// Values of whole patches (latents, or their surprises) with each patch's channels side by
/// side, cell by cell: the order in which a tap into an earlier patch reads a cell's channels
/// at once (the coded order has them 16 apart).
#[derive(Clone, Debug, Default)]
pub struct ByCell<T>(Vec<T>);

impl<T: Copy> ByCell<T> {
    /// Room for `patches` patches.
    pub fn with_capacity(patches: usize) -> Self {
        Self(Vec::with_capacity(patches * LATENT_LEN))
    }

    /// The patches of `values` (patch-major, in the coded order).
    pub fn of(values: &[T]) -> Self {
        let mut out = Self::with_capacity(values.len() / LATENT_LEN);
        values.chunks_exact(LATENT_LEN).for_each(|p| out.push(p));
        out
    }

    /// Appends a patch (`LATENT_LEN` values in the coded order).
    pub fn push(&mut self, patch: &[T]) {
        let patch: &[T; LATENT_LEN] = patch[..LATENT_LEN].try_into().expect("a whole patch");
        for cell in 0..CELLS {
            self.0
                .extend((0..LATENT_CHANNELS).map(|c| patch[c * CELLS + cell]));
        }
    }

    /// Cell `cell` of patch `patch`, every channel.
    #[inline]
    pub(crate) fn cell(&self, patch: usize, cell: usize) -> &[T; LATENT_CHANNELS] {
        let start = (patch * CELLS + cell) * LATENT_CHANNELS;
        self.0[start..start + LATENT_CHANNELS]
            .try_into()
            .expect("a cell's channels")
    }
}

/// Where each tap of each cell of patch `patch` of a grid `cols` patches wide lies.
pub(crate) fn sources(cols: usize, patch: usize) -> [[Source; TAPS.len()]; CELLS] {
    let side = SIDE as i64;
    let (py, px) = ((patch / cols) as i64, (patch % cols) as i64);
    let mut out = [[Source::Absent; TAPS.len()]; CELLS];
    for (cell, row) in out.iter_mut().enumerate() {
        for (src, &(dy, dx)) in row.iter_mut().zip(&TAPS) {
            let y = (cell / SIDE) as i64 + dy as i64;
            let x = (cell % SIDE) as i64 + dx as i64;
            let inner = (y.rem_euclid(side) * side + x.rem_euclid(side)) as usize;
            *src = match (y.div_euclid(side), x.div_euclid(side)) {
                (0, 0) => Source::Own(inner),
                // Every tap is above its cell or left of it in its row: the patch to its right
                // is the only one not decoded yet.
                (0, 1) => Source::Absent,
                (qy, qx) => {
                    let (y, x) = (py + qy, px + qx);
                    if y < 0 || x < 0 || x >= cols as i64 {
                        Source::Absent
                    } else {
                        Source::Earlier(y as usize * cols + x as usize, inner)
                    }
                }
            };
        }
    }
    out
}

/// Whether each tap of each cell of patch `patch` of a grid `cols` patches wide is decoded
/// before the cell: what the trainer's context rate takes as present (tied by the parity test).
pub fn taps_present(cols: usize, patch: usize) -> [[bool; TAPS.len()]; CELLS] {
    sources(cols, patch).map(|taps| taps.map(|s| s != Source::Absent))
}

/// The predictions of one patch's latents, made in their order as they are decoded.
///
/// Each latent, once decoded, adds its terms to the sums of the later latents of its patch it
/// predicts (the later cells of its channel whose tap it is, the later channels at its cell):
/// most latents are 0 and add nothing, so a patch costs far fewer products than it has terms.
pub struct PatchPredictions<'a> {
    predictor: &'a Predictor,
    /// Per element, its sum (units of 2^−[`FRAC_BITS`]) so far: bias, presence terms, the taps
    /// in earlier patches, and the terms of the patch's latents decoded so far.
    sums: Vec<i32>,
    /// The next element.
    e: usize,
}

impl PatchPredictions<'_> {
    /// The prediction of the next element, in quarter steps on the mean grid; `own` holds the
    /// patch's latents before it (at least), each within ±[`MAX_LATENT`].
    #[inline]
    pub fn next(&mut self, own: &[i32]) -> i16 {
        let e = self.e;
        if e > 0 {
            self.add(e - 1, own[e - 1]);
        }
        self.e += 1;
        // To quarter steps, rounding halves up (an arithmetic shift floors).
        let shift = FRAC_BITS - MEAN_STEPS.trailing_zeros();
        ((self.sums[e] + (1 << (shift - 1))) >> shift).clamp(-MAX_MEAN_Q, MAX_MEAN_Q) as i16
    }

    /// Adds the terms of element `e`, decoded as `v`, to the sums of the elements it predicts.
    #[inline]
    fn add(&mut self, e: usize, v: i32) {
        if v == 0 {
            return;
        }
        let (c, cell) = (e / CELLS, e % CELLS);
        let p = self.predictor;
        let row = p.row(c);
        for &(t, k) in p.targets.cell(cell) {
            self.sums[c * CELLS + k as usize] += row[t as usize] * v;
        }
        // The same cell of every later channel (none after the last).
        let cross = &p.cross[c * LATENT_CHANNELS + c + 1..(c + 1) * LATENT_CHANNELS];
        let later = self
            .sums
            .get_mut((c + 1) * CELLS + cell..)
            .unwrap_or_default();
        for (sum, &w) in later.iter_mut().step_by(CELLS).zip(cross) {
            *sum += w * v;
        }
    }
}

impl Predictor {
    /// The predictor that predicts 0 everywhere (a bundle made before context priors).
    pub fn zero() -> Self {
        Self::from_weights(vec![0; PREDICTOR_LEN])
    }

    /// The predictor with these weights (known to be within bounds).
    fn from_weights(weights: Vec<i32>) -> Self {
        let n = TAPS.len();
        let mut by_tap = vec![[[0; LATENT_CHANNELS]; 2]; n];
        for c in 0..LATENT_CHANNELS {
            let row = &weights[row_start(c)..];
            for (t, [w, presence]) in by_tap.iter_mut().enumerate() {
                (w[c], presence[c]) = (row[t], row[n + t]);
            }
        }
        let own = OwnTaps::of(&(0..TAPS.len()).collect::<Vec<_>>());
        let mut cross = vec![0; LATENT_CHANNELS * LATENT_CHANNELS];
        for d in 0..LATENT_CHANNELS {
            for c in 0..d {
                cross[c * LATENT_CHANNELS + d] = weights[row_start(d) + 2 * n + c];
            }
        }
        let base = (0..LATENT_LEN)
            .map(|e| {
                let (c, row) = (e / CELLS, &weights[row_start(e / CELLS)..]);
                let presence: i32 = (own.cell(e % CELLS).iter())
                    .map(|&(t, _)| row[n + t as usize])
                    .sum();
                row[2 * n + c] + presence
            })
            .collect();
        Self {
            weights,
            by_tap,
            base,
            targets: own.targets(),
            cross,
        }
    }

    /// The predictor with these weights, if there are [`PREDICTOR_LEN`] of them within bounds.
    pub fn new(weights: Vec<i32>) -> Result<Self, String> {
        if weights.len() != PREDICTOR_LEN {
            return Err(format!(
                "{} predictor weights, not {PREDICTOR_LEN}",
                weights.len()
            ));
        }
        for c in 0..LATENT_CHANNELS {
            for (i, &w) in weights[row_start(c)..row_start(c) + row_len(c)]
                .iter()
                .enumerate()
            {
                if w.unsigned_abs() > Self::bound(c, i) as u32 {
                    return Err(format!("predictor weight {w} of channel {c} out of range"));
                }
            }
        }
        Ok(Self::from_weights(weights))
    }

    /// The weights, channel by channel (see [`Predictor::new`]).
    pub fn weights(&self) -> &[i32] {
        &self.weights
    }

    /// The largest magnitude of weight `i` of channel `c`: a tap's or an earlier channel's
    /// multiplies a latent, a presence term or the bias is added.
    fn bound(c: usize, i: usize) -> i32 {
        let n = TAPS.len();
        if i < n || (2 * n..2 * n + c).contains(&i) {
            MAX_TAP_WEIGHT
        } else {
            MAX_OFFSET_WEIGHT
        }
    }

    /// Channel `c`'s weights.
    fn row(&self, c: usize) -> &[i32] {
        &self.weights[row_start(c)..row_start(c) + row_len(c)]
    }

    /// Begins the predictions of patch `patch` of a grid `cols` patches wide; `z` holds the
    /// latents of every patch before it.
    pub fn patch(&self, z: &ByCell<i32>, cols: usize, patch: usize) -> PatchPredictions<'_> {
        let mut sums = self.base.clone();
        for (cell, taps) in sources(cols, patch).iter().enumerate() {
            // The terms of the cell's taps in earlier patches, every channel at once.
            let mut terms = [0; LATENT_CHANNELS];
            for ([w, presence], src) in self.by_tap.iter().zip(taps) {
                if let Source::Earlier(p, k) = *src {
                    let values = z.cell(p, k);
                    for c in 0..LATENT_CHANNELS {
                        terms[c] += w[c] * values[c] + presence[c];
                    }
                }
            }
            for (sum, term) in sums[cell..].iter_mut().step_by(CELLS).zip(terms) {
                *sum += term;
            }
        }
        PatchPredictions {
            predictor: self,
            sums,
            e: 0,
        }
    }

    /// The predictions of every element of patch `patch`, whose latents are `own`; `z` holds
    /// the latents of every patch before it.
    pub fn predict_patch(
        &self,
        z: &ByCell<i32>,
        own: &[i32],
        cols: usize,
        patch: usize,
    ) -> Vec<i16> {
        let mut predictions = self.patch(z, cols, patch);
        (0..LATENT_LEN).map(|_| predictions.next(own)).collect()
    }

    /// The predictions of every element of an image of latents `z` (patch-major) on a grid
    /// `cols` patches wide.
    pub fn predict_image(&self, z: &[i32], cols: usize) -> Vec<i16> {
        let by_cell = ByCell::of(z);
        (z.chunks_exact(LATENT_LEN).enumerate())
            .flat_map(|(i, own)| self.predict_patch(&by_cell, own, cols, i))
            .collect()
    }

    /// Weighted least-squares fit (ridge `lambda`, relative to the weighted mean square of each
    /// feature; none on the bias) to the latents of whole images: `grids` holds, per image, its
    /// width in patches and its latents (patch-major, raster order); `weight(image, i)` weighs
    /// the squared error of latent `i` of an image (what an error there costs in bits).
    pub fn fit(
        grids: &[(usize, &[i32])],
        weight: impl Fn(usize, usize) -> f64,
        lambda: f64,
    ) -> Self {
        let mut weights = vec![0; PREDICTOR_LEN];
        for c in 0..LATENT_CHANNELS {
            let d = row_len(c);
            let mut a = vec![0.0f64; d * d];
            let mut b = vec![0.0f64; d];
            let mut x = vec![0.0f64; d];
            for (g, &(cols, z)) in grids.iter().enumerate() {
                for patch in 0..z.len() / LATENT_LEN {
                    let sources = sources(cols, patch);
                    for (cell, taps) in sources.iter().enumerate() {
                        row_features(z, patch, taps, c, cell, &mut x);
                        let i = patch * LATENT_LEN + c * CELLS + cell;
                        let (target, w) = (z[i] as f64, weight(g, i));
                        for i in 0..d {
                            let wx = w * x[i];
                            b[i] += wx * target;
                            for j in 0..=i {
                                a[i * d + j] += wx * x[j];
                            }
                        }
                    }
                }
            }
            for i in 0..d {
                for j in 0..i {
                    a[j * d + i] = a[i * d + j];
                }
            }
            for i in 0..d - 1 {
                a[i * d + i] += lambda * a[i * d + i] + 1e-9;
            }
            a[(d - 1) * d + d - 1] += 1e-9;
            let w = solve_spd(&mut a, &b, d);
            let scale = (1u64 << FRAC_BITS) as f64;
            for (i, (dst, v)) in weights[row_start(c)..].iter_mut().zip(w).enumerate() {
                let bound = Self::bound(c, i) as f64;
                *dst = (v * scale).round().clamp(-bound, bound) as i32;
            }
        }
        Self::from_weights(weights)
    }
}

/// The features of cell `cell` of channel `c` of patch `patch`, whose taps lie at `taps`, in
/// the order of its channel's weights, as floats (for fitting).
fn row_features(
    z: &[i32],
    patch: usize,
    taps: &[Source; TAPS.len()],
    c: usize,
    cell: usize,
    x: &mut [f64],
) {
    let n = TAPS.len();
    let own = &z[patch * LATENT_LEN..(patch + 1) * LATENT_LEN];
    for (t, src) in taps.iter().enumerate() {
        (x[t], x[n + t]) = match *src {
            Source::Absent => (0.0, 0.0),
            Source::Own(k) => (own[c * CELLS + k] as f64, 1.0),
            Source::Earlier(p, k) => (z[p * LATENT_LEN + c * CELLS + k] as f64, 1.0),
        };
    }
    for c2 in 0..c {
        x[2 * n + c2] = own[c2 * CELLS + cell] as f64;
    }
    x[2 * n + c] = 1.0;
}

/// Solves `a·w = b` for a symmetric positive definite `d × d` matrix `a` (Cholesky, in place).
fn solve_spd(a: &mut [f64], b: &[f64], d: usize) -> Vec<f64> {
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= a[j * d + k] * a[j * d + k];
        }
        let l = s.max(1e-12).sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = s / l;
        }
    }
    let mut y = b.to_vec();
    for i in 0..d {
        for k in 0..i {
            y[i] -= a[i * d + k] * y[k];
        }
        y[i] /= a[i * d + i];
    }
    for i in (0..d).rev() {
        for k in i + 1..d {
            y[i] -= a[k * d + i] * y[k];
        }
        y[i] /= a[i * d + i];
    }
    y
}

/// The context prior of one subclass: per element, the grid (mean offset, scale) that codes
/// `(prediction, latent)` pairs in the fewest bits, the prediction shifting the mean
/// (maximum likelihood, as [`crate::codec::entropy::fit_prior`]). `samples` yields, per patch
/// of the subclass, its predictions and latents; with none, returns `fallback`.
pub fn fit_residual_prior<'a>(
    tables: &Tables,
    samples: impl Iterator<Item = (&'a [i16], &'a [i32])> + Clone,
    fallback: &GaussianPrior,
) -> GaussianPrior {
    if samples.clone().next().is_none() {
        return fallback.clone();
    }
    let mut prior = GaussianPrior::uniform(0, 0);
    let mut column: Vec<(i16, i32)> = Vec::new();
    for e in 0..LATENT_LEN {
        // A latent z under mean p + m codes as the value z − ⌊p/4⌋ under mean (p mod 4) + m.
        column.clear();
        column.extend(samples.clone().map(|(p, z)| {
            let p = p[e] as i32;
            (
                p.rem_euclid(MEAN_STEPS) as i16,
                z[e] - p.div_euclid(MEAN_STEPS),
            )
        }));
        column.sort_unstable();
        let mut hist: Vec<(i16, i32, u32)> = Vec::new();
        for &(o, v) in &column {
            match hist.last_mut() {
                Some((lo, lv, c)) if (*lo, *lv) == (o, v) => *c += 1,
                _ => hist.push((o, v, 1)),
            }
        }
        (prior.mean_q[e], prior.scale_idx[e]) = fit_element_offsets(tables, &hist);
    }
    prior
}

/// The grid mean of an element under context: the prediction shifted by the prior's mean.
#[inline]
pub fn shifted_mean(prediction: i16, prior_mean_q: i16) -> i16 {
    (prediction as i32 + prior_mean_q as i32).clamp(-MAX_MEAN_Q, MAX_MEAN_Q) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth latent map: every channel a ramp across the image, so neighbours predict well.
    fn ramp(rows: usize, cols: usize) -> Vec<i32> {
        let mut z = vec![0; rows * cols * LATENT_LEN];
        for p in 0..rows * cols {
            for e in 0..LATENT_LEN {
                let (c, cell) = (e / CELLS, e % CELLS);
                let gy = (p / cols * SIDE + cell / SIDE) as i32;
                let gx = (p % cols * SIDE + cell % SIDE) as i32;
                z[p * LATENT_LEN + e] = (gx + gy) / 3 + (c as i32 % 5) - 2;
            }
        }
        z
    }

    #[test]
    fn taps_see_only_what_was_decoded() {
        let (rows, cols) = (3, 3);
        let z = ramp(rows, cols);
        // Poison everything after element 5·16 + 6 of the centre patch: no prediction up to it
        // may change.
        let (patch, e) = (4, 5 * CELLS + 6);
        let mut poisoned = z.clone();
        for v in &mut poisoned[patch * LATENT_LEN + e..] {
            *v = 99;
        }
        let p = Predictor::fit(&[(cols, &z)], |_, _| 1.0, 1e-3);
        let own = |z: &[i32]| z[patch * LATENT_LEN..patch * LATENT_LEN + e].to_vec();
        let (z_cells, poisoned_cells) = (ByCell::of(&z), ByCell::of(&poisoned));
        let (mut clean, mut dirty) = (
            p.patch(&z_cells, cols, patch),
            p.patch(&poisoned_cells, cols, patch),
        );
        for _ in 0..e {
            assert_eq!(clean.next(&own(&z)), dirty.next(&own(&poisoned)));
        }
        // The top-right patch is decoded, the right one is not.
        let taps = sources(cols, patch);
        let earlier = |s: Source| matches!(s, Source::Earlier(..));
        assert!(
            earlier(taps[3][5]) && earlier(taps[3][6]),
            "(-1, +1) and (-1, +2) of cell (0, 3) lie in the patch above-right"
        );
        assert_eq!(
            (taps[7][5], taps[7][6]),
            (Source::Absent, Source::Absent),
            "(0, 4) and beyond: the patch to the right"
        );
        // The image's first cell has no taps at all; in the last column nothing lies right.
        assert!(sources(cols, 0)[0].iter().all(|&s| s == Source::Absent));
        assert_eq!(sources(cols, 2)[3][5], Source::Absent);
    }

    #[test]
    fn the_prediction_is_the_fitted_linear_form() {
        // Arbitrary weights and latents: the integer prediction is the rounded dot product of
        // the weights with the features the fit sees.
        let (rows, cols) = (3, 4);
        let mut state = 12345u64;
        let mut next = move |m: i64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as i64 % (2 * m + 1) - m) as i32
        };
        let z: Vec<i32> = (0..rows * cols * LATENT_LEN).map(|_| next(20)).collect();
        let p = Predictor::new((0..PREDICTOR_LEN).map(|_| next(3000)).collect()).unwrap();
        let mut x = vec![0.0; row_len(LATENT_CHANNELS)];
        let predictions = p.predict_image(&z, cols);
        for (patch, predictions) in predictions.chunks_exact(LATENT_LEN).enumerate() {
            let taps = sources(cols, patch);
            for (e, &pred) in predictions.iter().enumerate() {
                let (c, cell) = (e / CELLS, e % CELLS);
                row_features(&z, patch, &taps[cell], c, cell, &mut x);
                let dot: f64 = p.row(c).iter().zip(&x).map(|(&w, &v)| w as f64 * v).sum();
                let want = (dot * MEAN_STEPS as f64 / (1 << FRAC_BITS) as f64 + 0.5).floor();
                assert_eq!(
                    pred as f64,
                    want.clamp(-MAX_MEAN_Q as f64, MAX_MEAN_Q as f64)
                );
            }
        }
    }

    #[test]
    fn weights_out_of_range_are_refused() {
        let mut w = vec![0; PREDICTOR_LEN];
        assert!(Predictor::new(w[1..].to_vec()).is_err());
        // Channel 1: taps, presence terms, channel 0, bias.
        let n = TAPS.len();
        for (i, bound) in [
            (0, MAX_TAP_WEIGHT),
            (n, MAX_OFFSET_WEIGHT),
            (2 * n, MAX_TAP_WEIGHT),
        ] {
            for v in [bound, -bound] {
                w[row_start(1) + i] = v;
                assert!(Predictor::new(w.clone()).is_ok());
            }
            w[row_start(1) + i] = bound + 1;
            assert!(Predictor::new(w.clone()).is_err(), "weight {i}");
            w[row_start(1) + i] = 0;
        }
        w[row_start(1) + 2 * n + 1] = MAX_OFFSET_WEIGHT;
        assert!(Predictor::new(w).is_ok(), "the bias is added");
    }

    #[test]
    fn the_fit_predicts_a_smooth_map() {
        let (rows, cols) = (4, 5);
        let z = ramp(rows, cols);
        let p = Predictor::fit(&[(cols, &z)], |_, _| 1.0, 1e-4);
        let mut err = 0.0;
        for (&pred, &z) in p.predict_image(&z, cols).iter().zip(&z) {
            err += ((pred as i32 - z * MEAN_STEPS) as f64 / MEAN_STEPS as f64).powi(2);
        }
        let rms = (err / (rows * cols * LATENT_LEN) as f64).sqrt();
        assert!(rms < 0.5, "rms error {rms} latent units");
        assert!(
            Predictor::zero()
                .predict_image(&z, cols)
                .iter()
                .all(|&p| p == 0)
        );
    }

    #[test]
    fn the_residual_prior_follows_the_prediction() {
        // Latents one unit above the prediction (rounded to integers), the predictions spread
        // over every residue of the quarter grid: the fitted mean offset is +1 unit (4
        // quarter steps), and the data cost far less than under the prediction alone.
        let tables = Tables::gaussian();
        let preds: Vec<Vec<i16>> = (0..40)
            .map(|i| vec![(i * 7 - 100) as i16; LATENT_LEN])
            .collect();
        let round = |q: i32| (q + 2).div_euclid(MEAN_STEPS);
        let zs: Vec<Vec<i32>> = preds
            .iter()
            .map(|p| p.iter().map(|&q| round(q as i32 + 4)).collect())
            .collect();
        let samples = preds
            .iter()
            .map(Vec::as_slice)
            .zip(zs.iter().map(Vec::as_slice));
        let prior = fit_residual_prior(tables, samples.clone(), &GaussianPrior::uniform(0, 10));
        assert!(
            (prior.mean_q[0] - 4).abs() <= 1,
            "mean offset {}",
            prior.mean_q[0]
        );
        let cost = |m: i16, s: u8| -> f64 {
            samples
                .clone()
                .map(|(p, z)| tables.bits(shifted_mean(p[0], m), s, z[0]) as f64)
                .sum()
        };
        let fitted = cost(prior.mean_q[0], prior.scale_idx[0]);
        assert!(fitted < 0.5 * cost(0, prior.scale_idx[0]), "{fitted} bits");
        assert!(fitted < 1.5 * 40.0, "{fitted} bits for 40 latents");
        assert!(
            fit_residual_prior(tables, samples.take(0), &GaussianPrior::uniform(3, 7))
                == GaussianPrior::uniform(3, 7)
        );
    }
}
