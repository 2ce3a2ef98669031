//! Prometheus metrics in the text exposition format: request counts by route and status class,
//! and a latency histogram. Kept to atomics so the hot path stays allocation-free.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: [AtomicU64; 11],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, micros: u64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
        let ms = micros / 1000;
        let idx = BUCKETS_MS
            .iter()
            .position(|b| ms < *b)
            .unwrap_or(BUCKETS_MS.len());
        self.latency[idx].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP idbridge_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE idbridge_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                out.push_str(&format!(
                    "idbridge_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}\n"
                ));
            }
        }
        out.push_str("# HELP idbridge_http_request_duration_seconds Request latency.\n");
        out.push_str("# TYPE idbridge_http_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            cumulative += self.latency[i].load(Ordering::Relaxed);
            out.push_str(&format!(
                "idbridge_http_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}\n",
                *b as f64 / 1000.0
            ));
        }
        cumulative += self.latency[BUCKETS_MS.len()].load(Ordering::Relaxed);
        out.push_str(&format!(
            "idbridge_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n"
        ));
        out.push_str(&format!(
            "idbridge_http_request_duration_seconds_sum {}\n",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1_000_000.0
        ));
        out.push_str(&format!(
            "idbridge_http_request_duration_seconds_count {}\n",
            self.latency_count.load(Ordering::Relaxed)
        ));
        out
    }
}
