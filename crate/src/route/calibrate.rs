//! Calibration: fit the router's logistic score on labelled questions (local answer right or
//! wrong), cross-validate it, and pick thresholds for a target local share or a target quality.

use super::metrics::escalation_curve;
use super::policy::{LinearScore, FEATURES};
use super::RouteError;

/// Fit σ(b + w·z) to `labels` by Newton's method on the L2-regularized log-likelihood, over the
/// named features (columns of `rows` are in [`FEATURES`] order; missing values take the mean).
pub fn fit_logistic(rows: &[[Option<f32>; 17]], labels: &[bool], names: &[&str], l2: f64) -> Result<LinearScore, RouteError> {
    let n = rows.len().min(labels.len());
    if n < 4 {
        return Err(RouteError::Calibration(format!("{n} labelled questions are too few to fit a score")));
    }
    let cols: Vec<usize> = names
        .iter()
        .map(|f| FEATURES.iter().position(|g| g == f).ok_or_else(|| RouteError::Calibration(format!("unknown feature {f:?}"))))
        .collect::<Result<_, _>>()?;
    let d = cols.len();
    let (mut mean, mut scale) = (vec![0.0f32; d], vec![1.0f32; d]);
    for (k, &c) in cols.iter().enumerate() {
        let vals: Vec<f64> = rows[..n].iter().filter_map(|r| r[c]).filter(|v| v.is_finite()).map(|v| v as f64).collect();
        if vals.is_empty() {
            continue;
        }
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64;
        mean[k] = m as f32;
        scale[k] = if var.sqrt() > 1e-6 { var.sqrt() as f32 } else { 1.0 };
    }
    // Design matrix with the intercept in column 0.
    let x: Vec<Vec<f64>> = rows[..n]
        .iter()
        .map(|r| {
            let mut v = vec![1.0];
            for (k, &c) in cols.iter().enumerate() {
                v.push(r[c].filter(|v| v.is_finite()).map_or(0.0, |v| ((v - mean[k]) / scale[k]) as f64));
            }
            v
        })
        .collect();
    let y: Vec<f64> = labels[..n].iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();
    let mut w = vec![0.0f64; d + 1];
    for _ in 0..50 {
        let mut grad = vec![0.0; d + 1];
        let mut hess = vec![vec![0.0; d + 1]; d + 1];
        for (xi, &yi) in x.iter().zip(&y) {
            let z: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            for a in 0..=d {
                grad[a] += (p - yi) * xi[a];
                for b in 0..=d {
                    hess[a][b] += p * (1.0 - p) * xi[a] * xi[b];
                }
            }
        }
        for a in 1..=d {
            grad[a] += l2 * w[a];
            hess[a][a] += l2;
        }
        hess[0][0] += 1e-9;
        let step = solve(hess, grad).ok_or_else(|| RouteError::Calibration("singular Hessian".into()))?;
        let mut delta = 0.0f64;
        for (wi, s) in w.iter_mut().zip(&step) {
            *wi -= s;
            delta = delta.max(s.abs());
        }
        if delta < 1e-8 {
            break;
        }
    }
    Ok(LinearScore {
        features: names.iter().map(|s| s.to_string()).collect(),
        mean,
        scale,
        weights: w[1..].iter().map(|&v| v as f32).collect(),
        bias: w[0] as f32,
    })
}

/// Gaussian elimination with partial pivoting; None if singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            for k in c..n {
                a[r][k] -= f * a[c][k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// Out-of-fold scores: question i is scored by a model fitted without its fold. Folds are
/// i mod k after a seeded shuffle, so results are reproducible.
pub fn cross_validated_scores(rows: &[[Option<f32>; 17]], labels: &[bool], names: &[&str], folds: usize, seed: u64) -> Result<Vec<f32>, RouteError> {
    let n = rows.len().min(labels.len());
    let folds = folds.clamp(2, n.max(2));
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed;
    for i in (1..n).rev() {
        s = splitmix64(s);
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let mut fold_of = vec![0usize; n];
    for (k, &i) in order.iter().enumerate() {
        fold_of[i] = k % folds;
    }
    let mut out = vec![0.0f32; n];
    for f in 0..folds {
        let train: Vec<usize> = (0..n).filter(|&i| fold_of[i] != f).collect();
        let tr_rows: Vec<_> = train.iter().map(|&i| rows[i]).collect();
        let tr_labels: Vec<_> = train.iter().map(|&i| labels[i]).collect();
        let model = fit_logistic(&tr_rows, &tr_labels, names, 1.0)?;
        for i in (0..n).filter(|&i| fold_of[i] == f) {
            out[i] = model.score(&rows[i]);
        }
    }
    Ok(out)
}

pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Threshold that keeps (about) `local_share` of these scores local: questions scoring at or
/// above it stay local.
pub fn threshold_for_share(scores: &[f32], local_share: f64) -> f32 {
    let mut s: Vec<f32> = scores.iter().cloned().filter(|v| v.is_finite()).collect();
    if s.is_empty() {
        return 0.5;
    }
    s.sort_by(|a, b| b.total_cmp(a));
    let keep = ((local_share.clamp(0.0, 1.0) * s.len() as f64).round() as usize).min(s.len());
    if keep == 0 {
        // Above every score: all escalate.
        return (s[0] + 1e-6).min(1.0);
    }
    s[keep - 1]
}

/// The lowest threshold (most questions local) at which the system's expected accuracy is
/// within `max_loss` of all-server, with the server right at rate `server_accuracy`.
pub fn threshold_for_quality(scores: &[f32], correct: &[bool], server_accuracy: f64, max_loss: f64) -> f32 {
    let curve = escalation_curve(scores, correct, server_accuracy);
    let mut sorted: Vec<f32> = scores.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    // Point k escalates the k lowest scores: threshold = the (k+1)-th lowest score.
    for (k, p) in curve.iter().enumerate() {
        if p.accuracy >= server_accuracy - max_loss - 1e-12 {
            return if k < sorted.len() { sorted[k] } else { (sorted.last().copied().unwrap_or(0.5) + 1e-6).min(1.0) };
        }
    }
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: f32) -> [Option<f32>; 17] {
        let mut r = [None; 17];
        r[FEATURES.iter().position(|f| *f == "prompt_mean_nll").unwrap()] = Some(v);
        r
    }

    #[test]
    fn logistic_learns_the_sign_and_cross_validates() {
        // Low prompt NLL → correct, with some noise.
        let xs: Vec<f32> = (0..200).map(|i| (i % 20) as f32 * 0.5).collect();
        let labels: Vec<bool> = xs.iter().enumerate().map(|(i, &x)| if i % 7 == 0 { x >= 5.0 } else { x < 5.0 }).collect();
        let rows: Vec<_> = xs.iter().map(|&x| row(x)).collect();
        let m = fit_logistic(&rows, &labels, &["prompt_mean_nll"], 1.0).unwrap();
        assert!(m.weights[0] < 0.0, "{m:?}");
        assert!(m.score(&row(1.0)) > 0.7 && m.score(&row(9.0)) < 0.3);
        let cv = cross_validated_scores(&rows, &labels, &["prompt_mean_nll"], 5, 1).unwrap();
        let auc = super::super::metrics::auroc(&cv, &labels).unwrap();
        assert!(auc > 0.8, "{auc}");
        assert!(fit_logistic(&rows[..2], &labels[..2], &["prompt_mean_nll"], 1.0).is_err());
        assert!(fit_logistic(&rows, &labels, &["nope"], 1.0).is_err());
    }

    #[test]
    fn thresholds() {
        let scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
        assert_eq!(threshold_for_share(&scores, 0.3), 0.8);
        assert!(threshold_for_share(&scores, 0.0) > 1.0 - 1e-5);
        assert_eq!(threshold_for_share(&scores, 1.0), 0.1);
        // Local answers right exactly for the top half: with a perfect server and no loss
        // allowed, the bottom half escalates.
        let correct = [false, false, false, false, false, true, true, true, true, true];
        assert_eq!(threshold_for_quality(&scores, &correct, 1.0, 0.0), 0.6);
        assert_eq!(threshold_for_quality(&scores, &correct, 0.5, 0.0), 0.1);
    }
}
