//! HTTP responses: headers, caching, conditional requests and errors.
//!
//! Successful images get `Content-Type`, a long `Cache-Control` (its
//! lifetimes capped at a signed URL's expiry, its directives kept), an `ETag`
//! (the original's identity plus the normalised request, what the client
//! accepts when the format was negotiated, the output settings and the
//! engine), `Last-Modified`, `Vary: Accept` when the format depended on it,
//! `Vary` naming the client hints `auto` values were read from (and no hint
//! otherwise), CORS headers when enabled and `Server-Timing`. Errors are JSON
//! `{"status","code","message"}` with a short `max-age` for 4xx and
//! `no-store` for 5xx.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::origin::Meta;
use crate::request::{HintSet, ImageRequest};
use crate::transform::{Accepted, Encoded, OutputSettings};

/// Bumped whenever the engine's output for the same request may change, so
/// that ETags change with it.
const ENGINE_REVISION: &str = "2";

/// What the configuration says about every response's headers
/// (`CACHE_CONTROL`, `ERROR_MAX_AGE`, `CORS_ORIGIN`). The functions below
/// take anything that gives them, the configuration itself included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSettings<'a> {
    /// `Cache-Control` of successful responses.
    pub cache_control: &'a str,
    /// `max-age` of 4xx responses, in seconds.
    pub error_max_age: u32,
    /// `Access-Control-Allow-Origin`, when CORS is on.
    pub cors_origin: Option<&'a str>,
}

/// How long each phase took, for `Server-Timing`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Fetching the original.
    pub fetch: Duration,
    /// Decoding, editing and encoding.
    pub transform: Duration,
}

/// What names a variant of any original: the normalised request, what the
/// client accepted (when the format was negotiated), every setting that
/// changes the output ([`OutputSettings`]), the engine (our version, the
/// libvips version and the default qualities) and the identities of other
/// originals drawn into it (overlays). A change of any of them changes the
/// ETag, so a revalidation never answers 304 for bytes that would now differ.
pub fn variant_tag(
    request: &ImageRequest,
    accepted: Accepted,
    settings: &OutputSettings,
    others: &[&str],
) -> String {
    let mut h = Sha256::new();
    let (canonical, accepted) = (
        request.canonical(),
        serde_json::to_string(&accepted).unwrap_or_default(),
    );
    // Debug lists every field, nested ones too: a new setting is hashed as it is added.
    let settings = format!("{settings:?}");
    let fixed = [
        env!("CARGO_PKG_VERSION"),
        ENGINE_REVISION,
        &engine_version(),
        canonical.as_str(),
        accepted.as_str(),
        settings.as_str(),
    ];
    for part in fixed.iter().chain(others) {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// The engine's part of the variant: libvips' version and the default
/// quality of each lossy format.
fn engine_version() -> String {
    use crate::transform::encode::{AVIF_QUALITY, JPEG_QUALITY, TIFF_QUALITY, WEBP_QUALITY};
    format!(
        "libvips {}; quality jpeg {JPEG_QUALITY} webp {WEBP_QUALITY} avif {AVIF_QUALITY} tiff {TIFF_QUALITY}",
        crate::transform::init_vips().unwrap_or_default()
    )
}

/// The strong ETag of one variant of one version of an original:
/// `"<origin identity>.<variant tag>"`. Carrying the origin's identity lets a
/// later `If-None-Match` be checked by the origin without a transfer.
pub fn etag(identity: &str, variant: &str) -> String {
    format!("\"{identity}.{variant}\"")
}

/// The entity tags of every `If-None-Match` header, trimmed (`W/` and quotes kept).
fn if_none_match_tags(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The origin identity that a client's `If-None-Match` holds for this variant, if any.
pub fn known_identity(headers: &HeaderMap, variant: &str) -> Option<String> {
    if_none_match_tags(headers).find_map(|t| {
        let t = t.trim_start_matches("W/").trim_matches('"');
        let (identity, tag) = t.rsplit_once('.')?;
        (tag == variant && !identity.is_empty()).then(|| identity.to_string())
    })
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, `*` matches).
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if_none_match_tags(headers).any(|t| t == "*" || bare(t) == bare(etag))
}

/// What a success or 304 response carries besides the body.
pub struct Variant<'a> {
    /// The ETag.
    pub etag: &'a str,
    /// The original's metadata, for Last-Modified and stored Cache-Control and Expires.
    pub meta: &'a Meta,
    /// The format depended on `Accept`.
    pub vary_accept: bool,
    /// Automatic quality's target depended on `Save-Data`.
    pub vary_save_data: bool,
    /// The client-hint headers the request was read with.
    pub hints: HintSet,
    /// Response headers the request asked for (already filtered).
    pub headers: &'a [(String, String)],
    /// A signed URL's expiry, which caps the cache lifetime.
    pub expires: Option<SystemTime>,
}

/// `200` with the encoded image.
pub fn image<'a>(
    config: impl Into<HeaderSettings<'a>>,
    variant: &Variant,
    encoded: Encoded,
    timings: Timings,
) -> Response<Bytes> {
    let config = config.into();
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
    if let Some(chosen) = encoded.chosen {
        // What automatic quality chose, and the score it measured.
        let quality = chosen
            .quality
            .map_or_else(|| "lossless".to_string(), |q| q.to_string());
        set(
            h,
            HeaderName::from_static("x-image-quality"),
            &format!("quality={quality}, score={:.1}", chosen.score),
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
pub fn fallback<'a>(
    config: impl Into<HeaderSettings<'a>>,
    e: &Error,
    original: crate::origin::Original,
) -> Response<Bytes> {
    let config = config.into();
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
pub fn not_modified<'a>(
    config: impl Into<HeaderSettings<'a>>,
    variant: &Variant,
) -> Response<Bytes> {
    let config = config.into();
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::NOT_MODIFIED;
    caching_headers(res.headers_mut(), config, variant);
    common_headers(res.headers_mut(), config);
    res
}

fn caching_headers(h: &mut HeaderMap, config: HeaderSettings, variant: &Variant) {
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
        .unwrap_or(config.cache_control);
    set(
        h,
        header::CACHE_CONTROL,
        &cap_max_age(
            cache_control,
            variant.expires,
            variant.meta.expires.as_deref(),
        ),
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
        vary_on(h, "Accept");
    }
    if variant.vary_save_data {
        vary_on(h, "Save-Data");
    }
    vary_on_hints(h, variant.hints);
}

/// Adds each client-hint header of `hints` to `Vary` (none for an empty
/// set): `auto` values were read from them, so caches must keep one answer
/// per value. Names already listed are not repeated.
pub fn vary_on_hints(h: &mut HeaderMap, hints: HintSet) {
    for name in hints.names() {
        vary_on(h, name);
    }
}

/// Adds `Vary: Accept`: the answer (an image or an error) depended on the
/// request's `Accept`, so caches must keep one answer per `Accept`.
pub fn vary_on_accept(h: &mut HeaderMap) {
    vary_on(h, "Accept");
}

/// Adds `name` to `Vary` unless it (or `*`) is listed already.
fn vary_on(h: &mut HeaderMap, name: &'static str) {
    let listed = h
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(name) || t.trim() == "*");
    if !listed {
        h.append(header::VARY, HeaderValue::from_static(name));
    }
}

/// Caps the lifetimes of a response's `Cache-Control` at a signed URL's
/// expiry (for answers other than images: errors, the fallback image, `info`).
pub fn cap_lifetime(h: &mut HeaderMap, expires: Option<SystemTime>) {
    if expires.is_none() {
        return;
    }
    let current = h
        .get(header::CACHE_CONTROL)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let expires_header = h
        .get(header::EXPIRES)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let capped = cap_max_age(&current, expires, expires_header.as_deref());
    set(h, header::CACHE_CONTROL, &capped);
}

/// Caps a `Cache-Control`'s lifetimes at a signed URL's expiry, keeping its
/// directives (see [`cache_control::cap`]); `expires_header` is a stored
/// `Expires`, which an added `max-age` would override.
fn cap_max_age(
    cache_control: &str,
    expires: Option<SystemTime>,
    expires_header: Option<&str>,
) -> String {
    let Some(expires) = expires else {
        return cache_control.to_string();
    };
    let now = SystemTime::now();
    let left = |t: SystemTime| t.duration_since(now).map(|d| d.as_secs()).unwrap_or(0);
    // An `Expires` that cannot be read means "already expired" (RFC 9111 §5.3).
    let until_expires = expires_header.map(|e| httpdate::parse_http_date(e).map(left).unwrap_or(0));
    cache_control::cap(cache_control, left(expires), until_expires)
}

/// `Cache-Control` directives (RFC 9111 §5.2), read as caches read them:
/// names without regard to case, values as tokens or quoted strings (a
/// comma inside quotes does not end a directive), whitespace around each
/// part ignored.
mod cache_control {
    /// One directive: its name in lower case and its value with any quotes removed.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Directive {
        /// The name, lower-cased.
        pub name: String,
        /// The value, unquoted and unescaped.
        pub value: Option<String>,
    }

    impl Directive {
        /// The directive in canonical form: `name`, `name=token` or
        /// `name="quoted"`, so that its quotes always balance.
        fn render(&self) -> String {
            match &self.value {
                None => self.name.clone(),
                Some(v) if !v.is_empty() && v.bytes().all(is_tchar) => format!("{}={v}", self.name),
                Some(v) => {
                    let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
                    format!("{}=\"{escaped}\"", self.name)
                }
            }
        }
    }

    /// A token character (RFC 9110 §5.6.2).
    fn is_tchar(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
    }

    /// Splits a `Cache-Control` value into its directives. Total: an
    /// unterminated quoted string runs to the end of the value, and empty
    /// list elements are skipped (RFC 9110 §5.6.1).
    pub fn parse(value: &str) -> Vec<Directive> {
        let mut out = Vec::new();
        let (mut start, mut quoted, mut escaped) = (0, false, false);
        for (i, c) in value.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    out.extend(directive(value.get(start..i).unwrap_or("")));
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.extend(directive(value.get(start..).unwrap_or("")));
        out
    }

    fn directive(text: &str) -> Option<Directive> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let (name, value) = match text.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
            None => (text, None),
        };
        Some(Directive {
            name: name.to_ascii_lowercase(),
            value,
        })
    }

    fn unquote(value: &str) -> String {
        let Some(inner) = value.strip_prefix('"') else {
            return value.to_string();
        };
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                '"' => break,
                c => out.push(c),
            }
        }
        out
    }

    /// A `delta-seconds` value: digits only, saturating when too large (RFC
    /// 9111 §1.2.2); anything else gives no lifetime at all, 0.
    pub fn seconds(value: Option<&str>) -> u64 {
        match value {
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                v.parse().unwrap_or(u64::MAX)
            }
            _ => 0,
        }
    }

    /// `value` with every lifetime capped at `remaining` seconds, so that no
    /// cache keeps the response longer: `max-age` and `s-maxage` are capped,
    /// `stale-while-revalidate` and `stale-if-error` may only use what is
    /// left after the freshness lifetime, and a `max-age` is added when there
    /// is none, unless the response is `no-store` (`until_expires`: the
    /// seconds a stored `Expires` still gives, which an added `max-age`
    /// overrides, so it caps that too).
    ///
    /// Every other directive is kept (so `private` stays private and
    /// `public` is never added), written in canonical form so that its
    /// quotes balance. A directive whose name is not a token is dropped; one
    /// whose value holds control characters (which no header may carry) or
    /// `=` (`no-cache="x, max-age=9"`, which a cache splitting on commas
    /// could misread) is cut down to its name, which for `private` and
    /// `no-cache` applies to the whole response and so says more, not less.
    pub fn cap(value: &str, remaining: u64, until_expires: Option<u64>) -> String {
        let directives: Vec<Directive> = parse(value)
            .into_iter()
            .filter(|d| d.name.bytes().all(is_tchar))
            .collect();
        let has = |name: &str| directives.iter().any(|d| d.name == name);
        let mut out: Vec<String> = Vec::with_capacity(directives.len() + 1);
        let mut fresh = 0;
        let mut stale = Vec::new();
        for d in &directives {
            match d.name.as_str() {
                "max-age" | "s-maxage" => {
                    let capped = seconds(d.value.as_deref()).min(remaining);
                    fresh = fresh.max(capped);
                    out.push(format!("{}={capped}", d.name));
                }
                "stale-while-revalidate" | "stale-if-error" => {
                    stale.push((out.len(), d));
                    out.push(String::new());
                }
                _ if d.value.as_deref().is_some_and(|v| {
                    v.contains('=') || v.chars().any(|c| c.is_control() && c != '\t')
                }) =>
                {
                    out.push(d.name.clone())
                }
                _ => out.push(d.render()),
            }
        }
        if !has("max-age") && !has("no-store") {
            let capped = remaining.min(until_expires.unwrap_or(u64::MAX));
            fresh = fresh.max(capped);
            out.push(format!("max-age={capped}"));
        }
        for (at, d) in stale {
            let capped = seconds(d.value.as_deref()).min(remaining.saturating_sub(fresh));
            if let Some(slot) = out.get_mut(at) {
                *slot = format!("{}={capped}", d.name);
            }
        }
        out.join(", ")
    }
}

/// A JSON response (errors, health).
pub fn json<'a>(
    config: impl Into<HeaderSettings<'a>>,
    status: StatusCode,
    body: &serde_json::Value,
) -> Response<Bytes> {
    let config = config.into();
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
pub fn error<'a>(config: impl Into<HeaderSettings<'a>>, e: &Error) -> Response<Bytes> {
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

fn common_headers(h: &mut HeaderMap, config: HeaderSettings) {
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if let Some(origin) = config.cors_origin {
        set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        set(h, header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD");
        set(
            h,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "ETag, Server-Timing, Content-Length, X-Image-Quality, X-Image-Reduced",
        );
        // The allowed origin is one fixed value, the same whatever the
        // request's `Origin`: `Vary: Origin` would only split caches.
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

    /// One of `items`, chosen by `rng`.
    fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
        items[rng.usize(..items.len())]
    }

    const NAMES: &[&str] = &[
        "max-age",
        "s-maxage",
        "public",
        "private",
        "no-store",
        "no-cache",
        "immutable",
        "must-revalidate",
        "proxy-revalidate",
        "stale-while-revalidate",
        "stale-if-error",
        "no-transform",
        "x-ext",
    ];

    const VALUES: &[&str] = &[
        "0",
        "5",
        "599",
        "600",
        "601",
        "31536000",
        "99999999999999999999999999",
        "-5",
        "1.5",
        "abc",
        "",
        "\"100000\"",
        "\"a, max-age=999999\"",
        "\"Set-Cookie, X-Foo\"",
        "\"unterminated, s-maxage=999999",
        "\"esc\\\"aped, max-age=1\"",
        "\"é€\"",
        "\"tab\there\"",
        "5\r\nx: y",
        "\u{7f}",
    ];

    /// Mixes the case of ASCII letters.
    fn mixed_case(rng: &mut fastrand::Rng, s: &str) -> String {
        s.chars()
            .map(|c| {
                if rng.usize(..2) == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    /// A hostile `Cache-Control` value: directives from [`NAMES`] in mixed
    /// case with values from [`VALUES`], odd whitespace and empty elements.
    fn hostile(rng: &mut fastrand::Rng) -> String {
        let spaces = ["", " ", "  ", "\t"];
        let mut out = String::new();
        for i in 0..rng.usize(..6) {
            if i > 0 || rng.usize(..4) == 0 {
                out.push_str(pick(rng, &spaces));
                out.push_str(if rng.usize(..6) == 0 { ",," } else { "," });
            }
            out.push_str(pick(rng, &spaces));
            let name = pick(rng, NAMES);
            out.push_str(&mixed_case(rng, name));
            if rng.usize(..3) > 0 {
                out.push_str(pick(rng, &spaces));
                out.push('=');
                out.push_str(pick(rng, &spaces));
                out.push_str(pick(rng, VALUES));
            }
            out.push_str(pick(rng, &spaces));
        }
        out
    }

    /// The lifetimes any cache could read from `value`: by the parser, and
    /// also by a naive one that splits on every comma (case-blind).
    fn lifetimes(value: &str) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = cache_control::parse(value)
            .into_iter()
            .filter(|d| d.name.contains("age") || d.name.starts_with("stale"))
            .map(|d| (d.name, cache_control::seconds(d.value.as_deref())))
            .collect();
        for part in value.split([',', '"']) {
            if let Some((name, v)) = part.trim().split_once('=') {
                let name = name.trim().to_ascii_lowercase();
                let digits: String = v.trim().chars().take_while(char::is_ascii_digit).collect();
                if name.contains("age") || name.starts_with("stale") {
                    out.push((name, digits.parse().unwrap_or(0)));
                }
            }
        }
        out
    }

    fn names(value: &str) -> Vec<String> {
        cache_control::parse(value)
            .into_iter()
            .map(|d| d.name)
            .collect()
    }

    /// Checks every property a capped value must have.
    #[track_caller]
    fn check_cap(input: &str, remaining: u64, until_expires: Option<u64>) {
        let out = cache_control::cap(input, remaining, until_expires);
        let ctx = format!("{input:?} -> {out:?}");
        assert!(HeaderValue::from_str(&out).is_ok(), "not a header: {ctx}");
        let (before, after) = (names(input), names(&out));
        let found = lifetimes(&out);
        let fresh = found
            .iter()
            .filter(|(n, _)| n == "max-age" || n == "s-maxage")
            .map(|(_, v)| *v)
            .max()
            .unwrap_or(0);
        for (name, v) in &found {
            assert!(*v <= remaining, "{name}={v} outlives the link: {ctx}");
            if name.starts_with("stale") {
                assert!(fresh + v <= remaining, "{name} outlives the link: {ctx}");
            }
        }
        // a parse of the output reads exactly what was written (quotes balance)
        for d in cache_control::parse(&out) {
            if d.name.contains("age") {
                assert!(
                    d.value.as_deref().is_some_and(|v| v.parse::<u64>().is_ok()),
                    "{ctx}"
                );
            }
        }
        for kept in [
            "private",
            "no-store",
            "no-cache",
            "must-revalidate",
            "immutable",
        ] {
            if before.iter().any(|n| n == kept) {
                assert!(after.iter().any(|n| n == kept), "{kept} lost: {ctx}");
            }
        }
        if after.iter().any(|n| n == "public") {
            assert!(before.iter().any(|n| n == "public"), "public added: {ctx}");
        }
        let had_max_age = before.iter().any(|n| n == "max-age");
        if before.iter().any(|n| n == "no-store") && !had_max_age {
            assert!(
                !after.iter().any(|n| n == "max-age"),
                "max-age added to no-store: {ctx}"
            );
        }
        if !before.iter().any(|n| n == "no-store") {
            let max_age = cache_control::parse(&out)
                .into_iter()
                .find(|d| d.name == "max-age")
                .map(|d| cache_control::seconds(d.value.as_deref()));
            assert!(max_age.is_some(), "no max-age: {ctx}");
            if let (false, Some(e), Some(m)) = (had_max_age, until_expires, max_age) {
                assert!(m <= e, "the added max-age outlives Expires: {ctx}");
            }
        }
    }

    #[test]
    fn the_variant_covers_the_engine_and_every_output_setting() {
        let vips = crate::transform::init_vips().unwrap();
        assert!(!vips.is_empty() && engine_version().contains(&vips));
        let request = ImageRequest {
            source: crate::request::Source {
                bucket: None,
                key: "k.jpg".into(),
            },
            edits: Vec::new(),
            output: Default::default(),
            headers: Vec::new(),
        };
        let tag =
            |settings: &OutputSettings| variant_tag(&request, Accepted::default(), settings, &[]);
        // Any settings: each change below must change the tag.
        let base = OutputSettings {
            limits: crate::request::Limits::default(),
            max_input_pixels: 50_000_000,
            max_frames: 256,
            effort: crate::transform::encode::Effort::default(),
            fast_shrink_on_load: false,
            max_response_bytes: None,
            auto_quality: Default::default(),
        };
        assert_eq!(tag(&base), tag(&base));
        let mut fast = base;
        fast.fast_shrink_on_load = true;
        let mut capped = base;
        capped.max_response_bytes = Some(1 << 20);
        let mut effort = base;
        effort.effort.gif += 1;
        let mut target = base;
        target.auto_quality.target_tenths += 1;
        for changed in [fast, capped, effort, target] {
            assert_ne!(tag(&changed), tag(&base), "{changed:?}");
        }
    }

    #[test]
    fn capping_keeps_the_directives_and_only_narrows() {
        let cases = [
            ("private, no-store", "private, no-store"),
            ("no-store", "no-store"),
            (
                "public, max-age=31536000, immutable",
                "public, max-age=600, immutable",
            ),
            ("public, immutable", "public, immutable, max-age=600"),
            ("private", "private, max-age=600"),
            ("s-maxage=86400, max-age=60", "s-maxage=600, max-age=60"),
            ("Max-Age = 99999 , PRIVATE", "max-age=600, private"),
            (
                "max-age=700, stale-while-revalidate=100",
                "max-age=600, stale-while-revalidate=0",
            ),
            (
                "max-age=500, stale-if-error=300",
                "max-age=500, stale-if-error=100",
            ),
            (
                "private=\"Set-Cookie, X-A\", max-age=9",
                "private=\"Set-Cookie, X-A\", max-age=9",
            ),
            ("no-cache=\"a, max-age=99999\"", "no-cache, max-age=600"),
            ("x\"", "max-age=600"),
        ];
        for (input, want) in cases {
            assert_eq!(cache_control::cap(input, 600, None), want, "{input}");
            check_cap(input, 600, None);
        }
        // a stored Expires earlier than the link's expiry still governs an added max-age
        assert_eq!(
            cache_control::cap("public", 600, Some(30)),
            "public, max-age=30"
        );
    }

    #[test]
    fn capping_holds_for_generated_hostile_values() {
        // fixed seeds, so that failures replay
        let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let input = hostile(&mut rng);
            let remaining = [0, 1, 600, 86_400][rng.usize(..4)];
            let until = [None, Some(0), Some(30), Some(u64::MAX)][rng.usize(..4)];
            check_cap(&input, remaining, until);
            // every truncation, at character boundaries
            if rng.usize(..50) == 0 {
                for (i, _) in input.char_indices() {
                    check_cap(&input[..i], remaining, until);
                }
            }
        }
    }

    #[test]
    fn the_parser_reads_generated_directives() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5_000 {
            let (name, value) = (
                pick(&mut rng, NAMES),
                pick(&mut rng, &["1", "abc", "é", "a, b=c", "q\"x", "b\\s"]),
            );
            let quoted = format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""));
            let shown = mixed_case(&mut rng, name);
            let written = match rng.usize(..3) {
                0 => shown,
                1 if value.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                    format!("{shown} = {value}")
                }
                _ => format!("{shown}={quoted}"),
            };
            let header = format!(" {written} ,, x-last");
            let parsed = cache_control::parse(&header);
            assert_eq!(parsed.len(), 2, "{header:?}: {parsed:?}");
            assert_eq!(parsed[0].name, name, "{header:?}");
            let want = written.contains('=').then(|| value.to_string());
            assert_eq!(parsed[0].value, want, "{header:?}");
            assert_eq!(parsed[1].name, "x-last");
        }
    }
}
