//! The compute side of a Web Worker: the networks, and what runs each job.

use image::RgbImage;

use super::{Backend, BundleInfo, CPU_TILES, FileContent, Job, Reconstruction, Reply, Sizes};
use crate::codec::format::Assignment;
use crate::codec::mode::{Coding, PriorMode};
use crate::codec::patches::{self, Tile};
use crate::codec::{Analysis, Codec, CompressOptions, Decoded, latents_digest};
use crate::error::{Error, Result};
use crate::model::{ENHANCE_MARGIN, LATENT_LEN, PATCH, PATCH_LEN};
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
                let info = BundleInfo {
                    levels: bundle.levels.len() as u8,
                    subclasses: bundle.subclasses() as u8,
                    enhances: (0..bundle.levels.len() as u8)
                        .map(|q| bundle.enhances(q))
                        .collect(),
                };
                self.codec = Some(codec);
                self.cold = true;
                Reply::Loaded(info)
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
                let size = |mode| coded(codec, &analysis, quality, mode, Assignment::SimClr);
                let file = size(codec.default_mode())?;
                let context = codec.has_context();
                Reply::Coded {
                    content: content(codec, codec.read(&file)?)?,
                    sizes: Sizes {
                        global: size(PriorMode::Global)?.len(),
                        simclr: match context {
                            true => size(PriorMode::Subclass)?.len(),
                            false => file.len(),
                        },
                        rate_optimal: None,
                        context_simclr: context.then_some(file.len()),
                        context_rate_optimal: None,
                    },
                    file,
                }
            }
            Job::RateOptimal { analysis, quality } => {
                let codec = self.codec()?;
                let size = |mode| {
                    coded(codec, &analysis, quality, mode, Assignment::RateOptimal).map(|f| f.len())
                };
                Reply::RateOptimal {
                    subclass: size(PriorMode::Subclass)?,
                    context: codec.context_mode().map(size).transpose()?,
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
                let input = codec.enhancer_input(quality);
                let nets = &codec.bundle().nets;
                Reply::Enhanced(nets.enhance_region_async(&region, h, w, input).await?)
            }
            Job::Measure { original, picture } => {
                let original = RgbImage::try_from(original)?;
                let (image, decoded) = match picture {
                    Reconstruction::Pixels(rgb) => (RgbImage::try_from(rgb)?, false),
                    Reconstruction::File(bytes) => (image_io::load_image(&bytes)?.image, true),
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

/// The `.sac` file of `analysis` at `quality` in `mode` with `assignment`'s ids.
fn coded(
    codec: &Codec,
    analysis: &Analysis,
    quality: u8,
    mode: PriorMode,
    assignment: Assignment,
) -> Result<Vec<u8>> {
    let grid = analysis.grid;
    if analysis.mu.len() != grid.len() * LATENT_LEN || analysis.simclr_ids.len() != grid.len() {
        return Err(Error::Worker("the analysis does not fill the grid".into()));
    }
    let opts = CompressOptions {
        quality,
        mode,
        assignment,
    };
    Ok(codec.encode(analysis, opts)?.bytes)
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
/// shader compilation and allocation, and a browser's wasm engine has seen every kernel a photo
/// calls before it optimizes them: a full batch of patches through the encoder and the
/// decoder, and the enhancer on the region of a tile of each of the [`CPU_TILES`] sides (with
/// its context on every side, and on one side only). V8 optimizes a function for the calls it has
/// seen and falls back to its baseline code, for a long while, when another comes: warmed up
/// on one tile size, the page enhanced at half speed for whole sessions (README, "Benchmarks").
async fn warm_up(codec: &Codec) -> Result<()> {
    // 9 × 9 patches: room for the largest region; the first 64 patches are one full batch.
    let side = 9 * PATCH as u32;
    let image = RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([x as u8, y as u8, (x + 2 * y) as u8])
    });
    let patches = &patches::to_patches(&image)[..64 * PATCH_LEN];
    let planar = patches::to_planar_padded(&image);
    let (h, w) = (image.height() as usize, image.width() as usize);
    let nets = &codec.bundle().nets;
    let (mu, _) = codec.analyse_batch(patches).await?;
    nets.decode_async(&mu).await?;
    for tile in CPU_TILES.into_iter().rev() {
        for side in [tile + 2 * ENHANCE_MARGIN, tile + ENHANCE_MARGIN] {
            let square = [0, side, 0, side];
            let region = Tile {
                region: square,
                core: square,
            }
            .cut(&planar, h, w);
            nets.enhance_region_async(&region, side, side, 0.0).await?;
        }
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
    let saved = match mode.has_context() {
        true => (bits(PriorMode::Subclass).iter().zip(&coded))
            .map(|(plain, context)| plain - context)
            .collect(),
        false => Vec::new(),
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
