//! tutor-runtime: an AI tutor engine that runs a quantized small language model locally.
//!
//! The data path, top to bottom: [`load`] (shards → GGUF) → [`template`] (messages → prompt) → [`tokenize`] → [`forward`]
//! (the model, CPU backend) → [`sample`] → [`stream`] (pull-based generation); [`escalate`]
//! streams a gateway's answer into the same chunks.

pub mod load;
pub mod template;
pub mod tokenize;
pub mod forward;
pub mod sample;
pub mod stream;
pub mod route;
pub mod escalate;
pub mod testmodel;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
#[cfg(target_arch = "wasm32")]
pub mod wasm_route;
