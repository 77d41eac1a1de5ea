//! The three networks of a bundle together, with batched inference on plain `f32` buffers.

use burn::prelude::*;
use safetensors::SafeTensors;

use super::weights::{self, NamedTensor};
use super::{
    AttentionUNet, AttentionUNetConfig, ENHANCE_MARGIN, ENHANCE_TILE, LATENT_CHANNELS, LATENT_LEN,
    LATENT_SIDE, LatentSimClrProjection, LatentSimClrProjectionConfig, PATCH, PATCH_LEN,
    PROJECTION_DIM, PatchVae, PatchVaeConfig,
};
use crate::codec::patches::Tile;
use crate::error::{Error, Result};

/// Patches per network call (one tensor of the batched inference).
const CALL_PATCHES: usize = 256;
/// The largest channel count a weights file may give a layer.
const MAX_WIDTH: usize = 1024;

/// PatchVAE, SimCLR projection and enhancer on one device.
#[derive(Clone, Debug)]
pub struct Networks {
    /// The PatchVAE.
    pub vae: PatchVae,
    /// The SimCLR projection.
    pub projection: LatentSimClrProjection,
    /// The enhancer.
    pub enhancer: AttentionUNet,
    device: Device,
}

/// Name prefixes of the three networks in a weights file.
const PREFIXES: [&str; 3] = ["vae", "projection", "enhancer"];

impl Networks {
    /// Networks with burn's default (random) initialisation.
    pub fn init(device: &Device) -> Self {
        Self {
            vae: PatchVaeConfig::new().init(device),
            projection: LatentSimClrProjectionConfig::new().init(device),
            enhancer: AttentionUNetConfig::new().init(device),
            device: device.clone(),
        }
    }

    /// Networks initialised deterministically from `seed` (see [`weights::seed`]).
    pub fn seeded(seed: u64, device: &Device) -> Self {
        let n = Self::init(device);
        Self {
            vae: weights::seed(n.vae, PREFIXES[0], seed),
            projection: weights::seed(n.projection, PREFIXES[1], seed),
            enhancer: weights::seed(n.enhancer, PREFIXES[2], seed),
            device: n.device,
        }
    }

    /// Loads the networks from a safetensors file: every `vae.…`, `projection.…` and
    /// `enhancer.…` tensor, in f32 (the trainer's export) or 8-bit (a bundle); other tensors
    /// are ignored. The widths of the PatchVAE and the enhancer, and whether the enhancer
    /// reads the quality level, are read from the tensors' shapes.
    pub fn from_safetensors(bytes: &[u8], device: &Device) -> Result<Self> {
        let bad = Error::Weights;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let dim = |name: &str, axis: usize| -> Result<usize> {
            let t = st
                .tensor(name)
                .map_err(|_| bad(format!("missing tensor {name}")))?;
            match t.shape().get(axis) {
                Some(&d) if (1..=MAX_WIDTH).contains(&d) => Ok(d),
                _ => Err(bad(format!("{name}: unexpected shape {:?}", t.shape()))),
            }
        };
        let first = |layer: &str| dim(&format!("{layer}.weight"), 0);
        let vae = PatchVaeConfig::new().with_widths([
            first("vae.encoder.conv1")?,
            first("vae.encoder.conv2")?,
            first("vae.encoder.conv3")?,
        ]);
        let enhancer = AttentionUNetConfig::new()
            .with_widths([
                first("enhancer.enc1.conv1")?,
                first("enhancer.enc2.conv1")?,
                first("enhancer.enc3.conv1")?,
            ])
            .with_bottleneck(first("enhancer.bottleneck.conv1")?)
            .with_level_input(match dim("enhancer.enc1.conv1.weight", 1)? {
                3 => false,
                4 => true,
                c => return Err(bad(format!("an enhancer with {c} input channels"))),
            });
        let projection = LatentSimClrProjectionConfig::new().init(device);
        Ok(Self {
            vae: weights::load(vae.init(device), PREFIXES[0], &st)?,
            projection: weights::load(projection, PREFIXES[1], &st)?,
            enhancer: weights::load(enhancer.init(device), PREFIXES[2], &st)?,
            device: device.clone(),
        })
    }

    /// Rounds every parameter to what a bundle stores (8-bit weights, f16 biases and PatchVAE:
    /// [`weights::Stored`]).
    pub fn round_to_stored(self) -> Self {
        Self {
            vae: weights::round_to_stored(self.vae, PREFIXES[0]),
            projection: weights::round_to_stored(self.projection, PREFIXES[1]),
            enhancer: weights::round_to_stored(self.enhancer, PREFIXES[2]),
            device: self.device,
        }
    }

    /// All parameters, named `vae.…`, `projection.…`, `enhancer.…`.
    pub fn tensors(&self) -> Vec<NamedTensor> {
        let mut t = weights::collect(&self.vae, PREFIXES[0]);
        t.extend(weights::collect(&self.projection, PREFIXES[1]));
        t.extend(weights::collect(&self.enhancer, PREFIXES[2]));
        t
    }

    /// The device the networks run on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn tensor4(&self, data: &[f32], shape: [usize; 4]) -> Tensor<4> {
        Tensor::from_data(TensorData::new(data.to_vec(), shape), &self.device)
    }

    /// μ of every patch: `n × [3, 32, 32]` → `n × LATENT_LEN`.
    pub fn encode_mu(&self, patches: &[f32]) -> Vec<f32> {
        block_on(self.encode_mu_async(patches)).expect("CPU readback")
    }

    /// Unit SimCLR embedding of every latent: `n × LATENT_LEN` → `n × PROJECTION_DIM`.
    pub fn project(&self, mu: &[f32]) -> Vec<f32> {
        block_on(self.project_async(mu)).expect("CPU readback")
    }

    /// Decoded patches: `n × LATENT_LEN` → `n × [3, 32, 32]`.
    pub fn decode(&self, latents: &[f32]) -> Vec<f32> {
        block_on(self.decode_async(latents)).expect("CPU readback")
    }

    /// Runs the enhancer over a planar `[3, height, width]` image (sides multiples of 8) of
    /// quality `level` (`level / (levels − 1)`, in [0, 1]).
    pub fn enhance(&self, planar: &[f32], height: usize, width: usize, level: f32) -> Vec<f32> {
        let enhanced =
            self.enhance_async(planar, height, width, level, ENHANCE_TILE, |_, _| async {
                Ok::<(), Error>(())
            });
        block_on(enhanced).expect("CPU readback")
    }

    /// [`Networks::encode_mu`] without blocking: the form WebGPU in a browser needs.
    pub async fn encode_mu_async(&self, patches: &[f32]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(patches.len() / PATCH_LEN * LATENT_LEN);
        for chunk in patches.chunks(CALL_PATCHES * PATCH_LEN) {
            let x = self.tensor4(chunk, [chunk.len() / PATCH_LEN, 3, PATCH, PATCH]);
            out.extend(read(self.vae.encoder.mu(x)).await?);
        }
        Ok(out)
    }

    /// [`Networks::project`] without blocking.
    pub async fn project_async(&self, mu: &[f32]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(mu.len() / LATENT_LEN * PROJECTION_DIM);
        for chunk in mu.chunks(CALL_PATCHES * LATENT_LEN) {
            let z = self.tensor4(chunk, latent_shape(chunk.len()));
            out.extend(read(self.projection.forward(z)).await?);
        }
        Ok(out)
    }

    /// [`Networks::decode`] without blocking.
    pub async fn decode_async(&self, latents: &[f32]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(latents.len() / LATENT_LEN * PATCH_LEN);
        for chunk in latents.chunks(CALL_PATCHES * LATENT_LEN) {
            let z = self.tensor4(chunk, latent_shape(chunk.len()));
            out.extend(read(self.vae.decoder.forward(z)).await?);
        }
        Ok(out)
    }

    /// [`Networks::enhance`] without blocking, in `tile`-pixel tiles that each see
    /// [`ENHANCE_MARGIN`] pixels of context around them; `between(done, tiles)` is awaited after
    /// every tile, and an error it returns stops the work. The output differs from
    /// [`ENHANCE_TILE`]'s only near tile seams.
    pub async fn enhance_async<E, F, Fut>(
        &self,
        planar: &[f32],
        height: usize,
        width: usize,
        level: f32,
        tile: usize,
        mut between: F,
    ) -> std::result::Result<Vec<f32>, E>
    where
        E: From<Error>,
        F: FnMut(usize, usize) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
    {
        assert!(
            height.is_multiple_of(8) && width.is_multiple_of(8) && tile.is_multiple_of(8),
            "sides and tile must be multiples of 8"
        );
        assert_eq!(planar.len(), 3 * height * width);
        let mut out = vec![0.0f32; planar.len()];
        let tiles = Tile::cover(height, width, tile.max(8), ENHANCE_MARGIN);
        for (done, t) in tiles.iter().enumerate() {
            let (th, tw) = t.region_size();
            let enhanced = self
                .enhance_region_async(&t.cut(planar, height, width), th, tw, level)
                .await?;
            t.paste(&enhanced, &mut out, height, width);
            between(done + 1, tiles.len()).await?;
        }
        Ok(out)
    }

    /// The enhancer on one planar `[3, height, width]` region (sides multiples of 8): what a
    /// [`Tile`] of [`Networks::enhance_async`] runs (a worker of the page runs one at a time).
    pub async fn enhance_region_async(
        &self,
        region: &[f32],
        height: usize,
        width: usize,
        level: f32,
    ) -> Result<Vec<f32>> {
        let x = self.tensor4(region, [1, 3, height, width]);
        read(self.enhancer.forward(x, level)).await
    }
}

fn latent_shape(len: usize) -> [usize; 4] {
    [len / LATENT_LEN, LATENT_CHANNELS, LATENT_SIDE, LATENT_SIDE]
}

/// Reads a tensor back to the host without blocking.
async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    Ok(t.into_data_async()
        .await
        .map_err(|e| Error::Device(e.to_string()))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor"))
}

/// Runs a future to completion on this thread. Only for backends whose reads complete by
/// themselves (the CPU): a browser's WebGPU must be awaited instead.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
