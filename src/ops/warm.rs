//! Warming the CDN on upload: requesting an uploaded original's preset
//! variants through CloudFront, so that the first viewer finds them cached.
//!
//! This module owns what warming requests and when:
//!
//! - **What.** For each original created in the default source bucket (the
//!   one query-style URLs address), each preset of `WARM_PRESETS` in each
//!   `Accept` class of `WARM_ACCEPT`: `GET <distribution>/<key>?preset=<name>`,
//!   the URL [`super::urls::UrlWriter`] writes (checked against the service's
//!   presets and limits, and signed with the first active key, without
//!   `expires`, when signing is on). The viewer-request function keeps at most
//!   three `Accept` values in the cache key (`image/avif`, `image/webp`, or
//!   none); each [`AcceptClass`] sends exactly the value that function keeps,
//!   so the warm request lands in the cache entry viewers of that class use.
//! - **When.** S3's event does not say whether the key existed before (and a
//!   read after the fact cannot tell either), so every `ObjectCreated` counts
//!   as a possible overwrite: the change invalidator has created the
//!   `/<key>*` invalidation, and warming starts only once every invalidation
//!   of the event reads `Completed` (`GetInvalidation`, backing off from
//!   [`FIRST_POLL`] to [`MAX_POLL`], for at most `WARM_WAIT`). Past that bound
//!   nothing is warmed and a log line says why: a warm request before the
//!   invalidation completes could be answered from, or leave behind, the old
//!   variant. A key the same event also removes is not warmed.
//! - **How.** At most `WARM_CONCURRENCY` requests at once, each within what
//!   is left of the invocation; requests not started by then are skipped.
//!   A response is read to the end, so CloudFront caches the whole variant.
//!   Each result is one JSON log line (target `image_handler::warm`, the path
//!   without its query, so signatures never reach the logs), and the counts
//!   go to EMF as `Warmed`, `WarmFailed` and `WarmSkipped`.
//!
//! Warming is best effort: its failures never fail the invocation (the
//! invalidation, which is what Lambda retries, has succeeded).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use super::OpsError;
use super::events::{ChangeReport, ObjectChange, Reach};
use super::invalidate::{Invalidator, Polling};
use super::urls::{Signer, UrlWriter};
use crate::keys::Keys;
use crate::origin::mapping::Routes;
use crate::request::assemble::PRESET_PARAM;
use crate::transform::format::AutoFormat;

/// The first pause between two `GetInvalidation` polls.
pub const FIRST_POLL: Duration = Duration::from_millis(500);
/// The longest pause between two `GetInvalidation` polls.
pub const MAX_POLL: Duration = Duration::from_secs(10);
/// Default `WARM_WAIT`: how long warming waits for the invalidation.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);
/// Default `WARM_CONCURRENCY`.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// The longest one warm request may take (the distribution's origin read timeout).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings of warming on upload (`WARM_PRESETS`; read by the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmSettings {
    /// The distribution's base URL (from `DISTRIBUTION_DOMAIN`, see [`base_url`]).
    pub base: String,
    /// The presets to warm (`WARM_PRESETS`), each one of `PRESETS`.
    pub presets: Vec<String>,
    /// The `Accept` classes to warm them for (`WARM_ACCEPT`, see [`classes`]).
    pub classes: Vec<AcceptClass>,
    /// Warm requests in flight at once (`WARM_CONCURRENCY`).
    pub concurrency: usize,
    /// How long to wait for the invalidation to complete (`WARM_WAIT`).
    pub wait: Duration,
}

/// The `Accept` values the viewer-request function keeps in the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AcceptClass {
    /// Viewers accepting AVIF (kept as `Accept: image/avif`).
    Avif,
    /// Viewers accepting WebP but not AVIF (kept as `Accept: image/webp`).
    Webp,
    /// Every other viewer (no `Accept` in the cache key).
    Other,
}

impl AcceptClass {
    /// The class's name in `WARM_ACCEPT`.
    pub fn name(self) -> &'static str {
        match self {
            AcceptClass::Avif => "avif",
            AcceptClass::Webp => "webp",
            AcceptClass::Other => "other",
        }
    }

    /// The `Accept` header a warm request sends: the value the viewer-request
    /// function keeps for this class (for `other`, one it drops).
    pub fn accept(self) -> &'static str {
        match self {
            AcceptClass::Avif => "image/avif",
            AcceptClass::Webp => "image/webp",
            AcceptClass::Other => "*/*",
        }
    }
}

/// Reads `WARM_ACCEPT`: a comma-separated list of `avif`, `webp` and
/// `other`; unset, the classes `AUTO_FORMAT` makes (avif and webp when on,
/// and always other). A class `AUTO_FORMAT` does not make is refused: the
/// viewer-request function would fold it into `other`.
pub fn classes(value: Option<&str>, auto: AutoFormat) -> Result<Vec<AcceptClass>, String> {
    let made = |class: AcceptClass| match class {
        AcceptClass::Avif => auto.avif,
        AcceptClass::Webp => auto.webp,
        AcceptClass::Other => true,
    };
    let Some(value) = value else {
        return Ok([AcceptClass::Avif, AcceptClass::Webp, AcceptClass::Other]
            .into_iter()
            .filter(|c| made(*c))
            .collect());
    };
    let mut out = Vec::new();
    for part in value.split(',').map(|p| p.trim().to_ascii_lowercase()) {
        let class = match part.as_str() {
            "avif" => AcceptClass::Avif,
            "webp" => AcceptClass::Webp,
            "other" => AcceptClass::Other,
            _ => {
                return Err(format!(
                    "{part:?} is not an Accept class: use avif, webp or other (comma-separated)"
                ));
            }
        };
        if !made(class) {
            return Err(format!(
                "names {}, but AUTO_FORMAT does not negotiate it, so the viewer-request function \
                 caches those viewers with the other class",
                class.name()
            ));
        }
        if !out.contains(&class) {
            out.push(class);
        }
    }
    if out.is_empty() {
        return Err("names no Accept class".into());
    }
    Ok(out)
}

/// Reads `WARM_PRESETS`: a comma-separated list of preset names.
pub fn preset_names(value: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    names
}

/// The distribution's base URL from `DISTRIBUTION_DOMAIN`: a domain
/// (`d111111abcdef8.cloudfront.net`, or an alternate domain of the
/// distribution) is reached over HTTPS. A URL with a scheme is accepted too,
/// `https://` for any host, and `http://` only for a loopback host (a local
/// stand-in for the distribution, in tests and development).
pub fn base_url(value: &str) -> Result<String, String> {
    let value = value.trim().trim_end_matches('/');
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("https://{value}")
    };
    let url = reqwest::Url::parse(&with_scheme)
        .map_err(|e| format!("is not a domain or a base URL ({e})"))?;
    let host = url.host_str().unwrap_or_default();
    if host.is_empty()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(
            "must be the distribution's domain (d111111abcdef8.cloudfront.net), without a path or query"
                .into(),
        );
    }
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(
                "uses http://, which is only for a loopback stand-in (tests, development): CloudFront is reached over HTTPS"
                    .into(),
            );
        }
        other => {
            return Err(format!(
                "has the scheme {other:?}; use a domain or https://"
            ));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// How one warm request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The distribution answered 2xx with the whole variant.
    Warmed,
    /// The request failed, or the distribution answered otherwise.
    Failed,
    /// Not sent (the invalidation did not complete in time, or no time was left).
    Skipped,
}

/// One warm request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarmResult {
    /// The original's key.
    pub key: String,
    /// The preset.
    pub preset: String,
    /// The `Accept` class.
    pub accept: AcceptClass,
    /// How it ended.
    pub outcome: Outcome,
    /// The distribution's status, when it answered.
    pub status: Option<u16>,
    /// CloudFront's `X-Cache` (`Miss from cloudfront`, `Hit from cloudfront`).
    pub cache: Option<String>,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
}

/// What warming did for one event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WarmReport {
    /// Requests answered 2xx.
    pub warmed: usize,
    /// Requests that failed.
    pub failed: usize,
    /// Requests not sent.
    pub skipped: usize,
    /// The invalidations waited for (whether they completed in time shows in the results).
    pub waited_for: Vec<String>,
    /// Every request, in the order they were planned.
    pub results: Vec<WarmResult>,
}

/// Warms the variants of uploaded originals through the distribution.
#[derive(Debug, Clone)]
pub struct Warmer {
    settings: WarmSettings,
    invalidator: Invalidator,
    reach: Reach,
    writer: UrlWriter,
    keys: Option<Arc<Keys>>,
    client: reqwest::Client,
    emf: bool,
}

impl Warmer {
    /// Warms through `settings.base`, waiting for `invalidator`'s
    /// invalidations; `bucket` is the default source bucket (the one
    /// query-style URLs address); `writer` writes the URLs (configured with
    /// the service's presets and limits, unsigned); `keys` sign them when
    /// signing is on. With `emf`, the counts are printed as EMF.
    pub fn new(
        settings: WarmSettings,
        invalidator: Invalidator,
        bucket: &str,
        writer: UrlWriter,
        keys: Option<Keys>,
        emf: bool,
    ) -> Result<Warmer, OpsError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("image-handler-warm/", env!("CARGO_PKG_VERSION")))
            // A redirect means a misconfiguration (http to https, another host): reported, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| OpsError::Config(format!("cannot build the warm HTTP client: {e}")))?;
        Ok(Warmer {
            settings,
            invalidator,
            reach: Reach::Buckets(vec![bucket.to_string()]),
            writer,
            keys: keys.map(Arc::new),
            client,
            emf,
        })
    }

    /// The same, for originals served through `ORIGINS` and `MAPPINGS`:
    /// an upload warms every path the mappings route to it.
    pub fn with_routes(mut self, routes: Routes) -> Warmer {
        self.reach = Reach::Routes(routes);
        self
    }

    /// The request keys of `changes` to warm: of objects created where a
    /// query-style URL reaches them (the default bucket, or a mapping's
    /// origin), not folder markers, not also removed by the same event; each once.
    pub fn keys_to_warm(&self, changes: &[ObjectChange]) -> Vec<String> {
        let created = |c: &ObjectChange| c.event.starts_with("ObjectCreated:");
        let mut keys: Vec<String> = Vec::new();
        for change in changes {
            let removed = changes
                .iter()
                .any(|o| o.bucket == change.bucket && o.key == change.key && !created(o));
            if !created(change) || removed || change.key.ends_with('/') {
                continue;
            }
            for key in self.reach.request_keys(&change.bucket, &change.key) {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// Warms the originals `changes` created, once the invalidations of
    /// `invalidated` (the change invalidator's report on the same event) are
    /// completed, finishing by `deadline`.
    pub async fn warm(
        &self,
        changes: &[ObjectChange],
        invalidated: &ChangeReport,
        deadline: Instant,
    ) -> WarmReport {
        let keys = self.keys_to_warm(changes);
        let mut report = WarmReport::default();
        if keys.is_empty() {
            return report;
        }
        let skip_all = |report: &mut WarmReport, reason: String| {
            tracing::warn!(target: "image_handler::warm", keys = ?keys, %reason, "not warming");
            for key in &keys {
                for preset in &self.settings.presets {
                    for class in &self.settings.classes {
                        report.results.push(skipped(key, preset, *class, &reason));
                    }
                }
            }
        };
        if invalidated.invalidations.is_empty() {
            skip_all(
                &mut report,
                "no invalidation was created for these keys, so their variants are not known to be fresh"
                    .into(),
            );
            return self.finish(report);
        }
        report.waited_for = invalidated.invalidations.clone();
        let wait_until = (Instant::now() + self.settings.wait).min(deadline);
        let pending = self
            .invalidator
            .await_completed(
                &invalidated.invalidations,
                Polling {
                    first: FIRST_POLL,
                    max: MAX_POLL,
                },
                wait_until,
            )
            .await;
        if !pending.is_empty() {
            let bound = if wait_until < deadline {
                format!("WARM_WAIT ({:?})", self.settings.wait)
            } else {
                "the invocation's time".to_string()
            };
            skip_all(
                &mut report,
                format!(
                    "invalidation {} of /<key>* was still in progress after {bound}; warming now could \
                     cache the old variants",
                    pending.join(", ")
                ),
            );
            return self.finish(report);
        }
        let writer = match self.signed_writer().await {
            Ok(w) => w,
            Err(reason) => {
                skip_all(&mut report, reason);
                return self.finish(report);
            }
        };
        let limit = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut planned = Vec::new();
        for key in &keys {
            for preset in &self.settings.presets {
                let url = writer.url(key, &[(PRESET_PARAM.to_string(), preset.clone())]);
                for class in &self.settings.classes {
                    let index = planned.len();
                    match &url {
                        Err(e) => planned.push(Some(WarmResult {
                            reason: Some(e.to_string()),
                            outcome: Outcome::Failed,
                            ..skipped(key, preset, *class, "")
                        })),
                        Ok((url, _)) => {
                            planned.push(None);
                            let (client, limit) = (self.client.clone(), limit.clone());
                            let (url, class) = (url.clone(), *class);
                            let (key, preset) = (key.clone(), preset.clone());
                            tasks.spawn(async move {
                                let _slot = limit.acquire_owned().await;
                                let result = get(&client, &url, class, deadline).await;
                                (
                                    index,
                                    WarmResult {
                                        key,
                                        preset,
                                        ..result
                                    },
                                )
                            });
                        }
                    }
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((index, result)) => planned[index] = Some(result),
                Err(e) => {
                    tracing::error!(target: "image_handler::warm", error = %e, "warm task failed")
                }
            }
        }
        report.results = planned.into_iter().flatten().collect();
        self.finish(report)
    }

    /// The URL writer, signing with the current key when signing is on.
    async fn signed_writer(&self) -> Result<UrlWriter, String> {
        match &self.keys {
            None => Ok(self.writer.clone()),
            Some(keys) => {
                let ring = keys
                    .keyring()
                    .await
                    .map_err(|e| format!("cannot read the signing keys: {e}"))?;
                Ok(self.writer.clone().signed(Signer {
                    keys: ring,
                    key_id: None,
                    expires: None,
                }))
            }
        }
    }

    /// Counts, logs and (with EMF) prints the results.
    fn finish(&self, mut report: WarmReport) -> WarmReport {
        for r in &report.results {
            let path = super::key_path(&r.key).unwrap_or_default();
            let (level_ok, outcome) = match r.outcome {
                Outcome::Warmed => (true, "warmed"),
                Outcome::Failed => (false, "failed"),
                Outcome::Skipped => (false, "skipped"),
            };
            let status = r.status.unwrap_or(0);
            let cache = r.cache.as_deref().unwrap_or("");
            let reason = r.reason.as_deref().unwrap_or("");
            if level_ok {
                tracing::info!(target: "image_handler::warm", path = %path, preset = %r.preset,
                    accept = r.accept.name(), outcome, status, cache, "warm");
            } else {
                tracing::warn!(target: "image_handler::warm", path = %path, preset = %r.preset,
                    accept = r.accept.name(), outcome, status, cache, reason, "warm");
            }
        }
        let count = |o: Outcome| report.results.iter().filter(|r| r.outcome == o).count();
        report.warmed = count(Outcome::Warmed);
        report.failed = count(Outcome::Failed);
        report.skipped = count(Outcome::Skipped);
        if self.emf && !report.results.is_empty() {
            println!(
                "{}",
                crate::observe::emf_counts(
                    "ImageHandler",
                    &[
                        ("Warmed", report.warmed as u64),
                        ("WarmFailed", report.failed as u64),
                        ("WarmSkipped", report.skipped as u64),
                    ],
                )
            );
        }
        report
    }
}

fn skipped(key: &str, preset: &str, accept: AcceptClass, reason: &str) -> WarmResult {
    WarmResult {
        key: key.to_string(),
        preset: preset.to_string(),
        accept,
        outcome: Outcome::Skipped,
        status: None,
        cache: None,
        reason: (!reason.is_empty()).then(|| reason.to_string()),
    }
}

/// One warm request, within `deadline`: the key and preset are the caller's to fill in.
async fn get(
    client: &reqwest::Client,
    url: &str,
    class: AcceptClass,
    deadline: Instant,
) -> WarmResult {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut result = skipped("", "", class, "");
    if left.is_zero() {
        result.reason = Some("no time was left in the invocation".into());
        return result;
    }
    result.outcome = Outcome::Failed;
    let sent = client
        .get(url)
        .header(reqwest::header::ACCEPT, class.accept())
        .timeout(left.min(REQUEST_TIMEOUT))
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            result.reason = Some(describe(e));
            return result;
        }
    };
    result.status = Some(response.status().as_u16());
    result.cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let success = response.status().is_success();
    // Read to the end, so that CloudFront caches the whole variant.
    match response.bytes().await {
        Err(e) => result.reason = Some(describe(e)),
        Ok(_) if success => result.outcome = Outcome::Warmed,
        Ok(_) => {
            result.reason = Some(format!(
                "the distribution answered {}",
                result.status.unwrap_or_default()
            ))
        }
    }
    result
}

/// A transport error with its causes, without the URL (which holds the signature).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::format::Accepted;

    #[test]
    fn classes_follow_auto_format() {
        use AcceptClass::*;
        let all = AutoFormat {
            avif: true,
            webp: true,
        };
        assert_eq!(classes(None, all).unwrap(), [Avif, Webp, Other]);
        let webp = AutoFormat {
            avif: false,
            webp: true,
        };
        assert_eq!(classes(None, webp).unwrap(), [Webp, Other]);
        assert_eq!(
            classes(Some("other, WEBP,webp"), all).unwrap(),
            [Other, Webp]
        );
        assert!(
            classes(Some("avif"), webp)
                .unwrap_err()
                .contains("AUTO_FORMAT")
        );
        assert!(classes(Some("jpeg"), all).is_err());
        assert!(classes(Some(" , "), all).is_err());
    }

    #[test]
    fn each_class_sends_what_its_cache_key_keeps() {
        let all = AutoFormat::ALL;
        // The service's own reading of each header (which the viewer-request
        // function mirrors): exactly that class.
        let read = |c: AcceptClass| Accepted::from_header(Some(c.accept()), all);
        assert_eq!(read(AcceptClass::Avif), Accepted::formats(true, false));
        assert_eq!(read(AcceptClass::Webp), Accepted::formats(false, true));
        assert_eq!(read(AcceptClass::Other), Accepted::default());
    }

    #[test]
    fn distribution_domains() {
        for (given, base) in [
            (
                "d111111abcdef8.cloudfront.net",
                "https://d111111abcdef8.cloudfront.net",
            ),
            ("https://images.example.com/", "https://images.example.com"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://localhost:9", "http://localhost:9"),
        ] {
            assert_eq!(base_url(given).unwrap(), base, "{given}");
        }
        for bad in [
            "",
            "http://d111111abcdef8.cloudfront.net",
            "d111.cloudfront.net/images",
            "https://d111.cloudfront.net?x=1",
            "ftp://d111.cloudfront.net",
            "https://user:pw@d111.cloudfront.net",
        ] {
            assert!(base_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn preset_lists() {
        assert_eq!(preset_names(" thumb, hero,,thumb "), ["thumb", "hero"]);
        assert!(preset_names(" , ").is_empty());
    }

    #[test]
    fn only_created_keys_of_the_default_bucket_are_warmed() {
        let shared = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let settings = WarmSettings {
            base: "https://d.example.net".into(),
            presets: vec!["thumb".into()],
            classes: vec![AcceptClass::Other],
            concurrency: 1,
            wait: Duration::from_secs(1),
        };
        let writer =
            UrlWriter::new(Some(&settings.base), crate::request::Limits::default()).unwrap();
        let warmer = Warmer::new(
            settings,
            Invalidator::new(&shared, "E123").unwrap(),
            "main",
            writer,
            None,
            false,
        )
        .unwrap();
        let change = |bucket: &str, key: &str, event: &str| ObjectChange {
            bucket: bucket.into(),
            key: key.into(),
            event: event.into(),
            sequencer: String::new(),
        };
        let changes = [
            change("main", "a.jpg", "ObjectCreated:Put"),
            change("main", "a.jpg", "ObjectCreated:Copy"),
            change("other", "b.jpg", "ObjectCreated:Put"),
            change("main", "c.jpg", "ObjectCreated:Put"),
            change("main", "c.jpg", "ObjectRemoved:Delete"),
            change("main", "folder/", "ObjectCreated:Put"),
            change("main", "d.jpg", "LifecycleExpiration:Delete"),
        ];
        assert_eq!(warmer.keys_to_warm(&changes), ["a.jpg"]);

        // Under ORIGINS, each path the mappings route to the object.
        let routes = crate::origin::mapping::Routes::parse(
            r#"{"photos": {"s3": "other", "prefix": "p/"}, "all": {"s3": "other"}}"#,
            Some(r#"[{"path": "/photos/", "origin": "photos", "strip_prefix": true}, {"path": "/", "origin": "all"}]"#),
        )
        .unwrap();
        let routed = warmer.with_routes(routes);
        let changes = [
            change("other", "p/b.jpg", "ObjectCreated:Put"),
            change("main", "a.jpg", "ObjectCreated:Put"),
        ];
        assert_eq!(routed.keys_to_warm(&changes), ["photos/b.jpg", "p/b.jpg"]);
    }
}
