//! Prometheus metrics in the text exposition format: request counts by route template, method
//! and status, a latency histogram, counted events, and gauges (set by background checks, or
//! read live at scrape time: pool, hashing queue, caches). The hot path only takes a read lock
//! and bumps atomics; a new (route, method, status) takes the write lock once. Names follow
//! the Prometheus conventions (`_total` counters, `_seconds`, base units), and
//! `promtool check metrics` accepts the output (tested).

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000];

type ByStatus = HashMap<u16, AtomicU64>;

#[derive(Default)]
pub struct Metrics {
    /// route -> method -> status -> count
    requests: RwLock<HashMap<String, HashMap<String, ByStatus>>>,
    latency: [AtomicU64; 11],
    latency_sum_us: AtomicU64,
    latency_count: AtomicU64,
    /// Named background events (`backchannel_logout_delivered`, ...).
    events: RwLock<HashMap<&'static str, AtomicU64>>,
    /// Named gauges (`idbridge_<name>`) with their help text, set by background checks.
    gauges: RwLock<HashMap<&'static str, (&'static str, AtomicU64)>>,
}

/// A gauge read at scrape time: `idbridge_<name>{<label>="<value>"} <value>`.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub name: &'static str,
    pub help: &'static str,
    pub label: Option<(&'static str, &'static str)>,
    pub value: f64,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, micros: u64) {
        // A client may send any method; only the standard ones become label values.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "OTHER",
        };
        let counted = self
            .requests
            .read()
            .ok()
            .and_then(|m| {
                m.get(route)
                    .and_then(|r| r.get(method))
                    .and_then(|s| s.get(&status))
                    .map(|c| c.fetch_add(1, Ordering::Relaxed))
            })
            .is_some();
        if !counted && let Ok(mut m) = self.requests.write() {
            m.entry(route.to_string())
                .or_default()
                .entry(method.to_string())
                .or_default()
                .entry(status)
                .or_insert_with(|| AtomicU64::new(0))
                .fetch_add(1, Ordering::Relaxed);
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

    /// Counts a named event (`idbridge_events_total{event="..."}`).
    pub fn count(&self, event: &'static str) {
        let counted = self
            .events
            .read()
            .ok()
            .and_then(|m| m.get(event).map(|c| c.fetch_add(1, Ordering::Relaxed)))
            .is_some();
        if !counted && let Ok(mut m) = self.events.write() {
            m.entry(event)
                .or_insert_with(|| AtomicU64::new(0))
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sets a gauge (`idbridge_<name> value`).
    pub fn set_gauge(&self, name: &'static str, help: &'static str, value: u64) {
        if let Ok(mut m) = self.gauges.write() {
            m.entry(name)
                .or_insert_with(|| (help, AtomicU64::new(0)))
                .1
                .store(value, Ordering::Relaxed);
        }
    }

    /// The exposition: what this process counted, then `live` gauges read by the caller (one
    /// HELP and TYPE per name; samples of one name must be next to each other).
    pub fn render(&self, live: &[Live]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP idbridge_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE idbridge_http_requests_total counter\n");
        if let Ok(m) = self.requests.read() {
            let mut rows = Vec::new();
            for (route, methods) in m.iter() {
                for (method, statuses) in methods {
                    for (status, n) in statuses {
                        rows.push(format!(
                            "idbridge_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}\n",
                            n.load(Ordering::Relaxed)
                        ));
                    }
                }
            }
            rows.sort();
            rows.into_iter().for_each(|r| out.push_str(&r));
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
        out.push_str("# HELP idbridge_events_total Background events by name.\n");
        out.push_str("# TYPE idbridge_events_total counter\n");
        if let Ok(m) = self.events.read() {
            let mut rows: Vec<_> = m
                .iter()
                .map(|(k, v)| {
                    format!(
                        "idbridge_events_total{{event=\"{k}\"}} {}\n",
                        v.load(Ordering::Relaxed)
                    )
                })
                .collect();
            rows.sort();
            rows.into_iter().for_each(|r| out.push_str(&r));
        }
        out.push_str(&format!(
            "# HELP idbridge_build_info The running version.\n# TYPE idbridge_build_info gauge\nidbridge_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        ));
        if let Ok(m) = self.gauges.read() {
            let mut names: Vec<_> = m.keys().copied().collect();
            names.sort();
            for k in names {
                let (help, v) = &m[k];
                out.push_str(&format!(
                    "# HELP idbridge_{k} {help}\n# TYPE idbridge_{k} gauge\nidbridge_{k} {}\n",
                    v.load(Ordering::Relaxed)
                ));
            }
        }
        let mut last = "";
        for g in live {
            if g.name != last {
                out.push_str(&format!(
                    "# HELP idbridge_{0} {1}\n# TYPE idbridge_{0} gauge\n",
                    g.name, g.help
                ));
                last = g.name;
            }
            match g.label {
                Some((k, v)) => {
                    out.push_str(&format!("idbridge_{}{{{k}=\"{v}\"}} {}\n", g.name, g.value))
                }
                None => out.push_str(&format!("idbridge_{} {}\n", g.name, g.value)),
            }
        }
        out
    }
}
