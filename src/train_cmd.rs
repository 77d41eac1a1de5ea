//! `sacodec train`: runs (or resumes) training and records the result in the manifest.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};
use sacodec::Bundle;
use sacodec::train::{self, TrainConfig};
use serde_json::{Value, json};

#[derive(Args)]
pub struct TrainArgs {
    /// Folders of training photographs (never the evaluation set).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Run folder: checkpoints, state.json and train.log; the same command resumes from it.
    #[arg(long, default_value = "runs/main")]
    run: PathBuf,
    /// Where the bundle is written; `manifest.json` beside it gets an entry for it.
    #[arg(long, default_value = "weights/sacodec.safetensors")]
    out: PathBuf,
    /// Device to train on.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    device: Backend,
    /// PatchVAE steps.
    #[arg(long)]
    vae_steps: Option<usize>,
    /// Patches per PatchVAE step.
    #[arg(long)]
    vae_batch: Option<usize>,
    /// SimCLR steps.
    #[arg(long)]
    simclr_steps: Option<usize>,
    /// Region pairs per SimCLR step.
    #[arg(long)]
    simclr_batch: Option<usize>,
    /// Training patches the priors are fitted on.
    #[arg(long)]
    prior_patches: Option<usize>,
    /// Held-out patches the number of subclasses is chosen on.
    #[arg(long)]
    valid_patches: Option<usize>,
    /// Candidate numbers of subclasses (comma-separated).
    #[arg(long, value_delimiter = ',')]
    subclasses: Option<Vec<usize>>,
    /// Enhancer steps.
    #[arg(long)]
    enhancer_steps: Option<usize>,
    /// Adam learning rate of the enhancer.
    #[arg(long)]
    enhancer_lr: Option<f64>,
    /// Crops per enhancer step.
    #[arg(long)]
    enhancer_batch: Option<usize>,
    /// Enhancer crop side (a multiple of 32).
    #[arg(long)]
    enhancer_crop: Option<usize>,
    /// Longer image sides are scaled down to this on loading.
    #[arg(long)]
    max_side: Option<u32>,
    /// Steps between log lines.
    #[arg(long)]
    log_every: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// burn's Flex backend on the CPU.
    Cpu,
    /// burn's Vulkan backend (build with `--features gpu`).
    Vulkan,
}

impl TrainArgs {
    fn config(&self) -> TrainConfig {
        let mut c = TrainConfig::new(self.data.clone(), self.run.clone(), self.out.clone());
        let set = |field: &mut usize, v: Option<usize>| *field = v.unwrap_or(*field);
        set(&mut c.vae_steps, self.vae_steps);
        set(&mut c.vae_batch, self.vae_batch);
        set(&mut c.simclr_steps, self.simclr_steps);
        set(&mut c.simclr_batch, self.simclr_batch);
        set(&mut c.prior_patches, self.prior_patches);
        set(&mut c.valid_patches, self.valid_patches);
        set(&mut c.enhancer_steps, self.enhancer_steps);
        set(&mut c.enhancer_batch, self.enhancer_batch);
        set(&mut c.enhancer_crop, self.enhancer_crop);
        set(&mut c.log_every, self.log_every);
        c.checkpoint_every = c.checkpoint_every.min(c.log_every.max(1) * 5);
        if let Some(k) = &self.subclasses {
            c.subclass_choices = k.clone();
        }
        if let Some(lr) = self.enhancer_lr {
            c.enhancer_lr = lr;
        }
        if let Some(m) = self.max_side {
            c.max_side = m;
        }
        c
    }
}

fn device(backend: Backend) -> Result<(burn::prelude::Device, String), String> {
    match backend {
        Backend::Cpu => Ok((burn::prelude::Device::flex(), "CPU, burn Flex".into())),
        #[cfg(feature = "gpu")]
        Backend::Vulkan => Ok((
            burn::prelude::Device::vulkan(Default::default()),
            "GPU, burn Vulkan (wgpu)".into(),
        )),
        #[cfg(not(feature = "gpu"))]
        Backend::Vulkan => Err("this binary was built without the `gpu` feature".into()),
    }
}

fn hardware(device: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{device}; {cpu}, {cores} cores")
}

pub fn run(args: &TrainArgs) -> Result<(), String> {
    let cfg = args.config();
    let (device, device_name) = device(args.device)?;
    std::fs::create_dir_all(&cfg.run).map_err(|e| format!("{}: {e}", cfg.run.display()))?;
    let log_path = cfg.run.join("train.log");
    let mut log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let started = Instant::now();
    let mut log = |line: &str| {
        let line = format!("[{:7.1} s] {line}", started.elapsed().as_secs_f64());
        eprintln!("{line}");
        let _ = writeln!(log_file, "{line}");
    };
    log(&format!("config: {}", serde_json::to_string(&cfg).unwrap()));
    let state = train::run(&cfg, &device, &mut log)?;
    write_manifest(&cfg, &state, &hardware(&device_name))
}

/// Adds (or replaces) the entry for the bundle in `manifest.json` beside it.
fn write_manifest(cfg: &TrainConfig, state: &train::State, hardware: &str) -> Result<(), String> {
    let bytes = std::fs::read(&cfg.out).map_err(|e| format!("{}: {e}", cfg.out.display()))?;
    let bundle =
        Bundle::from_bytes(&bytes, &burn::prelude::Device::flex()).map_err(|e| e.to_string())?;
    let file = cfg
        .out
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let command: Vec<String> = std::iter::once("sacodec".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    let entry = json!({
        "file": file,
        "bytes": bytes.len(),
        "blake3": blake3::hash(&bytes).to_hex().to_string(),
        "fingerprint": format!("{:016x}", bundle.fingerprint()),
        "description": bundle.description,
        "command": command.join(" "),
        "data": cfg.data,
        "steps": {"vae": state.vae, "simclr": state.simclr, "enhancer": state.enhancer},
        "batches": {"vae": cfg.vae_batch, "simclr": cfg.simclr_batch, "enhancer": cfg.enhancer_batch},
        "wall_s": state.wall_s,
        "hardware": hardware,
        "config": cfg,
        "held_out_metrics": state.metrics,
    });
    let path = cfg
        .out
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("manifest.json");
    let mut manifest: Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({"files": []}));
    let files = manifest["files"]
        .as_array_mut()
        .ok_or("manifest.json: `files` is not a list")?;
    files.retain(|f| f["file"] != entry["file"]);
    files.push(entry);
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    crate::write_file(&path, (text + "\n").as_bytes())
}
