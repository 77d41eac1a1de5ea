//! Cutting an image into 32×32 patches and stitching it back.
//!
//! The image is padded on the right and bottom to multiples of 32 by edge replication, then cut
//! in raster order. Patches are planar `f32` in [0, 1], `[n, 3, 32, 32]` flattened.

use image::RgbImage;

use crate::model::{PATCH, PATCH_LEN};

/// The patch grid of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// One enhancer tile of a planar `[3, height, width]` image: the `core` it writes and the
/// `region` it reads, the core with up to `margin` pixels of context on every side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Rows `y0..y1` and columns `x0..x1` read.
    pub region: [usize; 4],
    /// Rows `y0..y1` and columns `x0..x1` written.
    pub core: [usize; 4],
}

impl Tile {
    /// The tiles of a `height × width` image in raster order, `side` pixels square (less at
    /// the right and bottom edges), each reading `margin` pixels around it.
    pub fn cover(height: usize, width: usize, side: usize, margin: usize) -> Vec<Tile> {
        let side = side.max(1);
        let mut tiles = Vec::new();
        for ty in (0..height).step_by(side) {
            for tx in (0..width).step_by(side) {
                let core = [ty, (ty + side).min(height), tx, (tx + side).min(width)];
                let region = [
                    ty.saturating_sub(margin),
                    (core[1] + margin).min(height),
                    tx.saturating_sub(margin),
                    (core[3] + margin).min(width),
                ];
                tiles.push(Tile { region, core });
            }
        }
        tiles
    }

    /// Height and width of the region.
    pub fn region_size(&self) -> (usize, usize) {
        let [y0, y1, x0, x1] = self.region;
        (y1 - y0, x1 - x0)
    }

    /// The region of a planar `[3, height, width]` image, planar `[3, rh, rw]`.
    pub fn cut(&self, planar: &[f32], height: usize, width: usize) -> Vec<f32> {
        assert_eq!(planar.len(), 3 * height * width);
        let [y0, y1, x0, _] = self.region;
        let (_, rw) = self.region_size();
        let mut out = Vec::with_capacity(3 * (y1 - y0) * rw);
        for c in 0..3 {
            for y in y0..y1 {
                out.extend_from_slice(&planar[(c * height + y) * width + x0..][..rw]);
            }
        }
        out
    }

    /// Writes the core of `region` (what [`Tile::cut`] gave, processed) into `out`, a planar
    /// `[3, height, width]` image.
    pub fn paste(&self, region: &[f32], out: &mut [f32], height: usize, width: usize) {
        let (rh, rw) = self.region_size();
        assert_eq!(region.len(), 3 * rh * rw);
        let [y0, _, x0, _] = self.region;
        let [cy0, cy1, cx0, cx1] = self.core;
        for c in 0..3 {
            for y in cy0..cy1 {
                let src = &region[(c * rh + y - y0) * rw + cx0 - x0..][..cx1 - cx0];
                out[(c * height + y) * width + cx0..][..cx1 - cx0].copy_from_slice(src);
            }
        }
    }
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
    fn tiles_cover_every_pixel_once_and_cut_then_paste_is_identity() {
        let (h, w) = (72, 40);
        let planar: Vec<f32> = (0..3 * h * w).map(|i| i as f32).collect();
        let mut out = vec![-1.0; planar.len()];
        let tiles = Tile::cover(h, w, 32, 16);
        assert_eq!(tiles.len(), 3 * 2);
        for t in &tiles {
            t.paste(&t.cut(&planar, h, w), &mut out, h, w);
        }
        assert_eq!(out, planar);
        // The last tile is clipped to the image and reads 16 pixels above and left.
        assert_eq!(tiles[5].core, [64, 72, 32, 40]);
        assert_eq!(tiles[5].region, [48, 72, 16, 40]);
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
