//! The page and its small panels: backend, status, errors, inputs, bitrates, timings, files.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::backend;
use crate::compare::Compare;
use crate::curve::CurvePanel;
use crate::map::{Legend, SubclassMap};
use crate::pipeline::{self, MAX_SIDE};
use crate::state::AppState;
use crate::web;
use sacodec::jobs::{Backend, Sizes};

/// Sample photos served with the page (Kodak, which the models never trained on).
const SAMPLES: [(&str, &str); 4] = [
    ("parrots", "samples/kodim23.png"),
    ("lighthouse", "samples/kodim19.png"),
    ("window", "samples/kodim07.png"),
    ("girl", "samples/kodim04.png"),
];

fn state() -> AppState {
    expect_context::<AppState>()
}

/// Reads a user's file and opens it.
fn open_file(st: AppState, file: web_sys::File) {
    pipeline::reading(st, &file.name());
    leptos::task::spawn_local(async move {
        match web::file_bytes(&file).await {
            Ok(bytes) => pipeline::open(st, file.name(), bytes),
            Err(e) => st
                .error
                .set(Some(format!("cannot read {}: {e}", file.name()))),
        }
    });
}

fn first_file(files: Option<web_sys::FileList>) -> Option<web_sys::File> {
    files.and_then(|f| f.get(0))
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let st = AppState::new();
    provide_context(st);
    leptos::task::spawn_local(backend::start(st));

    // Drop anywhere on the page; paste from the clipboard.
    let dragging = RwSignal::new(false);
    let handles = [
        window_event_listener(ev::dragover, move |e| {
            e.prevent_default();
            dragging.set(true);
        }),
        window_event_listener(ev::dragleave, move |_| dragging.set(false)),
        window_event_listener(ev::drop, move |e| {
            e.prevent_default();
            dragging.set(false);
            if let Some(f) = first_file(e.data_transfer().and_then(|d| d.files())) {
                open_file(st, f);
            }
        }),
        window_event_listener(ev::paste, move |e| {
            if let Some(f) = first_file(e.clipboard_data().and_then(|d| d.files())) {
                e.prevent_default();
                open_file(st, f);
            }
        }),
    ];
    on_cleanup(move || handles.into_iter().for_each(|h| h.remove()));

    view! {
        <div class="page" class:dragging=move || dragging.get()>
            <header>
                <h1>"sacodec"</h1>
                <p class="tagline">
                    "A learned image codec with subclass-aware priors, running in your browser."
                </p>
                <BackendPicker/>
            </header>
            <Status/>
            <Messages/>
            <Inputs/>
            <main>
                <section class="card map-card">
                    <h2>"Subclass map"</h2>
                    <SubclassMap/>
                    <Legend/>
                </section>
                <section class="side">
                    <Bitrates/>
                    <Files/>
                    <Timings/>
                </section>
            </main>
            <Compare/>
            <CurvePanel/>
            <footer>
                "Nothing leaves this page: the networks, weights and samples are served with it."
            </footer>
        </div>
    }
}

/// Which backend runs the networks, and a switch.
#[component]
fn BackendPicker() -> impl IntoView {
    let st = state();
    let label = move || st.backend.get().map_or("loading…", Backend::label);
    let change = move |e: ev::Event| {
        let value = event_target_value(&e);
        let backend = if value == "webgpu" {
            Backend::WebGpu
        } else {
            Backend::Cpu
        };
        if Some(backend) != st.backend.get_untracked() {
            leptos::task::spawn_local(async move {
                if let Err(e) = backend::switch_backend(st, backend).await {
                    st.error
                        .set(Some(format!("cannot use {}: {e}", backend.label())));
                }
            });
        }
    };
    view! {
        <div class="backend">
            "Running on " <strong data-testid="backend">{label}</strong>
            " in " <strong data-testid="workers">{move || st.workers.get()}</strong>
            {move || if st.workers.get() == 1 { " worker" } else { " workers" }}
            <select
                aria-label="backend"
                on:change=change
                prop:value=move || match st.backend.get() {
                    Some(Backend::WebGpu) => "webgpu",
                    _ => "cpu",
                }
                disabled=move || st.busy.get()
            >
                <option value="webgpu" disabled=move || !st.webgpu_available.get()>
                    "WebGPU"
                </option>
                <option value="cpu">"CPU"</option>
            </select>
        </div>
    }
}

/// The status line and the progress bar.
#[component]
fn Status() -> impl IntoView {
    let st = state();
    view! {
        <div class="status">
            <span data-testid="status" role="status">{move || st.status.get()}</span>
            <progress
                data-testid="progress"
                max=move || st.progress.get().map_or(1.0, |p| p.1.max(1.0))
                value=move || st.progress.get().map_or(0.0, |p| p.0)
                class:idle=move || st.progress.get().is_none()
            ></progress>
        </div>
    }
}

/// The error (if any) and notices.
#[component]
fn Messages() -> impl IntoView {
    let st = state();
    view! {
        <div data-testid="error" role="alert" class="error" class:hidden=move || st.error.get().is_none()>
            {move || st.error.get()}
        </div>
        <ul class="notices">
            {move || st.notices.get().into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}
        </ul>
    }
}

/// File pickers, samples and the quality level.
#[component]
fn Inputs() -> impl IntoView {
    let st = state();
    let picked = move |e: ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&e);
        if let Some(f) = first_file(input.files()) {
            open_file(st, f);
        }
        input.set_value("");
    };
    let sample = move |url: &'static str, name: &'static str| {
        pipeline::reading(st, name);
        leptos::task::spawn_local(async move {
            match web::fetch_bytes(url).await {
                Ok(bytes) => pipeline::open(st, format!("{name}.png"), bytes),
                Err(e) => st.error.set(Some(e)),
            }
        });
    };
    let quality = move |e: ev::Event| {
        if let Ok(q) = event_target_value(&e).parse::<u8>() {
            st.quality.set(q);
            pipeline::recode(st);
        }
    };
    let not_ready = move || st.backend.get().is_none();
    view! {
        <section class="card inputs">
            <label class="button">
                "Choose a photo…"
                <input data-testid="file-input" type="file" accept="image/*" on:change=picked
                    disabled=not_ready/>
            </label>
            <label class="button">
                "Open a .sac…"
                <input data-testid="sac-input" type="file" accept=".sac" on:change=picked
                    disabled=not_ready/>
            </label>
            <span class="hint">
                {format!("…or drop or paste one anywhere (larger than {MAX_SIDE} px: scaled down). Samples:")}
            </span>
            {SAMPLES
                .iter()
                .map(|&(name, url)| {
                    view! {
                        <button on:click=move |_| sample(url, name) disabled=not_ready
                            data-testid=format!("sample-{name}")>{name}</button>
                    }
                })
                .collect_view()}
            <label class="quality">
                <input type="checkbox" data-testid="enhance" prop:checked=move || st.enhance.get()
                    on:change=move |e| {
                        st.enhance.set(event_target_checked(&e));
                        pipeline::recode(st);
                    }/>
                " enhance (slow on the CPU) · "
                "Quality "
                <select data-testid="quality" on:change=quality
                    prop:value=move || st.quality.get().to_string()>
                    {move || {
                        (0..st.levels.get())
                            .map(|q| view! { <option value=q.to_string()>{q.to_string()}</option> })
                            .collect_view()
                    }}
                </select>
            </label>
        </section>
    }
}

/// The real files' sizes, with a bar chart.
#[component]
fn Bitrates() -> impl IntoView {
    let st = state();
    let row = move |label: &'static str, id: &'static str, pick: fn(&Sizes) -> Option<usize>| {
        let rates = move || st.rates.get().and_then(|r| pick(&r.sizes).map(|b| (r, b)));
        let text = move || {
            rates().map_or("–".to_string(), |(r, bytes)| {
                format!("{:.4} bpp · {bytes} B", r.bpp(bytes))
            })
        };
        let saving = move || {
            rates()
                .filter(|_| id != "bpp-global")
                .map(|(r, bytes)| format!("{:+.1} %", -r.saving(bytes)))
        };
        let width = move || {
            rates().map_or("0%".into(), |(r, bytes)| {
                format!("{:.1}%", 100.0 * bytes as f64 / r.largest() as f64)
            })
        };
        view! {
            <div class="rate">
                <span class="rate-label">{label}</span>
                <span class="rate-value" data-testid=id>{text}</span>
                <span class="rate-saving">{saving}</span>
                <div class="bar"><div class=format!("fill {id}") style:width=width></div></div>
            </div>
        }
    };
    view! {
        <section class="card">
            <h2>"Bitrate"</h2>
            {row("one global prior", "bpp-global", |s| Some(s.global))}
            {row("subclass priors (SimCLR)", "bpp-subclass", |s| Some(s.simclr))}
            {row("subclass priors (rate-optimal)", "bpp-rate", |s| s.rate_optimal)}
            {row("subclass priors + context (SimCLR)", "bpp-context", |s| s.context_simclr)}
            {row("subclass priors + context (rate-optimal)", "bpp-context-rate", |s| s.context_rate_optimal)}
            <p class="small">"Sizes of real .sac files, subclass ids included; percent against the global prior. Context: each latent's prior shifted by a prediction from the latents decoded before it (the file offered for download)."</p>
        </section>
    }
}

/// Downloads and the latents' digest.
#[component]
fn Files() -> impl IntoView {
    let st = state();
    let link =
        move |id: &'static str,
              text: &'static str,
              pick: fn(&crate::state::Downloads) -> Option<(String, String)>| {
            view! {
                <a
                    class="button"
                    data-testid=id
                    class:disabled=move || pick(&st.downloads.get()).is_none()
                    href=move || pick(&st.downloads.get()).map(|d| d.0)
                    download=move || pick(&st.downloads.get()).map(|d| d.1)
                >
                    {text}
                </a>
            }
        };
    view! {
        <section class="card files">
            <h2>"Files"</h2>
            {link("download-sac", "Download .sac", |d| d.sac.clone())}
            {link("download-png", "Download enhanced PNG", |d| d.png.clone())}
            <p class="small">
                "Latents digest: " <code data-testid="digest">{move || st.digest.get().unwrap_or_default()}</code>
                <br/> "(" <code>"sacodec info --json file.sac"</code> " prints the same for the file)"
            </p>
        </section>
    }
}

/// Each stage's time.
#[component]
fn Timings() -> impl IntoView {
    let st = state();
    view! {
        <section class="card">
            <h2>"Timings"</h2>
            <table data-testid="timings" class="timings">
                {move || {
                    st.timings
                        .get()
                        .into_iter()
                        .map(|(stage, ms)| view! { <tr><td>{stage}</td><td>{format!("{ms:.0} ms")}</td></tr> })
                        .collect_view()
                }}
            </table>
        </section>
    }
}

/// `event.target` as `T`.
fn event_target<T: JsCast>(e: &ev::Event) -> T {
    e.target().expect("an event target").unchecked_into()
}
