//! CloudFront invalidation: which paths, in which batches, and creating them.
//!
//! This module owns the rules that turn "these originals changed" into
//! CloudFront invalidations:
//!
//! - **Paths.** An original's variants in the recommended query style all
//!   start with its key, so `/<key>*` covers every size and format of it. Keys
//!   are spelled as [`super::key_path`] spells them (the spelling that
//!   `image-handler url` and `srcset` write): spaces, non-ASCII and RFC 1738's
//!   unsafe characters percent-encoded, a `*` in a key escaped as `%2A`, so
//!   the only `*` is the final wildcard. Paths the site uses are taken as
//!   written and only the characters CloudFront refuses are escaped.
//! - **URL styles whose key is not a prefix.** thumbor paths put options
//!   before the key, and SIH's default requests hide it in base64; no path
//!   prefix covers their variants, so for sites using them a key falls back
//!   to `/*` with a warning, unless the variant URLs are listed.
//! - **Batches.** At most [`MAX_PATHS_PER_INVALIDATION`] paths per
//!   invalidation, of which at most [`MAX_WILDCARDS_PER_INVALIDATION`]
//!   wildcards (CloudFront's limits on what may be in progress at once).
//! - **Creating.** `CreateInvalidation` per batch; `TooManyInvalidationsInProgress`
//!   is waited out with exponential back-off (up to one minute between tries)
//!   until a deadline, then the batch counts as failed; optionally polls
//!   `GetInvalidation` until every invalidation is completed, at a fixed
//!   interval (the CLI) or backing off ([`Polling`], warming on upload).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudfront::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use serde::Serialize;

use super::{OpsError, Outcome, check_key, encode_key};

/// The most paths one invalidation may hold (CloudFront's limit on file paths in progress).
pub const MAX_PATHS_PER_INVALIDATION: usize = 3000;
/// The most wildcard paths one invalidation may hold (CloudFront's limit on
/// wildcard paths in progress per distribution).
pub const MAX_WILDCARDS_PER_INVALIDATION: usize = 15;
/// The longest invalidation path CloudFront accepts, in characters.
pub const MAX_PATH_CHARS: usize = 4000;
/// The longest pause between two tries of a batch that CloudFront refused
/// with `TooManyInvalidationsInProgress`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Something to invalidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every variant of one original, by its object key: `/<key>*`.
    Key(String),
    /// Every original whose key starts with this prefix: `/<prefix>*`.
    Prefix(String),
    /// A path or full URL as the site uses it (`/fit-in/300x0/a.jpg`,
    /// `https://d.example.net/eyJ...`); a final `*` makes it a wildcard.
    Path(String),
}

/// The URL styles a site's pages use, which decide what covers the variants of an original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlStyles {
    /// `/<key>?<edits>`: the key is a prefix of every variant.
    pub query: bool,
    /// thumbor paths (`/fit-in/300x200/filters:.../<key>`): options come first.
    pub thumbor: bool,
    /// SIH default requests (`/<base64 JSON>`): the key is inside the base64.
    pub base64: bool,
    /// SIH custom rewrites (`REWRITE_MATCH_PATTERN`): any shape.
    pub rewrite: bool,
}

impl Default for UrlStyles {
    fn default() -> Self {
        UrlStyles::QUERY
    }
}

impl UrlStyles {
    /// Only the recommended query style.
    pub const QUERY: UrlStyles = UrlStyles {
        query: true,
        thumbor: false,
        base64: false,
        rewrite: false,
    };

    /// Parses a comma-separated list of `query`, `thumbor`, `base64` (or
    /// `default`), `rewrite`, or `all`.
    pub fn parse(value: &str) -> Result<UrlStyles, String> {
        let mut s = UrlStyles {
            query: false,
            thumbor: false,
            base64: false,
            rewrite: false,
        };
        for part in value.split(',').map(|p| p.trim().to_ascii_lowercase()) {
            match part.as_str() {
                "query" => s.query = true,
                "thumbor" => s.thumbor = true,
                "base64" | "default" => s.base64 = true,
                "rewrite" => s.rewrite = true,
                "all" => {
                    s = UrlStyles {
                        query: true,
                        thumbor: true,
                        base64: true,
                        rewrite: true,
                    }
                }
                _ => {
                    return Err(format!(
                        "{part:?} is not a URL style: use query, thumbor, base64 or rewrite (comma-separated), or all"
                    ));
                }
            }
        }
        if s == (UrlStyles {
            query: false,
            thumbor: false,
            base64: false,
            rewrite: false,
        }) {
            return Err("names no URL style".into());
        }
        Ok(s)
    }

    /// The styles whose variants no key prefix covers.
    fn without_key_prefix(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.thumbor {
            names.push("thumbor");
        }
        if self.base64 {
            names.push("base64 (SIH default)");
        }
        if self.rewrite {
            names.push("rewrite");
        }
        names
    }
}

/// The invalidation paths for a set of targets, and what the caller should be told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Distinct paths, in the order the targets gave them, none covered by another's wildcard.
    pub paths: Vec<String>,
    /// Things the operator should know (fallbacks, ambiguous spellings).
    pub warnings: Vec<String>,
}

impl Plan {
    /// The paths in batches within CloudFront's limits; see [`batches`].
    pub fn batches(&self) -> Vec<Vec<String>> {
        batches(&self.paths)
    }
}

/// Builds the invalidation paths for `targets`, for a site using `styles`.
pub fn plan(targets: &[Target], styles: UrlStyles) -> Result<Plan, OpsError> {
    let mut plan = Plan::default();
    let mut keys = 0usize;
    let mut spelling = Vec::new();
    for target in targets {
        match target {
            Target::Key(key) => {
                check_key(key)?;
                keys += 1;
                if styles.query {
                    let path = format!("/{}*", encode_key(key));
                    spelling.extend(spelling_warning(key, &path));
                    plan.paths.push(path);
                }
            }
            Target::Prefix(prefix) => {
                check_prefix(prefix)?;
                keys += 1;
                if prefix.is_empty() {
                    plan.warnings.push(
                        "an empty prefix invalidates /* (every cached object of the distribution)"
                            .into(),
                    );
                }
                if styles.query {
                    let path = format!("/{}*", encode_key(prefix));
                    spelling.extend(spelling_warning(prefix, &path));
                    plan.paths.push(path);
                }
            }
            Target::Path(raw) => {
                let (path, warning) = cloudfront_path(raw)?;
                plan.warnings.extend(warning);
                plan.paths.push(path);
            }
        }
    }
    // A few are listed; thousands (a bulk run) are summed up in one line.
    let more = spelling.len().saturating_sub(MAX_LISTED_WARNINGS);
    plan.warnings
        .extend(spelling.into_iter().take(MAX_LISTED_WARNINGS));
    if more > 0 {
        plan.warnings.push(format!(
            "{more} more keys contain characters that pages may write as they are or percent-encoded"
        ));
    }
    let others = styles.without_key_prefix();
    if keys > 0 && !others.is_empty() {
        plan.warnings.push(format!(
            "{} URLs do not start with the key, so no path prefix covers an original's variants: \
             invalidating /* (every cached object) instead; list the variant URLs the site uses \
             with --path to invalidate only those",
            others.join(" and ")
        ));
        plan.paths.push("/*".into());
    }
    plan.paths = prune(plan.paths);
    let wildcards = plan.paths.iter().filter(|p| p.ends_with('*')).count();
    if wildcards > BULK_WILDCARDS {
        plan.warnings.push(format!(
            "{wildcards} wildcard paths need {} invalidations, and CloudFront works on at most \
             {MAX_WILDCARDS_PER_INVALIDATION} wildcard paths of a distribution at a time, so they \
             run one after another; a --prefix that covers them is a single path",
            wildcards.div_ceil(MAX_WILDCARDS_PER_INVALIDATION)
        ));
    }
    Ok(plan)
}

/// Spelling warnings listed one by one before they are summed up.
const MAX_LISTED_WARNINGS: usize = 5;
/// Above this many wildcard paths (ten invalidations), a bulk run is pointed at `--prefix`.
const BULK_WILDCARDS: usize = 10 * MAX_WILDCARDS_PER_INVALIDATION;

/// A key prefix may end anywhere (`photos/2024/`, `photos/cat`), but it may
/// not hold control characters or complete `.`/`..` segments.
fn check_prefix(prefix: &str) -> Result<(), OpsError> {
    if prefix.chars().any(|c| c.is_control()) {
        return Err(OpsError::Input(format!(
            "prefix {prefix:?} contains a control character"
        )));
    }
    let segments: Vec<&str> = prefix.split('/').collect();
    let complete = &segments[..segments.len().saturating_sub(1)];
    if complete.iter().any(|s| *s == "." || *s == "..") {
        return Err(OpsError::Input(format!(
            "prefix {prefix:?} has a '.' or '..' segment, which no URL can address"
        )));
    }
    Ok(())
}

/// Characters that pages may write either as they are or percent-encoded, so
/// that a path matches only one spelling: browsers send `~ * | ^ [ ] \` as
/// written where [`super::key_path`] encodes them, and `encodeURIComponent`
/// encodes `$ & + , ; = : @` where browsers and `key_path` keep them.
/// (`! ' ( )` are kept by all three.)
fn ambiguous(c: char) -> bool {
    matches!(
        c,
        '~' | '*' | '|' | '^' | '[' | ']' | '\\' | '$' | '&' | '+' | ',' | ';' | '=' | ':' | '@'
    )
}

fn spelling_warning(key: &str, path: &str) -> Option<String> {
    let (at, c) = key.char_indices().find(|(_, c)| ambiguous(*c))?;
    Some(format!(
        "{key:?} contains {c:?}, which pages may write as it is or percent-encoded; {path} matches \
         the spelling image-handler url writes. If pages spell it otherwise, also invalidate \
         --prefix {:?}",
        &key[..at]
    ))
}

/// RFC 1738's unsafe characters, which CloudFront wants percent-encoded in
/// invalidation paths (`%` is handled apart, `#` ends the path).
fn unsafe_in_path(c: char) -> bool {
    c.is_ascii_control()
        || matches!(
            c,
            ' ' | '"' | '<' | '>' | '{' | '}' | '|' | '\\' | '^' | '~' | '[' | ']' | '`'
        )
}

/// Turns a path or URL as the site uses it into a CloudFront invalidation
/// path: the scheme and host and any `#fragment` are dropped; spaces,
/// non-ASCII and RFC 1738's unsafe characters are percent-encoded; existing
/// `%XX` escapes are kept as written and a stray `%` becomes `%25`; a final
/// `*` stays a wildcard and any other `*` becomes `%2A`. Returns a warning
/// when the path had a literal `~`, which CloudFront refuses.
pub fn cloudfront_path(raw: &str) -> Result<(String, Option<String>), OpsError> {
    let trimmed = raw.trim();
    let without_origin = match trimmed.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            match rest.find(['/', '?']) {
                Some(i) if rest[i..].starts_with('/') => &rest[i..],
                Some(i) => {
                    return Err(OpsError::Input(format!(
                        "{raw:?} has a query but no path ({})",
                        &rest[i..]
                    )));
                }
                None => "/",
            }
        }
        _ => trimmed,
    };
    let path = without_origin
        .split_once('#')
        .map_or(without_origin, |(p, _)| p);
    if !path.starts_with('/') {
        return Err(OpsError::Input(format!(
            "{raw:?} is neither a URL nor a path starting with /"
        )));
    }
    let (body, wildcard) = match path.strip_suffix('*') {
        Some(body) => (body, true),
        None => (path, false),
    };
    let mut out = String::with_capacity(path.len() + 8);
    let mut tilde = false;
    let bytes = body.as_bytes();
    for (i, c) in body.char_indices() {
        match c {
            '%' if bytes.len() >= i + 3
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                out.push('%')
            }
            '%' => out.push_str("%25"),
            '*' => out.push_str("%2A"),
            c if unsafe_in_path(c) || !c.is_ascii() => {
                tilde |= c == '~';
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    if wildcard {
        out.push('*');
    }
    if out.chars().count() > MAX_PATH_CHARS {
        return Err(OpsError::Input(format!(
            "{raw:?} is longer than CloudFront's {MAX_PATH_CHARS} characters once encoded"
        )));
    }
    let warning = tilde.then(|| {
        format!(
            "{raw:?}: CloudFront refuses a literal '~' in invalidation paths, so it is sent as %7E, \
             which matches only URLs that spell it %7E; to cover a literal '~', invalidate a \
             wildcard path that ends before it"
        )
    });
    Ok((out, warning))
}

/// Removes duplicates and paths that a wildcard path in the list already
/// covers, keeping the first occurrence's order.
pub fn prune(paths: Vec<String>) -> Vec<String> {
    let prefixes: std::collections::HashSet<String> = paths
        .iter()
        .filter_map(|p| p.strip_suffix('*').map(str::to_string))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::with_capacity(paths.len());
    for path in paths {
        // Covered when a shorter start of the path (or the whole of an exact
        // path) is some other wildcard's prefix.
        let own = path.strip_suffix('*').unwrap_or(&path);
        let covered = own
            .char_indices()
            .map(|(i, _)| &own[..i])
            .chain((!path.ends_with('*')).then_some(own))
            .any(|start| prefixes.contains(start));
        if !covered && seen.insert(path.clone()) {
            kept.push(path);
        }
    }
    kept
}

/// Splits paths into invalidations of at most [`MAX_PATHS_PER_INVALIDATION`]
/// paths with at most [`MAX_WILDCARDS_PER_INVALIDATION`] wildcards each, in
/// as few batches as those limits allow: each batch takes the next wildcards,
/// then fills up with exact paths, keeping the given order within each kind.
pub fn batches(paths: &[String]) -> Vec<Vec<String>> {
    let (wild, exact): (Vec<&String>, Vec<&String>) = paths.iter().partition(|p| p.ends_with('*'));
    let mut wild = wild.into_iter().peekable();
    let mut exact = exact.into_iter().peekable();
    let mut out = Vec::new();
    while wild.peek().is_some() || exact.peek().is_some() {
        let mut batch: Vec<String> = wild
            .by_ref()
            .take(MAX_WILDCARDS_PER_INVALIDATION)
            .cloned()
            .collect();
        while batch.len() < MAX_PATHS_PER_INVALIDATION {
            match exact.next() {
                Some(p) => batch.push(p.clone()),
                None => break,
            }
        }
        out.push(batch);
    }
    out
}

/// Checks a CloudFront distribution id (`E2QWRUHAPOMQZL`), or takes it out of
/// a distribution ARN (`arn:aws:cloudfront::123456789012:distribution/E2QW...`).
pub fn distribution_id(value: &str) -> Result<String, OpsError> {
    let value = value.trim();
    let id = match value.strip_prefix("arn:") {
        Some(_) => value
            .rsplit_once(":distribution/")
            .map(|(_, id)| id)
            .unwrap_or(""),
        None => value,
    };
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(OpsError::Input(format!(
            "{value:?} is not a CloudFront distribution id (like E2QWRUHAPOMQZL) or distribution ARN"
        )));
    }
    Ok(id.to_string())
}

/// Reads the distribution id from a CloudFormation stack's outputs.
pub async fn distribution_id_from_stack(
    shared: &aws_config::SdkConfig,
    stack: &str,
    output_key: &str,
) -> Result<String, OpsError> {
    let client = aws_sdk_cloudformation::Client::new(shared);
    let described = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            let message = e.message().unwrap_or_default().to_string();
            if message.contains("does not exist") {
                OpsError::Config(format!(
                    "CloudFormation stack {stack:?} does not exist{}",
                    shared
                        .region()
                        .map(|r| format!(" in region {r}"))
                        .unwrap_or_default()
                ))
            } else {
                OpsError::Aws {
                    operation: "DescribeStacks",
                    detail: describe_sdk_error(&e),
                }
            }
        })?;
    let Some(found) = described.stacks().first() else {
        return Err(OpsError::Config(format!(
            "CloudFormation stack {stack:?} was not found"
        )));
    };
    let outputs = found.outputs();
    match outputs
        .iter()
        .find(|o| o.output_key() == Some(output_key))
        .and_then(|o| o.output_value())
    {
        Some(value) => distribution_id(value),
        None => {
            let names: Vec<&str> = outputs.iter().filter_map(|o| o.output_key()).collect();
            Err(OpsError::Config(format!(
                "CloudFormation stack {stack:?} has no output {output_key:?} (its outputs: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )))
        }
    }
}

/// Where a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Not sent (a dry run).
    Planned,
    /// Created; CloudFront is still working on it.
    InProgress,
    /// Created and completed.
    Completed,
    /// Not created.
    Failed,
}

impl BatchStatus {
    fn from_cloudfront(status: &str) -> BatchStatus {
        if status.eq_ignore_ascii_case("completed") {
            BatchStatus::Completed
        } else {
            BatchStatus::InProgress
        }
    }
}

/// One invalidation: its paths and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// The invalidation paths.
    pub paths: Vec<String>,
    /// CloudFront's invalidation id, once created.
    pub id: Option<String>,
    /// The caller reference the batch was (or would be) sent with.
    pub caller_reference: String,
    /// Where it stands.
    pub status: BatchStatus,
    /// Why it failed.
    pub error: Option<String>,
}

/// What a run did, batch by batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The distribution.
    pub distribution_id: String,
    /// The batches in the order they were sent.
    pub batches: Vec<BatchReport>,
}

impl Report {
    /// A report of batches that are not sent (for `--dry-run`).
    pub fn planned(distribution_id: &str, batches: Vec<Vec<String>>, reference: &str) -> Report {
        Report {
            distribution_id: distribution_id.to_string(),
            batches: batches
                .into_iter()
                .enumerate()
                .map(|(i, paths)| BatchReport {
                    paths,
                    id: None,
                    caller_reference: format!("{reference}-{}", i + 1),
                    status: BatchStatus::Planned,
                    error: None,
                })
                .collect(),
        }
    }

    /// Success when every batch was created (and, when `waited`, completed);
    /// partial when some were; failed when none was.
    pub fn outcome(&self, waited: bool) -> Outcome {
        let created = self.batches.iter().filter(|b| b.id.is_some()).count();
        let failed = self.batches.iter().any(|b| b.status == BatchStatus::Failed);
        let unfinished = waited
            && self
                .batches
                .iter()
                .any(|b| b.status == BatchStatus::InProgress);
        if self.batches.is_empty() {
            Outcome::Success
        } else if created == 0 {
            Outcome::Failed
        } else if failed || unfinished {
            Outcome::Partial
        } else {
            Outcome::Success
        }
    }

    /// Every path of the batches that were not created.
    pub fn failed_paths(&self) -> Vec<&str> {
        self.batches
            .iter()
            .filter(|b| b.status == BatchStatus::Failed)
            .flat_map(|b| b.paths.iter().map(String::as_str))
            .collect()
    }
}

/// The pauses between two polls of `GetInvalidation`: `first`, then doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// The pause after the first poll.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Polling {
    /// The same pause every time.
    pub fn every(pause: Duration) -> Polling {
        Polling {
            first: pause,
            max: pause,
        }
    }
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Poll until every invalidation is completed.
    pub wait: bool,
    /// Time between two polls, and the first back-off after `TooManyInvalidationsInProgress`.
    pub poll_interval: Duration,
    /// When to give up retrying and waiting.
    pub deadline: Instant,
    /// Batch `n` is sent with the caller reference `<reference>-<n>`.
    pub reference: String,
}

impl RunOptions {
    /// Options for a run that ends within `timeout`, with a caller reference
    /// unique to this moment and process.
    pub fn new(wait: bool, poll_interval: Duration, timeout: Duration) -> RunOptions {
        RunOptions {
            wait,
            poll_interval,
            deadline: Instant::now() + timeout,
            reference: unique_reference(),
        }
    }
}

/// `image-handler-<unix ms>-<pid>`: CloudFront treats a reused caller
/// reference with the same paths as the same invalidation, so each run gets its own.
pub fn unique_reference() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("image-handler-{millis}-{}", std::process::id())
}

/// Hears what a run is doing (the CLI draws progress from it).
pub trait Observer: Send + Sync {
    /// Batch `index` (from 0) of `total` was created.
    fn created(&self, _index: usize, _total: usize, _id: &str, _paths: usize) {}
    /// Batch `index` was refused because too many invalidations are in progress; retrying after `pause`.
    fn throttled(&self, _index: usize, _pause: Duration) {}
    /// Batch `index` could not be created.
    fn failed(&self, _index: usize, _error: &str) {}
    /// Waiting: `completed` of `total` invalidations are completed.
    fn progress(&self, _completed: usize, _total: usize) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Why a batch was not created.
enum CreateError {
    /// CloudFront is at its in-progress limit; try again later.
    TooMany(String),
    /// This batch failed; the next may succeed.
    Batch(String),
    /// No batch can succeed (no such distribution, access denied, no connection).
    Fatal(String),
}

/// Creates invalidations on one distribution.
#[derive(Debug, Clone)]
pub struct Invalidator {
    client: aws_sdk_cloudfront::Client,
    distribution_id: String,
}

impl Invalidator {
    /// An invalidator using this AWS configuration. CloudFront is a global
    /// service: without a configured region, `us-east-1` is used for signing.
    pub fn new(
        shared: &aws_config::SdkConfig,
        distribution_id: &str,
    ) -> Result<Invalidator, OpsError> {
        let distribution_id = self::distribution_id(distribution_id)?;
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .build();
        let mut config = aws_sdk_cloudfront::config::Builder::from(shared).timeout_config(timeouts);
        if shared.region().is_none() {
            config = config.region(aws_config::Region::new("us-east-1"));
        }
        Ok(Invalidator {
            client: aws_sdk_cloudfront::Client::from_conf(config.build()),
            distribution_id,
        })
    }

    /// The distribution id.
    pub fn distribution_id(&self) -> &str {
        &self.distribution_id
    }

    /// Sends every batch, retrying those refused for too many invalidations in
    /// progress until the deadline, then (with `wait`) polls until all are completed.
    pub async fn run(
        &self,
        batches: Vec<Vec<String>>,
        options: &RunOptions,
        observer: &dyn Observer,
    ) -> Report {
        let total = batches.len();
        let mut report = Report::planned(&self.distribution_id, batches, &options.reference);
        let mut fatal: Option<String> = None;
        for (index, batch) in report.batches.iter_mut().enumerate() {
            if let Some(reason) = &fatal {
                batch.status = BatchStatus::Failed;
                batch.error = Some(format!("not sent: {reason}"));
                continue;
            }
            let mut pause = options.poll_interval.max(Duration::from_millis(10));
            loop {
                match self.create(&batch.paths, &batch.caller_reference).await {
                    Ok((id, status)) => {
                        observer.created(index, total, &id, batch.paths.len());
                        batch.id = Some(id);
                        batch.status = BatchStatus::from_cloudfront(&status);
                        break;
                    }
                    Err(CreateError::TooMany(detail)) => {
                        if Instant::now() + pause > options.deadline {
                            let error = format!(
                                "TooManyInvalidationsInProgress until the deadline: {detail}"
                            );
                            observer.failed(index, &error);
                            batch.status = BatchStatus::Failed;
                            batch.error = Some(error);
                            break;
                        }
                        observer.throttled(index, pause);
                        tracing::info!(
                            batch = index + 1,
                            pause_ms = pause.as_millis() as u64,
                            "too many invalidations in progress; retrying"
                        );
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(MAX_BACKOFF);
                    }
                    Err(CreateError::Batch(error)) => {
                        observer.failed(index, &error);
                        batch.status = BatchStatus::Failed;
                        batch.error = Some(error);
                        break;
                    }
                    Err(CreateError::Fatal(error)) => {
                        observer.failed(index, &error);
                        batch.status = BatchStatus::Failed;
                        batch.error = Some(error.clone());
                        fatal = Some(error);
                        break;
                    }
                }
            }
        }
        if options.wait {
            self.wait(&mut report, options, observer).await;
        }
        report
    }

    /// Polls `GetInvalidation` until every created batch is completed or the deadline passes.
    async fn wait(&self, report: &mut Report, options: &RunOptions, observer: &dyn Observer) {
        let in_progress: Vec<String> = report
            .batches
            .iter()
            .filter(|b| b.status == BatchStatus::InProgress)
            .filter_map(|b| b.id.clone())
            .collect();
        let created = report.batches.iter().filter(|b| b.id.is_some()).count();
        let pause = Polling::every(options.poll_interval);
        let pending = self
            .poll(
                &in_progress,
                created - in_progress.len(),
                pause,
                options.deadline,
                observer,
            )
            .await;
        for batch in &mut report.batches {
            if batch.status == BatchStatus::InProgress
                && batch.id.as_ref().is_some_and(|id| !pending.contains(id))
            {
                batch.status = BatchStatus::Completed;
            }
        }
    }

    /// Polls `GetInvalidation` until each of `ids` reads `Completed` or
    /// `deadline` passes, pausing as `pause` says between rounds. Returns the
    /// ids still in progress (an invalidation whose status cannot be read
    /// counts as in progress).
    pub async fn await_completed(
        &self,
        ids: &[String],
        pause: Polling,
        deadline: Instant,
    ) -> Vec<String> {
        self.poll(ids, 0, pause, deadline, &Silent).await
    }

    /// The polling loop; `done` invalidations were completed before it (for progress).
    async fn poll(
        &self,
        ids: &[String],
        done: usize,
        pause: Polling,
        deadline: Instant,
        observer: &dyn Observer,
    ) -> Vec<String> {
        let mut pending: Vec<String> = ids.to_vec();
        let mut wait = pause.first;
        loop {
            let mut still = Vec::with_capacity(pending.len());
            for id in pending {
                match self.status(&id).await {
                    Ok(status)
                        if BatchStatus::from_cloudfront(&status) == BatchStatus::Completed => {}
                    Ok(_) => still.push(id),
                    // A failed poll leaves the invalidation in progress; the next poll may work.
                    Err(e) => {
                        tracing::warn!(invalidation = %id, error = %e, "cannot read status");
                        still.push(id);
                    }
                }
            }
            pending = still;
            observer.progress(done + ids.len() - pending.len(), done + ids.len());
            if pending.is_empty() || Instant::now() + wait > deadline {
                return pending;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(pause.max).max(pause.first);
        }
    }

    async fn create(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> Result<(String, String), CreateError> {
        let build = |e: aws_sdk_cloudfront::error::BuildError| CreateError::Fatal(e.to_string());
        let batch = InvalidationBatch::builder()
            .paths(
                Paths::builder()
                    .quantity(paths.len() as i32)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .map_err(build)?,
            )
            .caller_reference(caller_reference)
            .build()
            .map_err(build)?;
        let sent = self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await;
        match sent {
            Ok(out) => match out.invalidation() {
                Some(inv) => Ok((inv.id().to_string(), inv.status().to_string())),
                None => Err(CreateError::Batch(
                    "CreateInvalidation answered without an invalidation".into(),
                )),
            },
            Err(e) => {
                let detail = describe_sdk_error(&e);
                Err(match &e {
                    SdkError::ServiceError(service) => match service.err() {
                        CreateInvalidationError::TooManyInvalidationsInProgress(_) => {
                            CreateError::TooMany(detail)
                        }
                        CreateInvalidationError::NoSuchDistribution(_)
                        | CreateInvalidationError::AccessDenied(_) => CreateError::Fatal(detail),
                        _ if service.raw().status().as_u16() == 403 => CreateError::Fatal(detail),
                        _ => CreateError::Batch(detail),
                    },
                    // No connection, no credentials, timeouts: every batch would fail alike.
                    _ => CreateError::Fatal(detail),
                })
            }
        }
    }

    /// The status CloudFront reports for an invalidation (`InProgress`, `Completed`).
    pub async fn status(&self, id: &str) -> Result<String, OpsError> {
        let out = self
            .client
            .get_invalidation()
            .distribution_id(&self.distribution_id)
            .id(id)
            .send()
            .await
            .map_err(|e| OpsError::Aws {
                operation: "GetInvalidation",
                detail: describe_sdk_error(&e),
            })?;
        out.invalidation()
            .map(|i| i.status().to_string())
            .ok_or_else(|| OpsError::Aws {
                operation: "GetInvalidation",
                detail: "answered without an invalidation".into(),
            })
    }
}

/// `Code: message` for a service error, the whole chain of causes otherwise.
fn describe_sdk_error<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => DisplayErrorContext(e).to_string(),
            }
        }
        _ => DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
mod tests;
