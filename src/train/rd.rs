//! Stage 1: the PatchVAE trained for rate–distortion, one model for every quality level.
//!
//! Each level `q` has a per-channel quantization gain `g_q` (learned): the coded latent is
//! `y = μ·g_q`, training replaces rounding by additive U(−½, ½) noise, and the decoder sees
//! `ỹ / g_q`. The rate is the code length of `ỹ` under a per-level factorized Gaussian
//! (learned mean and scale per element) discretized to unit bins, the same family the coder
//! uses; the tables actually coded are refitted to rounded latents afterwards.
//! Loss per patch: `λ_q · 255² · MSE + bits / 1024` (bits per pixel of the 32×32 patch).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::model::{LATENT_CHANNELS, LATENT_LEN, LATENT_SIDE, PATCH, PatchVae, PatchVaeConfig};

/// Rate–distortion trade-offs of the quality levels (CompressAI's six MSE λ values).
pub const LAMBDAS: [f64; 6] = [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483];
/// Smallest scale of the training prior (the coder's grid starts at 0.11 too).
const MIN_SCALE: f64 = 0.11;

/// Learned per-level gains and factorized Gaussian priors.
#[derive(Module, Debug)]
pub struct RateModel {
    /// ln gain, `[levels, 64]`.
    pub log_gain: Param<Tensor<2>>,
    /// Prior mean per element, `[levels, 1024]`.
    pub mean: Param<Tensor<2>>,
    /// ln prior scale per element, `[levels, 1024]`.
    pub log_scale: Param<Tensor<2>>,
}

/// The PatchVAE with its rate model.
#[derive(Module, Debug)]
pub struct RdModel {
    /// The network shipped.
    pub vae: PatchVae,
    /// Gains and training priors.
    pub rate: RateModel,
}

/// One batch's mean loss and its parts.
pub struct RdOutput {
    /// Scalar loss to minimise.
    pub loss: Tensor<1>,
    /// Mean bits per pixel (noisy latents).
    pub bpp: Tensor<1>,
    /// Mean squared error in [0, 1] units.
    pub mse: Tensor<1>,
}

impl RdModel {
    /// A fresh model for `levels` quality levels; initial gains spread like √λ.
    pub fn init(levels: usize, device: &Device) -> Self {
        let mid = LAMBDAS[LAMBDAS.len() / 2];
        let gains: Vec<f32> = (0..levels)
            .flat_map(|q| {
                let g = 0.5 * (LAMBDAS[q.min(LAMBDAS.len() - 1)] / mid).ln() + 1.0;
                std::iter::repeat_n(g as f32, LATENT_CHANNELS)
            })
            .collect();
        let log_gain = Tensor::from_data(TensorData::new(gains, [levels, LATENT_CHANNELS]), device);
        let zeros = || Tensor::zeros([levels, LATENT_LEN], device);
        Self {
            vae: PatchVaeConfig::new().init(device),
            rate: RateModel {
                log_gain: Param::from_tensor(log_gain),
                mean: Param::from_tensor(zeros()),
                log_scale: Param::from_tensor(zeros() + 1.0),
            },
        }
    }

    /// Loss on patches `x` (`[B, 3, 32, 32]`), sample `i` trained at level `levels[i]`.
    pub fn forward(&self, x: Tensor<4>, levels: &[usize]) -> RdOutput {
        let device = x.device();
        let b = levels.len();
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(levels.iter().map(|&q| q as i64).collect(), [b]),
            &device,
        );
        let lambda: Vec<f32> = levels
            .iter()
            .map(|&q| (LAMBDAS[q] * 255.0 * 255.0) as f32)
            .collect();
        let lambda = Tensor::<1>::from_data(TensorData::new(lambda, [b]), &device);
        let latent = [b, LATENT_CHANNELS, LATENT_SIDE, LATENT_SIDE];

        let gain = self
            .rate
            .log_gain
            .val()
            .select(0, idx.clone())
            .exp()
            .reshape([b, LATENT_CHANNELS, 1, 1]);
        let y = self.vae.encoder.mu(x.clone()) * gain.clone();
        let noisy = y + Tensor::random(latent, Distribution::Uniform(-0.5, 0.5), &device);
        let x_hat = self.vae.decoder.forward(noisy.clone() / gain);

        let mean = self.rate.mean.val().select(0, idx.clone()).reshape(latent);
        let scale = self
            .rate
            .log_scale
            .val()
            .select(0, idx)
            .exp()
            .clamp_min(MIN_SCALE)
            .reshape(latent);
        let bits = gaussian_bits(noisy, mean, scale);
        let bpp: Tensor<1> = bits.sum_dims_squeeze::<1, _>(&[1, 2, 3]) / (PATCH * PATCH) as f64;
        let mse: Tensor<1> = (x_hat - x).square().mean_dims(&[1, 2, 3]).reshape([b]);
        RdOutput {
            loss: (lambda * mse.clone() + bpp.clone()).mean(),
            bpp: bpp.mean(),
            mse: mse.mean(),
        }
    }

    /// The learned gains of level `q`.
    pub fn gains(&self, q: usize) -> Vec<f32> {
        let all: Vec<f32> = self
            .rate
            .log_gain
            .val()
            .exp()
            .into_data()
            .try_to_vec()
            .unwrap();
        all[q * LATENT_CHANNELS..(q + 1) * LATENT_CHANNELS].to_vec()
    }

    /// Number of quality levels.
    pub fn levels(&self) -> usize {
        self.rate.log_gain.val().dims()[0]
    }
}

/// −log₂ of the probability of the unit bin around `y` under N(mean, scale²), elementwise.
/// Far in the tails (bin mass below 10⁻⁶, where f32 `erf` differences lose precision) the bin
/// mass is the upper tail beyond the bin's near edge `a` (in units of the scale), by the
/// asymptotic series Φ̄(a) ≈ φ(a)/a·(1 − 1/a²), which keeps the gradient alive.
pub fn gaussian_bits(y: Tensor<4>, mean: Tensor<4>, scale: Tensor<4>) -> Tensor<4> {
    let v = (y - mean).abs();
    let c = std::f64::consts::FRAC_1_SQRT_2;
    let upper = ((v.clone().neg() + 0.5) / scale.clone() * c).erf();
    let lower = ((v.clone().neg() - 0.5) / scale.clone() * c).erf();
    let p = (upper - lower) * 0.5;
    // Clamped so the branch not taken stays finite (its gradient is masked, not NaN).
    let a = ((v - 0.5) / scale).clamp_min(2.0);
    let inv2 = a.clone().square().recip();
    let ln_tail = a.clone().square() * -0.5 - a.log() - 0.918_938_5 + (inv2.neg() + 1.0).log();
    let tiny = p.clone().lower_elem(1e-6);
    let ln_p = p.clamp_min(1e-12).log().mask_where(tiny, ln_tail);
    ln_p * (-std::f64::consts::LOG2_E)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: f32, device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(vec![v], [1, 1, 1, 1]), device)
    }

    fn bits(y: f32, m: f32, s: f32) -> f64 {
        let d = Device::flex();
        let b: Vec<f32> = gaussian_bits(t(y, &d), t(m, &d), t(s, &d))
            .into_data()
            .try_to_vec()
            .unwrap();
        b[0] as f64
    }

    fn exact(y: f64, m: f64, s: f64) -> f64 {
        // Bin mass by a fine midpoint rule on the density.
        let n = 20_000;
        let p: f64 = (0..n)
            .map(|i| {
                let x = y - 0.5 + (i as f64 + 0.5) / n as f64;
                let z = (x - m) / s;
                (-0.5 * z * z).exp() / (s * (2.0 * std::f64::consts::PI).sqrt()) / n as f64
            })
            .sum();
        -p.log2()
    }

    #[test]
    fn bits_match_the_discretized_gaussian() {
        for &(y, m, s) in &[
            (0.0, 0.0, 1.0),
            (1.3, 0.2, 0.7),
            (-4.0, 0.0, 2.5),
            (0.4, 0.0, 0.11),
        ] {
            let e = exact(y as f64, m as f64, s as f64);
            assert!((bits(y, m, s) - e).abs() < 1e-3, "{y} {m} {s}");
        }
        // Deep in the tail the asymptotic series takes over and stays finite and close.
        for (y, s) in [(9.0, 1.0), (6.0, 0.5), (-20.0, 3.0)] {
            let (b, e) = (bits(y, 0.0, s), exact(y as f64, 0.0, s as f64));
            assert!((b - e).abs() / e < 0.01, "{y} {s}: {b} vs {e}");
        }
    }
}
