//! The networks' backend: the weights fetched (or read from the cache), WebGPU where the
//! browser gives a hardware adapter, else the CPU, and the workers started on it.

use std::rc::Rc;

use leptos::prelude::*;
use sacodec::jobs::Backend;

use crate::pipeline::{open, recode};
use crate::stages::start_pool;
use crate::state::AppState;
use crate::web::{self, Origin, now_ms};
use crate::weights;

/// Fetches the weights, picks WebGPU when the browser gives a hardware adapter (else the
/// CPU) and starts the workers.
pub async fn start(st: AppState) {
    let adapter = web::webgpu_adapter().await;
    st.webgpu_available.set(adapter.is_some());
    let t = now_ms();
    st.status.set("Downloading weights…".into());
    let fetched = weights::fetch_weights(|got, total| {
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
        Origin::Cache => st.notice("Weights read from this browser's cache: none downloaded."),
        Origin::Refetched => st.notice(
            "The weights cached in this browser failed their check: evicted and downloaded \
             again.",
        ),
        Origin::Network => {}
    }
    st.weights.set_value(Some(Rc::new(bytes)));
    let first = match adapter {
        Some((false, _)) => Backend::WebGpu,
        Some((true, name)) => {
            st.notice(format!(
                "This browser's WebGPU is a software fallback ({name}), slower than the CPU \
                 path: using the CPU (the switch above tries it)."
            ));
            Backend::Cpu
        }
        None => Backend::Cpu,
    };
    if let Err(e) = switch_backend(st, first).await
        && first == Backend::WebGpu
    {
        st.notice(format!("WebGPU unavailable ({e}); using the CPU."));
        if let Err(e) = switch_backend(st, Backend::Cpu).await {
            st.error.set(Some(e));
        }
    }
}

/// Starts workers on `backend`; on failure the previous ones stay.
pub async fn switch_backend(st: AppState, backend: Backend) -> Result<(), String> {
    let generation = st.next_run();
    st.busy.set(true);
    let started = start_pool(st, backend).await;
    st.busy.set(false);
    st.progress.set(None);
    if let Err(e) = started {
        st.status.set(match st.backend.get_untracked() {
            Some(old) => format!("Ready (still on {}).", old.label()),
            None => format!("The networks could not be prepared on {}.", backend.label()),
        });
        return Err(e);
    }
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
