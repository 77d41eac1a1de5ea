//! # sacodec
//!
//! A learned image codec with subclass-aware priors. An image is cut into 32×32 patches; a
//! PatchVAE encodes each to a 64×4×4 latent; a SimCLR projection of the unquantized latent
//! picks one of K subclasses; the rounded latent is entropy-coded (constriction ANS) with that
//! subclass's own discretized Gaussian prior; a decoder and an attention UNet rebuild the image.
//!
//! - [`model`]: the seed's networks (the enhancer at half its widths, told the level).
//! - [`patches`]: padding, cutting and stitching.
//! - [`entropy`]: priors on the coding grid, their integer tables, maximum-likelihood fitting.
//! - [`coder`]: ANS coding of ids and latents; per-level priors; rate-optimal assignment.
//! - [`format`]: the `.sac` container.
//! - [`bundle`]: the weights file (safetensors) and its fingerprint.
//! - [`codec`]: the whole pipeline.
//! - `train` (feature `cli`, native): the Rust half of training: priors, K and the bundle for
//!   networks the Python trainer (`training/`) made; `manifest`: what made a weights file.
//!
//! ```no_run
//! use sacodec::{Bundle, Codec, CompressOptions};
//! let device = burn::prelude::Device::flex();
//! let codec = Codec::new(Bundle::seeded(&device));
//! let img = image::RgbImage::new(64, 48);
//! let sac = codec.compress(&img, CompressOptions::default()).unwrap();
//! let back = codec.decompress(&sac.bytes, true).unwrap();
//! assert_eq!(back.dimensions(), (64, 48));
//! ```

pub mod bundle;
pub mod codec;
pub mod coder;
pub mod entropy;
pub mod error;
pub mod fit;
pub mod format;
pub mod image_io;
#[cfg(any(feature = "cli", feature = "app"))]
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod patches;
#[cfg(feature = "cli")]
pub mod train;
pub mod weights;

pub use bundle::Bundle;
pub use codec::{Codec, CompressOptions, Compressed, Decoded, bpp};
pub use coder::PriorMode;
pub use error::{Error, Result};
pub use format::Assignment;
