//! AttentionUNet enhancer: 3×H×W → 3×H×W (H and W multiples of 8).
//!
//! Encoder conv blocks 32-64-128 (two 3×3 convs + ReLU each, 2×2 max-pool between),
//! bottleneck block 256, decoder with 2×2/2 transposed-conv upsampling, an attention gate on
//! each of the three skips (Oktay et al. 2018), conv blocks 128-64-32, a 1×1 head and a sigmoid.
//!
//! One addition to the seed: the head's output is added to the input's logit before the
//! sigmoid, so the network predicts a correction of the decoded image. With a zero head
//! ([`AttentionUNetConfig::zero_head`]) it starts as the identity, and training can only
//! improve on the decoder from there.
//!
//! A second: a fourth input channel may tell the network the quality level of the image it
//! enhances ([`AttentionUNetConfig::level_input`]): a constant plane, `level / (levels − 1)`,
//! so one network learns a correction per level (coarser levels have larger, blockier errors).
//!
//! A third: the widths are half the seed's (64-128-256, bottleneck 512). That is a quarter of
//! the weights (3.9 MB in f16, 2 MB in a bundle's 8 bits, instead of 15.6 MB in f16, which
//! alone missed the page's first-visit budget) and of the work, so the page enhances 4×
//! faster on the CPU, and the same CPU training time buys 4× the steps.

use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use super::pad;

/// Configuration of the [`AttentionUNet`].
#[derive(Config, Debug)]
pub struct AttentionUNetConfig {
    /// Widths of the three encoder stages.
    #[config(default = "[32, 64, 128]")]
    pub widths: [usize; 3],
    /// Width of the bottleneck.
    #[config(default = 256)]
    pub bottleneck: usize,
    /// Read the quality level as a fourth input channel.
    #[config(default = true)]
    pub level_input: bool,
    /// Start the 1×1 head at zero: the network is then the identity (training starts here).
    #[config(default = false)]
    pub zero_head: bool,
}

/// Two 3×3 convolutions, each followed by a ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ConvBlock {
    fn new(input: usize, output: usize, device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(pad(1))
                .init(device)
        };
        Self {
            conv1: conv(input, output),
            conv2: conv(output, output),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.conv2.forward(relu(self.conv1.forward(x))))
    }
}

/// Additive attention gate: the skip `x` scaled by α = σ(ψ(ReLU(W_g g + W_x x))).
#[derive(Module, Debug)]
pub struct AttentionGate {
    w_g: Conv2d,
    w_x: Conv2d,
    psi: Conv2d,
}

impl AttentionGate {
    fn new(gate: usize, skip: usize, inner: usize, device: &Device) -> Self {
        let conv = |i, o| Conv2dConfig::new([i, o], [1, 1]).init(device);
        Self {
            w_g: conv(gate, inner),
            w_x: conv(skip, inner),
            psi: conv(inner, 1),
        }
    }

    fn forward(&self, g: Tensor<4>, x: Tensor<4>) -> Tensor<4> {
        let a = relu(self.w_g.forward(g) + self.w_x.forward(x.clone()));
        x * sigmoid(self.psi.forward(a))
    }
}

/// The enhancer network.
#[derive(Module, Debug)]
pub struct AttentionUNet {
    enc1: ConvBlock,
    enc2: ConvBlock,
    enc3: ConvBlock,
    pool: MaxPool2d,
    bottleneck: ConvBlock,
    up3: ConvTranspose2d,
    att3: AttentionGate,
    dec3: ConvBlock,
    up2: ConvTranspose2d,
    att2: AttentionGate,
    dec2: ConvBlock,
    up1: ConvTranspose2d,
    att1: AttentionGate,
    dec1: ConvBlock,
    head: Conv2d,
    #[module(skip)]
    level_input: bool,
}

impl AttentionUNetConfig {
    /// Builds the network with burn's default initialisation.
    pub fn init(&self, device: &Device) -> AttentionUNet {
        let [c1, c2, c3] = self.widths;
        let b = self.bottleneck;
        let up = |i, o| {
            ConvTranspose2dConfig::new([i, o], [2, 2])
                .with_stride([2, 2])
                .init(device)
        };
        AttentionUNet {
            enc1: ConvBlock::new(3 + self.level_input as usize, c1, device),
            enc2: ConvBlock::new(c1, c2, device),
            enc3: ConvBlock::new(c2, c3, device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            bottleneck: ConvBlock::new(c3, b, device),
            up3: up(b, c3),
            att3: AttentionGate::new(c3, c3, c3 / 2, device),
            dec3: ConvBlock::new(2 * c3, c3, device),
            up2: up(c3, c2),
            att2: AttentionGate::new(c2, c2, c2 / 2, device),
            dec2: ConvBlock::new(2 * c2, c2, device),
            up1: up(c2, c1),
            att1: AttentionGate::new(c1, c1, c1 / 2, device),
            dec1: ConvBlock::new(2 * c1, c1, device),
            head: Conv2dConfig::new([c1, 3], [1, 1])
                .with_initializer(match self.zero_head {
                    true => Initializer::Zeros,
                    false => Conv2dConfig::new([c1, 3], [1, 1]).initializer,
                })
                .init(device),
            level_input: self.level_input,
        }
    }
}

impl AttentionUNet {
    /// `[N, 3, H, W]` in [0, 1] → `[N, 3, H, W]` in [0, 1]; H and W must be multiples of 8.
    /// `level` in [0, 1] is the quality level, `level / (levels − 1)`, which only a network
    /// with [`AttentionUNetConfig::level_input`] reads.
    /// Output = sigmoid(head + logit(input)), the input clamped to [1/1024, 1 − 1/1024].
    pub fn forward(&self, x: Tensor<4>, level: f32) -> Tensor<4> {
        let edge = 1.0 / 1024.0;
        let p = x.clone().clamp(edge, 1.0 - edge);
        let logit = (p.clone() / (p.neg() + 1.0)).log();
        let input = match self.level_input {
            true => {
                let [n, _, h, w] = x.dims();
                let plane = Tensor::full([n, 1, h, w], level, &x.device());
                Tensor::cat(vec![x, plane], 1)
            }
            false => x,
        };
        let e1 = self.enc1.forward(input);
        let e2 = self.enc2.forward(self.pool.forward(e1.clone()));
        let e3 = self.enc3.forward(self.pool.forward(e2.clone()));
        let b = self.bottleneck.forward(self.pool.forward(e3.clone()));

        let d3 = self.up3.forward(b);
        let s3 = self.att3.forward(d3.clone(), e3);
        let d3 = self.dec3.forward(Tensor::cat(vec![s3, d3], 1));

        let d2 = self.up2.forward(d3);
        let s2 = self.att2.forward(d2.clone(), e2);
        let d2 = self.dec2.forward(Tensor::cat(vec![s2, d2], 1));

        let d1 = self.up1.forward(d2);
        let s1 = self.att1.forward(d1.clone(), e1);
        let d1 = self.dec1.forward(Tensor::cat(vec![s1, d1], 1));

        sigmoid(self.head.forward(d1) + logit)
    }
}
