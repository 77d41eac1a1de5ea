//! The page's WebGPU worker (wasm32, built by Trunk, started by the page's pool): burn on
//! the browser's WebGPU.

mod serve;

fn main() {
    serve::run();
}
