//! What the page does with an image or a `.sac`: the codec's stages batch by batch, each
//! followed by a turn of the browser's event loop, so the map fills in and the page never
//! freezes. Every stage is timed; a newer run makes an older one stop at its next batch.

use std::rc::Rc;

use image::RgbImage;
use leptos::prelude::*;
use sacodec::codec::format;
use sacodec::codec::patches;
use sacodec::codec::{Decoded, ThreeWays, latents_digest};
use sacodec::model::{ENHANCE_TILE, LATENT_LEN};
use sacodec::{Codec, Error, PriorMode, metrics};

use crate::engine::{self, Backend};
use crate::state::{AppState, Downloads, MapData, Picture, Rates, Source, View};
use crate::web::{self, Origin, now_ms, yield_now};

/// Enhancer tile side on the CPU path (each tile blocks the page while it runs).
const CPU_TILE: usize = 128;
/// Longer sides above this are scaled down (the page says so).
pub const MAX_SIDE: u32 = 1536;

/// Why a run ended early.
enum Stop {
    /// A newer run started: stop quietly.
    Stale,
    /// The compute device failed (a lost GPU): the run can go on on the CPU.
    Device(String),
    /// An error to show.
    Failed(String),
}

impl From<String> for Stop {
    fn from(e: String) -> Self {
        Stop::Failed(e)
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        match e {
            Error::Device(_) => Stop::Device(e.to_string()),
            e => Stop::Failed(e.to_string()),
        }
    }
}

fn still(st: &AppState, generation: u64) -> Result<(), Stop> {
    st.current(generation).then_some(()).ok_or(Stop::Stale)
}

/// Between two batches of a stage: a turn of the browser's event loop, and a stop if a newer
/// run started meanwhile.
async fn step(st: AppState, generation: u64) -> Result<(), Stop> {
    still(&st, generation)?;
    yield_now().await;
    still(&st, generation)
}

/// Fetches the weights, picks WebGPU when the browser gives a hardware adapter (else the
/// CPU) and warms the networks up.
pub async fn start(st: AppState) {
    let adapter = web::webgpu_adapter().await;
    st.webgpu_available.set(adapter.is_some());
    let t = now_ms();
    st.status.set("Downloading weights…".into());
    let fetched = engine::fetch_weights(|got, total| {
        let total = total.unwrap_or(got.max(1));
        st.progress.set(Some((got as f64, total as f64)));
        st.status.set(format!(
            "Downloading weights: {:.1} of {:.1} MB",
            got as f64 / 1e6,
            total as f64 / 1e6
        ));
    })
    .await;
    let (bytes, origin) = match fetched {
        Ok(f) => f,
        Err(e) => {
            st.busy.set(false);
            st.progress.set(None);
            st.status.set("The weights could not be loaded.".into());
            st.error.set(Some(e));
            return;
        }
    };
    st.time("weights", now_ms() - t);
    match origin {
        Origin::Cache => st
            .notices
            .update(|n| n.push("Weights read from this browser's cache: none downloaded.".into())),
        Origin::Refetched => st.notices.update(|n| {
            n.push(
                "The weights cached in this browser failed their check: evicted and downloaded \
                 again."
                    .into(),
            )
        }),
        Origin::Network => {}
    }
    st.weights.set_value(Some(Rc::new(bytes)));
    let first = match adapter {
        Some((false, _)) => Backend::WebGpu,
        Some((true, name)) => {
            st.notices.update(|n| {
                n.push(format!(
                    "This browser's WebGPU is a software fallback ({name}), slower than the CPU \
                     path: using the CPU (the switch above tries it)."
                ))
            });
            Backend::Cpu
        }
        None => Backend::Cpu,
    };
    if let Err(e) = switch_backend(st, first).await
        && first == Backend::WebGpu
    {
        st.notices
            .update(|n| n.push(format!("WebGPU unavailable ({e}); using the CPU.")));
        if let Err(e) = switch_backend(st, Backend::Cpu).await {
            st.error.set(Some(e));
        }
    }
}

/// Loads the weights onto `backend` and warms it up; on failure the previous backend stays.
pub async fn switch_backend(st: AppState, backend: Backend) -> Result<(), String> {
    let Some(weights) = st.weights.get_value() else {
        return Err("the weights are not loaded".into());
    };
    let generation = st.next_run();
    st.busy.set(true);
    st.status
        .set(format!("Preparing the networks on {}…", backend.label()));
    let t = now_ms();
    let loaded = async {
        let device = engine::device(backend).await?;
        engine::load(&weights, &device).await
    }
    .await;
    st.busy.set(false);
    st.progress.set(None);
    let codec = match loaded {
        Ok(c) => c,
        Err(e) => {
            st.status.set(match st.backend.get_untracked() {
                Some(old) => format!("Ready (still on {}).", old.label()),
                None => format!("The networks could not be prepared on {}.", backend.label()),
            });
            return Err(e);
        }
    };
    st.time("warm-up", now_ms() - t);
    st.levels.set(codec.bundle().levels.len());
    st.quality
        .update(|q| *q = (*q).min(codec.bundle().levels.len() as u8 - 1));
    st.codec.set_value(Some(Rc::new(codec)));
    st.backend.set(Some(backend));
    st.status
        .set("Ready: drop a photo, paste one, pick a file or a sample.".into());
    // A file given while the page was loading is coded now; else what is on screen is re-run
    // with the new backend.
    if let Some((name, bytes)) = st.pending.try_update_value(Option::take).flatten() {
        open(st, name, bytes);
    } else if st.current(generation) && st.source.get_value().is_some() {
        recode(st);
    }
    Ok(())
}

/// Runs a stage of the pipeline, showing its error; a failed GPU switches to the CPU and
/// tries once more.
fn launch<F, Fut>(st: AppState, job: F)
where
    F: Fn(AppState, u64) -> Fut + 'static,
    Fut: Future<Output = Result<(), Stop>> + 'static,
{
    leptos::task::spawn_local(async move {
        let generation = st.next_run();
        st.busy.set(true);
        let mut outcome = job(st, generation).await;
        if let Err(Stop::Device(e)) = &outcome
            && st.backend.get_untracked() == Some(Backend::WebGpu)
        {
            st.notices
                .update(|n| n.push(format!("The GPU failed ({e}); switched to the CPU.")));
            outcome = match switch_backend(st, Backend::Cpu).await {
                Ok(()) => job(st, st.next_run()).await,
                Err(e) => Err(Stop::Failed(e)),
            };
        }
        match outcome {
            Err(Stop::Stale) => return,
            Err(Stop::Failed(e) | Stop::Device(e)) => {
                st.error.set(Some(e));
                st.status
                    .set("Stopped by an error (see above); the page still works.".into());
            }
            Ok(()) => st.status.set("Done.".into()),
        }
        st.busy.set(false);
        st.progress.set(None);
    });
}

/// A dropped, picked or pasted file: a `.sac` is decoded, anything else read as an image.
/// Before the networks are ready the file is kept (the latest one) and opened once they are.
pub fn open(st: AppState, name: String, bytes: Vec<u8>) {
    if st.codec.with_value(Option::is_none) {
        st.notices.update(|n| {
            n.push(format!(
                "{name} will be coded as soon as the networks are ready."
            ))
        });
        st.pending.set_value(Some((name, bytes)));
        return;
    }
    let bytes = Rc::new(bytes);
    let name = Rc::new(name);
    launch(st, move |st, generation| {
        let (name, bytes) = (name.clone(), bytes.clone());
        async move {
            if bytes.starts_with(&format::MAGIC) {
                open_sac(st, generation, &name, &bytes).await
            } else {
                compress(st, generation, &name, &bytes).await
            }
        }
    });
}

/// Codes the current image again (a new quality level or backend).
pub fn recode(st: AppState) {
    if st.source.get_value().is_some() {
        launch(st, code);
    }
}

fn codec(st: &AppState) -> Result<Rc<Codec>, Stop> {
    st.codec
        .get_value()
        .ok_or_else(|| Stop::Failed("the networks are not ready yet".into()))
}

fn clear(st: &AppState) {
    st.rates.set(None);
    st.digest.set(None);
    st.pictures.set(Vec::new());
    st.timings
        .update(|t| t.retain(|(s, _)| matches!(*s, "weights" | "warm-up")));
    st.downloads.set(Downloads::default());
}

fn stem(name: &str) -> String {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    if stem.is_empty() {
        "image".into()
    } else {
        stem.into()
    }
}

async fn compress(st: AppState, generation: u64, name: &str, bytes: &[u8]) -> Result<(), Stop> {
    let codec = codec(&st)?;
    let t = now_ms();
    let loaded = sacodec::image_io::load_image(bytes)?;
    let mut notices = loaded.notes;
    let mut img = loaded.image;
    let (w, h) = img.dimensions();
    img = sacodec::image_io::fit_within(img, MAX_SIDE);
    let (nw, nh) = img.dimensions();
    if (nw, nh) != (w, h) {
        notices.push(format!(
            "Scaled down from {w}×{h} to {nw}×{nh} (the page codes at most {MAX_SIDE} px a side)."
        ));
    }
    let img = Rc::new(img);
    st.source.set_value(None);
    clear(&st);
    st.notices.set(notices);
    st.time("load", now_ms() - t);
    st.set_picture(
        View::Original,
        Picture {
            image: img.clone(),
            quality: None,
            note: None,
        },
    );
    st.map.set(MapData {
        base: Some(img.clone()),
        subclasses: codec.bundle().subclasses(),
        ..MapData::default()
    });

    let t = now_ms();
    let analysis = codec
        .analyse_with(&img, |ids, done, total| {
            st.map.update(|d| d.ids.extend(ids));
            st.progress.set(Some((done as f64, total as f64)));
            st.status.set(format!(
                "Encoding and assigning subclasses: {done} of {total} patches"
            ));
            step(st, generation)
        })
        .await?;
    st.time("encode", now_ms() - t);
    st.source.set_value(Some(Rc::new(Source {
        stem: stem(name),
        image: img,
        analysis,
    })));
    code(st, generation).await
}

/// Codes the analysed image three ways at the selected quality, then decodes the SimCLR
/// file (the one offered for download) and enhances it.
async fn code(st: AppState, generation: u64) -> Result<(), Stop> {
    let codec = codec(&st)?;
    let source = st
        .source
        .get_value()
        .ok_or_else(|| Stop::Failed("no image".into()))?;
    let quality = st.quality.get_untracked();
    let t = now_ms();
    let ThreeWays {
        simclr,
        global,
        rate_optimal: rate,
    } = codec.encode_three_ways(&source.analysis, quality)?;
    st.time("code", now_ms() - t);
    let grid = source.analysis.grid;
    st.rates.set(Some(Rates {
        grid,
        global: global.bytes.len(),
        simclr: simclr.bytes.len(),
        rate_optimal: rate.bytes.len(),
    }));
    st.digest
        .set(Some(latents_digest(&simclr.latents, simclr.ids.as_deref())));
    let sac_url = st
        .urls
        .try_update_value(|u| web::object_url(&mut u[0], &simclr.bytes, "application/octet-stream"))
        .expect("urls");
    st.downloads.update(|d| {
        d.sac = Some((sac_url, format!("{}-q{quality}.sac", source.stem)));
        d.png = None;
    });

    // Decode the real file, as a receiver would.
    let decoded = codec.read(&simclr.bytes)?;
    show_ids(&st, &codec, &decoded);
    decode(st, generation, &codec, decoded, Some(&source)).await
}

/// Puts a decoded file's subclasses and per-patch bits on the map.
fn show_ids(st: &AppState, codec: &Codec, decoded: &Decoded) {
    let level = codec
        .level(decoded.header.quality)
        .expect("read checked the level");
    let ids = decoded.ids.clone().unwrap_or_default();
    let bits = decoded
        .latents
        .chunks(LATENT_LEN)
        .enumerate()
        .map(|(i, z)| level.patch_bits(z, ids.get(i).copied()) as f32)
        .collect();
    st.map.update(|d| {
        d.ids = ids;
        d.bits = bits;
    });
}

async fn open_sac(st: AppState, generation: u64, name: &str, bytes: &[u8]) -> Result<(), Stop> {
    let codec = codec(&st)?;
    let t = now_ms();
    let decoded = codec.read(bytes)?;
    st.time("read", now_ms() - t);
    st.source.set_value(None);
    clear(&st);
    let h = &decoded.header;
    let grid = decoded.grid();
    st.notices.set(vec![format!(
        "Opened {name}: {}×{} px, {} bytes ({:.3} bpp), quality {}, {} prior.",
        h.width,
        h.height,
        bytes.len(),
        sacodec::bpp(bytes.len(), grid),
        h.quality,
        if h.mode == PriorMode::Global {
            "global"
        } else {
            "subclass"
        },
    )]);
    st.quality.set(h.quality);
    st.digest.set(Some(latents_digest(
        &decoded.latents,
        decoded.ids.as_deref(),
    )));
    st.map.set(MapData {
        subclasses: codec.bundle().subclasses(),
        ..MapData::default()
    });
    let stem = stem(name);
    let sac = st
        .urls
        .try_update_value(|u| web::object_url(&mut u[0], bytes, "application/octet-stream"))
        .expect("urls");
    st.downloads.set(Downloads {
        sac: Some((sac, format!("{stem}.sac"))),
        png: None,
    });
    decode(st, generation, &codec, decoded, None).await
}

/// Decoder, stitching, enhancer and (with an original) the JPEG of the same size.
async fn decode(
    st: AppState,
    generation: u64,
    codec: &Codec,
    decoded: Decoded,
    source: Option<&Source>,
) -> Result<(), Stop> {
    let grid = decoded.grid();
    let quality = decoded.header.quality;
    let t = now_ms();
    let planar = codec
        .reconstruct_with(&decoded, |done, total| {
            st.progress.set(Some((done as f64, total as f64)));
            st.status
                .set(format!("Decoding: {done} of {total} patches"));
            step(st, generation)
        })
        .await?;
    let decoded_img = Rc::new(patches::crop_to_rgb8(&planar, grid));
    st.time("decode", now_ms() - t);
    let original = source.map(|s| s.image.clone());
    let picture = |image: Rc<RgbImage>, note| Picture {
        quality: original
            .as_ref()
            .map(|o| (metrics::psnr(o, &image), metrics::ms_ssim(o, &image))),
        image,
        note,
    };
    st.set_picture(View::Decoded, picture(decoded_img.clone(), None));
    if source.is_none() {
        st.map.update(|d| d.base = Some(decoded_img.clone()));
        show_ids(&st, codec, &decoded);
    }

    if let Some(source) = source {
        let size = st.rates.get_untracked().map_or(0, |r| r.simclr);
        for (view, mime, name, stage) in [
            (View::Jpeg, "image/jpeg", "JPEG", "JPEG"),
            (View::Webp, "image/webp", "WebP", "WebP"),
        ] {
            st.status
                .set(format!("Encoding the browser's {name} at the same size…"));
            let t = now_ms();
            let encoded = web::encode_at_most(&source.image, mime, size).await?;
            still(&st, generation)?;
            st.time(stage, now_ms() - t);
            let note = match encoded {
                web::Encoded::Fits(bytes) => {
                    let image = image::load_from_memory(&bytes).map_err(|e| e.to_string())?;
                    let note = format!("{} bytes (the .sac: {size})", bytes.len());
                    st.set_picture(view, picture(Rc::new(image.into_rgb8()), Some(note)));
                    continue;
                }
                web::Encoded::TooLarge => format!(
                    "The browser's lowest-quality {name} is larger than the .sac ({size} bytes)."
                ),
                web::Encoded::Unsupported => format!("This browser cannot encode {name}."),
            };
            st.notices.update(|n| n.push(note));
        }
    }
    let level_enhances = codec.bundle().enhances(quality);
    if !level_enhances {
        st.notices.update(|n| {
            n.push(format!(
                "The enhancer is off at quality {quality}: on held-out images it does not \
                 improve what these weights decode there."
            ))
        });
    }
    if !st.enhance.get_untracked() || !level_enhances {
        st.pictures
            .update(|p| p.retain(|(v, _)| *v != View::Enhanced));
        return Ok(());
    }
    let t = now_ms();
    // Smaller tiles on the CPU: the page gets a turn more often.
    let tile = match st.backend.get_untracked() {
        Some(Backend::WebGpu) => ENHANCE_TILE,
        _ => CPU_TILE,
    };
    let enhanced = codec
        .enhance_with(&planar, grid, quality, tile, |done, tiles| {
            st.progress.set(Some((done as f64, tiles as f64)));
            st.status.set(format!("Enhancing: tile {done} of {tiles}"));
            step(st, generation)
        })
        .await?;
    let enhanced = Rc::new(patches::crop_to_rgb8(&enhanced, grid));
    st.time("enhance", now_ms() - t);
    st.set_picture(View::Enhanced, picture(enhanced.clone(), None));
    let mut png = std::io::Cursor::new(Vec::new());
    enhanced
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    let png_url = st
        .urls
        .try_update_value(|u| web::object_url(&mut u[1], png.get_ref(), "image/png"))
        .expect("urls");
    let name = source.map_or_else(|| "decoded".to_string(), |s| s.stem.clone());
    st.downloads
        .update(|d| d.png = Some((png_url, format!("{name}-enhanced.png"))));

    Ok(())
}
