//! `weights/manifest.json`: one entry per weights file, saying what made it. Written by
//! `sacodec train`, read by the page (to check the weights' hash) and by people.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The manifest.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// One entry per weights file.
    pub files: Vec<ManifestEntry>,
}

/// What made one weights file, and what it reached on held-out images.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestEntry {
    /// File name, beside the manifest.
    pub file: String,
    /// Its size.
    pub bytes: usize,
    /// BLAKE3 of the file, hex.
    pub blake3: String,
    /// The bundle's fingerprint (what `.sac` files coded with context record), hex.
    pub fingerprint: String,
    /// The fingerprint over all but the context priors (what other `.sac` files record), hex;
    /// absent in entries made before context priors.
    #[serde(default)]
    pub base_fingerprint: Option<String>,
    /// The fingerprint over all but the scale context (what `.sac` files coded with context
    /// before the scales followed it record), hex; absent in entries made before it.
    #[serde(default)]
    pub means_fingerprint: Option<String>,
    /// The fingerprint over all but the grid scale context (what `.sac` files coded with the
    /// sum scale context record), hex; absent in entries made before it.
    #[serde(default)]
    pub sum_fingerprint: Option<String>,
    /// The bundle's description.
    pub description: String,
    /// The command that wrote it.
    pub command: String,
    /// The photographs the priors were fitted on.
    pub data: Vec<PathBuf>,
    /// The machine that fitted the priors.
    pub hardware: String,
    /// Wall seconds of that step.
    pub wall_s: f64,
    /// The settings of that step, as given.
    pub config: serde_json::Value,
    /// What made the networks.
    pub trainer: TrainerRecord,
    /// Held-out measurements.
    pub held_out: HeldOut,
    /// Where the context priors were added to a bundle made before them (the rest of the
    /// entry is that bundle's): how.
    #[serde(default)]
    pub context_added: Option<Step>,
    /// Where the scale context was added to a bundle made before it: how (the levels'
    /// context metrics are measured again with it).
    #[serde(default)]
    pub scales_added: Option<Step>,
    /// Where the grid scale context was added to a bundle made before it: how (the levels'
    /// context metrics are measured again with it).
    #[serde(default)]
    pub grid_added: Option<Step>,
}

/// A later step that changed a weights file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// The command.
    pub command: String,
    /// The machine.
    pub hardware: String,
    /// Its wall seconds.
    pub wall_s: f64,
    /// Its settings, as given.
    pub config: serde_json::Value,
}

/// One stage of the trainer's run, as its export records it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    /// Optimizer steps taken.
    pub steps: usize,
    /// Samples per step (patches, pairs or crops).
    pub batch: usize,
    /// Wall seconds, summed over the calls that made it.
    pub wall_s: f64,
    /// The machines it ran on.
    pub hardware: Vec<String>,
    /// The stage's settings, as the trainer wrote them.
    pub config: serde_json::Value,
    /// The trainer's last validation values.
    #[serde(default)]
    pub validation: Option<serde_json::Value>,
}

/// The training pack a run read: its hash and recipe.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PackRecord {
    /// SHA-256 of the pack file.
    pub sha256: String,
    /// How it was made (`training/sacodec_train/pack.py`).
    pub recipe: serde_json::Value,
}

/// What made a set of networks: the trainer's record, carried into the manifest.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TrainerRecord {
    /// The run folder.
    pub run: String,
    /// The training pack (none for the retired Rust trainer, which read the folders).
    #[serde(default)]
    pub pack: Option<PackRecord>,
    /// Every stage, by name (`vae`, `subclass`, `simclr`, `enhancer`).
    pub stages: BTreeMap<String, StageRecord>,
    /// The framework and its version.
    pub framework: String,
    /// Anything else worth knowing (interruptions, changed settings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Held-out bits of one candidate K.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SubclassChoice {
    /// The number of subclasses.
    pub k: usize,
    /// Bits under the global prior, all levels.
    pub bits_global: f64,
    /// Bits under the SimCLR subclasses' priors, ids included.
    pub bits_simclr: f64,
    /// Bits with rate-optimal assignment, ids included.
    pub bits_rate_optimal: f64,
    /// What the SimCLR subclasses save over the global prior (%).
    pub saving_simclr_percent: f64,
    /// What rate-optimal assignment saves (%).
    pub saving_rate_optimal_percent: f64,
    /// Per level, bits per pixel: global, SimCLR, rate-optimal.
    pub per_level_bpp: Vec<[f64; 3]>,
}

/// Held-out values of one quality level of the shipped bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LevelMetrics {
    /// The level.
    pub quality: usize,
    /// Its λ.
    pub lambda: f32,
    /// Bits per pixel under the global prior.
    pub bpp_global: f64,
    /// Bits per pixel under the SimCLR subclasses' priors, ids included.
    pub bpp_simclr: f64,
    /// Bits per pixel with rate-optimal assignment, ids included.
    pub bpp_rate_optimal: f64,
    /// PSNR of decoded patches with the bundle's stored weights (as [`crate::model::weights::Stored`] keeps them: 8-bit,
    /// the PatchVAE f16; all f16 in bundles made before 8-bit weights).
    #[serde(alias = "psnr_patches_f16")]
    pub psnr_patches_stored: f64,
    /// PSNR of decoded patches with f32 weights.
    pub psnr_patches_f32: f64,
    /// PSNR of patches decoded from unquantized μ (f32): the autoencoder's ceiling.
    #[serde(default)]
    pub psnr_ceiling: Option<f64>,
    /// PSNR of decoded 128×128 crops (stitched patches).
    #[serde(default)]
    pub psnr_decoded_crops: Option<f64>,
    /// PSNR of the same crops enhanced.
    #[serde(default)]
    pub psnr_enhanced_crops: Option<f64>,
    /// Whether the bundle enhances this level (the enhancer gains at least 0.01 dB on
    /// held-out crops).
    #[serde(default = "yes")]
    pub enhance: bool,
    /// What the context priors save on whole held-out images (bundles made before them
    /// have none).
    #[serde(default)]
    pub context: Option<ContextMetrics>,
}

/// Bits per pixel of whole held-out images at one level, with and without context.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContextMetrics {
    /// Held-out patches measured (of whole images).
    pub patches: usize,
    /// Subclass priors, SimCLR ids.
    pub bpp_simclr: f64,
    /// Context priors, SimCLR ids.
    pub bpp_context_simclr: f64,
    /// Subclass priors, rate-optimal ids.
    pub bpp_rate_optimal: f64,
    /// Context priors, rate-optimal ids (chosen under them).
    pub bpp_context_rate_optimal: f64,
    /// Bits the context saves with SimCLR ids, % of the subclass priors'.
    pub saving_simclr_percent: f64,
    /// Bits the context saves with rate-optimal ids, % of the subclass priors'.
    pub saving_rate_optimal_percent: f64,
}

fn yes() -> bool {
    true
}

/// Everything `sacodec train` measured on held-out images.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HeldOut {
    /// Each candidate K.
    pub subclass_choices: Vec<SubclassChoice>,
    /// The K shipped.
    pub shipped_k: usize,
    /// Each level of the shipped bundle.
    pub levels: Vec<LevelMetrics>,
}
