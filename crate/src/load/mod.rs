//! Load stage: shards → GGUF header → tensors, one at a time.

pub mod gguf;
pub mod shards;
pub mod write;

#[cfg(test)]
mod malformed_tests;
