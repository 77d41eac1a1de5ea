//! The page's pipeline as jobs for its Web Workers (`sacodec::jobs`), run here natively
//! through postcard messages: it must make the same files and pictures as `Codec`'s stages.

mod common;

use burn::prelude::Device;
use sacodec::codec::patches::{self, Grid};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use sacodec::jobs::{
    self, Backend, Done, Envelope, Job, Queue, Reconstruction, Reply, Runner, Stop, Worker,
    run_queue,
};
use sacodec::model::{LATENT_LEN, PATCH_LEN, block_on};
use sacodec::{Codec, metrics};

/// Sends `job` to `worker` and back as a worker's message would travel.
fn run(worker: &mut Worker, job: Job) -> Reply {
    let sent = Envelope { id: 7, body: job }.to_bytes();
    let job = Envelope::<Job>::from_bytes(&sent).unwrap();
    let reply = Envelope {
        id: job.id,
        body: block_on(worker.run(job.body)),
    };
    let back = Envelope::<Reply>::from_bytes(&reply.to_bytes()).unwrap();
    assert_eq!(back.id, 7);
    back.body
}

#[test]
fn the_split_pipeline_makes_what_the_codec_makes() {
    let codec = Codec::from_bytes(common::SHIPPED_WEIGHTS, &Device::flex()).unwrap();
    let mut worker = Worker::default();
    // A job before the weights fails, and does not blame the device.
    let early = run(
        &mut worker,
        Job::Read {
            file: common::PARROTS[1].bytes.to_vec(),
        },
    );
    assert!(
        matches!(early, Reply::Failed { device: false, .. }),
        "{early:?}"
    );
    let Reply::Loaded(info) = run(
        &mut worker,
        Job::Load {
            weights: common::SHIPPED_WEIGHTS.to_vec(),
            backend: Backend::Cpu,
        },
    ) else {
        panic!("load failed")
    };
    // What the worker does before its next job: every network once.
    block_on(worker.warm_up()).unwrap();
    assert_eq!(info.levels as usize, codec.bundle().levels.len());
    assert_eq!(info.subclasses as usize, codec.bundle().subclasses());

    let png = std::fs::read("tests/fixtures/parrots-200x136.png").unwrap();
    let Reply::Opened { image, notes } = run(
        &mut worker,
        Job::Open {
            file: png,
            max_side: 128,
        },
    ) else {
        panic!("open failed")
    };
    assert_eq!((image.width, image.height), (128, 87));
    assert!(
        notes.iter().any(|n| n.contains("Scaled down from 200×136")),
        "{notes:?}"
    );
    let img: image::RgbImage = image.try_into().unwrap();
    let grid = Grid::new(img.width(), img.height());

    // Analysis, batch by batch, as the workers run it, the replies joined in reverse order.
    let (mut analysing, jobs) = jobs::Analysing::new(&img);
    let replies: Vec<Reply> = jobs.into_iter().map(|job| run(&mut worker, job)).collect();
    for (i, reply) in replies.into_iter().enumerate().rev() {
        assert!(
            analysing.leading_ids().is_empty(),
            "the first batch is still out"
        );
        analysing.put(i, reply).unwrap();
    }
    assert_eq!(analysing.patches_done(), grid.len());
    assert_eq!(analysing.leading_ids().len(), grid.len());
    let analysis = analysing.finish().unwrap();
    assert_eq!(analysis, codec.analyse(&img).unwrap());

    // A level where the enhancer runs (the shipped weights turn it off at some).
    let quality = (0..info.levels)
        .rev()
        .find(|&q| info.enhances[q as usize])
        .unwrap();
    let Reply::Coded {
        file,
        sizes,
        content,
    } = run(
        &mut worker,
        Job::Code {
            analysis: analysis.clone(),
            quality,
        },
    )
    else {
        panic!("code failed")
    };
    let ways = codec.encode_every_way(&analysis, quality).unwrap();
    let default = ways.default_file();
    assert_eq!(file, default.bytes);
    // The rate-optimal files come from their own job; with them, the sizes of every way.
    let Reply::RateOptimal { subclass, context } = run(
        &mut worker,
        Job::RateOptimal {
            analysis: analysis.clone(),
            quality,
        },
    ) else {
        panic!("rate-optimal coding failed")
    };
    assert_eq!(
        (sizes.rate_optimal, sizes.context_rate_optimal),
        (None, None)
    );
    let all = jobs::Sizes {
        rate_optimal: Some(subclass),
        context_rate_optimal: context,
        ..sizes
    };
    assert_eq!(all, jobs::Sizes::of(&ways));
    assert_eq!(
        sizes.context_simclr,
        Some(file.len()),
        "the shipped weights code with context"
    );
    assert_eq!(content.mode, sacodec::PriorMode::Context);
    assert_eq!(content.latents, default.latents);
    assert_eq!(content.bits.len(), grid.len());
    // What context saved each patch adds up to the two files' information content.
    let saved: f64 = content.saved.iter().map(|&b| b as f64).sum();
    let want = ways.simclr.information_bits - default.information_bits;
    assert!(
        (saved - want).abs() < 1e-3 * want.abs().max(1.0),
        "{saved} vs {want}"
    );
    assert_eq!(
        content.digest,
        sacodec::codec::latents_digest(&default.latents, default.ids.as_deref())
    );

    // Decoding and the enhancer, batch by batch and tile by tile, joined out of order.
    let (mut decoding, jobs) = jobs::Decoding::new(&content.latents, grid, quality);
    let mut replies: Vec<(usize, Reply)> = jobs
        .into_iter()
        .map(|job| run(&mut worker, job))
        .enumerate()
        .collect();
    replies.rotate_left(1);
    for (i, reply) in replies {
        decoding.put(i, reply).unwrap();
    }
    let planar = decoding.finish().unwrap();
    let read = codec.read(&file).unwrap();
    assert_eq!(planar, codec.reconstruct(&read));
    let (mut enhancing, jobs) = jobs::Enhancing::new(&planar, grid, quality, 64);
    assert!(jobs.len() > 1);
    for (i, job) in jobs.into_iter().enumerate().rev() {
        enhancing.put(i, run(&mut worker, job)).unwrap();
    }
    let enhanced = enhancing.finish().unwrap();
    let none = |_, _| async { Ok::<(), sacodec::Error>(()) };
    let want = block_on(codec.enhance_with(&planar, grid, quality, 64, none)).unwrap();
    assert_eq!(enhanced, want);
    assert_ne!(enhanced, planar);

    let picture = patches::crop_to_rgb8(&planar, grid);
    let Reply::Measured {
        psnr,
        ms_ssim,
        decoded,
    } = run(
        &mut worker,
        Job::Measure {
            original: img.clone().into(),
            picture: Reconstruction::Pixels(picture.clone().into()),
        },
    )
    else {
        panic!("measure failed")
    };
    assert_eq!(psnr, metrics::psnr(&img, &picture));
    assert_eq!(ms_ssim, metrics::ms_ssim(&img, &picture));
    assert!(decoded.is_none());
    let Reply::Png(png) = run(
        &mut worker,
        Job::Png {
            image: picture.clone().into(),
        },
    ) else {
        panic!("png failed")
    };
    assert_eq!(image::load_from_memory(&png).unwrap().into_rgb8(), picture);
    assert_eq!(content.latents.len(), grid.len() * LATENT_LEN);

    // What a subclass's prior expects of each channel, beside the global prior's.
    let Reply::Prior { subclass, global } = run(
        &mut worker,
        Job::Prior {
            quality: 2,
            subclass: 3,
        },
    ) else {
        panic!("prior failed")
    };
    let level = codec.level(2).unwrap();
    assert_eq!(Some(subclass), level.channel_bits(Some(3)));
    assert_eq!(Some(global), level.channel_bits(None));
}

#[test]
fn bad_jobs_fail_without_panicking() {
    let mut worker = Worker::default();
    let load = Job::Load {
        weights: common::SHIPPED_WEIGHTS.to_vec(),
        backend: Backend::Cpu,
    };
    assert!(matches!(run(&mut worker, load), Reply::Loaded(_)));
    let mut corrupt = common::PARROTS[1].bytes.to_vec();
    corrupt[40] ^= 1;
    for job in [
        Job::Read { file: corrupt },
        Job::Open {
            file: b"not an image".to_vec(),
            max_side: 64,
        },
        Job::Analyse {
            patches: vec![0.5; 100],
        },
        Job::Decode {
            latents: vec![0; LATENT_LEN],
            quality: 99,
        },
        Job::Enhance {
            region: vec![0.5; 3 * 8 * 9],
            height: 8,
            width: 9,
            quality: 0,
        },
        Job::Code {
            analysis: sacodec::codec::Analysis {
                grid: Grid::new(64, 64),
                mu: vec![],
                simclr_ids: vec![],
            },
            quality: 0,
        },
        Job::RateOptimal {
            analysis: sacodec::codec::Analysis {
                grid: Grid::new(64, 64),
                mu: vec![0.0; LATENT_LEN],
                simclr_ids: vec![0],
            },
            quality: 0,
        },
        Job::Prior {
            quality: 0,
            subclass: u8::MAX,
        },
        Job::Prior {
            quality: 99,
            subclass: 0,
        },
    ] {
        let reply = run(&mut worker, job);
        assert!(
            matches!(reply, Reply::Failed { device: false, .. }),
            "{reply:?}"
        );
    }
    assert!(Envelope::<Job>::from_bytes(&[0xff; 3]).is_err());
}

#[test]
fn a_stage_joins_only_whole_sets_of_replies() {
    let grid = Grid::new(96, 64);
    let (mut decoding, jobs) = jobs::Decoding::new(&vec![0; grid.len() * LATENT_LEN], grid, 0);
    assert_eq!(jobs.len(), 1);
    // A reply of another stage, a job that is not there, one answered twice, one missing.
    assert!(decoding.put(0, Reply::Png(vec![])).is_err());
    assert!(
        decoding
            .put(1, Reply::Decoded(vec![0.0; 6 * PATCH_LEN]))
            .is_err()
    );
    decoding
        .put(0, Reply::Decoded(vec![0.5; 6 * PATCH_LEN]))
        .unwrap();
    assert!(
        decoding
            .put(0, Reply::Decoded(vec![0.5; 6 * PATCH_LEN]))
            .is_err()
    );
    assert_eq!(
        decoding.finish().unwrap().len(),
        3 * grid.padded_height() * grid.padded_width()
    );
    let (decoding, _) = jobs::Decoding::new(&vec![0; grid.len() * LATENT_LEN], grid, 0);
    assert!(decoding.finish().is_err(), "a job not answered");
    // Replies that do not fill the image.
    let (mut decoding, _) = jobs::Decoding::new(&vec![0; grid.len() * LATENT_LEN], grid, 0);
    decoding
        .put(0, Reply::Decoded(vec![0.5; PATCH_LEN]))
        .unwrap();
    assert!(decoding.finish().is_err());
    let planar = vec![0.5; 3 * grid.padded_height() * grid.padded_width()];
    let (mut enhancing, jobs) = jobs::Enhancing::new(&planar, grid, 0, 64);
    assert!(
        enhancing.put(0, Reply::Enhanced(vec![0.0; 5])).is_err(),
        "a region of the wrong size"
    );
    assert!(jobs.len() > 1);
}

/// A worker that answers a job with the job's number (its `quality`), and is lost at its
/// `lost_at`-th call.
struct FakeWorker {
    lost_at: Option<usize>,
    calls: Cell<usize>,
}

impl FakeWorker {
    fn new(lost_at: Option<usize>) -> Self {
        Self {
            lost_at,
            calls: Cell::new(0),
        }
    }
}

impl Runner for FakeWorker {
    async fn call(&self, job: &Job) -> Result<Reply, Stop> {
        let n = self.calls.replace(self.calls.get() + 1);
        let Job::Decode { quality, .. } = job else {
            panic!("not a test job")
        };
        match Some(n) == self.lost_at {
            true => Err(Stop::Lost("the device was lost".into())),
            false => Ok(Reply::Decoded(vec![f32::from(*quality)])),
        }
    }
}

#[test]
fn a_lost_workers_jobs_are_run_once_elsewhere() {
    let queue: Queue = RefCell::new(
        (0..7u8)
            .map(|i| {
                let job = Job::Decode {
                    latents: vec![],
                    quality: i,
                };
                (usize::from(i), job)
            })
            .collect::<VecDeque<_>>(),
    );
    let answered = RefCell::new(Vec::new());
    let done: &Done = &RefCell::new(|i: usize, reply: Reply| {
        let Reply::Decoded(v) = reply else {
            return Err(Stop::Failed("out of turn".into()));
        };
        assert_eq!(v, [i as f32], "the reply of job {i}");
        answered.borrow_mut().push(i);
        Ok(())
    });
    let go_on = || Ok(());
    // The first worker is lost at its second job: the run stops, that job back in the queue.
    let gpu = [FakeWorker::new(Some(1)), FakeWorker::new(None)];
    let lost = block_on(run_queue(&gpu, &queue, done, &go_on));
    assert_eq!(lost, Err(Stop::Lost("the device was lost".into())));
    let left: Vec<usize> = queue.borrow().iter().map(|(i, _)| *i).collect();
    assert_eq!(
        left.len() + 1,
        7,
        "one job answered, the lost one handed back: {left:?}"
    );
    // The rest on other workers: every job answered once, one call more than jobs in all.
    let cpu = [FakeWorker::new(None), FakeWorker::new(None)];
    block_on(run_queue(&cpu, &queue, done, &go_on)).unwrap();
    assert!(queue.borrow().is_empty());
    let calls: usize = gpu.iter().chain(&cpu).map(|w| w.calls.get()).sum();
    assert_eq!(calls, 8);
    let mut answered = answered.take();
    answered.sort();
    assert_eq!(answered, (0..7).collect::<Vec<_>>());
}

#[test]
fn a_run_stops_when_told_and_keeps_what_is_left() {
    let queue: Queue = RefCell::new(
        (0..5u8)
            .map(|i| {
                (
                    usize::from(i),
                    Job::Decode {
                        latents: vec![],
                        quality: i,
                    },
                )
            })
            .collect(),
    );
    let done: &Done = &RefCell::new(|_, _| Ok(()));
    let asked = Cell::new(0);
    let go_on = || match asked.replace(asked.get() + 1) {
        0..2 => Ok(()),
        _ => Err(Stop::Stale),
    };
    let workers = [FakeWorker::new(None)];
    assert_eq!(
        block_on(run_queue(&workers, &queue, done, &go_on)),
        Err(Stop::Stale)
    );
    assert_eq!(queue.borrow().len(), 3, "two jobs run, three left");
}

#[test]
fn the_page_asks_for_workers_in_its_address() {
    assert_eq!(jobs::cpu_workers("", 2, 4), 2);
    assert_eq!(jobs::cpu_workers("", 12, 4), 4, "at most 4 by default");
    assert_eq!(jobs::cpu_workers("", 0, 4), 1, "at least one");
    assert_eq!(jobs::cpu_workers("?workers=3", 2, 4), 3);
    assert_eq!(jobs::cpu_workers("?x=1&workers=16", 2, 4), 16);
    for bad in [
        "?workers=0",
        "?workers=17",
        "?workers=two",
        "?workers=",
        "?xworkers=3",
    ] {
        assert_eq!(jobs::cpu_workers(bad, 2, 4), 2, "{bad}");
    }
}

#[test]
fn the_tile_side_shares_the_enhancer_out() {
    let sides = jobs::CPU_TILES;
    // One worker: the biggest tiles read the least margin.
    assert_eq!(jobs::tile_side(Grid::new(768, 512), 1, &sides), 256);
    // 768 × 512 on 2 workers: six 256-px tiles split 3 and 3.
    assert_eq!(jobs::tile_side(Grid::new(768, 512), 2, &sides), 256);
    // A 256 × 256 image on 4 workers: one 256-px tile would leave three idle.
    assert_eq!(jobs::tile_side(Grid::new(256, 256), 4, &sides), 128);
}
