//! `sacodec eval`: every quality level of a folder of images, against JPEG and the anchors.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sacodec::codec::Analysis;
use sacodec::codec::patches;
use sacodec::metrics::{Curve, ms_ssim, psnr, seam_excess_db};
use sacodec::model::PATCH;
use sacodec::{Codec, bpp, image_io};
use serde::Serialize;

use crate::measures::{Means, Metrics};
use crate::{jpeg, report};

/// Arguments of `sacodec eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Folder of images (PNG, JPEG, WebP, BMP, TIFF, GIF).
    dir: PathBuf,
    /// Write the per-image and mean results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Quality levels to evaluate (default: all).
    #[arg(short, long)]
    quality: Vec<u8>,
    /// Skip the enhancer (faster).
    #[arg(long)]
    no_enhance: bool,
    /// Evaluate at most this many images (sorted by name).
    #[arg(long)]
    limit: Option<usize>,
    /// Write a report into this folder: `<set>.json` (as --json), `<set>.md` (tables) and
    /// `rd-<set>.svg` (PSNR against bpp), `<set>` being the image folder's name.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let files = image_io::image_files(&[dir.to_path_buf()])?;
    if files.is_empty() {
        return Err(format!("{}: no images", dir.display()));
    }
    Ok(files)
}

/// One image at one quality level.
#[derive(Serialize, Clone)]
struct Row {
    image: String,
    quality: u8,
    #[serde(flatten)]
    metrics: Metrics,
}

/// What `eval --json` and `--report` write.
#[derive(Serialize)]
struct EvalReport<'a> {
    dir: String,
    images: usize,
    model: String,
    weights_trained: bool,
    weights_description: &'a str,
    jpeg: &'static str,
    means: &'a [Means],
    rows: &'a [Row],
    curves: Curves<'a>,
    bd_rate: &'a [report::BdEntry],
    anchors: &'a report::Anchors,
}

/// Our curves and the references, as plotted.
#[derive(Serialize)]
struct Curves<'a> {
    ours: &'a [Curve],
    references: &'a [Curve],
}

/// One image, analysed once for every level.
struct Analysed {
    name: String,
    img: image::RgbImage,
    analysis: Analysis,
    analyse_s: f64,
    /// PSNR of the image decoded from the unquantized μ.
    psnr_ceiling: f64,
}

impl Analysed {
    fn new(codec: &Codec, name: String, img: image::RgbImage) -> Result<Self, String> {
        let t = Instant::now();
        let analysis = codec.analyse(&img).map_err(|e| e.to_string())?;
        let analyse_s = t.elapsed().as_secs_f64();
        let ceiling = codec.ceiling(&analysis);
        Ok(Self {
            psnr_ceiling: psnr(&img, &ceiling),
            name,
            img,
            analysis,
            analyse_s,
        })
    }
}

fn evaluate(codec: &Codec, image: &Analysed, q: u8, enhance: bool) -> Result<Row, String> {
    let Analysed {
        name,
        img,
        analysis,
        analyse_s,
        psnr_ceiling,
    } = image;
    let grid = analysis.grid;
    let pixels = grid.width as f64 * grid.height as f64;
    let t = Instant::now();
    let ways = codec
        .encode_every_way(analysis, q)
        .map_err(|e| e.to_string())?;
    let encode_s = analyse_s + t.elapsed().as_secs_f64();

    let t = Instant::now();
    let decoded = codec
        .read(&ways.default_file().bytes)
        .map_err(|e| e.to_string())?;
    let planar = codec.reconstruct(&decoded);
    let decode_s = t.elapsed().as_secs_f64();
    let out = patches::crop_to_rgb8(&planar, grid);
    let file_bpp = |c: &sacodec::codec::Compressed| bpp(c.bytes.len(), grid);
    let info_bpp = |c: &sacodec::codec::Compressed| c.information_bits / pixels;
    let mut row = Metrics {
        bpp_global: file_bpp(&ways.global),
        bpp_subclass_simclr: file_bpp(&ways.simclr),
        bpp_subclass_rate: file_bpp(&ways.rate_optimal),
        bpp_context_simclr: ways.context_simclr.as_ref().map(file_bpp),
        bpp_context_rate: ways.context_rate_optimal.as_ref().map(file_bpp),
        info_bpp_global: info_bpp(&ways.global),
        info_bpp_subclass_simclr: info_bpp(&ways.simclr),
        info_bpp_subclass_rate: info_bpp(&ways.rate_optimal),
        info_bpp_context_simclr: ways.context_simclr.as_ref().map(info_bpp),
        info_bpp_context_rate: ways.context_rate_optimal.as_ref().map(info_bpp),
        psnr_ceiling: *psnr_ceiling,
        psnr_decoded: psnr(img, &out),
        ms_ssim_decoded: ms_ssim(img, &out),
        seam_db_decoded: seam_excess_db(img, &out, PATCH),
        encode_s,
        decode_s,
        ..Metrics::default()
    };
    if enhance {
        let t = Instant::now();
        let enhanced = patches::crop_to_rgb8(&codec.enhance(&planar, grid, q), grid);
        row.enhance_s = Some(t.elapsed().as_secs_f64());
        row.psnr_enhanced = Some(psnr(img, &enhanced));
        row.ms_ssim_enhanced = Some(ms_ssim(img, &enhanced));
        row.seam_db_enhanced = Some(seam_excess_db(img, &enhanced, PATCH));
    }
    let jpeg = jpeg::match_jpeg(img, row.bpp())?;
    row.jpeg_quality = jpeg.quality.into();
    row.jpeg_bpp = jpeg.bpp;
    row.jpeg_psnr = psnr(img, &jpeg.decoded);
    row.jpeg_ms_ssim = ms_ssim(img, &jpeg.decoded);
    Ok(Row {
        image: name.clone(),
        quality: q,
        metrics: row,
    })
}

/// Runs `sacodec eval`.
pub fn run(codec: &Codec, args: &EvalArgs) -> Result<(), String> {
    let mut files = image_files(&args.dir)?;
    files.truncate(args.limit.unwrap_or(usize::MAX));
    let levels = codec.bundle().levels.len() as u8;
    let qualities: Vec<u8> = if args.quality.is_empty() {
        (0..levels).collect()
    } else {
        args.quality.clone()
    };
    for &q in &qualities {
        codec.level(q).map_err(|e| e.to_string())?;
    }
    let bar = ProgressBar::new((files.len() * qualities.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} {msg} [{elapsed_precise}<{eta_precise}]",
        )
        .unwrap(),
    );
    let mut rows = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        bar.set_message(name.clone());
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let img = image_io::load_image(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .image;
        let image = Analysed::new(codec, name, img)?;
        for &q in &qualities {
            rows.push(evaluate(codec, &image, q, !args.no_enhance)?);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let means: Vec<Means> = (qualities.iter())
        .map(|&q| {
            let at: Vec<&Metrics> = (rows.iter().filter(|r| r.quality == q))
                .map(|r| &r.metrics)
                .collect();
            Means::of(q, &at)
        })
        .collect();
    print_means(&means);
    let anchors = report::anchors();
    let (ours, references) = curves(&means, &anchors);
    let bd = report::bd_table(&ours, &references);
    for e in &bd {
        let percent = e.percent.map_or("n/a".into(), |p| format!("{p:+.2} %"));
        println!("BD-rate {} against {}: {percent}", e.curve, e.reference);
    }
    if !codec.bundle().trained {
        println!("(untrained seeded weights: these numbers say nothing about the trained codec)");
    }
    let doc = EvalReport {
        dir: args.dir.display().to_string(),
        images: files.len(),
        model: format!("{:016x}", codec.fingerprints().full),
        weights_trained: codec.bundle().trained,
        weights_description: &codec.bundle().description,
        jpeg: "image crate JpegEncoder; per image and level, the quality (1-100) whose bpp is \
               closest to the default file's (bpp_context_simclr, else bpp_subclass_simclr)",
        means: &means,
        rows: &rows,
        curves: Curves {
            ours: &ours,
            references: &references,
        },
        bd_rate: &bd,
        anchors: &anchors,
    };
    let json_text = serde_json::to_string_pretty(&doc).unwrap();
    if let Some(out) = &args.json {
        crate::write_file(out, json_text.as_bytes())?;
    }
    if let Some(dir) = &args.report {
        let set = set_name(&args.dir);
        let mut title = set.clone();
        if let Some(first) = title.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        let title = format!(
            "{title} ({} image{})",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        );
        let provenance = report::Provenance {
            title: &title,
            command: &command_line(),
            fingerprint: &format!("{:016x}", codec.fingerprints().full),
            description: &codec.bundle().description,
            trained: codec.bundle().trained,
        };
        let md = report::markdown(&provenance, &means, &bd, &anchors);
        let svg = report::plot_svg(&title, &ours, &references);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        crate::write_file(&dir.join(format!("{set}.json")), json_text.as_bytes())?;
        crate::write_file(&dir.join(format!("{set}.md")), md.as_bytes())?;
        crate::write_file(&dir.join(format!("rd-{set}.svg")), svg.as_bytes())?;
    }
    Ok(())
}

/// Prints the per-level means for people.
fn print_means(means: &[Means]) {
    println!(
        "{:>3} {:>10} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8}",
        "q",
        "bpp glob",
        "bpp simclr",
        "bpp rate",
        "saving%",
        "bpp ctx",
        "bpp ctx r",
        "ctx sav%",
        "PSNR dec",
        "PSNR enh",
        "MS-SSIM",
        "JPEG bpp",
        "JPEG PSNR",
        "enc s",
        "dec s"
    );
    let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    for m in means {
        let (q, m) = (m.quality, &m.metrics);
        println!(
            "{q:>3} {:>10.4} {:>10.4} {:>10.4} {:>8.2} {:>10.4} {:>10.4} {:>8.2} {:>9.3} {:>9.3} {:>9.4} {:>8.4} {:>9.3} {:>8.3} {:>8.3}",
            m.bpp_global,
            m.bpp_subclass_simclr,
            m.bpp_subclass_rate,
            m.saving_percent(),
            nan(m.bpp_context_simclr),
            nan(m.bpp_context_rate),
            nan(m.context_saving_percent()),
            m.psnr_decoded,
            nan(m.psnr_enhanced),
            m.ms_ssim_decoded,
            m.jpeg_bpp,
            m.jpeg_psnr,
            m.encode_s,
            m.decode_s
        );
    }
}

/// Our rate–distortion curves (PSNR-RGB against the bpp of real files) and the references
/// they are measured against (JPEG at matched bpp, then the published anchors).
fn curves(means: &[Means], anchors: &report::Anchors) -> (Vec<Curve>, Vec<Curve>) {
    let curve = |name: &str, point: fn(&Metrics) -> Option<(f64, f64)>| {
        Curve::new(name, means.iter().filter_map(|m| point(&m.metrics)))
    };
    let mut ours = vec![
        curve("ours enhanced", |m| Some((m.bpp(), m.psnr_enhanced?))),
        curve("ours decoded (context)", |m| {
            Some((m.bpp_context_simclr?, m.psnr_decoded))
        }),
        curve("ours decoded (subclass)", |m| {
            Some((m.bpp_subclass_simclr, m.psnr_decoded))
        }),
        // The prior changes the bits only: the decoded image is the same.
        curve("ours decoded (global prior)", |m| {
            Some((m.bpp_global, m.psnr_decoded))
        }),
    ];
    ours.retain(|c| !c.points.is_empty());
    let mut references = vec![curve("JPEG matched (ours, image crate)", |m| {
        Some((m.jpeg_bpp, m.jpeg_psnr))
    })];
    references.extend(anchors.curves.iter().map(Curve::from));
    (ours, references)
}

/// The name of the image folder (`kodak` for `../shared/data/kodak/`).
fn set_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "eval".into())
}

/// The command line of this process, quoted for a shell where needed.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
