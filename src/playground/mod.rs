//! The playground: a page served by `image-handler serve` at `/` for trying
//! edits in a browser and copying the URL to embed.
//!
//! This module owns the page (plain HTML, CSS and JavaScript embedded in the
//! binary), the reserved paths it answers under [`PREFIX`], and its small JSON
//! API. The API writes nothing itself: query URLs come from
//! [`crate::ops::urls::UrlWriter`], the thumbor and base64 forms from
//! [`crate::ops::styles`] (each parsed back with [`crate::request::assemble`] and
//! shown only when it asks for the same image), `srcset` markup from
//! [`crate::ops::urls::srcset`], signatures from [`crate::signature`].
//!
//! Only the local server mounts it (`serve.rs`); the Lambda adapter never
//! does. Signing URLs through the API is off unless the operator turns it on
//! ([`Options::signing`]), and even then it answers only requests addressed
//! to a loopback or IP host from the page's own origin (no DNS rebinding, no
//! cross-site use). [`export`] writes the same page as static files for the
//! deployed form, where it talks to the stack's CloudFront URL.

use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::handler::Handler;
use crate::ops::styles::{self, Unavailable};
use crate::ops::urls::{self, Signer, Srcset, UrlWriter};
use crate::signature;

/// The reserved path prefix of the playground's assets and API: image keys
/// under `_playground/` are not reachable while the playground is on.
pub const PREFIX: &str = "/_playground/";

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The most keys offered in the page's list of originals.
pub const MAX_LISTED_KEYS: usize = 200;

/// The most candidate widths one srcset snippet may ask for.
pub const MAX_SRCSET_WIDTHS: usize = 32;

/// How the playground is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Let the API sign URLs with the configured keys (`PLAYGROUND_SIGNING`).
    /// Anyone who can reach the server can then mint signed URLs: a local
    /// development setting, off by default.
    pub signing: bool,
}

/// Why a playground API call failed.
#[derive(Debug, thiserror::Error)]
pub enum PlaygroundError {
    /// A parameter is missing or malformed.
    #[error("{0}")]
    Invalid(String),
    /// Signing was asked for and is not available.
    #[error("{0}")]
    SigningRefused(String),
    /// Nothing is served at this reserved path.
    #[error("{0} is not a playground path (paths under /_playground/ are reserved)")]
    NotFound(String),
    /// Not GET or HEAD.
    #[error("method {0} is not allowed here: use GET or HEAD")]
    Method(String),
}

impl PlaygroundError {
    fn status(&self) -> StatusCode {
        match self {
            PlaygroundError::Invalid(_) => StatusCode::BAD_REQUEST,
            PlaygroundError::SigningRefused(_) => StatusCode::FORBIDDEN,
            PlaygroundError::NotFound(_) => StatusCode::NOT_FOUND,
            PlaygroundError::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            PlaygroundError::Invalid(_) => "InvalidParameter",
            PlaygroundError::SigningRefused(_) => "PlaygroundSigningRefused",
            PlaygroundError::NotFound(_) => "NotFound",
            PlaygroundError::Method(_) => "MethodNotAllowed",
        }
    }
}

/// The playground of one server.
#[derive(Clone)]
pub struct Playground {
    handler: Handler,
    options: Options,
    keys: Vec<String>,
}

impl Playground {
    /// The playground for `handler`'s origin and configuration; the keys the
    /// page offers are the origin's examples (the built-in samples, or the
    /// image files at the top of a served directory), read once here.
    pub fn new(handler: Handler, options: Options) -> Playground {
        let mut keys = handler.origin().examples();
        keys.truncate(MAX_LISTED_KEYS);
        Playground {
            handler,
            options,
            keys,
        }
    }

    /// Whether the playground answers `path`: `/` and everything under [`PREFIX`].
    pub fn owns(&self, path: &str) -> bool {
        path == "/" || path.starts_with(PREFIX)
    }

    /// Answers a request for a path it [owns](Playground::owns). Never fails:
    /// errors are JSON `{"status","code","message"}`.
    pub async fn respond(&self, req: &Request<()>) -> Response<Bytes> {
        let mut res = match self.route(req).await {
            Ok(res) => res,
            Err(e) => error(&e),
        };
        if req.method() == Method::HEAD {
            let len = res.body().len();
            res.headers_mut().insert(header::CONTENT_LENGTH, len.into());
            *res.body_mut() = Bytes::new();
        }
        res
    }

    async fn route(&self, req: &Request<()>) -> Result<Response<Bytes>, PlaygroundError> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(PlaygroundError::Method(req.method().to_string()));
        }
        let path = req.uri().path();
        let params: Vec<(String, String)> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let api = |p: &str| path.strip_prefix(PREFIX) == Some(p);
        if path == "/" {
            return Ok(asset("text/html; charset=utf-8", INDEX_HTML));
        }
        if api("app.js") {
            return Ok(asset("text/javascript; charset=utf-8", APP_JS));
        }
        if api("style.css") {
            return Ok(asset("text/css; charset=utf-8", STYLE_CSS));
        }
        if api("config.json") {
            return Ok(ok_json(&self.config()));
        }
        if api("api/urls") {
            let signer = self.signer(req, &params)?;
            return Ok(ok_json(&self.urls(&params, signer.as_ref())?));
        }
        if api("api/original") {
            let signer = self.signer(req, &params)?;
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok());
            return Ok(ok_json(
                &self.original(&params, host, signer.as_ref()).await?,
            ));
        }
        if api("api/srcset") {
            let signer = self.signer(req, &params)?;
            return Ok(ok_json(&self.srcset(&params, signer).await?));
        }
        Err(PlaygroundError::NotFound(path.to_string()))
    }

    /// What the page needs to know: mode, keys, presets, signing, limits.
    fn config(&self) -> Value {
        let config = self.handler.config();
        json!({
            "mode": "serve",
            "imageBase": "",
            "keys": self.keys,
            "presets": config.presets.names().collect::<Vec<_>>(),
            "presetsOnly": config.presets.only,
            "signing": self.signing_state(),
            "limits": {"width": config.limits.max_width, "height": config.limits.max_height},
            "origins": self
                .handler
                .origins()
                .describe()
                .into_iter()
                .map(|(name, paths)| json!({"name": name, "paths": paths}))
                .collect::<Vec<_>>(),
        })
    }

    /// Whether URLs need a signature, and whether the playground can sign them.
    fn signing_state(&self) -> Value {
        let config = self.handler.config();
        let required = config.signing.is_some() || config.secrets_manager.is_some();
        let (available, note) = match (required, config.signing.is_some(), self.options.signing) {
            (false, _, _) => (
                false,
                "Signing is off (ENABLE_SIGNATURE=No): URLs work unsigned.",
            ),
            (true, true, true) => (
                true,
                "Signatures are required; the playground signs with the first key of SIGNATURE_KEYS or SIGNATURE_SECRET.",
            ),
            (true, true, false) => (
                false,
                "Signatures are required and the playground's signing endpoint is off: restart serve with PLAYGROUND_SIGNING=Yes (or --playground-signing) to preview and copy signed URLs.",
            ),
            (true, false, _) => (
                false,
                "Signatures are required and the key lives in Secrets Manager, which the playground does not sign with: use SIGNATURE_KEYS or SIGNATURE_SECRET locally.",
            ),
        };
        json!({"required": required, "available": available, "note": note})
    }

    /// The signer for a request asking `sign=yes`, after the checks that keep
    /// the endpoint a local tool.
    fn signer(
        &self,
        req: &Request<()>,
        params: &[(String, String)],
    ) -> Result<Option<Signer>, PlaygroundError> {
        let asked = match last(params, "sign") {
            None => false,
            Some(v) => crate::request::query::parse_bool("sign", v)
                .map_err(|e| PlaygroundError::Invalid(e.to_string()))?,
        };
        if !asked {
            return Ok(None);
        }
        let refuse = |why: &str| Err(PlaygroundError::SigningRefused(why.to_string()));
        if !self.options.signing {
            return refuse(
                "the playground's signing endpoint is off: start serve with PLAYGROUND_SIGNING=Yes (or --playground-signing)",
            );
        }
        let Some(keys) = self.handler.config().signing.clone() else {
            return refuse(
                "signing is not configured: set ENABLE_SIGNATURE=Yes with SIGNATURE_KEYS or SIGNATURE_SECRET",
            );
        };
        if !local_host(req) {
            return refuse(
                "the signing endpoint answers only requests addressed to localhost or an IP address",
            );
        }
        if cross_site(req) {
            return refuse("the signing endpoint answers only the playground page itself");
        }
        let expires = last(params, "expires")
            .filter(|v| !v.is_empty())
            .map(|v| urls::parse_expiry_option(v, SystemTime::now()))
            .transpose()
            .map_err(PlaygroundError::Invalid)?;
        Ok(Some(Signer {
            keys,
            key_id: None,
            expires,
        }))
    }

    /// What the server reads from `path` and `query`, through its own assembly.
    fn resolve(
        &self,
        path: &str,
        query: Option<&str>,
    ) -> crate::error::Result<crate::request::ImageRequest> {
        Ok(crate::request::assemble(path, query, None, &self.handler.config().assembly())?.request)
    }

    fn writer(&self) -> Result<UrlWriter, PlaygroundError> {
        let config = self.handler.config();
        Ok(UrlWriter::new(None, config.limits)
            .map_err(|e| PlaygroundError::Invalid(e.to_string()))?
            .configured(&config.assembly()))
    }

    /// `api/urls?key=<key>&<edit parameters>[&sign=yes][&expires=24h]`: the
    /// request in every style, each signed when asked.
    fn urls(
        &self,
        params: &[(String, String)],
        signer: Option<&Signer>,
    ) -> Result<Value, PlaygroundError> {
        let key = key_param(params)?;
        let edits = edit_params(params, &["sign", "expires"]);
        let (query_url, _) = self
            .writer()?
            .url(&key, &edits)
            .map_err(|e| PlaygroundError::Invalid(e.to_string()))?;
        let (path, query) = split(&query_url);
        let target = self
            .resolve(path, query)
            .map_err(|e| PlaygroundError::Invalid(e.to_string()))?;

        let only_preset = !edits.is_empty() && edits.iter().all(|(n, _)| n == "preset");
        let thumbor = match last(&edits, "preset").filter(|_| only_preset) {
            Some(name) => crate::ops::key_path(&key)
                .map(|k| format!("/preset:{name}{k}"))
                .map_err(|e| Unavailable(e.to_string())),
            None => styles::thumbor_path(&target),
        };
        let thumbor = thumbor.and_then(|p| {
            self.check(
                &target,
                p,
                "thumbor applies its filters (rotate() among them) after the size and mirrors, in URL order, so no thumbor path gives exactly this image",
            )
        });
        let default = styles::default_path(&target).and_then(|(p, json)| {
            self.check(&target, p, "the default request would give another image")
                .map(|p| (p, json))
        });

        let signed = |url: &str| -> Result<Option<String>, PlaygroundError> {
            signer
                .map(|s| {
                    signature::sign_url(&s.keys, url, s.key_id.as_deref(), s.expires)
                        .map_err(PlaygroundError::Invalid)
                })
                .transpose()
        };
        let mut out = Vec::new();
        out.push(json!({
            "id": "query",
            "name": "Query parameters",
            "url": query_url,
            "signed": signed(&query_url)?,
        }));
        out.push(match thumbor {
            Ok(p) => {
                json!({"id": "thumbor", "name": "Thumbor path", "url": p, "signed": signed(&p)?})
            }
            Err(why) => {
                json!({"id": "thumbor", "name": "Thumbor path", "unavailable": why.to_string()})
            }
        });
        out.push(match default {
            Ok((p, request)) => json!({
                "id": "base64", "name": "Default request (base64 JSON)",
                "url": p, "signed": signed(&p)?, "json": request,
            }),
            Err(why) => json!({
                "id": "base64", "name": "Default request (base64 JSON)",
                "unavailable": why.to_string(),
            }),
        });
        let preview = signed(&query_url)?.unwrap_or_else(|| query_url.clone());
        Ok(json!({
            "key": key,
            "preview": preview,
            "styles": out,
            "signing": self.signing_state(),
        }))
    }

    /// A written path, kept when the server reads it back as the same image.
    fn check(
        &self,
        target: &crate::request::ImageRequest,
        path: String,
        differs: &str,
    ) -> Result<String, Unavailable> {
        let (p, q) = split(&path);
        match self.resolve(p, q) {
            Ok(back) if styles::same_image(target, &back) => Ok(path),
            Ok(_) => Err(Unavailable(differs.to_string())),
            Err(e) => Err(Unavailable(format!("the server would refuse it: {e}"))),
        }
    }

    /// `api/original?key=<key>[&sign=yes]`: the original's size, the origin
    /// the key maps to at the page's `host` (and the key asked of it), and
    /// the URLs of its metadata and of a full-size, unedited rendering (JPEG,
    /// or PNG when it has transparency).
    async fn original(
        &self,
        params: &[(String, String)],
        host: Option<&str>,
        signer: Option<&Signer>,
    ) -> Result<Value, PlaygroundError> {
        let key = key_param(params)?;
        let source = crate::request::Source {
            bucket: None,
            key: key.clone(),
        };
        let picked = self
            .handler
            .origins()
            .pick(host, &source)
            .map_err(|e| PlaygroundError::Invalid(format!("cannot read {key:?}: {e}")))?;
        let info = urls::read_original(picked.origin, &picked.source.key)
            .await
            .map_err(|e| PlaygroundError::Invalid(format!("cannot read {key:?}: {e}")))?;
        let format = if info.has_alpha { "png" } else { "jpeg" };
        let mut writer = self.writer()?;
        if let Some(s) = signer {
            writer = writer.signed(s.clone());
        }
        let view = writer
            .url(&key, &[("format".into(), format.into())])
            .map(|(u, _)| u)
            .map_err(|e| PlaygroundError::Invalid(e.to_string()))?;
        let path =
            crate::ops::key_path(&key).map_err(|e| PlaygroundError::Invalid(e.to_string()))?;
        let info_url = format!("{path}?info");
        let info_url = match signer {
            Some(s) => signature::sign_url(&s.keys, &info_url, None, s.expires)
                .map_err(PlaygroundError::Invalid)?,
            None => info_url,
        };
        Ok(json!({
            "key": key,
            "width": info.width,
            "height": info.height,
            "alpha": info.has_alpha,
            "url": view,
            "info": info_url,
            "origin": picked.name,
            "fetched": picked.source.key,
        }))
    }

    /// `api/srcset?key=&widths=320,640&sizes=&aspect=16:9&picture=yes&client_hints=yes&alt=&loading=lazy&base=<url>&<edits>`:
    /// the same markup as `image-handler srcset --base <url>` (`--client-hints`
    /// with `client_hints=yes`), read against the served origin.
    async fn srcset(
        &self,
        params: &[(String, String)],
        signer: Option<Signer>,
    ) -> Result<Value, PlaygroundError> {
        let invalid = PlaygroundError::Invalid;
        let key = key_param(params)?;
        let widths = last(params, "widths").unwrap_or("320,640,1024,1600");
        let widths: Vec<u32> = widths
            .split(',')
            .map(|w| w.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                invalid(format!(
                    "widths={widths:?} is not a list of widths in pixels, such as 320,640,1024"
                ))
            })?;
        if widths.len() > MAX_SRCSET_WIDTHS {
            return Err(invalid(format!(
                "widths lists {} widths: at most {MAX_SRCSET_WIDTHS}",
                widths.len()
            )));
        }
        let aspect = match last(params, "aspect").filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => Some(
                a.split_once(':')
                    .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
                    .ok_or_else(|| invalid(format!("aspect={a:?} is not a ratio such as 16:9")))?,
            ),
        };
        let flag = |name: &str| match last(params, name) {
            None => Ok(false),
            Some(v) => {
                crate::request::query::parse_bool(name, v).map_err(|e| invalid(e.to_string()))
            }
        };
        let (picture, client_hints) = (flag("picture")?, flag("client_hints")?);
        let loading = match last(params, "loading").unwrap_or("lazy") {
            "none" | "" => None,
            l @ ("lazy" | "eager") => Some(l.to_string()),
            other => {
                return Err(invalid(format!(
                    "loading={other:?} is not lazy, eager or none"
                )));
            }
        };
        let reserved = [
            "sign",
            "expires",
            "widths",
            "sizes",
            "aspect",
            "picture",
            "client_hints",
            "alt",
            "loading",
            "base",
        ];
        let spec = Srcset {
            key: key.clone(),
            widths,
            params: edit_params(params, &reserved),
            aspect,
            sizes: last(params, "sizes").unwrap_or("100vw").to_string(),
            alt: last(params, "alt").unwrap_or("").to_string(),
            loading,
            picture,
            client_hints,
        };
        // The page asks for URLs under its own origin, ready to paste into another site.
        let config = self.handler.config();
        let mut writer = UrlWriter::new(last(params, "base"), config.limits)
            .map_err(|e| invalid(e.to_string().replace("--base", "base")))?
            .configured(&config.assembly());
        if let Some(s) = signer {
            writer = writer.signed(s);
        }
        let original = urls::read_original(self.handler.origin(), &key).await.ok();
        let markup = urls::srcset(&writer, &spec, original).map_err(|e| invalid(e.to_string()))?;
        Ok(json!({"html": markup.html, "warnings": markup.warnings}))
    }
}

/// Writes the page as static files under `dir` for the deployed form:
/// `index.html`, `_playground/app.js`, `_playground/style.css` and
/// `_playground/config.json`, which points the page at `image_base` (the
/// stack's CloudFront URL), offers `keys`, and takes the presets and limits
/// from `config` (the stack's, read from the same variables). Returns the
/// files written.
pub fn export(
    dir: &Path,
    image_base: &str,
    keys: &[String],
    config: &crate::Config,
) -> Result<Vec<std::path::PathBuf>, String> {
    // The same rules as `image-handler url --base`.
    UrlWriter::new(Some(image_base), config.limits)
        .map_err(|e| e.to_string().replace("--base", "--image-base"))?;
    let config = json!({
        "mode": "static",
        "imageBase": image_base.trim().trim_end_matches('/'),
        "keys": keys,
        "presets": config.presets.names().collect::<Vec<_>>(),
        "presetsOnly": config.presets.only,
        "signing": {"required": false, "available": false,
                    "note": "The deployed playground has no signing endpoint: sign URLs with image-handler sign or url --sign."},
        "limits": {"width": config.limits.max_width, "height": config.limits.max_height},
    });
    let files = [
        ("index.html", INDEX_HTML.to_string()),
        ("_playground/app.js", APP_JS.to_string()),
        ("_playground/style.css", STYLE_CSS.to_string()),
        ("_playground/config.json", config.to_string()),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

fn last<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn key_param(params: &[(String, String)]) -> Result<String, PlaygroundError> {
    let key = last(params, "key").unwrap_or("").trim();
    let key = key.strip_prefix('/').unwrap_or(key);
    if key.is_empty() {
        return Err(PlaygroundError::Invalid(
            "key is missing: name an original, such as key=dune.jpg".into(),
        ));
    }
    Ok(key.to_string())
}

/// The edit parameters: everything but `key` and the endpoint's own options, without empty values.
fn edit_params(params: &[(String, String)], own: &[&str]) -> Vec<(String, String)> {
    params
        .iter()
        .filter(|(n, v)| n != "key" && !own.contains(&n.as_str()) && !v.is_empty())
        .cloned()
        .collect()
}

fn split(url: &str) -> (&str, Option<&str>) {
    match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    }
}

/// Whether the request's `Host` is `localhost` or an IP address (a DNS
/// rebinding attack reaches a local server under a name of its own).
fn local_host(req: &Request<()>) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Whether the browser says the request comes from another site or origin.
fn cross_site(req: &Request<()>) -> bool {
    let fetch_site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return true;
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
            origin_host != host
        }
        _ => false,
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response<Bytes> {
    let mut res = Response::new(Bytes::from_static(body.as_bytes()));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The assets change with the binary: revalidate rather than cache for long.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(h);
    res
}

fn ok_json(body: &Value) -> Response<Bytes> {
    json_response(StatusCode::OK, body)
}

fn error(e: &PlaygroundError) -> Response<Bytes> {
    let status = e.status();
    let mut res = json_response(
        status,
        &json!({"status": status.as_u16(), "code": e.code(), "message": e.to_string()}),
    );
    if let PlaygroundError::Method(_) = e {
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    res
}

fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut res = Response::new(Bytes::from(body.to_string()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Signed URLs and configuration: never cached.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(h);
    res
}

fn security_headers(h: &mut http::HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("/_playground/api/urls");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn signing_is_for_local_pages_only() {
        for host in ["127.0.0.1:8080", "localhost:3000", "[::1]:8080", "10.0.0.5"] {
            assert!(local_host(&req(&[("host", host)])), "{host}");
        }
        for host in ["evil.example:8080", "127.0.0.1.nip.io", ""] {
            assert!(!local_host(&req(&[("host", host)])), "{host}");
        }
        assert!(!local_host(&req(&[])));
        assert!(!cross_site(&req(&[("host", "127.0.0.1:8080")])));
        assert!(!cross_site(&req(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(cross_site(&req(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ])));
        assert!(cross_site(&req(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site"),
        ])));
    }

    #[test]
    fn edit_parameters_leave_out_the_endpoint_options() {
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            edit_params(
                &p(&[
                    ("key", "a.jpg"),
                    ("width", "3"),
                    ("sign", "yes"),
                    ("blur", "")
                ]),
                &["sign"]
            ),
            p(&[("width", "3")])
        );
        assert!(key_param(&p(&[("key", " ")])).is_err());
        assert_eq!(key_param(&p(&[("key", "/a.jpg")])).unwrap(), "a.jpg");
    }
}
