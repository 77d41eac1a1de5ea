//! The sacodec page (wasm32, built by Trunk): drop a photo, watch the subclass map fill in,
//! compare the bitrates of the global and subclass priors, see the decoded and enhanced
//! images beside the original. Everything runs in the browser: the main thread only renders,
//! and Web Workers (`src/worker/`) run the networks, on WebGPU when the browser gives an
//! adapter, else one worker per core on the CPU.

mod backend;
mod compare;
mod curve;
mod gallery;
mod map;
mod measure;
mod panels;
mod pipeline;
mod pool;
mod stages;
mod state;
mod web;
mod weights;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(panels::App);
}
