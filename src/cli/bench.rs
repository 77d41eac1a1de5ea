//! `sacodec bench`: the codec's stages for one image on one device, warm, median of N runs.
//!
//! The same library calls the CLI and the page make (`Codec::analyse` + `encode`, `read` +
//! `reconstruct`, `enhance`), each timed up to its result back in host memory. `--device
//! vulkan` (a build with the `vulkan` feature) runs burn-wgpu natively on Vulkan: the kernels
//! the page runs on WebGPU.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use sacodec::codec::patches;
use sacodec::{Assignment, CompressOptions, PriorMode, image_io};
use serde::Serialize;

/// Arguments of `sacodec bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Image to code (default: the page's 768×512 parrots sample, `www/samples/kodim23.png`).
    image: Option<PathBuf>,
    /// Where the networks run.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Timed runs after one warm-up run.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Quality level.
    #[arg(short, long, default_value_t = 2)]
    quality: u8,
    /// Prior (default: what `compress` uses, context where the weights have it).
    #[arg(long, value_enum)]
    prior: Option<PriorMode>,
    /// Subclass assignment (as `compress --assign`).
    #[arg(long, value_enum, default_value_t = Assignment::SimClr)]
    assign: Assignment,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// A device `bench` can run on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// burn's CPU backend (flex), every core.
    Cpu,
    /// burn-wgpu on Vulkan (needs `--features vulkan` and a Vulkan driver).
    Vulkan,
}

impl DeviceChoice {
    fn device(self) -> Result<Device, String> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "vulkan")]
            DeviceChoice::Vulkan => Ok(Device::vulkan(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "vulkan"))]
            DeviceChoice::Vulkan => {
                Err("this build has no Vulkan: build with `--features vulkan`".into())
            }
        }
    }
}

/// One stage's times over the runs.
#[derive(Serialize)]
pub struct StageTimes {
    /// The stage.
    pub stage: &'static str,
    /// Median, in milliseconds.
    pub median_ms: f64,
    /// Fastest run.
    pub min_ms: f64,
    /// Slowest run.
    pub max_ms: f64,
}

/// What `bench` measured.
#[derive(Serialize)]
pub struct BenchReport {
    /// The device.
    pub device: DeviceChoice,
    /// The image.
    pub image: String,
    /// Its size.
    pub width: u32,
    /// Its size.
    pub height: u32,
    /// The quality level.
    pub quality: u8,
    /// The prior the file was coded with.
    pub prior: &'static str,
    /// How its subclass ids were chosen.
    pub assignment: String,
    /// Timed runs.
    pub runs: usize,
    /// Size of the `.sac`.
    pub bytes: usize,
    /// `encode` (networks + entropy coding), `read` (entropy decoding alone), `decode` (entropy
    /// decoding + decoder network), `enhance`, and `end to end` (encode + decode + enhance).
    pub stages: Vec<StageTimes>,
}

/// Runs `sacodec bench`.
pub fn run(weights: Option<&Path>, args: &BenchArgs) -> Result<(), String> {
    let device = args.device.device()?;
    let codec = crate::load_codec_on(weights, &device)?;
    const SAMPLE: &str = "www/samples/kodim23.png";
    let path = args
        .image
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE));
    let img = image_io::load_image(&crate::read_file(&path)?)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .image;
    let opts = CompressOptions {
        quality: args.quality,
        mode: args.prior.unwrap_or_else(|| codec.default_mode()),
        assignment: args.assign,
    };
    let err = |e: sacodec::Error| e.to_string();
    let mut times: [Vec<f64>; 5] = Default::default();
    let mut bytes = 0;
    for run in 0..=args.runs {
        let t = Instant::now();
        let sac = codec.compress(&img, opts).map_err(err)?;
        let encode = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let decoded = codec.read(&sac.bytes).map_err(err)?;
        let read = t.elapsed().as_secs_f64() * 1e3;
        let planar = codec.reconstruct(&decoded);
        let decode = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let enhanced = codec.enhance(&planar, decoded.grid(), args.quality);
        let enhance = t.elapsed().as_secs_f64() * 1e3;
        std::hint::black_box(patches::crop_to_rgb8(&enhanced, decoded.grid()));
        bytes = sac.bytes.len();
        if run > 0 {
            // Run 0 warms up: shaders compiled, memory allocated.
            for (list, ms) in
                times
                    .iter_mut()
                    .zip([encode, read, decode, enhance, encode + decode + enhance])
            {
                list.push(ms);
            }
        }
    }
    let names = ["encode", "read", "decode", "enhance", "end to end"];
    let stages = names
        .into_iter()
        .zip(times)
        .map(|(stage, mut ms)| {
            ms.sort_by(f64::total_cmp);
            StageTimes {
                stage,
                median_ms: median(&ms),
                min_ms: ms.first().copied().unwrap_or(f64::NAN),
                max_ms: ms.last().copied().unwrap_or(f64::NAN),
            }
        })
        .collect();
    let report = BenchReport {
        device: args.device,
        image: match &args.image {
            Some(p) => p.display().to_string(),
            None => SAMPLE.into(),
        },
        width: img.width(),
        height: img.height(),
        quality: args.quality,
        prior: opts.mode.name(),
        assignment: format!("{:?}", opts.assignment),
        runs: args.runs,
        bytes,
        stages,
    };
    println!(
        "{} {}×{} at quality {}, {} prior, {} ids, on {:?}, {} runs after a warm-up ({} bytes):",
        report.image,
        report.width,
        report.height,
        report.quality,
        report.prior,
        report.assignment,
        report.device,
        report.runs,
        report.bytes
    );
    for s in &report.stages {
        println!(
            "  {:<11} median {:>9.1} ms   (min {:.1}, max {:.1})",
            s.stage, s.median_ms, s.min_ms, s.max_ms
        );
    }
    if let Some(out) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        crate::write_file(out, text.as_bytes())?;
    }
    Ok(())
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
