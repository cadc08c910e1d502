//! The terminal side of `image-handler invalidate`, `url` and `srcset`.
//!
//! This module owns the commands' arguments, what they print (human text on
//! stdout, warnings on stderr, or one JSON document with `--json`), the
//! progress bar (on stderr, only when it is a terminal) and the exit codes:
//! 0 success, 1 error (nothing done), 2 partial failure. The work itself is
//! done by [`crate::ops::invalidate`] and [`crate::ops::urls`].

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::Config;
use crate::duration::{self, Form, Unit};
use crate::ops::invalidate::{
    self, BatchStatus, Invalidator, Observer, Plan, Report, RunOptions, Target, UrlStyles,
};
use crate::ops::urls::{self, OriginalInfo, Signer, Srcset, UrlWriter};
use crate::ops::{OpsError, Outcome};
use crate::origin::mapping::Routes;
use crate::origin::{EmbeddedOrigin, FsOrigin, Origin, Router, S3Origin, S3Settings};

/// Arguments of `image-handler invalidate`.
#[derive(Debug, clap::Args)]
pub struct InvalidateArgs {
    /// Object keys whose every variant is invalidated (`/<key>*`). A leading `/` is ignored.
    #[arg(value_name = "KEY")]
    pub keys: Vec<String>,
    /// Invalidate every original whose key starts with PREFIX (`/<prefix>*`). Repeatable.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Vec<String>,
    /// Read keys from FILE, one per line (`-` reads standard input); blank
    /// lines and lines starting with `#` are skipped. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub from_file: Vec<PathBuf>,
    /// A path or URL as the site uses it (`/fit-in/300x0/a.jpg`,
    /// `https://dxxxx.cloudfront.net/eyJ...`), invalidated as written; a final
    /// `*` makes it a wildcard. For thumbor and base64 URLs. Repeatable.
    #[arg(long = "path", value_name = "PATH|URL")]
    pub paths: Vec<String>,
    /// Read paths or URLs from FILE, one per line (`-` reads standard input). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub paths_from_file: Vec<PathBuf>,
    /// The CloudFront distribution id (or ARN) [env: DISTRIBUTION_ID].
    #[arg(long, value_name = "ID", conflicts_with = "stack")]
    pub distribution_id: Option<String>,
    /// Read the distribution id from this CloudFormation stack's outputs.
    #[arg(long, value_name = "STACK")]
    pub stack: Option<String>,
    /// The stack output that holds the distribution id.
    #[arg(long, value_name = "KEY", default_value = "DistributionId")]
    pub stack_output: String,
    /// The URL styles the site's pages use: query (key first; the default),
    /// thumbor, base64, rewrite, comma-separated, or all. Keys of styles
    /// whose key is not a path prefix fall back to `/*`.
    #[arg(
        long,
        value_name = "STYLES",
        env = "INVALIDATE_URL_STYLES",
        default_value = "query"
    )]
    pub url_styles: String,
    /// Wait until every invalidation is completed, with a progress bar.
    #[arg(long)]
    pub wait: bool,
    /// Print the paths and batches; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Give up retrying (too many invalidations in progress) and waiting after this long.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Time between two status polls, and the first pause before a retry.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub poll_interval: Duration,
}

/// Declares [`EditArgs`] from one list of the query parameters the commands
/// take as options of their own (`--width 300`): each with its help and any
/// further clap settings (`allow_hyphen_values` for `--rotate -90`). The
/// struct's fields and [`EditArgs::params`] both come from the list.
macro_rules! edit_args {
    ($($(#[doc = $doc:literal])* $name:ident($($arg:tt)*),)*) => {
        /// Edit parameters of `url` and `srcset` (the query style's names).
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct EditArgs {
            $(
                $(#[doc = $doc])*
                #[arg(long, $($arg)*)]
                pub $name: Option<String>,
            )*
            /// Mirror top to bottom.
            #[arg(long)]
            pub flip: bool,
            /// Mirror left to right.
            #[arg(long)]
            pub flop: bool,
            /// Convert to grayscale.
            #[arg(long)]
            pub grayscale: bool,
            /// Any other query parameter of the service, as NAME=VALUE. Repeatable.
            #[arg(long = "param", value_name = "NAME=VALUE")]
            pub params: Vec<String>,
        }

        impl EditArgs {
            /// The value options, as name and value, in the list's order.
            fn values(&self) -> impl Iterator<Item = (&'static str, &Option<String>)> {
                [$((stringify!($name), &self.$name)),*].into_iter()
            }
        }
    };
}

edit_args! {
    /// Width in pixels.
    width(allow_hyphen_values = true),
    /// Height in pixels.
    height(allow_hyphen_values = true),
    /// cover, contain, fill, inside or outside.
    fit(),
    /// What `cover` keeps: centre, north, ..., entropy, attention.
    position(),
    /// jpeg, png, webp, avif, gif, tiff, or auto (from the browser's Accept).
    format(),
    /// Encoder quality, 1 to 100.
    quality(allow_hyphen_values = true),
    /// Clockwise rotation, a multiple of 90.
    rotate(allow_hyphen_values = true),
    /// Gaussian blur sigma, 0.3 to 1000.
    blur(allow_hyphen_values = true),
    /// Sharpen sigma, 0.01 to 10, or true.
    sharpen(allow_hyphen_values = true),
    /// Padding and flattening colour (hex or CSS name).
    background(),
    /// Device pixel ratio, 1 to 4.
    dpr(allow_hyphen_values = true),
}

impl EditArgs {
    /// The parameters, as name and value.
    pub fn params(&self) -> Result<Vec<(String, String)>, OpsError> {
        let mut out: Vec<(String, String)> = self
            .values()
            .filter_map(|(name, value)| value.as_ref().map(|v| (name.to_string(), v.clone())))
            .collect();
        for (name, on) in [
            ("flip", self.flip),
            ("flop", self.flop),
            ("grayscale", self.grayscale),
        ] {
            if on {
                out.push((name.to_string(), "true".to_string()));
            }
        }
        for param in &self.params {
            let (name, value) = param
                .split_once('=')
                .ok_or_else(|| OpsError::Input(format!("--param {param:?} is not NAME=VALUE")))?;
            out.push((name.to_string(), value.to_string()));
        }
        Ok(out)
    }
}

/// Where the URLs of `url` and `srcset` point, and how they are signed.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WriterArgs {
    /// Sign the URLs with a key from SIGNATURE_KEYS or SIGNATURE_SECRET (SIH v7 signature).
    #[arg(long)]
    pub sign: bool,
    /// Expiry of signed URLs: `YYYYMMDDTHHmmssZ` (UTC) or a lifetime such as `15m`, `24h`, `7d`.
    #[arg(long, requires = "sign")]
    pub expires: Option<String>,
    /// Which signing key to use (default: the first).
    #[arg(long, requires = "sign")]
    pub key_id: Option<String>,
    /// Where the service is, e.g. `https://dxxxx.cloudfront.net`; without it,
    /// URLs are written as paths.
    #[arg(long, env = "IMAGE_BASE_URL", value_name = "URL")]
    pub base: Option<String>,
}

/// Arguments of `image-handler url`.
#[derive(Debug, clap::Args)]
pub struct UrlArgs {
    /// The original's object key (a leading `/` is ignored).
    pub key: String,
    /// Edits.
    #[command(flatten)]
    pub edits: EditArgs,
    /// Base URL and signing.
    #[command(flatten)]
    pub writer: WriterArgs,
}

/// Arguments of `image-handler srcset`.
#[derive(Debug, clap::Args)]
pub struct SrcsetArgs {
    /// The original's object key (a leading `/` is ignored).
    pub key: String,
    /// Candidate widths in pixels, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present = "client_hints",
        value_name = "W,W,..."
    )]
    pub widths: Vec<u32>,
    /// One `<img src="...?width=auto">` sized by the browser's client hints
    /// instead of a srcset, after the markup that lets the page delegate the
    /// hints to `--base` (`Accept-CH` and `Permissions-Policy`, or a
    /// `<meta http-equiv="Delegate-CH">`).
    #[arg(long)]
    pub client_hints: bool,
    /// The `sizes` attribute.
    #[arg(long, default_value = "100vw")]
    pub sizes: String,
    /// The `alt` text.
    #[arg(long, default_value = "")]
    pub alt: String,
    /// The `loading` attribute: lazy, eager, or none to leave it out.
    #[arg(long, default_value = "lazy", value_parser = ["lazy", "eager", "none"])]
    pub loading: String,
    /// A `<picture>` with AVIF and WebP sources and a JPEG (PNG for
    /// transparent originals) fallback, for CDNs that do not vary on Accept.
    #[arg(long)]
    pub picture: bool,
    /// Crop every candidate to this aspect ratio, such as 16:9 (fit=cover).
    #[arg(long, value_name = "W:H", value_parser = parse_aspect)]
    pub aspect: Option<(u32, u32)>,
    /// The original's size, WIDTHxHEIGHT, instead of reading it from the origin.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub original_size: Option<(u32, u32)>,
    /// Where to read the original's size: a directory or `s3://bucket`
    /// (default: the built-in samples).
    #[arg(long, env = "IMAGE_ORIGIN", value_name = "DIR|s3://BUCKET")]
    pub origin: Option<String>,
    /// Edits applied to every candidate (`--format`; not --width, --height or --dpr).
    #[command(flatten)]
    pub edits: EditArgs,
    /// Base URL and signing.
    #[command(flatten)]
    pub writer: WriterArgs,
}

/// `--timeout` and `--poll-interval`: a duration in the
/// [one grammar](crate::duration) in whole numbers, up to hours (`90s`,
/// `15m`, `2h`, `500ms`, `1h 30m`), or a whole number of seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    const OPTION: Form = Form {
        bare_seconds: true,
        fractions: false,
        largest: Unit::Hour,
    };
    duration::parse(value, OPTION)
        .ok_or_else(|| format!("{value:?} is not a duration such as 90s, 15m or 2h"))
}

fn parse_pair(value: &str, sep: char, what: &str) -> Result<(u32, u32), String> {
    let parsed = value
        .split_once(sep)
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((a, b)) if a > 0 && b > 0 => Ok((a, b)),
        _ => Err(format!("{value:?} is not {what}")),
    }
}

fn parse_aspect(value: &str) -> Result<(u32, u32), String> {
    parse_pair(value, ':', "an aspect ratio such as 16:9")
}

fn parse_size(value: &str) -> Result<(u32, u32), String> {
    parse_pair(&value.to_ascii_lowercase(), 'x', "a size such as 1600x1000")
}

fn fail(message: &str) -> ExitCode {
    eprintln!("image-handler: {message}");
    ExitCode::from(Outcome::Failed.exit_code())
}

fn strip_slash(key: &str) -> String {
    key.strip_prefix('/').unwrap_or(key).to_string()
}

/// Lines of a file (or stdin for `-`), without blank lines and `#` comments.
fn read_lines(path: &PathBuf) -> Result<Vec<String>, String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            text.push_str(&line);
            text.push('\n');
        }
    }
    Ok(text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// The JSON document `invalidate --json` prints.
#[derive(Serialize)]
struct InvalidateJson<'a> {
    outcome: Outcome,
    distribution_id: Option<&'a str>,
    dry_run: bool,
    paths: &'a [String],
    warnings: &'a [String],
    invalidations: &'a [invalidate::BatchReport],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn fail_json(json: bool, message: &str) -> ExitCode {
    if json {
        let doc = InvalidateJson {
            outcome: Outcome::Failed,
            distribution_id: None,
            dry_run: false,
            paths: &[],
            warnings: &[],
            invalidations: &[],
            error: Some(message.to_string()),
        };
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    fail(message)
}

/// Collects the targets of `invalidate` from its arguments and files.
fn targets(args: &InvalidateArgs) -> Result<Vec<Target>, String> {
    let mut targets: Vec<Target> = args
        .keys
        .iter()
        .map(|k| Target::Key(strip_slash(k)))
        .collect();
    for file in &args.from_file {
        targets.extend(
            read_lines(file)?
                .into_iter()
                .map(|k| Target::Key(strip_slash(&k))),
        );
    }
    targets.extend(args.prefix.iter().map(|p| Target::Prefix(strip_slash(p))));
    targets.extend(args.paths.iter().cloned().map(Target::Path));
    for file in &args.paths_from_file {
        targets.extend(read_lines(file)?.into_iter().map(Target::Path));
    }
    if targets.is_empty() {
        return Err(
            "nothing to invalidate: give keys, --prefix, --from-file, --path or --paths-from-file"
                .into(),
        );
    }
    Ok(targets)
}

/// `image-handler invalidate`.
pub async fn invalidate(args: InvalidateArgs) -> ExitCode {
    let styles = match UrlStyles::parse(&args.url_styles) {
        Ok(s) => s,
        Err(e) => return fail_json(args.json, &format!("--url-styles {e}")),
    };
    let targets = match targets(&args) {
        Ok(t) => t,
        Err(e) => return fail_json(args.json, &e),
    };
    let plan: Plan = match invalidate::plan(&targets, styles) {
        Ok(p) => p,
        Err(e) => return fail_json(args.json, &e.to_string()),
    };
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }

    let aws = Aws::default();
    let shared = aws.config().await;
    let given = args.distribution_id.clone().or_else(|| {
        std::env::var("DISTRIBUTION_ID")
            .ok()
            .filter(|v| !v.is_empty())
    });
    let distribution = match (&args.stack, given) {
        (Some(stack), _) => {
            match invalidate::distribution_id_from_stack(shared, stack, &args.stack_output).await {
                Ok(id) => Some(id),
                Err(e) => return fail_json(args.json, &e.to_string()),
            }
        }
        (None, Some(id)) => match invalidate::distribution_id(&id) {
            Ok(id) => Some(id),
            Err(e) => return fail_json(args.json, &e.to_string()),
        },
        (None, None) if args.dry_run => None,
        (None, None) => {
            return fail_json(
                args.json,
                "which distribution? give --distribution-id (or DISTRIBUTION_ID) or --stack",
            );
        }
    };

    let batches = plan.batches();
    let options = RunOptions::new(args.wait, args.poll_interval, args.timeout);
    let report = match distribution.as_deref() {
        Some(id) if !args.dry_run => {
            let invalidator = match Invalidator::new(shared, id) {
                Ok(i) => i,
                Err(e) => return fail_json(args.json, &e.to_string()),
            };
            let progress = Progress::new(batches.len(), args.json);
            let report = invalidator.run(batches, &options, &progress).await;
            progress.bar.finish_and_clear();
            report
        }
        _ => Report::planned(
            distribution.as_deref().unwrap_or(""),
            batches,
            &options.reference,
        ),
    };
    let outcome = if args.dry_run {
        Outcome::Success
    } else {
        report.outcome(args.wait)
    };
    if args.json {
        let doc = InvalidateJson {
            outcome,
            distribution_id: distribution.as_deref(),
            dry_run: args.dry_run,
            paths: &plan.paths,
            warnings: &plan.warnings,
            invalidations: &report.batches,
            error: None,
        };
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print_report(&report, &plan, args.dry_run, distribution.as_deref());
    }
    ExitCode::from(outcome.exit_code())
}

fn print_report(report: &Report, plan: &Plan, dry_run: bool, distribution: Option<&str>) {
    let on = distribution
        .map(|d| format!(" on distribution {d}"))
        .unwrap_or_default();
    if dry_run {
        for path in &plan.paths {
            println!("{path}");
        }
        eprintln!(
            "dry run: {} path(s) in {} invalidation(s){on}; nothing was sent",
            plan.paths.len(),
            report.batches.len()
        );
        return;
    }
    let mut created = 0;
    for batch in &report.batches {
        let n = batch.paths.len();
        match (&batch.id, batch.status) {
            (Some(id), status) => {
                created += 1;
                let state = if status == BatchStatus::Completed {
                    "completed"
                } else {
                    "in progress"
                };
                println!("invalidation {id}: {n} path(s), {state}");
            }
            (None, _) => {
                println!(
                    "not created: {n} path(s): {}",
                    batch.error.as_deref().unwrap_or("unknown error")
                );
                for path in &batch.paths {
                    println!("  {path}");
                }
            }
        }
    }
    println!(
        "{created} of {} invalidation(s) created{on}",
        report.batches.len()
    );
}

/// The progress bar on stderr (drawn only when stderr is a terminal).
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(batches: usize, json: bool) -> Progress {
        let target = if json {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(Some(batches as u64), target);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
        {
            bar.set_style(style);
        }
        bar.set_message("creating invalidations");
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar }
    }
}

impl Observer for Progress {
    fn created(&self, _index: usize, _total: usize, id: &str, paths: usize) {
        self.bar.inc(1);
        self.bar
            .set_message(format!("created {id} ({paths} paths)"));
    }

    fn throttled(&self, index: usize, pause: Duration) {
        self.bar.set_message(format!(
            "too many invalidations in progress; batch {} again in {}s",
            index + 1,
            pause.as_secs_f32().ceil()
        ));
    }

    fn failed(&self, index: usize, error: &str) {
        self.bar.inc(1);
        self.bar
            .println(format!("batch {} not created: {error}", index + 1));
    }

    fn progress(&self, completed: usize, total: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(completed as u64);
        self.bar.set_message("waiting until completed");
    }
}

fn signer(args: &WriterArgs) -> Result<Option<Signer>, String> {
    if !args.sign {
        return Ok(None);
    }
    let keys = urls::keyring_from_env()?;
    let expires = args
        .expires
        .as_deref()
        .map(|e| urls::parse_expiry_option(e, std::time::SystemTime::now()))
        .transpose()?;
    Ok(Some(Signer {
        keys,
        key_id: args.key_id.clone(),
        expires,
    }))
}

fn writer(args: &WriterArgs) -> Result<UrlWriter, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let writer = UrlWriter::new(args.base.as_deref(), config.limits)
        .map_err(|e| e.to_string())?
        .configured(&config.assembly());
    Ok(match signer(args)? {
        Some(s) => writer.signed(s),
        None => writer,
    })
}

/// `image-handler url`.
pub fn url(args: UrlArgs) -> ExitCode {
    let writer = match writer(&args.writer) {
        Ok(w) => w,
        Err(e) => return fail(&e),
    };
    let result = args
        .edits
        .params()
        .and_then(|params| writer.url(&strip_slash(&args.key), &params));
    match result {
        Ok((url, _)) => {
            println!("{url}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// AWS's configuration (credentials, region, `AWS_ENDPOINT_URL`), loaded
/// once, on first use, and shared by every client a command makes: S3
/// origins, Secrets Manager, CloudFront. One load means one HTTP client and
/// one set of TLS roots for all of them, and none at all when nothing needs
/// AWS (a directory or HTTP origin under `serve`).
#[derive(Default)]
pub struct Aws(tokio::sync::OnceCell<aws_config::SdkConfig>);

impl Aws {
    /// The configuration, loading it the first time.
    pub async fn config(&self) -> &aws_config::SdkConfig {
        self.0
            .get_or_init(|| aws_config::defaults(aws_config::BehaviorVersion::latest()).load())
            .await
    }
}

/// The origins a command reads from, and a phrase naming them: `ORIGINS`
/// and `MAPPINGS` when set (then `--origin` is refused), else `--origin`
/// (`DIR`, or `s3://bucket,...`, whose buckets then become `config`'s
/// allow-list), else the built-in samples. The one place that turns
/// these settings into origins, for `serve`, `srcset` and Lambda.
pub async fn origins(
    config: &mut Config,
    spec: Option<&str>,
    aws: &Aws,
) -> Result<(Router, String), String> {
    let spec = spec.map(str::trim).filter(|s| !s.is_empty());
    Ok(match (&config.routes, spec) {
        (Some(_), Some(_)) => {
            return Err("--origin and ORIGINS both name the origins: use one".into());
        }
        (Some(routes), None) => {
            let router = routed(config, routes, aws).await?;
            let what = router
                .describe()
                .iter()
                .map(|(name, paths)| format!("{name} at {}", paths.join(" ")))
                .collect::<Vec<_>>()
                .join("; ");
            (router, format!("the origins of ORIGINS ({what})"))
        }
        (None, Some(url)) if url.starts_with("s3://") => {
            config.source_buckets = url["s3://".len()..]
                .split(',')
                .map(|b| b.trim().trim_end_matches('/').to_string())
                .filter(|b| !b.is_empty())
                .collect();
            let what = format!("S3 buckets {}", config.source_buckets.join(", "));
            (
                Router::single(s3_origin(config, &config.source_buckets, aws).await?),
                what,
            )
        }
        (None, Some(dir)) => {
            let origin = FsOrigin::new(dir, config.max_source_bytes)
                .map_err(|e| format!("cannot serve {dir}: {e}"))?;
            let what = format!("directory {}", origin.root().display());
            (Router::single(Arc::new(origin)), what)
        }
        (None, None) => (
            Router::single(Arc::new(EmbeddedOrigin)),
            "the built-in sample images".into(),
        ),
    })
}

/// Lambda's origins: those of `ORIGINS` and `MAPPINGS` when set, else S3
/// over `SOURCE_BUCKETS`.
pub async fn lambda_origins(config: &Config, aws: &Aws) -> Result<Router, String> {
    match &config.routes {
        Some(routes) => routed(config, routes, aws).await,
        None => Ok(Router::single(
            s3_origin(config, &config.source_buckets, aws).await?,
        )),
    }
}

/// S3 over `buckets` (the first the default), with `config`'s S3 settings.
pub async fn s3_origin(
    config: &Config,
    buckets: &[String],
    aws: &Aws,
) -> Result<Arc<dyn Origin>, String> {
    let origin = S3Origin::new(aws.config().await, s3_settings(config, buckets))?;
    Ok(Arc::new(origin))
}

fn s3_settings(config: &Config, buckets: &[String]) -> S3Settings {
    S3Settings {
        buckets: buckets.to_vec(),
        force_path_style: config.s3_force_path_style,
        max_bytes: config.max_source_bytes,
        timeouts: config.s3_timeouts,
    }
}

/// The origins of `ORIGINS` and `MAPPINGS`, built: AWS's configuration is
/// loaded only when an S3 origin or a secret header needs it (so a
/// directory and HTTP setup never asks the instance metadata for a region).
async fn routed(config: &Config, routes: &Routes, aws: &Aws) -> Result<Router, String> {
    let none = aws_config::SdkConfig::builder().build();
    let shared = if routes.needs_aws() {
        aws.config().await
    } else {
        &none
    };
    let s3 = s3_settings(config, &[]);
    Router::build(routes, shared, config.max_source_bytes, &s3).await
}

/// The original's size for `srcset`, read through the configured origins;
/// `None`, with a note on stderr, when it cannot be read.
async fn read_size(spec: Option<&str>, key: &str) -> Option<OriginalInfo> {
    let read = async {
        let mut config = Config::from_env().map_err(|e| e.to_string())?;
        let (origins, what) = origins(&mut config, spec, &Aws::default()).await?;
        urls::read_original(&origins, key)
            .await
            .map_err(|e| format!("cannot read {key:?} from {what}: {e}"))
    };
    match read.await {
        Ok(info) => Some(info),
        Err(e) => {
            eprintln!("note: {e}");
            None
        }
    }
}

/// `image-handler srcset`.
pub async fn srcset(args: SrcsetArgs) -> ExitCode {
    let writer = match writer(&args.writer) {
        Ok(w) => w,
        Err(e) => return fail(&e),
    };
    let params = match args.edits.params() {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    let key = strip_slash(&args.key);
    let original = match args.original_size {
        Some((width, height)) => Some(OriginalInfo {
            width,
            height,
            has_alpha: false,
        }),
        None => read_size(args.origin.as_deref(), &key).await,
    };
    let spec = Srcset {
        key,
        widths: args.widths,
        params,
        aspect: args.aspect,
        sizes: args.sizes,
        alt: args.alt,
        loading: (args.loading != "none").then_some(args.loading),
        picture: args.picture,
        client_hints: args.client_hints,
    };
    match urls::srcset(&writer, &spec, original) {
        Ok(markup) => {
            for warning in &markup.warnings {
                eprintln!("note: {warning}");
            }
            println!("{}", markup.html);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        for bad in ["", "m", "5d", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_aspect("16:9").unwrap(), (16, 9));
        assert_eq!(parse_size("1600X1000").unwrap(), (1600, 1000));
        assert!(parse_aspect("16:0").is_err() && parse_size("1600").is_err());
    }

    #[test]
    fn edit_args() {
        let args = EditArgs {
            width: Some("300".into()),
            flip: true,
            params: vec!["sharpen=1".into()],
            ..EditArgs::default()
        };
        assert_eq!(
            args.params().unwrap(),
            [
                ("width".to_string(), "300".to_string()),
                ("flip".into(), "true".into()),
                ("sharpen".into(), "1".into())
            ]
        );
        let bad = EditArgs {
            params: vec!["sharpen".into()],
            ..EditArgs::default()
        };
        assert!(bad.params().is_err());
    }
}
