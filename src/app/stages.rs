//! The codec's stages as jobs on the page's workers (`sacodec::jobs`): starting the pool, the
//! scheduling, with a lost GPU's unfinished jobs moved to CPU workers, and the stages a photo
//! goes through — coding, decoding, enhancing — as the page's run and its curve both use
//! them. What a stage shows of its progress is its caller's to say (`progress`).

use std::cell::RefCell;
use std::rc::Rc;

use image::RgbImage;
use leptos::prelude::*;
use sacodec::codec::patches::{self, Grid};
use sacodec::jobs::{
    self, Backend, Decoding, Done, Enhancing, FileContent, Job, Queue, Reply, Sizes, Stop,
};
use sacodec::model::ENHANCE_TILE;

use crate::pool::{self, Pool};
use crate::state::{AppState, Source};
use crate::web::now_ms;

/// The enhancer's tile side for work in the background (the photo's curve): small, so that a
/// photo or a level given meanwhile waits little for the tile under way on each worker
/// (128 px, one the workers warmed up at).
pub const BACKGROUND_TILE: usize = jobs::CPU_TILES[1];

/// A reply of the wrong kind for its job.
pub fn unexpected(reply: Reply) -> Stop {
    Stop::Failed(format!("a worker answered out of turn: {reply:?}"))
}

/// Whether run `generation` is still the page's latest ([`Stop::Stale`] if not).
pub fn still(st: &AppState, generation: u64) -> Result<(), Stop> {
    st.current(generation).then_some(()).ok_or(Stop::Stale)
}

/// Runs `jobs` on the pool's workers and hands each reply to `done` with the job's index, as
/// replies arrive. When a worker dies (the GPU was lost) the jobs not done move to a new
/// pool of CPU workers, once; the replies already given are kept, so no job runs twice.
pub async fn run_jobs(
    st: AppState,
    generation: u64,
    stage: &str,
    jobs: Vec<Job>,
    done: impl FnMut(usize, Reply) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let total = jobs.len();
    let queue: Queue = RefCell::new(jobs.into_iter().enumerate().collect());
    let done: &Done = &RefCell::new(done);
    let mut moved = false;
    loop {
        let pool = st
            .pool
            .get_value()
            .ok_or_else(|| Stop::Failed("no workers".into()))?;
        match pool.run(&queue, done, &|| still(&st, generation)).await {
            Err(Stop::Lost(why)) if !moved => {
                moved = true;
                let left = queue.borrow().len();
                st.notice(format!(
                    "{} failed ({why}): the {left} of {total} {stage} jobs not done move \
                     to the CPU; the {} done are kept.",
                    pool.backend.label(),
                    total - left
                ));
                start_pool(st, Backend::Cpu).await?;
                still(&st, generation)?;
            }
            Err(Stop::Lost(why)) => return Err(Stop::Failed(why)),
            outcome => return outcome,
        }
    }
}

/// One job on the pool.
pub async fn run_one(st: AppState, generation: u64, stage: &str, job: Job) -> Result<Reply, Stop> {
    let mut reply = None;
    run_jobs(st, generation, stage, vec![job], |_, r| {
        reply = Some(r);
        Ok(())
    })
    .await?;
    reply.ok_or_else(|| Stop::Failed(format!("no reply to the {stage} job")))
}

/// Starts workers on `backend` with the weights loaded (one on WebGPU, [`pool::cpu_workers`]
/// on the CPU) in place of the pool in use, which stays if this fails.
pub async fn start_pool(st: AppState, backend: Backend) -> Result<(), String> {
    let weights = st.weights.get_value().ok_or("the weights are not loaded")?;
    let count = match backend {
        Backend::WebGpu => 1,
        Backend::Cpu => pool::cpu_workers(),
    };
    st.status.set(format!(
        "Preparing the networks on {} ({count} worker{})…",
        backend.label(),
        if count == 1 { "" } else { "s" }
    ));
    let t = now_ms();
    let pool = Pool::start(backend, count, &weights).await?;
    st.time("networks", now_ms() - t);
    let levels = pool.bundle.levels;
    st.levels.set(levels as usize);
    st.quality
        .update(|q| *q = (*q).min(levels.saturating_sub(1)));
    st.workers.set(pool.len());
    st.pool.set_value(Some(Rc::new(pool)));
    st.backend.set(Some(backend));
    Ok(())
}

/// The [`Job::Code`] of `source` at `quality`: the file offered for download
/// ([`sacodec::codec::Ways::default_file`]), the sizes of every file, and the file read back.
pub async fn code(
    st: AppState,
    generation: u64,
    source: &Source,
    quality: u8,
) -> Result<(Vec<u8>, Sizes, FileContent), Stop> {
    let job = Job::Code {
        analysis: source.analysis.clone(),
        quality,
    };
    match run_one(st, generation, "coding", job).await? {
        Reply::Coded {
            file,
            sizes,
            content,
        } => Ok((file, sizes, content)),
        other => Err(unexpected(other)),
    }
}

/// The decoder on a file's latents, batch by batch on the workers: the padded planar image
/// and its 8-bit crop. `progress` hears how many patches are decoded after each batch.
pub async fn decode(
    st: AppState,
    generation: u64,
    content: &FileContent,
    mut progress: impl FnMut(usize),
) -> Result<(Vec<f32>, RgbImage), Stop> {
    let (mut decoding, jobs) = Decoding::new(&content.latents, content.grid, content.quality);
    run_jobs(st, generation, "decoding", jobs, |i, reply| {
        decoding.put(i, reply)?;
        progress(decoding.patches_done());
        Ok(())
    })
    .await?;
    let planar = decoding.finish()?;
    let image = patches::crop_to_rgb8(&planar, content.grid);
    Ok((planar, image))
}

/// Whether the enhancer runs at `quality`: asked for, and on for the level in the weights.
pub fn enhances(st: &AppState, quality: u8) -> bool {
    st.enhance.get_untracked()
        && st.pool.with_value(|p| {
            p.as_ref()
                .is_some_and(|p| p.bundle.enhances.get(quality as usize) == Some(&true))
        })
}

/// The enhancer on a decoded padded planar image of `grid`, tile by tile on the workers, in
/// the tiles that finish soonest (or, `background`, of [`BACKGROUND_TILE`] pixels).
/// `progress` hears `(tiles done, tiles)` after each tile.
pub async fn enhance(
    st: AppState,
    generation: u64,
    planar: &[f32],
    grid: Grid,
    quality: u8,
    background: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<RgbImage, Stop> {
    let side = match st.backend.get_untracked() {
        _ if background => BACKGROUND_TILE,
        Some(Backend::WebGpu) => ENHANCE_TILE,
        _ => jobs::tile_side(grid, st.workers.get_untracked(), &jobs::CPU_TILES),
    };
    let (mut enhancing, jobs) = Enhancing::new(planar, grid, quality, side);
    let (tiles, mut done) = (jobs.len(), 0);
    run_jobs(st, generation, "enhancer", jobs, |i, reply| {
        enhancing.put(i, reply)?;
        done += 1;
        progress(done, tiles);
        Ok(())
    })
    .await?;
    Ok(patches::crop_to_rgb8(&enhancing.finish()?, grid))
}
