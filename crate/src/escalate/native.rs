//! Native transport over `ureq` (blocking; feature `escalate-native`): used by native callers
//! and by the tests against a real gateway over HTTP.

use std::io::{ErrorKind, Read};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::{TimeoutPhase, TransportError};
use super::transport::{BodyReader, HttpRequest, HttpResponse, Timeouts, Transport};

pub struct UreqTransport {
    agent: ureq::Agent,
    timeouts: Timeouts,
    rng: u64,
}

impl UreqTransport {
    pub fn new(timeouts: Timeouts) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(timeouts.connect))
            .timeout_recv_response(Some(timeouts.response))
            .timeout_per_read(Some(timeouts.idle.max(timeouts.response)))
            .http_status_as_error(false)
            .build()
            .into();
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
        Self { agent, timeouts, rng: seed }
    }
}

fn map_err(e: ureq::Error, before_response: bool) -> TransportError {
    match e {
        ureq::Error::Timeout(t) => TransportError::Timeout(match t {
            ureq::Timeout::Connect | ureq::Timeout::Resolve => TimeoutPhase::Connect,
            ureq::Timeout::RecvResponse | ureq::Timeout::SendRequest | ureq::Timeout::SendBody if before_response => TimeoutPhase::Response,
            _ if before_response => TimeoutPhase::Response,
            _ => TimeoutPhase::Idle,
        }),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportError::Connect(e.to_string()),
        ureq::Error::Io(io) => io_error(io, before_response),
        other if before_response => TransportError::Connect(other.to_string()),
        other => TransportError::Io(other.to_string()),
    }
}

fn io_error(io: std::io::Error, before_response: bool) -> TransportError {
    match io.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            TransportError::Timeout(if before_response { TimeoutPhase::Response } else { TimeoutPhase::Idle })
        }
        ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable | ErrorKind::NotFound => TransportError::Connect(io.to_string()),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof if before_response => {
            TransportError::Connect(io.to_string())
        }
        _ => TransportError::Io(io.to_string()),
    }
}

impl Transport for UreqTransport {
    fn post(&mut self, req: &HttpRequest<'_>) -> Result<HttpResponse, TransportError> {
        let mut r = self.agent.post(req.url);
        for (k, v) in &req.headers {
            r = r.header(*k, v.as_str());
        }
        let resp = r.send(req.body).map_err(|e| map_err(e, true))?;
        let status = resp.status().as_u16();
        let retry_after_s = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        let reader = resp.into_body().into_with_config().limit(u64::MAX).reader();
        Ok(HttpResponse { status, retry_after_s, body: Box::new(UreqBody(Box::new(reader))) })
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn random_unit(&mut self) -> f64 {
        // xorshift64*: jitter only, no need for more.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn timeouts(&self) -> Timeouts {
        self.timeouts
    }
}

struct UreqBody(Box<dyn Read + Send>);

impl BodyReader for UreqBody {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        self.0.read(buf).map_err(|e| {
            // ureq wraps its own errors (timeouts among them) in io::Error.
            if e.get_ref().is_some_and(|i| i.is::<ureq::Error>()) {
                match e.into_inner().and_then(|i| i.downcast::<ureq::Error>().ok()) {
                    Some(ue) => map_err(*ue, false),
                    None => TransportError::Io("read failed".into()),
                }
            } else {
                io_error(e, false)
            }
        })
    }
}
