//! HTTP responses: headers, caching, conditional requests and errors.
//!
//! Successful images get `Content-Type`, a long `Cache-Control`, an `ETag`
//! (the original's identity plus the normalised request and, when the format
//! was negotiated, what the client accepts), `Last-Modified`, `Vary: Accept`
//! when the format depended on it, CORS headers when enabled and
//! `Server-Timing`. Errors are JSON `{"status","code","message"}` with a short
//! `max-age` for 4xx and `no-store` for 5xx.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::Error;
use crate::origin::Meta;
use crate::request::ImageRequest;
use crate::transform::{Accepted, Encoded};

/// Bumped whenever the engine's output for the same request may change, so
/// that ETags change with it.
const ENGINE_REVISION: &str = "1";

/// How long each phase took, for `Server-Timing`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Fetching the original.
    pub fetch: Duration,
    /// Decoding, editing and encoding.
    pub transform: Duration,
}

/// What names a variant of any original: the normalised request, what the
/// client accepted (when the format was negotiated), the engine version and
/// the identities of other originals drawn into it (overlays).
pub fn variant_tag(request: &ImageRequest, accepted: Accepted, others: &[&str]) -> String {
    let mut h = Sha256::new();
    let (canonical, accepted) = (
        request.canonical(),
        serde_json::to_string(&accepted).unwrap_or_default(),
    );
    let fixed = [
        env!("CARGO_PKG_VERSION"),
        ENGINE_REVISION,
        canonical.as_str(),
        accepted.as_str(),
    ];
    for part in fixed.iter().chain(others) {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// The strong ETag of one variant of one version of an original:
/// `"<origin identity>.<variant tag>"`. Carrying the origin's identity lets a
/// later `If-None-Match` be checked by the origin without a transfer.
pub fn etag(identity: &str, variant: &str) -> String {
    format!("\"{identity}.{variant}\"")
}

/// The origin identity that a client's `If-None-Match` holds for this variant, if any.
pub fn known_identity(headers: &HeaderMap, variant: &str) -> Option<String> {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| {
            let t = t.trim().trim_start_matches("W/").trim_matches('"');
            let (identity, tag) = t.rsplit_once('.')?;
            (tag == variant && !identity.is_empty()).then(|| identity.to_string())
        })
        .next()
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, `*` matches).
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || bare(t) == bare(etag)
        })
}

/// What a success or 304 response carries besides the body.
pub struct Variant<'a> {
    /// The ETag.
    pub etag: &'a str,
    /// The original's metadata, for Last-Modified and stored Cache-Control and Expires.
    pub meta: &'a Meta,
    /// The format depended on `Accept`.
    pub vary_accept: bool,
    /// Response headers the request asked for (already filtered).
    pub headers: &'a [(String, String)],
    /// A signed URL's expiry, which caps the cache lifetime.
    pub expires: Option<SystemTime>,
}

/// `200` with the encoded image.
pub fn image(
    config: &Config,
    variant: &Variant,
    encoded: Encoded,
    timings: Timings,
) -> Response<Bytes> {
    let mut res = Response::new(encoded.bytes);
    let h = res.headers_mut();
    set(h, header::CONTENT_TYPE, encoded.format.mime());
    svg_policy(h, encoded.format.mime());
    caching_headers(h, config, variant);
    if let Some(r) = encoded.reduced {
        // The output was reduced to fit the response size cap.
        let quality = r
            .quality
            .map(|q| format!("quality={q}, "))
            .unwrap_or_default();
        set(
            h,
            HeaderName::from_static("x-image-reduced"),
            &format!("{quality}width={}, height={}", r.width, r.height),
        );
    }
    set(
        h,
        HeaderName::from_static("server-timing"),
        &format!(
            "fetch;dur={:.1}, transform;dur={:.1}",
            timings.fetch.as_secs_f64() * 1000.0,
            timings.transform.as_secs_f64() * 1000.0
        ),
    );
    common_headers(h, config);
    res
}

/// SIH's fallback image for an error: the image as stored, with the error's
/// status, its own `Cache-Control` (else the short error one) and the error's
/// code in `X-Error-Code`.
pub fn fallback(config: &Config, e: &Error, original: crate::origin::Original) -> Response<Bytes> {
    let content_type = original
        .content_type
        .clone()
        .filter(|t| t.starts_with("image/"))
        .or_else(|| {
            crate::transform::format::sniff(&original.bytes)
                .ok()
                .and_then(|f| f.writable())
                .map(|f| f.mime().to_string())
        })
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let mut res = Response::new(original.bytes);
    *res.status_mut() = e.status();
    let h = res.headers_mut();
    set(h, header::CONTENT_TYPE, &content_type);
    svg_policy(h, &content_type);
    // A server-side failure is passing: its fallback is never cached, or a
    // brief origin outage would be served from caches for the fallback's lifetime.
    let cache = if e.status().is_server_error() {
        "no-store".to_string()
    } else {
        original
            .meta
            .cache_control
            .unwrap_or_else(|| format!("public, max-age={}", config.error_max_age))
    };
    set(h, header::CACHE_CONTROL, &cache);
    set(h, HeaderName::from_static("x-error-code"), e.code());
    common_headers(h, config);
    res
}

/// `304 Not Modified` for a matching `If-None-Match`.
pub fn not_modified(config: &Config, variant: &Variant) -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::NOT_MODIFIED;
    caching_headers(res.headers_mut(), config, variant);
    common_headers(res.headers_mut(), config);
    res
}

fn caching_headers(h: &mut HeaderMap, config: &Config, variant: &Variant) {
    // The request's own headers first, so ours win where they overlap.
    for (name, value) in variant.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) {
            h.insert(name, value);
        }
    }
    set(h, header::ETAG, variant.etag);
    let requested = variant
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
        .map(|(_, v)| v.as_str());
    let cache_control = requested
        .or(variant.meta.cache_control.as_deref())
        .unwrap_or(&config.cache_control);
    set(
        h,
        header::CACHE_CONTROL,
        &cap_max_age(cache_control, variant.expires),
    );
    if let Some(expires) = &variant.meta.expires {
        set(h, header::EXPIRES, expires);
    }
    if let Some(modified) = variant.meta.last_modified {
        set(
            h,
            header::LAST_MODIFIED,
            &httpdate::fmt_http_date(modified.min(SystemTime::now())),
        );
    }
    if variant.vary_accept {
        set(h, header::VARY, "Accept");
    }
}

/// Caps a `Cache-Control`'s lifetime at a signed URL's expiry.
fn cap_max_age(cache_control: &str, expires: Option<SystemTime>) -> String {
    let Some(expires) = expires else {
        return cache_control.to_string();
    };
    let remaining = expires
        .duration_since(SystemTime::now())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let current = cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<u64>().ok());
    match current {
        Some(age) if age <= remaining => cache_control.to_string(),
        _ => format!("public, max-age={remaining}"),
    }
}

/// A JSON response (errors, health).
pub fn json(config: &Config, status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut res = Response::new(Bytes::from(body.to_string()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    set(h, header::CONTENT_TYPE, "application/json");
    let cache = if status.is_server_error() || status == StatusCode::OK {
        "no-store".to_string()
    } else {
        format!("public, max-age={}", config.error_max_age)
    };
    set(h, header::CACHE_CONTROL, &cache);
    common_headers(h, config);
    res
}

/// The JSON error response for `e`.
pub fn error(config: &Config, e: &Error) -> Response<Bytes> {
    let status = e.status();
    let body = serde_json::json!({ "status": status.as_u16(), "code": e.code(), "message": e.to_string() });
    let mut res = json(config, status, &body);
    if let Error::MethodNotAllowed(_) = e {
        set(res.headers_mut(), header::ALLOW, "GET, HEAD");
    }
    if let Some(seconds) = e.retry_after() {
        set(res.headers_mut(), header::RETRY_AFTER, &seconds.to_string());
    }
    res
}

/// An SVG opened on its own is a document that could run script or load
/// resources: forbid everything but inline styles and embedded images, and
/// sandbox it (a second fence behind the sanitiser).
const SVG_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox";

fn svg_policy(h: &mut HeaderMap, content_type: &str) {
    if content_type.starts_with("image/svg+xml") {
        set(h, header::CONTENT_SECURITY_POLICY, SVG_CSP);
    }
}

fn common_headers(h: &mut HeaderMap, config: &Config) {
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if let Some(origin) = &config.cors_origin {
        set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        set(h, header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD");
        set(
            h,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "ETag, Server-Timing, Content-Length",
        );
        if origin != "*" {
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

fn set(h: &mut HeaderMap, name: HeaderName, value: &str) {
    // Values come from config (validated) or from us; a bad one is dropped, not a panic.
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h, "\"abc\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(if_none_match(&h, "\"abc\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(if_none_match(&h, "\"abc\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abd\""));
        assert!(!if_none_match(&h, "\"abc\""));
    }
}
