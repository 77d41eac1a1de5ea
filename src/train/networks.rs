//! The trainer's export (`python -m sacodec_train export`): the three networks in f32, each
//! level's quantization gains and λ, and the trainer's record.

use burn::prelude::Device;
use safetensors::{Dtype, SafeTensors};

use crate::codec::manifest::TrainerRecord;
use crate::error::{Error, Result};
use crate::model::{LATENT_CHANNELS, Networks, weights};

/// Format tag of the trainer's export.
pub const NETWORKS_FORMAT: &str = "sacodec-networks-1";

/// The trainer's export: what `sacodec train` turns into a bundle.
pub struct TrainedNetworks {
    /// The networks, in f32.
    pub nets: Networks,
    /// Per level, the 64 quantization gains.
    pub gains: Vec<Vec<f32>>,
    /// Per level, the λ it was trained at.
    pub lambdas: Vec<f32>,
    /// What made them.
    pub record: TrainerRecord,
}

impl TrainedNetworks {
    /// Reads an export: `vae.…`, `projection.…`, `enhancer.…` (f32), `levels.gain`
    /// `[L, 64]`, `levels.lambda` `[L]`, and the record in the metadata.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        let bad = Error::Weights;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(NETWORKS_FORMAT) {
            return Err(bad(format!("not a {NETWORKS_FORMAT} file")));
        }
        let record = serde_json::from_str(meta.get("record").map_or("{}", String::as_str))
            .map_err(|e| bad(format!("record: {e}")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let floats = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
            let t = st
                .tensor(name)
                .map_err(|_| bad(format!("missing tensor {name}")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("{name} is {:?}, not F32", t.dtype())));
            }
            Ok((t.shape().to_vec(), weights::le_f32s(t.data())))
        };
        let (shape, gain) = floats("levels.gain")?;
        let (_, lambdas) = floats("levels.lambda")?;
        let levels = lambdas.len();
        if shape != [levels, LATENT_CHANNELS] || !(1..=255).contains(&levels) {
            return Err(bad(format!("levels.gain of shape {shape:?}")));
        }
        if gain.iter().any(|g| !(g.is_finite() && *g > 0.0)) {
            return Err(bad("gains must be positive".into()));
        }
        Ok(Self {
            nets: Networks::from_safetensors(bytes, device)?,
            gains: gain.chunks(LATENT_CHANNELS).map(<[f32]>::to_vec).collect(),
            lambdas,
            record,
        })
    }

    /// The export as a file (what the trainer writes; tests make one from seeded networks).
    pub fn to_bytes(&self) -> Vec<u8> {
        let le = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let levels = self.gains.len();
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .nets
            .tensors()
            .into_iter()
            .map(|t| (t.name, t.shape, le(&t.data)))
            .collect();
        let gains: Vec<f32> = self.gains.concat();
        tensors.push((
            "levels.gain".into(),
            vec![levels, LATENT_CHANNELS],
            le(&gains),
        ));
        tensors.push(("levels.lambda".into(), vec![levels], le(&self.lambdas)));
        let views = tensors.iter().map(|(name, shape, data)| {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), data);
            (name.clone(), view.expect("consistent tensor"))
        });
        let meta = std::collections::HashMap::from([
            ("format".to_string(), NETWORKS_FORMAT.to_string()),
            (
                "record".to_string(),
                serde_json::to_string(&self.record).unwrap(),
            ),
        ]);
        safetensors::serialize(views, Some(meta)).expect("serialisable tensors")
    }
}
