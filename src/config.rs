//! Configuration from the environment.
//!
//! Names reuse AWS Serverless Image Handler's variables where they exist
//! (`CORS_ENABLED`, `CORS_ORIGIN`, `AUTO_WEBP`); the rest are ours and are
//! listed in the README's configuration table. Every value is validated at
//! start-up, with an error naming the variable.

use crate::ops::events::ChangeInvalidation;
use crate::ops::invalidate::{UrlStyles, distribution_id};
use crate::origin::mapping::Routes;
use crate::request::rewrite::Rewrite;
use crate::request::{Breakpoints, Limits, Rules};
use crate::response::HeaderSettings;
use crate::signature::{Keyring, Secret, SigningKey};
pub use crate::transform::OutputSettings;
use crate::transform::encode::Effort;
pub use crate::transform::format::AutoFormat;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {var}={value:?} {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bounds on what a request may ask for.
    pub limits: Limits,
    /// Largest original, in bytes, that is fetched (`MAX_SOURCE_BYTES`).
    pub max_source_bytes: u64,
    /// Largest original, in pixels over all frames, that is decoded (`MAX_INPUT_PIXELS`).
    pub max_input_pixels: u64,
    /// Most frames an animated original may have to be kept animated (`MAX_FRAMES`).
    pub max_frames: u32,
    /// Automatic output format (`AUTO_FORMAT`, or SIH's `AUTO_WEBP`).
    pub auto_format: AutoFormat,
    /// `Cache-Control` of successful responses (`CACHE_CONTROL`).
    pub cache_control: String,
    /// `max-age` of 4xx responses, in seconds (`ERROR_MAX_AGE`).
    pub error_max_age: u32,
    /// `Access-Control-Allow-Origin` when `CORS_ENABLED=Yes` (from `CORS_ORIGIN`, default `*`).
    pub cors_origin: Option<String>,
    /// How many transforms run at once (`TRANSFORM_CONCURRENCY`, default: CPU count).
    pub transform_concurrency: usize,
    /// libvips threads per image (`VIPS_CONCURRENCY`); `None`: the CPUs
    /// shared among the transforms that run at once ([`Config::threads_per_image`]).
    pub vips_threads: Option<usize>,
    /// How many image requests may wait beyond the running ones, fetching
    /// their original or waiting for a transform slot (`TRANSFORM_QUEUE_SIZE`,
    /// default [`DEFAULT_QUEUE`]); more are refused with 503. Memory is
    /// bounded by [`Config::max_inflight_bytes`], so the queue can be long.
    pub transform_queue: usize,
    /// The original and overlay bytes admitted requests may hold at once
    /// (`MAX_INFLIGHT_BYTES`, default [`default_inflight_bytes`]); at least
    /// `MAX_SOURCE_BYTES`.
    pub max_inflight_bytes: u64,
    /// The most edits one request may ask for, after presets (`MAX_EDITS`).
    pub max_edits: usize,
    /// The whole request's deadline (`REQUEST_TIMEOUT`).
    pub request_timeout: std::time::Duration,
    /// S3 timeouts and retries (`S3_CONNECT_TIMEOUT`, `S3_ATTEMPT_TIMEOUT`,
    /// `S3_TIMEOUT`, `S3_MAX_ATTEMPTS`).
    pub s3_timeouts: crate::origin::S3Timeouts,
    /// Encoder effort (`WEBP_EFFORT`, `AVIF_EFFORT`, `GIF_EFFORT`).
    pub effort: Effort,
    /// Shrink JPEGs in the decoder as far as the output allows, as sharp's
    /// `fastShrinkOnLoad` (`FAST_SHRINK_ON_LOAD`, default `No`).
    pub fast_shrink_on_load: bool,
    /// `SOURCE_BUCKETS`: buckets a request may name; the first is the default.
    /// With `ORIGINS`, the buckets of its S3 origins.
    pub source_buckets: Vec<String>,
    /// `ORIGINS` and `MAPPINGS`: named origins and the rules that choose one
    /// per request; `None` serves one origin (`SOURCE_BUCKETS`, `serve --origin`).
    pub routes: Option<Routes>,
    /// `VIEWER_HOST_HEADER`: the request header holding the viewer's host for
    /// host mappings (behind CloudFront and API Gateway, where `Host` is
    /// API Gateway's); `None` reads `Host`.
    pub viewer_host_header: Option<http::HeaderName>,
    /// SIH's custom rewrite (`REWRITE_MATCH_PATTERN`, `REWRITE_SUBSTITUTION`).
    pub rewrite: Option<Rewrite>,
    /// Active signing keys when `ENABLE_SIGNATURE=Yes` (`SIGNATURE_KEYS` or `SIGNATURE_SECRET`).
    pub signing: Option<Keyring>,
    /// thumbor's `SECURITY_KEY` for `/<hmac>/...` paths (`THUMBOR_SECURITY_KEY`).
    pub thumbor_key: Option<Secret>,
    /// The Secrets Manager secret holding the signing secret when
    /// `ENABLE_SIGNATURE=Yes` and no key is in the environment.
    pub secrets_manager: Option<SecretRef>,
    /// Path-style S3 addressing (`S3_FORCE_PATH_STYLE`), for S3-compatible stores.
    pub s3_force_path_style: bool,
    /// The largest response body, in bytes (`MAX_RESPONSE_BYTES`); larger
    /// outputs are reduced to fit. Lambda mode defaults it to [`LAMBDA_RESPONSE_BYTES`].
    pub max_response_bytes: Option<u64>,
    /// Automatic quality (`AUTO_QUALITY`, `QUALITY_TARGET`, `SAVE_DATA_STEP`,
    /// `AUTO_QUALITY_BUDGET`).
    pub auto_quality: crate::transform::quality::AutoQuality,
    /// SIH's fallback image (`ENABLE_DEFAULT_FALLBACK_IMAGE`,
    /// `DEFAULT_FALLBACK_IMAGE_BUCKET`, `DEFAULT_FALLBACK_IMAGE_KEY`).
    pub fallback: Option<crate::request::Source>,
    /// Print CloudWatch EMF metrics to stdout (`METRICS=emf`; on by default under Lambda).
    pub emf_metrics: bool,
    /// Named transformations (`PRESETS` JSON or `PRESETS_FILE`) and `PRESETS_ONLY`.
    pub presets: crate::request::Presets,
    /// Invalidate the variants of originals named by S3 event notifications
    /// (Lambda; `INVALIDATE_ON_CHANGE=Yes` with `DISTRIBUTION_ID`).
    pub invalidate_on_change: Option<ChangeInvalidation>,
    /// Warm the presets' variants of uploaded originals through CloudFront
    /// (Lambda, with invalidation on change; `WARM_PRESETS`).
    pub warm: Option<crate::ops::warm::WarmSettings>,
    /// What `width=auto` and `dpr=auto` may become (`WIDTH_BREAKPOINTS`,
    /// `DPR_BREAKPOINTS`).
    pub breakpoints: Breakpoints,
}

/// The binary body that fits API Gateway's and Lambda's 6 MB response once
/// base64-encoded, with 16 KiB left for headers and the envelope.
pub const LAMBDA_RESPONSE_BYTES: u64 = (6 * 1024 * 1024 - 16 * 1024) * 3 / 4;

/// Default `TRANSFORM_QUEUE_SIZE`: imgproxy's default queue. Waiting
/// requests hold no original until memory is reserved for it
/// (`MAX_INFLIGHT_BYTES`), so a long queue costs little memory.
pub const DEFAULT_QUEUE: usize = 2048;

/// The share of the memory given to the process that `MAX_INFLIGHT_BYTES`
/// takes by default (1/4): originals are compressed, and decoding them and
/// libvips' working set need several times their size.
pub const INFLIGHT_SHARE: u64 = 4;

/// Memory assumed when none can be read (1 GiB).
const ASSUMED_MEMORY: u64 = 1 << 30;

/// The memory this process is given, in bytes: Lambda's
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MB), else the cgroup's limit (v2
/// `memory.max`, v1 `memory.limit_in_bytes`) or `/proc/meminfo`'s
/// `MemTotal`, whichever is smaller.
pub fn process_memory(lambda_mb: Option<&str>) -> Option<u64> {
    if let Some(mb) = lambda_mb.and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(mb.saturating_mul(1024 * 1024));
    }
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|text| cgroup_limit(&text));
    let total = read("/proc/meminfo").and_then(|text| mem_total(&text));
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

/// A cgroup memory limit file's value in bytes (`max`: none).
fn cgroup_limit(text: &str) -> Option<u64> {
    // cgroup v1 writes "no limit" as a page-rounded i64::MAX.
    text.trim().parse::<u64>().ok().filter(|&n| n < 1 << 60)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let kib = line.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Default `MAX_INFLIGHT_BYTES`: [`INFLIGHT_SHARE`] of `memory` (1 GiB when
/// unknown), at least `max_source_bytes` (one original must fit).
pub fn default_inflight_bytes(memory: Option<u64>, max_source_bytes: u64) -> u64 {
    (memory.unwrap_or(ASSUMED_MEMORY) / INFLIGHT_SHARE).max(max_source_bytes)
}

/// Default `MAX_EDITS` (defined with the request's assembly, which applies it).
pub use crate::request::DEFAULT_MAX_EDITS;

/// Default `REQUEST_TIMEOUT`: an answer before API Gateway's 29 s and
/// CloudFront's 30 s origin timeout give up on us.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(25);

/// SIH's `SECRETS_MANAGER` (the secret) and `SECRET_KEY` (the JSON field in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// The field of its JSON value that holds the signing secret.
    pub field: String,
}

impl Config {
    /// What the request parsers need from the configuration.
    pub fn rules(&self) -> Rules<'_> {
        Rules {
            limits: self.limits,
            buckets: &self.source_buckets,
        }
    }

    /// What reading a URL into a request needs from the configuration.
    pub fn assembly(&self) -> crate::request::Settings<'_> {
        crate::request::Settings {
            rules: self.rules(),
            rewrite: self.rewrite.as_ref(),
            presets: &self.presets,
            max_edits: self.max_edits,
            breakpoints: &self.breakpoints,
        }
    }
}

impl<'a> From<&'a Config> for HeaderSettings<'a> {
    fn from(config: &'a Config) -> Self {
        HeaderSettings {
            cache_control: &config.cache_control,
            error_max_age: config.error_max_age,
            cors_origin: config.cors_origin.as_deref(),
        }
    }
}

impl<'a> From<&'a std::sync::Arc<Config>> for HeaderSettings<'a> {
    fn from(config: &'a std::sync::Arc<Config>) -> Self {
        HeaderSettings::from(&**config)
    }
}

impl Config {
    /// The settings that change a transformed image's bytes.
    pub fn output_settings(&self) -> OutputSettings {
        OutputSettings {
            limits: self.limits,
            max_input_pixels: self.max_input_pixels,
            max_frames: self.max_frames,
            effort: self.effort,
            fast_shrink_on_load: self.fast_shrink_on_load,
            max_response_bytes: self.max_response_bytes,
            auto_quality: self.auto_quality,
        }
    }
}

/// The CPUs this process may use.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

impl Config {
    /// libvips threads per image: `VIPS_CONCURRENCY`, else the CPUs divided
    /// among the transforms that run at once, at least one. The server runs
    /// one transform per CPU, so each gets one thread: more would only
    /// oversubscribe the CPUs (measured in benches/README.md). Lambda sends an
    /// instance one request at a time and sets [`Config::vips_threads`] to
    /// the vCPUs.
    pub fn threads_per_image(&self) -> usize {
        self.vips_threads
            .unwrap_or(cpus() / self.transform_concurrency.max(1))
            .max(1)
    }
}

impl Default for Config {
    fn default() -> Self {
        let transform_concurrency = cpus();
        Config {
            limits: Limits::default(),
            max_source_bytes: 50 * 1024 * 1024,
            max_input_pixels: 50_000_000,
            max_frames: 256,
            auto_format: AutoFormat {
                avif: true,
                webp: true,
            },
            cache_control: "public, max-age=31536000, immutable".to_string(),
            error_max_age: 60,
            cors_origin: None,
            transform_concurrency,
            vips_threads: None,
            transform_queue: DEFAULT_QUEUE,
            max_inflight_bytes: default_inflight_bytes(
                process_memory(
                    std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                        .ok()
                        .as_deref(),
                ),
                50 * 1024 * 1024,
            ),
            max_edits: DEFAULT_MAX_EDITS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            s3_timeouts: crate::origin::S3Timeouts::default(),
            effort: Effort::default(),
            fast_shrink_on_load: false,
            source_buckets: Vec::new(),
            routes: None,
            viewer_host_header: None,
            rewrite: None,
            signing: None,
            thumbor_key: None,
            secrets_manager: None,
            s3_force_path_style: false,
            max_response_bytes: None,
            auto_quality: Default::default(),
            fallback: None,
            emf_metrics: false,
            presets: crate::request::Presets::default(),
            invalidate_on_change: None,
            warm: None,
            breakpoints: Breakpoints::default(),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let get = |var: &'static str| {
            lookup(var)
                .map(|v| (var, v.trim().to_string()))
                .filter(|(_, v)| !v.is_empty())
        };

        if let Some((var, v)) = get("MAX_OUTPUT_WIDTH") {
            c.limits.max_width = number(var, &v, 1, 65_535)? as u32;
        }
        if let Some((var, v)) = get("MAX_OUTPUT_HEIGHT") {
            c.limits.max_height = number(var, &v, 1, 65_535)? as u32;
        }
        if let Some((var, v)) = get("MAX_SOURCE_BYTES") {
            c.max_source_bytes = number(var, &v, 1, u64::MAX)?;
        }
        if let Some((var, v)) = get("MAX_INPUT_PIXELS") {
            c.max_input_pixels = number(var, &v, 1, u64::MAX)?;
        }
        if let Some((var, v)) = get("MAX_FRAMES") {
            c.max_frames = number(var, &v, 1, 10_000)? as u32;
        }
        if let Some((var, v)) = get("AUTO_FORMAT") {
            c.auto_format = auto_format(var, &v)?;
        } else if let Some((var, v)) = get("AUTO_WEBP") {
            c.auto_format = AutoFormat {
                avif: false,
                webp: yes_no(var, &v)?,
            };
        }
        if let Some((_, v)) = get("CACHE_CONTROL") {
            if v.bytes().any(|b| b.is_ascii_control()) {
                return Err(ConfigError {
                    var: "CACHE_CONTROL",
                    value: v,
                    problem: "has control characters".into(),
                });
            }
            c.cache_control = v;
        }
        if let Some((var, v)) = get("ERROR_MAX_AGE") {
            c.error_max_age = number(var, &v, 0, 86_400)? as u32;
        }
        if let Some((var, v)) = get("CORS_ENABLED")
            && yes_no(var, &v)?
        {
            let origin = get("CORS_ORIGIN")
                .map(|(_, v)| v)
                .unwrap_or_else(|| "*".to_string());
            if origin.bytes().any(|b| b.is_ascii_control()) {
                return Err(ConfigError {
                    var: "CORS_ORIGIN",
                    value: origin,
                    problem: "has control characters".into(),
                });
            }
            c.cors_origin = Some(origin);
        }
        if let Some((_, v)) = get("SOURCE_BUCKETS") {
            c.source_buckets = v
                .split(',')
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(str::to_string)
                .collect();
        }
        match (get("ORIGINS"), get("MAPPINGS")) {
            (Some((_, origins)), mappings) => {
                if let Some((var, v)) = get("SOURCE_BUCKETS") {
                    return Err(ConfigError {
                        var,
                        value: v,
                        problem: "and ORIGINS are two ways to name the origins: set one (an S3 origin in ORIGINS names its bucket)".into(),
                    });
                }
                // The problem names the entry; the JSON may hold header secrets, so it is not echoed.
                let routes = Routes::parse(&origins, mappings.as_ref().map(|(_, m)| m.as_str()))
                    .map_err(|e| ConfigError {
                        var: if e.entry.starts_with("MAPPINGS") {
                            "MAPPINGS"
                        } else {
                            "ORIGINS"
                        },
                        value: "(not shown)".into(),
                        problem: e.to_string(),
                    })?;
                c.source_buckets = routes.buckets();
                c.routes = Some(routes);
            }
            (None, Some((var, v))) => {
                return Err(ConfigError {
                    var,
                    value: v,
                    problem: "names origins that ORIGINS must define".into(),
                });
            }
            (None, None) => {}
        }
        if let Some((var, v)) = get("VIEWER_HOST_HEADER") {
            let name = http::HeaderName::from_bytes(v.as_bytes()).map_err(|_| ConfigError {
                var,
                value: v.clone(),
                problem: "is not an HTTP header name".into(),
            })?;
            c.viewer_host_header = Some(name);
        }
        match (get("REWRITE_MATCH_PATTERN"), get("REWRITE_SUBSTITUTION")) {
            (Some((var, pattern)), Some((_, substitution))) => {
                c.rewrite =
                    Some(
                        Rewrite::new(&pattern, &substitution).map_err(|problem| ConfigError {
                            var,
                            value: pattern.clone(),
                            problem,
                        })?,
                    );
            }
            (Some((var, v)), None) => {
                return Err(ConfigError {
                    var,
                    value: v,
                    problem: "needs REWRITE_SUBSTITUTION too".into(),
                });
            }
            _ => {}
        }
        if let Some((var, v)) = get("ENABLE_SIGNATURE")
            && yes_no(var, &v)?
        {
            let hidden = |var: &'static str| {
                move |problem| ConfigError {
                    var,
                    value: "(hidden)".into(),
                    problem,
                }
            };
            match (
                get("SIGNATURE_KEYS"),
                get("SIGNATURE_SECRET"),
                get("SECRETS_MANAGER"),
            ) {
                (Some((var, json)), _, _) => {
                    c.signing = Some(Keyring::from_json(&json).map_err(hidden(var))?)
                }
                (None, Some((var, secret)), _) => {
                    c.signing = Some(
                        Keyring::new(vec![SigningKey::new("default", &secret, None)])
                            .map_err(hidden(var))?,
                    )
                }
                (None, None, Some((_, secret_id))) => {
                    let field = get("SECRET_KEY").map(|(_, f)| f).ok_or_else(|| ConfigError {
                        var: "SECRET_KEY",
                        value: String::new(),
                        problem: "must name the field of the SECRETS_MANAGER secret that holds the signing secret"
                            .into(),
                    })?;
                    c.secrets_manager = Some(SecretRef { secret_id, field });
                }
                (None, None, None) => {
                    return Err(ConfigError {
                        var: "ENABLE_SIGNATURE",
                        value: v,
                        problem: "needs SIGNATURE_KEYS, SIGNATURE_SECRET or SECRETS_MANAGER with SECRET_KEY".into(),
                    });
                }
            }
        }
        // A key bound to an origin must name one that ORIGINS defines.
        if let Some(ring) = &c.signing
            && let Some(origin) = ring
                .keys()
                .iter()
                .filter_map(|k| k.origin.as_deref())
                .find(|o| c.routes.as_ref().is_none_or(|r| r.origins.get(o).is_none()))
        {
            return Err(ConfigError {
                var: "SIGNATURE_KEYS",
                value: "(hidden)".into(),
                problem: format!(
                    "binds a key to the origin {origin:?}, which ORIGINS does not define"
                ),
            });
        }
        let presets = match (get("PRESETS"), get("PRESETS_FILE")) {
            (Some((var, json)), _) => Some((var, json)),
            (None, Some((var, path))) => Some((
                var,
                std::fs::read_to_string(&path).map_err(|e| ConfigError {
                    var,
                    value: path.clone(),
                    problem: format!("cannot be read: {e}"),
                })?,
            )),
            _ => None,
        };
        if let Some((var, json)) = presets {
            c.presets =
                crate::request::Presets::from_json(&json, &c.limits).map_err(|problem| {
                    ConfigError {
                        var,
                        value: json.chars().take(60).collect(),
                        problem,
                    }
                })?;
        }
        if let Some((var, v)) = get("PRESETS_ONLY") {
            c.presets.only = yes_no(var, &v)?;
            if c.presets.only && c.presets.is_empty() {
                return Err(ConfigError {
                    var,
                    value: v,
                    problem: "needs PRESETS or PRESETS_FILE".into(),
                });
            }
        }
        if let Some((var, v)) = get("METRICS") {
            c.emf_metrics = match v.to_ascii_lowercase().as_str() {
                "emf" => true,
                "none" | "off" | "no" => false,
                _ => {
                    return Err(ConfigError {
                        var,
                        value: v,
                        problem: "is not emf or none".into(),
                    });
                }
            };
        }
        if let Some((var, v)) = get("MAX_RESPONSE_BYTES") {
            c.max_response_bytes = Some(number(var, &v, 1024, u64::MAX)?);
        }
        if let Some((var, v)) = get("AUTO_QUALITY") {
            c.auto_quality.default_on = yes_no(var, &v)?;
        }
        for (name, field) in [
            ("QUALITY_TARGET", &mut c.auto_quality.target_tenths),
            ("SAVE_DATA_STEP", &mut c.auto_quality.save_data_step_tenths),
        ] {
            if let Some((var, v)) = get(name) {
                *field =
                    crate::transform::quality::AutoQuality::parse_score(&v).ok_or_else(|| {
                        ConfigError {
                            var,
                            value: v.clone(),
                            problem: "is not a SSIMULACRA2 score from 0 to 100".into(),
                        }
                    })?;
            }
        }
        if let Some((var, v)) = get("AUTO_QUALITY_BUDGET") {
            c.auto_quality.budget = seconds(var, &v, 0.0, 60.0)?;
        }
        if let Some((var, v)) = get("ENABLE_DEFAULT_FALLBACK_IMAGE")
            && yes_no(var, &v)?
        {
            let key = get("DEFAULT_FALLBACK_IMAGE_KEY")
                .map(|(_, k)| k)
                .ok_or_else(|| ConfigError {
                    var: "DEFAULT_FALLBACK_IMAGE_KEY",
                    value: String::new(),
                    problem: "must name the fallback image when ENABLE_DEFAULT_FALLBACK_IMAGE=Yes"
                        .into(),
                })?;
            let bucket = get("DEFAULT_FALLBACK_IMAGE_BUCKET").map(|(_, b)| b);
            c.fallback = Some(crate::request::Source { bucket, key });
        }
        if let Some((var, v)) = get("S3_FORCE_PATH_STYLE") {
            c.s3_force_path_style = yes_no(var, &v)?;
        }
        if let Some((_, v)) = get("THUMBOR_SECURITY_KEY") {
            c.thumbor_key = Some(Secret(v));
        }
        if let Some((var, v)) = get("TRANSFORM_CONCURRENCY") {
            c.transform_concurrency = number(var, &v, 1, 1024)? as usize;
        }
        if let Some((var, v)) = get("VIPS_CONCURRENCY") {
            c.vips_threads = Some(number(var, &v, 1, 1024)? as usize);
        }
        if let Some((var, v)) = get("TRANSFORM_QUEUE_SIZE") {
            c.transform_queue = number(var, &v, 0, 100_000)? as usize;
        }
        c.max_inflight_bytes = match get("MAX_INFLIGHT_BYTES") {
            Some((var, v)) => {
                let n = number(var, &v, 1, u64::MAX)?;
                if n < c.max_source_bytes {
                    return Err(ConfigError {
                        var,
                        value: v,
                        problem: format!(
                            "is below MAX_SOURCE_BYTES ({}): one original must fit",
                            c.max_source_bytes
                        ),
                    });
                }
                n
            }
            None => default_inflight_bytes(
                process_memory(lookup("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").as_deref()),
                c.max_source_bytes,
            ),
        };
        if let Some((var, v)) = get("MAX_EDITS") {
            c.max_edits = number(var, &v, 1, 1000)? as usize;
        }
        if let Some((var, v)) = get("REQUEST_TIMEOUT") {
            c.request_timeout = seconds(var, &v, 0.1, 900.0)?;
        }
        if let Some((var, v)) = get("S3_CONNECT_TIMEOUT") {
            c.s3_timeouts.connect = seconds(var, &v, 0.1, 900.0)?;
        }
        if let Some((var, v)) = get("S3_ATTEMPT_TIMEOUT") {
            c.s3_timeouts.attempt = seconds(var, &v, 0.1, 900.0)?;
        }
        if let Some((var, v)) = get("S3_TIMEOUT") {
            c.s3_timeouts.operation = seconds(var, &v, 0.1, 900.0)?;
        }
        if let Some((var, v)) = get("S3_MAX_ATTEMPTS") {
            c.s3_timeouts.max_attempts = number(var, &v, 1, 10)? as u32;
        }
        let styles = match get("INVALIDATE_URL_STYLES") {
            Some((var, v)) => UrlStyles::parse(&v).map_err(|problem| ConfigError {
                var,
                value: v.clone(),
                problem,
            })?,
            None => UrlStyles::QUERY,
        };
        let distribution = get("DISTRIBUTION_ID")
            .map(|(var, v)| {
                distribution_id(&v).map_err(|e| ConfigError {
                    var,
                    value: v.clone(),
                    problem: format!("is not a distribution id ({e})"),
                })
            })
            .transpose()?;
        if let Some((var, v)) = get("INVALIDATE_ON_CHANGE")
            && yes_no(var, &v)?
        {
            let distribution_id = distribution.ok_or_else(|| ConfigError {
                var: "DISTRIBUTION_ID",
                value: String::new(),
                problem: "must name the CloudFront distribution when INVALIDATE_ON_CHANGE=Yes"
                    .into(),
            })?;
            c.invalidate_on_change = Some(ChangeInvalidation {
                distribution_id,
                styles,
            });
        }
        if let Some((var, v)) = get("FAST_SHRINK_ON_LOAD") {
            c.fast_shrink_on_load = yes_no(var, &v)?;
        }
        if let Some((var, v)) = get("WEBP_EFFORT") {
            c.effort.webp = number(var, &v, 0, 6)? as u8;
        }
        if let Some((var, v)) = get("AVIF_EFFORT") {
            c.effort.avif = number(var, &v, 0, 9)? as u8;
        }
        if let Some((var, v)) = get("GIF_EFFORT") {
            c.effort.gif = number(var, &v, 1, 10)? as u8;
        }
        c.warm = warm_settings(&get, &c, styles)?;
        // After MAX_OUTPUT_WIDTH, which bounds the width breakpoints.
        if let Some((var, v)) = get("WIDTH_BREAKPOINTS") {
            c.breakpoints =
                c.breakpoints
                    .with_widths(&v, c.limits.max_width)
                    .map_err(|problem| ConfigError {
                        var,
                        value: v.clone(),
                        problem,
                    })?;
        } else {
            c.breakpoints = c.breakpoints.within(c.limits.max_width);
        }
        if let Some((var, v)) = get("DPR_BREAKPOINTS") {
            c.breakpoints = c.breakpoints.with_dprs(&v).map_err(|problem| ConfigError {
                var,
                value: v.clone(),
                problem,
            })?;
        }
        Ok(c)
    }
}

/// `WARM_PRESETS` and its companions; read after the presets, `AUTO_FORMAT`
/// and invalidation on change, which it depends on.
fn warm_settings(
    get: &dyn Fn(&'static str) -> Option<(&'static str, String)>,
    c: &Config,
    styles: UrlStyles,
) -> Result<Option<crate::ops::warm::WarmSettings>, ConfigError> {
    use crate::ops::warm;
    let Some((var, list)) = get("WARM_PRESETS") else {
        return Ok(None);
    };
    let error = |var, value: &str, problem: String| ConfigError {
        var,
        value: value.to_string(),
        problem,
    };
    let presets = warm::preset_names(&list);
    if presets.is_empty() {
        return Ok(None);
    }
    if let Some(name) = presets.iter().find(|n| c.presets.get(n).is_err()) {
        return Err(error(
            var,
            &list,
            format!("names {name:?}, which PRESETS does not define"),
        ));
    }
    if c.invalidate_on_change.is_none() {
        return Err(error(
            var,
            &list,
            "needs INVALIDATE_ON_CHANGE=Yes: warming follows the invalidation of the uploaded key"
                .into(),
        ));
    }
    if !styles.query {
        return Err(error(
            var,
            &list,
            "warms query-style URLs (/<key>?preset=NAME): INVALIDATE_URL_STYLES must include query"
                .into(),
        ));
    }
    let base = match get("DISTRIBUTION_DOMAIN") {
        Some((var, v)) => warm::base_url(&v).map_err(|p| error(var, &v, p))?,
        None => {
            return Err(error(
                "DISTRIBUTION_DOMAIN",
                "",
                "must name the distribution's domain when WARM_PRESETS is set".into(),
            ));
        }
    };
    let accept = get("WARM_ACCEPT");
    let classes = warm::classes(accept.as_ref().map(|(_, v)| v.as_str()), c.auto_format)
        .map_err(|p| error("WARM_ACCEPT", accept.as_ref().map_or("", |(_, v)| v), p))?;
    let concurrency = match get("WARM_CONCURRENCY") {
        Some((var, v)) => number(var, &v, 1, 64)? as usize,
        None => warm::DEFAULT_CONCURRENCY,
    };
    let wait = match get("WARM_WAIT") {
        Some((var, v)) => seconds(var, &v, 0.0, 900.0)?,
        None => warm::DEFAULT_WAIT,
    };
    Ok(Some(warm::WarmSettings {
        base,
        presets,
        classes,
        concurrency,
        wait,
    }))
}

fn number(var: &'static str, value: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError {
            var,
            value: value.to_string(),
            problem: format!("is not a whole number from {min} to {max}"),
        }),
    }
}

/// A duration in the [one grammar](crate::duration) (`25`, `2.5s`,
/// `500ms`, `1m`; a bare number is seconds) from `min` to `max` seconds.
fn seconds(
    var: &'static str,
    value: &str,
    min: f64,
    max: f64,
) -> Result<std::time::Duration, ConfigError> {
    match crate::duration::parse(value, crate::duration::Form::ALL) {
        Some(d) if (min..=max).contains(&d.as_secs_f64()) => Ok(d),
        _ => Err(ConfigError {
            var,
            value: value.to_string(),
            problem: format!("is not a duration from {min} s to {max} s (e.g. 25, 2.5s, 500ms)"),
        }),
    }
}

/// SIH's `Yes`/`No` switches (also accepts true/false, 1/0, on/off).
fn yes_no(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" | "on" => Ok(true),
        "no" | "false" | "0" | "off" => Ok(false),
        _ => Err(ConfigError {
            var,
            value: value.to_string(),
            problem: "is not Yes or No".into(),
        }),
    }
}

fn auto_format(var: &'static str, value: &str) -> Result<AutoFormat, ConfigError> {
    let mut f = AutoFormat {
        avif: false,
        webp: false,
    };
    let lower = value.to_ascii_lowercase();
    if matches!(lower.as_str(), "no" | "none" | "off" | "false") {
        return Ok(f);
    }
    if matches!(lower.as_str(), "yes" | "on" | "true") {
        return Ok(AutoFormat {
            avif: true,
            webp: true,
        });
    }
    for part in lower.split(',').map(str::trim) {
        match part {
            "avif" => f.avif = true,
            "webp" => f.webp = true,
            _ => {
                return Err(ConfigError {
                    var,
                    value: value.to_string(),
                    problem: "is not a list of avif and webp (or Yes/No)".into(),
                });
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    /// Each case's settings, after `base`, are refused with an error naming the variable.
    fn refused(base: &[(&str, &str)], cases: &[(&[(&str, &str)], &str)]) {
        for (pairs, var) in cases {
            let all = [base, pairs].concat();
            let e = cfg(&all).unwrap_err();
            assert_eq!(e.var, *var, "{pairs:?}: {e}");
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let webp_only = AutoFormat {
            avif: false,
            webp: true,
        };
        let both = AutoFormat {
            avif: true,
            webp: true,
        };
        for (pairs, auto_format, cors_origin) in [
            (&[][..], both, None),
            (
                &[
                    ("AUTO_WEBP", "Yes"),
                    ("CORS_ENABLED", "Yes"),
                    ("MAX_OUTPUT_WIDTH", "100"),
                ],
                webp_only,
                Some("*"),
            ),
            (
                &[
                    ("AUTO_FORMAT", "webp"),
                    ("AUTO_WEBP", "No"),
                    ("CORS_ENABLED", "Yes"),
                    ("CORS_ORIGIN", "https://a.example"),
                ],
                webp_only,
                Some("https://a.example"),
            ),
        ] {
            let c = cfg(pairs).unwrap();
            assert_eq!(c.auto_format, auto_format, "{pairs:?}");
            assert_eq!(c.cors_origin.as_deref(), cors_origin, "{pairs:?}");
        }
        let narrow = cfg(&[("MAX_OUTPUT_WIDTH", "100")]).unwrap();
        assert_eq!(narrow.limits.max_width, 100);
        assert!(!cfg(&[("AUTO_FORMAT", "No")]).unwrap().auto_format.enabled());
    }

    #[test]
    fn styles_and_signing() {
        let c = cfg(&[
            ("SOURCE_BUCKETS", " main, other ,"),
            ("REWRITE_MATCH_PATTERN", "/(filters-)/gm"),
            ("REWRITE_SUBSTITUTION", "filters:"),
            ("ENABLE_SIGNATURE", "Yes"),
            (
                "SIGNATURE_KEYS",
                r#"[{"id":"a","secret":"s","prefix":"users/a/"}]"#,
            ),
            ("THUMBOR_SECURITY_KEY", "k"),
        ])
        .unwrap();
        assert_eq!(c.source_buckets, vec!["main", "other"]);
        assert!(c.rewrite.is_some());
        assert_eq!(
            c.signing
                .as_ref()
                .unwrap()
                .get("a")
                .unwrap()
                .prefix
                .as_deref(),
            Some("users/a/")
        );
        assert!(
            !format!("{c:?}").contains("\"s\""),
            "secrets stay out of Debug"
        );
        let single = cfg(&[("ENABLE_SIGNATURE", "Yes"), ("SIGNATURE_SECRET", "secret")]).unwrap();
        assert!(single.signing.unwrap().get("default").is_some());
        assert!(
            cfg(&[("SIGNATURE_SECRET", "secret")])
                .unwrap()
                .signing
                .is_none()
        );
        refused(
            &[],
            &[
                (&[("ENABLE_SIGNATURE", "Yes")], "ENABLE_SIGNATURE"),
                (
                    &[("ENABLE_SIGNATURE", "Yes"), ("SECRETS_MANAGER", "s")],
                    "SECRET_KEY",
                ),
                (
                    &[("ENABLE_SIGNATURE", "Yes"), ("SIGNATURE_KEYS", "[]")],
                    "SIGNATURE_KEYS",
                ),
                (&[("REWRITE_MATCH_PATTERN", "/x/")], "REWRITE_MATCH_PATTERN"),
                (
                    &[
                        ("REWRITE_MATCH_PATTERN", "/(?<=a)b/"),
                        ("REWRITE_SUBSTITUTION", "c"),
                    ],
                    "REWRITE_MATCH_PATTERN",
                ),
            ],
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("MAX_OUTPUT_WIDTH", "0"),
            ("AUTO_FORMAT", "jpeg"),
            ("CORS_ENABLED", "maybe"),
            ("ERROR_MAX_AGE", "x"),
            ("AVIF_EFFORT", "10"),
            ("GIF_EFFORT", "0"),
            ("INVALIDATE_ON_CHANGE", "sometimes"),
            ("INVALIDATE_URL_STYLES", "query,imgix"),
            ("DISTRIBUTION_ID", "d111.cloudfront.net"),
            ("METRICS", "prometheus"),
            ("MAX_EDITS", "0"),
            ("REQUEST_TIMEOUT", "forever"),
            ("REQUEST_TIMEOUT", "0"),
            ("S3_ATTEMPT_TIMEOUT", "-1"),
            ("S3_MAX_ATTEMPTS", "0"),
            ("TRANSFORM_QUEUE_SIZE", "many"),
            ("MAX_RESPONSE_BYTES", "10"),
            ("S3_FORCE_PATH_STYLE", "perhaps"),
            ("PRESETS", "[1]"),
            ("PRESETS_ONLY", "Yes"),
            ("ENABLE_DEFAULT_FALLBACK_IMAGE", "Yes"),
            ("WIDTH_BREAKPOINTS", "320,wide"),
            ("WIDTH_BREAKPOINTS", "5000"),
            ("DPR_BREAKPOINTS", "1,2,5"),
        ] {
            let e = cfg(&[(k, v)]).unwrap_err().to_string();
            let named = if k == "ENABLE_DEFAULT_FALLBACK_IMAGE" {
                "DEFAULT_FALLBACK_IMAGE_KEY"
            } else {
                k
            };
            assert!(e.contains(named), "{k}: {e}");
        }
    }

    #[test]
    fn breakpoints() {
        let d = cfg(&[]).unwrap().breakpoints;
        assert_eq!(d, Breakpoints::default());
        let c = cfg(&[
            ("WIDTH_BREAKPOINTS", "1600, 400 ,800"),
            ("DPR_BREAKPOINTS", "2,1"),
        ])
        .unwrap();
        assert_eq!(c.breakpoints.widths(), [400, 800, 1600]);
        assert_eq!(c.breakpoints.dprs(), [1.0, 2.0]);
        // the default widths stop at a smaller MAX_OUTPUT_WIDTH, which is the last
        let small = cfg(&[("MAX_OUTPUT_WIDTH", "1000")]).unwrap().breakpoints;
        assert_eq!(small.widths(), [320, 480, 640, 750, 828, 1000]);
        // an explicit list must stay within it, and the error names the entry
        let e = cfg(&[
            ("MAX_OUTPUT_WIDTH", "1000"),
            ("WIDTH_BREAKPOINTS", "640,1200"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "WIDTH_BREAKPOINTS");
        assert!(e.to_string().contains("\"1200\""), "{e}");
    }

    #[test]
    fn runtime_settings() {
        let c = cfg(&[
            ("METRICS", "emf"),
            ("MAX_RESPONSE_BYTES", "2048"),
            ("S3_FORCE_PATH_STYLE", "Yes"),
            ("ENABLE_DEFAULT_FALLBACK_IMAGE", "Yes"),
            ("DEFAULT_FALLBACK_IMAGE_BUCKET", "assets"),
            ("DEFAULT_FALLBACK_IMAGE_KEY", "missing.png"),
            ("PRESETS", r#"{"thumb":"width=10"}"#),
            ("PRESETS_ONLY", "Yes"),
            ("FAST_SHRINK_ON_LOAD", "Yes"),
        ])
        .unwrap();
        assert!(c.emf_metrics && c.s3_force_path_style && c.presets.only);
        assert!(c.fast_shrink_on_load);
        assert_eq!(c.max_response_bytes, Some(2048));
        let fallback = c.fallback.unwrap();
        assert_eq!(
            (fallback.bucket.as_deref(), fallback.key.as_str()),
            (Some("assets"), "missing.png")
        );
        assert_eq!(
            c.presets.get("thumb").unwrap(),
            [("width".to_string(), "10".to_string())]
        );
        let defaults = cfg(&[]).unwrap();
        assert!(
            !defaults.emf_metrics
                && !defaults.fast_shrink_on_load
                && defaults.max_response_bytes.is_none()
                && defaults.fallback.is_none()
        );
    }

    #[test]
    fn limits_and_timeouts() {
        use std::time::Duration;
        let d = cfg(&[("TRANSFORM_CONCURRENCY", "3")]).unwrap();
        assert_eq!(
            d.transform_queue, DEFAULT_QUEUE,
            "a generous queue by default"
        );
        assert_eq!(d.threads_per_image(), (cpus() / 3).max(1));
        let one = cfg(&[("TRANSFORM_CONCURRENCY", "1")]).unwrap();
        assert_eq!(
            one.threads_per_image(),
            cpus(),
            "one transform gets every CPU"
        );
        let set = cfg(&[("VIPS_CONCURRENCY", "3")]).unwrap();
        assert_eq!(set.threads_per_image(), 3);
        let err = cfg(&[("VIPS_CONCURRENCY", "0")]).unwrap_err().to_string();
        assert!(
            err.contains("VIPS_CONCURRENCY") && err.contains("from 1 to 1024"),
            "{err}"
        );
        assert_eq!(d.max_edits, DEFAULT_MAX_EDITS);
        assert_eq!(d.request_timeout, Duration::from_secs(25));
        assert_eq!(d.s3_timeouts, crate::origin::S3Timeouts::default());
        let c = cfg(&[
            ("TRANSFORM_QUEUE_SIZE", "0"),
            ("MAX_EDITS", "5"),
            ("REQUEST_TIMEOUT", "1.5"),
            ("S3_CONNECT_TIMEOUT", "250ms"),
            ("S3_ATTEMPT_TIMEOUT", "2s"),
            ("S3_TIMEOUT", "4"),
            ("S3_MAX_ATTEMPTS", "1"),
        ])
        .unwrap();
        assert_eq!((c.transform_queue, c.max_edits), (0, 5));
        assert_eq!(c.request_timeout, Duration::from_millis(1500));
        assert_eq!(c.s3_timeouts.connect, Duration::from_millis(250));
        assert_eq!(c.s3_timeouts.attempt, Duration::from_secs(2));
        assert_eq!(c.s3_timeouts.operation, Duration::from_secs(4));
        assert_eq!(c.s3_timeouts.max_attempts, 1);
    }

    #[test]
    fn the_memory_budget_follows_the_memory_given() {
        const MIB: u64 = 1024 * 1024;
        // Lambda's memory setting wins: a quarter of it.
        let c = cfg(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048")]).unwrap();
        assert_eq!(c.max_inflight_bytes, 512 * MIB);
        // never below one original
        let small = cfg(&[("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")]).unwrap();
        assert_eq!(small.max_inflight_bytes, 50 * MIB);
        let big = cfg(&[
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("MAX_SOURCE_BYTES", "104857600"),
        ])
        .unwrap();
        assert_eq!(big.max_inflight_bytes, 100 * MIB);
        // the host's memory otherwise
        let host = cfg(&[]).unwrap();
        assert_eq!(
            host.max_inflight_bytes,
            default_inflight_bytes(process_memory(None), 50 * MIB)
        );
        assert!(
            process_memory(None).is_some(),
            "this host's memory is readable"
        );
        let set = cfg(&[("MAX_INFLIGHT_BYTES", "209715200")]).unwrap();
        assert_eq!(set.max_inflight_bytes, 200 * MIB);
        for bad in ["0", "lots", "1048576"] {
            let e = cfg(&[("MAX_INFLIGHT_BYTES", bad)]).unwrap_err().to_string();
            assert!(e.contains("MAX_INFLIGHT_BYTES"), "{bad}: {e}");
        }
        // the files it reads
        assert_eq!(cgroup_limit("max\n"), None);
        assert_eq!(cgroup_limit("536870912\n"), Some(512 * MIB));
        assert_eq!(cgroup_limit("9223372036854771712\n"), None, "v1: no limit");
        assert_eq!(cgroup_limit(""), None);
        let meminfo = "MemTotal:        8052148 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total(meminfo), Some(8_052_148 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(default_inflight_bytes(None, 50 * MIB), 256 * MIB);
    }

    #[test]
    fn invalidation_on_change() {
        assert!(cfg(&[]).unwrap().invalidate_on_change.is_none());
        // the distribution alone (for the CLI) does not turn it on
        assert!(
            cfg(&[("DISTRIBUTION_ID", "E123")])
                .unwrap()
                .invalidate_on_change
                .is_none()
        );
        let on = cfg(&[
            ("INVALIDATE_ON_CHANGE", "Yes"),
            (
                "DISTRIBUTION_ID",
                "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL",
            ),
            ("INVALIDATE_URL_STYLES", "query,thumbor"),
        ])
        .unwrap()
        .invalidate_on_change
        .unwrap();
        assert_eq!(on.distribution_id, "E2QWRUHAPOMQZL");
        assert!(on.styles.thumbor && on.styles.query);
        let e = cfg(&[("INVALIDATE_ON_CHANGE", "Yes")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("DISTRIBUTION_ID"), "{e}");
    }

    #[test]
    fn warming_on_upload() {
        let base = [
            ("INVALIDATE_ON_CHANGE", "Yes"),
            ("DISTRIBUTION_ID", "E123"),
            ("DISTRIBUTION_DOMAIN", "d111111abcdef8.cloudfront.net"),
            ("PRESETS", r#"{"thumb":"width=100","hero":"width=1200"}"#),
            ("AUTO_FORMAT", "webp"),
        ];
        assert!(cfg(&base).unwrap().warm.is_none());
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            cfg(&pairs)
        };
        let warm = with(&[("WARM_PRESETS", "thumb, hero"), ("WARM_WAIT", "30s")])
            .unwrap()
            .warm
            .unwrap();
        assert_eq!(warm.base, "https://d111111abcdef8.cloudfront.net");
        assert_eq!(warm.presets, ["thumb", "hero"]);
        use crate::ops::warm::AcceptClass;
        assert_eq!(warm.classes, [AcceptClass::Webp, AcceptClass::Other]);
        assert_eq!(warm.wait, std::time::Duration::from_secs(30));
        let thumb = ("WARM_PRESETS", "thumb");
        refused(
            &base,
            &[
                (&[("WARM_PRESETS", "missing")], "WARM_PRESETS"),
                (&[thumb, ("WARM_ACCEPT", "avif")], "WARM_ACCEPT"),
                (&[thumb, ("WARM_CONCURRENCY", "0")], "WARM_CONCURRENCY"),
                (
                    &[thumb, ("INVALIDATE_URL_STYLES", "thumbor")],
                    "WARM_PRESETS",
                ),
                (
                    &[thumb, ("DISTRIBUTION_DOMAIN", "http://example.com")],
                    "DISTRIBUTION_DOMAIN",
                ),
                (&[thumb, ("INVALIDATE_ON_CHANGE", "No")], "WARM_PRESETS"),
            ],
        );
    }
}
