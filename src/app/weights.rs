//! Fetching the weights, or reading them from the cache, and checking them against the
//! manifest (the workers load them).

use lzma_rs::decompress::{Options, Stream};
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
    // LZMA (`xz --format=lzma`), decompressed as it arrives into at most `size` bytes (then
    // an error), the decoder's dictionary bounded by that too.
    let options = Options {
        memlimit: Some(size as usize + 1),
        ..Options::default()
    };
    let decoder = Stream::new_with_options(&options, Bounded(Vec::new(), size as usize));
    let finish = |d: Stream<Bounded>| {
        d.finish()
            .map(|b| b.0)
            .map_err(|e| format!("{WEIGHTS}: {e}"))
    };
    web::fetch_cached(&url, CACHE, progress, decoder, finish, check).await
}

/// Bytes written, up to a length (writing past it is an error).
struct Bounded(Vec<u8>, usize);

impl std::io::Write for Bounded {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > self.1 {
            return Err(std::io::Error::other(format!(
                "longer than the manifest's {} bytes",
                self.1
            )));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
