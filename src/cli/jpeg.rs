//! JPEG at a matched bitrate: the `image` crate's encoder at the quality whose file is
//! closest in size to a `.sac` file's (`eval`'s per-image reference).

use std::collections::HashMap;

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, RgbImage};
use sacodec::bpp;
use sacodec::codec::patches::Grid;

/// JPEG-encodes `img` with the `image` crate's encoder at `quality` (1..=100).
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|e| format!("JPEG encoder: {e}"))?;
    Ok(out)
}

/// The quality in 1..=100 whose bitrate (`bpp_of`) is closest to `target`.
///
/// Assumes the bitrate does not fall as the quality rises: a binary search finds the lowest
/// quality that reaches `target` (100 if none does), then the quality below it is compared.
/// `bpp_of` is called at most 8 times, once per quality; if the bitrate is not monotone the
/// search still ends, with a quality that is merely close.
pub fn closest_quality(
    target: f64,
    mut bpp_of: impl FnMut(u8) -> Result<f64, String>,
) -> Result<u8, String> {
    if !target.is_finite() {
        return Err(format!(
            "JPEG matching: target bitrate {target} is not finite"
        ));
    }
    let mut seen: HashMap<u8, f64> = HashMap::new();
    let mut rate = |q: u8| -> Result<f64, String> {
        if let Some(&r) = seen.get(&q) {
            return Ok(r);
        }
        let r = bpp_of(q)?;
        seen.insert(q, r);
        Ok(r)
    };
    let (mut lo, mut hi) = (1u8, 100u8);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if rate(mid)? >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if lo > 1 && (rate(lo - 1)? - target).abs() < (rate(lo)? - target).abs() {
        lo -= 1;
    }
    Ok(lo)
}

/// JPEG at the bitrate closest to a target.
pub struct JpegMatch {
    /// The JPEG quality chosen.
    pub quality: u8,
    /// `8 × file bytes / pixels` of the JPEG file.
    pub bpp: f64,
    /// The decoded JPEG.
    pub decoded: RgbImage,
}

/// Encodes `img` as JPEG at the quality whose bitrate is closest to `target_bpp`.
pub fn match_jpeg(img: &RgbImage, target_bpp: f64) -> Result<JpegMatch, String> {
    let grid = Grid::new(img.width(), img.height());
    let mut files: HashMap<u8, Vec<u8>> = HashMap::new();
    let quality = closest_quality(target_bpp, |q| {
        let bytes = encode_jpeg(img, q)?;
        let rate = bpp(bytes.len(), grid);
        files.insert(q, bytes);
        Ok(rate)
    })?;
    let bytes = &files[&quality];
    let decoded = image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
        .map_err(|e| format!("JPEG decoder: {e}"))?
        .to_rgb8();
    Ok(JpegMatch {
        quality,
        bpp: bpp(bytes.len(), grid),
        decoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_quality_search_ends_near_the_target() {
        let calls = std::cell::Cell::new(0);
        let mut rate = |q: u8| {
            calls.set(calls.get() + 1);
            Ok(f64::from(q) / 10.0)
        };
        assert_eq!(closest_quality(4.26, &mut rate).unwrap(), 43);
        assert!(calls.get() <= 8, "{} calls", calls.get());
        assert_eq!(closest_quality(4.24, &mut rate).unwrap(), 42);
        assert_eq!(closest_quality(-1.0, &mut rate).unwrap(), 1);
        assert_eq!(closest_quality(99.0, &mut rate).unwrap(), 100);
        assert!(closest_quality(f64::NAN, &mut rate).is_err());
        // Not monotone: still ends.
        let q = closest_quality(0.5, |q| Ok(f64::from(q % 7))).unwrap();
        assert!((1..=100).contains(&q));
    }

    #[test]
    fn matched_jpeg_is_close_to_the_target_bitrate() {
        let img = RgbImage::from_fn(96, 64, |x, y| {
            let n = (x * 7919 + y * 104_729) % 61;
            image::Rgb([(x * 2 + n) as u8, (y * 3 + n) as u8, ((x ^ y) * 4) as u8])
        });
        let target = bpp(encode_jpeg(&img, 60).unwrap().len(), Grid::new(96, 64));
        let m = match_jpeg(&img, target).unwrap();
        assert!(
            (m.bpp - target).abs() / target < 0.05,
            "{} vs {target}",
            m.bpp
        );
        assert_eq!(m.decoded.dimensions(), img.dimensions());
        assert_eq!(match_jpeg(&img, 1e-3).unwrap().quality, 1);
        assert_eq!(match_jpeg(&img, 1e3).unwrap().quality, 100);
    }
}
