//! `sacodec info`: what a `.sac` file holds.

use std::path::Path;

use sacodec::codec::format::{self, Header};
use sacodec::codec::mode::Coding;
use sacodec::codec::patches::Grid;
use sacodec::{Assignment, Codec, bpp};
use serde::Serialize;

/// What `info` reports.
#[derive(Serialize)]
pub struct Info {
    bytes: usize,
    version: u8,
    width: u32,
    height: u32,
    bpp: f64,
    quality: u8,
    prior: &'static str,
    assignment: &'static str,
    subclasses: u8,
    fingerprint: String,
    /// Present when the loaded weights match the file.
    decoded: Option<DecodedInfo>,
    /// Why the payload was not decoded.
    note: Option<String>,
}

/// What `info` reports of a payload it decoded.
#[derive(Serialize)]
pub struct DecodedInfo {
    patches: usize,
    /// The digest the page shows for the same file.
    latents_digest: String,
    subclass_histogram: Option<Vec<usize>>,
    information_bits: f64,
    information_bpp: f64,
    header_bytes: usize,
    payload_bytes: usize,
    coder_overhead_percent: f64,
    weights_trained: bool,
}

/// Describes a `.sac` file; decodes its payload when the weights match.
pub fn info(codec: &Codec, bytes: &[u8], h: &Header) -> Info {
    let grid = Grid::new(h.width, h.height);
    let (decoded, note) = match codec.read(bytes) {
        Ok(d) => {
            let level = codec.level(h.quality).expect("read checked the level");
            let coding = Coding::new(h.mode, d.ids.as_deref().unwrap_or_default(), grid.cols());
            let bits = level.information_bits(&d.latents, coding);
            let histogram = d.ids.as_ref().map(|ids| {
                let mut hist = vec![0usize; codec.bundle().subclasses()];
                ids.iter().for_each(|&k| hist[k as usize] += 1);
                hist
            });
            let decoded = DecodedInfo {
                patches: grid.len(),
                latents_digest: sacodec::codec::latents_digest(&d.latents, d.ids.as_deref()),
                subclass_histogram: histogram,
                information_bits: bits,
                information_bpp: bits / (grid.width as f64 * grid.height as f64),
                header_bytes: format::OVERHEAD,
                payload_bytes: bytes.len() - format::OVERHEAD,
                coder_overhead_percent: coder_overhead_percent(bytes.len(), bits),
                weights_trained: codec.bundle().trained,
            };
            (Some(decoded), None)
        }
        Err(e) => (None, Some(e.to_string())),
    };
    Info {
        bytes: bytes.len(),
        version: bytes[4],
        width: h.width,
        height: h.height,
        bpp: bpp(bytes.len(), grid),
        quality: h.quality,
        prior: h.mode.name(),
        assignment: match h.assignment {
            None => "none",
            Some(Assignment::SimClr) => "simclr",
            Some(Assignment::RateOptimal) => "rate",
        },
        subclasses: h.subclasses,
        fingerprint: format!("{:016x}", h.fingerprint),
        decoded,
        note,
    }
}

/// How much larger the payload (the file less its header) is than its information content.
fn coder_overhead_percent(file_bytes: usize, information_bits: f64) -> f64 {
    let payload_bits = 8.0 * (file_bytes - format::OVERHEAD) as f64;
    100.0 * (payload_bits / information_bits - 1.0)
}

/// Prints [`Info`] for people.
pub fn print_info(path: &Path, i: &Info) {
    println!("file:        {}", path.display());
    println!(
        "size:        {}x{} pixels, {} bytes, {:.4} bpp",
        i.width, i.height, i.bytes, i.bpp
    );
    println!("format:      version {}", i.version);
    println!("quality:     {}", i.quality);
    println!("prior:       {} (ids: {})", i.prior, i.assignment);
    println!(
        "model:       {} ({} subclasses)",
        i.fingerprint, i.subclasses
    );
    match (&i.decoded, &i.note) {
        (Some(d), _) => {
            println!(
                "information: {:.0} bits, {:.4} bpp; coder overhead {:.3} %",
                d.information_bits, d.information_bpp, d.coder_overhead_percent
            );
            if let Some(h) = &d.subclass_histogram {
                let counts: Vec<String> = h
                    .iter()
                    .enumerate()
                    .map(|(k, c)| format!("{k}:{c}"))
                    .collect();
                println!("subclasses:  {}", counts.join(" "));
            }
            if !d.weights_trained {
                println!("weights:     untrained seeded bundle");
            }
        }
        (None, Some(note)) => println!("payload:     not decoded: {note}"),
        (None, None) => {}
    }
}
