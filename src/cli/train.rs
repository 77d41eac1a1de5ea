//! `sacodec train`: fits priors and K to the Python trainer's networks, writes the bundle and
//! records it in the manifest.

use std::io::Write;
use std::time::Instant;

use sacodec::codec::manifest::{Manifest, ManifestEntry};
use sacodec::train::{self, TrainConfig, TrainedNetworks};

fn hardware() -> String {
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
    format!("CPU, burn Flex; {cpu}, {cores} cores")
}

pub fn run(cfg: &TrainConfig) -> Result<(), String> {
    let device = burn::prelude::Device::flex();
    let started = Instant::now();
    let mut log = |line: &str| {
        eprintln!("[{:7.1} s] {line}", started.elapsed().as_secs_f64());
    };
    let bytes = crate::read_file(&cfg.networks)?;
    let trained = TrainedNetworks::from_bytes(&bytes, &device)
        .map_err(|e| format!("{}: {e}", cfg.networks.display()))?;
    log(&format!(
        "networks from {} ({} levels)",
        cfg.networks.display(),
        trained.gains.len()
    ));
    let out = train::run(cfg, trained, &mut log).map_err(|e| e.to_string())?;
    if let Some(dir) = cfg.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let bundle = out.bundle.to_bytes();
    crate::write_file(&cfg.out, &bundle)?;
    let fingerprint = out.bundle.fingerprint();
    log(&format!(
        "wrote {} (fingerprint {fingerprint:016x})",
        cfg.out.display()
    ));
    let command: Vec<String> = std::iter::once("sacodec".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    let entry = ManifestEntry {
        file: cfg
            .out
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into()),
        bytes: bundle.len(),
        blake3: blake3::hash(&bundle).to_hex().to_string(),
        fingerprint: format!("{fingerprint:016x}"),
        description: out.bundle.description.clone(),
        command: command.join(" "),
        data: cfg.data.clone(),
        hardware: hardware(),
        wall_s: out.wall_s,
        config: serde_json::to_value(cfg).map_err(|e| e.to_string())?,
        trainer: out.record,
        held_out: out.held_out,
    };
    let path = cfg
        .out
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("manifest.json");
    let mut manifest: Manifest = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(_) => Manifest::default(),
    };
    manifest.files.retain(|f| f.file != entry.file);
    manifest.files.push(entry);
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    text.write_all(b"\n").expect("in memory");
    crate::write_file(&path, &text)
}
