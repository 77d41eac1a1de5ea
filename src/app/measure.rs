//! The pictures measured against the original: the browser's JPEG and WebP at the `.sac`'s
//! size, then every picture's PSNR and MS-SSIM and the enhanced PNG, on the workers.

use std::rc::Rc;

use image::RgbImage;
use leptos::prelude::*;
use sacodec::jobs::{self, Job, Reconstruction, Reply, Stop};

use crate::stages::{run_jobs, still, unexpected};
use crate::state::{AppState, Download, Picture, Source, View};
use crate::web::{self, now_ms};

/// A picture to measure: where it shows, its pixels or file, and a note under it.
pub type ToMeasure = (View, Reconstruction, Option<String>);

/// The browser's JPEG and WebP of `source` at no more than the `.sac`'s size, to measure.
pub async fn browser_codecs(
    st: AppState,
    generation: u64,
    source: Option<&Source>,
) -> Result<Vec<ToMeasure>, Stop> {
    let mut measure = Vec::new();
    if let Some(source) = source {
        let size = st.rates.get_untracked().map_or(0, |r| r.file());
        let encoder = web::BrowserEncoder::new(&source.image)?;
        for (view, mime, name) in [
            (View::Jpeg, "image/jpeg", "JPEG"),
            (View::Webp, "image/webp", "WebP"),
        ] {
            let t = now_ms();
            let encoded = encoder.at_most(mime, size).await?;
            still(&st, generation)?;
            st.time(name, now_ms() - t);
            match encoded {
                web::Encoded::Fits(bytes) => {
                    let note = format!("{} bytes (the .sac: {size})", bytes.len());
                    measure.push((view, Reconstruction::File(bytes), Some(note)));
                }
                web::Encoded::TooLarge => st.notice(format!(
                    "The browser's lowest-quality {name} is larger than the .sac ({size} \
                     bytes)."
                )),
                web::Encoded::Unsupported => {
                    st.notice(format!("This browser cannot encode {name}."))
                }
            }
        }
    }
    Ok(measure)
}

/// Every picture's quality against the original (a `.sac` opened alone has none) and the
/// enhanced PNG to download, on all workers.
pub async fn pictures(
    st: AppState,
    generation: u64,
    source: Option<&Source>,
    pictures: Vec<ToMeasure>,
    enhanced: Option<&RgbImage>,
    stem: &str,
) -> Result<(), Stop> {
    let t = now_ms();
    let original = source.map(|s| jobs::Rgb::from((*s.image).clone()));
    let mut views = Vec::new();
    let mut jobs = Vec::new();
    if let Some(original) = &original {
        for (view, picture, note) in pictures {
            views.push((view, note));
            jobs.push(Job::Measure {
                original: original.clone(),
                picture,
            });
        }
    }
    if let Some(image) = enhanced {
        jobs.push(Job::Png {
            image: image.clone().into(),
        });
    }
    st.status.set("Measuring the pictures…".into());
    st.progress.set(None);
    run_jobs(st, generation, "measuring", jobs, |i, reply| {
        match reply {
            Reply::Measured {
                psnr,
                ms_ssim,
                decoded,
            } => {
                let (view, note) = views[i].clone();
                let quality = Some((psnr, ms_ssim));
                match decoded {
                    Some(rgb) => {
                        let image = Rc::new(RgbImage::try_from(rgb)?);
                        let mut picture = Picture::new(image, note);
                        picture.quality = quality;
                        st.set_picture(view, picture);
                    }
                    None => st.pictures.update(|p| {
                        if let Some((_, p)) = p.iter_mut().find(|(v, _)| *v == view) {
                            p.quality = quality;
                        }
                    }),
                }
            }
            Reply::Png(png) => st.offer(Download::Png, &png, format!("{stem}-enhanced.png")),
            other => return Err(unexpected(other)),
        }
        Ok(())
    })
    .await?;
    st.time("measure", now_ms() - t);
    Ok(())
}
