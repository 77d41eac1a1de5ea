//! LatentSimCLRProjection: 64×H×W latent → 128-d unit vector.
//!
//! conv 3×3 (64→128), ReLU, conv 3×3 (128→256), ReLU, global average pool,
//! linear 256→256, ReLU, linear 256→128, ℓ2 normalisation.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::pad;

/// Configuration of the [`LatentSimClrProjection`].
#[derive(Config, Debug)]
pub struct LatentSimClrProjectionConfig {
    /// Channels of the latent it reads.
    #[config(default = 64)]
    pub latent_channels: usize,
    /// Dimension of the output embedding.
    #[config(default = 128)]
    pub dim: usize,
}

/// Contrastive projection of an unquantized latent.
#[derive(Module, Debug)]
pub struct LatentSimClrProjection {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

impl LatentSimClrProjectionConfig {
    /// Builds the network with burn's default initialisation.
    pub fn init(&self, device: &Device) -> LatentSimClrProjection {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(pad(1))
                .init(device)
        };
        LatentSimClrProjection {
            conv1: conv(self.latent_channels, 128),
            conv2: conv(128, 256),
            fc1: LinearConfig::new(256, 256).init(device),
            fc2: LinearConfig::new(256, self.dim).init(device),
        }
    }
}

impl LatentSimClrProjection {
    /// `[N, 64, H, W]` → `[N, 128]`, each row of unit ℓ2 norm.
    pub fn forward(&self, z: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv1.forward(z));
        let x = relu(self.conv2.forward(x));
        let [n, c, _, _] = x.dims();
        let pooled = x.mean_dim(3).mean_dim(2).reshape([n, c]);
        let h = relu(self.fc1.forward(pooled));
        let e = self.fc2.forward(h);
        let norm = e.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        e / norm
    }
}
