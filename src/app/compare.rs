//! The reconstructions: a thumbnail of each picture with its PSNR and MS-SSIM, and a split
//! view of any two with a slider, wheel zoom and drag to pan.

use std::rc::Rc;

use image::RgbImage;
use leptos::ev;
use leptos::html::Canvas;
use leptos::prelude::*;

use crate::state::{AppState, Picture, View};
use crate::web;

fn picture(st: AppState, view: View) -> Option<Picture> {
    st.pictures
        .with(|p| p.iter().find(|(v, _)| *v == view).map(|(_, p)| p.clone()))
}

/// Redraws `canvas` with `view`'s picture whenever its pixels change (not when only its
/// metrics do: each redraw of a large picture costs the main thread milliseconds).
fn draw_on(st: AppState, canvas: NodeRef<Canvas>, view: impl Fn() -> View + 'static) {
    Effect::new(move |drawn: Option<Option<Rc<RgbImage>>>| {
        let image = picture(st, view()).map(|p| p.image);
        let c = canvas.get()?;
        match (&image, drawn.flatten()) {
            (Some(now), Some(before)) if Rc::ptr_eq(now, &before) => {}
            (Some(img), _) => web::draw_rgba(&c, &web::rgba(img), img.width(), img.height()),
            (None, _) => c.set_width(0),
        }
        image
    });
}

/// One picture: thumbnail, name, quality, and buttons to put it on either side.
#[component]
fn Thumb(view: View, left: RwSignal<View>, right: RwSignal<View>) -> impl IntoView {
    let st = expect_context::<AppState>();
    let canvas = NodeRef::<Canvas>::new();
    draw_on(st, canvas, move || view);
    let metric_id = match view {
        View::Decoded => "psnr-decoded",
        View::Enhanced => "psnr-enhanced",
        View::Jpeg => "psnr-jpeg",
        View::Webp => "psnr-webp",
        View::Original => "psnr-original",
    };
    let metrics = move || {
        picture(st, view).map(|p| match p.quality {
            Some((psnr, ssim)) => format!("{psnr:.2} dB · MS-SSIM {ssim:.4}"),
            None if view == View::Original => "reference".into(),
            None => "no original to compare".into(),
        })
    };
    let note = move || picture(st, view).and_then(|p| p.note);
    view! {
        <figure class="thumb" class:empty=move || picture(st, view).is_none()
            class:left=move || left.get() == view class:right=move || right.get() == view>
            <canvas data-testid=view.test_id() node_ref=canvas
                on:click=move |_| right.set(view)></canvas>
            <figcaption>
                <strong>{view.label()}</strong>
                <span data-testid=metric_id>{metrics}</span>
                <span class="small">{note}</span>
                <span class="sides">
                    <button on:click=move |_| left.set(view)>"left"</button>
                    <button on:click=move |_| right.set(view)>"right"</button>
                </span>
            </figcaption>
        </figure>
    }
}

/// Thumbnails and the split view.
#[component]
pub fn Compare() -> impl IntoView {
    let st = expect_context::<AppState>();
    let left = RwSignal::new(View::Original);
    let right = RwSignal::new(View::Enhanced);
    let split = RwSignal::new(50.0f64);
    let zoom = RwSignal::new(1.0f64);
    let pan = RwSignal::new((0.0f64, 0.0f64));
    let drag = RwSignal::new(None::<(f64, f64)>);
    let (lc, rc) = (NodeRef::<Canvas>::new(), NodeRef::<Canvas>::new());
    draw_on(st, lc, move || left.get());
    draw_on(st, rc, move || right.get());

    let wheel = move |e: ev::WheelEvent| {
        e.prevent_default();
        let factor = if e.delta_y() < 0.0 { 1.25 } else { 0.8 };
        zoom.update(|z| *z = (*z * factor).clamp(1.0, 16.0));
        if zoom.get_untracked() == 1.0 {
            pan.set((0.0, 0.0));
        }
    };
    let down = move |e: ev::MouseEvent| drag.set(Some((e.client_x() as f64, e.client_y() as f64)));
    let moved = move |e: ev::MouseEvent| {
        if let Some((x, y)) = drag.get_untracked() {
            let (nx, ny) = (e.client_x() as f64, e.client_y() as f64);
            pan.update(|p| *p = (p.0 + nx - x, p.1 + ny - y));
            drag.set(Some((nx, ny)));
        }
    };
    let transform = move || {
        let (x, y) = pan.get();
        format!("translate({x}px, {y}px) scale({})", zoom.get())
    };
    view! {
        <section class="card compare">
            <h2>"Reconstruction"</h2>
            <div class="thumbs">
                {View::ALL.map(|v| view! { <Thumb view=v left=left right=right/> }).collect_view()}
            </div>
            <div class="split-labels">
                <span>{move || format!("← {}", left.get().label())}</span>
                <span class="small">"wheel: zoom · drag: pan · double-click: reset"</span>
                <span>{move || format!("{} →", right.get().label())}</span>
            </div>
            <div class="split" on:wheel=wheel on:mousedown=down on:mousemove=moved
                on:mouseup=move |_| drag.set(None) on:mouseleave=move |_| drag.set(None)
                on:dblclick=move |_| { zoom.set(1.0); pan.set((0.0, 0.0)); }>
                <div class="stage" style:transform=transform>
                    <canvas node_ref=lc data-testid="split-left"></canvas>
                    <canvas node_ref=rc data-testid="split-right" class="over"
                        style:clip-path=move || format!("inset(0 0 0 {}%)", split.get())></canvas>
                </div>
            </div>
            <input type="range" class="slider" min="0" max="100" step="0.5" aria-label="split"
                prop:value=move || split.get().to_string()
                on:input=move |e| split.set(event_target_value(&e).parse().unwrap_or(50.0))/>
        </section>
    }
}
