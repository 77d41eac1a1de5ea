//! The page's state: one set of signals, shared by every component through the context.

use std::rc::Rc;

use image::RgbImage;
use leptos::prelude::*;
use sacodec::codec::Analysis;
use sacodec::codec::patches::Grid;
use sacodec::jobs::{Backend, Sizes};

use crate::curve::PhotoCurve;
use crate::pool::Pool;
use crate::web;

/// The patch grid as far as it is known: the picture under it, each coded patch's subclass
/// and, once coded, its bits.
#[derive(Clone, Default)]
pub struct MapData {
    /// The picture the tints are laid over (the original, or the decoded image of a `.sac`).
    pub base: Option<Rc<RgbImage>>,
    /// Subclass of each patch assigned so far (row-major; shorter than the grid while the
    /// encoder runs).
    pub ids: Vec<u8>,
    /// Bits of each patch under its subclass prior (empty until coded).
    pub bits: Vec<f32>,
    /// Bits context saved each patch (empty until coded, and for files without context).
    pub saved: Vec<f32>,
    /// Number of subclasses.
    pub subclasses: usize,
}

impl MapData {
    /// The patch grid of the base picture.
    pub fn grid(&self) -> Option<Grid> {
        self.base.as_ref().map(|b| Grid::new(b.width(), b.height()))
    }
}

/// Sizes of the real `.sac` files of one image at one quality.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// The image's patch grid (its size).
    pub grid: Grid,
    /// Bytes of each file.
    pub sizes: Sizes,
}

impl Rates {
    /// Bits per pixel of a file of `bytes`.
    pub fn bpp(&self, bytes: usize) -> f64 {
        sacodec::bpp(bytes, self.grid)
    }

    /// Percent fewer bytes than the global prior.
    pub fn saving(&self, bytes: usize) -> f64 {
        100.0 * (1.0 - bytes as f64 / self.sizes.global as f64)
    }

    /// The bytes of the file the page offers (with context where the weights have it).
    pub fn file(&self) -> usize {
        self.sizes.context_simclr.unwrap_or(self.sizes.simclr)
    }

    /// The largest file's bytes (the bar chart's scale).
    pub fn largest(&self) -> usize {
        let s = &self.sizes;
        [Some(s.global), Some(s.simclr), s.rate_optimal]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(1)
            .max(1)
    }
}

/// The pictures the page compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// The input.
    Original,
    /// The stitched decoder output.
    Decoded,
    /// The enhancer's output.
    Enhanced,
    /// The browser's JPEG at the `.sac`'s size.
    Jpeg,
    /// The browser's WebP at the `.sac`'s size (where it can encode WebP).
    Webp,
}

impl View {
    /// All, in display order.
    pub const ALL: [View; 5] = [
        View::Original,
        View::Decoded,
        View::Enhanced,
        View::Jpeg,
        View::Webp,
    ];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            View::Original => "original",
            View::Decoded => "decoded",
            View::Enhanced => "enhanced",
            View::Jpeg => "JPEG, same size",
            View::Webp => "WebP, same size",
        }
    }

    /// The `data-testid` of its thumbnail.
    pub fn test_id(self) -> &'static str {
        match self {
            View::Original => "view-original",
            View::Decoded => "view-decoded",
            View::Enhanced => "view-enhanced",
            View::Jpeg => "view-jpeg",
            View::Webp => "view-webp",
        }
    }
}

/// One picture with its quality against the original.
#[derive(Clone)]
pub struct Picture {
    /// Pixels.
    pub image: Rc<RgbImage>,
    /// PSNR-RGB and MS-SSIM against the original (none without an original).
    pub quality: Option<(f64, f64)>,
    /// A note (e.g. the JPEG's size).
    pub note: Option<String>,
}

impl Picture {
    /// A picture not measured yet.
    pub fn new(image: Rc<RgbImage>, note: Option<String>) -> Self {
        Self {
            image,
            quality: None,
            note,
        }
    }
}

/// A file the page offers for download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Download {
    /// The `.sac`.
    Sac,
    /// The enhanced PNG.
    Png,
}

/// Links the page offers.
#[derive(Clone, Default, PartialEq)]
pub struct Downloads {
    /// The `.sac` (subclass priors, SimCLR assignment) and its file name.
    pub sac: Option<(String, String)>,
    /// The enhanced PNG and its file name.
    pub png: Option<(String, String)>,
}

/// An analysed input image, kept so that a new quality level only re-codes.
pub struct Source {
    /// File name without extension.
    pub stem: String,
    /// Pixels.
    pub image: Rc<RgbImage>,
    /// μ and SimCLR subclass of every patch.
    pub analysis: Analysis,
}

impl Source {
    /// The image's patch grid.
    pub fn grid(&self) -> Grid {
        self.analysis.grid
    }
}

/// Every signal of the page. `Copy`: components take it from the context.
#[derive(Clone, Copy)]
pub struct AppState {
    /// One line on what the page is doing.
    pub status: RwSignal<String>,
    /// Progress of the current stage, `(done, total)`.
    pub progress: RwSignal<Option<(f64, f64)>>,
    /// The last error, shown until the next action.
    pub error: RwSignal<Option<String>>,
    /// Notes about the input (scaled down, alpha dropped) or the backend (fell back).
    pub notices: RwSignal<Vec<String>>,
    /// The backend in use (none while loading).
    pub backend: RwSignal<Option<Backend>>,
    /// How many workers run the jobs.
    pub workers: RwSignal<usize>,
    /// Whether this browser offers WebGPU at all.
    pub webgpu_available: RwSignal<bool>,
    /// Whether a pipeline is running.
    pub busy: RwSignal<bool>,
    /// Selected quality level.
    pub quality: RwSignal<u8>,
    /// Whether to run the enhancer (slow on the CPU path).
    pub enhance: RwSignal<bool>,
    /// Quality levels of the loaded weights.
    pub levels: RwSignal<usize>,
    /// The subclass map.
    pub map: RwSignal<MapData, LocalStorage>,
    /// Sizes of the files.
    pub rates: RwSignal<Option<Rates>>,
    /// The pictures.
    pub pictures: RwSignal<Vec<(View, Picture)>, LocalStorage>,
    /// Stage timings in ms, in pipeline order.
    pub timings: RwSignal<Vec<(&'static str, f64)>>,
    /// Download links.
    pub downloads: RwSignal<Downloads>,
    /// The subclass picked in the legend (its patches highlighted, its gallery shown).
    pub selected: RwSignal<Option<u8>>,
    /// The photo's rate–distortion curve, as far as it is drawn.
    pub curve: RwSignal<PhotoCurve>,
    /// Digest of the coded latents and ids (what `sacodec info --json` prints for the file).
    pub digest: RwSignal<Option<String>>,
    /// Weights as fetched (kept to move to another backend without fetching again).
    pub weights: StoredValue<Option<Rc<Vec<u8>>>, LocalStorage>,
    /// The workers, with the networks loaded.
    pub pool: StoredValue<Option<Rc<Pool>>, LocalStorage>,
    /// The analysed input.
    pub source: StoredValue<Option<Rc<Source>>, LocalStorage>,
    /// A file given before the networks were ready: its name and bytes.
    pub pending: StoredValue<Option<(String, Vec<u8>)>, LocalStorage>,
    /// Object URLs handed out, one per [`Download`] (revoked when replaced).
    pub urls: StoredValue<[Option<gloo_file::ObjectUrl>; 2], LocalStorage>,
    /// Bumped by every new run: a run that sees another number stops.
    pub generation: StoredValue<u64>,
}

impl AppState {
    /// Fresh state.
    pub fn new() -> Self {
        Self {
            status: RwSignal::new("Loading…".into()),
            progress: RwSignal::new(None),
            error: RwSignal::new(None),
            notices: RwSignal::new(Vec::new()),
            backend: RwSignal::new(None),
            workers: RwSignal::new(0),
            webgpu_available: RwSignal::new(false),
            busy: RwSignal::new(true),
            quality: RwSignal::new(3),
            enhance: RwSignal::new(true),
            levels: RwSignal::new(0),
            map: RwSignal::new_local(MapData::default()),
            rates: RwSignal::new(None),
            pictures: RwSignal::new_local(Vec::new()),
            timings: RwSignal::new(Vec::new()),
            downloads: RwSignal::new(Downloads::default()),
            selected: RwSignal::new(None),
            curve: RwSignal::new(PhotoCurve::default()),
            digest: RwSignal::new(None),
            weights: StoredValue::new_local(None),
            pool: StoredValue::new_local(None),
            source: StoredValue::new_local(None),
            pending: StoredValue::new_local(None),
            urls: StoredValue::new_local([None, None]),
            generation: StoredValue::new(0),
        }
    }

    /// Starts a new run: later awaits of older runs see [`AppState::current`] false.
    pub fn next_run(&self) -> u64 {
        self.generation.update_value(|g| *g += 1);
        self.error.set(None);
        self.generation.get_value()
    }

    /// Whether run `generation` is still the latest.
    pub fn current(&self, generation: u64) -> bool {
        self.generation.get_value() == generation
    }

    /// Records a stage's time.
    pub fn time(&self, stage: &'static str, ms: f64) {
        self.timings.update(|t| {
            t.retain(|(s, _)| *s != stage);
            t.push((stage, ms));
        });
    }

    /// Adds a note for the person (the input was changed, the backend fell back…).
    pub fn notice(&self, text: impl Into<String>) {
        self.notices.update(|n| n.push(text.into()));
    }

    /// Offers `bytes` for download as `name`, in place of the file of that kind before (whose
    /// URL is revoked).
    pub fn offer(&self, what: Download, bytes: &[u8], name: String) {
        let mime = match what {
            Download::Sac => "application/octet-stream",
            Download::Png => "image/png",
        };
        let url = (self.urls)
            .try_update_value(|u| web::object_url(&mut u[what as usize], bytes, mime))
            .expect("urls");
        self.downloads.update(|d| match what {
            Download::Sac => d.sac = Some((url, name)),
            Download::Png => d.png = Some((url, name)),
        });
    }

    /// Sets (or replaces) a picture.
    pub fn set_picture(&self, view: View, picture: Picture) {
        self.pictures.update(|p| {
            p.retain(|(v, _)| *v != view);
            p.push((view, picture));
        });
    }
}
