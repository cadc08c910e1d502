//! The `image-handler` binary: command-line entry points around the library.
// The Lambda entry point's future (runtime, AWS clients, handler) nests deeper
// than rustc's default query depth allows in a clean (non-incremental) build.
#![recursion_limit = "256"]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use image_handler::cli::{self as ops_cli, InvalidateArgs, SrcsetArgs, UrlArgs};
use image_handler::config::LAMBDA_RESPONSE_BYTES;
use image_handler::keys::{Keys, SecretsManagerKeys};
use image_handler::lambda::{self, Function};
use image_handler::observe::Prometheus;
use image_handler::ops::events::ChangeInvalidator;
use image_handler::ops::invalidate::Invalidator;
use image_handler::ops::urls::keyring_from_env;
use image_handler::origin::{Origin, Router};
use image_handler::playground::{self, Options as PlaygroundOptions, Playground};
use image_handler::signature;
use image_handler::{Config, Handler, serve};

#[derive(Parser)]
#[command(
    name = "image-handler",
    version,
    about = "On-the-fly image service on libvips"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign a URL or path with a key from SIGNATURE_KEYS or SIGNATURE_SECRET (SIH v7 signature).
    Sign {
        /// A full URL or a path such as `/photos/cat.jpg?width=300`.
        url: String,
        /// Expiry: `YYYYMMDDTHHmmssZ` (UTC) or a lifetime such as `3600s`, `15m`, `24h`, `7d`.
        #[arg(long)]
        expires: Option<String>,
        /// Which key to sign with (default: the first).
        #[arg(long)]
        key_id: Option<String>,
    },
    /// Serve images over HTTP from a directory, or the built-in samples.
    Serve {
        /// A directory of originals, or `s3://bucket1,bucket2`; without it,
        /// the sample images built into the binary.
        #[arg(long, env = "IMAGE_ORIGIN", value_name = "DIR|s3://BUCKETS")]
        origin: Option<String>,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve the playground page at `/` (and its files under `/_playground/`).
        #[arg(long, env = "PLAYGROUND", value_name = "YES|NO", default_value = "yes",
              value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
        playground: bool,
        /// Let the playground sign URLs with the configured keys. Anyone who
        /// can reach the server can then mint signed URLs: for local use only.
        #[arg(long, env = "PLAYGROUND_SIGNING", value_parser = clap::builder::BoolishValueParser::new())]
        playground_signing: bool,
        /// Serve Prometheus metrics at `/metrics` on this address, apart from
        /// the images (off by default; port 0 picks a free port).
        #[arg(long, env = "METRICS_LISTEN", value_name = "ADDR")]
        metrics_listen: Option<String>,
    },
    /// The playground page, for deploying it next to the stack.
    #[command(subcommand)]
    Playground(PlaygroundCommand),
    /// Invalidate every cached variant of originals at CloudFront (`/<key>*`).
    ///
    /// Exit codes: 0 every invalidation created (and completed, with --wait);
    /// 2 some were not; 1 none was, or the input was wrong.
    Invalidate(InvalidateArgs),
    /// Print the URL of an image variant in the recommended style, `/<key>?<edits>`.
    Url(UrlArgs),
    /// Print `<img srcset sizes width height>` (or `<picture>`) markup for an original.
    Srcset(SrcsetArgs),
}

#[derive(Subcommand)]
enum PlaygroundCommand {
    /// Write the page as static files (index.html, _playground/...) for an
    /// S3 bucket behind CloudFront; it talks to the image service at --image-base.
    Export {
        /// The directory to write (created if missing).
        dir: std::path::PathBuf,
        /// The image service's URL, e.g. the stack's `https://dxxxx.cloudfront.net`.
        #[arg(long, env = "IMAGE_BASE_URL", value_name = "URL")]
        image_base: String,
        /// Keys of originals the page offers (comma-separated or repeated).
        #[arg(long = "key", value_delimiter = ',', value_name = "KEY")]
        keys: Vec<String>,
    },
}

/// glibc's malloc gives threads their own arenas, up to eight per CPU, and
/// each libvips worker thread then keeps the image buffers it freed in its
/// arena. One arena per CPU (at least two) halved the server's peak RSS for a
/// few percent of throughput (benches/README.md). `MALLOC_ARENA_MAX` overrides.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let arenas = image_handler::config::cpus().clamp(2, 64) as libc::c_int;
        // SAFETY: mallopt only sets one of glibc's allocator tunables; it is
        // called first thing in main, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    // Under the Lambda runtime this executable is the `bootstrap`, started without arguments.
    let cli = match (!lambda).then(Cli::try_parse).transpose() {
        Ok(cli) => cli,
        // Usage errors exit with 1 (clap's own 2 means a partial failure here); help exits with 0.
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The operations commands print their own report (and a progress bar): only warnings are logged.
    let quiet = matches!(
        cli.as_ref().map(|c| &c.command),
        Some(Command::Invalidate(_) | Command::Url(_) | Command::Srcset(_))
    );
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL").unwrap_or_else(|_| {
        if quiet {
            "image_handler=warn".into()
        } else {
            "image_handler=info".into()
        }
    });
    let json_logs = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => lambda,
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json_logs {
        // One JSON object per line, fields at the top level, for CloudWatch Logs Insights.
        logs.json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let Some(cli) = cli else {
        return runtime.block_on(lambda_command());
    };
    match cli.command {
        Command::Serve {
            origin,
            listen,
            playground,
            playground_signing,
            metrics_listen,
        } => {
            let playground = playground.then_some(PlaygroundOptions {
                signing: playground_signing,
            });
            runtime.block_on(serve_command(origin, listen, playground, metrics_listen))
        }
        Command::Playground(PlaygroundCommand::Export {
            dir,
            image_base,
            keys,
        }) => playground_export(&dir, &image_base, &keys),
        Command::Sign {
            url,
            expires,
            key_id,
        } => sign_command(&url, expires.as_deref(), key_id.as_deref()),
        Command::Invalidate(args) => runtime.block_on(ops_cli::invalidate(args)),
        Command::Url(args) => ops_cli::url(args),
        Command::Srcset(args) => runtime.block_on(ops_cli::srcset(args)),
    }
}

async fn serve_command(
    origin: Option<String>,
    listen: SocketAddr,
    playground: Option<PlaygroundOptions>,
    metrics_listen: Option<String>,
) -> ExitCode {
    let metrics_listen = match serve::metrics_addr(metrics_listen.as_deref(), listen) {
        Ok(addr) => addr,
        Err(e) => return fail(&e),
    };
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let aws = ops_cli::Aws::default();
    let (origins, what) = match ops_cli::origins(&mut config, origin.as_deref(), &aws).await {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let handler = match handler(config, Arc::new(origins), &aws).await {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let listener = match serve::bind(listen).await {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot listen on {listen}: {e}")),
    };
    let addr = listener.local_addr().unwrap_or(listen);
    println!("image-handler serving {what} on http://{addr}");
    let playground = playground.map(|options| {
        if options.signing && !addr.ip().is_loopback() {
            eprintln!(
                "image-handler: warning: PLAYGROUND_SIGNING is on and {addr} is not a loopback address: \
                 anyone who can reach it can have URLs signed"
            );
        }
        println!("playground: http://{addr}/");
        Playground::new(handler.clone(), options)
    });
    if let Some(addr) = metrics_listen {
        match start_metrics(addr, handler.clone()).await {
            Ok(addr) => println!("metrics: http://{addr}{}", serve::METRICS_PATH),
            Err(e) => return fail(&e),
        }
    }
    match handler.origin().examples().first() {
        Some(key) => println!("try: http://{addr}/{key}?width=300&format=webp"),
        None => println!("try: http://{addr}/<key>?width=300&format=webp"),
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match serve::run_with(listener, handler, playground, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("server error: {e}")),
    }
}

/// Installs the Prometheus recorder and serves it on `addr` (`METRICS_LISTEN`)
/// for as long as the process runs; returns the bound address.
async fn start_metrics(addr: SocketAddr, handler: Handler) -> Result<SocketAddr, String> {
    let prometheus = Prometheus::install()?;
    let listener = serve::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on METRICS_LISTEN={addr}: {e}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    tokio::spawn(async move {
        let forever = std::future::pending();
        if let Err(e) = serve::run_metrics(listener, prometheus, handler, forever).await {
            tracing::error!("metrics server error: {e}");
        }
    });
    Ok(bound)
}

/// Lambda mode: the origins of `ORIGINS` and `MAPPINGS`, else S3 over
/// `SOURCE_BUCKETS`, driven by the runtime API;
/// with `INVALIDATE_ON_CHANGE=Yes`, S3 event notifications invalidate `/<key>*`.
async fn lambda_command() -> ExitCode {
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    // Lambda sends an instance one request at a time: its transform gets
    // every vCPU (the server instead gives each of its parallel transforms one).
    config.vips_threads = config.vips_threads.or(Some(image_handler::config::cpus()));
    // API Gateway and Lambda cap a response at 6 MB after base64.
    config.max_response_bytes = config.max_response_bytes.or(Some(LAMBDA_RESPONSE_BYTES));
    if std::env::var_os("METRICS").is_none() {
        config.emf_metrics = true;
    }
    // One AWS configuration for every client: S3, Secrets Manager, CloudFront.
    let aws = ops_cli::Aws::default();
    let origins = match ops_cli::lambda_origins(&config, &aws).await {
        Ok(o) => Arc::new(o),
        Err(e) => return fail(&e),
    };
    // With `WARM_PRESETS`, the uploaded originals' presets are warmed after the invalidation.
    let warming = match &config.warm {
        Some(settings) => match warm_parts(&config, settings, &aws).await {
            Ok(parts) => Some(parts),
            Err(e) => return fail(&e),
        },
        None => None,
    };
    let changes = config.invalidate_on_change.clone();
    let buckets = config.source_buckets.clone();
    let routes = config.routes.clone();
    let handler = match handler(config, origins, &aws).await {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let mut function = Function::new(handler);
    if let Some(changes) = changes {
        match Invalidator::new(aws.config().await, &changes.distribution_id) {
            Ok(invalidator) => {
                let first = buckets.first().cloned().unwrap_or_default();
                let mut changed =
                    ChangeInvalidator::new(invalidator.clone(), buckets, changes.styles);
                if let Some(routes) = routes.clone() {
                    changed = changed.with_routes(routes);
                }
                function = function.with_change_invalidation(changed);
                if let Some((settings, writer, keys, emf)) = warming {
                    let warmer = image_handler::ops::warm::Warmer::new(
                        settings,
                        invalidator,
                        &first,
                        writer,
                        keys,
                        emf,
                    );
                    let warmer = warmer.map(|w| match routes {
                        Some(routes) => w.with_routes(routes),
                        None => w,
                    });
                    match warmer {
                        Ok(warmer) => function = function.with_warming(warmer),
                        Err(e) => return fail(&e.to_string()),
                    }
                }
            }
            Err(e) => return fail(&e.to_string()),
        }
    }
    match lambda::run(function).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("lambda runtime: {e}")),
    }
}

/// The handler, with signing keys from Secrets Manager and the fallback
/// image when configured. A fallback in its own bucket is read with an S3
/// origin for that bucket alone; otherwise it comes from the main origin.
async fn handler(
    config: Config,
    origins: Arc<Router>,
    aws: &ops_cli::Aws,
) -> Result<Handler, String> {
    let fallback = match config.fallback.clone() {
        Some(source) => match &source.bucket {
            Some(bucket) => {
                let origin = ops_cli::s3_origin(&config, std::slice::from_ref(bucket), aws).await?;
                Some((origin, source))
            }
            None => Some((origins.clone() as Arc<dyn Origin>, source)),
        },
        None => None,
    };
    let keys = signing_keys(&config, aws).await;
    let mut handler = Handler::routed(config, origins)?;
    if let Some(keys) = keys {
        handler = handler.with_keys(keys);
    }
    if let Some((origin, source)) = fallback {
        handler = handler.with_fallback(origin, source);
    }
    Ok(handler)
}

/// The signing keys the configuration names: static keys, or the Secrets
/// Manager secret (read when first needed).
async fn signing_keys(config: &Config, aws: &ops_cli::Aws) -> Option<Keys> {
    match (&config.signing, &config.secrets_manager) {
        (Some(ring), _) => Some(Keys::Static(ring.clone())),
        (None, Some(s)) => Some(Keys::SecretsManager(SecretsManagerKeys::new(
            aws.config().await,
            &s.secret_id,
            &s.field,
        ))),
        (None, None) => None,
    }
}

fn sign_command(url: &str, expires: Option<&str>, key_id: Option<&str>) -> ExitCode {
    let keys = match keyring_from_env() {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let now = std::time::SystemTime::now();
    let expires = match expires
        .map(|e| image_handler::ops::urls::parse_expiry_option(e, now))
        .transpose()
    {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    match signature::sign_url(&keys, url, key_id, expires) {
        Ok(signed) => {
            println!("{signed}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn playground_export(dir: &std::path::Path, image_base: &str, keys: &[String]) -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    match playground::export(dir, image_base, keys, &config) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("image-handler: {message}");
    ExitCode::FAILURE
}

/// The warmer's settings, URL writer, signing keys and whether to print EMF.
type WarmParts = (
    image_handler::ops::warm::WarmSettings,
    image_handler::ops::urls::UrlWriter,
    Option<Keys>,
    bool,
);

/// What warming on upload needs from the configuration: its settings, the
/// URL writer (the service's presets and limits) and the signing keys.
async fn warm_parts(
    config: &Config,
    settings: &image_handler::ops::warm::WarmSettings,
    aws: &ops_cli::Aws,
) -> Result<WarmParts, String> {
    let writer = image_handler::ops::urls::UrlWriter::new(Some(&settings.base), config.limits)
        .map_err(|e| e.to_string())?
        .configured(&config.assembly());
    let keys = signing_keys(config, aws).await;
    Ok((settings.clone(), writer, keys, config.emf_metrics))
}
