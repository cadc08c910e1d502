//! The one handler: `http::Request` in, `http::Response` out.
//!
//! Every entry point (the local server now, Lambda later) calls
//! [`Handler::handle`]. It runs the request one way through the modules:
//! `request` (parse and validate) → `origin` (fetch) → ETag and
//! `If-None-Match` → `transform` → `response`, all within the request's
//! deadline (`REQUEST_TIMEOUT`), and with a place in the engine's bounded
//! queue taken before the original is fetched; the original's and the
//! overlays' sizes are reserved in the engine's memory budget
//! (`MAX_INFLIGHT_BYTES`) before their bodies are read.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::observe::{RequestId, RequestLog};
use crate::origin::{Fetched, Origin};
use crate::request;
use crate::request::Source;
use crate::response::{self, Timings, Variant};
use crate::signature::{self, Grant};
use crate::transform::{Accepted, Deadline, Engine, Job};

/// The path answered with a libvips health check.
pub const HEALTH_PATH: &str = "/health";

/// The most overlays one request may draw.
pub const MAX_OVERLAYS: usize = 4;

/// `/info/<key>`: the original's metadata as JSON.
pub const INFO_PREFIX: &str = "/info/";

/// Answers image requests.
#[derive(Clone)]
pub struct Handler {
    config: Arc<Config>,
    origin: Arc<dyn Origin>,
    engine: Engine,
    keys: Option<Arc<Keys>>,
    fallback: Option<(Arc<dyn Origin>, Source)>,
}

impl Handler {
    /// A handler serving `origin` with `config`; signing keys in `config`
    /// are enforced. Fails if libvips cannot start.
    pub fn new(config: Config, origin: Arc<dyn Origin>) -> std::result::Result<Handler, String> {
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
            origin,
            engine,
            keys,
            fallback: None,
        })
    }

    /// Answers errors with this image (SIH's fallback image), keeping the error's status.
    pub fn with_fallback(mut self, origin: Arc<dyn Origin>, source: Source) -> Handler {
        self.fallback = Some((origin, source));
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

    /// The origin being served.
    pub fn origin(&self) -> &dyn Origin {
        self.origin.as_ref()
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
        let answered =
            tokio::time::timeout(deadline.budget, self.answer(req, &mut log, deadline)).await;
        let mut res = match answered.unwrap_or_else(|_| Err(deadline.error())) {
            Ok(res) => res,
            Err(e) => {
                log.code = Some(e.code());
                if e.status().is_server_error() {
                    tracing::error!(path = %req.uri().path(), code = e.code(), detail = e.detail().unwrap_or(""), "{e}");
                } else {
                    tracing::debug!(path = %req.uri().path(), code = e.code(), detail = e.detail().unwrap_or(""), "{e}");
                }
                self.error_response(&e).await
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
        if let (Some((origin, source)), false) = (&self.fallback, refused) {
            match origin.fetch(source, None).await {
                Ok(Fetched::Full(original)) if self.fits(&original.bytes) => {
                    return response::fallback(&self.config, e, original);
                }
                Ok(_) => {
                    tracing::warn!(key = %source.key, "the fallback image is too large to return")
                }
                Err(f) => {
                    tracing::warn!(key = %source.key, error = %f, "the fallback image could not be fetched")
                }
            }
        }
        response::error(&self.config, e)
    }

    fn fits(&self, body: &[u8]) -> bool {
        self.config
            .max_response_bytes
            .is_none_or(|max| body.len() as u64 <= max)
    }

    async fn answer(
        &self,
        req: &Request<()>,
        log: &mut RequestLog,
        deadline: Deadline,
    ) -> Result<Response<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(Error::MethodNotAllowed(req.method().to_string()));
        }
        if req.uri().path() == HEALTH_PATH {
            return self.health().await;
        }
        let config = &self.config;
        let (path, query) = (req.uri().path(), req.uri().query());
        // `/info/<key>` and `?info`: the original's metadata instead of an image
        let info_path = path.strip_prefix(INFO_PREFIX).map(|key| format!("/{key}"));
        let parsed = request::parse(
            info_path.as_deref().unwrap_or(path),
            &config.rules(),
            config.rewrite.as_ref(),
        )?;
        let (grant, query_applies) = self.authorise(&parsed, path, query).await?;
        let query = query.filter(|_| query_applies);
        let info = info_path.is_some()
            || form_urlencoded::parse(query.unwrap_or("").as_bytes()).any(|(k, _)| k == "info");
        let request = self.complete(&parsed, query)?;
        log.request(&request);
        if request.edits.len() > config.max_edits {
            return Err(Error::TooManyEdits {
                count: request.edits.len(),
                limit: config.max_edits,
            });
        }
        grant.allows(&request.source.key)?;
        // A place in the engine before any original is held in memory; the
        // originals' bytes are reserved through it before they are read.
        let ticket = self.engine.admit()?.until(deadline);
        if info {
            let original = match self
                .origin
                .fetch_reserving(&request.source, None, &ticket)
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
            let info = self.engine.info(ticket, original.bytes).await?;
            let body = serde_json::to_value(&info).unwrap_or_default();
            let mut res = response::json(config, StatusCode::OK, &body);
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_str(&config.cache_control)
                    .unwrap_or(header::HeaderValue::from_static("no-store")),
            );
            return Ok(res);
        }

        // The format depends on Accept only when none was asked for and automatic format is on.
        let vary_accept = request.output.format.is_none() && config.auto_format.enabled();
        let accepted = if vary_accept {
            Accepted::from_header(
                req.headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok()),
                config.auto_format,
            )
        } else {
            Accepted::default()
        };

        // A client holding this variant's ETag lets the origin answer "unchanged" unread.
        let overlays = self.fetch_overlays(&request, &grant, &ticket).await?;
        let overlay_ids: Vec<&str> = overlays.iter().map(|o| o.meta.identity.as_str()).collect();
        let variant_tag = response::variant_tag(&request, accepted, &overlay_ids);
        let known = response::known_identity(req.headers(), &variant_tag);
        let fetch_started = Instant::now();
        let fetched = self
            .origin
            .fetch_reserving(&request.source, known.as_deref(), &ticket)
            .await?;
        let fetch = fetch_started.elapsed();
        log.fetch = fetch;
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
        let job = Job {
            bytes: original.bytes.clone(),
            edits: request.edits,
            output: request.output,
            accepted,
            limits: config.limits,
            max_input_pixels: config.max_input_pixels,
            max_frames: config.max_frames,
            effort: config.effort,
            fast_shrink: config.fast_shrink_on_load,
            max_output_bytes: config.max_response_bytes,
            overlays: overlays.into_iter().map(|o| o.bytes).collect(),
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

    /// The request the service carries out for `path` and `query` (raw, as
    /// in a URL), without checking a signature or fetching anything: the
    /// path's style parsed, then presets, then query parameters, exactly as
    /// [`Handler::handle`] builds it. Tools use it to check URLs they write.
    pub fn resolve(&self, path: &str, query: Option<&str>) -> Result<request::ImageRequest> {
        let config = &self.config;
        let parsed = request::parse(path, &config.rules(), config.rewrite.as_ref())?;
        // thumbor's signature covers the path only: the query is then not applied
        let query = query.filter(|_| parsed.thumbor_hmac.is_none());
        self.complete(&parsed, query)
    }

    /// A parsed path's request with the presets it names and the query's edits applied.
    fn complete(
        &self,
        parsed: &request::Parsed,
        query: Option<&str>,
    ) -> Result<request::ImageRequest> {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let mut request = parsed.request.clone();
        self.apply_presets(&mut request, parsed, &params)?;
        if !self.config.presets.only {
            request::query::overlay(&mut request, query, &self.config.limits)?;
        }
        Ok(request)
    }

    /// Fetches the originals of the request's overlays, under the same bucket
    /// allow-list and tenant prefix as the main original (at most
    /// [`MAX_OVERLAYS`]).
    async fn fetch_overlays(
        &self,
        request: &request::ImageRequest,
        grant: &Grant,
        reserve: &dyn crate::origin::Reserve,
    ) -> Result<Vec<crate::origin::Original>> {
        let sources: Vec<&Source> = request
            .edits
            .iter()
            .filter_map(|e| match e {
                request::Edit::Overlay(o) => Some(&o.source),
                _ => None,
            })
            .collect();
        if sources.len() > MAX_OVERLAYS {
            return Err(Error::param(
                "overlay",
                format!(
                    "{} overlays is too many: at most {MAX_OVERLAYS}",
                    sources.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(sources.len());
        for source in sources {
            if let Some(bucket) = &source.bucket {
                self.config.rules().check_bucket(bucket)?;
            }
            grant.allows(&source.key)?;
            match self.origin.fetch_reserving(source, None, reserve).await {
                Ok(Fetched::Full(original)) => out.push(original),
                Ok(Fetched::Unchanged(_)) => {
                    return Err(Error::Origin {
                        detail: "unexpected 304 for an overlay".into(),
                    });
                }
                Err(Error::NotFound { key }) => {
                    return Err(Error::param(
                        "overlay",
                        format!("the overlay image {key} does not exist"),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Applies the presets the path (`preset:<name>`) and the query
    /// (`?preset=<name>`) name, in that order. With `PRESETS_ONLY`, a request
    /// with any other edit is refused.
    fn apply_presets(
        &self,
        request: &mut request::ImageRequest,
        parsed: &request::Parsed,
        params: &[(String, String)],
    ) -> Result<()> {
        let presets = &self.config.presets;
        // The last value, as for every parameter: a signature covers only the last
        // value of each name, so applying earlier ones would let them be added unsigned.
        let from_query = params
            .iter()
            .rev()
            .find(|(k, _)| k == "preset")
            .map(|(_, v)| v.as_str());
        let names: Vec<&str> = parsed
            .presets
            .iter()
            .map(String::as_str)
            .chain(from_query)
            .collect();
        if presets.only {
            let edited = !parsed.request.edits.is_empty()
                || parsed.request.output != request::Output::default()
                || params
                    .iter()
                    .any(|(k, _)| request::query::PARAMS.contains(&k.as_str()));
            if edited || names.is_empty() {
                return Err(Error::param(
                    "preset",
                    "only presets are allowed here: use ?preset=<name> and nothing else",
                ));
            }
        }
        for name in names {
            request::query::overlay(request, Some(presets.get(name)?), &self.config.limits)?;
        }
        Ok(())
    }

    /// Who may ask: thumbor's path signature when the path has one (it signs
    /// the path only, so query parameters are then not applied), else SIH's
    /// query signature when signing is on. Returns the grant and whether query
    /// parameters apply.
    async fn authorise(
        &self,
        parsed: &request::Parsed,
        path: &str,
        query: Option<&str>,
    ) -> Result<(Grant, bool)> {
        if let Some((hmac, signed)) = &parsed.thumbor_hmac {
            let key = self
                .config
                .thumbor_key
                .as_ref()
                .ok_or(Error::SignatureMismatch)?;
            signature::verify_thumbor(&key.0, hmac, signed)?;
            return Ok((Grant::default(), false));
        }
        match &self.keys {
            Some(keys) => Ok((keys.verify(path, query).await?, true)),
            // Signing was asked for but no keys could be set up: fail closed.
            None if self.config.secrets_manager.is_some() => Err(Error::SignatureValidation {
                detail: "signing keys from Secrets Manager were not loaded".into(),
            }),
            None => Ok((Grant::default(), true)),
        }
    }

    async fn health(&self) -> Result<Response<Bytes>> {
        self.engine.health().await?;
        let version = crate::transform::init_vips().unwrap_or_default();
        let body = serde_json::json!({ "status": "ok", "libvips": version, "version": env!("CARGO_PKG_VERSION") });
        Ok(response::json(&self.config, StatusCode::OK, &body))
    }
}
