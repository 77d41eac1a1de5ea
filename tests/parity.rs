//! The Python trainer's networks (`training/sacodec_train/nets.py`) against burn's: the
//! fixture is a trainer export (`record.py`) of random parameters under burn's names, plus
//! inputs and the trainer's outputs; it is read by the loader `sacodec train` uses, and burn
//! must compute the same to 1e-4 (f32).
//!
//! The fixture is made by `python -m sacodec_train parity` (`scripts/test.sh` makes it, then
//! runs this test with `--ignored`); `SACODEC_PARITY_FIXTURE` names another file.

use std::path::PathBuf;

use burn::prelude::*;
use sacodec::train::TrainedNetworks;
use safetensors::SafeTensors;

const TOLERANCE: f32 = 1e-4;

fn fixture() -> Vec<u8> {
    let path = std::env::var_os("SACODEC_PARITY_FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/parity/fixture.safetensors")
        });
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; make it with `cd training && python -m sacodec_train parity \
             --out ../target/parity/fixture.safetensors`",
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

#[test]
#[ignore = "needs the fixture of training/sacodec_train/parity.py: scripts/test.sh makes it and runs this"]
fn burn_computes_what_the_trainer_computes() {
    let bytes = fixture();
    let device = Device::flex();
    let trained = TrainedNetworks::from_bytes(&bytes, &device).expect("the export loads");
    // The export's levels and record, as `sacodec train` reads them.
    assert_eq!(trained.gains.len(), 3);
    assert_eq!(trained.lambdas, [0.0018, 0.0035, 0.0067]);
    assert!(trained.gains[0][0] < trained.gains[2][0]);
    assert_eq!(trained.record.run, "parity");
    assert!(trained.record.framework.starts_with("JAX "));
    assert!(trained.record.stages.contains_key("parity"));
    let nets = trained.nets;
    let f = Fixture(SafeTensors::deserialize(&bytes).unwrap());

    let (_, patches) = f.get("patches");
    assert_close("PatchVAE μ", &nets.encode_mu(&patches), &f.get("mu").1);
    let (_, latents) = f.get("latents");
    assert_close(
        "PatchVAE decoder",
        &nets.decode(&latents),
        &f.get("decoded").1,
    );
    assert_close(
        "projection 4×4",
        &nets.project(&latents),
        &f.get("embedding").1,
    );
    let wide = nets.projection.forward(f.tensor("wide_latents", &device));
    assert_close("projection 8×8", &values(wide), &f.get("wide_embedding").1);

    let image = f.tensor("image", &device);
    let (_, levels) = f.get("level");
    let (_, want) = f.get("enhanced");
    let n = levels.len();
    let per = want.len() / n;
    for (i, &level) in levels.iter().enumerate() {
        let one = image.clone().narrow(0, i, 1);
        let got = values(nets.enhancer.forward(one, level));
        let what = format!("enhancer, level {level}");
        assert_close(&what, &got, &want[i * per..(i + 1) * per]);
    }
}
