//! A stage of the page's pipeline cut into jobs, and the replies joined, in whatever order they
//! come, into the library's own types.

use image::RgbImage;

use super::{Job, Reply};
use crate::codec::patches::{self, Grid, Tile};
use crate::codec::{Analysis, BATCH};
use crate::error::{Error, Result};
use crate::model::{ENHANCE_MARGIN, LATENT_LEN, PATCH_LEN};

/// The replies of a stage's jobs so far, each in its job's place, whatever order they come in.
struct Slots<T>(Vec<Option<T>>);

impl<T> Slots<T> {
    fn new(jobs: usize) -> Self {
        Self((0..jobs).map(|_| None).collect())
    }

    /// Puts job `i`'s result in its place.
    fn put(&mut self, i: usize, value: T) -> Result<()> {
        match self.0.get_mut(i) {
            Some(slot @ None) => {
                *slot = Some(value);
                Ok(())
            }
            Some(Some(_)) => Err(Error::Worker(format!("job {i} answered twice"))),
            None => Err(Error::Worker(format!("no job {i} in this stage"))),
        }
    }

    /// The results in job order, once every job has one.
    fn finish(self) -> Result<Vec<T>> {
        let n = self.0.len();
        (self.0.into_iter().collect::<Option<Vec<T>>>())
            .ok_or_else(|| Error::Worker(format!("not all of the {n} jobs answered")))
    }
}

fn out_of_turn(reply: Reply) -> Error {
    Error::Worker(format!("a worker answered out of turn: {reply:?}"))
}

/// An image's analysis as [`Job::Analyse`] jobs, one per [`BATCH`] patches in raster order,
/// and their replies joined, in any order, into an [`Analysis`].
pub struct Analysing {
    grid: Grid,
    batches: Slots<(Vec<f32>, Vec<u8>)>,
}

impl Analysing {
    /// The jobs of `img`'s analysis, and what joins their replies.
    pub fn new(img: &RgbImage) -> (Self, Vec<Job>) {
        let jobs: Vec<Job> = (patches::to_patches(img).chunks(BATCH * PATCH_LEN))
            .map(|p| Job::Analyse {
                patches: p.to_vec(),
            })
            .collect();
        let grid = Grid::new(img.width(), img.height());
        let batches = Slots::new(jobs.len());
        (Self { grid, batches }, jobs)
    }

    /// Takes job `i`'s reply.
    pub fn put(&mut self, i: usize, reply: Reply) -> Result<()> {
        let Reply::Analysed { mu, ids } = reply else {
            return Err(out_of_turn(reply));
        };
        if mu.len() != ids.len() * LATENT_LEN {
            return Err(Error::Worker("μ and ids of different patches".into()));
        }
        self.batches.put(i, (mu, ids))
    }

    /// The subclasses known from the first patch on, up to the first batch still out (the
    /// map fills in in raster order).
    pub fn leading_ids(&self) -> Vec<u8> {
        let known = self.batches.0.iter().map_while(Option::as_ref);
        known.flat_map(|(_, ids)| ids.iter().copied()).collect()
    }

    /// The patches analysed so far.
    pub fn patches_done(&self) -> usize {
        self.batches
            .0
            .iter()
            .flatten()
            .map(|(_, ids)| ids.len())
            .sum()
    }

    /// The analysis, once every job has answered.
    pub fn finish(self) -> Result<Analysis> {
        let (mut mu, mut simclr_ids) = (Vec::new(), Vec::new());
        for (m, ids) in self.batches.finish()? {
            mu.extend(m);
            simclr_ids.extend(ids);
        }
        if simclr_ids.len() != self.grid.len() {
            return Err(Error::Worker("the analysis does not fill the grid".into()));
        }
        Ok(Analysis {
            grid: self.grid,
            mu,
            simclr_ids,
        })
    }
}

/// A file's decoding as [`Job::Decode`] jobs, one per [`BATCH`] patches in raster order, and
/// their replies joined, in any order, into the padded planar image.
pub struct Decoding {
    grid: Grid,
    batches: Slots<Vec<f32>>,
}

impl Decoding {
    /// The jobs of decoding `latents` (`grid.len() × LATENT_LEN`) coded at `quality`.
    pub fn new(latents: &[i32], grid: Grid, quality: u8) -> (Self, Vec<Job>) {
        let jobs: Vec<Job> = (latents.chunks(BATCH * LATENT_LEN))
            .map(|z| Job::Decode {
                latents: z.to_vec(),
                quality,
            })
            .collect();
        let batches = Slots::new(jobs.len());
        (Self { grid, batches }, jobs)
    }

    /// Takes job `i`'s reply.
    pub fn put(&mut self, i: usize, reply: Reply) -> Result<()> {
        let Reply::Decoded(p) = reply else {
            return Err(out_of_turn(reply));
        };
        self.batches.put(i, p)
    }

    /// The patches decoded so far.
    pub fn patches_done(&self) -> usize {
        self.batches
            .0
            .iter()
            .flatten()
            .map(|p| p.len() / PATCH_LEN)
            .sum()
    }

    /// The decoded patches stitched, padded planar `[3, H, W]`, once every job has answered.
    pub fn finish(self) -> Result<Vec<f32>> {
        let decoded = self.batches.finish()?.concat();
        if decoded.len() != self.grid.len() * PATCH_LEN {
            return Err(Error::Worker(
                "the decoded patches do not fill the grid".into(),
            ));
        }
        Ok(patches::stitch(&decoded, self.grid))
    }
}

/// The enhancer on a padded planar image as [`Job::Enhance`] jobs, one per tile, and their
/// replies pasted, in any order, into the enhanced image.
pub struct Enhancing {
    grid: Grid,
    tiles: Vec<Tile>,
    regions: Slots<Vec<f32>>,
}

impl Enhancing {
    /// The jobs of enhancing `planar` (padded, of `grid`, coded at `quality`) in tiles of
    /// `side` pixels square.
    pub fn new(planar: &[f32], grid: Grid, quality: u8, side: usize) -> (Self, Vec<Job>) {
        let (h, w) = (grid.padded_height(), grid.padded_width());
        let tiles = Tile::cover(h, w, side, ENHANCE_MARGIN);
        let jobs = (tiles.iter())
            .map(|t| {
                let (th, tw) = t.region_size();
                Job::Enhance {
                    region: t.cut(planar, h, w),
                    height: th as u32,
                    width: tw as u32,
                    quality,
                }
            })
            .collect();
        let regions = Slots::new(tiles.len());
        (
            Self {
                grid,
                tiles,
                regions,
            },
            jobs,
        )
    }

    /// Takes job `i`'s reply.
    pub fn put(&mut self, i: usize, reply: Reply) -> Result<()> {
        let Reply::Enhanced(region) = reply else {
            return Err(out_of_turn(reply));
        };
        let (th, tw) = self.tiles.get(i).map_or((0, 0), Tile::region_size);
        if region.len() != 3 * th * tw {
            return Err(Error::Worker(format!(
                "tile {i}'s region has the wrong size"
            )));
        }
        self.regions.put(i, region)
    }

    /// The enhanced image, padded planar `[3, H, W]`, once every tile has answered.
    pub fn finish(self) -> Result<Vec<f32>> {
        let (h, w) = (self.grid.padded_height(), self.grid.padded_width());
        let mut out = vec![0.0; 3 * h * w];
        for (t, r) in self.tiles.iter().zip(self.regions.finish()?) {
            t.paste(&r, &mut out, h, w);
        }
        Ok(out)
    }
}

/// Enhancer tile sides the page's CPU workers use ([`tile_side`] picks among them); each is
/// warmed up when a worker loads the weights.
pub const CPU_TILES: [usize; 3] = [64, 128, 256];

/// The enhancer tile side, of `sides`, whose tiles of `grid` finish soonest on `workers`
/// workers that each take the next tile when done with one. A tile's work is taken as the
/// pixels it reads (its core and margin): bigger tiles read less margin in all, smaller ones
/// share out more evenly.
pub fn tile_side(grid: Grid, workers: usize, sides: &[usize]) -> usize {
    let (h, w) = (grid.padded_height(), grid.padded_width());
    let finish = |side: usize| {
        let mut loads = vec![0usize; workers.max(1)];
        for t in Tile::cover(h, w, side, ENHANCE_MARGIN) {
            let (th, tw) = t.region_size();
            *loads.iter_mut().min().expect("a worker") += th * tw;
        }
        loads.into_iter().max().unwrap_or(0)
    };
    sides
        .iter()
        .copied()
        .min_by_key(|&side| (finish(side), usize::MAX - side))
        .expect("a tile side")
}
