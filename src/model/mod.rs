//! The seed's networks, layer by layer (see `DESIGN.md`, "The pipeline").
//!
//! | network | input → output |
//! |---|---|
//! | [`PatchVae`] | 3×32×32 → μ, logσ² (64×4×4 each) → 3×32×32 |
//! | [`LatentSimClrProjection`] | 64×H×W → 128-d unit vector |
//! | [`AttentionUNet`] | 3×H×W → 3×H×W (H, W multiples of 8) |
//!
//! Every network is a `#[derive(Module)]` built from a `#[derive(Config)]`.

#[cfg(feature = "networks")]
mod networks;
#[cfg(feature = "networks")]
mod projection;
#[cfg(feature = "networks")]
mod unet;
#[cfg(feature = "networks")]
mod vae;
#[cfg(feature = "networks")]
pub mod weights;

#[cfg(feature = "networks")]
pub use networks::{Networks, block_on};
#[cfg(feature = "networks")]
pub use projection::{LatentSimClrProjection, LatentSimClrProjectionConfig};
#[cfg(feature = "networks")]
pub use unet::{AttentionGate, AttentionUNet, AttentionUNetConfig, ConvBlock};
#[cfg(feature = "networks")]
pub use vae::{PatchDecoder, PatchEncoder, PatchVae, PatchVaeConfig};

/// Side of a patch in pixels.
pub const PATCH: usize = 32;
/// Channels of the latent.
pub const LATENT_CHANNELS: usize = 64;
/// Side of the latent grid of one patch.
pub const LATENT_SIDE: usize = 4;
/// Values of one patch's pixels (3·32·32, planar RGB).
pub const PATCH_LEN: usize = 3 * PATCH * PATCH;
/// Latent elements per patch (64·4·4).
pub const LATENT_LEN: usize = LATENT_CHANNELS * LATENT_SIDE * LATENT_SIDE;
/// Enhancer tile side of [`Networks::enhance`] (pixels).
pub const ENHANCE_TILE: usize = 256;
/// The context the enhancer reads around each tile (pixels). Its receptive field is wider, but
/// on held-out photos 256-px tiles with 8 pixels of context enhance within 0.001 dB of 16
/// pixels' (and within 0.006 dB of the whole image at once), reading 7 % fewer pixels
/// (README, "Benchmarks").
pub const ENHANCE_MARGIN: usize = 8;
/// Dimension of the SimCLR projection.
pub const PROJECTION_DIM: usize = 128;

/// What the enhancer's level channel reads at quality `quality` of a bundle of `levels`:
/// `quality / (levels − 1)` (the trainer's `nets.enhancer_input`, tied by the parity test).
pub fn enhancer_input(quality: u8, levels: usize) -> f32 {
    quality as f32 / levels.saturating_sub(1).max(1) as f32
}

/// Symmetric zero padding of `p` pixels on every side.
#[cfg(feature = "networks")]
pub(crate) fn pad(p: usize) -> burn::nn::PaddingConfig2d {
    burn::nn::PaddingConfig2d::Explicit(p, p, p, p)
}
