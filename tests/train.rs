//! Training smoke test: every stage runs a few steps on a few tiny images, the run resumes
//! where it stopped, and the bundle it writes compresses and decompresses an image.

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use image::{Rgb, RgbImage};
use sacodec::train::{self, TrainConfig};
use sacodec::{Bundle, Codec, CompressOptions};

fn photo_like(seed: u32, w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = (x * (3 + seed) + y * (5 + 2 * seed)) ^ (x * y / (7 + seed));
        Rgb([v as u8, (v >> 1) as u8 ^ (x as u8), (y * 4) as u8])
    })
}

fn dataset(dir: &Path) -> PathBuf {
    let data = dir.join("photos");
    std::fs::create_dir_all(data.join("nested")).unwrap();
    for i in 0..5 {
        let sub = if i % 2 == 0 { "" } else { "nested" };
        photo_like(i, 96 + 16 * i, 96)
            .save(data.join(sub).join(format!("{i}.png")))
            .unwrap();
    }
    std::fs::write(data.join("notes.txt"), "not an image").unwrap();
    data
}

fn tiny(data: PathBuf, dir: &Path, vae_steps: usize) -> TrainConfig {
    let mut c = TrainConfig::new(vec![data], dir.join("run"), dir.join("out/w.safetensors"));
    c.holdout = 3;
    c.levels = 2;
    c.vae_steps = vae_steps;
    c.vae_batch = 4;
    c.simclr_steps = 2;
    c.simclr_batch = 3;
    c.prior_patches = 24;
    c.valid_patches = 8;
    c.subclass_choices = vec![2, 3];
    c.enhancer_steps = 1;
    c.enhancer_batch = 1;
    c.enhancer_crop = 64;
    c.log_every = 1;
    c.checkpoint_every = 1;
    c
}

#[test]
fn training_runs_resumes_and_writes_a_working_bundle() {
    let dir = std::env::temp_dir().join(format!("sacodec-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dataset(&dir);
    let device = Device::flex();
    let mut lines = Vec::new();

    let first = train::run(&tiny(data.clone(), &dir, 2), &device, &mut |l| {
        lines.push(l.to_string())
    })
    .unwrap();
    assert_eq!(
        (first.vae, first.simclr, first.enhancer, first.priors),
        (2, 2, 1, true)
    );
    assert!(
        lines.iter().any(|l| l.starts_with("vae step 2/2")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("priors K = 3")),
        "{lines:#?}"
    );

    // Asking for more VAE steps resumes from the checkpoint (steps 2..4 only) and redoes the
    // stages that depend on the encoder.
    lines.clear();
    let second = train::run(&tiny(data, &dir, 4), &device, &mut |l| {
        lines.push(l.to_string())
    })
    .unwrap();
    assert_eq!(
        (second.vae, second.simclr, second.enhancer, second.priors),
        (4, 2, 1, true)
    );
    assert!(
        lines.iter().any(|l| l == "simclr: steps 0..2"),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l == "enhancer: steps 0..1"),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l == "vae: steps 2..4"), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.starts_with("vae step 1/")),
        "{lines:#?}"
    );
    assert!(second.wall_s["vae"] > first.wall_s["vae"]);

    let bytes = std::fs::read(dir.join("out/w.safetensors")).unwrap();
    let bundle = Bundle::from_bytes(&bytes, &device).unwrap();
    assert!(bundle.trained);
    assert_eq!(bundle.levels.len(), 2);
    assert!([2, 3].contains(&bundle.subclasses()));
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
    let dir = std::env::temp_dir().join(format!("sacodec-train-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("photos");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..10 {
        photo_like(i, 64, 64 + 8 * i)
            .save(data.join(format!("{i}.png")))
            .unwrap();
    }
    let out = dir.join("w/sacodec.safetensors");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sacodec"))
        .args(["train", "--data"])
        .arg(&data)
        .arg("--run")
        .arg(dir.join("run"))
        .arg("--out")
        .arg(&out)
        .args([
            "--vae-steps",
            "1",
            "--vae-batch",
            "2",
            "--simclr-steps",
            "1",
        ])
        .args([
            "--simclr-batch",
            "2",
            "--prior-patches",
            "16",
            "--valid-patches",
            "4",
        ])
        .args([
            "--subclasses",
            "2",
            "--enhancer-steps",
            "1",
            "--enhancer-batch",
            "1",
        ])
        .args(["--enhancer-crop", "64"])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&out).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("w/manifest.json")).unwrap()).unwrap();
    let entry = &manifest["files"][0];
    assert_eq!(entry["file"], "sacodec.safetensors");
    assert_eq!(entry["blake3"], blake3_hex(&bytes));
    assert_eq!(entry["steps"]["vae"], 1);
    assert!(entry["command"].as_str().unwrap().contains("train --data"));
    assert!(dir.join("run/train.log").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
