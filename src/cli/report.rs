//! The report of `sacodec eval`: Bjøntegaard delta rates ([`bd_rate`]) against the published
//! anchors (`results/anchors.json`) and the matched JPEG (`crate::jpeg`), a Markdown summary
//! and a rate–distortion plot.

use crate::measures::Means;
use sacodec::metrics::{Curve, Marker, Plot, Series, bd_rate};
use serde::{Deserialize, Serialize};

/// The published reference points, embedded in the binary.
const ANCHORS_JSON: &str = include_str!("../../results/anchors.json");

/// Published rate–distortion points and where they come from.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Anchors {
    /// The data set the points were measured on.
    pub dataset: String,
    /// Where the numbers were taken from.
    pub source: String,
    /// What the two coordinates are.
    pub metric: String,
    /// One curve per codec.
    pub curves: Vec<AnchorCurve>,
}

/// One published codec: `[bpp, PSNR-RGB dB]` points.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AnchorCurve {
    /// The codec's name.
    pub name: String,
    /// `[bpp, PSNR-RGB]` pairs.
    pub points: Vec<[f64; 2]>,
}

/// The embedded anchors.
pub fn anchors() -> Anchors {
    serde_json::from_str(ANCHORS_JSON).expect("results/anchors.json is valid")
}

impl From<&AnchorCurve> for Curve {
    fn from(a: &AnchorCurve) -> Self {
        Curve::new(a.name.clone(), a.points.iter().map(|p| (p[0], p[1])))
    }
}

/// One BD-rate: `curve` against `reference`.
#[derive(Serialize, Clone, Debug)]
pub struct BdEntry {
    /// The curve measured.
    pub curve: String,
    /// The curve it is measured against.
    pub reference: String,
    /// BD-rate in percent; `None` (`null`) when it cannot be computed.
    pub percent: Option<f64>,
}

/// The BD-rate of every curve of `ours` against every curve of `references`.
pub fn bd_table(ours: &[Curve], references: &[Curve]) -> Vec<BdEntry> {
    ours.iter()
        .flat_map(|c| {
            references.iter().map(move |r| BdEntry {
                curve: c.name.clone(),
                reference: r.name.clone(),
                percent: bd_rate(&r.points, &c.points),
            })
        })
        .collect()
}

/// What the Markdown report says about how it was made.
pub struct Provenance<'a> {
    /// The title, e.g. `Kodak (24 images)`.
    pub title: &'a str,
    /// The command line that produced the report.
    pub command: &'a str,
    /// The weights' fingerprint (16 hex digits).
    pub fingerprint: &'a str,
    /// The weights' description.
    pub description: &'a str,
    /// Whether the weights are trained.
    pub trained: bool,
}

/// A Markdown report: the per-level means (`means`, as `eval` computes them), the BD-rates
/// and the anchors' source.
pub fn markdown(p: &Provenance, means: &[Means], bd: &[BdEntry], anchors: &Anchors) -> String {
    let mut s = format!("# {}\n\n", p.title);
    if !p.trained {
        s += "**Untrained seeded weights: these numbers say nothing about the trained codec.**\n\n";
    }
    // (header, value, decimals).
    type Column = (&'static str, fn(&Means) -> Option<f64>, usize);
    let columns: [Column; 24] = [
        ("q", |m| Some(m.quality.into()), 0),
        ("bpp global", |m| Some(m.metrics.bpp_global), 4),
        (
            "bpp subclass SimCLR",
            |m| Some(m.metrics.bpp_subclass_simclr),
            4,
        ),
        (
            "bpp subclass rate-opt.",
            |m| Some(m.metrics.bpp_subclass_rate),
            4,
        ),
        (
            "info bpp SimCLR",
            |m| Some(m.metrics.info_bpp_subclass_simclr),
            4,
        ),
        ("saving %", |m| Some(m.metrics.saving_percent()), 2),
        ("bpp context SimCLR", |m| m.metrics.bpp_context_simclr, 4),
        ("bpp context rate-opt.", |m| m.metrics.bpp_context_rate, 4),
        (
            "context saving %",
            |m| m.metrics.context_saving_percent(),
            2,
        ),
        (
            "context vs global %",
            |m| Some(100.0 * (1.0 - m.metrics.bpp_context_simclr? / m.metrics.bpp_global)),
            2,
        ),
        ("PSNR ceiling", |m| Some(m.metrics.psnr_ceiling), 2),
        ("PSNR dec", |m| Some(m.metrics.psnr_decoded), 2),
        ("MS-SSIM dec", |m| Some(m.metrics.ms_ssim_decoded), 4),
        ("PSNR enh", |m| m.metrics.psnr_enhanced, 2),
        ("MS-SSIM enh", |m| m.metrics.ms_ssim_enhanced, 4),
        ("seam dB dec", |m| Some(m.metrics.seam_db_decoded), 2),
        ("seam dB enh", |m| m.metrics.seam_db_enhanced, 2),
        ("JPEG q", |m| Some(m.metrics.jpeg_quality), 1),
        ("JPEG bpp", |m| Some(m.metrics.jpeg_bpp), 4),
        ("JPEG PSNR", |m| Some(m.metrics.jpeg_psnr), 2),
        ("JPEG MS-SSIM", |m| Some(m.metrics.jpeg_ms_ssim), 4),
        ("enc s", |m| Some(m.metrics.encode_s), 3),
        ("dec s", |m| Some(m.metrics.decode_s), 3),
        ("enh s", |m| m.metrics.enhance_s, 3),
    ];
    s += "Means over the images per quality level. bpp = 8 × bytes / pixels of real files; \
          saving = subclass (SimCLR) against global prior; context saving = subclass priors \
          with context against without (SimCLR ids both), context vs global = the same against \
          the global prior (ids included throughout); PSNR ceiling = the image decoded \
          from the unquantized latents μ (no rounding, no enhancer): what the autoencoder \
          reaches at any rate, so a level close to it is limited by the networks, not the \
          rate; seam dB = the squared error of the 2-px band along the 32-px patches' \
          borders over the interior's (0: no seams); JPEG = the `image` crate's encoder \
          at the quality (1–100) whose bpp is closest to the default `.sac` file's (context, \
          SimCLR ids; without context priors, subclass), per image.\n\n";
    s += &table_row(columns.iter().map(|c| c.0.to_string()));
    s += &table_row(columns.iter().map(|_| "---:".to_string()));
    for m in means {
        s += &table_row(columns.iter().map(|&(_, value, decimals)| {
            let v = value(m).filter(|v| v.is_finite());
            v.map_or("–".to_string(), |v| format!("{v:.decimals$}"))
        }));
    }

    s += "\n## BD-rate\n\nBjøntegaard delta rate (PSNR-RGB), % bits against the reference at \
          equal quality (negative: fewer bits); cubic fit of log10(bpp) against PSNR over the \
          shared PSNR range; n/a: fewer than 4 points or no PSNR overlap.\n\n";
    let mut curves: Vec<&str> = Vec::new();
    let mut references: Vec<&str> = Vec::new();
    for e in bd {
        if !curves.contains(&e.curve.as_str()) {
            curves.push(&e.curve);
        }
        if !references.contains(&e.reference.as_str()) {
            references.push(&e.reference);
        }
    }
    s += &table_row(
        std::iter::once("curve \\ reference".to_string())
            .chain(references.iter().map(|r| r.to_string())),
    );
    s += &table_row(
        std::iter::once("---".to_string()).chain(references.iter().map(|_| "---:".to_string())),
    );
    for c in &curves {
        s += &table_row(
            std::iter::once(c.to_string()).chain(references.iter().map(|r| {
                bd.iter()
                    .find(|e| e.curve == *c && e.reference == *r)
                    .and_then(|e| e.percent)
                    .map_or("n/a".to_string(), |v| format!("{v:+.2} %"))
            })),
        );
    }

    let names: Vec<&str> = anchors.curves.iter().map(|c| c.name.as_str()).collect();
    s += &format!(
        "\n## Provenance\n\n- Anchors ({}; {}): {}\n- Produced by `{}`\n- Weights: `{}` — {}\n",
        names.join(", "),
        anchors.metric,
        anchors.source,
        p.command,
        p.fingerprint,
        p.description
    );
    s
}

/// One Markdown table row.
fn table_row(cells: impl Iterator<Item = String>) -> String {
    format!("| {} |\n", cells.collect::<Vec<_>>().join(" | "))
}

/// An SVG plot of PSNR-RGB against bpp: `ours` with circles, `references` with triangles.
pub fn plot_svg(title: &str, ours: &[Curve], references: &[Curve]) -> String {
    let series = (ours.iter().map(|c| Series::of(c, Marker::Circle)))
        .chain(references.iter().map(|c| Series::of(c, Marker::Triangle)));
    Plot {
        title: title.into(),
        size: (900, 600),
        series: series.collect(),
        marked: None,
    }
    .to_svg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measures::Metrics;

    #[test]
    fn anchors_parse_and_bd_rates_match_exact_arithmetic() {
        let a = anchors();
        assert!(a.source.contains("CompressAI"));
        let curves: Vec<Curve> = a.curves.iter().map(Curve::from).collect();
        assert_eq!(curves.len(), 3);
        let find = |name: &str| curves.iter().find(|c| c.name.contains(name)).unwrap();
        // Reference values: the same method in exact rational arithmetic (Python fractions).
        let pairs = [
            ("JPEG", "WebP", -38.669_739_535),
            ("JPEG", "bmshj2018", -45.758_088_913),
            ("WebP", "bmshj2018", -9.151_014_574),
        ];
        for (reference, test, expected) in pairs {
            let bd = bd_rate(&find(reference).points, &find(test).points).unwrap();
            assert!((bd - expected).abs() < 1e-6, "{test} vs {reference}: {bd}");
        }
    }

    #[test]
    fn markdown_and_plot_render() {
        let curve = vec![(0.2, 27.0), (0.4, 30.0), (0.7, 32.5), (1.1, 35.0)];
        let ours = vec![Curve::new("ours", curve)];
        let refs: Vec<Curve> = anchors().curves.iter().map(Curve::from).collect();
        let bd = bd_table(&ours, &refs);
        let means = vec![Means {
            quality: 0,
            metrics: Metrics {
                bpp_global: 0.5,
                bpp_subclass_simclr: 0.4,
                bpp_subclass_rate: f64::NAN,
                ..Metrics::default()
            },
        }];
        let p = Provenance {
            title: "Test (1 images)",
            command: "sacodec eval x",
            fingerprint: "0123456789abcdef",
            description: "test",
            trained: false,
        };
        let md = markdown(&p, &means, &bd, &anchors());
        assert!(md.contains("| 0 | 0.5000 | 0.4000 | – |"), "{md}");
        assert!(md.contains("20.00"), "saving: {md}");
        assert!(md.contains("`sacodec eval x`"));
        let svg = plot_svg("Test (1 images)", &ours, &refs);
        assert!(svg.starts_with("<svg") && svg.contains("Test (1 images)"));
    }
}
