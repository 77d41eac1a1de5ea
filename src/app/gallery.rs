//! What a subclass is: the subclass picked in the legend, shown as its patches from this
//! photo, their bits, and what its prior expects of each latent channel beside the global
//! prior (a worker reads the priors: [`Job::Prior`]). The map highlights its patches.

use image::{Rgb, RgbImage};
use leptos::html::Canvas;
use leptos::prelude::*;
use sacodec::jobs::{Job, Reply};
use sacodec::model::PATCH;

use crate::stages::{self, unexpected};
use crate::state::{AppState, MapData};
use crate::web;

/// The most patches the gallery shows, and how many a row.
const SHOWN: usize = 48;
const PER_ROW: usize = 12;

/// The patches of subclass `k` (up to [`SHOWN`], in raster order) side by side, 2 px apart,
/// and how many it has in all.
fn patches_of(d: &MapData, k: u8) -> Option<(RgbImage, usize)> {
    let (base, grid) = (d.base.as_ref()?, d.grid()?);
    let chosen: Vec<usize> = (d.ids.iter().enumerate())
        .filter(|&(_, &id)| id == k)
        .map(|(i, _)| i)
        .collect();
    let shown = chosen.len().min(SHOWN);
    if shown == 0 {
        return None;
    }
    let (cols, rows) = (shown.min(PER_ROW), shown.div_ceil(PER_ROW));
    let step = PATCH as u32 + 2;
    let mut out = RgbImage::from_pixel(
        cols as u32 * step - 2,
        rows as u32 * step - 2,
        Rgb([255, 255, 255]),
    );
    for (n, &i) in chosen.iter().take(shown).enumerate() {
        let (x0, y0) = (
            (i % grid.cols() * PATCH) as u32,
            (i / grid.cols() * PATCH) as u32,
        );
        let (ox, oy) = ((n % PER_ROW) as u32 * step, (n / PER_ROW) as u32 * step);
        // Patches on the right and bottom edges overhang the image: their pixels stop there.
        for y in 0..(PATCH as u32).min(base.height() - y0) {
            for x in 0..(PATCH as u32).min(base.width() - x0) {
                out.put_pixel(ox + x, oy + y, *base.get_pixel(x0 + x, y0 + y));
            }
        }
    }
    Some((out, chosen.len()))
}

/// Bars of the bits each channel costs under the subclass's prior less under the global one:
/// below the line (blue) where the subclass expects the channel quieter.
fn channel_bars(subclass: &[f32], global: &[f32]) -> String {
    let diff: Vec<f32> = subclass.iter().zip(global).map(|(s, g)| s - g).collect();
    let most = diff.iter().fold(0.5f32, |m, d| m.max(d.abs()));
    let (w, h, bar) = (6.0 * diff.len() as f32, 90.0, 6.0);
    let mid = h / 2.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" preserveAspectRatio=\"xMinYMid meet\" \
         data-testid=\"channel-bars\"><line x1=\"0\" y1=\"{mid}\" x2=\"{w}\" y2=\"{mid}\" \
         stroke=\"#999\"/>"
    );
    for (c, &d) in diff.iter().enumerate() {
        let len = d.abs() / most * (mid - 2.0);
        let (y, colour) = if d < 0.0 {
            (mid, "#1f77b4")
        } else {
            (mid - len, "#d62728")
        };
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{len:.1}\" fill=\"{colour}\">\
             <title>channel {c}: {:.2} bits under this subclass, {:.2} under the global prior\
             </title></rect>",
            c as f32 * bar + 0.5,
            bar - 1.0,
            subclass[c],
            global[c],
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The channels the subclass expects quietest against the global prior, most saved first.
fn quietest(subclass: &[f32], global: &[f32], count: usize) -> String {
    let mut order: Vec<usize> = (0..subclass.len()).collect();
    order.sort_by(|&a, &b| (subclass[a] - global[a]).total_cmp(&(subclass[b] - global[b])));
    (order.into_iter().take(count))
        .filter(|&c| subclass[c] < global[c])
        .map(|c| format!("{c} ({:+.1})", subclass[c] - global[c]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The prior of subclass `k` at `quality`, beside the global one (bits per channel each).
async fn prior(st: AppState, quality: u8, k: u8) -> Result<(Vec<f32>, Vec<f32>), String> {
    let generation = st.generation.get_value();
    let job = Job::Prior {
        quality,
        subclass: k,
    };
    match stages::run_one(st, generation, "prior", job).await {
        Ok(Reply::Prior { subclass, global }) => Ok((subclass, global)),
        Ok(other) => Err(unexpected(other).why()),
        Err(stop) => Err(stop.why()),
    }
}

/// The subclass picked in the legend: its patches here, and its prior.
#[component]
pub fn Gallery() -> impl IntoView {
    let st = expect_context::<AppState>();
    let canvas = NodeRef::<Canvas>::new();
    let count = RwSignal::new(0usize);
    // Shown at twice their pixel size (narrower where the page is).
    let width = RwSignal::new(0u32);
    Effect::new(move |_| {
        let Some(k) = st.selected.get() else { return };
        let drawn = st.map.with(|d| patches_of(d, k));
        count.set(drawn.as_ref().map_or(0, |d| d.1));
        if let (Some(c), Some((img, _))) = (canvas.get(), drawn) {
            web::draw_rgba(&c, &web::rgba(&img), img.width(), img.height());
            width.set(2 * img.width());
        }
    });
    let bits_here = move || {
        let k = st.selected.get()?;
        st.map.with(|d| {
            let bits: Vec<f32> = (d.ids.iter().zip(&d.bits))
                .filter(|&(&id, _)| id == k)
                .map(|(_, &b)| b)
                .collect();
            (!bits.is_empty()).then(|| bits.iter().sum::<f32>() / bits.len() as f32)
        })
    };
    let described = LocalResource::new(move || {
        let (selected, quality) = (st.selected.get(), st.quality.get());
        async move {
            match selected {
                Some(k) => prior(st, quality, k).await.map(Some),
                None => Ok(None),
            }
        }
    });
    let prior_view = move || {
        Suspend::new(async move {
            match described.await {
                Ok(Some((subclass, global))) => {
                    let (s, g) = (subclass.iter().sum::<f32>(), global.iter().sum::<f32>());
                    let quiet = quietest(&subclass, &global, 5);
                    view! {
                        <p class="small" data-testid="gallery-prior">
                            {format!(
                                "At quality {}, its prior expects {s:.0} bits a patch on average (its \
                                 entropy), the global prior {g:.0}. Quietest channels against the \
                                 global prior (bits): {}.",
                                st.quality.get_untracked(),
                                if quiet.is_empty() { "none".into() } else { quiet },
                            )}
                        </p>
                        <div class="channel-bars" inner_html=channel_bars(&subclass, &global)></div>
                        <p class="small">
                            "Each bar: a latent channel's bits under this subclass's prior less \
                             under the global one; blue, quieter."
                        </p>
                    }
                    .into_any()
                }
                Ok(None) => ().into_any(),
                Err(e) => view! { <p class="small">{format!("Its prior: {e}")}</p> }.into_any(),
            }
        })
    };
    view! {
        <Show when=move || st.selected.get().is_some()>
            <div class="gallery" data-testid="gallery">
                <h3>
                    {move || format!("Subclass {}", st.selected.get().unwrap_or_default())}
                    <button class="close" on:click=move |_| st.selected.set(None)>"×"</button>
                </h3>
                <p class="small" data-testid="gallery-count">
                    {move || {
                        let n = count.get();
                        let shown = n.min(SHOWN);
                        let bits = bits_here().map_or(String::new(), |b| format!(", {b:.0} bits each on average"));
                        format!("{n} patches in this photo{bits}; {shown} shown.")
                    }}
                </p>
                <canvas class="patches" data-testid="gallery-patches" node_ref=canvas
                    style:width=move || format!("{}px", width.get())></canvas>
                <Suspense fallback=|| view! { <p class="small">"Reading its prior…"</p> }>
                    {prior_view}
                </Suspense>
            </div>
        </Show>
    }
}
