//! Cutting an image into 32×32 patches and stitching it back.
//!
//! The image is padded on the right and bottom to multiples of 32 by edge replication, then cut
//! in raster order. Patches are planar `f32` in [0, 1], `[n, 3, 32, 32]` flattened.

use image::RgbImage;

use crate::model::PATCH;

const PATCH_LEN: usize = 3 * PATCH * PATCH;

/// The patch grid of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grid {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
}

impl Grid {
    /// The grid of a `width × height` image.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Patches per row.
    pub fn cols(&self) -> usize {
        (self.width as usize).div_ceil(PATCH)
    }

    /// Patch rows.
    pub fn rows(&self) -> usize {
        (self.height as usize).div_ceil(PATCH)
    }

    /// Number of patches.
    pub fn len(&self) -> usize {
        self.cols() * self.rows()
    }

    /// Whether the grid has no patches (a zero-sized image).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Padded width (a multiple of 32).
    pub fn padded_width(&self) -> usize {
        self.cols() * PATCH
    }

    /// Padded height (a multiple of 32).
    pub fn padded_height(&self) -> usize {
        self.rows() * PATCH
    }
}

/// Cuts `img` into patches (edge-replicated padding), raster order.
pub fn to_patches(img: &RgbImage) -> Vec<f32> {
    let grid = Grid::new(img.width(), img.height());
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0.0f32; grid.len() * PATCH_LEN];
    for (p, patch) in out.chunks_exact_mut(PATCH_LEN).enumerate() {
        let (x0, y0) = ((p % grid.cols()) * PATCH, (p / grid.cols()) * PATCH);
        for y in 0..PATCH {
            let sy = (y0 + y).min(h - 1);
            for x in 0..PATCH {
                let sx = (x0 + x).min(w - 1);
                let px = img.get_pixel(sx as u32, sy as u32).0;
                for c in 0..3 {
                    patch[(c * PATCH + y) * PATCH + x] = px[c] as f32 / 255.0;
                }
            }
        }
    }
    out
}

/// Stitches patches into the padded planar image `[3, padded_height, padded_width]`.
pub fn stitch(patches: &[f32], grid: Grid) -> Vec<f32> {
    assert_eq!(
        patches.len(),
        grid.len() * PATCH_LEN,
        "one patch per grid cell"
    );
    let (pw, ph) = (grid.padded_width(), grid.padded_height());
    let mut out = vec![0.0f32; 3 * pw * ph];
    for (p, patch) in patches.chunks_exact(PATCH_LEN).enumerate() {
        let (x0, y0) = ((p % grid.cols()) * PATCH, (p / grid.cols()) * PATCH);
        for c in 0..3 {
            for y in 0..PATCH {
                let src = &patch[(c * PATCH + y) * PATCH..][..PATCH];
                let dst = (c * ph + y0 + y) * pw + x0;
                out[dst..dst + PATCH].copy_from_slice(src);
            }
        }
    }
    out
}

/// Crops a padded planar image (`[3, padded_height, padded_width]`, values in [0, 1]) back to
/// the grid's size as 8-bit RGB (rounded, clamped).
pub fn crop_to_rgb8(planar: &[f32], grid: Grid) -> RgbImage {
    let (pw, ph) = (grid.padded_width(), grid.padded_height());
    assert_eq!(planar.len(), 3 * pw * ph);
    RgbImage::from_fn(grid.width, grid.height, |x, y| {
        let at = |c: usize| planar[(c * ph + y as usize) * pw + x as usize];
        image::Rgb([to_u8(at(0)), to_u8(at(1)), to_u8(at(2))])
    })
}

/// Pads `img` to the grid's padded size (edge replication) as planar `[3, H, W]` in [0, 1].
pub fn to_planar_padded(img: &RgbImage) -> Vec<f32> {
    stitch(&to_patches(img), Grid::new(img.width(), img.height()))
}

/// [0, 1] → 0..=255, rounded to nearest.
pub fn to_u8(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_image(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7 + y) as u8, (y * 13) as u8, (x ^ y) as u8])
        })
    }

    #[test]
    fn round_trip_is_exact_for_many_sizes() {
        for (w, h) in [(1, 1), (31, 1), (32, 32), (33, 65), (100, 37), (64, 96)] {
            let img = test_image(w, h);
            let grid = Grid::new(w, h);
            let patches = to_patches(&img);
            assert_eq!(patches.len(), grid.len() * PATCH_LEN);
            let back = crop_to_rgb8(&stitch(&patches, grid), grid);
            assert_eq!(back, img, "{w}x{h}");
        }
    }

    #[test]
    fn grid_counts_patches_in_raster_order() {
        let grid = Grid::new(100, 37);
        assert_eq!((grid.cols(), grid.rows(), grid.len()), (4, 2, 8));
        assert_eq!((grid.padded_width(), grid.padded_height()), (128, 64));
        // Patch 5 is row 1, column 1: its top-left pixel is (32, 32).
        let img = test_image(100, 37);
        let patches = to_patches(&img);
        let p5 = &patches[5 * PATCH_LEN..];
        assert_eq!(p5[0], img.get_pixel(32, 32).0[0] as f32 / 255.0);
    }

    #[test]
    fn padding_replicates_edges() {
        let img = test_image(33, 1);
        let planar = to_planar_padded(&img);
        let pw = 64;
        // Every row of the padding repeats row 0; column 40 repeats column 32.
        for c in 0..3 {
            let edge = img.get_pixel(32, 0).0[c] as f32 / 255.0;
            assert_eq!(planar[(c * 32 + 31) * pw + 40], edge);
        }
    }
}
