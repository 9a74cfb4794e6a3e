//! `top_k_merge`: stage 2 of the `top_k` op (see `top_k.rs`): merges the per-group candidates.

use super::Kernel;

pub const KERNEL: Kernel = Kernel { name: "top_k_merge", sources: &[include_str!("top_k_merge.wgsl")] };
