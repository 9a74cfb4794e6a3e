//! `tutor-gateway [--config FILE] [--listen ADDR]` — serve.
//! `tutor-gateway token --client ID [--ttl SECONDS]` — print a signed client token (the HMAC
//! secret from the variable named by `auth.secret_env`, default `TUTOR_GATEWAY_SECRET`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tutor_gateway::config::Config;

#[derive(Parser)]
#[command(name = "tutor-gateway", version, about = "OpenAI-compatible gateway for tutor-runtime", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The TOML config (without one: the defaults); the environment applies on top (server/README.md).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address, overriding the config's.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// No request log.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Print a signed client token (HMAC secret from the variable named by `auth.secret_env`).
    Token {
        #[arg(long, value_name = "ID")]
        client: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (config, listen, quiet) = (cli.config, cli.listen, cli.quiet);
    let mut cfg = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tutor-gateway: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::Token { client, ttl }) = cli.command {
        let var = cfg.auth.secret_env.clone().unwrap_or_else(|| "TUTOR_GATEWAY_SECRET".into());
        let Some(secret) = std::env::var(&var).ok().filter(|s| !s.is_empty()) else {
            eprintln!("tutor-gateway: set {var} to the HMAC secret");
            return ExitCode::FAILURE;
        };
        return match tutor_gateway::auth::sign(secret.as_bytes(), &client, tutor_gateway::chat::now_s() + ttl) {
            Ok(t) => {
                println!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tutor-gateway: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(l) = listen {
        cfg.listen = l;
    }
    if cfg.embedded.threads > 0 && cfg.upstreams.is_empty() {
        // Read by candle and rayon when their pools start (before the first matmul).
        std::env::set_var("CANDLE_NUM_THREADS", cfg.embedded.threads.to_string());
        std::env::set_var("RAYON_NUM_THREADS", cfg.embedded.threads.to_string());
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tutor-gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let running = match tutor_gateway::start(cfg, quiet).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("tutor-gateway: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The exact line scripts and tests wait for.
        println!("tutor-gateway listening on {}", running.url());
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("[tutor-gateway] shutting down");
        running.stop().await;
        ExitCode::SUCCESS
    })
}
