//! Untrusted bytes: every class of bad `.sac` and image input is a clear error, never a panic,
//! a hang or a huge allocation — in the library and as a one-line error from the CLI.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{codec, photo};
use proptest::prelude::*;
use sacodec::codec::entropy::MAX_LATENT;
use sacodec::codec::format::{self, Header};
use sacodec::codec::mode::Coding;
use sacodec::model::LATENT_LEN;
use sacodec::{CompressOptions, Error, PriorMode};

fn sample_sac() -> Vec<u8> {
    codec()
        .compress(&photo(70, 40, 11), CompressOptions::default())
        .unwrap()
        .bytes
}

/// A file whose header says what we like, with a valid checksum.
fn forged(h: impl FnOnce(&mut Header), payload: &[u32]) -> Vec<u8> {
    let (mut header, _) = format::parse(&sample_sac()).unwrap();
    h(&mut header);
    format::write(&header, payload)
}

#[test]
fn truncation_at_every_byte_offset_is_an_error() {
    let sac = sample_sac();
    for n in 0..sac.len() {
        assert!(codec().read(&sac[..n]).is_err(), "truncated to {n} bytes");
    }
}

#[test]
fn every_flipped_bit_is_an_error() {
    let sac = sample_sac();
    for bit in 0..sac.len() * 8 {
        let mut bad = sac.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(codec().read(&bad).is_err(), "bit {bit} flipped");
    }
}

#[test]
fn foreign_fingerprint_is_refused() {
    let bad = forged(
        |h| h.fingerprint ^= 1,
        &format::parse(&sample_sac()).unwrap().1,
    );
    assert!(matches!(
        codec().read(&bad),
        Err(Error::ModelMismatch { .. })
    ));
}

#[test]
fn huge_declared_size_is_refused_without_allocating() {
    let bad = forged(|h| (h.width, h.height) = (100_000, 100_000), &[1, 2, 3]);
    assert!(matches!(codec().read(&bad), Err(Error::TooLarge { .. })));
    // Within each side's limit but over the pixel limit.
    let bad = forged(|h| (h.width, h.height) = (16_384, 16_384), &[1]);
    assert!(matches!(codec().read(&bad), Err(Error::TooLarge { .. })));
}

#[test]
fn unknown_quality_or_subclass_count_is_refused() {
    let words = format::parse(&sample_sac()).unwrap().1;
    assert!(matches!(
        codec().read(&forged(|h| h.quality = 9, &words)),
        Err(Error::Quality { .. })
    ));
    assert!(matches!(
        codec().read(&forged(|h| h.subclasses = 3, &words)),
        Err(Error::Header(_))
    ));
}

#[test]
fn empty_payload_with_valid_checksum_is_refused() {
    // Found by fuzzing: an empty ANS stream decodes to latents the encoder never writes.
    for mode in [PriorMode::Global, PriorMode::Subclass] {
        let bad = forged(
            |h| {
                (h.width, h.height, h.mode) = (4096, 4096, mode);
                h.assignment = (mode == PriorMode::Subclass).then_some(sacodec::Assignment::SimClr);
            },
            &[],
        );
        assert!(
            matches!(codec().read(&bad), Err(Error::Payload(_))),
            "{mode:?}"
        );
    }
}

#[test]
fn largest_declared_size_with_a_short_payload_fails_before_decoding() {
    // 16 Mpx (the limit) declared, 256 words given (half a bit per patch): refused by the
    // payload's lower bound on its length, before a single symbol is decoded. (Mode 6's ids
    // can cost as little as 0.03 bits where both neighbours share a subclass, so its bound with
    // the seeded weights is 0.85–0.95 bits per patch; with the bundle of 2026-12-03, 3.1–24.9.)
    let mut rng = sacodec::rng::SplitMix64(3);
    let words: Vec<u32> = (0..256).map(|_| rng.next_u64() as u32 | 1).collect();
    for (w, h) in [(4096, 4096), (16_384, 1024)] {
        for mode in PriorMode::ALL {
            let bad = forged(
                |hd| {
                    (hd.width, hd.height, hd.mode) = (w, h, mode);
                    hd.assignment =
                        (mode != PriorMode::Global).then_some(sacodec::Assignment::SimClr);
                    hd.fingerprint = codec().fingerprint(mode);
                },
                &words,
            );
            match codec().read(&bad) {
                Err(Error::Payload(e)) => assert!(e.starts_with("payload too short"), "{e}"),
                other => panic!("{w}×{h} {mode:?}: {:?}", other.map(|d| d.latents.len())),
            }
        }
    }
}

#[test]
fn empty_and_random_bytes_are_refused() {
    assert!(codec().read(&[]).is_err());
    let mut rng = sacodec::rng::SplitMix64(99);
    for len in [1usize, 4, 33, 34, 1000, 100_000] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        assert!(codec().read(&bytes).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A checksummed file with an arbitrary payload never panics; what it decodes to is
    /// bounded: the declared number of patches, latents the encoder can write, ids below K,
    /// and a payload at least as long as the stream's lower bound that re-encodes to itself.
    #[test]
    fn arbitrary_payload_with_valid_checksum_never_panics(
        words in proptest::collection::vec(any::<u32>(), 0..64),
        mode in 0..PriorMode::ALL.len(),
        w in 1u32..200,
        h in 1u32..200,
    ) {
        let mode = PriorMode::ALL[mode];
        let subclass = mode != PriorMode::Global;
        let bad = forged(|hd| {
            (hd.width, hd.height, hd.mode) = (w, h, mode);
            hd.assignment = subclass.then_some(sacodec::Assignment::SimClr);
            hd.fingerprint = codec().fingerprint(mode);
        }, &words);
        match codec().read(&bad) {
            Ok(d) => {
                let patches = d.grid().len();
                let level = codec().level(d.header.quality).unwrap();
                prop_assert_eq!(d.latents.len(), patches * LATENT_LEN);
                prop_assert!(d.latents.iter().all(|z| z.abs() <= MAX_LATENT));
                prop_assert_eq!(d.ids.is_some(), subclass);
                let k = level.subclasses();
                prop_assert!(d.ids.iter().flatten().all(|&id| (id as usize) < k));
                prop_assert!(32.0 * words.len() as f64 >= level.min_payload_bits(patches, mode));
                let coding = Coding::new(mode, d.ids.as_deref().unwrap_or_default(), d.grid().cols());
                prop_assert_eq!(level.encode(&d.latents, coding), words);
            }
            Err(e) => prop_assert!(matches!(e, Error::Payload(_)), "{e}"),
        }
    }

    /// Random edits of a valid file are either refused or decode to the declared size.
    #[test]
    fn mutated_files_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = sample_sac();
        for (at, v) in edits {
            let n = bytes.len();
            bytes[at % n] = v;
        }
        if let Ok(d) = codec().read(&bytes) {
            prop_assert_eq!(d.latents.len(), d.grid().len() * LATENT_LEN);
        }
    }
}

// ---- The CLI: a one-line error and a non-zero exit. ----

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sacodec-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs the CLI and checks it failed with exactly one `error:` line and no panic.
fn fails_cleanly(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sacodec"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
    errors[0].to_string()
}

fn write(name: &str, bytes: &[u8]) -> String {
    let p = tmp(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

fn decompress_fails(name: &str, bytes: &[u8]) -> String {
    let input = write(name, bytes);
    let out = tmp("out.png");
    let msg = fails_cleanly(&["decompress", &input, "-o", out.to_str().unwrap()]);
    assert!(!Path::new(&out).exists(), "no output on failure");
    msg
}

#[test]
fn cli_rejects_bad_sac_files() {
    let sac = sample_sac();
    assert!(decompress_fails("empty.sac", &[]).contains("truncated"));
    assert!(decompress_fails("trunc.sac", &sac[..sac.len() - 3]).contains("truncated"));
    let mut flipped = sac.clone();
    flipped[40] ^= 4;
    assert!(decompress_fails("flipped.sac", &flipped).contains("checksum"));
    assert!(
        decompress_fails(
            "random.sac",
            b"\x00\x01random bytes that are not a sac file"
        )
        .contains("not a .sac")
    );
    let huge = forged(|h| (h.width, h.height) = (100_000, 100_000), &[]);
    assert!(decompress_fails("huge.sac", &huge).contains("over the limit"));
    let foreign = forged(|h| h.fingerprint ^= 0xff, &format::parse(&sac).unwrap().1);
    assert!(decompress_fails("foreign.sac", &foreign).contains("needs model"));
    assert!(fails_cleanly(&["info", &write("info-trunc.sac", &sac[..20])]).contains("truncated"));
    assert!(
        fails_cleanly(&["decompress", "/nonexistent/x.sac", "-o", "/tmp/x.png"])
            .contains("No such file")
    );
}

#[test]
fn cli_rejects_bad_images() {
    let out = tmp("out.sac");
    let out = out.to_str().unwrap();
    let compress =
        |name: &str, bytes: &[u8]| fails_cleanly(&["compress", &write(name, bytes), "-o", out]);
    assert!(compress("empty.png", &[]).contains("cannot read image"));
    assert!(compress("text.png", b"just some text").contains("cannot read image"));
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::from(photo(64, 64, 1))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let png = png.into_inner();
    assert!(compress("corrupt.png", &png[..png.len() / 2]).contains("cannot read image"));
    // A BMP whose header declares 100000 x 100000 pixels.
    let mut bmp = std::io::Cursor::new(Vec::new());
    image::DynamicImage::from(photo(1, 1, 1))
        .write_to(&mut bmp, image::ImageFormat::Bmp)
        .unwrap();
    let mut bmp = bmp.into_inner();
    bmp[18..22].copy_from_slice(&100_000i32.to_le_bytes());
    bmp[22..26].copy_from_slice(&100_000i32.to_le_bytes());
    compress("huge.bmp", &bmp);
    // Within a side's limit but over 16 megapixels in all.
    let mut bmp2 = bmp.clone();
    bmp2[18..22].copy_from_slice(&8000i32.to_le_bytes());
    bmp2[22..26].copy_from_slice(&8000i32.to_le_bytes());
    assert!(compress("big.bmp", &bmp2).contains("over the limit"));
    assert!(!Path::new(out).exists(), "no output on failure");
}

#[test]
fn cli_round_trip_and_info() {
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::from(photo(50, 30, 2))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let input = write("in.png", png.get_ref());
    let sac = tmp("rt.sac");
    let back = tmp("rt.png");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sacodec"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&[
        "compress",
        &input,
        "-o",
        sac.to_str().unwrap(),
        "--quality",
        "2",
        "--assign",
        "rate",
    ]);
    let info: serde_json::Value =
        serde_json::from_str(&run(&["info", sac.to_str().unwrap(), "--json"])).unwrap();
    let bytes = std::fs::metadata(&sac).unwrap().len();
    assert_eq!(info["bytes"], bytes);
    // serde_json reads floats to within an ulp (no `float_roundtrip`).
    let bpp = info["bpp"].as_f64().unwrap();
    assert!((bpp - 8.0 * bytes as f64 / 1500.0).abs() < 1e-12, "{bpp}");
    assert_eq!(
        (
            info["width"].as_u64(),
            info["height"].as_u64(),
            info["quality"].as_u64()
        ),
        (Some(50), Some(30), Some(2))
    );
    assert_eq!(info["assignment"], "rate");
    let hist: u64 = info["decoded"]["subclass_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(hist, 2, "two patches");
    run(&[
        "decompress",
        sac.to_str().unwrap(),
        "-o",
        back.to_str().unwrap(),
        "--no-enhance",
    ]);
    assert_eq!(image::open(&back).unwrap().to_rgb8().dimensions(), (50, 30));
}
