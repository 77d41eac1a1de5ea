//! What `eval` measures of an image at a level ([`Metrics`]), and its means over images
//! ([`Means`]): the rows of its JSON and the report's tables.

use serde::Serialize;

/// Declares [`Metrics`] and its field-wise mean, so a new field is written once.
macro_rules! metrics {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        /// What `eval` measures of one image at one level; the mean over images (`Means`) has
        /// the same fields.
        #[derive(Serialize, Default, Clone)]
        pub struct Metrics {
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl Metrics {
            /// The field-wise mean (of an optional field: over the rows that have it).
            fn mean(rows: &[&Metrics]) -> Metrics {
                Metrics { $($field: Mean::mean(rows.iter().map(|r| r.$field)),)* }
            }
        }
    };
}

metrics! {
    bpp_global: f64,
    bpp_subclass_simclr: f64,
    bpp_subclass_rate: f64,
    /// Subclass priors with context, SimCLR ids (absent: weights without context priors).
    bpp_context_simclr: Option<f64>,
    /// Subclass priors with context, rate-optimal ids.
    bpp_context_rate: Option<f64>,
    info_bpp_global: f64,
    info_bpp_subclass_simclr: f64,
    info_bpp_subclass_rate: f64,
    info_bpp_context_simclr: Option<f64>,
    info_bpp_context_rate: Option<f64>,
    /// PSNR of the image decoded from the unquantized latents μ (the autoencoder's ceiling).
    psnr_ceiling: f64,
    psnr_decoded: f64,
    ms_ssim_decoded: f64,
    psnr_enhanced: Option<f64>,
    ms_ssim_enhanced: Option<f64>,
    /// Squared error of the 2-px band along the patch borders over the interior's, in dB
    /// ([`sacodec::metrics::seam_excess_db`]), decoded and enhanced.
    seam_db_decoded: f64,
    seam_db_enhanced: Option<f64>,
    /// Analysis (networks) and entropy coding of every file.
    encode_s: f64,
    decode_s: f64,
    enhance_s: Option<f64>,
    /// JPEG quality (1–100) whose bpp is closest to the default file's ([`Metrics::bpp`]).
    jpeg_quality: f64,
    jpeg_bpp: f64,
    jpeg_psnr: f64,
    jpeg_ms_ssim: f64,
}

/// A value whose mean over rows is taken field by field.
trait Mean: Sized {
    fn mean(values: impl Iterator<Item = Self>) -> Self;
}

impl Mean for f64 {
    fn mean(values: impl Iterator<Item = f64>) -> f64 {
        let (sum, n) = values.fold((0.0, 0), |(s, n), v| (s + v, n + 1));
        sum / n as f64
    }
}

impl Mean for Option<f64> {
    fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
        let present: Vec<f64> = values.flatten().collect();
        (!present.is_empty()).then(|| f64::mean(present.into_iter()))
    }
}

/// The means over the images at one quality level.
#[derive(Serialize, Clone)]
pub struct Means {
    /// The level.
    pub quality: u8,
    /// The means.
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl Metrics {
    /// What the subclass priors (SimCLR ids) save against the global prior, in %.
    pub fn saving_percent(&self) -> f64 {
        100.0 * (1.0 - self.bpp_subclass_simclr / self.bpp_global)
    }

    /// What the context saves against the subclass priors (SimCLR ids), in %.
    pub fn context_saving_percent(&self) -> Option<f64> {
        Some(100.0 * (1.0 - self.bpp_context_simclr? / self.bpp_subclass_simclr))
    }

    /// The bpp of the file the CLI writes and the page offers (`Ways::default_file`).
    pub fn bpp(&self) -> f64 {
        self.bpp_context_simclr.unwrap_or(self.bpp_subclass_simclr)
    }
}

impl Means {
    /// The means of `rows`, all at level `quality`.
    pub fn of(quality: u8, rows: &[&Metrics]) -> Self {
        Self {
            quality,
            metrics: Metrics::mean(rows),
        }
    }
}
