//! # sacodec
//!
//! A learned image codec with subclass-aware priors. An image is cut into 32×32 patches; a
//! PatchVAE encodes each to a 64×4×4 latent; a SimCLR projection of the unquantized latent
//! picks one of K subclasses; the rounded latent is entropy-coded (constriction ANS) with that
//! subclass's own discretized Gaussian prior; a decoder and an attention UNet rebuild the image.
//!
//! The layers, bottom up (`docs/DESIGN.md` tells the whole story):
//!
//! - [`model`]: the networks (PatchVAE, SimCLR projection, attention UNet) in burn, and their
//!   named weights.
//! - [`codec`]: everything between an image and a `.sac` file: patches, priors, the ANS coder,
//!   the container, the weights bundle, and the [`Codec`] pipeline that the CLI, the page and
//!   the benches all run.
//! - `train` (feature `cli`, native): the Rust half of training: priors, K and the bundle for
//!   networks the Python trainer (`training/`) made.
//! - `jobs` (feature `jobs`): the page's work as messages between its main thread and its
//!   Web Workers, and what runs them.
//! - [`metrics`], [`image_io`], [`error`], [`rng`]: what every layer shares.
//!
//! The binaries sit beside the library and only call it: the CLI in `src/cli/`, the page in
//! `src/app/` and its Web Worker in `src/worker/`. Without the `networks` feature (on in
//! `cli`, `worker` and `webgpu`) the library is the codec's bit-level half only (no burn):
//! what the fuzzers build and the page's main thread links.
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

pub mod codec;
pub mod error;
pub mod image_io;
#[cfg(feature = "jobs")]
pub mod jobs;
pub mod metrics;
pub mod model;
pub mod rng;
#[cfg(feature = "cli")]
pub mod train;

#[cfg(feature = "networks")]
pub use codec::{Bundle, Codec, CompressOptions, Compressed, Decoded};
pub use codec::{bpp, format::Assignment, mode::PriorMode};
pub use error::{Error, Result};
