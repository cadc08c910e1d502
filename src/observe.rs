//! Observability: one structured log line per request, CloudWatch
//! Embedded Metric Format (EMF) metrics, and Prometheus metrics.
//!
//! The log line names the request (Lambda request id, method, path without
//! the query string, so signatures never reach the logs), the source, a
//! summary of the edits, the status and error code, the time spent fetching,
//! transforming and encoding, and the bytes in and out. With EMF on, the same
//! request also prints one EMF JSON line to stdout, which CloudWatch turns
//! into the metrics `Latency`, `FetchTime`, `TransformTime`, `BytesIn`,
//! `BytesOut` and `Requests`, by error `Code`. Warming on upload prints its
//! counts the same way ([`emf_counts`]).
//!
//! The Prometheus metrics ([`names`]) are counted from the same finished
//! [`RequestLog`] ([`RequestLog::record`]), so the request path holds no
//! metrics code; the engine's in-flight work is read at each scrape
//! ([`Prometheus::render`]). Only `serve` installs the recorder, when
//! `METRICS_LISTEN` is set; until then recording is one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::error::Error;
use crate::request::{Edit, ImageRequest};
use crate::transform::Load;

/// The invocation's id, put into the request's extensions by the Lambda adapter.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// What one request did, filled in as it runs.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    /// The Lambda request id, if any.
    pub request_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// URL path, without the query string.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Error code, for errors.
    pub code: Option<&'static str>,
    /// Source bucket, when named.
    pub bucket: Option<String>,
    /// Source key, as requested.
    pub key: Option<String>,
    /// The origin it was fetched from (its `ORIGINS` name, `default` for a single origin).
    pub origin: Option<String>,
    /// The key asked of that origin (after the mapping and the origin's prefix).
    pub fetched: Option<String>,
    /// The edits, e.g. `rotate,resize,grayscale`.
    pub edits: String,
    /// Output format.
    pub format: Option<&'static str>,
    /// Time fetching the original.
    pub fetch: Duration,
    /// Time decoding, editing and encoding.
    pub transform: Duration,
    /// Time encoding (part of `transform`).
    pub encode: Duration,
    /// Whole request.
    pub total: Duration,
    /// Original size.
    pub bytes_in: u64,
    /// Response body size.
    pub bytes_out: u64,
    /// The output was reduced to fit the response cap.
    pub reduced: bool,
    /// The error was the origin's failure ([`Error::is_origin_failure`]).
    pub origin_error: bool,
}

impl RequestLog {
    /// Records the parsed request.
    pub fn request(&mut self, request: &ImageRequest) {
        self.bucket = request.source.bucket.clone();
        self.key = Some(request.source.key.clone());
        self.edits = request
            .edits
            .iter()
            .map(edit_name)
            .collect::<Vec<_>>()
            .join(",");
    }

    /// Records the origin chosen for the request's original.
    pub fn origin(&mut self, picked: &crate::origin::Picked<'_>) {
        self.origin = Some(picked.name.to_string());
        self.fetched = Some(picked.source.key.clone());
    }

    /// Records the error that answered the request.
    pub fn failed(&mut self, error: &Error) {
        self.code = Some(error.code());
        self.origin_error = error.is_origin_failure();
    }

    /// The error code, or `OK` / `NotModified` for answers that are not errors.
    pub fn outcome(&self) -> &'static str {
        self.code.unwrap_or(if self.status == 304 {
            "NotModified"
        } else {
            "OK"
        })
    }

    /// Counts the finished request in the Prometheus metrics ([`names`]); a
    /// no-op until [`Prometheus::install`]. Phases the request did not reach
    /// (no fetch, no transform) add no observation to their histograms.
    pub fn record(&self) {
        if !INSTALLED.load(Ordering::Relaxed) {
            return;
        }
        counter!(names::REQUESTS, "status" => self.status.to_string(), "code" => self.outcome())
            .increment(1);
        histogram!(names::REQUEST_DURATION).record(self.total.as_secs_f64());
        for (name, took) in [
            (names::FETCH_DURATION, self.fetch),
            (names::TRANSFORM_DURATION, self.transform),
            (names::ENCODE_DURATION, self.encode),
        ] {
            if !took.is_zero() {
                histogram!(name).record(took.as_secs_f64());
            }
        }
        counter!(names::ORIGIN_BYTES).increment(self.bytes_in);
        counter!(names::RESPONSE_BYTES).increment(self.bytes_out);
        if self.origin_error {
            counter!(names::ORIGIN_ERRORS, "code" => self.outcome()).increment(1);
        }
    }

    /// Writes the log line (an `info` event with one field per item).
    pub fn emit(&self) {
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
        tracing::info!(
            target: "image_handler::request",
            request_id = self.request_id.as_deref().unwrap_or(""),
            method = %self.method,
            path = %self.path,
            status = self.status,
            code = self.code.unwrap_or(""),
            bucket = self.bucket.as_deref().unwrap_or(""),
            key = self.key.as_deref().unwrap_or(""),
            origin = self.origin.as_deref().unwrap_or(""),
            fetched = self.fetched.as_deref().unwrap_or(""),
            edits = %self.edits,
            format = self.format.unwrap_or(""),
            fetch_ms = ms(self.fetch),
            transform_ms = ms(self.transform),
            encode_ms = ms(self.encode),
            total_ms = ms(self.total),
            bytes_in = self.bytes_in,
            bytes_out = self.bytes_out,
            reduced = self.reduced,
            "request"
        );
    }

    /// The request as one CloudWatch EMF document.
    pub fn emf(&self, namespace: &str) -> serde_json::Value {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        json!({
            "_aws": {
                "Timestamp": now,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Code"]],
                    "Metrics": [
                        {"Name": "Requests", "Unit": "Count"},
                        {"Name": "Latency", "Unit": "Milliseconds"},
                        {"Name": "FetchTime", "Unit": "Milliseconds"},
                        {"Name": "TransformTime", "Unit": "Milliseconds"},
                        {"Name": "BytesIn", "Unit": "Bytes"},
                        {"Name": "BytesOut", "Unit": "Bytes"}
                    ]
                }]
            },
            "Code": self.outcome(),
            "Requests": 1,
            "Latency": ms(self.total),
            "FetchTime": ms(self.fetch),
            "TransformTime": ms(self.transform),
            "BytesIn": self.bytes_in,
            "BytesOut": self.bytes_out,
            "Status": self.status,
            "RequestId": self.request_id.as_deref().unwrap_or(""),
        })
    }
}

/// The Prometheus metrics, the one list of their names (docs/operations.md
/// documents them). Durations are histograms in seconds over
/// [`DURATION_BUCKETS`].
pub mod names {
    /// Counter: requests answered, by `status` (HTTP) and `code` (the JSON
    /// error's code, `OK` or `NotModified`).
    pub const REQUESTS: &str = "image_handler_requests_total";
    /// Histogram: whole requests, from arrival to the response.
    pub const REQUEST_DURATION: &str = "image_handler_request_duration_seconds";
    /// Histogram: fetching originals (also when the origin answered
    /// "unchanged", and when the fetch failed).
    pub const FETCH_DURATION: &str = "image_handler_fetch_duration_seconds";
    /// Histogram: transforms that finished (decode, edits, encode).
    pub const TRANSFORM_DURATION: &str = "image_handler_transform_duration_seconds";
    /// Histogram: the encoding part of finished transforms.
    pub const ENCODE_DURATION: &str = "image_handler_encode_duration_seconds";
    /// Counter: bytes of originals read from the origin.
    pub const ORIGIN_BYTES: &str = "image_handler_origin_bytes_total";
    /// Counter: bytes of response bodies (a `HEAD` counts the body it stands for).
    pub const RESPONSE_BYTES: &str = "image_handler_response_bytes_total";
    /// Counter: requests answered with an origin failure, by `code`
    /// (`OriginError`, `OriginUnavailable`, `OriginTimeout`, `OriginRefused`).
    pub const ORIGIN_ERRORS: &str = "image_handler_origin_errors_total";
    /// Gauge: libvips jobs running.
    pub const TRANSFORMS_IN_FLIGHT: &str = "image_handler_transforms_in_flight";
    /// Gauge: admitted requests not running a job (fetching, or waiting for a slot).
    pub const QUEUE_DEPTH: &str = "image_handler_queue_depth";
    /// Gauge: original and overlay bytes reserved by admitted requests.
    pub const RESERVED_BYTES: &str = "image_handler_reserved_bytes";
}

/// The duration histograms' bucket bounds, in seconds (`REQUEST_TIMEOUT`
/// is 25 s by default).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0,
];

/// Set once the recorder is installed: [`RequestLog::record`] does nothing before.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The process's Prometheus recorder (`metrics-exporter-prometheus` behind
/// the `metrics` facade). `serve` installs it when `METRICS_LISTEN` is set
/// and renders it at `/metrics`.
#[derive(Clone)]
pub struct Prometheus {
    handle: PrometheusHandle,
}

impl Prometheus {
    /// Installs the recorder for the whole process and describes the
    /// metrics; fails if a recorder is already installed.
    pub fn install() -> Result<Prometheus, String> {
        let fail = |e: &dyn std::fmt::Display| format!("cannot start the metrics recorder: {e}");
        let handle = PrometheusBuilder::new()
            .set_buckets(DURATION_BUCKETS)
            .map_err(|e| fail(&e))?
            .install_recorder()
            .map_err(|e| fail(&e))?;
        describe();
        INSTALLED.store(true, Ordering::Relaxed);
        Ok(Prometheus { handle })
    }

    /// The Prometheus text exposition, with the gauges set from `load` (the
    /// engine's state now).
    pub fn render(&self, load: Load) -> String {
        gauge!(names::TRANSFORMS_IN_FLIGHT).set(load.running as f64);
        gauge!(names::QUEUE_DEPTH).set(load.waiting as f64);
        gauge!(names::RESERVED_BYTES).set(load.reserved_bytes as f64);
        self.handle.render()
    }

    /// Moves the histograms' recent samples into their buckets, so memory
    /// stays bounded between scrapes: run every few seconds.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// The `# HELP` (and unit) of each metric.
fn describe() {
    describe_counter!(
        names::REQUESTS,
        Unit::Count,
        "Requests answered, by HTTP status and error code (OK, NotModified for answers that are not errors)."
    );
    describe_histogram!(
        names::REQUEST_DURATION,
        Unit::Seconds,
        "Whole requests, from arrival to the response."
    );
    describe_histogram!(
        names::FETCH_DURATION,
        Unit::Seconds,
        "Fetching the original, for requests that fetched one (failed fetches included)."
    );
    describe_histogram!(
        names::TRANSFORM_DURATION,
        Unit::Seconds,
        "Decoding, editing and encoding, for transforms that finished."
    );
    describe_histogram!(
        names::ENCODE_DURATION,
        Unit::Seconds,
        "Encoding (part of the transform), for transforms that finished."
    );
    describe_counter!(
        names::ORIGIN_BYTES,
        Unit::Bytes,
        "Bytes of originals read from the origin."
    );
    describe_counter!(
        names::RESPONSE_BYTES,
        Unit::Bytes,
        "Bytes of response bodies."
    );
    describe_counter!(
        names::ORIGIN_ERRORS,
        Unit::Count,
        "Requests answered with an origin failure, by error code."
    );
    describe_gauge!(
        names::TRANSFORMS_IN_FLIGHT,
        Unit::Count,
        "libvips jobs running (at most TRANSFORM_CONCURRENCY)."
    );
    describe_gauge!(
        names::QUEUE_DEPTH,
        Unit::Count,
        "Admitted requests not running a job: fetching their original or waiting for a transform slot."
    );
    describe_gauge!(
        names::RESERVED_BYTES,
        Unit::Bytes,
        "Original and overlay bytes reserved by admitted requests (MAX_INFLIGHT_BYTES)."
    );
}

/// Counts as one CloudWatch EMF document without dimensions (the results of
/// warming on upload: `Warmed`, `WarmFailed`, `WarmSkipped`).
pub fn emf_counts(namespace: &str, counts: &[(&str, u64)]) -> serde_json::Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let metrics: Vec<serde_json::Value> = counts
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut doc = json!({
        "_aws": {
            "Timestamp": now,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": metrics
            }]
        }
    });
    for (name, value) in counts {
        doc[*name] = json!(value);
    }
    doc
}

/// An edit's name, for summaries.
pub fn edit_name(edit: &Edit) -> &'static str {
    match edit {
        Edit::Resize(_) => "resize",
        Edit::Scale(_) => "scale",
        Edit::Extract(_) => "extract",
        Edit::Extend(_) => "extend",
        Edit::Trim(_) => "trim",
        Edit::Rotate(_) => "rotate",
        Edit::Flip => "flip",
        Edit::Flop => "flop",
        Edit::Grayscale => "grayscale",
        Edit::Blur(_) => "blur",
        Edit::Sharpen(_) => "sharpen",
        Edit::Flatten(_) => "flatten",
        Edit::Normalize => "normalize",
        Edit::Negate { .. } => "negate",
        Edit::Tint(_) => "tint",
        Edit::Linear { .. } => "linear",
        Edit::Convolve(_) => "convolve",
        Edit::Modulate(_) => "modulate",
        Edit::Median(_) => "median",
        Edit::Gamma(..) => "gamma",
        Edit::Threshold { .. } => "threshold",
        Edit::Clahe { .. } => "clahe",
        Edit::RemoveAlpha => "removeAlpha",
        Edit::EnsureAlpha(_) => "ensureAlpha",
        Edit::RoundCrop(_) => "roundCrop",
        Edit::SmartCrop { .. } => "smartCrop",
        Edit::Overlay(_) => "overlay",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_shape() {
        let log = RequestLog {
            status: 400,
            code: Some("InvalidParameter"),
            total: Duration::from_millis(12),
            bytes_out: 90,
            ..RequestLog::default()
        };
        let doc = log.emf("ImageHandler");
        let metrics = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Namespace"], "ImageHandler");
        assert_eq!(metrics["Dimensions"][0][0], "Code");
        // every declared metric has a value at the top level, as EMF requires
        for m in metrics["Metrics"].as_array().unwrap() {
            assert!(doc[m["Name"].as_str().unwrap()].is_number(), "{m}");
        }
        assert_eq!(doc["Code"], "InvalidParameter");
        assert_eq!(doc["Latency"], 12.0);
    }

    #[test]
    fn emf_counts_declare_each_value() {
        let doc = emf_counts("ImageHandler", &[("Warmed", 5), ("WarmFailed", 1)]);
        let metrics = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Dimensions"], json!([[]]));
        let names: Vec<&str> = metrics["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Warmed", "WarmFailed"]);
        assert_eq!(
            (doc["Warmed"].as_u64(), doc["WarmFailed"].as_u64()),
            (Some(5), Some(1))
        );
    }
}
