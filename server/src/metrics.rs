//! Prometheus text-format metrics, kept by hand (a few counters, gauges and one histogram).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Time-to-first-byte histogram buckets (seconds).
const TTFB_BUCKETS: [f64; 12] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct Inner {
    /// (metric name, rendered labels) -> value.
    counters: BTreeMap<(&'static str, String), f64>,
    gauges: BTreeMap<(&'static str, String), f64>,
    ttfb_counts: [u64; TTFB_BUCKETS.len()],
    ttfb_sum: f64,
    ttfb_n: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

const HELP: &[(&str, &str, &str)] = &[
    ("tutor_gateway_requests_total", "counter", "HTTP requests by route and status."),
    ("tutor_gateway_rejected_total", "counter", "Requests refused by a limit, by reason."),
    ("tutor_gateway_upstream_requests_total", "counter", "Answers by upstream and outcome."),
    ("tutor_gateway_tokens_total", "counter", "Tokens by upstream and direction (in = prompt, out = completion)."),
    ("tutor_gateway_cost_usd_total", "counter", "Spend in US dollars by upstream (configured prices)."),
    ("tutor_gateway_cache_total", "counter", "Answer-cache lookups by result."),
    ("tutor_gateway_active_streams", "gauge", "Answers being streamed now."),
];

fn labels(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = write!(s, "{k}=\"{v}\"");
    }
    s
}

impl Metrics {
    pub fn add(&self, name: &'static str, pairs: &[(&str, &str)], v: f64) {
        if let Ok(mut m) = self.inner.lock() {
            *m.counters.entry((name, labels(pairs))).or_default() += v;
        }
    }

    pub fn gauge_add(&self, name: &'static str, pairs: &[(&str, &str)], v: f64) {
        if let Ok(mut m) = self.inner.lock() {
            *m.gauges.entry((name, labels(pairs))).or_default() += v;
        }
    }

    pub fn observe_ttfb(&self, secs: f64) {
        if let Ok(mut m) = self.inner.lock() {
            for (i, b) in TTFB_BUCKETS.iter().enumerate() {
                if secs <= *b {
                    m.ttfb_counts[i] += 1;
                }
            }
            m.ttfb_sum += secs;
            m.ttfb_n += 1;
        }
    }

    pub fn value(&self, name: &'static str, pairs: &[(&str, &str)]) -> f64 {
        self.inner.lock().ok().and_then(|m| m.counters.get(&(name, labels(pairs))).copied()).unwrap_or(0.0)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else { return out };
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let map = if *kind == "gauge" { &m.gauges } else { &m.counters };
            for ((n, l), v) in map.iter().filter(|((n, _), _)| n == name) {
                if l.is_empty() {
                    let _ = writeln!(out, "{n} {v}");
                } else {
                    let _ = writeln!(out, "{n}{{{l}}} {v}");
                }
            }
        }
        let h = "tutor_gateway_ttfb_seconds";
        let _ = writeln!(out, "# HELP {h} Time from request to the first answer byte.\n# TYPE {h} histogram");
        for (i, b) in TTFB_BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{h}_bucket{{le=\"{b}\"}} {}", m.ttfb_counts[i]);
        }
        let _ = writeln!(out, "{h}_bucket{{le=\"+Inf\"}} {}\n{h}_sum {}\n{h}_count {}", m.ttfb_n, m.ttfb_sum, m.ttfb_n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.add("tutor_gateway_tokens_total", &[("upstream", "a\"b"), ("direction", "in")], 12.0);
        m.add("tutor_gateway_tokens_total", &[("upstream", "a\"b"), ("direction", "in")], 3.0);
        m.gauge_add("tutor_gateway_active_streams", &[], 1.0);
        m.observe_ttfb(0.2);
        let t = m.render();
        assert!(t.contains("tutor_gateway_tokens_total{upstream=\"a\\\"b\",direction=\"in\"} 15\n"), "{t}");
        assert!(t.contains("tutor_gateway_active_streams 1\n"));
        assert!(t.contains("tutor_gateway_ttfb_seconds_bucket{le=\"0.25\"} 1\n"));
        assert!(t.contains("tutor_gateway_ttfb_seconds_bucket{le=\"0.1\"} 0\n"));
        assert!(t.contains("# TYPE tutor_gateway_cost_usd_total counter"));
    }
}
