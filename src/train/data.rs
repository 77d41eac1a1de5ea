//! Training photographs from folders, a held-out split, and random crops (for fitting priors).

use std::path::PathBuf;

use image::RgbImage;

use crate::error::{Error, Result};
use crate::image_io;
use crate::model::PATCH;
use crate::rng::SplitMix64;

/// Training and validation photographs.
pub struct Images {
    /// Images trained on.
    pub train: Vec<RgbImage>,
    /// Held-out images (every `holdout`-th file): checkpoint and K selection only.
    pub valid: Vec<RgbImage>,
}

/// Loads the images under `dirs`, scaling any whose longer side exceeds `max_side` down to it,
/// and skipping files that do not decode or are smaller than two patches a side. Every
/// `holdout`-th file (in sorted order) goes to the validation split.
pub fn load(dirs: &[PathBuf], max_side: u32, holdout: usize) -> Result<Images> {
    let files = image_io::image_files(dirs).map_err(Error::Training)?;
    let mut images = Images {
        train: Vec::new(),
        valid: Vec::new(),
    };
    for (i, path) in files.iter().enumerate() {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let Ok(loaded) = image_io::load_image(&bytes) else {
            continue;
        };
        let img = image_io::fit_within(loaded.image, max_side);
        if img.width() < 2 * PATCH as u32 || img.height() < 2 * PATCH as u32 {
            continue;
        }
        match holdout > 0 && i % holdout == holdout - 1 {
            true => images.valid.push(img),
            false => images.train.push(img),
        }
    }
    if images.train.is_empty() || images.valid.is_empty() {
        return Err(Error::Training(format!(
            "need images for both training and validation: found {} and {} in {} files",
            images.train.len(),
            images.valid.len(),
            files.len()
        )));
    }
    Ok(images)
}

/// Random crops with horizontal flips, planar `[3, s, s]` in [0, 1].
pub struct Sampler {
    rng: SplitMix64,
}

impl Sampler {
    /// A sampler with its own deterministic stream.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64(seed),
        }
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    fn pick<'a>(&mut self, images: &'a [RgbImage], side: usize) -> &'a RgbImage {
        // Images smaller than the crop are skipped (rare: the loader keeps ≥ 64 px sides).
        loop {
            let img = &images[self.below(images.len())];
            if img.width() as usize >= side && img.height() as usize >= side {
                return img;
            }
        }
    }

    /// A random `side × side` crop at (x, y), flipped horizontally with probability ½.
    fn crop_at(&mut self, img: &RgbImage, x: usize, y: usize, side: usize, out: &mut Vec<f32>) {
        let flip = self.rng.next_u64() & 1 == 1;
        for c in 0..3 {
            for j in 0..side {
                for i in 0..side {
                    let xi = if flip { x + side - 1 - i } else { x + i };
                    out.push(img.get_pixel(xi as u32, (y + j) as u32)[c] as f32 / 255.0);
                }
            }
        }
    }

    /// `n` random crops of `side × side`: `n × [3, side, side]`.
    pub fn crops(&mut self, images: &[RgbImage], n: usize, side: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * 3 * side * side);
        for _ in 0..n {
            let img = self.pick(images, side);
            let x = self.below(img.width() as usize - side + 1);
            let y = self.below(img.height() as usize - side + 1);
            self.crop_at(img, x, y, side, &mut out);
        }
        out
    }

    /// `n` random `side × side` crops as images, flipped horizontally with probability ½.
    pub fn crop_images(&mut self, images: &[RgbImage], n: usize, side: usize) -> Vec<RgbImage> {
        (0..n)
            .map(|_| {
                let img = self.pick(images, side);
                let x = self.below(img.width() as usize - side + 1) as u32;
                let y = self.below(img.height() as usize - side + 1) as u32;
                let crop =
                    image::imageops::crop_imm(img, x, y, side as u32, side as u32).to_image();
                match self.rng.next_u64() & 1 == 1 {
                    true => image::imageops::flip_horizontal(&crop),
                    false => crop,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]))
    }

    #[test]
    fn crops_have_the_requested_shape_and_range() {
        let images = vec![gradient(70, 90), gradient(100, 64)];
        let mut s = Sampler::new(1);
        let c = s.crops(&images, 5, 64);
        assert_eq!(c.len(), 5 * 3 * 64 * 64);
        assert!(c.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
