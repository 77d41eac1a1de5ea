//! The codec's one pipeline, on top of a [`Bundle`]: the CLI, `eval`, the page and the benches
//! all run these stages (see the module above for the picture).

use image::RgbImage;

use crate::codec::bundle::{Bundle, Fingerprints};
use crate::codec::coder::LevelCoder;
use crate::codec::fit;
use crate::codec::format::{self, Assignment, Header};
use crate::codec::mode::{Coding, PriorMode};
use crate::codec::patches::{self, Grid};
use crate::codec::{Analysis, BATCH};
use crate::error::{Error, Result, check_size};
use crate::model::{ENHANCE_TILE, LATENT_LEN, PATCH_LEN, block_on};

/// How to compress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompressOptions {
    /// Quality level (index into the bundle's levels).
    pub quality: u8,
    /// Global, subclass or context priors.
    pub mode: PriorMode,
    /// How subclass ids are chosen (ignored in global mode).
    pub assignment: Assignment,
}

impl Default for CompressOptions {
    fn default() -> Self {
        Self {
            quality: 1,
            mode: PriorMode::Subclass,
            assignment: Assignment::SimClr,
        }
    }
}

/// A compressed image.
pub struct Compressed {
    /// The `.sac` file.
    pub bytes: Vec<u8>,
    /// The latents it holds, `n × LATENT_LEN`.
    pub latents: Vec<i32>,
    /// The subclass ids it holds (subclass mode).
    pub ids: Option<Vec<u8>>,
    /// Σ −log₂ p of the payload under the model, in bits (the ideal code length).
    pub information_bits: f64,
}

/// One image coded every way at one level ([`Codec::encode_every_way`]).
pub struct Ways {
    /// Subclass priors, SimCLR ids.
    pub simclr: Compressed,
    /// The global prior.
    pub global: Compressed,
    /// Subclass priors, rate-optimal ids.
    pub rate_optimal: Compressed,
    /// Context priors, SimCLR ids (absent where the weights have no context priors).
    pub context_simclr: Option<Compressed>,
    /// Context priors, rate-optimal ids.
    pub context_rate_optimal: Option<Compressed>,
}

impl Ways {
    /// The file the CLI writes and the page offers by default: context priors where the
    /// weights have them, else subclass priors, with SimCLR ids.
    pub fn default_file(&self) -> &Compressed {
        self.context_simclr.as_ref().unwrap_or(&self.simclr)
    }
}

/// The content of a `.sac` file.
pub struct Decoded {
    /// Its header.
    pub header: Header,
    /// Its latents, `n × LATENT_LEN`.
    pub latents: Vec<i32>,
    /// Its subclass ids (subclass modes).
    pub ids: Option<Vec<u8>>,
}

impl Decoded {
    /// The patch grid.
    pub fn grid(&self) -> Grid {
        Grid::new(self.header.width, self.header.height)
    }
}

/// BLAKE3 of rounded latents and subclass ids, first 8 bytes in hex: the page and the CLI
/// print it, so a file can be checked to decode to the latents that were coded.
pub fn latents_digest(latents: &[i32], ids: Option<&[u8]>) -> String {
    let mut h = blake3::Hasher::new();
    latents.iter().for_each(|z| {
        h.update(&z.to_le_bytes());
    });
    h.update(ids.unwrap_or_default());
    let bytes: [u8; 8] = h.finalize().as_bytes()[..8].try_into().unwrap();
    format!("{:016x}", u64::from_le_bytes(bytes))
}

/// A bundle with its fingerprints, ready to code.
pub struct Codec {
    bundle: Bundle,
    fingerprints: Fingerprints,
}

impl Codec {
    /// Prepares `bundle` for coding.
    pub fn new(bundle: Bundle) -> Self {
        let fingerprints = bundle.fingerprints();
        Self {
            bundle,
            fingerprints,
        }
    }

    /// Loads a weights file onto `device`. Unlike [`Codec::new`] this reads the fingerprints
    /// from the file, so it works on devices that cannot be read back synchronously.
    pub fn from_bytes(bytes: &[u8], device: &burn::prelude::Device) -> Result<Self> {
        let bundle = Bundle::from_bytes(bytes, device)?;
        Ok(Self {
            bundle,
            fingerprints: Bundle::file_fingerprints(bytes)?,
        })
    }

    /// The bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The bundle's fingerprints.
    pub fn fingerprints(&self) -> Fingerprints {
        self.fingerprints
    }

    /// The fingerprint a file coded in `mode` records: with context, the whole bundle's;
    /// otherwise the base one (see [`Fingerprints`]).
    pub fn fingerprint(&self, mode: PriorMode) -> u64 {
        self.fingerprints.of_mode(mode)
    }

    /// The best context mode every level of the weights supports: [`PriorMode::Context`], or
    /// in bundles made before its grid scale context [`PriorMode::ContextSum`]; none in bundles
    /// made before context priors.
    pub fn context_mode(&self) -> Option<PriorMode> {
        [PriorMode::Context, PriorMode::ContextSum]
            .into_iter()
            .find(|&mode| self.bundle.levels.iter().all(|l| l.supports(mode)))
    }

    /// Whether the weights have context priors (older bundles do not).
    pub fn has_context(&self) -> bool {
        self.context_mode().is_some()
    }

    /// The prior mode files are coded in when none is asked for: the best context mode where
    /// the weights have one, else subclass.
    pub fn default_mode(&self) -> PriorMode {
        self.context_mode().unwrap_or(PriorMode::Subclass)
    }

    /// The coder of quality level `quality`.
    pub fn level(&self, quality: u8) -> Result<LevelCoder<'_>> {
        let levels = self.bundle.levels.len();
        let priors = self
            .bundle
            .levels
            .get(quality as usize)
            .ok_or(Error::Quality { quality, levels })?;
        Ok(LevelCoder::new(priors))
    }

    /// Runs the encoder and the SimCLR projection on every patch of `img`.
    pub fn analyse(&self, img: &RgbImage) -> Result<Analysis> {
        block_on(self.analyse_with(img, |_, _, _| async { Ok::<(), Error>(()) }))
    }

    /// [`Codec::analyse`] without blocking, [`BATCH`] patches at a time: after each batch
    /// `between(ids, done, total)` is awaited with that batch's SimCLR ids (the page draws them
    /// on its map and yields to the browser there; an error it returns stops the analysis).
    pub async fn analyse_with<E, F, Fut>(
        &self,
        img: &RgbImage,
        mut between: F,
    ) -> Result<Analysis, E>
    where
        E: From<Error>,
        F: FnMut(&[u8], usize, usize) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
    {
        let grid = Grid::new(img.width(), img.height());
        check_size(grid.width as u64, grid.height as u64)?;
        let all = patches::to_patches(img);
        let mut mu = Vec::with_capacity(grid.len() * LATENT_LEN);
        let mut simclr_ids = Vec::with_capacity(grid.len());
        for batch in all.chunks(BATCH * PATCH_LEN) {
            let (m, ids) = self.analyse_batch(batch).await?;
            mu.extend(m);
            simclr_ids.extend_from_slice(&ids);
            between(&ids, simclr_ids.len(), grid.len()).await?;
        }
        Ok(Analysis {
            grid,
            mu,
            simclr_ids,
        })
    }

    /// μ and SimCLR subclass of each patch of `patches` (`n × [3, 32, 32]`): one batch of
    /// [`Codec::analyse_with`].
    pub async fn analyse_batch(&self, patches: &[f32]) -> Result<(Vec<f32>, Vec<u8>)> {
        let nets = &self.bundle.nets;
        let mu = nets.encode_mu_async(patches).await?;
        let ids = fit::nearest(&nets.project_async(&mu).await?, &self.bundle.centroids);
        Ok((mu, ids))
    }

    /// The image the decoder makes of the unquantized μ: the autoencoder's ceiling, what no
    /// quality level can beat.
    pub fn ceiling(&self, analysis: &Analysis) -> RgbImage {
        let patches = self.bundle.nets.decode(&analysis.mu);
        patches::crop_to_rgb8(&patches::stitch(&patches, analysis.grid), analysis.grid)
    }

    /// Quantizes, assigns subclasses and entropy-codes an analysed image into a `.sac` file.
    pub fn encode(&self, analysis: &Analysis, opts: CompressOptions) -> Result<Compressed> {
        let level = self.level(opts.quality)?;
        if !level.supports(opts.mode) {
            return Err(Error::NoContext);
        }
        let latents = self.bundle.levels[opts.quality as usize].quantize(&analysis.mu);
        let cols = analysis.grid.cols();
        let ids = match (opts.mode, opts.assignment) {
            (PriorMode::Global, _) => None,
            (_, Assignment::SimClr) => Some(analysis.simclr_ids.clone()),
            (mode, Assignment::RateOptimal) => Some(level.rate_optimal_ids(&latents, mode, cols)),
        };
        let coding = Coding::new(opts.mode, ids.as_deref().unwrap_or_default(), cols);
        let payload = level.encode(&latents, coding);
        let header = Header {
            fingerprint: self.fingerprint(opts.mode),
            width: analysis.grid.width,
            height: analysis.grid.height,
            quality: opts.quality,
            mode: opts.mode,
            assignment: (opts.mode != PriorMode::Global).then_some(opts.assignment),
            subclasses: self.bundle.subclasses() as u8,
        };
        Ok(Compressed {
            bytes: format::write(&header, &payload),
            information_bits: level.information_bits(&latents, coding),
            latents,
            ids,
        })
    }

    /// Every file of an analysed image at `quality`: subclass priors with SimCLR ids, the
    /// global prior, rate-optimal ids, and, where the weights have context priors, both
    /// assignments with context.
    pub fn encode_every_way(&self, analysis: &Analysis, quality: u8) -> Result<Ways> {
        let with = |mode, assignment| CompressOptions {
            quality,
            mode,
            assignment,
        };
        let context = |assignment| match self.context_mode() {
            Some(mode) => self.encode(analysis, with(mode, assignment)).map(Some),
            None => Ok(None),
        };
        Ok(Ways {
            simclr: self.encode(analysis, with(PriorMode::Subclass, Assignment::SimClr))?,
            global: self.encode(analysis, with(PriorMode::Global, Assignment::SimClr))?,
            rate_optimal: self
                .encode(analysis, with(PriorMode::Subclass, Assignment::RateOptimal))?,
            context_simclr: context(Assignment::SimClr)?,
            context_rate_optimal: context(Assignment::RateOptimal)?,
        })
    }

    /// [`Codec::analyse`] then [`Codec::encode`] (an unknown level fails before the networks
    /// run).
    pub fn compress(&self, img: &RgbImage, opts: CompressOptions) -> Result<Compressed> {
        self.level(opts.quality)?;
        self.encode(&self.analyse(img)?, opts)
    }

    /// Parses, checks and entropy-decodes a `.sac` file (no network runs).
    pub fn read(&self, bytes: &[u8]) -> Result<Decoded> {
        let (header, words) = format::parse(bytes)?;
        let loaded = self.fingerprint(header.mode);
        if header.fingerprint != loaded {
            return Err(Error::ModelMismatch {
                file: header.fingerprint,
                loaded,
            });
        }
        let level = self.level(header.quality)?;
        if header.subclasses as usize != level.subclasses() {
            return Err(Error::Header(format!(
                "{} subclasses, the model has {}",
                header.subclasses,
                level.subclasses()
            )));
        }
        let grid = Grid::new(header.width, header.height);
        let payload = level.decode(words, grid.len(), header.mode, grid.cols())?;
        Ok(Decoded {
            header,
            latents: payload.latents,
            ids: payload.ids,
        })
    }

    /// Decodes latents to the stitched, padded planar image `[3, padded_h, padded_w]`.
    pub fn reconstruct(&self, decoded: &Decoded) -> Vec<f32> {
        let planar = block_on(self.reconstruct_with(decoded, |_, _| async { Ok::<(), Error>(()) }));
        planar.expect("CPU readback")
    }

    /// [`Codec::reconstruct`] without blocking, [`BATCH`] patches at a time; `between(done,
    /// total)` is awaited after each batch.
    pub async fn reconstruct_with<E, F, Fut>(
        &self,
        decoded: &Decoded,
        mut between: F,
    ) -> Result<Vec<f32>, E>
    where
        E: From<Error>,
        F: FnMut(usize, usize) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
    {
        let grid = decoded.grid();
        if decoded.latents.len() != grid.len() * LATENT_LEN {
            return Err(Error::Payload("latents do not fill the grid".into()).into());
        }
        self.level(decoded.header.quality)?;
        let mut out = Vec::with_capacity(grid.len() * PATCH_LEN);
        for batch in decoded.latents.chunks(BATCH * LATENT_LEN) {
            out.extend(self.decode_batch(batch, decoded.header.quality).await?);
            between(out.len() / PATCH_LEN, grid.len()).await?;
        }
        Ok(patches::stitch(&out, grid))
    }

    /// Decoded patches (`n × [3, 32, 32]`) of rounded latents coded at `quality`: one batch of
    /// [`Codec::reconstruct_with`].
    pub async fn decode_batch(&self, latents: &[i32], quality: u8) -> Result<Vec<f32>> {
        self.level(quality)?;
        let priors = &self.bundle.levels[quality as usize];
        self.bundle
            .nets
            .decode_async(&priors.dequantize(latents))
            .await
    }

    /// Runs the enhancer on a padded planar image of `grid` decoded at `quality`; at a level
    /// where the bundle turns the enhancer off ([`Bundle::enhances`]) the image is returned
    /// as it is.
    pub fn enhance(&self, planar: &[f32], grid: Grid, quality: u8) -> Vec<f32> {
        let enhanced = self.enhance_with(planar, grid, quality, ENHANCE_TILE, |_, _| async {
            Ok::<(), Error>(())
        });
        block_on(enhanced).expect("CPU readback")
    }

    /// [`Codec::enhance`] without blocking, in `tile`-pixel tiles (see
    /// [`Networks::enhance_async`](crate::model::Networks::enhance_async)); `between(done,
    /// tiles)` is awaited after each tile.
    pub async fn enhance_with<E, F, Fut>(
        &self,
        planar: &[f32],
        grid: Grid,
        quality: u8,
        tile: usize,
        between: F,
    ) -> Result<Vec<f32>, E>
    where
        E: From<Error>,
        F: FnMut(usize, usize) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
    {
        if !self.bundle.enhances(quality) {
            return Ok(planar.to_vec());
        }
        let (h, w) = (grid.padded_height(), grid.padded_width());
        let input = self.enhancer_input(quality);
        self.bundle
            .nets
            .enhance_async(planar, h, w, input, tile, between)
            .await
    }

    /// What the enhancer's fourth input channel reads for `quality` ([`crate::model::enhancer_input`]).
    pub fn enhancer_input(&self, quality: u8) -> f32 {
        crate::model::enhancer_input(quality, self.bundle.levels.len())
    }

    /// `.sac` bytes → image, enhanced or not.
    pub fn decompress(&self, bytes: &[u8], enhance: bool) -> Result<RgbImage> {
        let decoded = self.read(bytes)?;
        let mut planar = self.reconstruct(&decoded);
        if enhance {
            planar = self.enhance(&planar, decoded.grid(), decoded.header.quality);
        }
        Ok(patches::crop_to_rgb8(&planar, decoded.grid()))
    }
}
