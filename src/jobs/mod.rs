//! The page's work as messages between its main thread and its Web Workers.
//!
//! The page cuts the pipeline into [`Job`]s: one per batch of patches to analyse or decode,
//! one per enhancer tile, one to code an analysed image, one to read a file, one per picture
//! to measure. Each worker owns a [`Worker`] (its own copy of the networks) and answers every
//! job with one [`Reply`]; several workers take the batches and tiles of one stage in
//! parallel, and a job that a lost device did not finish is given to another worker.
//! [`Analysing`], [`Decoding`] and [`Enhancing`] cut a stage into jobs and join the replies,
//! in whatever order they come, into the library's own types; the page and the native tests
//! (which compare the split pipeline with [`Codec`](crate::Codec)'s) both use them.
//!
//! Messages travel as [`postcard`] bytes in an [`Envelope`] that pairs each reply with its
//! job.

use image::RgbImage;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::Analysis;
use crate::codec::mode::PriorMode;
use crate::codec::patches::Grid;
use crate::error::{Error, Result};

mod schedule;
mod split;
#[cfg(feature = "networks")]
mod worker;

pub use schedule::{Done, Queue, Runner, Stop, run_queue};
pub use split::{Analysing, CPU_TILES, Decoding, Enhancing, tile_side};
#[cfg(feature = "networks")]
pub use worker::Worker;

/// Where a worker runs the networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// burn-wgpu on the browser's WebGPU.
    WebGpu,
    /// burn's CPU backend, in wasm.
    Cpu,
}

impl Backend {
    /// How the page names it.
    pub fn label(self) -> &'static str {
        match self {
            Backend::WebGpu => "WebGPU",
            Backend::Cpu => "CPU (wasm)",
        }
    }
}

/// An 8-bit RGB image on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rgb {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGB bytes.
    pub pixels: Vec<u8>,
}

impl From<RgbImage> for Rgb {
    fn from(img: RgbImage) -> Self {
        Self {
            width: img.width(),
            height: img.height(),
            pixels: img.into_raw(),
        }
    }
}

impl TryFrom<Rgb> for RgbImage {
    type Error = Error;

    fn try_from(rgb: Rgb) -> Result<Self> {
        RgbImage::from_raw(rgb.width, rgb.height, rgb.pixels)
            .ok_or_else(|| Error::Image("pixels do not fill the image".into()))
    }
}

/// What a worker is asked to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Job {
    /// Load a weights file onto `backend`: a worker's first job. Before its next job the
    /// worker runs every network once ([`Worker::warm_up`]).
    Load {
        /// The weights file (checked by the page against the manifest).
        weights: Vec<u8>,
        /// Where to run the networks.
        backend: Backend,
    },
    /// Decode a user's image file to RGB, scaled down to at most `max_side` pixels a side.
    Open {
        /// The file's bytes.
        file: Vec<u8>,
        /// The longest side the page codes.
        max_side: u32,
    },
    /// Encoder and SimCLR subclass of up to [`BATCH`](crate::codec::BATCH) patches
    /// (`n × [3, 32, 32]`).
    Analyse {
        /// The patches.
        patches: Vec<f32>,
    },
    /// Code an analysed image at `quality` with SimCLR ids under every prior, then read the
    /// file offered for download back (with context where the weights have it:
    /// [`Codec::default_mode`](crate::Codec::default_mode)).
    Code {
        /// The image's analysis.
        analysis: Analysis,
        /// The quality level.
        quality: u8,
    },
    /// The sizes of an analysed image's files with rate-optimal ids at `quality`: apart from
    /// [`Job::Code`], since choosing them takes several times as long (with context most), and
    /// nothing waits for them.
    RateOptimal {
        /// The image's analysis.
        analysis: Analysis,
        /// The quality level.
        quality: u8,
    },
    /// Parse, check and entropy-decode a `.sac` file.
    Read {
        /// The file's bytes.
        file: Vec<u8>,
    },
    /// Decoder of up to [`BATCH`](crate::codec::BATCH) patches' latents.
    Decode {
        /// Rounded latents, `n × LATENT_LEN`.
        latents: Vec<i32>,
        /// The level they were coded at.
        quality: u8,
    },
    /// Enhancer on one tile's region, planar `[3, height, width]`.
    Enhance {
        /// The region.
        region: Vec<f32>,
        /// Its height.
        height: u32,
        /// Its width.
        width: u32,
        /// The level the image was coded at.
        quality: u8,
    },
    /// PSNR and MS-SSIM of a picture against the original.
    Measure {
        /// The original.
        original: Rgb,
        /// The picture.
        picture: Reconstruction,
    },
    /// What subclass `subclass`'s prior at `quality` expects of each latent channel, beside
    /// the global prior ([`LevelCoder::channel_bits`](crate::codec::coder::LevelCoder)).
    Prior {
        /// The quality level.
        quality: u8,
        /// The subclass.
        subclass: u8,
    },
    /// A PNG file of an image.
    Png {
        /// The image.
        image: Rgb,
    },
}

/// A reconstruction to measure: pixels, or a file (the browser's JPEG, WebP) to decode first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Reconstruction {
    /// Pixels.
    Pixels(Rgb),
    /// An encoded image file.
    File(Vec<u8>),
}

/// What the loaded weights offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// Number of quality levels.
    pub levels: u8,
    /// Number of subclasses.
    pub subclasses: u8,
    /// Whether the enhancer runs at each level.
    pub enhances: Vec<bool>,
}

/// What a `.sac` file holds, with what the page shows of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileContent {
    /// The image's size.
    pub grid: Grid,
    /// Its quality level.
    pub quality: u8,
    /// The priors it was coded under.
    pub mode: PriorMode,
    /// Rounded latents, `n × LATENT_LEN`.
    pub latents: Vec<i32>,
    /// Subclass of every patch (empty under the global prior).
    pub ids: Vec<u8>,
    /// Bits of every patch under its prior, its id included.
    pub bits: Vec<f32>,
    /// With context: the bits context saved each patch (its bits under its subclass's plain
    /// prior less those under its context prior); otherwise empty.
    pub saved: Vec<f32>,
    /// [`latents_digest`](crate::codec::latents_digest) of the latents and ids.
    pub digest: String,
}

/// The bytes of an image's file under each prior at one level (`Ways`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// One global prior.
    pub global: usize,
    /// Subclass priors, SimCLR ids.
    pub simclr: usize,
    /// Subclass priors, rate-optimal ids (none until known: [`Job::RateOptimal`]).
    pub rate_optimal: Option<usize>,
    /// Context priors, SimCLR ids (where the weights have them).
    pub context_simclr: Option<usize>,
    /// Context priors, rate-optimal ids.
    pub context_rate_optimal: Option<usize>,
}

#[cfg(feature = "networks")]
impl Sizes {
    /// The sizes of `ways`' files.
    pub fn of(ways: &crate::codec::Ways) -> Self {
        Self {
            global: ways.global.bytes.len(),
            simclr: ways.simclr.bytes.len(),
            rate_optimal: Some(ways.rate_optimal.bytes.len()),
            context_simclr: ways.context_simclr.as_ref().map(|c| c.bytes.len()),
            context_rate_optimal: ways.context_rate_optimal.as_ref().map(|c| c.bytes.len()),
        }
    }
}

/// A worker's answer to one [`Job`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Reply {
    /// A worker's first message (id 0): it takes jobs from now on.
    Ready,
    /// [`Job::Load`].
    Loaded(BundleInfo),
    /// [`Job::Open`]: the image and what was changed to make it.
    Opened {
        /// The pixels.
        image: Rgb,
        /// Notes (alpha dropped, scaled down).
        notes: Vec<String>,
    },
    /// [`Job::Analyse`].
    Analysed {
        /// μ, `n × LATENT_LEN`.
        mu: Vec<f32>,
        /// SimCLR subclasses.
        ids: Vec<u8>,
    },
    /// [`Job::Code`]: the default file (`Ways::default_file`), the sizes of every file,
    /// and the default file read back as a receiver would.
    Coded {
        /// The `.sac` file.
        file: Vec<u8>,
        /// The size of every file with SimCLR ids (the rate-optimal ones come with
        /// [`Reply::RateOptimal`]).
        sizes: Sizes,
        /// The file, read.
        content: FileContent,
    },
    /// [`Job::RateOptimal`]: the bytes of the file with rate-optimal ids under the subclass
    /// priors and, where the weights have them, under the context priors.
    RateOptimal {
        /// Subclass priors.
        subclass: usize,
        /// Context priors.
        context: Option<usize>,
    },
    /// [`Job::Read`].
    Read(FileContent),
    /// [`Job::Decode`]: decoded patches, `n × [3, 32, 32]`.
    Decoded(Vec<f32>),
    /// [`Job::Enhance`]: the enhanced region.
    Enhanced(Vec<f32>),
    /// [`Job::Measure`]: PSNR-RGB and MS-SSIM, and the pixels of a measured file.
    Measured {
        /// PSNR-RGB in dB.
        psnr: f64,
        /// MS-SSIM.
        ms_ssim: f64,
        /// The decoded file ([`Reconstruction::File`]).
        decoded: Option<Rgb>,
    },
    /// [`Job::Prior`]: the mean bits of each latent channel under the subclass's prior and
    /// under the global one.
    Prior {
        /// Under the subclass's prior, one per channel.
        subclass: Vec<f32>,
        /// Under the global prior.
        global: Vec<f32>,
    },
    /// [`Job::Png`].
    Png(Vec<u8>),
    /// The job failed.
    Failed {
        /// Why.
        message: String,
        /// Whether the compute device failed (a lost GPU): the job may succeed elsewhere.
        device: bool,
    },
    /// The worker panicked and cannot answer any more jobs.
    Panicked(String),
}

/// How many workers the page's CPU path starts: `workers=N` (1 to 16) in the page's query
/// string `query` (`?a=b&workers=3`), else one per logical core (`cores`), at most `most`.
pub fn cpu_workers(query: &str, cores: usize, most: usize) -> usize {
    let asked = (query.trim_start_matches('?').split('&'))
        .find_map(|kv| kv.strip_prefix("workers=")?.parse::<usize>().ok())
        .filter(|n| (1..=16).contains(n));
    asked.unwrap_or(cores.clamp(1, most))
}

/// A job or reply with the number that pairs them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The job's number (0 is [`Reply::Ready`]'s); [`Envelope::ANY`] for a panic, which ends
    /// every job of the worker.
    pub id: u32,
    /// The message.
    pub body: T,
}

impl<T> Envelope<T> {
    /// The id of a message about no one job.
    pub const ANY: u32 = u32::MAX;
}

impl<T: Serialize> Envelope<T> {
    /// The message's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard writes to a Vec")
    }
}

impl<T: DeserializeOwned> Envelope<T> {
    /// A message from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        postcard::from_bytes(bytes).map_err(|e| Error::Worker(format!("unreadable message: {e}")))
    }
}
