//! Stage 2: the SimCLR projection, NT-Xent on two views of the same image region, on the
//! frozen encoder's unquantized μ.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::model::LatentSimClrProjection;

/// Temperature of the NT-Xent loss.
pub const TEMPERATURE: f64 = 0.2;

/// NT-Xent (normalized temperature-scaled cross entropy) of unit embeddings `a` and `b`
/// (`[n, d]`, row `i` of each a view of the same region): each of the 2n views must pick its
/// partner among the other 2n − 1.
pub fn nt_xent(a: Tensor<2>, b: Tensor<2>, temperature: f64) -> Tensor<1> {
    let device = a.device();
    let n = a.dims()[0];
    let z = Tensor::cat(vec![a, b], 0);
    let sim = z.clone().matmul(z.transpose()) / temperature;
    let self_mask = Tensor::<2, Bool>::diag_mask([2 * n, 2 * n], 0, &device).bool_not();
    let logp = log_softmax(sim.mask_fill(self_mask, -1e9), 1);
    let partners: Vec<f32> = (0..2 * n)
        .flat_map(|i| (0..2 * n).map(move |j| ((i + n) % (2 * n) == j) as u8 as f32))
        .collect();
    let partners = Tensor::<2>::from_data(TensorData::new(partners, [2 * n, 2 * n]), &device);
    (logp * partners).sum().neg() / (2 * n) as f64
}

/// Loss of a projection on two batches of latents μ (`[n, 64, 4, 4]` each).
pub fn loss(projection: &LatentSimClrProjection, mu_a: Tensor<4>, mu_b: Tensor<4>) -> Tensor<1> {
    nt_xent(
        projection.forward(mu_a),
        projection.forward(mu_b),
        TEMPERATURE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit_rows(rows: &[[f32; 2]], device: &Device) -> Tensor<2> {
        let data: Vec<f32> = rows
            .iter()
            .flat_map(|r| {
                let n = (r[0] * r[0] + r[1] * r[1]).sqrt();
                [r[0] / n, r[1] / n]
            })
            .collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), 2]), device)
    }

    fn value(t: Tensor<1>) -> f32 {
        t.into_data().try_to_vec::<f32>().unwrap()[0]
    }

    #[test]
    fn matching_views_cost_less_than_mismatched_ones() {
        let d = Device::flex();
        let a = unit_rows(&[[1.0, 0.0], [0.0, 1.0]], &d);
        let good = value(nt_xent(a.clone(), a.clone(), 0.2));
        let bad = value(nt_xent(a, unit_rows(&[[0.0, 1.0], [1.0, 0.0]], &d), 0.2));
        assert!(good < bad, "{good} vs {bad}");
        // Two perfectly matched orthogonal pairs: each view's partner has logit 5, the other
        // two views 0: loss = ln(e⁵ + 2) − 5.
        let expected = ((5f32).exp() + 2.0).ln() - 5.0;
        assert!((good - expected).abs() < 1e-4, "{good} vs {expected}");
    }
}
