//! Router quality measures over labelled questions: AUROC of the score for "local answer is
//! correct", and the accuracy of the local+server system as more questions are escalated.

use serde::{Deserialize, Serialize};

/// Area under the ROC curve of `scores` for predicting `labels` (Mann–Whitney U, ties count ½).
/// None when one class is empty.
pub fn auroc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    let pos = labels[..n].iter().filter(|&&l| l).count();
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks over ties, then U = Σ ranks(pos) − pos(pos+1)/2.
    let mut rank_sum_pos = 0.0f64;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] {
                rank_sum_pos += avg_rank;
            }
        }
        i = j + 1;
    }
    let u = rank_sum_pos - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// One point of the accuracy-vs-escalation curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Share of questions sent to the server.
    pub escalated: f64,
    /// Expected accuracy of the system: local answers as scored, escalated ones right with
    /// probability `server_accuracy`.
    pub accuracy: f64,
}

/// Escalate questions lowest score first; a point after each question (n+1 points, from
/// all-local to all-server). Ties in the score are broken by the given order.
pub fn escalation_curve(scores: &[f32], correct: &[bool], server_accuracy: f64) -> Vec<CurvePoint> {
    let n = scores.len().min(correct.len());
    if n == 0 {
        return vec![];
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut local_right = correct[..n].iter().filter(|&&c| c).count() as f64;
    let mut out = vec![CurvePoint { escalated: 0.0, accuracy: local_right / n as f64 }];
    for (k, &i) in idx.iter().enumerate() {
        if correct[i] {
            local_right -= 1.0;
        }
        let esc = (k + 1) as f64;
        out.push(CurvePoint { escalated: esc / n as f64, accuracy: (local_right + esc * server_accuracy) / n as f64 });
    }
    out
}

/// Expected curve of a router that escalates at random: a straight line.
pub fn random_curve(correct: &[bool], server_accuracy: f64, points: usize) -> Vec<CurvePoint> {
    let n = correct.len().max(1) as f64;
    let local = correct.iter().filter(|&&c| c).count() as f64 / n;
    (0..=points)
        .map(|k| {
            let s = k as f64 / points.max(1) as f64;
            CurvePoint { escalated: s, accuracy: (1.0 - s) * local + s * server_accuracy }
        })
        .collect()
}

/// Accuracy of the curve at escalation share `share` (the first point at or beyond it).
pub fn accuracy_at(curve: &[CurvePoint], share: f64) -> Option<f64> {
    curve.iter().find(|p| p.escalated >= share - 1e-12).map(|p| p.accuracy)
}

/// The largest share kept local (1 − escalated) whose accuracy is within `max_loss` of
/// all-server (`server_accuracy`).
pub fn local_share_within(curve: &[CurvePoint], server_accuracy: f64, max_loss: f64) -> f64 {
    curve
        .iter()
        .filter(|p| p.accuracy >= server_accuracy - max_loss - 1e-12)
        .map(|p| 1.0 - p.escalated)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_known_values() {
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), Some(1.0));
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(auroc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]), Some(0.5));
        // One inversion out of 2×2 pairs.
        assert_eq!(auroc(&[0.1, 0.6, 0.5, 0.9], &[false, false, true, true]), Some(0.75));
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn curves() {
        let scores = [0.9, 0.1, 0.8, 0.2];
        let correct = [true, false, true, false];
        let c = escalation_curve(&scores, &correct, 1.0);
        assert_eq!(c.len(), 5);
        assert_eq!(c[0].accuracy, 0.5);
        assert_eq!(c[2], CurvePoint { escalated: 0.5, accuracy: 1.0 });
        assert_eq!(c[4].accuracy, 1.0);
        assert_eq!(local_share_within(&c, 1.0, 0.0), 0.5);
        assert_eq!(local_share_within(&c, 1.0, 0.3), 0.75);
        assert_eq!(accuracy_at(&c, 0.25), Some(0.75));
        let r = random_curve(&correct, 1.0, 4);
        assert_eq!(r[2], CurvePoint { escalated: 0.5, accuracy: 0.75 });
        assert!(escalation_curve(&[], &[], 0.9).is_empty());
    }
}
