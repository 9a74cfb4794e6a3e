//! Sample stage: pick the next token from logits (greedy, temperature, top-k, top-p,
//! repetition penalty) with a seeded RNG so runs are reproducible.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::forward::backend::TopLogits;

/// Most candidates a GPU step reads back for sampling (the GPU top-k kernel's limit).
pub const MAX_TOP_K: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 disables.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p; 1.0 disables.
    pub top_p: f32,
    /// >1 discourages tokens seen in the last `repetition_window` tokens; 1.0 disables.
    pub repetition_penalty: f32,
    pub repetition_window: usize,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { temperature: 0.0, top_k: 40, top_p: 0.95, repetition_penalty: 1.0, repetition_window: 64, seed: 0 }
    }
}

impl SamplingParams {
    pub fn greedy() -> Self {
        Self::default()
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: SmallRng,
}

/// Index of the largest value (first one on ties); 0 for an empty slice.
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Self {
        let rng = SmallRng::seed_from_u64(params.seed);
        Self { params, rng }
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Choose the next token. `logits` is modified (penalties applied). `history` is every token so far.
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repetition_penalty != 1.0 && p.repetition_penalty > 0.0 {
            let start = history.len().saturating_sub(p.repetition_window);
            let mut seen: Vec<u32> = history[start..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for &t in &seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 { *l / p.repetition_penalty } else { *l * p.repetition_penalty };
                }
            }
        }
        if p.temperature <= 0.0 || !p.temperature.is_finite() {
            return argmax(logits);
        }
        // Candidates sorted by logit, descending, cut to top-k.
        let mut cand: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l)).collect();
        let k = if p.top_k == 0 { cand.len() } else { p.top_k.min(cand.len()) };
        if k < cand.len() {
            cand.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            cand.truncate(k);
        }
        cand.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        self.pick(&cand)
    }

    /// How many of the best logits `sample_top` needs to choose exactly as `sample` would
    /// (`None`: it needs them all — no top-k cut, or a repetition penalty, which can lift a
    /// token from outside the best k).
    pub fn top_k_needed(&self) -> Option<usize> {
        let p = &self.params;
        if p.repetition_penalty != 1.0 && p.repetition_penalty > 0.0 {
            return None;
        }
        if p.temperature <= 0.0 || !p.temperature.is_finite() {
            return Some(1);
        }
        (p.top_k > 0 && p.top_k <= MAX_TOP_K).then_some(p.top_k)
    }

    /// Choose the next token from the best logits alone (`top.ids`, best first; at least
    /// [`Sampler::top_k_needed`] of them).
    pub fn sample_top(&mut self, top: &TopLogits) -> u32 {
        let p = &self.params;
        if p.temperature <= 0.0 || !p.temperature.is_finite() {
            return top.ids.first().copied().unwrap_or(0);
        }
        let k = if p.top_k == 0 { top.ids.len() } else { p.top_k.min(top.ids.len()) };
        let cand: Vec<(u32, f32)> = top.ids.iter().copied().zip(top.logits.iter().copied()).take(k).collect();
        self.pick(&cand)
    }

    /// Temperature, top-p and the draw over candidates sorted best first.
    fn pick(&mut self, cand: &[(u32, f32)]) -> u32 {
        let p = &self.params;
        let max = cand.first().map_or(0.0, |c| c.1);
        let mut probs: Vec<f32> = cand.iter().map(|c| ((c.1 - max) / p.temperature).exp()).collect();
        let sum: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|x| *x /= sum);
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, &pr) in probs.iter().enumerate() {
                acc += pr;
                if acc >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
            let s: f32 = probs.iter().sum();
            probs.iter_mut().for_each(|x| *x /= s);
        }
        let r: f32 = self.rng.random::<f32>();
        let mut acc = 0.0;
        for (i, &pr) in probs.iter().enumerate() {
            acc += pr;
            if r < acc {
                return cand[i].0;
            }
        }
        cand.get(probs.len().saturating_sub(1)).map_or(0, |c| c.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32) -> SamplingParams {
        SamplingParams { temperature, top_k, top_p, repetition_penalty: 1.0, repetition_window: 64, seed: 7 }
    }

    #[test]
    fn greedy_is_argmax() {
        let mut s = Sampler::new(SamplingParams::greedy());
        assert_eq!(s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[]), 1);
    }

    #[test]
    fn top_k_one_is_greedy_even_when_hot() {
        let mut s = Sampler::new(params(5.0, 1, 1.0));
        for _ in 0..50 {
            assert_eq!(s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[]), 1);
        }
    }

    #[test]
    fn top_p_drops_the_tail() {
        // p(1) ≈ 0.88 at T=1, so top_p = 0.5 keeps only token 1.
        let mut s = Sampler::new(params(1.0, 0, 0.5));
        for _ in 0..100 {
            assert_eq!(s.sample(&mut [0.0, 3.0, 0.0, 1.0], &[]), 1);
        }
    }

    #[test]
    fn same_seed_same_draws_and_temperature_spreads() {
        let logits = [1.0f32, 1.2, 0.8, 1.1, 0.9];
        let draw = |seed| {
            let mut s = Sampler::new(SamplingParams { seed, ..params(1.0, 0, 1.0) });
            (0..200).map(|_| s.sample(&mut logits.clone(), &[])).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        let d = draw(3);
        for t in 0..5u32 {
            assert!(d.contains(&t), "token {t} never drawn at T=1 from near-uniform logits");
        }
    }

    #[test]
    fn repetition_penalty_moves_greedy_choice() {
        let mut s = Sampler::new(SamplingParams { repetition_penalty: 2.0, ..SamplingParams::greedy() });
        // Token 1 leads but was just generated; 3.0/2 < 2.9.
        assert_eq!(s.sample(&mut [0.1, 3.0, -1.0, 2.9], &[1]), 3);
        // Negative logits get multiplied (pushed further down).
        let mut l = [-1.0f32, -0.5];
        assert_eq!(s.sample(&mut l, &[1]), 0);
    }
}
