//! The one error type of the library: every failure on untrusted input is one of these.

/// Largest width or height accepted, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest image accepted, in pixels (16 megapixels, e.g. 4096 × 4096).
pub const MAX_PIXELS: u64 = 16 * 1024 * 1024;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a `.sac` file.
    #[error("not a .sac file (wrong magic bytes)")]
    NotSac,
    /// A `.sac` version this build does not read.
    #[error("unsupported .sac format version {found} (this build reads versions 1 to {supported})")]
    UnsupportedVersion {
        /// The file's version.
        found: u8,
        /// The newest version this build reads.
        supported: u8,
    },
    /// The file ends early.
    #[error("truncated .sac file: {have} bytes, the header declares {want}")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes the header declares.
        want: usize,
    },
    /// The checksum does not match.
    #[error("corrupt .sac file: checksum mismatch")]
    Checksum,
    /// A header field is out of range.
    #[error("invalid .sac header: {0}")]
    Header(String),
    /// The file was made with other weights.
    #[error("this file needs model {file:016x}, but the loaded model is {loaded:016x}")]
    ModelMismatch {
        /// Fingerprint in the file.
        file: u64,
        /// Fingerprint of the loaded weights.
        loaded: u64,
    },
    /// The entropy-coded payload does not decode.
    #[error("corrupt .sac payload: {0}")]
    Payload(String),
    /// An image larger than the limits.
    #[error(
        "image of {width}x{height} pixels is over the limit ({MAX_SIDE} px a side, {} megapixels in all)",
        MAX_PIXELS / (1024 * 1024)
    )]
    TooLarge {
        /// Width.
        width: u64,
        /// Height.
        height: u64,
    },
    /// A job the page gave a Web Worker that it cannot run (see `jobs`).
    #[error("worker: {0}")]
    Worker(String),
    /// An image that cannot be read.
    #[error("cannot read image: {0}")]
    Image(String),
    /// Weights that cannot be read.
    #[error("cannot load weights: {0}")]
    Weights(String),
    /// Context coding asked of weights made before context priors.
    #[error(
        "these weights have no context priors: code with another prior, or remake them with `sacodec train`"
    )]
    NoContext,
    /// A quality level the weights do not have.
    #[error("quality {quality} is not available (the weights have levels 0 to {})", levels.saturating_sub(1))]
    Quality {
        /// Asked for.
        quality: u8,
        /// Available.
        levels: usize,
    },
    /// Training data or settings that cannot be used.
    #[error("training: {0}")]
    Training(String),
    /// The compute device failed (e.g. a lost GPU).
    #[error("compute device failed: {0}")]
    Device(String),
    /// Input/output.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Library result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks an image size against [`MAX_SIDE`] and [`MAX_PIXELS`] (and that it is not empty).
pub fn check_size(width: u64, height: u64) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::Image(format!(
            "image has no pixels ({width}x{height})"
        )));
    }
    if width > MAX_SIDE as u64 || height > MAX_SIDE as u64 || width * height > MAX_PIXELS {
        return Err(Error::TooLarge { width, height });
    }
    Ok(())
}
