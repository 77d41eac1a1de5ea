//! `sacodec train`: fits priors, K and the context to the Python trainer's networks (or only
//! what a bundle made before lacks of the context), writes the bundle and records it in the manifest.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use sacodec::codec::Bundle;
use sacodec::codec::manifest::{Manifest, ManifestEntry, Step};
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
    let command: Vec<String> = std::iter::once("sacodec".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    let command = command.join(" ");
    let config = serde_json::to_value(cfg).map_err(|e| e.to_string())?;
    let manifest_path = |bundle: &Path| {
        bundle
            .parent()
            .unwrap_or(Path::new("."))
            .join("manifest.json")
    };
    let (bundle, entry) = match (&cfg.networks, &cfg.bundle) {
        (Some(networks), _) => {
            let bytes = crate::read_file(networks)?;
            let trained = TrainedNetworks::from_bytes(&bytes, &device)
                .map_err(|e| format!("{}: {e}", networks.display()))?;
            log(&format!(
                "networks from {} ({} levels)",
                networks.display(),
                trained.gains.len()
            ));
            let out = train::run(cfg, trained, &mut log).map_err(|e| e.to_string())?;
            let entry = ManifestEntry {
                file: String::new(),
                bytes: 0,
                blake3: String::new(),
                fingerprint: String::new(),
                base_fingerprint: None,
                means_fingerprint: None,
                sum_fingerprint: None,
                description: out.bundle.description.clone(),
                command,
                data: cfg.data.clone(),
                hardware: hardware(),
                wall_s: out.wall_s,
                config,
                trainer: out.record,
                held_out: out.held_out,
                context_added: None,
                scales_added: None,
                grid_added: None,
            };
            (out.bundle, entry)
        }
        (None, Some(path)) => {
            let mut bundle = Bundle::from_bytes(&crate::read_file(path)?, &device)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let had_context = bundle.levels.iter().any(|l| l.context.is_some());
            if (bundle.levels.iter()).all(|l| l.context.as_ref().is_some_and(|c| c.grid.is_some()))
            {
                return Err(format!("{}: has its whole context already", path.display()));
            }
            let name = file_name(path);
            let mut entry = read_manifest(&manifest_path(path))?
                .files
                .into_iter()
                .find(|f| f.file == name)
                .ok_or_else(|| format!("{}: no entry for {name}", manifest_path(path).display()))?;
            let context =
                train::add_context(cfg, &mut bundle, &mut log).map_err(|e| e.to_string())?;
            for (level, m) in entry.held_out.levels.iter_mut().zip(context) {
                level.context = Some(m);
            }
            let step = Some(Step {
                command,
                hardware: hardware(),
                wall_s: started.elapsed().as_secs_f64(),
                config,
            });
            match had_context {
                true => entry.grid_added = step,
                false => entry.context_added = step,
            }
            (bundle, entry)
        }
        (None, None) => return Err("--networks or --bundle".into()),
    };
    if let Some(dir) = cfg.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let bytes = bundle.to_bytes();
    crate::write_file(&cfg.out, &bytes)?;
    let fingerprints = bundle.fingerprints();
    log(&format!(
        "wrote {} (fingerprint {:016x}, without the grid scale context {:016x}, without the \
         scale contexts {:016x}, without context {:016x})",
        cfg.out.display(),
        fingerprints.full,
        fingerprints.sum,
        fingerprints.means,
        fingerprints.base
    ));
    let entry = ManifestEntry {
        file: file_name(&cfg.out),
        bytes: bytes.len(),
        blake3: blake3::hash(&bytes).to_hex().to_string(),
        fingerprint: format!("{:016x}", fingerprints.full),
        base_fingerprint: Some(format!("{:016x}", fingerprints.base)),
        means_fingerprint: Some(format!("{:016x}", fingerprints.means)),
        sum_fingerprint: Some(format!("{:016x}", fingerprints.sum)),
        ..entry
    };
    let path = manifest_path(&cfg.out);
    let mut manifest = read_manifest(&path).unwrap_or_default();
    manifest.files.retain(|f| f.file != entry.file);
    manifest.files.push(entry);
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    text.write_all(b"\n").expect("in memory");
    crate::write_file(&path, &text)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into())
}

fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}
