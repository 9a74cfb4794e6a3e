//! The GPU tests, one binary with its own harness (libtest-mimic): the WebGPU kernels
//! (`kernels`), the backend op by op on the real models (`ops`) and whole forward passes
//! (`forward`), each against the CPU backend, on whatever adapter wgpu finds (Mesa's llvmpipe
//! where there is no GPU).
//!
//! Without an adapter every test is reported as ignored, so the summary line says how many did
//! not run ("36 ignored"); with `TUTOR_REQUIRE_GPU=1` (set by `./build.sh test` and CI) a missing
//! adapter fails every test instead, so a broken Vulkan loader cannot turn this half green.

#[path = "../common/mod.rs"]
mod common;

mod forward;
mod kernels;
mod ops;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};
use tutor_runtime::forward::gpu::{GpuContext, GpuError};

static CONTEXT: OnceLock<Arc<GpuContext>> = OnceLock::new();

/// The binary's one GPU context, shared by every test (`main` made it before any test ran).
pub fn context() -> &'static GpuContext {
    shared_context_ref()
}

/// The same context, for the APIs that keep an `Arc`.
pub fn shared_context() -> Arc<GpuContext> {
    Arc::clone(shared_context_ref())
}

fn shared_context_ref() -> &'static Arc<GpuContext> {
    CONTEXT.get().expect("no GPU context: this test needs a GPU adapter (it was reported as ignored)")
}

/// What `main` found: an adapter, none (a skip, or a failure when one is required), or one
/// that exists but failed (always a failure).
enum Adapter {
    Ready,
    Missing { why: String, required: bool },
    Broken(String),
}

fn probe() -> Adapter {
    match GpuContext::new() {
        Ok(c) => {
            eprintln!("GPU adapter: {} (max storage binding {} bytes)", c.adapter_info, c.max_storage_binding());
            // `main` calls this once, so the cell is empty.
            let _ = CONTEXT.set(Arc::new(c));
            Adapter::Ready
        }
        Err(GpuError::NoAdapter(why)) => Adapter::Missing { why, required: std::env::var("TUTOR_REQUIRE_GPU").is_ok_and(|v| v == "1") },
        Err(e) => Adapter::Broken(format!("a GPU adapter exists but the device failed: {e}")),
    }
}

/// Runs a test function, turning its panic (an assertion) into the trial's failure message.
fn run(test: fn()) -> Result<(), Failed> {
    catch_unwind(AssertUnwindSafe(test)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the test panicked".into());
        Failed::from(msg)
    })
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let tests: Vec<(&str, fn())> = forward::TESTS.iter().chain(kernels::TESTS).chain(ops::TESTS).copied().collect();
    let adapter = probe();
    match &adapter {
        Adapter::Missing { why, required: false } => eprintln!(
            "SKIPPED: no GPU adapter exists ({why}); the {} GPU tests are reported as ignored (TUTOR_REQUIRE_GPU=1 makes this a failure)",
            tests.len()
        ),
        Adapter::Missing { why, required: true } => eprintln!("no GPU adapter exists ({why}) and TUTOR_REQUIRE_GPU=1: every GPU test fails"),
        Adapter::Broken(why) => eprintln!("{why}"),
        Adapter::Ready => {}
    }
    let trials = tests
        .into_iter()
        .map(|(name, test)| match &adapter {
            Adapter::Ready => Trial::test(name, move || run(test)),
            Adapter::Missing { required: false, .. } => Trial::test(name, move || run(test)).with_ignored_flag(true),
            Adapter::Missing { why, required: true } => {
                let msg = format!("no GPU adapter ({why}) and TUTOR_REQUIRE_GPU=1");
                Trial::test(name, move || Err(Failed::from(msg)))
            }
            Adapter::Broken(why) => {
                let msg = why.clone();
                Trial::test(name, move || Err(Failed::from(msg)))
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
