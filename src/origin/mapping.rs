//! Named origins (`ORIGINS`) and the mappings that choose one per request
//! (`MAPPINGS`): the JSON contract, its validation at start-up, and the
//! choice. Pure: no I/O (secrets named in headers are resolved by the caller).
//!
//! ```sh
//! ORIGINS='{"photos": {"s3": "my-bucket", "prefix": "public/", "endpoint": "https://minio.internal:9000", "region": "eu-west-1"},
//!           "legacy": {"http": "https://img.example.com/assets/", "headers": {"Authorization": "secret:my-secret#token"}},
//!           "local":  {"dir": "/srv/images"},
//!           "dev":    {"http": "http://127.0.0.1:9000/", "allow_private": true}}'
//! MAPPINGS='[{"path": "/legacy/", "origin": "legacy", "strip_prefix": true},
//!            {"host": "cdn.example.com", "origin": "photos"},
//!            {"path": "/", "origin": "local"}]'
//! ```
//!
//! An origin is exactly one of `s3` (a bucket; `prefix`, `endpoint`,
//! `region`, `credentials`), `http` (a base URL; `headers`, `allow_private`,
//! `cache_control: "pass"`, `connect_timeout`, `answer_timeout`, `timeout`
//! in seconds, `max_attempts`, `max_bytes`, `ca`) or `dir` (a directory). A header
//! value `secret:<id>#<field>` names a Secrets Manager secret (and a JSON
//! field of it) instead of holding the value. Unknown fields, and fields of
//! another kind, are errors naming the origin.
//!
//! A mapping is `{host?, path?, origin, strip_prefix?}`. `path` is a prefix
//! of the original's path (`/` and the key) matched on a `/` boundary
//! (`/legacy/` and `/legacy` both match `/legacy/a.jpg`, neither matches
//! `/legacyx.jpg`); no `path` is `/`. The choice: a rule with a matching
//! `host` beats every host-less rule; then the longest prefix wins; no match
//! is `None` (404 `NoSuchKey`). With `strip_prefix`, the prefix is removed
//! from the key sent to the origin; without it, the key is the whole path.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::http::{HttpSettings, HttpTimeouts, checked_base};
use crate::error::Error;

/// A configuration error, naming the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {problem}")]
pub struct MappingError {
    /// `ORIGINS "name"` or `MAPPINGS[i]`.
    pub entry: String,
    /// What is wrong with it.
    pub problem: String,
}

fn origin_error(name: &str, problem: impl Into<String>) -> MappingError {
    MappingError {
        entry: format!("ORIGINS {name:?}"),
        problem: problem.into(),
    }
}

fn mapping_error(index: usize, problem: impl Into<String>) -> MappingError {
    MappingError {
        entry: format!("MAPPINGS[{index}]"),
        problem: problem.into(),
    }
}

/// The named origins, in the order they were written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origins {
    /// Name and origin, in order.
    pub entries: Vec<(String, OriginSpec)>,
}

impl Origins {
    /// The origin named `name`.
    pub fn get(&self, name: &str) -> Option<&OriginSpec> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, spec)| spec)
    }

    /// Parses and validates `ORIGINS`.
    pub fn parse(json: &str) -> Result<Origins, MappingError> {
        let raw: Ordered = serde_json::from_str(json).map_err(|e| MappingError {
            entry: "ORIGINS".into(),
            problem: format!("is not a JSON object of origins: {e}"),
        })?;
        if raw.0.is_empty() {
            return Err(MappingError {
                entry: "ORIGINS".into(),
                problem: "names no origin".into(),
            });
        }
        let mut entries = Vec::with_capacity(raw.0.len());
        for (name, value) in raw.0 {
            check_name(&name)?;
            let raw: RawOrigin = serde_json::from_value(value)
                .map_err(|e| origin_error(&name, format!("is not a valid origin: {e}")))?;
            let spec = raw.validate(&name)?;
            entries.push((name, spec));
        }
        Ok(Origins { entries })
    }
}

/// One origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginSpec {
    /// An S3 (or S3-compatible) bucket.
    S3(S3Spec),
    /// An HTTP(S) server.
    Http(HttpSpec),
    /// A directory (for `serve`).
    Dir(PathBuf),
}

/// An S3 origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Spec {
    /// The bucket.
    pub bucket: String,
    /// Put before every key (may be empty).
    pub prefix: String,
    /// An endpoint of its own (MinIO, R2, Ceph, GCS), else the default.
    pub endpoint: Option<Url>,
    /// A region of its own, else the default.
    pub region: Option<String>,
    /// `credentials: "secret:<id>"`: static keys of its own, from a Secrets
    /// Manager secret holding `access_key_id`, `secret_access_key` and
    /// optionally `session_token` (an S3-compatible store does not accept a
    /// Lambda role's credentials), else the default credentials.
    pub credentials: Option<String>,
}

/// Where a header's value comes from (its `Debug` never shows a literal value).
#[derive(Clone, PartialEq, Eq)]
pub enum HeaderSource {
    /// The value itself.
    Literal(String),
    /// `secret:<id>#<field>`: a Secrets Manager secret, or one JSON field of it.
    Secret {
        /// The secret's name or ARN.
        id: String,
        /// The JSON field holding the value, if the secret is a JSON object.
        field: Option<String>,
    },
}

impl fmt::Debug for HeaderSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            HeaderSource::Secret { id, field } => f
                .debug_struct("Secret")
                .field("id", id)
                .field("field", field)
                .finish(),
        }
    }
}

/// An HTTP origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    /// The base URL (ends with `/`).
    pub base: Url,
    /// Extra request headers.
    pub headers: Vec<(HeaderName, HeaderSource)>,
    /// Whether private, loopback and link-local addresses may be reached.
    pub allow_private: bool,
    /// `cache_control: "pass"`: the origin's `Cache-Control` is passed on.
    pub pass_cache_control: bool,
    /// A size limit of its own, else `MAX_SOURCE_BYTES`.
    pub max_bytes: Option<u64>,
    /// Timeouts and attempts.
    pub timeouts: HttpTimeouts,
    /// `ca`: a PEM file of certificate authorities trusted for this origin
    /// beside the system's (an internal origin under a private CA).
    pub ca: Option<PathBuf>,
}

impl HttpSpec {
    /// The origin's settings, with `max_bytes` defaulting to
    /// `default_max_bytes` (never above it) and each secret header value
    /// given by `resolve`.
    pub fn settings(
        &self,
        default_max_bytes: u64,
        mut resolve: impl FnMut(&HeaderSource) -> Result<String, String>,
    ) -> Result<HttpSettings, String> {
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, source) in &self.headers {
            let text = match source {
                HeaderSource::Literal(v) => v.clone(),
                other => resolve(other)?,
            };
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                format!("the value of the header {name} is not a valid header value")
            })?;
            value.set_sensitive(true);
            headers.push((name.clone(), value));
        }
        Ok(HttpSettings {
            base: self.base.clone(),
            headers,
            allow_private: self.allow_private,
            max_bytes: self
                .max_bytes
                .map_or(default_max_bytes, |m| m.min(default_max_bytes)),
            pass_cache_control: self.pass_cache_control,
            timeouts: self.timeouts,
            ca_pem: self
                .ca
                .as_ref()
                .map(|path| {
                    std::fs::read(path)
                        .map_err(|e| format!("the \"ca\" file {}: {e}", path.display()))
                })
                .transpose()?,
        })
    }
}

/// A JSON object kept in order, refusing duplicate names.
struct Ordered(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut entries: Vec<(String, serde_json::Value)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    if entries.iter().any(|(name, _)| *name == k) {
                        return Err(de::Error::custom(format!("the name {k:?} appears twice")));
                    }
                    entries.push((k, v));
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrigin {
    s3: Option<String>,
    http: Option<String>,
    dir: Option<String>,
    prefix: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    headers: Option<Ordered>,
    allow_private: Option<bool>,
    cache_control: Option<String>,
    max_bytes: Option<u64>,
    connect_timeout: Option<f64>,
    answer_timeout: Option<f64>,
    timeout: Option<f64>,
    max_attempts: Option<u32>,
    ca: Option<String>,
    credentials: Option<String>,
}

fn check_name(name: &str) -> Result<(), MappingError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(origin_error(
            name,
            "an origin's name is 1 to 64 of A-Z, a-z, 0-9, '-' and '_'",
        ))
    }
}

fn seconds(
    name: &str,
    field: &str,
    value: Option<f64>,
    default: Duration,
) -> Result<Duration, MappingError> {
    match value {
        None => Ok(default),
        Some(s) if s.is_finite() && (0.1..=900.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(origin_error(
            name,
            format!("{field} is {s}: give seconds between 0.1 and 900"),
        )),
    }
}

impl RawOrigin {
    fn validate(self, name: &str) -> Result<OriginSpec, MappingError> {
        let err = |p: String| origin_error(name, p);
        let kinds = [self.s3.is_some(), self.http.is_some(), self.dir.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(err("give exactly one of \"s3\", \"http\" or \"dir\"".into()));
        }
        let s3_fields = [
            ("prefix", self.prefix.is_some()),
            ("endpoint", self.endpoint.is_some()),
            ("region", self.region.is_some()),
            ("credentials", self.credentials.is_some()),
        ];
        let http_fields = [
            ("headers", self.headers.is_some()),
            ("allow_private", self.allow_private.is_some()),
            ("cache_control", self.cache_control.is_some()),
            ("max_bytes", self.max_bytes.is_some()),
            ("connect_timeout", self.connect_timeout.is_some()),
            ("answer_timeout", self.answer_timeout.is_some()),
            ("timeout", self.timeout.is_some()),
            ("max_attempts", self.max_attempts.is_some()),
            ("ca", self.ca.is_some()),
        ];
        let foreign = |kind: &str, fields: &[(&str, bool)]| {
            fields
                .iter()
                .find(|(_, set)| *set)
                .map(|(field, _)| err(format!("{field:?} does not apply to a {kind} origin")))
        };
        if let Some(bucket) = self.s3 {
            if let Some(e) = foreign("s3", &http_fields) {
                return Err(e);
            }
            let place = S3Place {
                prefix: self.prefix,
                endpoint: self.endpoint,
                region: self.region,
                credentials: self.credentials,
            };
            return validate_s3(name, bucket, place);
        }
        if let Some(dir) = self.dir {
            if let Some(e) = foreign("dir", &s3_fields).or_else(|| foreign("dir", &http_fields)) {
                return Err(e);
            }
            if dir.trim().is_empty() || dir.contains('\0') {
                return Err(err("\"dir\" must name a directory".into()));
            }
            return Ok(OriginSpec::Dir(PathBuf::from(dir)));
        }
        if let Some(e) = foreign("http", &s3_fields) {
            return Err(e);
        }
        let url = self.http.unwrap_or_default();
        let base = Url::parse(&url)
            .map_err(|e| err(format!("\"http\" is not a URL ({e})")))
            .and_then(|u| checked_base(&u).map_err(err))?;
        let mut headers = Vec::new();
        for (header, value) in self.headers.map(|h| h.0).unwrap_or_default() {
            let header_name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| err(format!("{header:?} is not a header name")))?;
            const MANAGED: &[&str] = &[
                "host",
                "content-length",
                "transfer-encoding",
                "connection",
                "if-none-match",
                "if-modified-since",
                "range",
            ];
            if MANAGED.contains(&header_name.as_str()) {
                return Err(err(format!(
                    "the header {header:?} is set by the origin itself"
                )));
            }
            let serde_json::Value::String(value) = value else {
                return Err(err(format!(
                    "the header {header:?} must have a string value"
                )));
            };
            let source = match value.strip_prefix("secret:") {
                Some(reference) => {
                    let (id, field) = match reference.rsplit_once('#') {
                        Some((id, field)) => (id, Some(field.to_string())),
                        None => (reference, None),
                    };
                    if id.is_empty() || field.as_deref() == Some("") {
                        return Err(err(format!(
                            "the header {header:?} names a secret as secret:<id>#<field>"
                        )));
                    }
                    HeaderSource::Secret {
                        id: id.to_string(),
                        field,
                    }
                }
                None => {
                    // checked now; the value itself is never in the message
                    HeaderValue::from_str(&value).map_err(|_| {
                        err(format!(
                            "the value of the header {header:?} is not a valid header value"
                        ))
                    })?;
                    HeaderSource::Literal(value)
                }
            };
            headers.push((header_name, source));
        }
        let pass_cache_control = match self.cache_control.as_deref() {
            None | Some("default") => false,
            Some("pass") => true,
            Some(other) => {
                return Err(err(format!(
                    "cache_control is {other:?}: use \"pass\" or \"default\""
                )));
            }
        };
        if self.max_bytes == Some(0) {
            return Err(err("max_bytes must be above 0".into()));
        }
        let d = HttpTimeouts::default();
        let timeouts = HttpTimeouts {
            connect: seconds(name, "connect_timeout", self.connect_timeout, d.connect)?,
            answer: seconds(name, "answer_timeout", self.answer_timeout, d.answer)?,
            total: seconds(name, "timeout", self.timeout, d.total)?,
            max_attempts: match self.max_attempts {
                None => d.max_attempts,
                Some(n @ 1..=10) => n,
                Some(n) => return Err(err(format!("max_attempts is {n}: give 1 to 10"))),
            },
        };
        if timeouts.connect > timeouts.total || timeouts.answer > timeouts.total {
            return Err(err(
                "connect_timeout and answer_timeout may not exceed timeout".into(),
            ));
        }
        let ca = match self.ca {
            Some(path) if path.trim().is_empty() || path.contains('\0') => {
                return Err(err("\"ca\" must name a PEM file".into()));
            }
            path => path.map(PathBuf::from),
        };
        Ok(OriginSpec::Http(HttpSpec {
            base,
            headers,
            allow_private: self.allow_private.unwrap_or(false),
            pass_cache_control,
            max_bytes: self.max_bytes,
            timeouts,
            ca,
        }))
    }
}

/// An S3 origin's fields beside its bucket, as written.
struct S3Place {
    prefix: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    credentials: Option<String>,
}

fn validate_s3(name: &str, bucket: String, place: S3Place) -> Result<OriginSpec, MappingError> {
    let S3Place {
        prefix,
        endpoint,
        region,
        credentials,
    } = place;
    let err = |p: String| origin_error(name, p);
    let credentials = credentials
        .map(|c| match c.strip_prefix("secret:") {
            Some(id) if !id.is_empty() && !id.contains('#') => Ok(id.to_string()),
            _ => Err(err(
                "\"credentials\" names a Secrets Manager secret as secret:<id> (a JSON object with access_key_id and secret_access_key)".into(),
            )),
        })
        .transpose()?;
    let bucket_ok = (1..=255).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !bucket_ok {
        return Err(err(format!(
            "\"s3\" must be a bucket name (letters, digits, '.', '-', '_'), not {bucket:?}"
        )));
    }
    let prefix = prefix.unwrap_or_default();
    if prefix.starts_with('/')
        || prefix.chars().any(char::is_control)
        || prefix.split('/').any(|s| s == "." || s == "..")
    {
        return Err(err(format!(
            "the prefix {prefix:?} may not start with '/' or hold '.', '..' or control characters"
        )));
    }
    let endpoint = endpoint
        .map(|e| {
            let url =
                Url::parse(&e).map_err(|why| err(format!("the endpoint is not a URL ({why})")))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(err(format!(
                    "the endpoint {e} must be an http or https URL"
                )));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(err("the endpoint may not hold credentials".into()));
            }
            Ok(url)
        })
        .transpose()?;
    if let Some(r) = &region
        && (r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(err(format!("the region {r:?} is not a region name")));
    }
    Ok(OriginSpec::S3(S3Spec {
        bucket,
        prefix,
        endpoint,
        region,
        credentials,
    }))
}

/// One mapping rule, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The host it applies to (lower case, no trailing dot, with a port only
    /// if one was given), or every host.
    pub host: Option<String>,
    /// The path prefix, without a trailing `/` (`` for the root).
    pub prefix: String,
    /// The origin's name.
    pub origin: String,
    /// Whether the prefix is removed from the key sent to the origin.
    pub strip_prefix: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    host: Option<String>,
    path: Option<String>,
    origin: String,
    #[serde(default)]
    strip_prefix: bool,
}

/// `ORIGINS` with the `MAPPINGS` that choose among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// The named origins.
    pub origins: Origins,
    /// The rules; with `ORIGINS` alone (one origin), one rule: `/` to it.
    pub mappings: Mappings,
}

impl Routes {
    /// Parses `ORIGINS` and `MAPPINGS`. `MAPPINGS` may be left out when
    /// `ORIGINS` names one origin, which then serves every path.
    pub fn parse(origins: &str, mappings: Option<&str>) -> Result<Routes, MappingError> {
        let origins = Origins::parse(origins)?;
        let mappings = match (mappings, origins.entries.as_slice()) {
            (Some(json), _) => Mappings::parse(json, &origins)?,
            (None, [(name, _)]) => Mappings {
                rules: vec![Mapping {
                    host: None,
                    prefix: String::new(),
                    origin: name.clone(),
                    strip_prefix: false,
                }],
            },
            (None, many) => {
                return Err(MappingError {
                    entry: "MAPPINGS".into(),
                    problem: format!(
                        "is needed to choose among the {} origins of ORIGINS",
                        many.len()
                    ),
                });
            }
        };
        Ok(Routes { origins, mappings })
    }

    /// Whether building the origins needs AWS: an S3 origin, or a header
    /// value held in Secrets Manager.
    pub fn needs_aws(&self) -> bool {
        self.origins.entries.iter().any(|(_, spec)| match spec {
            OriginSpec::S3(_) => true,
            OriginSpec::Http(h) => h
                .headers
                .iter()
                .any(|(_, v)| matches!(v, HeaderSource::Secret { .. })),
            OriginSpec::Dir(_) => false,
        })
    }

    /// The request keys (paths without their leading `/`) that `MAPPINGS`
    /// routes to the object `key` of `bucket`, host-less rules and host rules
    /// alike: what invalidating `/<key>*` must cover when that object
    /// changes. A rule counts only when its path maps back to this object,
    /// and no other rule for the same host takes that path first.
    pub fn request_keys(&self, bucket: &str, key: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (index, rule) in self.mappings.rules.iter().enumerate() {
            let Some(OriginSpec::S3(s3)) = self.origins.get(&rule.origin) else {
                continue;
            };
            let Some(rest) = key.strip_prefix(s3.prefix.as_str()) else {
                continue;
            };
            if s3.bucket != bucket || rest.is_empty() {
                continue;
            }
            let path = if rule.strip_prefix {
                format!("{}/{rest}", rule.prefix)
            } else {
                format!("/{rest}")
            };
            let chosen = self.mappings.choose(rule.host.as_deref(), &path);
            if chosen.is_some_and(|r| r.index == index && r.key == rest) {
                let request_key = path.trim_start_matches('/').to_string();
                if !out.contains(&request_key) {
                    out.push(request_key);
                }
            }
        }
        out
    }

    /// The buckets of the S3 origins, in order, each once.
    pub fn buckets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (_, spec) in &self.origins.entries {
            if let OriginSpec::S3(s3) = spec
                && !out.contains(&s3.bucket)
            {
                out.push(s3.bucket.clone());
            }
        }
        out
    }
}

/// The ordered mapping rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mappings {
    /// The rules, in the order written.
    pub rules: Vec<Mapping>,
}

/// The mapping chosen for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'a> {
    /// The rule's position in `MAPPINGS`.
    pub index: usize,
    /// The origin's name.
    pub origin: &'a str,
    /// The key to ask the origin for.
    pub key: String,
}

impl Mappings {
    /// Parses and validates `MAPPINGS` against the named `origins`.
    pub fn parse(json: &str, origins: &Origins) -> Result<Mappings, MappingError> {
        let raw: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|e| MappingError {
            entry: "MAPPINGS".into(),
            problem: format!("is not a JSON array of mappings: {e}"),
        })?;
        let mut rules: Vec<Mapping> = Vec::with_capacity(raw.len());
        for (i, value) in raw.into_iter().enumerate() {
            let raw: RawMapping = serde_json::from_value(value)
                .map_err(|e| mapping_error(i, format!("is not a valid mapping: {e}")))?;
            if origins.get(&raw.origin).is_none() {
                return Err(mapping_error(
                    i,
                    format!(
                        "names the origin {:?}, which ORIGINS does not define",
                        raw.origin
                    ),
                ));
            }
            let host = raw
                .host
                .map(|h| normal_host(&h).ok_or_else(|| mapping_error(i, format!("the host {h:?} is not a host name (ASCII, punycode for IDNs; an optional :port)"))))
                .transpose()?;
            let path = raw.path.unwrap_or_else(|| "/".into());
            let prefix = normal_prefix(&path)
                .map_err(|why| mapping_error(i, format!("the path {path:?} {why}")))?;
            if let Some(j) = rules
                .iter()
                .position(|r| r.host == host && r.prefix == prefix)
            {
                return Err(mapping_error(
                    i,
                    format!("repeats the host and path of MAPPINGS[{j}]"),
                ));
            }
            rules.push(Mapping {
                host,
                prefix,
                origin: raw.origin,
                strip_prefix: raw.strip_prefix,
            });
        }
        Ok(Mappings { rules })
    }

    /// The rule for a request to `host` (its `Host` header) for `path` (`/`
    /// and the original's key): a matching host rule before any host-less
    /// one, then the longest prefix. `None` when no rule matches, or the
    /// path is not absolute.
    pub fn choose(&self, host: Option<&str>, path: &str) -> Option<Route<'_>> {
        if !path.starts_with('/') {
            return None;
        }
        let host = host.and_then(normal_host);
        let (index, rule) = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| match (&r.host, &host) {
                (None, _) => true,
                (Some(want), Some(got)) => host_matches(want, got),
                (Some(_), None) => false,
            })
            .filter(|(_, r)| prefix_matches(&r.prefix, path))
            .max_by_key(|(i, r)| (r.host.is_some(), r.prefix.len(), std::cmp::Reverse(*i)))?;
        let rest = if rule.strip_prefix {
            path.get(rule.prefix.len()..).unwrap_or_default()
        } else {
            path
        };
        Some(Route {
            index,
            origin: &rule.origin,
            key: rest.trim_start_matches('/').to_string(),
        })
    }

    /// As [`Mappings::choose`], with the handler's errors: 400 `InvalidKey`
    /// for a path with empty, `.` or `..` segments or control characters
    /// (which a server or a later normalisation could read otherwise than
    /// the prefix match did), 404 `NoSuchKey` when no rule matches.
    pub fn route(&self, host: Option<&str>, path: &str) -> Result<Route<'_>, Error> {
        let key = path.strip_prefix('/').unwrap_or(path);
        let invalid = |reason| Error::InvalidKey {
            key: key.to_string(),
            reason,
        };
        if path.chars().any(char::is_control) {
            return Err(invalid("it contains a control character"));
        }
        if key.split('/').any(|s| s == "." || s == "..") {
            return Err(invalid("'.' and '..' segments are not allowed"));
        }
        if key.split('/').any(str::is_empty) {
            return Err(invalid("empty path segments are not allowed"));
        }
        self.choose(host, path).ok_or_else(|| Error::NotFound {
            key: key.to_string(),
        })
    }
}

/// Whether `prefix` (no trailing `/`) covers `path` on a `/` boundary.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Whether a rule's host covers a request's: equal, or equal but for the
/// request's port when the rule names none.
fn host_matches(want: &str, got: &str) -> bool {
    want == got || (!want.contains(':') && got.rsplit_once(':').is_some_and(|(h, _)| h == want))
}

/// A host name as compared: ASCII lower case, no trailing dot, an optional
/// numeric port; `None` when it is not one.
fn normal_host(host: &str) -> Option<String> {
    let host = host.trim().to_ascii_lowercase();
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        Some(_) => return None, // IPv6 literals are not host names
        None => (host.as_str(), None),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    (name_ok && port_ok).then(|| match port {
        Some(p) => format!("{name}:{p}"),
        None => name.to_string(),
    })
}

/// A configured path as a prefix: absolute, no empty, `.` or `..`
/// segments, no `?`, `#`, `\` or control characters; the trailing `/` dropped.
fn normal_prefix(path: &str) -> Result<String, &'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("must start with '/'");
    };
    if path
        .chars()
        .any(|c| c.is_control() || matches!(c, '?' | '#' | '\\'))
    {
        return Err("may not hold '?', '#', '\\' or control characters");
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(String::new());
    }
    if rest
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("may not hold empty, '.' or '..' segments");
    }
    Ok(format!("/{rest}"))
}

#[cfg(test)]
mod tests;
