//! Observability: one structured log line per request and CloudWatch
//! Embedded Metric Format (EMF) metrics.
//!
//! The log line names the request (Lambda request id, method, path without
//! the query string, so signatures never reach the logs), the source, a
//! summary of the edits, the status and error code, the time spent fetching,
//! transforming and encoding, and the bytes in and out. With EMF on, the same
//! request also prints one EMF JSON line to stdout, which CloudWatch turns
//! into the metrics `Latency`, `FetchTime`, `TransformTime`, `BytesIn`,
//! `BytesOut` and `Requests`, by error `Code`. Warming on upload prints its
//! counts the same way ([`emf_counts`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::request::{Edit, ImageRequest};

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
    /// Source key.
    pub key: Option<String>,
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
            "Code": self.code.unwrap_or(if self.status == 304 { "NotModified" } else { "OK" }),
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
