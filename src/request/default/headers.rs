//! The response headers a default request may ask for (its `headers`
//! object): SIH's deny list, plus headers this service owns or that would
//! let a crafted URL act on the whole origin.

use serde_json::{Map, Value};

/// Response headers a request may not set (lower case): SIH's deny list plus
/// `set-cookie`, hop-by-hop headers, and headers this service owns or that
/// would let a crafted URL act on the whole origin.
const DENIED_HEADERS: &[&str] = &[
    // SIH
    "authorization",
    "connection",
    "server",
    "transfer-encoding",
    "referrer-policy",
    "permissions-policy",
    "www-authenticate",
    "proxy-authenticate",
    "x-api-key",
    // DIT 7
    "set-cookie",
    // lambda_http sends a body as UTF-8 text when a response carries this,
    // which would corrupt every image byte >= 0x80
    "x-lambda-http-content-encoding",
    // hop-by-hop
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "upgrade",
    // ours
    "etag",
    "vary",
    "last-modified",
    "date",
    "age",
    "accept-ranges",
    "server-timing",
    // origin-wide effects
    "set-cookie2",
    "clear-site-data",
    "refresh",
    "alt-svc",
    "nel",
    "report-to",
    "reporting-endpoints",
];

/// Prefixes of response headers a request may not set (lower case), as SIH.
const DENIED_HEADER_PREFIXES: &[&str] = &[
    "content-",
    "access-control-",
    "x-amz-",
    "x-amzn-",
    "cross-origin-",
    "strict-transport-",
    "x-frame-",
    "x-content-",
    "x-xss-",
    "permissions-",
];

/// SIH's response-header deny list (case-insensitive): `false` for headers a
/// request may not set.
pub fn header_allowed(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !DENIED_HEADERS.contains(&name.as_str())
        && !DENIED_HEADER_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The allowed headers with string values that are valid HTTP and ASCII
/// (non-ASCII bytes would reach clients as Latin-1); for names repeated in
/// another case the last one wins.
pub(super) fn filter_headers(headers: &Map<String, Value>) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let Value::String(value) = value else {
            continue;
        };
        if !header_allowed(name)
            || http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || !value.is_ascii()
            || http::HeaderValue::from_str(value).is_err()
        {
            continue;
        }
        kept.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        kept.push((name.clone(), value.clone()));
    }
    kept
}
