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
//! (`sacodec train`): least squares on the training latents, then maximum likelihood.

use crate::codec::entropy::{
    GaussianPrior, GaussianTables, MAX_MEAN, MEAN_STEPS, fit_element_offsets,
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
const CELLS: usize = SIDE * SIDE;
/// A channel's weights: taps, their presence terms, the earlier channels, then the bias.
const fn row_len(c: usize) -> usize {
    2 * TAPS.len() + c + 1
}
const fn row_start(c: usize) -> usize {
    c * (2 * TAPS.len() + 1) + c * c.saturating_sub(1) / 2
}
/// Number of weights of a [`Predictor`].
pub const PREDICTOR_LEN: usize = row_start(LATENT_CHANNELS);
const MAX_MEAN_Q: i64 = (MAX_MEAN * MEAN_STEPS) as i64;

/// One level's linear predictor of every latent from those decoded before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Predictor {
    /// [`PREDICTOR_LEN`] weights in units of 2^−[`FRAC_BITS`]: channel by channel, its taps,
    /// their presence terms, the earlier channels at the same cell, its bias.
    pub weights: Vec<i32>,
}

/// A cell's features: its taps' values and presence, and the earlier channels at its cell.
struct Features {
    taps: [i32; TAPS.len()],
    present: [bool; TAPS.len()],
}

/// The taps of element `e` of patch `patch` of a grid `cols` patches wide; `z` holds the
/// latents of every patch before it and (at least) the elements of its own before `e`.
fn features(z: &[i32], cols: usize, patch: usize, e: usize) -> Features {
    let (c, cell) = (e / CELLS, e % CELLS);
    let gy = (patch / cols * SIDE + cell / SIDE) as i64;
    let gx = (patch % cols * SIDE + cell % SIDE) as i64;
    let width = (cols * SIDE) as i64;
    let mut f = Features {
        taps: [0; TAPS.len()],
        present: [false; TAPS.len()],
    };
    for (t, &(dy, dx)) in TAPS.iter().enumerate() {
        let (y, x) = (gy + dy as i64, gx + dx as i64);
        if y < 0 || x < 0 || x >= width {
            continue;
        }
        let (y, x) = (y as usize, x as usize);
        let j = y / SIDE * cols + x / SIDE;
        // Every tap is above the cell or left of it in its row: in its own patch it was
        // decoded before it; in another, if that patch was.
        if j <= patch {
            f.taps[t] = z[j * LATENT_LEN + c * CELLS + y % SIDE * SIDE + x % SIDE];
            f.present[t] = true;
        }
    }
    f
}

impl Predictor {
    /// The predictor that predicts 0 everywhere (a bundle made before context priors).
    pub fn zero() -> Self {
        Self {
            weights: vec![0; PREDICTOR_LEN],
        }
    }

    /// The prediction of element `e` of patch `patch` of a grid `cols` patches wide, in quarter
    /// steps on the mean grid; `z` holds the latents of every patch before it and (at least)
    /// those of its own before `e`.
    pub fn predict(&self, z: &[i32], cols: usize, patch: usize, e: usize) -> i16 {
        let c = e / CELLS;
        let row = &self.weights[row_start(c)..row_start(c) + row_len(c)];
        let f = features(z, cols, patch, e);
        let n = TAPS.len();
        let mut acc = row[n + n + c] as i64;
        for t in 0..n {
            if f.present[t] {
                acc += row[t] as i64 * f.taps[t] as i64 + row[n + t] as i64;
            }
        }
        let own = &z[patch * LATENT_LEN + e % CELLS..];
        for (c2, &w) in row[2 * n..2 * n + c].iter().enumerate() {
            acc += w as i64 * own[c2 * CELLS] as i64;
        }
        // To quarter steps, rounding halves up (an arithmetic shift floors).
        let shift = FRAC_BITS - MEAN_STEPS.trailing_zeros();
        ((acc + (1 << (shift - 1))) >> shift).clamp(-MAX_MEAN_Q, MAX_MEAN_Q) as i16
    }

    /// The predictions of every element of patch `patch`, all of whose latents `z` holds.
    pub fn predict_patch(&self, z: &[i32], cols: usize, patch: usize) -> Vec<i16> {
        (0..LATENT_LEN)
            .map(|e| self.predict(z, cols, patch, e))
            .collect()
    }

    /// Least-squares fit (ridge `lambda`, relative to the mean square of each feature; none on
    /// the bias) to the latents of whole images: `grids` holds, per image, its width in patches
    /// and its latents (patch-major, raster order).
    pub fn fit(grids: &[(usize, &[i32])], lambda: f64) -> Self {
        let mut weights = vec![0; PREDICTOR_LEN];
        for c in 0..LATENT_CHANNELS {
            let d = row_len(c);
            let mut a = vec![0.0f64; d * d];
            let mut b = vec![0.0f64; d];
            let mut x = vec![0.0f64; d];
            for &(cols, z) in grids {
                for patch in 0..z.len() / LATENT_LEN {
                    for cell in 0..CELLS {
                        let e = c * CELLS + cell;
                        row_features(z, cols, patch, e, &mut x);
                        let target = z[patch * LATENT_LEN + e] as f64;
                        for i in 0..d {
                            b[i] += x[i] * target;
                            for j in 0..=i {
                                a[i * d + j] += x[i] * x[j];
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
            for (dst, v) in weights[row_start(c)..row_start(c) + d].iter_mut().zip(w) {
                *dst = (v * scale).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32;
            }
        }
        Self { weights }
    }
}

/// The features of element `e` in the order of its channel's weights, as floats (for fitting).
fn row_features(z: &[i32], cols: usize, patch: usize, e: usize, x: &mut [f64]) {
    let c = e / CELLS;
    let n = TAPS.len();
    let f = features(z, cols, patch, e);
    for t in 0..n {
        x[t] = f.taps[t] as f64;
        x[n + t] = f.present[t] as u8 as f64;
    }
    for c2 in 0..c {
        x[2 * n + c2] = z[patch * LATENT_LEN + c2 * CELLS + e % CELLS] as f64;
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
    tables: &GaussianTables,
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
    (prediction as i64 + prior_mean_q as i64).clamp(-MAX_MEAN_Q, MAX_MEAN_Q) as i16
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
        // Poison everything after element 5·16 + 6 of the centre patch: no prediction may
        // change.
        let (patch, e) = (4, 5 * CELLS + 6);
        let mut poisoned = z.clone();
        for v in &mut poisoned[patch * LATENT_LEN + e..] {
            *v = 99;
        }
        let p = Predictor::fit(&[(cols, &z)], 1e-3);
        for e2 in 0..=e {
            assert_eq!(
                p.predict(&z, cols, patch, e2),
                p.predict(&poisoned, cols, patch, e2)
            );
        }
        // The top-right patch is decoded, the right one is not.
        let f = features(&z, cols, patch, 3 * CELLS + 3); // cell (0, 3)
        assert!(
            f.present[5] && f.present[6],
            "(-1, +1) and (-1, +2) lie in the patch above-right"
        );
        let f = features(&z, cols, patch, 3 * CELLS + 7); // cell (1, 3)
        assert!(
            !f.present[5] && !f.present[6],
            "(0, 4) and beyond: the patch to the right"
        );
        // The image's first cell has no taps at all.
        assert!(features(&z, cols, 0, 0).present.iter().all(|p| !p));
    }

    #[test]
    fn the_fit_predicts_a_smooth_map() {
        let (rows, cols) = (4, 5);
        let z = ramp(rows, cols);
        let p = Predictor::fit(&[(cols, &z)], 1e-4);
        let mut err = 0.0;
        for patch in 0..rows * cols {
            for (e, &pred) in p.predict_patch(&z, cols, patch).iter().enumerate() {
                let want = z[patch * LATENT_LEN + e] * MEAN_STEPS;
                err += ((pred as i32 - want) as f64 / MEAN_STEPS as f64).powi(2);
            }
        }
        let rms = (err / (rows * cols * LATENT_LEN) as f64).sqrt();
        assert!(rms < 0.5, "rms error {rms} latent units");
        assert_eq!(Predictor::zero().predict(&z, cols, 7, 100), 0);
    }

    #[test]
    fn the_residual_prior_follows_the_prediction() {
        // Latents one unit above the prediction (rounded to integers), the predictions spread
        // over every residue of the quarter grid: the fitted mean offset is +1 unit (4
        // quarter steps), and the data cost far less than under the prediction alone.
        let tables = GaussianTables::new();
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
        let prior = fit_residual_prior(&tables, samples.clone(), &GaussianPrior::uniform(0, 10));
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
            fit_residual_prior(&tables, samples.take(0), &GaussianPrior::uniform(3, 7))
                == GaussianPrior::uniform(3, 7)
        );
    }
}
