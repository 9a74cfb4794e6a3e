//! The gateway's tests over real HTTP on 127.0.0.1, one binary (every test binary is a full
//! link, minutes apiece on CI's 2 cores): `gateway` (the embedded real model, a second gateway
//! in front of it, cache, metrics, CORS, static files), `faults` (failover, cut streams,
//! limits, auth), `escalate` (the runtime's escalation client against real gateways) and
//! `shared` (two gateway processes sharing a real `redis-server`). The
//! embedded backend is started once and shared. Run one suite with `--test http faults::`.

#[path = "../common/mod.rs"]
mod common;

mod escalate;
mod faults;
mod gateway;
mod shared;
