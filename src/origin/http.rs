//! The HTTP(S) origin: originals are fetched from a web server below a base URL.
//!
//! **Keys stay below the base.** A key is appended to the base URL's path
//! segment by segment, each percent-encoded except for unreserved characters,
//! so no key changes the scheme, host or port or leaves the base path: `?`,
//! `#`, `@`, `:` and `%` are encoded; empty segments (`//`, a leading `/`),
//! `.` and `..` (also as `%2e%2e`, for servers that decode twice), `\` and
//! control characters are refused with 400 `InvalidKey`.
//!
//! **The address guard** ([`super::guard`]) runs on every connection: a
//! resolver filters the addresses a name resolves to, at connect time (so DNS
//! rebinding gains nothing), and literal-IP hosts, which skip the resolver,
//! are checked before each request. Redirects are followed here, not by the
//! client: at most 3, `http`/`https` only, never from `https` down to
//! `http`, each hop checked again; the extra headers (secrets, e.g. an
//! `Authorization`) go only to the base URL's own scheme, host and port. A
//! refused address answers 502 `OriginRefused`, naming the address class.
//! No proxy is used (a proxy would resolve the name, not us).
//!
//! **Like the S3 origin:** `Content-Length` is checked against the size limit
//! and reserved ([`super::Reserve`]) before the body is read, and the body is
//! held to it (to the limit when unstated); one budget of attempts (a GET is
//! idempotent: retried after a 5xx, 429, a reset, a cut body or an attempt
//! timeout, with backoff), each attempt's answer bounded, and the whole fetch,
//! body included, bounded by the total timeout.
//!
//! **Caching:** the origin's `ETag` is the identity (else `Last-Modified`, as
//! `lm-<seconds>`, else a hash of the bytes); the identity a client holds is
//! sent back as `If-None-Match` (or `If-Modified-Since`), and a 304 answers
//! [`Fetched::Unchanged`]. The origin's `Cache-Control` and `Expires` are
//! kept only when configured (`cache_control: "pass"`).
//!
//! | origin answer | our answer |
//! |---|---|
//! | 404, 410, 401, 403 | 404 `NoSuchKey` (401/403 logged) |
//! | 429 | 503 `OriginUnavailable` |
//! | 5xx, resets, bad redirects | 502 `OriginError` |
//! | refused address | 502 `OriginRefused` |
//! | timeouts | 504 `OriginTimeout` |
//! | larger than the limit | 413 `SourceTooLarge` |

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};

use super::guard::{self, Verdict};
use super::retry::{Failure, Reserved, retrying};
use super::{Ask, FetchFuture, Fetched, Meta, Origin, Original, Reserve};
use crate::error::{Error, Result};

/// Redirects followed at most, per attempt.
pub const MAX_REDIRECTS: usize = 3;

/// How to reach one HTTP origin.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The base URL (`http` or `https`); keys are appended to its path.
    pub base: Url,
    /// Extra request headers (values are secrets: never logged).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Whether private, loopback and link-local addresses may be reached.
    pub allow_private: bool,
    /// Largest original fetched, in bytes.
    pub max_bytes: u64,
    /// Whether the origin's `Cache-Control` and `Expires` are passed on.
    pub pass_cache_control: bool,
    /// Timeouts and attempts.
    pub timeouts: HttpTimeouts,
    /// Certificate authorities (PEM) trusted beside the system's.
    pub ca_pem: Option<Vec<u8>>,
}

/// How long an HTTP origin may take, and how often a GET is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// To open a connection (3 s).
    pub connect: Duration,
    /// For one attempt's response head, redirects included (10 s).
    pub answer: Duration,
    /// For the whole fetch, retries and body included (20 s).
    pub total: Duration,
    /// Attempts in all, the first included (3).
    pub max_attempts: u32,
}

impl Default for HttpTimeouts {
    /// As the S3 origin's: inside API Gateway's 29 s.
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(3),
            answer: Duration::from_secs(10),
            total: Duration::from_secs(20),
            max_attempts: 3,
        }
    }
}

/// A last look at each address before a connection, for tests: `false`
/// refuses it whatever the guard said.
type Gate = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Hooks that only tests set (production has none): the test server's own
/// address, let through without the guard, and a gate after the guard that
/// sees (and may refuse) every address about to be connected to.
#[derive(Clone, Default)]
struct Hooks {
    exempt: Option<IpAddr>,
    gate: Option<Gate>,
}

/// Why an address may not be connected to.
enum Barred {
    Refused(Verdict),
    Gated,
}

impl Hooks {
    /// The guard's answer for `ip`, between the test hooks.
    fn admit(&self, ip: IpAddr, allow_private: bool) -> std::result::Result<(), Barred> {
        if self.exempt != Some(ip) {
            guard::check(ip, allow_private).map_err(Barred::Refused)?;
        }
        match &self.gate {
            Some(gate) if !gate(ip) => Err(Barred::Gated),
            _ => Ok(()),
        }
    }
}

/// Serves originals from an HTTP(S) server.
#[derive(Clone)]
pub struct HttpOrigin {
    client: reqwest::Client,
    settings: HttpSettings,
    hooks: Hooks,
}

impl fmt::Debug for HttpOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .settings
            .headers
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        f.debug_struct("HttpOrigin")
            .field("base", &self.settings.base.as_str())
            .field("headers", &names)
            .field("allow_private", &self.settings.allow_private)
            .finish_non_exhaustive()
    }
}

/// An address the guard refused, carried through the client's error chain.
#[derive(Debug)]
struct Refused {
    host: String,
    ip: IpAddr,
    verdict: Verdict,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host == self.ip.to_string() {
            write!(f, "the address {} is {}", self.ip, self.verdict)
        } else {
            write!(f, "{} resolves to {}, {}", self.host, self.ip, self.verdict)
        }
    }
}

impl std::error::Error for Refused {}

impl Refused {
    fn into_error(self, url: &Url) -> Error {
        Error::OriginRefused {
            class: self.verdict.to_string(),
            detail: format!("{url}: {self}"),
        }
    }
}

/// An address the test gate refused (the guard let it through).
#[derive(Debug)]
struct Gated(IpAddr);

impl fmt::Display for Gated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the test gate refused {}", self.0)
    }
}

impl std::error::Error for Gated {}

/// The resolver: the system's, with the guard over its answers. Refused
/// addresses are dropped; a name left with none fails with [`Refused`].
struct GuardedResolver {
    allow_private: bool,
    hooks: Hooks,
}

/// An error of the resolver, as the client carries it.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl GuardedResolver {
    /// The addresses `host` resolved to that the guard lets through, or why
    /// none is left (the first refused address's [`Refused`]).
    fn filter(
        &self,
        host: &str,
        resolved: impl IntoIterator<Item = SocketAddr>,
    ) -> std::result::Result<Vec<SocketAddr>, BoxError> {
        let mut allowed: Vec<SocketAddr> = Vec::new();
        let mut barred: Option<BoxError> = None;
        for addr in resolved {
            match self.hooks.admit(addr.ip(), self.allow_private) {
                Ok(()) => allowed.push(addr),
                Err(Barred::Refused(verdict)) => {
                    tracing::warn!(%host, ip = %addr.ip(), class = %verdict, "HTTP origin: address refused");
                    barred.get_or_insert(Box::new(Refused {
                        host: host.to_string(),
                        ip: addr.ip(),
                        verdict,
                    }));
                }
                Err(Barred::Gated) => {
                    barred.get_or_insert(Box::new(Gated(addr.ip())));
                }
            }
        }
        if allowed.is_empty() {
            return Err(barred.unwrap_or_else(|| format!("{host} resolves to no address").into()));
        }
        Ok(allowed)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let resolver = GuardedResolver {
            allow_private: self.allow_private,
            hooks: self.hooks.clone(),
        };
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = resolver.filter(&host, resolved)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl HttpOrigin {
    /// An origin for `settings`, or why the settings are unusable.
    pub fn new(settings: HttpSettings) -> std::result::Result<HttpOrigin, String> {
        HttpOrigin::build(settings, Hooks::default())
    }

    fn build(mut settings: HttpSettings, hooks: Hooks) -> std::result::Result<HttpOrigin, String> {
        settings.base = checked_base(&settings.base)?;
        for (_, value) in &mut settings.headers {
            value.set_sensitive(true);
        }
        let mut client = reqwest::Client::builder();
        if let Some(pem) = &settings.ca_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|roots| !roots.is_empty())
                .ok_or("the \"ca\" file holds no PEM certificate")?;
            client = client.tls_certs_merge(roots);
        }
        let client = client
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .referer(false)
            .connect_timeout(settings.timeouts.connect)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("image-handler/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(GuardedResolver {
                allow_private: settings.allow_private,
                hooks: hooks.clone(),
            })
            .build()
            .map_err(|e| format!("the HTTP client could not start: {e}"))?;
        Ok(HttpOrigin {
            client,
            settings,
            hooks,
        })
    }

    /// The origin with test hooks: `exempt` (the test server's address)
    /// skips the guard, and `gate` sees every address after the guard.
    #[cfg(test)]
    fn with_hooks(
        settings: HttpSettings,
        exempt: Option<IpAddr>,
        gate: Gate,
    ) -> std::result::Result<HttpOrigin, String> {
        HttpOrigin::build(
            settings,
            Hooks {
                exempt,
                gate: Some(gate),
            },
        )
    }

    /// The base URL (normalised to end with `/`).
    pub fn base(&self) -> &Url {
        &self.settings.base
    }

    /// The URL of `key`: below the base, or 400 `InvalidKey`.
    pub fn url_of(&self, key: &str) -> Result<Url> {
        key_url(&self.settings.base, key)
    }

    async fn get(&self, ask: Ask<'_>) -> Result<Fetched> {
        let (source, known, reserve) = (ask.source, ask.known, ask.reserve);
        if let Some(bucket) = &source.bucket {
            return Err(Error::BucketNotAllowed(bucket.clone()));
        }
        let key = source.key.as_str();
        let url = self.url_of(key)?;
        let t = self.settings.timeouts;
        let reserved = Reserved::default();
        let attempts = retrying(t.max_attempts, "HTTP origin", &url, || {
            self.get_once(&url, key, known, reserve, &reserved)
        });
        tokio::time::timeout(t.total, attempts)
            .await
            .unwrap_or_else(|_| {
                Err(Error::OriginTimeout {
                    detail: format!("{url}: not complete within {:?}", t.total),
                })
            })
    }

    /// Checks a literal-IP host (which the resolver never sees) with the guard.
    fn check_literal(&self, url: &Url) -> std::result::Result<(), Failure> {
        let Some(host) = url.host_str() else {
            return Err(Failure::Final(Error::Origin {
                detail: format!("{url}: no host"),
            }));
        };
        // The URL parser writes IPv4 literals dotted (`0x7f.1` is
        // `127.0.0.1`) and IPv6 ones in brackets.
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let Ok(ip) = literal.parse::<IpAddr>() else {
            return Ok(()); // a name: the resolver checks its addresses
        };
        match self.hooks.admit(ip, self.settings.allow_private) {
            Ok(()) => Ok(()),
            Err(Barred::Refused(verdict)) => {
                tracing::warn!(%url, %ip, class = %verdict, "HTTP origin: address refused");
                let refused = Refused {
                    host: ip.to_string(),
                    ip,
                    verdict,
                };
                Err(Failure::Final(refused.into_error(url)))
            }
            Err(Barred::Gated) => Err(Failure::Final(Error::Origin {
                detail: Gated(ip).to_string(),
            })),
        }
    }

    /// Sends one GET, following redirects, up to the response head.
    async fn send(
        &self,
        url: &Url,
        known: Option<&str>,
    ) -> std::result::Result<(Url, reqwest::Response), Failure> {
        let mut url = url.clone();
        let mut hops = 0;
        loop {
            self.check_literal(&url)?;
            let mut request = self.client.get(url.clone());
            if same_origin(&url, &self.settings.base) {
                for (name, value) in &self.settings.headers {
                    request = request.header(name, value);
                }
            }
            request = request.headers(conditional(known));
            let response = request.send().await.map_err(|e| client_failure(e, &url))?;
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok((url, response));
            }
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| {
                    Failure::Final(Error::Origin {
                        detail: format!("{url}: {status} without a usable Location"),
                    })
                })?;
            let next = url.join(location).map_err(|e| {
                Failure::Final(Error::Origin {
                    detail: format!("{url}: {status} to an invalid Location: {e}"),
                })
            })?;
            hops += 1;
            let refuse = |why: &str| {
                Failure::Final(Error::Origin {
                    detail: format!("{url}: redirect to {next} refused: {why}"),
                })
            };
            if hops > MAX_REDIRECTS {
                return Err(refuse("more than 3 redirects"));
            }
            if !matches!(next.scheme(), "http" | "https") {
                return Err(refuse("not http or https"));
            }
            if url.scheme() == "https" && next.scheme() == "http" {
                return Err(refuse("from https down to http"));
            }
            if !next.username().is_empty() || next.password().is_some() {
                return Err(refuse("credentials in the URL"));
            }
            tracing::debug!(from = %url, to = %next, "HTTP origin redirect");
            url = next;
        }
    }

    async fn get_once(
        &self,
        url: &Url,
        key: &str,
        known: Option<&str>,
        reserve: &dyn Reserve,
        reserved: &Reserved,
    ) -> std::result::Result<Fetched, Failure> {
        let answer = self.settings.timeouts.answer;
        let (url, response) = tokio::time::timeout(answer, self.send(url, known))
            .await
            .unwrap_or_else(|_| {
                Err(Failure::Transient(Error::OriginTimeout {
                    detail: format!("{url}: no answer within {answer:?}"),
                }))
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        if status == StatusCode::NOT_MODIFIED {
            if known.is_none() {
                return Err(Failure::Final(Error::Origin {
                    detail: format!("{url}: 304 to an unconditional request"),
                }));
            }
            return Ok(Fetched::Unchanged(Meta {
                identity: known.unwrap_or_default().to_string(),
                ..self.meta(&headers)
            }));
        }
        status_failure(status, &url, key)?;
        let max = self.settings.max_bytes;
        let declared = response.content_length();
        if let Some(size) = declared
            && size > max
        {
            return Err(Failure::Final(Error::SourceTooLarge {
                key: key.to_string(),
                size,
                limit: max,
            }));
        }
        // Memory for the body before it is read (all it may be, if unstated);
        // a retry reserves only what a larger body needs beyond the first.
        let needed = declared.unwrap_or(max);
        reserved.up_to(reserve, key, needed).await?;
        let bytes = read_body(response, &url, key, declared, max).await?;
        let mut meta = self.meta(&headers);
        if meta.identity.is_empty() {
            use sha2::{Digest, Sha256};
            meta.identity = format!("b{}", hex::encode(&Sha256::digest(&bytes)[..12]));
        }
        if known == Some(meta.identity.as_str()) {
            return Ok(Fetched::Unchanged(meta));
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Fetched::Full(Original {
            bytes,
            content_type,
            meta,
        }))
    }

    /// The caching metadata of a response's headers.
    fn meta(&self, headers: &HeaderMap) -> Meta {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let last_modified =
            text(header::LAST_MODIFIED).and_then(|d| httpdate::parse_http_date(d).ok());
        let identity = match text(header::ETAG) {
            Some(etag) => super::identity_token(etag.trim().trim_start_matches("W/")),
            None => last_modified.map(modified_identity).unwrap_or_default(),
        };
        let pass = |name| {
            self.settings
                .pass_cache_control
                .then(|| text(name).map(str::to_string))
                .flatten()
        };
        Meta {
            identity,
            last_modified,
            cache_control: pass(header::CACHE_CONTROL),
            expires: pass(header::EXPIRES),
        }
    }
}

/// The identity of an original known only by its `Last-Modified`.
fn modified_identity(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("lm-{secs:x}")
}

/// The conditional headers for the identity a client holds.
fn conditional(known: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(known) = known.filter(|k| !k.is_empty()) else {
        return headers;
    };
    if let Some(secs) = known
        .strip_prefix("lm-")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
    {
        let time = UNIX_EPOCH + Duration::from_secs(secs);
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(time)) {
            headers.insert(header::IF_MODIFIED_SINCE, v);
        }
    } else if known
        .strip_prefix('b')
        .is_some_and(|h| h.len() == 24 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        // a hash of the bytes: the origin knows no such tag
    } else if let Ok(v) = HeaderValue::from_str(&format!("\"{known}\"")) {
        headers.insert(header::IF_NONE_MATCH, v);
    }
    headers
}

/// A non-success status as a failure, or `Ok` for 2xx.
fn status_failure(status: StatusCode, url: &Url, key: &str) -> std::result::Result<(), Failure> {
    let detail = || format!("{url}: the origin answered {status}");
    match status.as_u16() {
        200..=299 => Ok(()),
        404 | 410 => Err(Failure::Final(Error::NotFound {
            key: key.to_string(),
        })),
        401 | 403 => {
            tracing::warn!(%url, %status, "the HTTP origin refused the request; answering 404");
            Err(Failure::Final(Error::NotFound {
                key: key.to_string(),
            }))
        }
        429 => Err(Failure::Transient(Error::OriginUnavailable {
            detail: detail(),
        })),
        500..=599 => Err(Failure::Transient(Error::Origin { detail: detail() })),
        _ => Err(Failure::Final(Error::Origin { detail: detail() })),
    }
}

/// The client's error as a failure: a refused address is final, the rest
/// (timeouts, resets, refused connections) worth another attempt.
fn client_failure(e: reqwest::Error, url: &Url) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(r) = err.downcast_ref::<Refused>() {
            let refused = Refused {
                host: r.host.clone(),
                ip: r.ip,
                verdict: r.verdict,
            };
            return Failure::Final(refused.into_error(url));
        }
        if let Some(g) = err.downcast_ref::<Gated>() {
            return Failure::Final(Error::Origin {
                detail: g.to_string(),
            });
        }
        source = err.source();
    }
    let detail = format!("{url}: {}", error_chain(&e));
    if e.is_timeout() {
        Failure::Transient(Error::OriginTimeout { detail })
    } else {
        Failure::Transient(Error::Origin { detail })
    }
}

/// An error with its causes, for the log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

/// Reads the body, held to `declared` (a longer one is cut and retried) or
/// to `max` when unstated (a longer one is 413).
async fn read_body(
    mut response: reqwest::Response,
    url: &Url,
    key: &str,
    declared: Option<u64>,
    max: u64,
) -> std::result::Result<Bytes, Failure> {
    let limit = declared.unwrap_or(max);
    let mut bytes = BytesMut::with_capacity(usize::try_from(limit.min(1 << 20)).unwrap_or(0));
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                let detail = format!("{url}: the body failed: {}", error_chain(&e));
                return Err(Failure::Transient(if e.is_timeout() {
                    Error::OriginTimeout { detail }
                } else {
                    Error::Origin { detail }
                }));
            }
        };
        let size = (bytes.len() + chunk.len()) as u64;
        if size > limit {
            return Err(match declared {
                Some(stated) => Failure::Transient(Error::Origin {
                    detail: format!("{url}: more than the {stated} bytes stated"),
                }),
                None => Failure::Final(Error::SourceTooLarge {
                    key: key.to_string(),
                    size,
                    limit: max,
                }),
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    if let Some(stated) = declared
        && bytes.len() as u64 != stated
    {
        return Err(Failure::Transient(Error::Origin {
            detail: format!("{url}: {} bytes of the {stated} stated", bytes.len()),
        }));
    }
    Ok(bytes.freeze())
}

/// Whether `a` and `b` have the same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The base URL, checked: `http` or `https`, a host, no credentials, query
/// or fragment; its path made to end with `/`.
pub fn checked_base(base: &Url) -> std::result::Result<Url, String> {
    if !matches!(base.scheme(), "http" | "https") {
        return Err(format!(
            "{base}: the scheme must be http or https, not {}",
            base.scheme()
        ));
    }
    if base.host().is_none() {
        return Err(format!("{base}: no host"));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err("the base URL may not hold credentials: use headers".into());
    }
    if base.query().is_some() || base.fragment().is_some() {
        return Err(format!("{base}: a base URL has no query or fragment"));
    }
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

/// Characters kept as they are in a path segment: the unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `key` appended to `base`'s path, or 400 `InvalidKey`.
pub fn key_url(base: &Url, key: &str) -> Result<Url> {
    let invalid = |reason| Error::InvalidKey {
        key: key.to_string(),
        reason,
    };
    if key.is_empty() {
        return Err(invalid("it is empty"));
    }
    if key.chars().any(char::is_control) {
        return Err(invalid("it contains a control character"));
    }
    if key.contains('\\') {
        return Err(invalid("it contains a backslash"));
    }
    let mut path = String::with_capacity(base.path().len() + key.len() * 3);
    path.push_str(base.path());
    for (i, segment) in key.split('/').enumerate() {
        if segment.is_empty() {
            return Err(invalid(
                "empty path segments ('//', a leading '/') are not allowed",
            ));
        }
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if matches!(decoded.as_ref(), "." | "..")
            || decoded.contains(['/', '\\'])
            || matches!(segment, "." | "..")
        {
            return Err(invalid(
                "'.' and '..' segments are not allowed, encoded or not",
            ));
        }
        if i > 0 {
            path.push('/');
        }
        path.extend(percent_encoding::utf8_percent_encode(segment, SEGMENT));
    }
    let mut url = base.clone();
    url.set_path(&path);
    // The encoding above leaves nothing that could change these; checked anyway.
    if url.scheme() != base.scheme()
        || url.host() != base.host()
        || url.port() != base.port()
        || !url.path().starts_with(base.path())
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(invalid("it would leave the origin's base URL"));
    }
    Ok(url)
}

impl Origin for HttpOrigin {
    fn fetch_reserving<'a>(&'a self, ask: Ask<'a>) -> FetchFuture<'a> {
        Box::pin(self.get(ask))
    }
}

#[cfg(test)]
mod tests;
