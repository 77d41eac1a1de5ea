//! Everything between an image and a `.sac` file.
//!
//! | module | what |
//! |---|---|
//! | [`patches`] | padding an image to whole patches, cutting, stitching, cropping |
//! | [`entropy`] | discretized Gaussian priors, their integer tables, ML fitting |
//! | [`fit`] | spherical k-means of the SimCLR projections (the subclasses) |
//! | [`mode`] | the prior modes a file names, and what each needs to code ([`mode::Coding`]) |
//! | [`priors`] | one level's priors (gains, global, per subclass, context) and their fitting |
//! | [`coder`] | ANS coding of ids and latents under a level's priors; rate-optimal ids |
//! | [`context`] | each latent predicted from those decoded before it; the context priors |
//! | [`scales`] | scales that follow the context: how surprising the neighbours were |
//! | [`format`](mod@format) | the `.sac` container: header, payload, CRC |
//! | `bundle` | the weights file: networks, centroids, every level's priors, fingerprint |
//! | `manifest` | what made a weights file (written by training, shown by the page) |
//! | `pipeline` | [`Codec`]: analyse, code every way, read, decode, enhance |
//!
//! ```text
//! compress:   image → patches → μ (PatchVAE encoder) → SimCLR ids (projection, centroids)
//!                   → ẑ = round(μ·gain) → ids (SimCLR or rate-optimal) → ANS → .sac
//! decompress: .sac → ids, ẑ → ẑ/gain → PatchVAE decoder → stitch, crop (→ AttentionUNet)
//! ```
//!
//! `bundle`, `manifest` and `pipeline` run the networks (feature `networks`); the rest is
//! the bit-level half, which the fuzzers exercise without burn.

pub mod coder;
pub mod context;
pub mod entropy;
pub mod fit;
pub mod format;
pub mod mode;
pub mod patches;
pub mod priors;
pub mod scales;

#[cfg(feature = "networks")]
pub mod bundle;
#[cfg(any(feature = "cli", feature = "app"))]
pub mod manifest;
#[cfg(feature = "networks")]
pub mod pipeline;

#[cfg(feature = "networks")]
pub use bundle::Bundle;
#[cfg(feature = "networks")]
pub use pipeline::{Codec, CompressOptions, Compressed, Decoded, Ways, latents_digest};

use patches::Grid;
use serde::{Deserialize, Serialize};

/// The encoder's view of an image: unquantized latents and SimCLR subclasses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The patch grid.
    pub grid: Grid,
    /// μ of every patch, `n × LATENT_LEN`.
    pub mu: Vec<f32>,
    /// Nearest SimCLR centroid of every patch.
    pub simclr_ids: Vec<u8>,
}

/// Patches per step of the batch-by-batch stages (one progress step of the page's map, one
/// job of its workers).
pub const BATCH: usize = 64;

/// `8 × bytes / pixels`.
pub fn bpp(bytes: usize, grid: Grid) -> f64 {
    8.0 * bytes as f64 / (grid.width as f64 * grid.height as f64)
}
