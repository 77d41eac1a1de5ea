//! Reading images from untrusted bytes into 8-bit RGB, within the size limits.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};

use crate::error::{Error, MAX_PIXELS, MAX_SIDE, Result, check_size};

/// File extensions read as images from folders (evaluation and training sets); the Python
/// trainer's pack (`training/sacodec_train/pack.py`) reads the same.
pub const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"];

/// Whether `path` has one of [`IMAGE_EXTENSIONS`] (any case).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Every image file under `dirs` (recursively, by [`has_image_extension`]), sorted, so a
/// split of them by position is reproducible; an unreadable folder is an error naming it.
pub fn image_files(dirs: &[PathBuf]) -> std::result::Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::result::Result<(), String> {
        let error = |e: std::io::Error| format!("{}: {e}", dir.display());
        for entry in std::fs::read_dir(dir).map_err(error)? {
            let path = entry.map_err(error)?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if has_image_extension(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for dir in dirs {
        walk(dir, &mut files)?;
    }
    files.sort();
    Ok(files)
}

/// A decoded image and what was changed to make it 8-bit RGB.
pub struct LoadedImage {
    /// The pixels.
    pub image: RgbImage,
    /// Human-readable notes (e.g. "alpha channel dropped").
    pub notes: Vec<String>,
}

/// Decodes PNG, JPEG, WebP, BMP, TIFF or GIF (first frame) bytes. Grey, 16-bit and alpha
/// images are converted to RGB8 with a note. Sizes are checked before pixels are allocated.
pub fn load_image(bytes: &[u8]) -> Result<LoadedImage> {
    let bad = |e: image::ImageError| Error::Image(e.to_string());
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(e.to_string()))?;
    if reader.format().is_none() {
        return Err(Error::Image("unrecognised image format".into()));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 8 + (64 << 20));
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::Image(format!("{e} (limit: {MAX_SIDE} px a side)")),
        e => bad(e),
    })?;
    let (w, h) = decoder.dimensions();
    check_size(w as u64, h as u64)?;
    let color = decoder.color_type();
    let dynamic = DynamicImage::from_decoder(decoder).map_err(bad)?;
    let mut notes = Vec::new();
    if color != image::ColorType::Rgb8 {
        let mut what = format!("converted {color:?} to 8-bit RGB");
        if color.has_alpha() {
            what.push_str(" (alpha channel dropped)");
        }
        notes.push(what);
    }
    Ok(LoadedImage {
        image: dynamic.into_rgb8(),
        notes,
    })
}

/// `img` scaled down (Triangle filter) so that its longer side is at most `max_side`; an image
/// that fits is returned as it is. Training and the page both scale this way.
pub fn fit_within(img: RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = w.max(h);
    if side <= max_side {
        return img;
    }
    let scale = max_side as f64 / side as f64;
    let nw = ((w as f64 * scale).round() as u32).max(1);
    let nh = ((h as f64 * scale).round() as u32).max(1);
    image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle)
}

/// A PNG file of `img`, with fast compression (what `decompress` and the page's download
/// write: a few times quicker than the default level, for a slightly larger file).
pub fn to_png(img: &RgbImage) -> Result<Vec<u8>> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut png = Vec::new();
    let encoder =
        PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Adaptive);
    img.write_with_encoder(encoder)
        .map_err(|e| Error::Image(e.to_string()))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn large_images_are_scaled_down_to_fit() {
        let img = fit_within(RgbImage::new(400, 100), 200);
        assert_eq!(img.dimensions(), (200, 50));
        assert_eq!(
            fit_within(RgbImage::new(40, 30), 200).dimensions(),
            (40, 30)
        );
        assert_eq!(fit_within(RgbImage::new(1000, 1), 10).dimensions(), (10, 1));
    }

    #[test]
    fn reads_rgb_png_without_notes() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let loaded = load_image(&encode(img.clone().into(), image::ImageFormat::Png)).unwrap();
        assert_eq!(loaded.image, img);
        assert!(loaded.notes.is_empty());
    }

    #[test]
    fn converts_grey_alpha_and_16_bit_with_a_note() {
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(4, 4, image::Luma([9])));
        let loaded = load_image(&encode(grey, image::ImageFormat::Png)).unwrap();
        assert_eq!(loaded.image.get_pixel(0, 0).0, [9, 9, 9]);
        assert_eq!(loaded.notes.len(), 1);
        let rgba = DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(
            2,
            2,
            image::Rgba([65535, 0, 0, 1]),
        ));
        let loaded = load_image(&encode(rgba, image::ImageFormat::Png)).unwrap();
        assert_eq!(loaded.image.get_pixel(1, 1).0, [255, 0, 0]);
        assert!(loaded.notes[0].contains("alpha"));
    }

    #[test]
    fn rejects_garbage_truncated_and_huge() {
        assert!(load_image(b"").is_err());
        assert!(load_image(b"hello, not an image").is_err());
        // Noise, so the pixel data is most of the file: cuts inside it lose pixels.
        let mut rng = crate::rng::SplitMix64(5);
        let noisy = RgbImage::from_fn(64, 64, |_, _| image::Rgb([rng.next_u64() as u8, 0, 9]));
        let png = encode(noisy.into(), image::ImageFormat::Png);
        for n in [8, 20, 40, png.len() / 2, png.len() * 3 / 4] {
            assert!(load_image(&png[..n]).is_err(), "truncated at {n}");
        }
        // A BMP header that declares 100000 x 100000 pixels.
        let mut bmp = encode(RgbImage::new(1, 1).into(), image::ImageFormat::Bmp);
        bmp[18..22].copy_from_slice(&100_000i32.to_le_bytes());
        bmp[22..26].copy_from_slice(&100_000i32.to_le_bytes());
        assert!(load_image(&bmp).is_err());
    }
}
