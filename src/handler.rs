//! The one handler: `http::Request` in, `http::Response` out.
//!
//! Every entry point (`serve`, Lambda) calls
//! [`Handler::handle`]. It runs the request one way through the modules:
//! `request` (parse and validate) → `origin` (fetch) → ETag and
//! `If-None-Match` → `transform` → `response`, all within the request's
//! deadline (`REQUEST_TIMEOUT`), and with a place in the engine's bounded
//! queue taken before the original is fetched; the original's and the
//! overlays' sizes are reserved in the engine's memory budget
//! (`MAX_INFLIGHT_BYTES`) before their bodies are read.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};

use crate::config::{Config, OutputSettings};
use crate::error::{Error, Result};
use crate::fallback::Fallback;
use crate::keys::Keys;
use crate::observe::{RequestId, RequestLog};
use crate::origin::{Ask, Fetched, Origin, Router};
use crate::request;
use crate::request::Source;
use crate::response::{self, Timings, Variant};
use crate::signature::{self, Grant};
use crate::transform::{Deadline, Engine, Job, format, quality};

/// The path answered with a libvips health check.
pub const HEALTH_PATH: &str = "/health";

// The URL's own parameters and bounds, read by the request's assembly
// (and by tests/deployment.rs, which keeps the CloudFront function in step).
pub use crate::request::assemble::{
    HANDLER_PARAMS, INFO_PARAM, INFO_PREFIX, MAX_OVERLAYS, PRESET_PARAM,
};

/// What a URL authorises, before anything is fetched ([`Handler::authorised`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Authorised {
    /// The request to carry out.
    pub request: request::ImageRequest,
    /// What the signature grants (everything, when signing is off).
    pub grant: Grant,
    /// The original's metadata is asked for (`/info/<key>` or `?info`), not an image.
    pub info: bool,
    /// The client-hint headers `auto` values were read from (`Vary`).
    pub hints: request::HintSet,
}

/// The host a request was made to, which host mappings match: the header
/// named by `VIEWER_HOST_HEADER` when set and present, else `Host`, else the
/// authority of an absolute request target.
fn request_host<'r>(req: &'r Request<()>, viewer: Option<&header::HeaderName>) -> Option<&'r str> {
    let text = |name: &header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    viewer
        .and_then(text)
        .or_else(|| text(&header::HOST))
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

/// What [`Handler::answer`] learnt before it may have failed, for the error's headers.
#[derive(Default)]
struct Seen {
    /// The answer depends on `Accept`: errors from then on vary on it too.
    accept: bool,
    /// The signed URL's expiry: no answer is cached past it.
    expires: Option<std::time::SystemTime>,
    /// The client hints the request was read with: errors from then on vary on them too.
    hints: request::HintSet,
}

/// Answers image requests.
#[derive(Clone)]
pub struct Handler {
    config: Arc<Config>,
    origins: Arc<Router>,
    engine: Engine,
    keys: Option<Arc<Keys>>,
    fallback: Option<Arc<Fallback>>,
}

impl Handler {
    /// A handler serving every key from `origin` with `config`; signing
    /// keys in `config` are enforced. Fails if libvips cannot start.
    pub fn new(config: Config, origin: Arc<dyn Origin>) -> std::result::Result<Handler, String> {
        Handler::routed(config, Arc::new(Router::single(origin)))
    }

    /// A handler serving from the origins of `origins`, each request's
    /// chosen by its path and `Host` (`ORIGINS` and `MAPPINGS`).
    pub fn routed(config: Config, origins: Arc<Router>) -> std::result::Result<Handler, String> {
        let engine = Engine::new(
            config.transform_concurrency,
            config.transform_queue,
            config.threads_per_image(),
        )?
        .with_inflight_bytes(config.max_inflight_bytes);
        let keys = config
            .signing
            .clone()
            .map(|ring| Arc::new(Keys::Static(ring)));
        Ok(Handler {
            config: Arc::new(config),
            origins,
            engine,
            keys,
            fallback: None,
        })
    }

    /// Answers errors with this image (SIH's fallback image), keeping the
    /// error's status. The image is loaded now (when on a Tokio runtime) and
    /// held in memory, refreshed at most every [`crate::fallback::REFRESH`]:
    /// errors never fetch it.
    pub fn with_fallback(mut self, origin: Arc<dyn Origin>, source: Source) -> Handler {
        let fallback = Fallback::new(
            origin,
            source,
            self.config.max_response_bytes,
            crate::fallback::REFRESH,
        );
        fallback.start();
        self.fallback = Some(fallback);
        self
    }

    /// Enforces signatures with these keys (e.g. from Secrets Manager).
    pub fn with_keys(mut self, keys: Keys) -> Handler {
        self.keys = Some(Arc::new(keys));
        self
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The origins being served, as one origin choosing as a request
    /// without a `Host` would.
    pub fn origin(&self) -> &dyn Origin {
        self.origins.as_ref()
    }

    /// The origins being served, and the rules that choose among them.
    pub fn origins(&self) -> &Router {
        &self.origins
    }

    /// The engine's work in flight now (for `serve`'s metrics).
    pub fn load(&self) -> crate::transform::Load {
        self.engine.load()
    }

    /// Answers one request (image requests have no body, so none is taken).
    /// Never fails: errors become JSON responses.
    pub async fn handle(&self, req: &Request<()>) -> Response<Bytes> {
        let started = Instant::now();
        let mut log = RequestLog {
            request_id: req.extensions().get::<RequestId>().map(|id| id.0.clone()),
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            ..RequestLog::default()
        };
        let deadline = Deadline::after(self.config.request_timeout);
        let mut seen = Seen::default();
        let answered = tokio::time::timeout(
            deadline.budget,
            self.answer(req, &mut log, deadline, &mut seen),
        )
        .await;
        let mut res = match answered.unwrap_or_else(|_| Err(deadline.error())) {
            Ok(res) => res,
            Err(e) => {
                log.failed(&e);
                if e.status().is_server_error() {
                    tracing::error!(path = %req.uri().path(), code = e.code(), detail = e.detail().unwrap_or(""), "{e}");
                } else {
                    tracing::debug!(path = %req.uri().path(), code = e.code(), detail = e.detail().unwrap_or(""), "{e}");
                }
                let mut res = self.error_response(&e).await;
                if seen.accept {
                    response::vary_on_accept(res.headers_mut());
                }
                response::vary_on_hints(res.headers_mut(), seen.hints);
                response::cap_lifetime(res.headers_mut(), seen.expires);
                res
            }
        };
        log.status = res.status().as_u16();
        log.bytes_out = res.body().len() as u64;
        if req.method() == Method::HEAD {
            let len = res.body().len();
            res.headers_mut().insert(header::CONTENT_LENGTH, len.into());
            *res.body_mut() = Bytes::new();
        }
        log.total = started.elapsed();
        log.emit();
        log.record();
        if self.config.emf_metrics {
            println!("{}", log.emf("ImageHandler"));
        }
        res
    }

    /// The JSON error, or SIH's fallback image with the error's status when
    /// one is configured. Refusals of signed URLs never get the fallback.
    async fn error_response(&self, e: &Error) -> Response<Bytes> {
        let refused = matches!(
            e,
            Error::SignatureMissing
                | Error::SignatureMismatch
                | Error::ExpiryFormat(_)
                | Error::Expired
                | Error::OutsidePrefix { .. }
                | Error::SignatureValidation { .. }
                | Error::MethodNotAllowed(_)
                // shedding load: no more origin work for these
                | Error::Overloaded { .. }
                | Error::DeadlineExceeded { .. }
        );
        // The copy in memory: an error costs no origin request.
        if let (Some(fallback), false) = (&self.fallback, refused)
            && let Some(original) = fallback.get().await
        {
            return response::fallback(&self.config, e, original);
        }
        response::error(&self.config, e)
    }

    async fn answer(
        &self,
        req: &Request<()>,
        log: &mut RequestLog,
        deadline: Deadline,
        seen: &mut Seen,
    ) -> Result<Response<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(Error::MethodNotAllowed(req.method().to_string()));
        }
        if req.uri().path() == HEALTH_PATH {
            return self.health().await;
        }
        let config = &self.config;
        let Authorised {
            request,
            grant,
            info,
            hints,
        } = self
            .authorise_url(req.uri().path(), req.uri().query(), req.headers(), seen)
            .await?;
        log.request(&request);
        let host = request_host(req, config.viewer_host_header.as_ref());
        let picked = self.origins.pick(host, &request.source)?;
        grant.allows_origin(&request.source.key, picked.name)?;
        log.origin(&picked);
        // A place in the engine before any original is held in memory; the
        // originals' bytes are reserved through it before they are read.
        let ticket = self.engine.admit()?.until(deadline);
        if info {
            let original = match picked
                .origin
                .fetch_reserving(Ask {
                    source: &picked.source,
                    known: None,
                    reserve: &ticket,
                })
                .await?
            {
                Fetched::Full(original) => original,
                Fetched::Unchanged(_) => {
                    return Err(Error::Origin {
                        detail: "unexpected 304".into(),
                    });
                }
            };
            log.bytes_in = original.bytes.len() as u64;
            let info = self
                .engine
                .info(ticket, original.bytes, config.max_input_pixels)
                .await?;
            let body = serde_json::to_value(&info).unwrap_or_default();
            let mut res = response::json(config, StatusCode::OK, &body);
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_str(&config.cache_control)
                    .unwrap_or(header::HeaderValue::from_static("no-store")),
            );
            response::cap_lifetime(res.headers_mut(), grant.expires);
            response::vary_on_hints(res.headers_mut(), hints);
            return Ok(res);
        }

        let client = format::Client::read(
            &request.output,
            config.auto_format,
            quality::applies(&request.output, &config.auto_quality),
            req.headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
            req.headers().get("save-data").map(|v| v.as_bytes()),
        );
        let format::Client {
            accepted,
            vary_accept,
            vary_save_data,
        } = client;
        seen.accept = vary_accept;

        // A client holding this variant's ETag lets the origin answer "unchanged" unread.
        let overlays = self.fetch_overlays(&request, host, &grant, &ticket).await?;
        let overlay_ids: Vec<&str> = overlays.iter().map(|o| o.meta.identity.as_str()).collect();
        let settings = config.output_settings();
        let variant_tag = response::variant_tag(&request, accepted, &settings, &overlay_ids);
        let known = response::known_identity(req.headers(), &variant_tag);
        let fetch_started = Instant::now();
        let fetched = picked
            .origin
            .fetch_reserving(Ask {
                source: &picked.source,
                known: known.as_deref(),
                reserve: &ticket,
            })
            .await;
        // Timed also when it failed: a slow failing origin shows in the fetch histogram.
        let fetch = fetch_started.elapsed();
        log.fetch = fetch;
        let fetched = fetched?;
        let (original, meta) = match fetched {
            Fetched::Full(original) => {
                let meta = original.meta.clone();
                (Some(original), meta)
            }
            Fetched::Unchanged(meta) => (None, meta),
        };
        let etag = response::etag(&meta.identity, &variant_tag);
        let variant = Variant {
            etag: &etag,
            meta: &meta,
            vary_accept,
            vary_save_data,
            hints,
            headers: &request.headers,
            expires: grant.expires,
        };
        let original = match original {
            Some(original) if !response::if_none_match(req.headers(), &etag) => {
                log.bytes_in = original.bytes.len() as u64;
                original
            }
            _ => return Ok(response::not_modified(config, &variant)),
        };

        let transform_started = Instant::now();
        // Every setting the job takes is one the ETag hashed: named in full,
        // so a new one cannot be left out of either.
        let OutputSettings {
            limits,
            max_input_pixels,
            max_frames,
            effort,
            fast_shrink_on_load,
            max_response_bytes,
            auto_quality,
        } = settings;
        let job = Job {
            bytes: original.bytes.clone(),
            edits: request.edits,
            output: request.output,
            accepted,
            limits,
            max_input_pixels,
            max_frames,
            effort,
            fast_shrink: fast_shrink_on_load,
            max_output_bytes: max_response_bytes,
            overlays: overlays.into_iter().map(|o| o.bytes).collect(),
            auto_quality,
        };
        let encoded = self
            .engine
            .run_admitted(ticket, job, Some(deadline))
            .await?;
        let timings = Timings {
            fetch,
            transform: transform_started.elapsed(),
        };
        log.transform = timings.transform;
        log.encode = encoded.encode_time;
        log.format = Some(encoded.format.mime());
        log.reduced = encoded.reduced.is_some();
        Ok(response::image(config, &variant, encoded, timings))
    }

    /// Everything decided from the URL before anything is fetched: the
    /// canonical form ([`Target`]), the style's parse, the signature over that
    /// same canonical form, presets and query parameters, the edit count and
    /// the grant's bucket and prefix. `path` and `query` are raw, as in a URL.
    /// No client hints are read: `auto` is resolved as for a browser sending none.
    pub async fn authorised(&self, path: &str, query: Option<&str>) -> Result<Authorised> {
        self.authorise_url(path, query, &http::HeaderMap::new(), &mut Seen::default())
            .await
    }

    /// [`Handler::authorised`] with the request's `headers` (client hints),
    /// noting the URL's expiry and the hints read in `seen` as soon as they
    /// are known, so that a later refusal is not cached past the expiry and
    /// varies on the same hints.
    async fn authorise_url(
        &self,
        path: &str,
        query: Option<&str>,
        headers: &http::HeaderMap,
        seen: &mut Seen,
    ) -> Result<Authorised> {
        let settings = self.config.assembly();
        let url = request::Url::read(path, query, &settings)?;
        let grant = self.authorise(url.signature()).await?;
        seen.expires = grant.expires;
        let request::Assembled {
            request,
            info,
            hints,
        } = url.finish(&settings, Some(headers))?;
        seen.hints = hints;
        grant.allows(&request.source, settings.rules.default_bucket())?;
        Ok(Authorised {
            request,
            grant,
            info,
            hints,
        })
    }

    /// Fetches the originals of the request's overlays (at most
    /// [`request::MAX_OVERLAYS`], checked by the request's assembly), under the
    /// same bucket allow-list and tenant prefix as the main original, each
    /// routed to its origin as a request for its key at `host` would be.
    async fn fetch_overlays(
        &self,
        request: &request::ImageRequest,
        host: Option<&str>,
        grant: &Grant,
        reserve: &dyn crate::budget::Reserve,
    ) -> Result<Vec<crate::origin::Original>> {
        let sources: Vec<&Source> = request
            .edits
            .iter()
            .filter_map(|e| match e {
                request::Edit::Overlay(o) => Some(&o.source),
                _ => None,
            })
            .collect();
        let mut out = Vec::with_capacity(sources.len());
        for source in sources {
            if let Some(bucket) = &source.bucket {
                self.config.rules().check_bucket(bucket)?;
            }
            grant.allows(source, self.config.rules().default_bucket())?;
            let fetched = match self.origins.pick(host, source) {
                Ok(picked) => {
                    grant.allows_origin(&source.key, picked.name)?;
                    picked
                        .origin
                        .fetch_reserving(Ask {
                            source: &picked.source,
                            known: None,
                            reserve,
                        })
                        .await
                }
                Err(e) => Err(e),
            };
            match fetched {
                Ok(Fetched::Full(original)) => out.push(original),
                Ok(Fetched::Unchanged(_)) => {
                    return Err(Error::Origin {
                        detail: "unexpected 304 for an overlay".into(),
                    });
                }
                Err(Error::NotFound { .. }) => {
                    return Err(Error::param(
                        "overlay",
                        format!("the overlay image {} does not exist", source.key),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Who may ask: thumbor's path signature when the path has one, else
    /// SIH's query signature over the canonical URL when signing is on, else
    /// anyone until the URL's `expires`, if it has one.
    async fn authorise(&self, by: request::Signature<'_>) -> Result<Grant> {
        let target = match by {
            request::Signature::Query(target) => target,
            request::Signature::Thumbor { hmac, signed } => {
                let key = self
                    .config
                    .thumbor_key
                    .as_ref()
                    .ok_or(Error::SignatureMismatch)?;
                signature::verify_thumbor(&key.0, hmac, signed)?;
                return Ok(Grant::default());
            }
        };
        match &self.keys {
            Some(keys) => keys.verify(target).await,
            // Signing was asked for but no keys could be set up: fail closed.
            None if self.config.secrets_manager.is_some() => Err(Error::SignatureValidation {
                detail: "signing keys from Secrets Manager were not loaded".into(),
            }),
            // Unsigned, `expires` still holds, as in SIH.
            None => Ok(Grant {
                expires: signature::check_expires(target, SystemTime::now())?,
                ..Grant::default()
            }),
        }
    }

    async fn health(&self) -> Result<Response<Bytes>> {
        self.engine.health().await?;
        let version = crate::transform::init_vips().unwrap_or_default();
        // The optional decoders this build has (HEIC is the `heic` feature).
        let decoders = serde_json::json!({ "heic": crate::transform::decoders::HEIC, "jxl": true });
        let body = serde_json::json!({
            "status": "ok",
            "libvips": version,
            "version": env!("CARGO_PKG_VERSION"),
            "decoders": decoders,
        });
        Ok(response::json(&self.config, StatusCode::OK, &body))
    }
}
