//! The Python trainer (`training/sacodec_train`) against the codec: its networks (`nets.py`)
//! against burn's, and the rules the two share beyond them. Each fixture is a trainer export
//! (`record.py`) of random parameters under burn's names, plus inputs and the trainer's
//! outputs; it is read by the loader `sacodec train` uses, and burn must compute the same to
//! 1e-4 (f32) — at the default widths with the level input (`fixture.safetensors`), and
//! narrower without it (`narrow.safetensors`). The first also carries the rules: rounding
//! latents, the enhancer's level input, the context's taps and which of them are decoded
//! before their cell, the priors' smallest scale and largest latent, and a BD-rate; those must
//! agree exactly.
//!
//! The fixtures are made by `python -m sacodec_train parity` (`scripts/test.sh` makes them,
//! then runs this test with `--ignored`); `SACODEC_PARITY_DIR` names another folder.

use std::path::PathBuf;

use burn::prelude::*;
use sacodec::codec::context::{TAPS, taps_present};
use sacodec::codec::entropy::{MAX_LATENT, SCALE_MIN, clamp_latent};
use sacodec::metrics::in_seam_band;
use sacodec::model::{Networks, PATCH, enhancer_input};
use sacodec::train::TrainedNetworks;
use safetensors::SafeTensors;

const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("SACODEC_PARITY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/parity"));
    let path = dir.join(format!("{name}.safetensors"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; make it with `cd training && python -m sacodec_train parity \
             --out ../target/parity`",
            path.display()
        )
    })
}

struct Fixture<'a>(SafeTensors<'a>);

impl Fixture<'_> {
    fn get(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let t = self
            .0
            .tensor(&format!("parity.{name}"))
            .unwrap_or_else(|_| panic!("the fixture has no parity.{name}"));
        let data = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        (t.shape().to_vec(), data)
    }

    fn has(&self, name: &str) -> bool {
        self.0.tensor(&format!("parity.{name}")).is_ok()
    }

    /// Rows of `width` values.
    fn rows(&self, name: &str, width: usize) -> Vec<Vec<f32>> {
        let (shape, data) = self.get(name);
        assert_eq!(shape.last(), Some(&width), "parity.{name}: shape {shape:?}");
        data.chunks_exact(width).map(<[f32]>::to_vec).collect()
    }

    fn tensor(&self, name: &str, device: &Device) -> Tensor<4> {
        let (shape, data) = self.get(name);
        let shape: [usize; 4] = shape.try_into().expect("a 4-d input");
        Tensor::from_data(TensorData::new(data, shape), device)
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let (i, diff) = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0, 0.0f32), |m, (i, d)| if d > m.1 { (i, d) } else { m });
    assert!(
        diff <= TOLERANCE,
        "{what}: max |burn − trainer| = {diff} at {i} (burn {}, trainer {})",
        got[i],
        want[i]
    );
    eprintln!(
        "{what}: max abs difference {diff:.2e} over {} values",
        got.len()
    );
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// Burn's forward passes of `nets` against the trainer's outputs in `f`.
fn check_networks(what: &str, nets: &Networks, f: &Fixture, device: &Device) {
    let (_, patches) = f.get("patches");
    assert_close(
        &format!("{what}: PatchVAE μ"),
        &nets.encode_mu(&patches),
        &f.get("mu").1,
    );
    let (_, latents) = f.get("latents");
    assert_close(
        &format!("{what}: PatchVAE decoder"),
        &nets.decode(&latents),
        &f.get("decoded").1,
    );
    assert_close(
        &format!("{what}: projection 4×4"),
        &nets.project(&latents),
        &f.get("embedding").1,
    );
    let wide = nets.projection.forward(f.tensor("wide_latents", device));
    assert_close(
        &format!("{what}: projection 8×8"),
        &values(wide),
        &f.get("wide_embedding").1,
    );

    let image = f.tensor("image", device);
    let (_, want) = f.get("enhanced");
    // Without the level input the level is not read: any value gives the same output.
    let levels = match f.has("level") {
        true => f.get("level").1,
        false => vec![0.0, 1.0],
    };
    let per = want.len() / levels.len();
    for (i, &level) in levels.iter().enumerate() {
        let one = image.clone().narrow(0, i, 1);
        let got = values(nets.enhancer.forward(one, level));
        let what = format!("{what}: enhancer, level {level}");
        assert_close(&what, &got, &want[i * per..(i + 1) * per]);
    }
}

#[test]
#[ignore = "needs the fixtures of training/sacodec_train/parity.py: scripts/test.sh makes them and runs this"]
fn burn_computes_what_the_trainer_computes() {
    let device = Device::flex();
    let bytes = fixture("fixture");
    let trained = TrainedNetworks::from_bytes(&bytes, &device).expect("the export loads");
    // The export's levels and record, as `sacodec train` reads them.
    assert_eq!(trained.gains.len(), 3);
    assert_eq!(trained.lambdas, [0.0018, 0.0035, 0.0067]);
    assert!(trained.gains[0][0] < trained.gains[2][0]);
    assert_eq!(trained.record.run, "parity");
    assert!(trained.record.framework.starts_with("JAX "));
    assert!(trained.record.stages.contains_key("parity"));
    let f = Fixture(SafeTensors::deserialize(&bytes).unwrap());
    check_networks("default widths", &trained.nets, &f, &device);

    let bytes = fixture("narrow");
    let trained = TrainedNetworks::from_bytes(&bytes, &device).expect("the narrow export loads");
    let f = Fixture(SafeTensors::deserialize(&bytes).unwrap());
    assert!(!f.has("level"), "the narrow enhancer reads no level");
    check_networks("narrow, no level input", &trained.nets, &f, &device);
}

#[test]
#[ignore = "needs the fixtures of training/sacodec_train/parity.py: scripts/test.sh makes them and runs this"]
fn the_codec_follows_the_trainers_rules() {
    let bytes = fixture("fixture");
    let f = Fixture(SafeTensors::deserialize(&bytes).unwrap());

    // Rounding latents: halves (where the rules differ), near-halves, past the range.
    let (_, y) = f.get("round_in");
    let (_, want) = f.get("round_out");
    assert!(y.iter().any(|v| v.fract().abs() == 0.5));
    for (&v, &w) in y.iter().zip(&want) {
        assert_eq!(clamp_latent(v) as f32, w, "rounding {v}");
    }

    // The enhancer's level input, for bundles of 1 to 12 levels.
    for row in f.rows("level_map", 3) {
        let (levels, quality) = (row[0] as usize, row[1] as u8);
        assert_eq!(enhancer_input(quality, levels), row[2], "{row:?}");
    }

    // The enhancer's seam band (its loss and validation; `eval`'s seam dB), on 3 × 3 patches.
    let (shape, band) = f.get("seam_band");
    let side = shape[0];
    assert_eq!(shape, [side, side]);
    for (i, &b) in band.iter().enumerate() {
        let (y, x) = (i / side, i % side);
        let ours = in_seam_band(y, side, PATCH) || in_seam_band(x, side, PATCH);
        assert_eq!(ours, b == 1.0, "seam band at ({y}, {x})");
    }

    // The context's taps, and which of them are decoded before their cell (the trainer's
    // context rate), on a grid of 2 × 3 patches.
    let taps: Vec<f32> = (TAPS.iter())
        .flat_map(|&(dy, dx)| [dy as f32, dx as f32])
        .collect();
    assert_eq!(f.get("context_taps").1, taps);
    let (shape, present) = f.get("context_present");
    let (h, w) = (shape[1], shape[2]);
    assert_eq!(shape, [TAPS.len(), 8, 12]);
    let cols = w / 4;
    for patch in 0..h / 4 * cols {
        for (cell, ours) in taps_present(cols, patch).iter().enumerate() {
            let y = patch / cols * 4 + cell / 4;
            let x = patch % cols * 4 + cell % 4;
            for (t, &ours) in ours.iter().enumerate() {
                let theirs = present[(t * h + y) * w + x] == 1.0;
                assert_eq!(ours, theirs, "tap {t} of cell ({y}, {x})");
            }
        }
    }

    // The priors' smallest scale and largest latent.
    assert_eq!(f.get("min_scale").1, [SCALE_MIN as f32]);
    assert_eq!(f.get("max_latent").1, [MAX_LATENT as f32]);

    // The BD-rate of two curves (the trainer's recipe tool and `eval`'s report).
    let curve = |name| -> Vec<(f64, f64)> {
        (f.rows(name, 2).iter())
            .map(|p| (p[0] as f64, p[1] as f64))
            .collect()
    };
    let got = sacodec::metrics::bd_rate(&curve("bd_reference"), &curve("bd_test")).unwrap();
    let want = f.get("bd_rate").1[0] as f64;
    assert!(
        (got - want).abs() < 1e-4,
        "BD-rate: codec {got}, trainer {want}"
    );
}
