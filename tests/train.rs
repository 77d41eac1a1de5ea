//! `sacodec train` (the Rust half of training): the trainer's export of seeded networks is
//! turned into a bundle that codes images, with K chosen among the candidates, held-out
//! measurements, the enhancer switched per level, and a manifest entry for the file.

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use clap::Parser;
use image::{Rgb, RgbImage};
use sacodec::codec::fit;
use sacodec::codec::manifest::{Manifest, TrainerRecord};
use sacodec::model::{LATENT_CHANNELS, Networks};
use sacodec::train::{self, TrainConfig, TrainedNetworks};
use sacodec::{Bundle, Codec, CompressOptions};

fn photo_like(seed: u32, w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = (x * (3 + seed) + y * (5 + 2 * seed)) ^ (x * y / (7 + seed));
        Rgb([v as u8, (v >> 1) as u8 ^ (x as u8), (y * 4) as u8])
    })
}

/// Ten photos (the 10th in path order held out), one in a nested folder, and a file that is
/// not an image.
fn dataset(dir: &Path) -> PathBuf {
    let data = dir.join("photos");
    std::fs::create_dir_all(data.join("nested")).unwrap();
    for i in 0..10 {
        let sub = if i == 3 { "nested" } else { "" };
        photo_like(i, 128 + 16 * (i % 3), 128)
            .save(data.join(sub).join(format!("{i}.png")))
            .unwrap();
    }
    std::fs::write(data.join("notes.txt"), "not an image").unwrap();
    data
}

/// What the Python trainer exports, made from seeded networks: two levels, with gains of 1 and
/// 4 over the spread of μ (so both code some information).
fn export(dir: &Path) -> PathBuf {
    let nets = Networks::seeded(11, &Device::flex());
    let mu = nets.encode_mu(&fit::synthetic_patches(64, 3));
    let sd = (mu.iter().map(|v| v * v).sum::<f32>() / mu.len() as f32).sqrt();
    let trained = TrainedNetworks {
        nets,
        gains: vec![
            vec![1.0 / sd; LATENT_CHANNELS],
            vec![4.0 / sd; LATENT_CHANNELS],
        ],
        lambdas: vec![0.0018, 0.0035],
        record: TrainerRecord {
            run: "runs/test".into(),
            framework: "test".into(),
            ..TrainerRecord::default()
        },
    };
    let path = dir.join("networks.safetensors");
    std::fs::write(&path, trained.to_bytes()).unwrap();
    path
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    cfg: TrainConfig,
}

fn config(args: &[&str]) -> TrainConfig {
    Args::parse_from(std::iter::once("train").chain(args.iter().copied())).cfg
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sacodec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_export_round_trips_and_other_files_are_refused() {
    let dir = temp("export");
    let path = export(&dir);
    let bytes = std::fs::read(&path).unwrap();
    let device = Device::flex();
    let back = TrainedNetworks::from_bytes(&bytes, &device).unwrap();
    assert_eq!(back.gains.len(), 2);
    assert_eq!(
        back.gains[1],
        back.gains[0].iter().map(|g| 4.0 * g).collect::<Vec<_>>()
    );
    assert_eq!(back.record.run, "runs/test");
    assert_eq!(back.nets.tensors(), Networks::seeded(11, &device).tensors());
    // A bundle is not an export, and an export is not a bundle.
    let bundle = Bundle::seeded(&device).to_bytes();
    assert!(TrainedNetworks::from_bytes(&bundle, &device).is_err());
    assert!(Bundle::from_bytes(&bytes, &device).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn train_fits_priors_and_k_and_checks_the_enhancer() {
    let dir = temp("train");
    let data = dataset(&dir);
    let networks = export(&dir);
    let cfg = config(&[
        "--networks",
        networks.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--prior-patches",
        "48",
        "--valid-patches",
        "16",
        "--subclasses",
        "2,3",
        "--enhancer-crops",
        "2",
    ]);
    let trained = TrainedNetworks::from_bytes(&std::fs::read(&networks).unwrap(), &Device::flex());
    let mut lines = Vec::new();
    let out = train::run(&cfg, trained.unwrap(), &mut |l| lines.push(l.to_string())).unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("data: 9 training and 1 held-out")),
        "{lines:#?}"
    );

    let held = &out.held_out;
    assert_eq!(
        held.subclass_choices
            .iter()
            .map(|c| c.k)
            .collect::<Vec<_>>(),
        [2, 3]
    );
    let best = held
        .subclass_choices
        .iter()
        .max_by(|a, b| a.saving_simclr_percent.total_cmp(&b.saving_simclr_percent))
        .unwrap();
    assert_eq!(held.shipped_k, best.k);
    assert_eq!(out.bundle.subclasses(), best.k);
    assert_eq!(held.levels.len(), 2);
    for (q, l) in held.levels.iter().enumerate() {
        assert!(l.bpp_rate_optimal <= l.bpp_simclr + 1e-9, "level {q}");
        let c = l.context.as_ref().expect("context measured");
        assert!(c.patches > 0, "level {q}");
        assert!(
            c.bpp_context_rate_optimal <= c.bpp_context_simclr + 1e-9,
            "level {q}"
        );
        assert!(out.bundle.levels[q].context.is_some(), "level {q}");
        let (dec, enh) = (
            l.psnr_decoded_crops.unwrap(),
            l.psnr_enhanced_crops.unwrap(),
        );
        assert_eq!(
            l.enhance,
            enh >= dec + train::MIN_ENHANCER_GAIN_DB,
            "level {q}"
        );
        assert_eq!(out.bundle.enhances(q as u8), l.enhance, "level {q}");
    }
    // The finer level spends more bits.
    assert!(held.levels[1].bpp_global > held.levels[0].bpp_global);

    // The bundle survives a file round trip (its enhancer switches included) and codes.
    let bytes = out.bundle.to_bytes();
    let bundle = Bundle::from_bytes(&bytes, &Device::flex()).unwrap();
    assert_eq!(bundle.enhance, out.bundle.enhance);
    assert_eq!(bundle.fingerprints(), out.bundle.fingerprints());
    assert!(bundle.trained);
    let codec = Codec::new(bundle);
    let img = photo_like(9, 70, 40);
    for quality in 0..2 {
        let opts = CompressOptions {
            quality,
            ..CompressOptions::default()
        };
        let sac = codec.compress(&img, opts).unwrap();
        let back = codec.decompress(&sac.bytes, true).unwrap();
        assert_eq!(back.dimensions(), (70, 40));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_train_command_writes_the_bundle_and_its_manifest_entry() {
    let dir = temp("train-cli");
    let data = dataset(&dir);
    let networks = export(&dir);
    let out = dir.join("w/sacodec.safetensors");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sacodec"))
            .arg("train")
            .arg("--networks")
            .arg(&networks)
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .args(["--prior-patches", "16", "--valid-patches", "4"])
            .args(["--subclasses", "2", "--enhancer-crops", "1"])
            .output()
            .unwrap()
    };
    let status = run();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // Running it again replaces the file's entry rather than adding one.
    assert!(run().status.success());
    let bytes = std::fs::read(&out).unwrap();
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("w/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.files.len(), 1);
    let entry = &manifest.files[0];
    assert_eq!(entry.file, "sacodec.safetensors");
    assert_eq!(entry.bytes, bytes.len());
    assert_eq!(entry.blake3, blake3::hash(&bytes).to_hex().to_string());
    let bundle = Bundle::from_bytes(&bytes, &Device::flex()).unwrap();
    let fingerprints = bundle.fingerprints();
    assert_eq!(entry.fingerprint, format!("{:016x}", fingerprints.full));
    assert_eq!(
        entry.base_fingerprint,
        Some(format!("{:016x}", fingerprints.base))
    );
    assert_eq!(entry.trainer.run, "runs/test");
    assert_eq!(entry.held_out.shipped_k, 2);
    assert!(entry.command.contains("train --networks"));
    assert!(entry.context_added.is_none());

    // A bundle made before context priors: `--bundle` adds them and nothing else, so the
    // fingerprint its files record stays, and its manifest entry says how.
    let mut old = bundle;
    old.levels.iter_mut().for_each(|l| l.context = None);
    let mut old_entry = entry.clone();
    old_entry.file = "old.safetensors".into();
    old_entry
        .held_out
        .levels
        .iter_mut()
        .for_each(|l| l.context = None);
    std::fs::write(dir.join("w/old.safetensors"), old.to_bytes()).unwrap();
    let with_old = Manifest {
        files: vec![entry.clone(), old_entry],
    };
    std::fs::write(
        dir.join("w/manifest.json"),
        serde_json::to_vec(&with_old).unwrap(),
    )
    .unwrap();
    let added = std::process::Command::new(env!("CARGO_BIN_EXE_sacodec"))
        .args(["train", "--bundle"])
        .arg(dir.join("w/old.safetensors"))
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(dir.join("w/new.safetensors"))
        .args(["--valid-patches", "4"])
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let new = Bundle::from_bytes(
        &std::fs::read(dir.join("w/new.safetensors")).unwrap(),
        &Device::flex(),
    )
    .unwrap();
    assert_eq!(new.fingerprints().base, old.fingerprints().base);
    assert!(new.levels.iter().all(|l| l.context.is_some()));
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("w/manifest.json")).unwrap()).unwrap();
    let new_entry = manifest
        .files
        .iter()
        .find(|f| f.file == "new.safetensors")
        .unwrap();
    assert!(
        new_entry
            .context_added
            .as_ref()
            .unwrap()
            .command
            .contains("train --bundle")
    );
    assert!(
        new_entry
            .held_out
            .levels
            .iter()
            .all(|l| l.context.is_some())
    );
    assert_eq!(new_entry.trainer, entry.trainer);
    assert_eq!(manifest.files.len(), 3);

    // Not an export: a clear error.
    std::fs::write(dir.join("junk.safetensors"), b"junk").unwrap();
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_sacodec"))
        .args(["train", "--networks"])
        .arg(dir.join("junk.safetensors"))
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shipped_manifest_describes_the_shipped_weights() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let entry = manifest
        .files
        .iter()
        .find(|f| f.file == "sacodec.safetensors")
        .expect("an entry for the shipped weights");
    let bytes = std::fs::read(root.join(&entry.file)).unwrap();
    assert_eq!(entry.bytes, bytes.len());
    assert_eq!(entry.blake3, blake3::hash(&bytes).to_hex().to_string());
    let bundle = Bundle::from_bytes(&bytes, &Device::flex()).unwrap();
    assert_eq!(
        entry.fingerprint,
        format!("{:016x}", bundle.fingerprints().full)
    );
    assert_eq!(
        entry.base_fingerprint,
        Some(format!("{:016x}", bundle.fingerprints().base))
    );
    assert_eq!(entry.held_out.shipped_k, bundle.subclasses());
    assert_eq!(entry.held_out.levels.len(), bundle.levels.len());
}
