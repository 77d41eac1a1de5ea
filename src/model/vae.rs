//! PatchVAE: 3×32×32 patch ⇄ 64×4×4 latent.
//!
//! Encoder: conv 4×4/2 (3→32) → conv 4×4/2 (32→64) → conv 4×4/2 (64→128) → conv 3×3 (128→128),
//! ReLU after each, then two 1×1 heads (128→64) for μ and logσ².
//! Decoder: convT 3×3/1 (64→128) → convT 4×4/2 (128→64) → convT 4×4/2 (64→32) →
//! convT 4×4/2 (32→3), ReLU between, sigmoid at the end.

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use super::pad;

/// Configuration of the [`PatchVae`].
#[derive(Config, Debug)]
pub struct PatchVaeConfig {
    /// Channels of the latent.
    #[config(default = 64)]
    pub latent_channels: usize,
    /// Channels of the three strided stages (the last is also the 3×3 stage's width).
    #[config(default = "[32, 64, 128]")]
    pub widths: [usize; 3],
}

/// The encoder half: patch → (μ, logσ²).
#[derive(Module, Debug)]
pub struct PatchEncoder {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    conv4: Conv2d,
    mu: Conv2d,
    logvar: Conv2d,
}

/// The decoder half: latent → patch in [0, 1].
#[derive(Module, Debug)]
pub struct PatchDecoder {
    deconv1: ConvTranspose2d,
    deconv2: ConvTranspose2d,
    deconv3: ConvTranspose2d,
    deconv4: ConvTranspose2d,
}

/// The PatchVAE: [`PatchEncoder`] and [`PatchDecoder`].
#[derive(Module, Debug)]
pub struct PatchVae {
    /// Patch → (μ, logσ²).
    pub encoder: PatchEncoder,
    /// Latent → patch.
    pub decoder: PatchDecoder,
}

impl PatchVaeConfig {
    /// Builds the network with burn's default initialisation.
    pub fn init(&self, device: &Device) -> PatchVae {
        let [w1, w2, w3] = self.widths;
        let z = self.latent_channels;
        let down = |i, o| {
            Conv2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding(pad(1))
                .init(device)
        };
        let up = |i, o| {
            ConvTranspose2dConfig::new([i, o], [4, 4])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .init(device)
        };
        PatchVae {
            encoder: PatchEncoder {
                conv1: down(3, w1),
                conv2: down(w1, w2),
                conv3: down(w2, w3),
                conv4: Conv2dConfig::new([w3, w3], [3, 3])
                    .with_padding(pad(1))
                    .init(device),
                mu: Conv2dConfig::new([w3, z], [1, 1]).init(device),
                logvar: Conv2dConfig::new([w3, z], [1, 1]).init(device),
            },
            decoder: PatchDecoder {
                deconv1: ConvTranspose2dConfig::new([z, w3], [3, 3])
                    .with_padding([1, 1])
                    .init(device),
                deconv2: up(w3, w2),
                deconv3: up(w2, w1),
                deconv4: up(w1, 3),
            },
        }
    }
}

impl PatchEncoder {
    /// `[N, 3, 32, 32]` → (μ, logσ²), each `[N, 64, 4, 4]`.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let h = self.trunk(x);
        (self.mu.forward(h.clone()), self.logvar.forward(h))
    }

    /// `[N, 3, 32, 32]` → μ only (what the codec needs).
    pub fn mu(&self, x: Tensor<4>) -> Tensor<4> {
        self.mu.forward(self.trunk(x))
    }

    fn trunk(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(self.conv1.forward(x));
        let x = relu(self.conv2.forward(x));
        let x = relu(self.conv3.forward(x));
        relu(self.conv4.forward(x))
    }
}

impl PatchDecoder {
    /// `[N, 64, 4, 4]` → `[N, 3, 32, 32]` in [0, 1].
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let x = relu(self.deconv1.forward(z));
        let x = relu(self.deconv2.forward(x));
        let x = relu(self.deconv3.forward(x));
        sigmoid(self.deconv4.forward(x))
    }
}
