//! Image quality metrics: PSNR and MS-SSIM on 8-bit RGB images; rate–distortion curves
//! ([`Curve`]), the BD-rate between two ([`bd_rate`]) and their plot ([`Plot`]).
//!
//! Both metrics work on raw 8-bit sample values (peak / data range 255) and
//! are meant to reproduce the numbers reported by CompressAI-style evaluation
//! scripts (`psnr` over all RGB samples, `pytorch_msssim.ms_ssim` with
//! `data_range=255`).
//!
//! All arithmetic is done in `f64`.

use image::RgbImage;

mod plot;
mod rd;
pub use plot::{Curve, Marker, Plot, Point, Series};
pub use rd::bd_rate;

/// Peak sample value / dynamic range of 8-bit images.
const PEAK: f64 = 255.0;

/// SSIM stabilisation constants, `C1 = (K1 * L)^2`, `C2 = (K2 * L)^2`.
const K1: f64 = 0.01;
const K2: f64 = 0.03;
const C1: f64 = (K1 * PEAK) * (K1 * PEAK);
const C2: f64 = (K2 * PEAK) * (K2 * PEAK);

/// Gaussian window: 11 taps, standard deviation 1.5.
const WIN_SIZE: usize = 11;
const WIN_SIGMA: f64 = 1.5;

/// Per-scale exponents of MS-SSIM (Wang et al. 2003), finest scale first.
const MS_SSIM_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

/// Panics with a clear message if the two images differ in size.
fn assert_same_size(a: &RgbImage, b: &RgbImage, metric: &str) {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "{metric}: images must have the same dimensions (width, height)"
    );
}

/// Number of 8-bit samples (`width * height * 3`) of an image.
fn sample_count(img: &RgbImage) -> usize {
    img.width() as usize * img.height() as usize * 3
}

/// PSNR in dB over all RGB samples (8-bit, peak 255):
/// `10 * log10(255^2 / MSE)` where the MSE is averaged over every sample of
/// every channel.
///
/// Identical images (including empty ones) give `f64::INFINITY`.
///
/// # Panics
/// If the images differ in size (callers are expected to guarantee equal
/// sizes).
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_same_size(a, b, "psnr");
    let n = sample_count(a);
    // The backing buffer may in principle be longer than the image; only the
    // first `n` samples belong to it.
    psnr_samples(&a.as_raw()[..n], &b.as_raw()[..n])
}

/// Whether row (or column) `i` of `len` lies in the 2-px band along the borders between
/// `patch`-px patches: the first or last of a patch, the image's own edges excepted. A pixel is
/// in the band when its row or its column is (the trainer's `seam_band`, tied by the parity
/// test).
pub fn in_seam_band(i: usize, len: usize, patch: usize) -> bool {
    (i.is_multiple_of(patch) && i > 0) || (i % patch == patch - 1 && i + 1 < len)
}

/// How much worse a picture made of `patch`-pixel squares is at their seams: the mean squared
/// error of the 2-px band along the borders between squares (one pixel each side) over that
/// of the rest, in dB (0: seams no worse than the interior); not finite where either part is
/// empty or exact (the report shows those as "–").
///
/// # Panics
/// If the images differ in size.
pub fn seam_excess_db(original: &RgbImage, picture: &RgbImage, patch: usize) -> f64 {
    assert_same_size(original, picture, "seam_excess_db");
    let (w, h) = (original.width() as usize, original.height() as usize);
    let mut sums = [(0u64, 0u64); 2]; // (squared error, samples): interior, seam band
    for y in 0..h {
        let row_seam = in_seam_band(y, h, patch);
        for x in 0..w {
            let part = usize::from(row_seam || in_seam_band(x, w, patch));
            let (a, b) = (
                original.get_pixel(x as u32, y as u32),
                picture.get_pixel(x as u32, y as u32),
            );
            for c in 0..3 {
                let d = i64::from(a[c]) - i64::from(b[c]);
                sums[part].0 += (d * d) as u64;
                sums[part].1 += 1;
            }
        }
    }
    let mse = |(sse, n): (u64, u64)| sse as f64 / n as f64;
    10.0 * (mse(sums[1]) / mse(sums[0])).log10()
}

/// [`psnr`] of two equally long runs of 8-bit samples.
pub fn psnr_samples(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(
        a.len(),
        b.len(),
        "psnr: {} and {} samples",
        a.len(),
        b.len()
    );
    let n = a.len();
    let sse: u64 = (a.iter().zip(b))
        .map(|(&x, &y)| {
            let d = u64::from(x.abs_diff(y));
            d * d
        })
        .sum();
    if sse == 0 {
        return f64::INFINITY;
    }
    let mse = sse as f64 / n as f64;
    10.0 * (PEAK * PEAK / mse).log10()
}

/// Multi-scale SSIM (Wang, Simoncelli & Bovik 2003), following
/// `pytorch_msssim.ms_ssim(X, Y, data_range=255)` as used by CompressAI:
///
/// * 11x11 Gaussian window with sigma 1.5 (applied separably), K1 = 0.01,
///   K2 = 0.03, L = 255;
/// * "valid" filtering (no padding), so the SSIM/CS maps are
///   `(w - 10) x (h - 10)` at each scale;
/// * 5 scales with weights `[0.0448, 0.2856, 0.3001, 0.2363, 0.1333]`; the
///   mean contrast-structure term `cs` is used at scales 1..4 and the full
///   mean SSIM at the coarsest scale, each clamped at 0 (relu) before being
///   raised to its weight;
/// * 2x2 average pooling between scales. Like `pytorch_msssim` (which calls
///   `avg_pool2d(kernel_size=2, padding=s % 2)`), an odd dimension is
///   zero-padded by one sample on each side with the zeros counted in the
///   average, giving `ceil(s / 2)` output samples;
/// * computed independently on the R, G and B channels and averaged over the
///   three channels.
///
/// Small images: `pytorch_msssim` refuses images whose short side is
/// <= 160. Here, instead, as many scales as fit are used, i.e. the largest
/// number `n <= 5` of scales such that the short side at the coarsest scale
/// is still >= 11 (the window size); the first `n` weights are then
/// renormalised to sum to 1. Images with a short side >= 161 use all 5 scales
/// and match `pytorch_msssim`. At least one scale is always used: for images
/// smaller than 11 px along an axis, the Gaussian window along that axis is
/// clipped to the image size (a centred, renormalised Gaussian of that
/// length), so the map collapses to a single sample along that axis.
///
/// Identical images give exactly 1.0; the result lies in [0, 1]. Empty images
/// give 1.0.
///
/// # Panics
/// If the images differ in size.
pub fn ms_ssim(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_same_size(a, b, "ms_ssim");
    let (w, h) = (a.width() as usize, a.height() as usize);
    if w == 0 || h == 0 {
        return 1.0;
    }

    // Weights of the scales that fit, renormalised to sum to 1.
    let scales = num_scales(w, h);
    let used = &MS_SSIM_WEIGHTS[..scales];
    let total: f64 = used.iter().sum();
    let weights: Vec<f64> = used.iter().map(|wt| wt / total).collect();

    let sum: f64 = (0..3)
        .map(|c| {
            let x = Plane::from_channel(a, c);
            let y = Plane::from_channel(b, c);
            ms_ssim_plane(x, y, &weights)
        })
        .sum();
    sum / 3.0
}

/// Number of MS-SSIM scales (1..=5) that fit an image of `w x h` pixels:
/// each extra scale halves the short side (rounding up, as the padded
/// average pooling does) and the coarsest scale must keep it >= 11.
fn num_scales(w: usize, h: usize) -> usize {
    let mut side = w.min(h);
    let mut scales = 1;
    while scales < MS_SSIM_WEIGHTS.len() {
        let next = side.div_ceil(2);
        if next < WIN_SIZE {
            break;
        }
        side = next;
        scales += 1;
    }
    scales
}

/// One image channel as a dense row-major `f64` plane.
#[derive(Clone, Debug)]
struct Plane {
    w: usize,
    h: usize,
    data: Vec<f64>,
}

impl Plane {
    /// Extracts channel `c` (0 = R, 1 = G, 2 = B) with values in 0..=255.
    fn from_channel(img: &RgbImage, c: usize) -> Plane {
        let data = img.pixels().map(|p| f64::from(p.0[c])).collect();
        Plane {
            w: img.width() as usize,
            h: img.height() as usize,
            data,
        }
    }

    fn row(&self, y: usize) -> &[f64] {
        &self.data[y * self.w..(y + 1) * self.w]
    }

    /// Sample at signed coordinates, 0 outside the plane (zero padding).
    fn get_or_zero(&self, x: isize, y: isize) -> f64 {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            0.0
        } else {
            self.data[y as usize * self.w + x as usize]
        }
    }

    /// 2x2 average pooling with stride 2, matching
    /// `F.avg_pool2d(x, kernel_size=2, padding=[h % 2, w % 2])` (PyTorch
    /// default `count_include_pad=True`): an odd axis gets one zero sample
    /// of padding on each side, and the divisor is always 4.
    fn downsample(&self) -> Plane {
        let (pad_x, pad_y) = ((self.w % 2) as isize, (self.h % 2) as isize);
        let (w, h) = (self.w.div_ceil(2), self.h.div_ceil(2));
        let mut data = Vec::with_capacity(w * h);
        for oy in 0..h {
            let y0 = 2 * oy as isize - pad_y;
            for ox in 0..w {
                let x0 = 2 * ox as isize - pad_x;
                let sum = self.get_or_zero(x0, y0)
                    + self.get_or_zero(x0 + 1, y0)
                    + self.get_or_zero(x0, y0 + 1)
                    + self.get_or_zero(x0 + 1, y0 + 1);
                data.push(sum / 4.0);
            }
        }
        Plane { w, h, data }
    }
}

/// Normalised 1-D Gaussian window of `len` taps (sigma 1.5) centred in the
/// window. For `len == 11` this is exactly pytorch_msssim's window
/// (coordinates -5..=5).
fn gaussian_window(len: usize) -> Vec<f64> {
    let centre = (len as f64 - 1.0) / 2.0;
    let mut g: Vec<f64> = (0..len)
        .map(|i| {
            let d = i as f64 - centre;
            (-(d * d) / (2.0 * WIN_SIGMA * WIN_SIGMA)).exp()
        })
        .collect();
    let sum: f64 = g.iter().sum();
    g.iter_mut().for_each(|v| *v /= sum);
    g
}

/// Number of output samples computed together in the convolution kernels.
/// Accumulating a fixed-size block in registers (rather than re-reading and
/// re-writing the output once per tap) lets the compiler vectorise the loops.
const BLOCK: usize = 16;

/// "Valid" 1-D convolution over a set of equally long input lines:
/// `out[i] = sum_k win[k] * lines[k][offset(k) + i]`.
///
/// This single kernel serves both passes of the separable filter:
/// * horizontal: every `lines[k]` is the same row shifted by `k` samples;
/// * vertical: `lines[k]` is the `k`-th of `win.len()` consecutive rows.
///
/// Each output is summed in tap order whichever path computes it, so results
/// do not depend on the position within a block.
fn convolve_lines(lines: &[&[f64]], win: &[f64], out: &mut [f64]) {
    debug_assert_eq!(lines.len(), win.len());
    debug_assert!(lines.iter().all(|l| l.len() >= out.len()));
    let n = out.len();
    let full = n - n % BLOCK;
    for (start, chunk) in (0..full).step_by(BLOCK).zip(out.chunks_exact_mut(BLOCK)) {
        let mut acc = [0.0; BLOCK];
        for (line, &wk) in lines.iter().zip(win) {
            let src: &[f64; BLOCK] = line[start..start + BLOCK].try_into().unwrap();
            for (a, &v) in acc.iter_mut().zip(src) {
                *a += wk * v;
            }
        }
        chunk.copy_from_slice(&acc);
    }
    for (i, o) in out.iter_mut().enumerate().skip(full) {
        let mut acc = 0.0;
        for (line, &wk) in lines.iter().zip(win) {
            acc += wk * line[i];
        }
        *o = acc;
    }
}

/// Horizontal "valid" convolution of one row:
/// `out[x] = sum_k win[k] * row[x + k]`, `out.len() == row.len() - win.len() + 1`.
fn convolve_row(row: &[f64], win: &[f64], out: &mut [f64]) {
    let shifted: Vec<&[f64]> = (0..win.len()).map(|k| &row[k..]).collect();
    convolve_lines(&shifted, win, out);
}

/// Mean SSIM and mean contrast-structure term over the valid SSIM map.
struct SsimStats {
    ssim: f64,
    cs: f64,
}

/// Computes the local statistics `mu_x, mu_y, E[x^2], E[y^2], E[xy]` with the
/// separable Gaussian window ("valid" filtering, no padding) and averages the
/// SSIM and CS maps over all valid positions.
///
/// The image is streamed row by row: each input row is filtered horizontally
/// into a ring buffer holding the last `win_y.len()` filtered rows of each of
/// the five signals, and as soon as the ring is full one output row is
/// filtered vertically and fed into the SSIM formula. Nothing larger than a
/// few rows is ever stored.
fn ssim_stats(x: &Plane, y: &Plane) -> SsimStats {
    debug_assert_eq!((x.w, x.h), (y.w, y.h));
    let (w, h) = (x.w, x.h);
    // Window clipped to the image size (only matters below 11 px).
    let win_x = gaussian_window(WIN_SIZE.min(w));
    let win_y = gaussian_window(WIN_SIZE.min(h));
    let (taps_x, taps_y) = (win_x.len(), win_y.len());
    let out_w = w - taps_x + 1;

    // The five signals: x, y, x*x, y*y, x*y.
    const SIGNALS: usize = 5;
    // ring[s][slot]: horizontally filtered row of signal s, input row
    // `slot (mod taps_y)`.
    let mut ring: [Vec<Vec<f64>>; SIGNALS] =
        std::array::from_fn(|_| vec![vec![0.0; out_w]; taps_y]);
    let mut products: [Vec<f64>; 3] = std::array::from_fn(|_| vec![0.0; w]);
    let mut filtered: [Vec<f64>; SIGNALS] = std::array::from_fn(|_| vec![0.0; out_w]);
    let (mut ssim_sum, mut cs_sum) = (0.0, 0.0);

    for r in 0..h {
        // Horizontal pass of input row r into ring slot r % taps_y.
        let (xr, yr) = (x.row(r), y.row(r));
        for (i, (&a, &b)) in xr.iter().zip(yr).enumerate() {
            products[0][i] = a * a;
            products[1][i] = b * b;
            products[2][i] = a * b;
        }
        let inputs: [&[f64]; SIGNALS] = [xr, yr, &products[0], &products[1], &products[2]];
        let slot = r % taps_y;
        for (rows, input) in ring.iter_mut().zip(inputs) {
            convolve_row(input, &win_x, &mut rows[slot]);
        }

        // Once input rows r+1-taps_y ..= r are filtered, output row
        // oy = r + 1 - taps_y can be computed.
        let Some(oy) = (r + 1).checked_sub(taps_y) else {
            continue;
        };
        for (out, rows) in filtered.iter_mut().zip(&ring) {
            let lines: Vec<&[f64]> = (0..taps_y)
                .map(|k| rows[(oy + k) % taps_y].as_slice())
                .collect();
            convolve_lines(&lines, &win_y, out);
        }

        let [mu_x, mu_y, exx, eyy, exy] = &filtered;
        for i in 0..out_w {
            let (mx, my) = (mu_x[i], mu_y[i]);
            let sigma_x2 = exx[i] - mx * mx;
            let sigma_y2 = eyy[i] - my * my;
            let sigma_xy = exy[i] - mx * my;
            let cs = (2.0 * sigma_xy + C2) / (sigma_x2 + sigma_y2 + C2);
            let luminance = (2.0 * mx * my + C1) / (mx * mx + my * my + C1);
            cs_sum += cs;
            ssim_sum += luminance * cs;
        }
    }
    let n = (out_w * (h - taps_y + 1)) as f64;
    SsimStats {
        ssim: ssim_sum / n,
        cs: cs_sum / n,
    }
}

/// MS-SSIM of one channel with the given (already renormalised) weights,
/// finest scale first.
fn ms_ssim_plane(mut x: Plane, mut y: Plane, weights: &[f64]) -> f64 {
    let mut value = 1.0;
    for (scale, &weight) in weights.iter().enumerate() {
        let stats = ssim_stats(&x, &y);
        let coarsest = scale + 1 == weights.len();
        // CS at the finer scales, full SSIM at the coarsest one; relu as in
        // pytorch_msssim so that a fractional power of a negative value can
        // never produce NaN.
        let term = if coarsest { stats.ssim } else { stats.cs };
        value *= term.max(0.0).powf(weight);
        if !coarsest {
            x = x.downsample();
            y = y.downsample();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use image::Rgb;

    /// Approximately standard normal (Irwin-Hall sum of 12 uniforms).
    fn gaussish(rng: &mut SplitMix64) -> f64 {
        (0..12).map(|_| f64::from(rng.unit())).sum::<f64>() - 6.0
    }

    /// Smooth, textured synthetic test image.
    fn synthetic(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (f64::from(x), f64::from(y));
            let r = 128.0 + 60.0 * (fx / 9.0).sin() + 40.0 * (fy / 23.0).cos();
            let g = 40.0 + 170.0 * fx / f64::from(w.max(1));
            let b = 128.0 + 90.0 * ((fx + fy) / 13.0).sin() * (fy / 31.0).cos();
            Rgb([r as u8, g as u8, b as u8])
        })
    }

    /// Adds `amplitude * N(0, 1)`-ish noise (same noise field for every
    /// amplitude, thanks to the fixed seed), rounding and clamping to 0..=255.
    fn add_noise(img: &RgbImage, amplitude: f64, seed: u64) -> RgbImage {
        let mut rng = SplitMix64(seed);
        let mut out = img.clone();
        for p in out.pixels_mut() {
            for c in p.0.iter_mut() {
                let v = f64::from(*c) + amplitude * gaussish(&mut rng);
                *c = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    #[test]
    fn seam_excess_counts_the_band_along_patch_borders() {
        // 64 × 64 in 32-px squares: errors of 4 on the band around x = 31/32 and y = 31/32,
        // of 1 elsewhere.
        let original = RgbImage::new(64, 64);
        let band = |i: u32| i == 31 || i == 32;
        let picture = RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([if band(x) || band(y) { 4 } else { 1 }; 3])
        });
        let db = seam_excess_db(&original, &picture, 32);
        assert!((db - 10.0 * 16f64.log10()).abs() < 1e-9, "{db}");
        // The image's own edges are no seam.
        let flat = RgbImage::from_pixel(64, 64, image::Rgb([3, 3, 3]));
        assert!(seam_excess_db(&original, &flat, 32).abs() < 1e-12);
    }

    #[test]
    fn psnr_identical_is_infinite() {
        let img = synthetic(64, 48);
        assert_eq!(psnr(&img, &img), f64::INFINITY);
    }

    #[test]
    fn psnr_off_by_one_everywhere() {
        // Keep every sample <= 254 so +1 never saturates: MSE is exactly 1.
        let a = RgbImage::from_fn(37, 21, |x, y| {
            Rgb([
                (x * 7 % 255) as u8,
                (y * 11 % 255) as u8,
                ((x + y) % 255) as u8,
            ])
        });
        let mut b = a.clone();
        b.pixels_mut()
            .for_each(|p| p.0.iter_mut().for_each(|c| *c += 1));
        let expected = 20.0 * 255f64.log10();
        assert!((expected - 48.1308).abs() < 1e-4);
        assert!((psnr(&a, &b) - expected).abs() < 1e-12);
        assert!((psnr(&b, &a) - expected).abs() < 1e-12);
    }

    #[test]
    fn psnr_known_mse() {
        // 10x10 image, 300 samples; 30 samples differ by 10, 60 by 3, rest 0.
        // SSE = 30*100 + 60*9 = 3540, MSE = 11.8.
        let a = RgbImage::from_pixel(10, 10, Rgb([100, 100, 100]));
        let mut b = a.clone();
        for (i, p) in b.pixels_mut().enumerate() {
            if i < 10 {
                p.0 = [110, 90, 110]; // 3 samples off by 10
            } else if i < 30 {
                p.0 = [103, 97, 100]; // 2 samples off by 3
            } else if i < 50 {
                p.0 = [100, 100, 103]; // 1 sample off by 3
            }
        }
        let expected = 10.0 * (255.0 * 255.0 / 11.8f64).log10();
        assert!((psnr(&a, &b) - expected).abs() < 1e-12, "{}", psnr(&a, &b));
    }

    #[test]
    #[should_panic(expected = "same dimensions")]
    fn psnr_size_mismatch_panics() {
        psnr(&synthetic(10, 10), &synthetic(10, 11));
    }

    #[test]
    #[should_panic(expected = "same dimensions")]
    fn ms_ssim_size_mismatch_panics() {
        ms_ssim(&synthetic(200, 200), &synthetic(201, 200));
    }

    #[test]
    fn ms_ssim_identical_is_one() {
        for (w, h) in [(256, 256), (203, 171), (20, 20), (7, 3), (1, 1)] {
            let img = synthetic(w, h);
            let v = ms_ssim(&img, &img);
            assert!((v - 1.0).abs() <= 1e-12, "{w}x{h}: {v}");
        }
    }

    #[test]
    fn ms_ssim_decreases_with_noise() {
        let img = synthetic(256, 256);
        let mut previous = ms_ssim(&img, &img);
        for amplitude in [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0] {
            let noisy = add_noise(&img, amplitude, 12345);
            let v = ms_ssim(&img, &noisy);
            assert!(
                v.is_finite() && (0.0..=1.0).contains(&v),
                "{amplitude}: {v}"
            );
            assert!(v < previous, "amplitude {amplitude}: {v} !< {previous}");
            previous = v;
        }
        // Heavy noise must clearly hurt.
        assert!(previous < 0.8, "{previous}");
    }

    #[test]
    fn ms_ssim_small_images() {
        // 20x20: a single scale fits; 5x3 and 1x1: clipped window.
        for (w, h) in [(20, 20), (5, 3), (1, 1), (11, 200)] {
            let img = synthetic(w, h);
            let noisy = add_noise(&img, 10.0, 7);
            let v = ms_ssim(&img, &noisy);
            assert!(v > 0.0 && v <= 1.0, "{w}x{h}: {v}");
        }
    }

    #[test]
    fn ms_ssim_is_symmetric() {
        for (w, h) in [(256, 192), (161, 165), (20, 20)] {
            let a = synthetic(w, h);
            let b = add_noise(&a, 12.0, 99);
            let (ab, ba) = (ms_ssim(&a, &b), ms_ssim(&b, &a));
            assert!((ab - ba).abs() < 1e-12, "{w}x{h}: {ab} vs {ba}");
        }
    }

    /// Deterministic test pattern shared with the reference script below.
    fn reference_pixel(x: u32, y: u32, noisy: bool) -> u8 {
        let base = i64::from((x * x * 7 + y * 13 + x * y) % 256);
        let noise = if noisy {
            let hash =
                (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)).wrapping_mul(2246822519);
            i64::from(hash >> 27) - 16
        } else {
            0
        };
        (base + noise).clamp(0, 255) as u8
    }

    /// Values computed by an independent pure-Python transcription of
    /// `pytorch_msssim.ms_ssim` (direct 2-D convolution with the outer-product
    /// window, explicit zero padding for odd sizes, float64), extended with
    /// the same small-image rules as this module. 165x171 uses all 5 scales
    /// with odd sizes at several of them; 40x23 uses 2 scales; 9x30 clips
    /// the window horizontally.
    #[test]
    fn ms_ssim_matches_reference_implementation() {
        for (w, h, expected) in [
            (165, 171, 0.990596145615353),
            (40, 23, 0.992934654137042),
            (9, 30, 0.992499310396417),
        ] {
            let a = RgbImage::from_fn(w, h, |x, y| Rgb([reference_pixel(x, y, false); 3]));
            let b = RgbImage::from_fn(w, h, |x, y| Rgb([reference_pixel(x, y, true); 3]));
            let v = ms_ssim(&a, &b);
            assert!((v - expected).abs() < 1e-12, "{w}x{h}: {v} vs {expected}");
        }
    }

    #[test]
    fn scale_count() {
        assert_eq!(num_scales(768, 512), 5);
        assert_eq!(num_scales(161, 1000), 5); // 161 -> 81 -> 41 -> 21 -> 11
        assert_eq!(num_scales(160, 1000), 4); // 160 -> 80 -> 40 -> 20 (-> 10)
        assert_eq!(num_scales(21, 21), 2);
        assert_eq!(num_scales(20, 20), 1);
        assert_eq!(num_scales(3, 5), 1);
    }

    #[test]
    fn downsample_matches_padded_avg_pool() {
        // 3x2 plane: width odd -> one zero column of padding on each side.
        let p = Plane {
            w: 3,
            h: 2,
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        let d = p.downsample();
        assert_eq!((d.w, d.h), (2, 1));
        // [0,1;0,4] / 4 and [2,3;5,6] / 4
        assert_eq!(d.data, vec![1.25, 4.0]);
    }

    #[test]
    fn gaussian_window_is_normalised_and_symmetric() {
        let g = gaussian_window(11);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        for i in 0..11 {
            assert!((g[i] - g[10 - i]).abs() < 1e-15);
        }
        assert!(g[5] > g[4] && g[4] > g[0]);
    }
}
