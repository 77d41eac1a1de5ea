//! Rate–distortion curves: the Bjøntegaard delta rate between two of them. The trainer's
//! (`training/sacodec_train/recipe.py`) computes the same, tied by `tests/parity.rs`.

/// A least-squares cubic `y ≈ Σ c_k t^k` in the normalised variable
/// `t = (x − center) / half_width` (which keeps the normal equations well conditioned).
struct Cubic {
    center: f64,
    half_width: f64,
    c: [f64; 4],
}

impl Cubic {
    /// Fits `ys` against `xs`; `None` with fewer than 4 points or a singular fit
    /// (fewer than 4 distinct `xs`).
    fn fit(xs: &[f64], ys: &[f64]) -> Option<Self> {
        if xs.len() < 4 || xs.len() != ys.len() {
            return None;
        }
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let half_width = (hi - lo) / 2.0;
        if half_width <= 0.0 || !half_width.is_finite() {
            return None;
        }
        let center = (lo + hi) / 2.0;
        // Normal equations (AᵀA | Aᵀy), A the Vandermonde matrix of t.
        let mut m = [[0.0f64; 5]; 4];
        for (&x, &y) in xs.iter().zip(ys) {
            let t = (x - center) / half_width;
            let powers = [1.0, t, t * t, t * t * t];
            for i in 0..4 {
                for j in 0..4 {
                    m[i][j] += powers[i] * powers[j];
                }
                m[i][4] += powers[i] * y;
            }
        }
        // Gaussian elimination with partial pivoting; |t| ≤ 1, so entries are at most n.
        let tiny = 1e-10 * xs.len() as f64;
        for col in 0..4 {
            let pivot = (col..4).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
            if m[pivot][col].abs() < tiny {
                return None;
            }
            m.swap(col, pivot);
            for row in col + 1..4 {
                let f = m[row][col] / m[col][col];
                let pivot_row = m[col];
                for (x, p) in m[row][col..].iter_mut().zip(&pivot_row[col..]) {
                    *x -= f * p;
                }
            }
        }
        let mut c = [0.0; 4];
        for i in (0..4).rev() {
            let rest: f64 = (i + 1..4).map(|j| m[i][j] * c[j]).sum();
            c[i] = (m[i][4] - rest) / m[i][i];
        }
        Some(Self {
            center,
            half_width,
            c,
        })
    }

    /// `∫ₐᵇ y(x) dx`.
    fn integral(&self, a: f64, b: f64) -> f64 {
        let antiderivative = |x: f64| {
            let t = (x - self.center) / self.half_width;
            (0..4)
                .map(|k| self.c[k] * t.powi(k as i32 + 1) / (k + 1) as f64)
                .sum::<f64>()
        };
        self.half_width * (antiderivative(b) - antiderivative(a))
    }
}

/// The Bjøntegaard delta rate of `test` against `reference`, in percent (negative: `test`
/// needs fewer bits for the same PSNR). Points are `(bpp, PSNR dB)`.
///
/// Standard method: for each curve fit log10(rate) as a cubic polynomial of PSNR (least
/// squares), integrate both over the PSNR interval the two curves share, take the mean
/// difference `d` and return `(10^d − 1) · 100`. `None` when a curve has fewer than 4 points
/// (or fewer than 4 distinct PSNRs), a rate that is not positive, or the PSNR ranges do
/// not overlap.
pub fn bd_rate(reference: &[(f64, f64)], test: &[(f64, f64)]) -> Option<f64> {
    struct Fitted {
        cubic: Cubic,
        lo: f64,
        hi: f64,
    }
    let fit = |points: &[(f64, f64)]| -> Option<Fitted> {
        if points
            .iter()
            .any(|&(r, d)| !(r > 0.0 && r.is_finite() && d.is_finite()))
        {
            return None;
        }
        let psnr: Vec<f64> = points.iter().map(|p| p.1).collect();
        let log_rate: Vec<f64> = points.iter().map(|p| p.0.log10()).collect();
        Some(Fitted {
            cubic: Cubic::fit(&psnr, &log_rate)?,
            lo: psnr.iter().copied().fold(f64::INFINITY, f64::min),
            hi: psnr.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    };
    let (r, t) = (fit(reference)?, fit(test)?);
    let (lo, hi) = (r.lo.max(t.lo), r.hi.min(t.hi));
    // The points are finite, so the bounds are too.
    if hi <= lo {
        return None;
    }
    let d = (t.cubic.integral(lo, hi) - r.cubic.integral(lo, hi)) / (hi - lo);
    Some((10f64.powf(d) - 1.0) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve() -> Vec<(f64, f64)> {
        vec![
            (0.2, 27.0),
            (0.4, 30.0),
            (0.7, 32.5),
            (1.1, 35.0),
            (1.6, 37.0),
        ]
    }

    #[test]
    fn bd_rate_of_identical_curves_is_zero() {
        let bd = bd_rate(&curve(), &curve()).unwrap();
        assert!(bd.abs() < 1e-9, "{bd}");
    }

    #[test]
    fn bd_rate_of_halved_rates_is_minus_fifty_percent() {
        let halved: Vec<_> = curve().iter().map(|&(r, d)| (r / 2.0, d)).collect();
        let bd = bd_rate(&curve(), &halved).unwrap();
        assert!((bd + 50.0).abs() < 1e-6, "{bd}");
        let bd = bd_rate(&halved, &curve()).unwrap();
        assert!((bd - 100.0).abs() < 1e-6, "{bd}");
    }

    #[test]
    fn bd_rate_is_none_without_overlap_or_points() {
        let above: Vec<_> = curve().iter().map(|&(r, d)| (r, d + 20.0)).collect();
        assert_eq!(bd_rate(&curve(), &above), None);
        assert_eq!(bd_rate(&curve(), &curve()[..3]), None);
        let flat = [(0.1, 30.0), (0.2, 30.0), (0.3, 31.0), (0.4, 31.0)];
        assert_eq!(bd_rate(&curve(), &flat), None);
        assert_eq!(
            bd_rate(
                &curve(),
                &[(0.0, 27.0), (0.4, 30.0), (0.7, 32.5), (1.1, 35.0)]
            ),
            None
        );
    }
}
