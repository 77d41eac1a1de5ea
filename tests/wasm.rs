//! The codec in wasm, in headless Chromium (wasm-bindgen-test): on burn's CPU backend, and on
//! WebGPU (SwiftShader with `--enable-unsafe-webgpu`, see webdriver.json) against the CPU.
//!
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test --target wasm32-unknown-unknown
//!  --no-default-features --features worker-gpu --test wasm`
#![cfg(target_arch = "wasm32")]

use burn::prelude::Device;
use sacodec::codec::Analysis;
use sacodec::codec::patches::Grid;
use sacodec::{Codec, CompressOptions, Error};
use wasm_bindgen_test::*;

mod common;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn cpu_round_trip() {
    let codec = common::codec();
    let img = common::photo(72, 40, 3);
    let sac = codec.compress(&img, CompressOptions::default()).unwrap();
    let decoded = codec.read(&sac.bytes).unwrap();
    assert_eq!(decoded.latents, sac.latents);
    assert_eq!(decoded.ids, sac.ids);
    let back = codec.decompress(&sac.bytes, true).unwrap();
    assert_eq!(back.dimensions(), img.dimensions());
    assert!(sacodec::metrics::psnr(&img, &back).is_finite());
}

/// A file the native CLI made (`tests/fixtures`) decodes to the same latents and ids in wasm
/// as natively (`tests/codec.rs` checks the same digest); on WebGPU too, below.
#[wasm_bindgen_test]
fn a_file_the_native_cli_made_decodes_bit_identically() {
    common::check_parrots(&Device::flex());
}

#[wasm_bindgen_test]
async fn webgpu_matches_the_cpu() {
    let cpu = common::codec();
    let device = Device::wgpu_options()
        .init_async()
        .await
        .expect("a WebGPU adapter (Chromium with --enable-unsafe-webgpu)");
    // A page holds one WebGPU device: this test is the one that makes it.
    common::check_parrots(&device);
    let gpu = Codec::from_bytes(&cpu.bundle().to_bytes(), &device).unwrap();
    assert_eq!(gpu.fingerprints(), cpu.fingerprints());

    let img = common::photo(96, 64, 5);
    let no_stop = |_: &[u8], _: usize, _: usize| async { Ok::<(), Error>(()) };
    let Analysis {
        mu,
        simclr_ids: ids,
        ..
    } = gpu.analyse_with(&img, no_stop).await.unwrap();
    let want = cpu.analyse(&img).unwrap();
    let diff = mu
        .iter()
        .zip(&want.mu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-3, "μ differs from the CPU's by {diff}");
    let same_ids = ids
        .iter()
        .zip(&want.simclr_ids)
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same_ids + 1 >= ids.len(),
        "{same_ids} of {} subclasses agree",
        ids.len()
    );

    // Coding the GPU's analysis gives (nearly) the CPU's latents, and the GPU decodes them
    // like the CPU.
    let analysis = Analysis {
        grid: Grid::new(96, 64),
        mu,
        simclr_ids: want.simclr_ids.clone(),
    };
    let sac = gpu.encode(&analysis, CompressOptions::default()).unwrap();
    let cpu_sac = cpu.encode(&want, CompressOptions::default()).unwrap();
    let same = sac
        .latents
        .iter()
        .zip(&cpu_sac.latents)
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same * 1000 >= 999 * sac.latents.len(),
        "{same} of {} latents agree",
        sac.latents.len()
    );
    let decoded = gpu.read(&sac.bytes).unwrap();
    let no_stop = |_: usize, _: usize| async { Ok::<(), Error>(()) };
    let out = gpu.reconstruct_with(&decoded, no_stop).await.unwrap();
    let cpu_out = cpu.reconstruct(&decoded);
    let diff = out
        .iter()
        .zip(&cpu_out)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        diff < 1e-3,
        "decoded images differ from the CPU's by {diff}"
    );
}
