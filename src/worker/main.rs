//! The page's CPU worker (wasm32, built by Trunk, started by the page's pool): burn's CPU
//! backend only, so the CPU path does not download the WebGPU backend.

mod serve;

fn main() {
    serve::run();
}
