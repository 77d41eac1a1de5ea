//! The compute side of the page: picking a backend, fetching (or reading from the cache) and
//! checking the weights, and warming the networks up.

use burn::prelude::Device;
use sacodec::codec::manifest::Manifest;
use sacodec::model::PATCH;
use sacodec::{Codec, CompressOptions, Error};

use crate::web::{self, Origin, WebResult};

/// Where the networks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// burn-wgpu on the browser's WebGPU.
    WebGpu,
    /// burn's CPU backend, in wasm.
    Cpu,
}

impl Backend {
    /// How the page names it.
    pub fn label(self) -> &'static str {
        match self {
            Backend::WebGpu => "WebGPU",
            Backend::Cpu => "CPU (wasm)",
        }
    }
}

/// A device for `backend`, or why there is none.
pub async fn device(backend: Backend) -> WebResult<Device> {
    match backend {
        Backend::WebGpu if !web::has_webgpu() => Err("this browser has no WebGPU".into()),
        Backend::WebGpu => Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| format!("no WebGPU adapter: {e}")),
        Backend::Cpu => Ok(Device::flex()),
    }
}

/// The weights file, gzip'd by Trunk, relative to the page (works under any sub-path).
const WEIGHTS: &str = "weights/sacodec.safetensors.gz";
const MANIFEST: &str = "weights/manifest.json";
const CACHE: &str = "sacodec-weights";

/// The weights' bytes, from the cache when they are there. The manifest's BLAKE3 names the
/// cached copy (new weights are fetched anew) and is checked against what arrived, from the
/// network or the cache (a cached copy that fails is evicted and fetched again).
pub async fn fetch_weights(
    progress: impl FnMut(usize, Option<usize>),
) -> WebResult<(Vec<u8>, Origin)> {
    let manifest = web::fetch_text(MANIFEST).await?;
    let manifest: Manifest =
        serde_json::from_str(&manifest).map_err(|e| format!("{MANIFEST}: {e}"))?;
    let entry = manifest
        .files
        .iter()
        .find(|f| f.file == "sacodec.safetensors")
        .ok_or_else(|| format!("{MANIFEST} has no entry for sacodec.safetensors"))?;
    let (want, size) = (entry.blake3.as_str(), entry.bytes as u64);
    let url = format!("{WEIGHTS}?blake3={}", &want[..16.min(want.len())]);
    let check = |gz: &[u8]| {
        let bytes = gunzip(gz, size)?;
        let got = blake3::hash(&bytes).to_hex();
        if got.as_str() != want {
            return Err(format!(
                "{WEIGHTS}: BLAKE3 {got} does not match the manifest's {want}"
            ));
        }
        Ok(bytes)
    };
    web::fetch_cached(&url, CACHE, progress, check).await
}

/// Inflates gzip'd bytes, stopping past `size` bytes (the hash check then fails).
fn gunzip(gz: &[u8], size: u64) -> WebResult<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(size as usize);
    flate2::read::GzDecoder::new(gz)
        .take(size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{WEIGHTS}: {e}"))?;
    Ok(bytes)
}

/// Loads the weights onto `device` and runs every network once, so the first image does
/// not pay for shader compilation and allocation.
pub async fn load(bytes: &[u8], device: &Device) -> WebResult<Codec> {
    let codec = Codec::from_bytes(bytes, device).map_err(|e| e.to_string())?;
    let warm = async {
        let patch = image::RgbImage::from_pixel(PATCH as u32, PATCH as u32, image::Rgb([128; 3]));
        let none = |_: usize, _: usize| async { Ok::<(), Error>(()) };
        let first_level = CompressOptions {
            quality: 0,
            ..CompressOptions::default()
        };
        let analysis = codec
            .analyse_with(&patch, |_, _, _| async { Ok::<(), Error>(()) })
            .await?;
        let decoded = codec.read(&codec.encode(&analysis, first_level)?.bytes)?;
        let planar = codec.reconstruct_with(&decoded, none).await?;
        codec
            .bundle()
            .nets
            .enhance_async(&planar, PATCH, PATCH, 0.0, PATCH, none)
            .await?;
        Ok::<(), Error>(())
    };
    warm.await.map_err(|e| e.to_string())?;
    Ok(codec)
}
