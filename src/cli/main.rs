//! `sacodec`: compress, decompress, inspect and evaluate `.sac` files; bundle trained weights.

mod bench;
mod eval;
mod info;
mod jpeg;
mod measures;
mod report;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sacodec::{
    Assignment, Bundle, Codec, CompressOptions, PriorMode, bpp, codec::format, image_io,
};

#[derive(Parser)]
#[command(
    name = "sacodec",
    version,
    about = "Learned image codec with subclass-aware priors"
)]
struct Cli {
    /// Weights bundle (.safetensors). Default: $SACODEC_WEIGHTS, else weights/sacodec.safetensors
    /// (in the current directory or the source tree), else the untrained seeded bundle.
    #[arg(long, global = true)]
    weights: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compress an image (PNG, JPEG, WebP, BMP, TIFF, GIF) into a .sac file.
    Compress {
        /// Input image.
        input: PathBuf,
        /// Output .sac file.
        #[arg(short, long)]
        output: PathBuf,
        /// Quality level (0 = smallest files).
        #[arg(short, long, default_value_t = 2)]
        quality: u8,
        /// Prior: one global prior, per-subclass priors, or per-subclass priors with context
        /// (the default where the weights have context priors, else subclass).
        #[arg(long, value_enum)]
        prior: Option<PriorMode>,
        /// How to pick each patch's subclass.
        #[arg(long, value_enum, default_value_t = Assignment::SimClr)]
        assign: Assignment,
    },
    /// Decompress a .sac file into a PNG.
    Decompress {
        /// Input .sac file.
        input: PathBuf,
        /// Output image (PNG).
        #[arg(short, long)]
        output: PathBuf,
        /// Skip the attention-UNet enhancer (faster; the stitched decoder output).
        #[arg(long)]
        no_enhance: bool,
    },
    /// Describe a .sac file.
    Info {
        /// Input .sac file.
        input: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate every image of a folder: bitrates under each prior, PSNR, MS-SSIM, timings.
    Eval(eval::EvalArgs),
    /// Time the codec's stages for one image on one device (warm, median of N runs).
    Bench(bench::BenchArgs),
    /// Turn the Python trainer's networks into a weights bundle: fit priors and K on folders of
    /// photographs, check the enhancer per level, record it all in the manifest.
    Train(sacodec::train::TrainConfig),
}

/// Largest input file read, in bytes.
const MAX_FILE: u64 = 512 << 20;

fn main() -> ExitCode {
    quit_on_broken_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Restores the default action of SIGPIPE (Rust ignores it, so `println!` to a closed pipe
/// panics): `sacodec info --json F | head` ends quietly, as other command-line tools do.
fn quit_on_broken_pipe() {
    #[cfg(unix)]
    {
        const SIGPIPE: i32 = 13;
        const SIG_DFL: usize = 0;
        unsafe extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        // SAFETY: `signal` with SIG_DFL installs no handler of ours; nothing else in the
        // process relies on SIGPIPE being ignored (output goes to stdout and files only).
        unsafe {
            signal(SIGPIPE, SIG_DFL);
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > MAX_FILE {
        return Err(format!(
            "{}: {len} bytes is over the {MAX_FILE}-byte input limit",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes through a temporary file and a rename, so a failure never leaves half a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("sacodec-tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads the weights the CLI was pointed at (see `--weights`) onto the CPU.
pub fn load_codec(weights: Option<&Path>) -> Result<Codec, String> {
    load_codec_on(weights, &burn::prelude::Device::flex())
}

/// The weights file the CLI uses: `weights`, else the default (see `--weights`), if any.
fn weights_path(weights: Option<&Path>) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SACODEC_WEIGHTS").map(PathBuf::from),
        Some(PathBuf::from("weights/sacodec.safetensors")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/sacodec.safetensors")),
    ];
    match weights {
        Some(p) => Some(p.to_path_buf()),
        None => candidates.into_iter().flatten().find(|p| p.is_file()),
    }
}

/// Loads the weights a `.sac` file with `header` was coded with: those the CLI was pointed at
/// or, when the default weights are not the file's, an earlier bundle kept beside them in
/// `previous/` (where a bundle goes when the shipped networks change, so that every file made
/// with it still decodes) whose fingerprint the file records. With none, the default weights:
/// decoding then says the file was made with other weights.
fn load_codec_for(weights: Option<&Path>, header: &format::Header) -> Result<Codec, String> {
    let Some(default) = weights_path(weights).filter(|_| weights.is_none()) else {
        return load_codec(weights);
    };
    // The default weights, then the earlier bundles: only the fingerprints are read until one
    // matches, and only that one's networks are built.
    let mut earlier: Vec<PathBuf> = (default.parent().map(|d| d.join("previous")))
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .into_iter()
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    earlier.sort();
    for path in std::iter::once(default).chain(earlier) {
        let bytes = read_file(&path)?;
        let fingerprints = Bundle::file_fingerprints(&bytes);
        if fingerprints.is_ok_and(|f| f.of_mode(header.mode) == header.fingerprint) {
            return Codec::from_bytes(&bytes, &burn::prelude::Device::flex())
                .map_err(|e| format!("{}: {e}", path.display()));
        }
    }
    load_codec(None)
}

/// [`load_codec`] onto `device`.
pub fn load_codec_on(
    weights: Option<&Path>,
    device: &burn::prelude::Device,
) -> Result<Codec, String> {
    match weights_path(weights) {
        // The fingerprint comes from the file: nothing is read back from the device.
        Some(p) => {
            Codec::from_bytes(&read_file(&p)?, device).map_err(|e| format!("{}: {e}", p.display()))
        }
        None => {
            eprintln!("note: no trained weights found; using the untrained seeded bundle");
            Ok(Codec::new(Bundle::seeded(device)))
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let weights = cli.weights.as_deref();
    match cli.command {
        Command::Compress {
            input,
            output,
            quality,
            prior,
            assign,
        } => {
            let loaded = image_io::load_image(&read_file(&input)?)
                .map_err(|e| format!("{}: {e}", input.display()))?;
            for note in &loaded.notes {
                eprintln!("note: {}: {note}", input.display());
            }
            let codec = load_codec(weights)?;
            let opts = CompressOptions {
                quality,
                mode: prior.unwrap_or_else(|| codec.default_mode()),
                assignment: assign,
            };
            let out = codec
                .compress(&loaded.image, opts)
                .map_err(|e| e.to_string())?;
            write_file(&output, &out.bytes)?;
            let grid =
                sacodec::codec::patches::Grid::new(loaded.image.width(), loaded.image.height());
            println!(
                "{}: {}x{} -> {} bytes, {:.4} bpp (information content {:.4} bpp)",
                output.display(),
                grid.width,
                grid.height,
                out.bytes.len(),
                bpp(out.bytes.len(), grid),
                out.information_bits / (grid.width as f64 * grid.height as f64),
            );
        }
        Command::Decompress {
            input,
            output,
            no_enhance,
        } => {
            let bytes = read_file(&input)?;
            let (header, _) =
                format::parse(&bytes).map_err(|e| format!("{}: {e}", input.display()))?;
            let codec = load_codec_for(weights, &header)?;
            let img = codec
                .decompress(&bytes, !no_enhance)
                .map_err(|e| format!("{}: {e}", input.display()))?;
            let png = sacodec::image_io::to_png(&img).map_err(|e| e.to_string())?;
            write_file(&output, &png)?;
            println!("{}: {}x{}", output.display(), img.width(), img.height());
        }
        Command::Info { input, json } => {
            let bytes = read_file(&input)?;
            let (header, _) =
                format::parse(&bytes).map_err(|e| format!("{}: {e}", input.display()))?;
            let codec = load_codec_for(weights, &header)?;
            let report = info::info(&codec, &bytes, &header);
            if json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap());
            } else {
                info::print_info(&input, &report);
            }
        }
        Command::Eval(args) => eval::run(&load_codec(weights)?, &args)?,
        Command::Train(args) => train::run(&args)?,
        Command::Bench(args) => bench::run(weights, &args)?,
    }
    Ok(())
}
