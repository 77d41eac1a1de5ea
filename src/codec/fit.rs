//! Fitting helpers shared by the seeded initialisation and training: spherical k-means on
//! SimCLR embeddings, nearest-centroid assignment, and synthetic patches.

use crate::model::{PATCH, PATCH_LEN, PROJECTION_DIM};
use crate::rng::SplitMix64;

/// Index of the centroid with the largest dot product for each unit embedding
/// (`n × PROJECTION_DIM` against `k × PROJECTION_DIM`).
pub fn nearest(embeddings: &[f32], centroids: &[f32]) -> Vec<u8> {
    embeddings
        .chunks_exact(PROJECTION_DIM)
        .map(|e| {
            centroids
                .chunks_exact(PROJECTION_DIM)
                .map(|c| dot(e, c))
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, s)| if s > b.1 { (i, s) } else { b },
                )
                .0 as u8
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Spherical k-means: `k` unit centroids of unit `embeddings`, seeded by farthest-point
/// selection from the first embedding (deterministic), `iterations` Lloyd steps.
/// An empty cluster keeps its centroid.
pub fn spherical_kmeans(embeddings: &[f32], k: usize, iterations: usize) -> Vec<f32> {
    let rows: Vec<&[f32]> = embeddings.chunks_exact(PROJECTION_DIM).collect();
    assert!(!rows.is_empty(), "k-means needs data");
    let mut centroids: Vec<f32> = rows[0].to_vec();
    let mut best_sim: Vec<f32> = rows.iter().map(|r| dot(r, rows[0])).collect();
    while centroids.len() < k * PROJECTION_DIM {
        let far = (0..rows.len()).fold(0, |b, i| if best_sim[i] < best_sim[b] { i } else { b });
        centroids.extend_from_slice(rows[far]);
        for (s, r) in best_sim.iter_mut().zip(&rows) {
            *s = s.max(dot(r, rows[far]));
        }
    }
    for _ in 0..iterations {
        let ids = nearest(embeddings, &centroids);
        let mut sums = vec![0.0f32; k * PROJECTION_DIM];
        for (r, &id) in rows.iter().zip(&ids) {
            let s = &mut sums[id as usize * PROJECTION_DIM..][..PROJECTION_DIM];
            s.iter_mut().zip(*r).for_each(|(a, b)| *a += b);
        }
        for (c, s) in centroids
            .chunks_exact_mut(PROJECTION_DIM)
            .zip(sums.chunks_exact(PROJECTION_DIM))
        {
            let norm = dot(s, s).sqrt();
            if norm > 0.0 {
                c.iter_mut().zip(s).for_each(|(c, s)| *c = s / norm);
            }
        }
    }
    centroids
}

/// `n` synthetic 32×32 patches (`n × [3, 32, 32]`, planar in [0, 1]): flat colours, gradients,
/// edges, stripes and noise, in turn. Deterministic (integer PRNG, basic arithmetic only).
pub fn synthetic_patches(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n * PATCH_LEN);
    for i in 0..n {
        let a: [f32; 3] = [rng.unit(), rng.unit(), rng.unit()];
        let b: [f32; 3] = [rng.unit(), rng.unit(), rng.unit()];
        let (dx, dy) = (rng.unit() * 2.0 - 1.0, rng.unit() * 2.0 - 1.0);
        let offset = rng.unit() * 32.0 - 16.0;
        let period = 2.0 + rng.unit() * 14.0;
        let amp = rng.unit() * 0.2;
        let mut patch = vec![0.0f32; PATCH_LEN];
        for y in 0..PATCH {
            for x in 0..PATCH {
                let u = dx * (x as f32 - 15.5) + dy * (y as f32 - 15.5);
                let t = match i % 5 {
                    0 => 0.0,
                    1 => (u / 45.0 + 0.5).clamp(0.0, 1.0),
                    2 => (u > offset) as u8 as f32,
                    3 => {
                        let phase = (u / period).rem_euclid(1.0);
                        1.0 - (2.0 * phase - 1.0).abs()
                    }
                    _ => rng.unit(),
                };
                let noise = (rng.unit() - 0.5) * amp;
                for c in 0..3 {
                    let v = a[c] + (b[c] - a[c]) * t + noise;
                    patch[(c * PATCH + y) * PATCH + x] = v.clamp(0.0, 1.0);
                }
            }
        }
        out.extend(patch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = dot(v, v).sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn kmeans_separates_two_clusters() {
        let mut rng = SplitMix64(1);
        let mut data = Vec::new();
        for i in 0..200 {
            let mut v = vec![0.0f32; PROJECTION_DIM];
            v[if i % 2 == 0 { 0 } else { 1 }] = 1.0;
            v.iter_mut().for_each(|x| *x += (rng.unit() - 0.5) * 0.1);
            data.extend(unit(&v));
        }
        let c = spherical_kmeans(&data, 2, 10);
        let ids = nearest(&data, &c);
        for i in (0..200).step_by(2) {
            assert_eq!(ids[i], ids[0]);
            assert_ne!(ids[i + 1], ids[0]);
        }
    }

    #[test]
    fn synthetic_patches_are_deterministic_and_in_range() {
        let a = synthetic_patches(10, 3);
        assert_eq!(a, synthetic_patches(10, 3));
        assert_eq!(a.len(), 10 * 3 * 32 * 32);
        assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
