//! Training every network of the pipeline (native only), in four resumable stages:
//!
//! 1. `vae`: the PatchVAE for rate–distortion at every quality level ([`rd`]).
//! 2. `simclr`: the SimCLR projection on the frozen encoder's μ ([`simclr`]).
//! 3. `priors`: spherical k-means for each candidate K, priors fitted per level on training
//!    latents, K chosen by the bits it saves on held-out images; writes `bundle.safetensors`
//!    in the run folder (with the enhancer still the identity).
//! 4. `enhancer`: the AttentionUNet on (stitched decoded crop, original crop) pairs.
//!
//! A run folder holds each stage's checkpoint (burnpack model and optimizer records) and
//! `state.json` (steps done, wall time); running the same command again continues where it
//! stopped. Asking for more steps of a finished stage continues it, and the stages after it
//! start over (more VAE steps retrain SimCLR, priors and enhancer; more SimCLR steps refit the
//! priors). The finished bundle is written to [`TrainConfig::out`].

pub mod data;
pub mod rd;
pub mod simclr;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::store::ModuleRecord;
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::coder::{LevelCoder, LevelPriors};
use crate::entropy::GaussianTables;
use crate::fit;
use crate::model::{
    AttentionUNet, AttentionUNetConfig, LATENT_CHANNELS, LATENT_LEN, LATENT_SIDE,
    LatentSimClrProjectionConfig, Networks, PATCH,
};
use crate::patches::{self, Grid};
use data::{Images, Sampler};
use rd::RdModel;

/// Everything a run needs; the defaults are the final settings of the shipped weights' run
/// (whose history, in `weights/manifest.json`, changed some of them on the way).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Folders of training photographs (searched recursively).
    pub data: Vec<PathBuf>,
    /// Run folder: checkpoints, state and log.
    pub run: PathBuf,
    /// Where the finished bundle is written.
    pub out: PathBuf,
    /// Longer image sides are scaled down to this on loading.
    pub max_side: u32,
    /// Every `holdout`-th file is held out for validation.
    pub holdout: usize,
    /// Quality levels (λ from [`rd::LAMBDAS`], lowest first).
    pub levels: usize,
    /// PatchVAE steps and patches per step.
    pub vae_steps: usize,
    /// Patches per VAE step.
    pub vae_batch: usize,
    /// Adam learning rate of the VAE and SimCLR stages (divided by 10 for the last fifth of each).
    pub lr: f64,
    /// SimCLR steps.
    pub simclr_steps: usize,
    /// Region pairs per SimCLR step.
    pub simclr_batch: usize,
    /// Training patches the priors are fitted on.
    pub prior_patches: usize,
    /// Held-out patches K is chosen on.
    pub valid_patches: usize,
    /// Candidate numbers of subclasses.
    pub subclass_choices: Vec<usize>,
    /// Enhancer steps.
    pub enhancer_steps: usize,
    /// Adam learning rate of the enhancer (divided by 10 for its last fifth).
    pub enhancer_lr: f64,
    /// Crops per enhancer step.
    pub enhancer_batch: usize,
    /// Enhancer crop side (a multiple of 32).
    pub enhancer_crop: usize,
    /// Seed of every random stream.
    pub seed: u64,
    /// Steps between log lines.
    pub log_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

impl TrainConfig {
    /// The shipped weights' settings for the given folders.
    pub fn new(data: Vec<PathBuf>, run: PathBuf, out: PathBuf) -> Self {
        Self {
            data,
            run,
            out,
            max_side: 1024,
            holdout: 10,
            levels: rd::LAMBDAS.len(),
            vae_steps: 20000,
            vae_batch: 128,
            lr: 1e-3,
            simclr_steps: 1000,
            simclr_batch: 128,
            prior_patches: 32768,
            valid_patches: 4096,
            subclass_choices: vec![16, 32, 64, 128],
            enhancer_steps: 1000,
            enhancer_lr: 2e-3,
            enhancer_batch: 8,
            enhancer_crop: 96,
            seed: 0x5ac0_dec0,
            log_every: 50,
            checkpoint_every: 250,
        }
    }
}

/// Progress of a run, kept in `state.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// Steps done per stage.
    pub vae: usize,
    /// SimCLR steps done.
    pub simclr: usize,
    /// Whether the priors (and K) are fitted.
    pub priors: bool,
    /// Enhancer steps done.
    pub enhancer: usize,
    /// Wall seconds spent per stage (summed over resumptions).
    pub wall_s: std::collections::BTreeMap<String, f64>,
    /// Validation metrics reached (filled in by the stages).
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

impl State {
    fn path(run: &Path) -> PathBuf {
        run.join("state.json")
    }

    fn load(run: &Path) -> Result<Self, String> {
        match std::fs::read(Self::path(run)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("state.json: {e}")),
            Err(_) => Ok(Self::default()),
        }
    }

    fn save(&self, run: &Path) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        write_atomic(&Self::path(run), &json)
    }

    fn add_wall(&mut self, stage: &str, since: Instant) {
        *self.wall_s.entry(stage.into()).or_default() += since.elapsed().as_secs_f64();
    }

    /// Marks the stages that depend on a retrained VAE as not done, so that they start over
    /// on the new encoder (their checkpoints are removed).
    fn vae_changed(&mut self, run: &Path) {
        if self.simclr > 0 || self.priors || self.enhancer > 0 {
            for name in ["simclr", "enhancer"] {
                let ckpt = Checkpoint { run, name };
                let (m, o) = ckpt.paths();
                let _ = (std::fs::remove_file(m), std::fs::remove_file(o));
            }
            (self.simclr, self.priors, self.enhancer) = (0, false, 0);
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// A model and its optimizer, checkpointed as `{name}.bpk` and `{name}.optim.bpk`.
#[derive(Clone, Copy)]
struct Checkpoint<'a> {
    run: &'a Path,
    name: &'static str,
}

impl<'a> Checkpoint<'a> {
    fn of(cfg: &'a TrainConfig, name: &'static str) -> Self {
        Self {
            run: &cfg.run,
            name,
        }
    }

    fn paths(&self) -> (PathBuf, PathBuf) {
        (
            self.run.join(format!("{}.bpk", self.name)),
            self.run.join(format!("{}.optim.bpk", self.name)),
        )
    }

    /// Loads the checkpoint into `model` and a fresh Adam, or returns them as they are.
    fn resume<M: Module>(&self, model: M) -> Result<(M, ModuleOptimizer), String> {
        let (m, o) = self.paths();
        let optim = AdamConfig::new().init();
        if !m.exists() {
            return Ok((model, optim));
        }
        let optim = match o.exists() {
            true => optim
                .load(&o)
                .map_err(|e| format!("{}: {e:?}", o.display()))?,
            false => optim,
        };
        Ok((self.load(model)?, optim))
    }

    fn save<M: Module>(&self, model: &M, optim: &ModuleOptimizer) -> Result<(), String> {
        let (m, o) = self.paths();
        let err = |e: burn::store::RecordError| format!("{}: {e:?}", self.name);
        model.clone().into_record().save(&m).map_err(err)?;
        optim.save(&o).map_err(err)
    }

    fn load<M: Module>(&self, model: M) -> Result<M, String> {
        let (m, _) = self.paths();
        if !m.exists() {
            return Err(format!("{} is missing: run its stage first", m.display()));
        }
        let err = |e: burn::store::RecordError| format!("{}: {e:?}", m.display());
        model
            .try_load_record(ModuleRecord::load(&m).map_err(err)?)
            .map_err(err)
    }
}

/// Learning rate at `step` of `total`: `lr`, then `lr / 10` for the last fifth.
fn learning_rate(lr: f64, step: usize, total: usize) -> f64 {
    if step * 5 >= total * 4 { lr / 10.0 } else { lr }
}

/// What every training loop does after a step: running means of its values for the log line,
/// and a checkpoint (model, optimizer, `state.json`) every `checkpoint_every` steps and at the
/// end.
struct Steps<'a> {
    stage: &'static str,
    total: usize,
    cfg: &'a TrainConfig,
    ckpt: Checkpoint<'a>,
    sums: Vec<f64>,
    n: usize,
    since: Instant,
}

impl<'a> Steps<'a> {
    fn new(stage: &'static str, total: usize, cfg: &'a TrainConfig, ckpt: Checkpoint<'a>) -> Self {
        Self {
            stage,
            total,
            cfg,
            ckpt,
            sums: Vec::new(),
            n: 0,
            since: Instant::now(),
        }
    }

    /// Records step `done` (1-based) and its `values`; returns their means since the last
    /// log line when a log line is due.
    fn finish<M: Module>(
        &mut self,
        done: usize,
        values: &[f64],
        model: &M,
        optim: &ModuleOptimizer,
        state: &mut State,
    ) -> Result<Option<Vec<f64>>, String> {
        self.sums.resize(values.len(), 0.0);
        self.sums.iter_mut().zip(values).for_each(|(s, v)| *s += v);
        self.n += 1;
        let last = done == self.total;
        if done.is_multiple_of(self.cfg.checkpoint_every) || last {
            self.ckpt.save(model, optim)?;
            state.add_wall(self.stage, self.since);
            self.since = Instant::now();
            state.save(&self.cfg.run)?;
        }
        if !(done.is_multiple_of(self.cfg.log_every) || last) {
            return Ok(None);
        }
        let means = self.sums.iter().map(|s| s / self.n as f64).collect();
        (self.sums, self.n) = (Vec::new(), 0);
        Ok(Some(means))
    }
}

fn tensor4(data: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_data()
        .try_to_vec::<f32>()
        .map(|v| v[0] as f64)
        .unwrap_or(f64::NAN)
}

fn psnr_from_mse(mse: f64) -> f64 {
    10.0 * (1.0 / mse.max(1e-12)).log10()
}

/// Trains what `state.json` says is not done yet and writes the bundle. `log` receives one
/// line per event (progress, losses, checkpoints, results).
pub fn run(cfg: &TrainConfig, device: &Device, log: &mut dyn FnMut(&str)) -> Result<State, String> {
    std::fs::create_dir_all(&cfg.run).map_err(|e| format!("{}: {e}", cfg.run.display()))?;
    let mut state = State::load(&cfg.run)?;
    let started = Instant::now();
    let images = data::load(&cfg.data, cfg.max_side, cfg.holdout)?;
    log(&format!(
        "data: {} training and {} validation images from {} folder(s), loaded in {:.1} s",
        images.train.len(),
        images.valid.len(),
        cfg.data.len(),
        started.elapsed().as_secs_f64()
    ));
    train_vae(cfg, &images, device, &mut state, log)?;
    train_simclr(cfg, &images, device, &mut state, log)?;
    fit_priors(cfg, &images, device, &mut state, log)?;
    train_enhancer(cfg, &images, device, &mut state, log)?;
    let mut bundle = load_run_bundle(&cfg.run, device)?;
    let enhancer = Checkpoint::of(cfg, "enhancer");
    if cfg.enhancer_steps > 0 {
        bundle.nets.enhancer = enhancer.load(identity_enhancer(device))?;
    }
    bundle.nets = bundle.nets.round_to_f16();
    bundle.description = format!(
        "trained by `sacodec train`: {} VAE, {} SimCLR, {} enhancer steps; K = {}",
        state.vae,
        state.simclr,
        state.enhancer,
        bundle.subclasses()
    );
    if let Some(dir) = cfg.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    write_atomic(&cfg.out, &bundle.to_bytes())?;
    log(&format!(
        "wrote {} (fingerprint {:016x})",
        cfg.out.display(),
        bundle.fingerprint()
    ));
    Ok(state)
}

fn identity_enhancer(device: &Device) -> AttentionUNet {
    AttentionUNetConfig::new().with_zero_head(true).init(device)
}

fn run_bundle_path(run: &Path) -> PathBuf {
    run.join("bundle.safetensors")
}

fn load_run_bundle(run: &Path, device: &Device) -> Result<Bundle, String> {
    let bytes = std::fs::read(run_bundle_path(run)).map_err(|e| format!("priors stage: {e}"))?;
    Bundle::from_bytes(&bytes, device).map_err(|e| e.to_string())
}

fn train_vae(
    cfg: &TrainConfig,
    images: &Images,
    device: &Device,
    state: &mut State,
    log: &mut dyn FnMut(&str),
) -> Result<(), String> {
    if state.vae >= cfg.vae_steps {
        return Ok(());
    }
    let ad = device.clone().autodiff();
    let ckpt = Checkpoint::of(cfg, "vae");
    let (mut model, mut optim) = ckpt.resume(RdModel::init(cfg.levels, &ad))?;
    log(&format!("vae: steps {}..{}", state.vae, cfg.vae_steps));
    state.vae_changed(&cfg.run);
    let mut steps = Steps::new("vae", cfg.vae_steps, cfg, ckpt);
    while state.vae < cfg.vae_steps {
        let step = state.vae;
        let mut sampler = Sampler::new(cfg.seed ^ ((step as u64) << 8));
        let x = sampler.crops(&images.train, cfg.vae_batch, PATCH);
        let levels: Vec<usize> = (0..cfg.vae_batch)
            .map(|i| (step * cfg.vae_batch + i) % cfg.levels)
            .collect();
        let x = tensor4(x, [cfg.vae_batch, 3, PATCH, PATCH], &ad);
        let out = model.forward(x, &levels);
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(learning_rate(cfg.lr, step, cfg.vae_steps), model, grads);
        state.vae += 1;
        let values = [scalar(out.loss), scalar(out.bpp), scalar(out.mse)];
        if let Some(m) = steps.finish(state.vae, &values, &model, &optim, state)? {
            log(&format!(
                "vae step {}/{}: loss {:.4}, {:.3} bpp, {:.2} dB (mean over levels)",
                state.vae,
                cfg.vae_steps,
                m[0],
                m[1],
                psnr_from_mse(m[2])
            ));
        }
    }
    Ok(())
}

fn trained_vae(cfg: &TrainConfig, device: &Device) -> Result<RdModel, String> {
    let ckpt = Checkpoint::of(cfg, "vae");
    ckpt.load(RdModel::init(cfg.levels, device))
}

/// μ of `n × [3, 32, 32]` patches as a tensor on `device`, computed without gradients.
fn mu_tensor(nets: &Networks, patches: &[f32], device: &Device) -> Tensor<4> {
    let n = patches.len() / (3 * PATCH * PATCH);
    let mu = nets.encode_mu(patches);
    tensor4(mu, [n, LATENT_CHANNELS, LATENT_SIDE, LATENT_SIDE], device)
}

fn train_simclr(
    cfg: &TrainConfig,
    images: &Images,
    device: &Device,
    state: &mut State,
    log: &mut dyn FnMut(&str),
) -> Result<(), String> {
    if state.simclr >= cfg.simclr_steps {
        return Ok(());
    }
    let mut frozen = Networks::init(device);
    frozen.vae = trained_vae(cfg, device)?.vae;
    let frozen = frozen.round_to_f16();
    let ad = device.clone().autodiff();
    let ckpt = Checkpoint::of(cfg, "simclr");
    let (mut model, mut optim) = ckpt.resume(LatentSimClrProjectionConfig::new().init(&ad))?;
    log(&format!(
        "simclr: steps {}..{}",
        state.simclr, cfg.simclr_steps
    ));
    let mut steps = Steps::new("simclr", cfg.simclr_steps, cfg, ckpt);
    while state.simclr < cfg.simclr_steps {
        let step = state.simclr;
        let mut sampler = Sampler::new(cfg.seed ^ 0x51c ^ ((step as u64) << 8));
        let [a, b] = sampler.view_pairs(&images.train, cfg.simclr_batch, 8);
        let loss = simclr::loss(
            &model,
            mu_tensor(&frozen, &a, &ad),
            mu_tensor(&frozen, &b, &ad),
        );
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(learning_rate(cfg.lr, step, cfg.simclr_steps), model, grads);
        state.simclr += 1;
        if let Some(m) = steps.finish(state.simclr, &[scalar(loss)], &model, &optim, state)? {
            log(&format!(
                "simclr step {}/{}: NT-Xent {:.4} (chance {:.4})",
                state.simclr,
                cfg.simclr_steps,
                m[0],
                ((2 * cfg.simclr_batch - 1) as f64).ln()
            ));
        }
    }
    Ok(())
}

/// About `n` patches spread evenly over the images (every image contributes), for a fixed
/// held-out set.
fn image_patches(images: &[RgbImage], n: usize) -> Vec<f32> {
    let len = 3 * PATCH * PATCH;
    let per_image = n.div_ceil(images.len().max(1));
    let mut out = Vec::with_capacity(n * len);
    for img in images {
        let all = patches::to_patches(img);
        let count = all.len() / len;
        let stride = (count / per_image.max(1)).max(1);
        for p in all.chunks_exact(len).step_by(stride).take(per_image) {
            out.extend_from_slice(p);
        }
    }
    out
}

/// Bits of held-out latents at one level: global prior, SimCLR subclasses, rate-optimal.
fn level_bits(tables: &GaussianTables, level: &LevelPriors, mu: &[f32], ids: &[u8]) -> [f64; 3] {
    let coder = LevelCoder::new(tables, level);
    let z = level.quantize(mu);
    let rate_ids = coder.rate_optimal_ids(&z);
    [
        coder.information_bits(&z, None),
        coder.information_bits(&z, Some(ids)),
        coder.information_bits(&z, Some(&rate_ids)),
    ]
}

/// One candidate K: its centroids, per-level priors and held-out bits per level (global,
/// SimCLR, rate-optimal), and the percentage SimCLR saves over all levels.
struct SubclassChoice {
    saving: f64,
    k: usize,
    centroids: Vec<f32>,
    levels: Vec<LevelPriors>,
    bits: Vec<[f64; 3]>,
}

fn fit_priors(
    cfg: &TrainConfig,
    images: &Images,
    device: &Device,
    state: &mut State,
    log: &mut dyn FnMut(&str),
) -> Result<(), String> {
    if state.priors {
        return Ok(());
    }
    let since = Instant::now();
    let rd = trained_vae(cfg, device)?;
    let gains: Vec<Vec<f32>> = (0..rd.levels()).map(|q| rd.gains(q)).collect();
    let mut nets = Networks::init(device);
    nets.vae = rd.vae;
    if cfg.simclr_steps > 0 {
        let ckpt = Checkpoint::of(cfg, "simclr");
        nets.projection = ckpt.load(nets.projection)?;
    }
    nets.enhancer = identity_enhancer(device);
    let mut f32_nets = Networks::init(device);
    f32_nets.vae = nets.vae.clone();
    let nets = nets.round_to_f16();

    let mut sampler = Sampler::new(cfg.seed ^ 0x9210);
    let train_patches = sampler.crops(&images.train, cfg.prior_patches, PATCH);
    let valid_patches = image_patches(&images.valid, cfg.valid_patches);
    let mu_train = nets.encode_mu(&train_patches);
    let mu_valid = nets.encode_mu(&valid_patches);
    let mu_valid_f32 = f32_nets.encode_mu(&valid_patches);
    let emb_train = nets.project(&mu_train);
    let emb_valid = nets.project(&mu_valid);
    let n_valid = mu_valid.len() / LATENT_LEN;
    let tables = GaussianTables::new();

    // Choose K by the bits the SimCLR subclasses save on held-out patches, over all levels.
    let mut choices = Vec::new();
    let mut best: Option<SubclassChoice> = None;
    for &k in &cfg.subclass_choices {
        let centroids = fit::spherical_kmeans(&emb_train, k, 25);
        let ids_train = fit::nearest(&emb_train, &centroids);
        let ids_valid = fit::nearest(&emb_valid, &centroids);
        let levels: Vec<LevelPriors> = gains
            .iter()
            .map(|g| LevelPriors::fit(&tables, g.clone(), &mu_train, &ids_train, k))
            .collect();
        let bits: Vec<[f64; 3]> = levels
            .iter()
            .map(|l| level_bits(&tables, l, &mu_valid, &ids_valid))
            .collect();
        let total = |i: usize| bits.iter().map(|b| b[i]).sum::<f64>();
        let saving = 100.0 * (1.0 - total(1) / total(0));
        let saving_rate = 100.0 * (1.0 - total(2) / total(0));
        log(&format!(
            "priors K = {k}: held-out bits {:.0} global, {:.0} SimCLR ({saving:.2} % saved), \
             {:.0} rate-optimal ({saving_rate:.2} % saved)",
            total(0),
            total(1),
            total(2)
        ));
        choices.push(serde_json::json!({
            "k": k,
            "bits_global": total(0),
            "bits_simclr": total(1),
            "bits_rate_optimal": total(2),
            "saving_simclr_percent": saving,
            "saving_rate_optimal_percent": saving_rate,
            "per_level_bpp": bits.iter().map(|b| b.map(|v| v / (n_valid * PATCH * PATCH) as f64)).collect::<Vec<_>>(),
        }));
        if best.as_ref().is_none_or(|b| saving > b.saving) {
            best = Some(SubclassChoice {
                saving,
                k,
                centroids,
                levels,
                bits,
            });
        }
    }
    let SubclassChoice {
        k,
        centroids,
        levels,
        bits,
        ..
    } = best.ok_or("no subclass choices")?;
    log(&format!("priors: shipping K = {k}"));

    // Held-out distortion per level, and what rounding the VAE to f16 costs.
    let mut per_level = Vec::new();
    let pixels = (n_valid * PATCH * PATCH) as f64;
    for (q, (level, bits)) in levels.iter().zip(&bits).enumerate() {
        let z = level.quantize(&mu_valid);
        let decoded = nets.decode(&level.dequantize(&z));
        let decoded32 = f32_nets.decode(&level.dequantize(&level.quantize(&mu_valid_f32)));
        let mse = |d: &[f32]| {
            let u8v = |v: f32| patches::to_u8(v) as f64;
            d.iter()
                .zip(&valid_patches)
                .map(|(a, b)| ((u8v(*a) - u8v(*b)) / 255.0).powi(2))
                .sum::<f64>()
                / d.len() as f64
        };
        per_level.push(serde_json::json!({
            "quality": q,
            "lambda": rd::LAMBDAS[q],
            "bpp_global": bits[0] / pixels,
            "bpp_simclr": bits[1] / pixels,
            "bpp_rate_optimal": bits[2] / pixels,
            "psnr_patches_f16": psnr_from_mse(mse(&decoded)),
            "psnr_patches_f32": psnr_from_mse(mse(&decoded32)),
        }));
        log(&format!("held-out level {q}: {}", per_level[q]));
    }

    let bundle = Bundle {
        nets,
        centroids,
        levels,
        trained: true,
        description: "trained PatchVAE, projection and priors; enhancer not trained yet".into(),
    };
    write_atomic(&run_bundle_path(&cfg.run), &bundle.to_bytes())?;
    state
        .metrics
        .insert("subclass_choices".into(), choices.into());
    state.metrics.insert("shipped_k".into(), k.into());
    state
        .metrics
        .insert("held_out_levels".into(), per_level.into());
    state.priors = true;
    state.add_wall("priors", since);
    state.save(&cfg.run)
}

/// Stitched decoded crops at the given levels: the enhancer's input.
fn decode_crops(bundle: &Bundle, crops: &[RgbImage], levels: &[usize]) -> Vec<f32> {
    let mut out = Vec::new();
    for (crop, &q) in crops.iter().zip(levels) {
        let grid = Grid::new(crop.width(), crop.height());
        let level = &bundle.levels[q];
        let mu = bundle.nets.encode_mu(&patches::to_patches(crop));
        let decoded = bundle.nets.decode(&level.dequantize(&level.quantize(&mu)));
        out.extend(patches::stitch(&decoded, grid));
    }
    out
}

fn train_enhancer(
    cfg: &TrainConfig,
    images: &Images,
    device: &Device,
    state: &mut State,
    log: &mut dyn FnMut(&str),
) -> Result<(), String> {
    if state.enhancer >= cfg.enhancer_steps {
        return Ok(());
    }
    let side = cfg.enhancer_crop;
    if side == 0 || !side.is_multiple_of(PATCH) {
        return Err(format!("enhancer crop {side} is not a multiple of {PATCH}"));
    }
    let bundle = load_run_bundle(&cfg.run, device)?;
    let ad = device.clone().autodiff();
    let ckpt = Checkpoint::of(cfg, "enhancer");
    let (mut model, mut optim) = ckpt.resume(identity_enhancer(&ad))?;
    log(&format!(
        "enhancer: steps {}..{}",
        state.enhancer, cfg.enhancer_steps
    ));
    let mut steps = Steps::new("enhancer", cfg.enhancer_steps, cfg, ckpt);
    let b = cfg.enhancer_batch;
    while state.enhancer < cfg.enhancer_steps {
        let step = state.enhancer;
        let mut sampler = Sampler::new(cfg.seed ^ 0xe4 ^ ((step as u64) << 8));
        let crops = sampler.crop_images(&images.train, b, side);
        let levels: Vec<usize> = (0..b)
            .map(|i| (step * b + i) % bundle.levels.len())
            .collect();
        let input = tensor4(
            decode_crops(&bundle, &crops, &levels),
            [b, 3, side, side],
            &ad,
        );
        let target: Vec<f32> = crops.iter().flat_map(patches::to_planar_padded).collect();
        let target = tensor4(target, [b, 3, side, side], &ad);
        let input_mse = (input.clone() - target.clone()).square().mean();
        let loss = (model.forward(input) - target).square().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(
            learning_rate(cfg.enhancer_lr, step, cfg.enhancer_steps),
            model,
            grads,
        );
        state.enhancer += 1;
        let values = [scalar(input_mse), scalar(loss)];
        if let Some(m) = steps.finish(state.enhancer, &values, &model, &optim, state)? {
            log(&format!(
                "enhancer step {}/{}: decoded {:.2} dB → enhanced {:.2} dB (training crops)",
                state.enhancer,
                cfg.enhancer_steps,
                psnr_from_mse(m[0]),
                psnr_from_mse(m[1])
            ));
        }
    }
    Ok(())
}
