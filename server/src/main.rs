//! `tutor-gateway [--config FILE] [--listen ADDR]` — serve.
//! `tutor-gateway token --client ID [--ttl SECONDS]` — print a signed client token (the HMAC
//! secret from the variable named by `auth.secret_env`, default `TUTOR_GATEWAY_SECRET`).

use std::path::PathBuf;
use std::process::ExitCode;

use tutor_gateway::config::Config;

fn usage() -> ExitCode {
    eprintln!("usage:\n  tutor-gateway [--config FILE] [--listen ADDR] [--quiet]\n  tutor-gateway token --client ID [--ttl SECONDS] [--config FILE]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config: Option<PathBuf> = None;
    let mut listen: Option<String> = None;
    let mut client: Option<String> = None;
    let mut ttl: u64 = 3600;
    let mut quiet = false;
    let token_cmd = args.first().map(String::as_str) == Some("token");
    let mut it = args.iter().skip(usize::from(token_cmd));
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => config = it.next().map(PathBuf::from),
            "--listen" => listen = it.next().cloned(),
            "--client" => client = it.next().cloned(),
            "--ttl" => match it.next().and_then(|v| v.parse().ok()) {
                Some(v) => ttl = v,
                None => return usage(),
            },
            "--quiet" => quiet = true,
            "-h" | "--help" => return usage(),
            _ => return usage(),
        }
    }
    let mut cfg = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tutor-gateway: {e}");
            return ExitCode::FAILURE;
        }
    };
    if token_cmd {
        let var = cfg.auth.secret_env.clone().unwrap_or_else(|| "TUTOR_GATEWAY_SECRET".into());
        let Some(secret) = std::env::var(&var).ok().filter(|s| !s.is_empty()) else {
            eprintln!("tutor-gateway: set {var} to the HMAC secret");
            return ExitCode::FAILURE;
        };
        let Some(client) = client else { return usage() };
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
