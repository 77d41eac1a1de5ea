//! Writes the committed seed corpora: valid `.sac` files less their CRC for `sac_reader`
//! (under `seeds/sac_reader/`, the target appends the CRC) and `[count, flags, words…]` inputs
//! for `payload_decoder` (under `seeds/payload_decoder/`), encoded with the fixture's priors (no
//! networks). Run from `fuzz/`:
//!
//! ```text
//! cargo run --release --example make_corpus
//! ```

use std::fs;
use std::path::Path;

use sacodec::codec::entropy::MAX_LATENT;
use sacodec::codec::format::{self, Assignment, Header};
use sacodec::codec::mode::{Coding, PriorMode};
use sacodec::codec::patches::Grid;
use sacodec_fuzz::{SUBCLASSES, coders, fixture, synthetic_latents};

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let sac_dir = root.join("sac_reader");
    let payload_dir = root.join("payload_decoder");
    fs::create_dir_all(&sac_dir)?;
    fs::create_dir_all(&payload_dir)?;
    let (fx, coders) = (fixture(), coders());
    let sizes = [(1, 1), (32, 32), (33, 17), (64, 64), (100, 37), (96, 128)];
    let mut n_sac = 0;
    let mut n_payload = 0;
    for (i, &(w, h)) in sizes.iter().enumerate() {
        let grid = Grid::new(w, h);
        for quality in 0..coders.len() as u8 {
            for (mode, assignment) in [
                (PriorMode::Global, None),
                (PriorMode::Subclass, Some(Assignment::SimClr)),
                (PriorMode::Subclass, Some(Assignment::RateOptimal)),
                (PriorMode::ContextMeans, Some(Assignment::SimClr)),
                (PriorMode::ContextSum, Some(Assignment::SimClr)),
                (PriorMode::ContextGaussian, Some(Assignment::SimClr)),
                (PriorMode::ContextIdsAlone, Some(Assignment::SimClr)),
                (PriorMode::Context, Some(Assignment::SimClr)),
                (PriorMode::Context, Some(Assignment::RateOptimal)),
            ] {
                let level = &coders[quality as usize];
                let (mu, synthetic_ids) =
                    synthetic_latents(grid.len(), 1000 * i as u64 + quality as u64);
                let mut latents = fx.levels[quality as usize].quantize(&mu);
                if i == 2 {
                    // Extremes of the codable range.
                    latents.iter_mut().step_by(7).for_each(|z| *z = MAX_LATENT);
                    latents
                        .iter_mut()
                        .step_by(11)
                        .for_each(|z| *z = -MAX_LATENT);
                }
                let cols = grid.cols();
                let ids = match assignment {
                    None => None,
                    Some(Assignment::SimClr) => Some(synthetic_ids),
                    Some(Assignment::RateOptimal) => {
                        Some(level.rate_optimal_ids(&latents, mode, cols))
                    }
                };
                let coding = Coding::new(mode, ids.as_deref().unwrap_or_default(), cols);
                let words = level.encode(&latents, coding);
                let header = Header {
                    fingerprint: 0x5ac0_dec0_f022_0001,
                    width: w,
                    height: h,
                    quality,
                    mode,
                    assignment,
                    subclasses: SUBCLASSES as u8,
                };
                let bytes = format::write(&header, &words);
                // The generator checks its own output the way the fuzz target does.
                let (back, parsed) = format::parse(&bytes).expect("valid file");
                let decoded = level
                    .decode(parsed, grid.len(), back.mode, cols)
                    .expect("valid payload");
                assert_eq!(decoded.latents, latents);
                assert_eq!(decoded.ids, ids);
                let tag = match (mode, assignment) {
                    (_, None) => "global",
                    (PriorMode::ContextMeans, _) => "context_means",
                    (PriorMode::ContextSum, _) => "context_sum",
                    (PriorMode::ContextGaussian, _) => "context_gaussian",
                    (PriorMode::ContextIdsAlone, _) => "context_ids_alone",
                    (PriorMode::Context, Some(Assignment::SimClr)) => "context_simclr",
                    (PriorMode::Context, Some(Assignment::RateOptimal)) => "context_rateopt",
                    (_, Some(Assignment::SimClr)) => "simclr",
                    (_, Some(Assignment::RateOptimal)) => "rateopt",
                };
                // Keep the corpus small: every size at quality 1, all qualities for small ones.
                if quality == 1 || grid.len() <= 2 {
                    let name = format!("{w}x{h}_q{quality}_{tag}.sac");
                    fs::write(sac_dir.join(name), &bytes[..bytes.len() - 4])?;
                    n_sac += 1;
                }
                if grid.len() <= 16 && (quality == 1 || grid.len() == 1) {
                    // The payload target's input: patches and grid width, mode and quality.
                    let count = (grid.len() - 1 + 16 * (cols - 1)) as u8;
                    let mode_index = PriorMode::ALL.iter().position(|&m| m == mode).unwrap() as u8;
                    let flags = quality * PriorMode::ALL.len() as u8 + mode_index;
                    let mut input = vec![count, flags];
                    words
                        .iter()
                        .for_each(|w| input.extend_from_slice(&w.to_le_bytes()));
                    let name = format!("{w}x{h}_n{}_q{quality}_{tag}.bin", grid.len());
                    fs::write(payload_dir.join(name), &input)?;
                    n_payload += 1;
                }
            }
        }
    }
    println!(
        "wrote {n_sac} files to {} and {n_payload} to {}",
        sac_dir.display(),
        payload_dir.display()
    );
    Ok(())
}
