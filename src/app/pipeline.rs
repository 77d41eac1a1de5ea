//! What the page does with an image or a `.sac`. Each stage of the codec is cut into jobs
//! (`crate::stages`) that the workers of the pool run in parallel; the main thread only draws
//! what comes back, as it arrives. Every stage is timed; a newer run makes an older one stop
//! at its next job. After a photo's first result its whole curve is drawn (`crate::curve`).
//! The backend it runs on is `crate::backend`'s; the pictures are measured by `crate::measure`.

use std::rc::Rc;

use image::RgbImage;
use leptos::prelude::*;
use sacodec::codec::format;
use sacodec::codec::patches::Grid;
use sacodec::jobs::{Analysing, FileContent, Job, Reconstruction, Reply, Stop};

use crate::curve::{self, PhotoCurve};
use crate::measure;
use crate::stages::{self, run_jobs, run_one, unexpected};
use crate::state::{AppState, Download, Downloads, MapData, Picture, Rates, Source, View};
use crate::web::now_ms;

/// Longer sides above this are scaled down (the page says so).
pub const MAX_SIDE: u32 = 1536;

/// Runs a stage of the pipeline (saying `what` it does at once), showing its error.
fn launch<F, Fut>(st: AppState, what: String, job: F)
where
    F: FnOnce(AppState, u64) -> Fut + 'static,
    Fut: Future<Output = Result<(), Stop>> + 'static,
{
    leptos::task::spawn_local(async move {
        let generation = st.next_run();
        st.busy.set(true);
        st.status.set(what);
        let outcome = job(st, generation).await;
        match &outcome {
            Err(Stop::Stale) => return,
            Err(Stop::Failed(e) | Stop::Lost(e)) => {
                st.error.set(Some(e.clone()));
                st.status
                    .set("Stopped by an error (see above); the page still works.".into());
            }
            Ok(()) => st.status.set("Done.".into()),
        }
        st.busy.set(false);
        st.progress.set(None);
        if outcome.is_ok() {
            // What the result does not wait for: the sizes with rate-optimal ids (the slowest
            // coding, which held a worker back from the enhancer), then the photo's curve.
            match rate_optimal(st, generation).await {
                Err(Stop::Stale) => return,
                Err(Stop::Failed(e) | Stop::Lost(e)) => st.notice(format!(
                    "The sizes with rate-optimal subclasses were not coded: {e}"
                )),
                Ok(()) => {}
            }
            curve::fill(st, generation).await;
        }
    });
}

/// Says at once that a file is being read (its bytes arrive later), so that neither the last
/// run's "Done." nor its error stays on screen meanwhile.
pub fn reading(st: AppState, name: &str) {
    if st.pool.with_value(Option::is_some) {
        st.error.set(None);
        st.status.set(format!("Reading {name}…"));
    }
}

/// A dropped, picked or pasted file: a `.sac` is decoded, anything else read as an image.
/// Before the networks are ready the file is kept (the latest one) and opened once they are.
pub fn open(st: AppState, name: String, bytes: Vec<u8>) {
    if st.pool.with_value(Option::is_none) {
        st.notice(format!(
            "{name} will be coded as soon as the networks are ready."
        ));
        st.pending.set_value(Some((name, bytes)));
        return;
    }
    launch(
        st,
        format!("Reading {name}…"),
        move |st, generation| async move {
            if bytes.starts_with(&format::MAGIC) {
                open_sac(st, generation, &name, bytes).await
            } else {
                compress(st, generation, &name, bytes).await
            }
        },
    );
}

/// Codes the current image again (a new quality level or backend).
pub fn recode(st: AppState) {
    if st.source.get_value().is_some() {
        let what = format!("Coding at quality {}…", st.quality.get_untracked());
        launch(st, what, code);
    }
}

fn clear(st: &AppState) {
    st.rates.set(None);
    st.digest.set(None);
    st.pictures.set(Vec::new());
    st.timings
        .update(|t| t.retain(|(s, _)| matches!(*s, "weights" | "networks")));
    st.downloads.set(Downloads::default());
    st.curve.set(PhotoCurve::default());
    st.selected.set(None);
}

fn stem(name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    if stem.is_empty() {
        "image".into()
    } else {
        stem.into()
    }
}

fn subclasses(st: &AppState) -> usize {
    st.pool
        .with_value(|p| p.as_ref().map_or(0, |p| p.bundle.subclasses as usize))
}

async fn compress(st: AppState, generation: u64, name: &str, file: Vec<u8>) -> Result<(), Stop> {
    let t = now_ms();
    let job = Job::Open {
        file,
        max_side: MAX_SIDE,
    };
    let Reply::Opened { image, notes } = run_one(st, generation, "open", job).await? else {
        return Err(Stop::Failed("the image was not opened".into()));
    };
    let img = Rc::new(RgbImage::try_from(image)?);
    st.source.set_value(None);
    clear(&st);
    st.notices.set(notes);
    st.time("load", now_ms() - t);
    st.set_picture(View::Original, Picture::new(img.clone(), None));
    st.map.set(MapData {
        base: Some(img.clone()),
        subclasses: subclasses(&st),
        ..MapData::default()
    });

    let t = now_ms();
    let grid = Grid::new(img.width(), img.height());
    let (mut analysing, jobs) = Analysing::new(&img);
    run_jobs(st, generation, "encoding", jobs, |i, reply| {
        analysing.put(i, reply)?;
        // The map fills in raster order.
        st.map.update(|d| d.ids = analysing.leading_ids());
        let patches = analysing.patches_done();
        st.progress.set(Some((patches as f64, grid.len() as f64)));
        st.status.set(format!(
            "Encoding and assigning subclasses: {patches} of {} patches",
            grid.len()
        ));
        Ok(())
    })
    .await?;
    st.time("encode", now_ms() - t);
    st.source.set_value(Some(Rc::new(Source {
        stem: stem(name),
        image: img,
        analysis: analysing.finish()?,
    })));
    code(st, generation).await
}

/// Codes the analysed image every way at the selected quality, then decodes the file offered
/// for download (with context where the weights have it) as a receiver would, and enhances it.
async fn code(st: AppState, generation: u64) -> Result<(), Stop> {
    let source = st
        .source
        .get_value()
        .ok_or_else(|| Stop::Failed("no image".into()))?;
    let quality = st.quality.get_untracked();
    let t = now_ms();
    let (file, sizes, content) = stages::code(st, generation, &source, quality).await?;
    st.time("code", now_ms() - t);
    st.rates.set(Some(Rates {
        grid: source.grid(),
        sizes,
    }));
    st.digest.set(Some(content.digest.clone()));
    st.downloads.set(Downloads::default());
    st.offer(
        Download::Sac,
        &file,
        format!("{}-q{quality}.sac", source.stem),
    );
    show_ids(&st, &content);
    decode(st, generation, content, Some(&source)).await?;
    st.curve.update(|c| c.record_shown(&st, quality));
    Ok(())
}

/// Puts a file's subclasses and per-patch bits on the map.
fn show_ids(st: &AppState, content: &FileContent) {
    st.map.update(|d| {
        d.ids = content.ids.clone();
        d.bits = content.bits.clone();
        d.saved = content.saved.clone();
    });
}

async fn open_sac(st: AppState, generation: u64, name: &str, file: Vec<u8>) -> Result<(), Stop> {
    let t = now_ms();
    let size = file.len();
    let stem = stem(name);
    let job = Job::Read { file: file.clone() };
    let reply = run_one(st, generation, "reading", job).await?;
    let Reply::Read(content) = reply else {
        return Err(unexpected(reply));
    };
    st.time("read", now_ms() - t);
    st.source.set_value(None);
    clear(&st);
    let grid = content.grid;
    st.notices.set(vec![format!(
        "Opened {name}: {}×{} px, {size} bytes ({:.3} bpp), quality {}, {} prior.",
        grid.width,
        grid.height,
        sacodec::bpp(size, grid),
        content.quality,
        content.mode.name(),
    )]);
    st.quality.set(content.quality);
    st.digest.set(Some(content.digest.clone()));
    st.map.set(MapData {
        subclasses: subclasses(&st),
        ..MapData::default()
    });
    st.offer(Download::Sac, &file, format!("{stem}.sac"));
    decode(st, generation, content, None).await
}

/// Decoder and stitching; then the enhancer and (with an original) the browser's JPEG and WebP
/// of the same size, together; then every picture's PSNR and MS-SSIM and the enhanced PNG.
async fn decode(
    st: AppState,
    generation: u64,
    content: FileContent,
    source: Option<&Source>,
) -> Result<(), Stop> {
    let grid = content.grid;
    let quality = content.quality;
    let t = now_ms();
    let (planar, decoded_img) = stages::decode(st, generation, &content, |decoded| {
        st.progress.set(Some((decoded as f64, grid.len() as f64)));
        st.status
            .set(format!("Decoding: {decoded} of {} patches", grid.len()));
    })
    .await?;
    let decoded_img = Rc::new(decoded_img);
    st.time("decode", now_ms() - t);
    st.set_picture(View::Decoded, Picture::new(decoded_img.clone(), None));
    if source.is_none() {
        st.map.update(|d| d.base = Some(decoded_img.clone()));
        show_ids(&st, &content);
    }

    // The browser's JPEG and WebP are searched on the main thread while the workers enhance.
    if source.is_some() {
        st.status
            .set("Encoding the browser's JPEG and WebP at the same size…".into());
    }
    let (browser, enhanced) = futures::join!(
        measure::browser_codecs(st, generation, source),
        enhance(st, generation, &planar, grid, quality)
    );
    // The pictures to measure against the original, measured together at the end.
    let mut pictures = vec![(
        View::Decoded,
        Reconstruction::Pixels((*decoded_img).clone().into()),
        None,
    )];
    pictures.extend(browser?);
    let enhanced = enhanced?;
    if let Some(image) = &enhanced {
        pictures.push((
            View::Enhanced,
            Reconstruction::Pixels((**image).clone().into()),
            None,
        ));
    }

    let stem = source.map_or_else(|| "decoded".to_string(), |s| s.stem.clone());
    measure::pictures(st, generation, source, pictures, enhanced.as_deref(), &stem).await
}

/// The sizes of the photo's files with rate-optimal ids at the level shown, into the bitrates
/// (none for a `.sac`, which has no photo).
async fn rate_optimal(st: AppState, generation: u64) -> Result<(), Stop> {
    let Some(source) = st.source.get_value() else {
        return Ok(());
    };
    let quality = st.quality.get_untracked();
    let t = now_ms();
    let job = Job::RateOptimal {
        analysis: source.analysis.clone(),
        quality,
    };
    let Reply::RateOptimal { subclass, context } = run_one(st, generation, "coding", job).await?
    else {
        return Err(Stop::Failed("the rate-optimal files were not coded".into()));
    };
    st.time("rate-optimal", now_ms() - t);
    st.rates.update(|r| {
        if let Some(r) = r {
            r.sizes.rate_optimal = Some(subclass);
            r.sizes.context_rate_optimal = context;
        }
    });
    Ok(())
}

/// The enhancer on the decoded `planar` image, tile by tile on the workers (none where it is
/// off).
async fn enhance(
    st: AppState,
    generation: u64,
    planar: &[f32],
    grid: Grid,
    quality: u8,
) -> Result<Option<Rc<RgbImage>>, Stop> {
    if !stages::enhances(&st, quality) {
        if st.enhance.get_untracked() {
            st.notice(format!(
                "The enhancer is off at quality {quality}: on held-out images it does not \
                 improve what these weights decode there."
            ));
        }
        st.pictures
            .update(|p| p.retain(|(v, _)| *v != View::Enhanced));
        return Ok(None);
    }
    let t = now_ms();
    let image = stages::enhance(
        st,
        generation,
        planar,
        grid,
        quality,
        false,
        |done, tiles| {
            st.progress.set(Some((done as f64, tiles as f64)));
            st.status.set(format!("Enhancing: {done} of {tiles} tiles"));
        },
    )
    .await?;
    let image = Rc::new(image);
    st.time("enhance", now_ms() - t);
    st.set_picture(View::Enhanced, Picture::new(image.clone(), None));
    Ok(Some(image))
}
