//! The native integration tests, one binary: every test binary is a separate link of the whole
//! dependency graph, which on CI's 2 cores cost minutes apiece. Each module is one suite; run
//! one with `cargo test --release --test native smollm2::` (a name filter).

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod matmul_batch;
mod real_model;
mod route_real;
mod smollm2;
mod templates;
mod tiny_models;
