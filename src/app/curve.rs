//! The photo's whole curve. After a photo's first result the page codes it at every other
//! level in the background (the encoder ran once: only coding, decoding and the enhancer
//! repeat), has the browser encode it as JPEG and WebP at several qualities, and plots PSNR
//! against bpp — the plot `sacodec eval` draws for a folder ([`sacodec::metrics::Plot`]). A
//! click on a level's point codes the photo at that level. A newer run stops the drawing; a
//! new level of the same photo only fills in what is missing.

use leptos::ev;
use leptos::prelude::*;
use sacodec::jobs::{Job, Reconstruction, Reply, Rgb, Stop};
use sacodec::metrics::{self, Curve, Marker, Plot, Point, Series};
use wasm_bindgen::JsCast;

use crate::pipeline;
use crate::stages::{self, run_jobs, still, unexpected};
use crate::state::{AppState, Source, View};
use crate::web::BrowserEncoder;

/// The browser's encoders the curve samples, and their names.
const BROWSER: [(&str, &str); 2] = [("image/jpeg", "JPEG"), ("image/webp", "WebP")];
/// The encoder qualities (0–1) each is sampled at.
const QUALITIES: [f64; 7] = [0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9];

/// One level of the photo: the size of its file and the PSNR of what decodes from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelPoint {
    /// Bits per pixel of the file offered for download.
    pub bpp: f64,
    /// PSNR-RGB of the decoded image, dB.
    pub decoded: f64,
    /// PSNR-RGB of the enhanced image (none where the enhancer did not run).
    pub enhanced: Option<f64>,
}

/// The photo's curve as far as it is drawn.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PhotoCurve {
    /// Each level's point, once coded.
    pub levels: Vec<Option<LevelPoint>>,
    /// The browser's JPEG and WebP (in [`BROWSER`]'s order): `(bpp, PSNR)` at each quality
    /// the browser could encode; empty until sampled.
    pub browser: Vec<Curve>,
    /// What the drawing is doing, or why it stopped.
    pub note: String,
}

impl PhotoCurve {
    /// Sets `level`'s point.
    fn record(&mut self, level: u8, point: LevelPoint) {
        let level = level as usize;
        if self.levels.len() <= level {
            self.levels.resize(level + 1, None);
        }
        self.levels[level] = Some(point);
    }

    /// Records the level the page shows: its file's size and the PSNRs the page measured.
    pub fn record_shown(&mut self, st: &AppState, level: u8) {
        let psnr = |view| {
            st.pictures.with_untracked(|p| {
                p.iter()
                    .find(|(v, _)| *v == view)
                    .and_then(|(_, p)| p.quality.map(|q| q.0))
            })
        };
        let (Some(rates), Some(decoded)) = (st.rates.get_untracked(), psnr(View::Decoded)) else {
            return;
        };
        let point = LevelPoint {
            bpp: rates.bpp(rates.file()),
            decoded,
            enhanced: psnr(View::Enhanced),
        };
        self.record(level, point);
    }

    /// Whether `level` is still to be coded (or, with `enhanced`, enhanced).
    fn needs(&self, level: u8, enhanced: bool) -> bool {
        match self.levels.get(level as usize) {
            Some(Some(p)) => enhanced && p.enhanced.is_none(),
            _ => true,
        }
    }

    /// Says, for the best of sacodec's curves, how many more or fewer bits it needs than each
    /// of the browser's codecs at equal PSNR (the BD-rate, where the curves overlap).
    fn bd_rates(&self) -> String {
        let ours = |psnr: fn(&LevelPoint) -> Option<f64>| {
            let points = self.levels.iter().flatten();
            points
                .filter_map(|p| Some((p.bpp, psnr(p)?)))
                .collect::<Vec<_>>()
        };
        let (enhanced, decoded) = (ours(|p| p.enhanced), ours(|p| Some(p.decoded)));
        let (name, ours) = match enhanced.len() == decoded.len() {
            true => ("enhanced", Curve::new("", enhanced)),
            false => ("decoded", Curve::new("", decoded)),
        };
        let rates: Vec<String> = (self.browser.iter())
            .filter_map(|b| {
                let bd = metrics::bd_rate(&b.points, &ours.points)?;
                Some(format!("{bd:+.1} % against the {}", b.name))
            })
            .collect();
        match rates.is_empty() {
            true => String::new(),
            false => format!(
                " Bits sacodec ({name}) needs for the same PSNR (BD-rate): {}.",
                rates.join(", ")
            ),
        }
    }

    /// The plot, with `current`'s point ringed; none before the first point.
    pub fn plot(&self, current: u8) -> Option<Plot> {
        let ours = self.levels.iter().enumerate();
        let ours = |name: &str, psnr: fn(&LevelPoint) -> Option<f64>| Series {
            name: name.into(),
            points: (ours.clone())
                .filter_map(|(q, p)| {
                    let p = p.as_ref()?;
                    Some(Point {
                        bpp: p.bpp,
                        psnr: psnr(p)?,
                        level: Some(q as u8),
                    })
                })
                .collect(),
            marker: Marker::Circle,
        };
        let mut series = vec![
            ours("sacodec, enhanced", |p| p.enhanced),
            ours("sacodec, decoded", |p| Some(p.decoded)),
        ];
        // The browser's curves as far right as ours go, and a little further.
        let right = 1.5 * series[1].points.iter().map(|p| p.bpp).fold(0.0, f64::max);
        for (curve, marker) in self.browser.iter().zip([Marker::Triangle, Marker::Square]) {
            let mut s = Series::of(curve, marker);
            s.points.retain(|p| p.bpp <= right);
            series.push(s);
        }
        series.retain(|s| !s.points.is_empty());
        if series.is_empty() {
            return None;
        }
        let marked = self.levels.get(current as usize).copied().flatten();
        Some(Plot {
            title: "This photo: PSNR against bits per pixel".into(),
            size: (600, 400),
            series,
            marked: marked.map(|p| (p.bpp, p.enhanced.unwrap_or(p.decoded))),
        })
    }
}

/// Draws the rest of the photo's curve after run `generation`'s result (nothing for a
/// `.sac`, which has no original), until done or a newer run starts.
pub async fn fill(st: AppState, generation: u64) {
    let Some(source) = st.source.get_value() else {
        return;
    };
    let note = match draw(st, generation, &source).await {
        Ok(()) => format!(
            "Every level coded; the browser's {} at {} qualities each.{} Click a level's point \
             to see it.",
            BROWSER.map(|b| b.1).join(" and "),
            QUALITIES.len(),
            st.curve.with_untracked(PhotoCurve::bd_rates)
        ),
        Err(Stop::Stale) => return,
        Err(Stop::Failed(e) | Stop::Lost(e)) => format!("The curve stopped: {e}"),
    };
    st.curve.update(|c| c.note = note);
}

async fn draw(st: AppState, generation: u64, source: &Source) -> Result<(), Stop> {
    let grid = source.grid();
    if st.curve.with_untracked(|c| c.browser.is_empty()) {
        st.curve
            .update(|c| c.note = "Sampling the browser's JPEG and WebP…".into());
        let encoder = BrowserEncoder::new(&source.image)?;
        let mut files = Vec::new();
        for (i, (mime, _)) in BROWSER.iter().enumerate() {
            for q in QUALITIES {
                let Some(bytes) = encoder.encode(mime, q).await? else {
                    break;
                };
                still(&st, generation)?;
                files.push((i, bytes));
            }
        }
        let original = Rgb::from((*source.image).clone());
        let jobs = (files.iter())
            .map(|(_, bytes)| Job::Measure {
                original: original.clone(),
                picture: Reconstruction::File(bytes.clone()),
            })
            .collect();
        let mut psnr = vec![f64::NAN; files.len()];
        run_jobs(st, generation, "measuring", jobs, |i, reply| {
            let Reply::Measured { psnr: db, .. } = reply else {
                return Err(unexpected(reply));
            };
            psnr[i] = db;
            Ok(())
        })
        .await?;
        let browser = BROWSER.iter().enumerate().map(|(i, (_, name))| {
            let points = (files.iter().zip(&psnr))
                .filter(|((k, _), _)| *k == i)
                .map(|((_, bytes), &db)| (sacodec::bpp(bytes.len(), grid), db));
            Curve::new(format!("browser {name}"), points)
        });
        st.curve.update(|c| c.browser = browser.collect());
    }
    let levels = st.levels.get_untracked() as u8;
    for q in 0..levels {
        let enhanced = stages::enhances(&st, q);
        if !st.curve.with_untracked(|c| c.needs(q, enhanced)) {
            continue;
        }
        st.curve.update(|c| {
            c.note = format!(
                "Coding level {q} in the background (levels 0–{})…",
                levels - 1
            )
        });
        let (file, _, content) = stages::code(st, generation, source, q).await?;
        let (planar, decoded) = stages::decode(st, generation, &content, |_| ()).await?;
        let enhanced = match enhanced {
            true => Some(stages::enhance(st, generation, &planar, grid, q, true, |_, _| ()).await?),
            false => None,
        };
        let point = LevelPoint {
            bpp: sacodec::bpp(file.len(), grid),
            decoded: metrics::psnr(&source.image, &decoded),
            enhanced: enhanced.map(|e| metrics::psnr(&source.image, &e)),
        };
        still(&st, generation)?;
        st.curve.update(|c| c.record(q, point));
    }
    Ok(())
}

/// The photo's curve; a click on a level's point codes the photo at that level.
#[component]
pub fn CurvePanel() -> impl IntoView {
    let st = expect_context::<AppState>();
    let svg = move || {
        let current = st.quality.get();
        st.curve
            .with(|c| c.plot(current).map(|p| p.to_svg()))
            .unwrap_or_default()
    };
    let click = move |e: ev::MouseEvent| {
        let level = (e.target())
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|el| el.closest("[data-level]").ok().flatten())
            .and_then(|el| el.get_attribute("data-level")?.parse::<u8>().ok());
        if let Some(q) = level
            && q != st.quality.get_untracked()
        {
            st.quality.set(q);
            pipeline::recode(st);
        }
    };
    view! {
        <section class="card curve-card" class:empty=move || st.curve.with(|c| c.levels.is_empty())>
            <h2>"This photo at every level"</h2>
            <div class="curve" data-testid="curve-plot" on:click=click inner_html=svg></div>
            <p class="small" data-testid="curve-status">{move || st.curve.with(|c| c.note.clone())}</p>
        </section>
    }
}
