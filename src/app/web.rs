//! Small typed wrappers over the browser APIs the app uses where gloo has none: fetch with
//! progress and the Cache API, the WebGPU adapter probe, canvases and the browser's own
//! JPEG/WebP encoders. File reading, object URLs and plain fetches are gloo's.

use image::RgbImage;
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue, prelude::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, CanvasRenderingContext2d, HtmlCanvasElement, ImageData, Response};

/// A browser failure, as text for the page.
pub type WebResult<T> = Result<T, String>;

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| e.message().into()))
        .unwrap_or_else(|| format!("{e:?}"))
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a window")
}

/// Milliseconds since the page started.
pub fn now_ms() -> f64 {
    window().performance().map(|p| p.now()).unwrap_or(0.0)
}

/// The browser's default WebGPU adapter: `None` without one, else whether it is a software
/// fallback (Chromium's SwiftShader: correct but far slower than the CPU path) and its name.
pub async fn webgpu_adapter() -> Option<(bool, String)> {
    use js_sys::Reflect;
    let get = |o: &JsValue, k: &str| {
        Reflect::get(o, &k.into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    };
    let gpu = get(&window().navigator().into(), "gpu")?;
    let request: js_sys::Function = get(&gpu, "requestAdapter")?.dyn_into().ok()?;
    let promise: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = JsFuture::from(promise)
        .await
        .ok()
        .filter(|a| !a.is_null())?;
    let info = get(&adapter, "info").unwrap_or(JsValue::NULL);
    let text = |k| {
        get(&info, k)
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let name = format!("{} {}", text("vendor"), text("architecture"));
    let fallback = get(&info, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true)
        || get(&adapter, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true)
        || name.to_lowercase().contains("swiftshader");
    Some((fallback, name.trim().to_string()))
}

async fn response_bytes(response: &Response) -> WebResult<Vec<u8>> {
    let buffer = JsFuture::from(response.array_buffer().map_err(js_err)?)
        .await
        .map_err(js_err)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// GETs `url` (same origin); an HTTP error status is an error.
async fn get(url: &str) -> WebResult<gloo_net::http::Response> {
    let response = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    match response.ok() {
        true => Ok(response),
        false => Err(format!("{url}: HTTP {}", response.status())),
    }
}

/// GETs `url` as text.
pub async fn fetch_text(url: &str) -> WebResult<String> {
    get(url)
        .await?
        .text()
        .await
        .map_err(|e| format!("{url}: {e}"))
}

/// GETs `url` as bytes.
pub async fn fetch_bytes(url: &str) -> WebResult<Vec<u8>> {
    get(url)
        .await?
        .binary()
        .await
        .map_err(|e| format!("{url}: {e}"))
}

/// Where fetched bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The network (then stored in the cache).
    Network,
    /// The page's Cache API storage: nothing transferred.
    Cache,
    /// The network, after the cached copy failed its check and was evicted.
    Refetched,
}

/// GETs `url` through the Cache API store `cache_name`: a cached copy is used when there is
/// one and it passes `check` (else it is evicted and fetched again); otherwise the body is
/// written into `decoder` chunk by chunk as it arrives (decoding overlaps the transfer), with
/// `progress(received, total)`; `finish(decoder)` gives the bytes wanted, which are checked
/// and cached (so a later visit neither transfers nor decodes them).
pub async fn fetch_cached<D: std::io::Write>(
    url: &str,
    cache_name: &str,
    mut progress: impl FnMut(usize, Option<usize>),
    mut decoder: D,
    finish: impl FnOnce(D) -> WebResult<Vec<u8>>,
    check: impl Fn(&[u8]) -> WebResult<()>,
) -> WebResult<(Vec<u8>, Origin)> {
    let cache: Option<web_sys::Cache> = match window().caches() {
        Ok(caches) => JsFuture::from(caches.open(cache_name))
            .await
            .ok()
            .map(JsCast::unchecked_into),
        Err(_) => None, // no Cache API (e.g. an insecure origin): fetch every time
    };
    let mut origin = Origin::Network;
    if let Some(cache) = &cache {
        let hit = JsFuture::from(cache.match_with_str(url))
            .await
            .map_err(js_err)?;
        if let Ok(response) = hit.dyn_into::<Response>() {
            let bytes = response_bytes(&response).await?;
            if check(&bytes).is_ok() {
                return Ok((bytes, Origin::Cache));
            }
            JsFuture::from(cache.delete_with_str(url))
                .await
                .map_err(js_err)?;
            origin = Origin::Refetched;
        }
    }
    // gloo-net gives no progress: read the body's stream here.
    let response = get(url).await?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|l| l.parse().ok());
    let body = response.body().ok_or_else(|| format!("{url}: no body"))?;
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut received = 0;
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js_err)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map_err(js_err)?;
        if done.as_bool() == Some(true) {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js_err)?;
        let chunk = Uint8Array::new(&value).to_vec();
        decoder
            .write_all(&chunk)
            .map_err(|e| format!("{url}: {e}"))?;
        received += chunk.len();
        progress(received, total);
    }
    let mut bytes = finish(decoder)?;
    check(&bytes)?;
    if let Some(cache) = &cache {
        let copy = Response::new_with_opt_u8_array(Some(&mut bytes)).map_err(js_err)?;
        // Caching is best effort (storage may be full or disabled).
        let _ = JsFuture::from(cache.put_with_str(url, &copy)).await;
    }
    Ok((bytes, origin))
}

/// The bytes of a user's file.
pub async fn file_bytes(file: &web_sys::File) -> WebResult<Vec<u8>> {
    let blob = gloo_file::Blob::from(file.clone());
    gloo_file::futures::read_as_bytes(&blob)
        .await
        .map_err(|e| e.to_string())
}

/// RGBA bytes of an RGB image.
pub fn rgba(img: &RgbImage) -> Vec<u8> {
    img.pixels()
        .flat_map(|p| [p.0[0], p.0[1], p.0[2], 255])
        .collect()
}

/// Sizes `canvas` to `width × height` and draws RGBA pixels into it.
pub fn draw_rgba(canvas: &HtmlCanvasElement, rgba: &[u8], width: u32, height: u32) {
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
    }
    let Some(ctx) = context(canvas) else { return };
    let clamped = wasm_bindgen::Clamped(rgba);
    if let Ok(data) = ImageData::new_with_u8_clamped_array_and_sh(clamped, width, height) {
        let _ = ctx.put_image_data(&data, 0.0, 0.0);
    }
}

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas
        .get_context("2d")
        .ok()
        .flatten()
        .map(JsCast::unchecked_into)
}

/// An object URL for `bytes` of type `mime`, kept in `slot`: the URL it replaces there is
/// revoked (gloo's `ObjectUrl` revokes itself when dropped).
pub fn object_url(slot: &mut Option<gloo_file::ObjectUrl>, bytes: &[u8], mime: &str) -> String {
    let url = gloo_file::ObjectUrl::from(gloo_file::Blob::new_with_options(bytes, Some(mime)));
    let text = url.to_string();
    *slot = Some(url);
    text
}

/// The bytes of `canvas` encoded by the browser as `mime` at `quality` (0–1), and the type it
/// really made (a browser that cannot encode `mime` makes a PNG instead).
async fn canvas_encode(
    canvas: &HtmlCanvasElement,
    mime: &str,
    quality: f64,
) -> WebResult<(Vec<u8>, String)> {
    let promise = Promise::new(&mut |resolve, reject| {
        let on_blob = Closure::once_into_js(move |b: JsValue| {
            let _ = resolve.call1(&JsValue::NULL, &b);
        });
        let made = canvas.to_blob_with_type_and_encoder_options(
            on_blob.unchecked_ref(),
            mime,
            &quality.into(),
        );
        if made.is_err() {
            let _ = reject.call1(&JsValue::NULL, &"canvas.toBlob failed".into());
        }
    });
    let b: Blob = JsFuture::from(promise)
        .await
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| format!("the browser made no {mime}"))?;
    let buffer = JsFuture::from(b.array_buffer()).await.map_err(js_err)?;
    Ok((Uint8Array::new(&buffer).to_vec(), b.type_()))
}

/// What the browser's encoder made of an image under a size budget.
pub enum Encoded {
    /// The file at the highest quality that fits.
    Fits(Vec<u8>),
    /// Even the lowest quality is larger.
    TooLarge,
    /// This browser cannot encode the format.
    Unsupported,
}

/// The browser's own encoders (`image/jpeg`, `image/webp`) on one image, drawn once.
pub struct BrowserEncoder {
    canvas: HtmlCanvasElement,
}

impl BrowserEncoder {
    /// An encoder of `img`.
    pub fn new(img: &RgbImage) -> WebResult<Self> {
        let document = window().document().ok_or("no document")?;
        let canvas: HtmlCanvasElement = document
            .create_element("canvas")
            .map_err(js_err)?
            .unchecked_into();
        draw_rgba(&canvas, &rgba(img), img.width(), img.height());
        Ok(Self { canvas })
    }

    /// The image as `mime` at encoder `quality` (0–1); none where the browser cannot encode
    /// `mime`.
    pub async fn encode(&self, mime: &str, quality: f64) -> WebResult<Option<Vec<u8>>> {
        let (bytes, made) = canvas_encode(&self.canvas, mime, quality).await?;
        Ok((made == mime).then_some(bytes))
    }

    /// The image as `mime` at the highest quality whose file is no larger than `max_bytes`
    /// (binary search over the encoder quality).
    pub async fn at_most(&self, mime: &str, max_bytes: usize) -> WebResult<Encoded> {
        let Some(lowest) = self.encode(mime, 0.0).await? else {
            return Ok(Encoded::Unsupported);
        };
        if lowest.len() > max_bytes {
            return Ok(Encoded::TooLarge);
        }
        let (mut best, mut lo, mut hi) = (lowest, 0.0f64, 1.0f64);
        for _ in 0..7 {
            let q = (lo + hi) / 2.0;
            let (bytes, _) = canvas_encode(&self.canvas, mime, q).await?;
            if bytes.len() <= max_bytes {
                (best, lo) = (bytes, q);
            } else {
                hi = q;
            }
        }
        Ok(Encoded::Fits(best))
    }
}
