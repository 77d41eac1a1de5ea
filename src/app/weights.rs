//! Fetching the weights, or reading them from the cache, and checking them against the
//! manifest (the workers load them).

use sacodec::codec::manifest::Manifest;

use crate::web::{self, Origin, WebResult};

/// The weights file, LZMA-compressed by Trunk's hook (`scripts/site-hook.sh`: 8 % smaller than
/// gzip -9), relative to the page (works under any sub-path).
const WEIGHTS: &str = "weights/sacodec.safetensors.lzma";
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
    let check = |bytes: &[u8]| {
        let got = blake3::hash(bytes).to_hex();
        if got.as_str() != want {
            return Err(format!(
                "{WEIGHTS}: BLAKE3 {got} does not match the manifest's {want}"
            ));
        }
        Ok(())
    };
    web::fetch_cached(&url, CACHE, progress, |raw| unlzma(raw, size), check).await
}

/// Decompresses LZMA bytes (`xz --format=lzma`) into at most `size` bytes: the output ends
/// there whatever the header says, and the decoder's dictionary is bounded by it too (the hash
/// check then fails).
fn unlzma(raw: &[u8], size: u64) -> WebResult<Vec<u8>> {
    use lzma_rs::decompress::{Options, UnpackedSize};
    let options = Options {
        unpacked_size: UnpackedSize::ReadHeaderButUseProvided(Some(size)),
        memlimit: Some(size as usize + 1),
        ..Options::default()
    };
    let mut bytes = Vec::with_capacity(size as usize);
    lzma_rs::lzma_decompress_with_options(&mut &raw[..], &mut bytes, &options)
        .map_err(|e| format!("{WEIGHTS}: {e}"))?;
    Ok(bytes)
}
