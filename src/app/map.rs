//! The subclass map (each 32×32 patch tinted by its subclass, by its bits, or by the bits
//! context saved it) and its legend.

use leptos::ev;
use leptos::html::Canvas;
use leptos::prelude::*;
use sacodec::model::PATCH;

use crate::gallery::Gallery;
use crate::state::{AppState, MapData};
use crate::web;

/// A distinct colour for subclass `k` (golden-ratio hues, alternating lightness).
pub fn colour(k: usize) -> [u8; 3] {
    let h = (k as f64 * 0.618_033_988_75).fract() * 6.0;
    let (s, v) = (0.75, if k.is_multiple_of(2) { 0.95 } else { 0.7 });
    let c = v * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r, g, b].map(|u| ((u + m) * 255.0).round() as u8)
}

/// A dark-blue → yellow ramp for `t` in [0, 1].
fn heat(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 4] = [
        [20., 30., 110.],
        [40., 150., 140.],
        [140., 210., 60.],
        [250., 230., 40.],
    ];
    let x = t.clamp(0.0, 1.0) * 3.0;
    let (i, f) = ((x as usize).min(2), x - (x as usize).min(2) as f32);
    std::array::from_fn(|c| (STOPS[i][c] + f * (STOPS[i + 1][c] - STOPS[i][c])) as u8)
}

/// What the map tints patches by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tint {
    /// Its subclass's colour.
    Subclass,
    /// Its bits, on a heat ramp.
    Bits,
    /// The bits context saved it (blue: none or fewer than none, yellow: the most).
    Saved,
}

/// RGBA of the map: coded patches blended half-and-half with their colour, patches not yet
/// coded dimmed; with a subclass `selected`, the patches of the others dimmed too.
fn render(d: &MapData, tint: Tint, selected: Option<u8>) -> Option<(Vec<u8>, u32, u32)> {
    let base = d.base.as_ref()?;
    let grid = d.grid()?;
    let (w, h) = base.dimensions();
    let max_bits = d.bits.iter().copied().fold(1.0f32, f32::max);
    let max_saved = d.saved.iter().copied().fold(1.0f32, f32::max);
    let mut out = web::rgba(base);
    for y in 0..h as usize {
        for x in 0..w as usize {
            let i = (y / PATCH) * grid.cols() + x / PATCH;
            let px = &mut out[4 * (y * w as usize + x)..][..3];
            let other = selected.is_some_and(|k| d.ids.get(i) != Some(&k));
            let tint = match tint {
                _ if other => None,
                Tint::Subclass => d.ids.get(i).map(|&k| colour(k as usize)),
                Tint::Bits => d.bits.get(i).map(|&b| heat(b / max_bits)),
                Tint::Saved => d.saved.get(i).map(|&b| heat(b / max_saved)),
            };
            match tint {
                Some(t) => px
                    .iter_mut()
                    .zip(t)
                    .for_each(|(p, t)| *p = ((*p as u16 + t as u16) / 2) as u8),
                None => px.iter_mut().for_each(|p| *p = (*p as u16 * 2 / 5) as u8),
            }
            // Patch borders.
            if x % PATCH == 0 || y % PATCH == 0 {
                px.iter_mut().for_each(|p| *p = (*p as u16 * 3 / 4) as u8);
            }
        }
    }
    Some((out, w, h))
}

/// The map canvas, with a hover read-out and what to tint by.
#[component]
pub fn SubclassMap() -> impl IntoView {
    let st = expect_context::<AppState>();
    let canvas = NodeRef::<Canvas>::new();
    let tint = RwSignal::new(Tint::Subclass);
    let hover = RwSignal::new(None::<usize>);
    Effect::new(move |_| {
        let (tint, selected) = (tint.get(), st.selected.get());
        let drawn = st.map.with(|d| render(d, tint, selected));
        if let (Some(c), Some((rgba, w, h))) = (canvas.get(), drawn) {
            web::draw_rgba(&c, &rgba, w, h);
        }
    });
    let moved = move |e: ev::MouseEvent| {
        let Some(c) = canvas.get() else { return };
        let Some(grid) = st.map.with_untracked(|d| d.grid()) else {
            return;
        };
        let (cw, ch) = (
            c.client_width().max(1) as f64,
            c.client_height().max(1) as f64,
        );
        let x = e.offset_x() as f64 * c.width() as f64 / cw;
        let y = e.offset_y() as f64 * c.height() as f64 / ch;
        let (col, row) = (x as usize / PATCH, y as usize / PATCH);
        hover.set((col < grid.cols() && row < grid.rows()).then(|| row * grid.cols() + col));
    };
    let readout = move || {
        let i = hover.get()?;
        st.map.with(|d| {
            let grid = d.grid()?;
            let (col, row) = (i % grid.cols(), i / grid.cols());
            let k = d.ids.get(i).map_or("–".into(), |k| k.to_string());
            let b = d.bits.get(i).map_or("–".into(), |b| format!("{b:.0}"));
            let saved = d
                .saved
                .get(i)
                .map_or(String::new(), |s| format!(" ({s:.0} saved by context)"));
            Some(format!(
                "patch ({col}, {row}): subclass {k}, {b} bits{saved}"
            ))
        })
    };
    view! {
        <div class="map-tools">
            <label>
                "Tint: "
                <select data-testid="map-tint" on:change=move |e| {
                    tint.set(match event_target_value(&e).as_str() {
                        "bits" => Tint::Bits,
                        "saved" => Tint::Saved,
                        _ => Tint::Subclass,
                    })
                }>
                    <option value="subclass">"subclass"</option>
                    <option value="bits">"bits per patch"</option>
                    <option value="saved" disabled=move || st.map.with(|d| d.saved.is_empty())>
                        "bits saved by context"
                    </option>
                </select>
            </label>
            <span class="readout" data-testid="map-readout">{readout}</span>
        </div>
        <canvas
            data-testid="subclass-map"
            class="map"
            node_ref=canvas
            on:mousemove=moved
            on:mouseleave=move |_| hover.set(None)
        ></canvas>
    }
}

/// Colour, patch count, share and mean bits of each subclass present.
#[component]
pub fn Legend() -> impl IntoView {
    let st = expect_context::<AppState>();
    let rows = move || {
        st.map.with(|d| {
            let n = d.ids.len().max(1) as f64;
            let mut count = vec![0usize; d.subclasses];
            let mut bits = vec![0f64; d.subclasses];
            for (i, &k) in d.ids.iter().enumerate() {
                if let Some(c) = count.get_mut(k as usize) {
                    *c += 1;
                    bits[k as usize] += d.bits.get(i).copied().unwrap_or(0.0) as f64;
                }
            }
            let mut order: Vec<usize> = (0..d.subclasses).filter(|&k| count[k] > 0).collect();
            order.sort_by_key(|&k| std::cmp::Reverse(count[k]));
            order
                .into_iter()
                .map(|k| {
                    let [r, g, b] = colour(k);
                    let mean = if d.bits.is_empty() { "–".into() } else { format!("{:.0}", bits[k] / count[k] as f64) };
                    let pick = move |_| st.selected.update(|s| *s = (*s != Some(k as u8)).then_some(k as u8));
                    view! {
                        <tr on:click=pick class:selected=move || st.selected.get() == Some(k as u8)
                            data-testid=format!("legend-{k}")>
                            <td><span class="swatch" style:background=format!("rgb({r},{g},{b})")></span>{k}</td>
                            <td>{count[k]}</td>
                            <td>{format!("{:.1} %", 100.0 * count[k] as f64 / n)}</td>
                            <td>{mean}</td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <div class="legend-box">
            <table class="legend" data-testid="legend">
                <thead><tr><th>"subclass"</th><th>"patches"</th><th>"share"</th><th>"bits / patch"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <p class="small">"Click a subclass to see its patches and its prior."</p>
        <Gallery/>
    }
}
