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

use crate::codec::coder::PriorMode;
use crate::codec::patches::{self, Grid, Tile};
use crate::codec::{Analysis, BATCH};
use crate::error::{Error, Result};
use crate::model::{ENHANCE_MARGIN, LATENT_LEN, PATCH, PATCH_LEN};

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
    /// Encoder and SimCLR subclass of up to [`BATCH`] patches (`n × [3, 32, 32]`).
    Analyse {
        /// The patches.
        patches: Vec<f32>,
    },
    /// Code an analysed image every way at `quality`, then read the file offered for download
    /// back ([`Ways::default_file`](crate::codec::Ways::default_file)).
    Code {
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
    /// Decoder of up to [`BATCH`] patches' latents.
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
        picture: Picture,
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

/// A picture to measure: pixels, or a file (the browser's JPEG, WebP) to decode first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Picture {
    /// Pixels.
    Pixels(Rgb),
    /// An encoded image file.
    File(Vec<u8>),
}

/// What the loaded weights offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
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
    /// Subclass priors, rate-optimal ids.
    pub rate_optimal: usize,
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
            rate_optimal: ways.rate_optimal.bytes.len(),
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
    Loaded(Model),
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
        /// The size of every file.
        sizes: Sizes,
        /// The file, read.
        content: FileContent,
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
        /// The decoded file ([`Picture::File`]).
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

/// The replies of a stage's jobs so far, each in its job's place, whatever order they come in.
struct Slots<T>(Vec<Option<T>>);

impl<T> Slots<T> {
    fn new(jobs: usize) -> Self {
        Self((0..jobs).map(|_| None).collect())
    }

    /// Puts job `i`'s result in its place.
    fn put(&mut self, i: usize, value: T) -> Result<()> {
        match self.0.get_mut(i) {
            Some(slot @ None) => {
                *slot = Some(value);
                Ok(())
            }
            Some(Some(_)) => Err(Error::Worker(format!("job {i} answered twice"))),
            None => Err(Error::Worker(format!("no job {i} in this stage"))),
        }
    }

    /// The results in job order, once every job has one.
    fn finish(self) -> Result<Vec<T>> {
        let n = self.0.len();
        (self.0.into_iter().collect::<Option<Vec<T>>>())
            .ok_or_else(|| Error::Worker(format!("not all of the {n} jobs answered")))
    }
}

fn out_of_turn(reply: Reply) -> Error {
    Error::Worker(format!("a worker answered out of turn: {reply:?}"))
}

/// An image's analysis as [`Job::Analyse`] jobs, one per [`BATCH`] patches in raster order,
/// and their replies joined, in any order, into an [`Analysis`].
pub struct Analysing {
    grid: Grid,
    batches: Slots<(Vec<f32>, Vec<u8>)>,
}

impl Analysing {
    /// The jobs of `img`'s analysis, and what joins their replies.
    pub fn new(img: &RgbImage) -> (Self, Vec<Job>) {
        let jobs: Vec<Job> = (patches::to_patches(img).chunks(BATCH * PATCH_LEN))
            .map(|p| Job::Analyse {
                patches: p.to_vec(),
            })
            .collect();
        let grid = Grid::new(img.width(), img.height());
        let batches = Slots::new(jobs.len());
        (Self { grid, batches }, jobs)
    }

    /// Takes job `i`'s reply.
    pub fn put(&mut self, i: usize, reply: Reply) -> Result<()> {
        let Reply::Analysed { mu, ids } = reply else {
            return Err(out_of_turn(reply));
        };
        if mu.len() != ids.len() * LATENT_LEN {
            return Err(Error::Worker("μ and ids of different patches".into()));
        }
        self.batches.put(i, (mu, ids))
    }

    /// The subclasses known from the first patch on, up to the first batch still out (the
    /// map fills in in raster order).
    pub fn leading_ids(&self) -> Vec<u8> {
        let known = self.batches.0.iter().map_while(Option::as_ref);
        known.flat_map(|(_, ids)| ids.iter().copied()).collect()
    }

    /// The patches analysed so far.
    pub fn patches_done(&self) -> usize {
        self.batches
            .0
            .iter()
            .flatten()
            .map(|(_, ids)| ids.len())
            .sum()
    }

    /// The analysis, once every job has answered.
    pub fn finish(self) -> Result<Analysis> {
        let (mut mu, mut simclr_ids) = (Vec::new(), Vec::new());
        for (m, ids) in self.batches.finish()? {
            mu.extend(m);
            simclr_ids.extend(ids);
        }
        if simclr_ids.len() != self.grid.len() {
            return Err(Error::Worker("the analysis does not fill the grid".into()));
        }
        Ok(Analysis {
            grid: self.grid,
            mu,
            simclr_ids,
        })
    }
}

/// A file's decoding as [`Job::Decode`] jobs, one per [`BATCH`] patches in raster order, and
/// their replies joined, in any order, into the padded planar image.
pub struct Decoding {
    grid: Grid,
    batches: Slots<Vec<f32>>,
}

impl Decoding {
    /// The jobs of decoding `latents` (`grid.len() × LATENT_LEN`) coded at `quality`.
    pub fn new(latents: &[i32], grid: Grid, quality: u8) -> (Self, Vec<Job>) {
        let jobs: Vec<Job> = (latents.chunks(BATCH * LATENT_LEN))
            .map(|z| Job::Decode {
                latents: z.to_vec(),
                quality,
            })
            .collect();
        let batches = Slots::new(jobs.len());
        (Self { grid, batches }, jobs)
    }

    /// Takes job `i`'s reply.
    pub fn put(&mut self, i: usize, reply: Reply) -> Result<()> {
        let Reply::Decoded(p) = reply else {
            return Err(out_of_turn(reply));
        };
        self.batches.put(i, p)
    }

    /// The patches decoded so far.
    pub fn patches_done(&self) -> usize {
        self.batches
            .0
            .iter()
            .flatten()
            .map(|p| p.len() / PATCH_LEN)
            .sum()
    }

    /// The decoded patches stitched, padded planar `[3, H, W]`, once every job has answered.
    pub fn finish(self) -> Result<Vec<f32>> {
        let decoded = self.batches.finish()?.concat();
        if decoded.len() != self.grid.len() * PATCH_LEN {
            return Err(Error::Worker(
                "the decoded patches do not fill the grid".into(),
            ));
        }
        Ok(patches::stitch(&decoded, self.grid))
    }
}

/// The enhancer on a padded planar image as [`Job::Enhance`] jobs, one per tile, and their
/// replies pasted, in any order, into the enhanced image.
pub struct Enhancing {
    grid: Grid,
    tiles: Vec<Tile>,
    regions: Slots<Vec<f32>>,
}

impl Enhancing {
    /// The jobs of enhancing `planar` (padded, of `grid`, coded at `quality`) in tiles of
    /// `side` pixels square.
    pub fn new(planar: &[f32], grid: Grid, quality: u8, side: usize) -> (Self, Vec<Job>) {
        let (h, w) = (grid.padded_height(), grid.padded_width());
        let tiles = Tile::cover(h, w, side, ENHANCE_MARGIN);
        let jobs = (tiles.iter())
            .map(|t| {
                let (th, tw) = t.region_size();
                Job::Enhance {
                    region: t.cut(planar, h, w),
                    height: th as u32,
                    width: tw as u32,
                    quality,
                }
            })
            .collect();
        let regions = Slots::new(tiles.len());
        (
            Self {
                grid,
                tiles,
                regions,
            },
            jobs,
        )
    }

    /// Takes job `i`'s reply.
    pub fn put(&mut self, i: usize, reply: Reply) -> Result<()> {
        let Reply::Enhanced(region) = reply else {
            return Err(out_of_turn(reply));
        };
        let (th, tw) = self.tiles.get(i).map_or((0, 0), Tile::region_size);
        if region.len() != 3 * th * tw {
            return Err(Error::Worker(format!(
                "tile {i}'s region has the wrong size"
            )));
        }
        self.regions.put(i, region)
    }

    /// The enhanced image, padded planar `[3, H, W]`, once every tile has answered.
    pub fn finish(self) -> Result<Vec<f32>> {
        let (h, w) = (self.grid.padded_height(), self.grid.padded_width());
        let mut out = vec![0.0; 3 * h * w];
        for (t, r) in self.tiles.iter().zip(self.regions.finish()?) {
            t.paste(&r, &mut out, h, w);
        }
        Ok(out)
    }
}

/// The enhancer tile side, of `sides`, whose tiles of `grid` finish soonest on `workers`
/// workers that each take the next tile when done with one. A tile's work is taken as the
/// pixels it reads (its core and margin): bigger tiles read less margin in all, smaller ones
/// share out more evenly.
pub fn tile_side(grid: Grid, workers: usize, sides: &[usize]) -> usize {
    let (h, w) = (grid.padded_height(), grid.padded_width());
    let finish = |side: usize| {
        let mut loads = vec![0usize; workers.max(1)];
        for t in Tile::cover(h, w, side, ENHANCE_MARGIN) {
            let (th, tw) = t.region_size();
            *loads.iter_mut().min().expect("a worker") += th * tw;
        }
        loads.into_iter().max().unwrap_or(0)
    };
    sides
        .iter()
        .copied()
        .min_by_key(|&side| (finish(side), usize::MAX - side))
        .expect("a tile side")
}

#[cfg(feature = "networks")]
pub use worker::Worker;

#[cfg(feature = "networks")]
mod worker {
    use super::*;
    use crate::codec::coder::Coding;
    use crate::codec::{Codec, Decoded, latents_digest};
    use crate::{image_io, metrics};

    /// The compute side of a Web Worker: its networks, once loaded, and what runs each job.
    #[derive(Default)]
    pub struct Worker {
        codec: Option<Codec>,
        /// Whether the networks have not run since they were loaded.
        cold: bool,
    }

    impl Worker {
        /// Runs `job`; an error becomes [`Reply::Failed`].
        pub async fn run(&mut self, job: Job) -> Reply {
            match self.try_run(job).await {
                Ok(reply) => reply,
                Err(e) => Reply::Failed {
                    device: matches!(e, Error::Device(_)),
                    message: e.to_string(),
                },
            }
        }

        /// Runs every network at the sizes a photo brings if none has run since the weights
        /// were loaded: what a worker does after answering [`Job::Load`], so that the page is
        /// ready while it warms up (a first job waits for it).
        pub async fn warm_up(&mut self) -> Result<()> {
            if std::mem::take(&mut self.cold) {
                warm_up(self.codec()?).await?;
            }
            Ok(())
        }

        fn codec(&self) -> Result<&Codec> {
            self.codec
                .as_ref()
                .ok_or_else(|| Error::Worker("no weights loaded".into()))
        }

        async fn try_run(&mut self, job: Job) -> Result<Reply> {
            Ok(match job {
                Job::Load { weights, backend } => {
                    let codec = Codec::from_bytes(&weights, &device(backend).await?)?;
                    let bundle = codec.bundle();
                    let model = Model {
                        levels: bundle.levels.len() as u8,
                        subclasses: bundle.subclasses() as u8,
                        enhances: (0..bundle.levels.len() as u8)
                            .map(|q| bundle.enhances(q))
                            .collect(),
                    };
                    self.codec = Some(codec);
                    self.cold = true;
                    Reply::Loaded(model)
                }
                Job::Open { file, max_side } => {
                    let loaded = image_io::load_image(&file)?;
                    let mut notes = loaded.notes;
                    let (w, h) = loaded.image.dimensions();
                    let image = image_io::fit_within(loaded.image, max_side);
                    let (nw, nh) = image.dimensions();
                    if (nw, nh) != (w, h) {
                        notes.push(format!(
                            "Scaled down from {w}×{h} to {nw}×{nh} (the page codes at most \
                             {max_side} px a side)."
                        ));
                    }
                    Reply::Opened {
                        image: image.into(),
                        notes,
                    }
                }
                Job::Analyse { patches } => {
                    if patches.is_empty() || patches.len() % PATCH_LEN != 0 {
                        return Err(Error::Worker("not whole patches".into()));
                    }
                    let (mu, ids) = self.codec()?.analyse_batch(&patches).await?;
                    Reply::Analysed { mu, ids }
                }
                Job::Code { analysis, quality } => {
                    let codec = self.codec()?;
                    let grid = analysis.grid;
                    if analysis.mu.len() != grid.len() * LATENT_LEN
                        || analysis.simclr_ids.len() != grid.len()
                    {
                        return Err(Error::Worker("the analysis does not fill the grid".into()));
                    }
                    let ways = codec.encode_every_way(&analysis, quality)?;
                    let file = ways.default_file().bytes.clone();
                    Reply::Coded {
                        content: content(codec, codec.read(&file)?)?,
                        sizes: Sizes::of(&ways),
                        file,
                    }
                }
                Job::Read { file } => {
                    let codec = self.codec()?;
                    Reply::Read(content(codec, codec.read(&file)?)?)
                }
                Job::Decode { latents, quality } => {
                    let codec = self.codec()?;
                    if latents.is_empty() || latents.len() % LATENT_LEN != 0 {
                        return Err(Error::Worker("not whole latents".into()));
                    }
                    Reply::Decoded(codec.decode_batch(&latents, quality).await?)
                }
                Job::Enhance {
                    region,
                    height,
                    width,
                    quality,
                } => {
                    let codec = self.codec()?;
                    let (h, w) = (height as usize, width as usize);
                    if !h.is_multiple_of(8) || !w.is_multiple_of(8) || region.len() != 3 * h * w {
                        return Err(Error::Worker(
                            "the region is not 3 × h × w, sides ÷ 8".into(),
                        ));
                    }
                    codec.level(quality)?;
                    let level = codec.enhancer_level(quality);
                    let nets = &codec.bundle().nets;
                    Reply::Enhanced(nets.enhance_region_async(&region, h, w, level).await?)
                }
                Job::Measure { original, picture } => {
                    let original = RgbImage::try_from(original)?;
                    let (image, decoded) = match picture {
                        Picture::Pixels(rgb) => (RgbImage::try_from(rgb)?, false),
                        Picture::File(bytes) => (image_io::load_image(&bytes)?.image, true),
                    };
                    if image.dimensions() != original.dimensions() {
                        return Err(Error::Image(
                            "the picture's size is not the original's".into(),
                        ));
                    }
                    Reply::Measured {
                        psnr: metrics::psnr(&original, &image),
                        ms_ssim: metrics::ms_ssim(&original, &image),
                        decoded: decoded.then(|| image.into()),
                    }
                }
                Job::Prior { quality, subclass } => {
                    let level = self.codec()?.level(quality)?;
                    let channel_bits = |id| {
                        level.channel_bits(id).ok_or_else(|| {
                            Error::Worker(format!("no subclass {subclass} at quality {quality}"))
                        })
                    };
                    Reply::Prior {
                        subclass: channel_bits(Some(subclass))?,
                        global: channel_bits(None)?,
                    }
                }
                Job::Png { image } => Reply::Png(image_io::to_png(&RgbImage::try_from(image)?)?),
            })
        }
    }

    /// A device for `backend`.
    async fn device(backend: Backend) -> Result<burn::prelude::Device> {
        match backend {
            Backend::Cpu => Ok(burn::prelude::Device::flex()),
            #[cfg(feature = "webgpu")]
            Backend::WebGpu => burn::prelude::Device::wgpu_options()
                .init_async()
                .await
                .map_err(|e| Error::Device(format!("no WebGPU adapter: {e}"))),
            #[cfg(not(feature = "webgpu"))]
            Backend::WebGpu => Err(Error::Device("built without WebGPU".into())),
        }
    }

    /// Runs every network at the sizes a photo brings, so the first photo does not pay for
    /// shader compilation and allocation, and a browser's wasm engine has seen the kernels'
    /// large-size paths before it optimizes them: twice, a full batch of patches through the
    /// encoder and the decoder, and the enhancer on a 128-px tile's region.
    async fn warm_up(codec: &Codec) -> Result<()> {
        let side = 8 * PATCH as u32; // 64 patches: one full batch
        let image = RgbImage::from_fn(side, side, |x, y| {
            image::Rgb([x as u8, y as u8, (x + 2 * y) as u8])
        });
        let patches = patches::to_patches(&image);
        let side = 128 + 2 * ENHANCE_MARGIN;
        let tile = image::imageops::crop_imm(&image, 0, 0, side as u32, side as u32).to_image();
        let region = patches::to_planar_padded(&tile);
        let nets = &codec.bundle().nets;
        for _ in 0..2 {
            let (mu, _) = codec.analyse_batch(&patches).await?;
            nets.decode_async(&mu).await?;
            nets.enhance_region_async(&region, side, side, 0.0).await?;
        }
        Ok(())
    }

    /// What the page shows of a read file.
    fn content(codec: &Codec, decoded: Decoded) -> Result<FileContent> {
        let level = codec.level(decoded.header.quality)?;
        let mode = decoded.header.mode;
        let ids = decoded.ids.clone().unwrap_or_default();
        let (cols, z) = (decoded.grid().cols(), &decoded.latents);
        let bits = |mode| -> Vec<f32> {
            let coding = Coding::new(mode, &ids, cols);
            level
                .patch_bits(z, coding)
                .iter()
                .map(|&b| b as f32)
                .collect()
        };
        let coded = bits(mode);
        let saved = match mode {
            PriorMode::Context | PriorMode::ContextMeans => {
                (bits(PriorMode::Subclass).iter().zip(&coded))
                    .map(|(plain, context)| plain - context)
                    .collect()
            }
            _ => Vec::new(),
        };
        Ok(FileContent {
            grid: decoded.grid(),
            quality: decoded.header.quality,
            mode,
            digest: latents_digest(&decoded.latents, decoded.ids.as_deref()),
            latents: decoded.latents,
            ids,
            bits: coded,
            saved,
        })
    }
}
