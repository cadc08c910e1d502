//! URLs for web pages: `image-handler url` and `image-handler srcset`.
//!
//! This module owns writing image URLs in the recommended query style,
//! `/<key>?<edits>`, so that `/<key>*` invalidates every variant: the key
//! spelled by [`super::key_path`], the edit parameters sorted by name (the
//! order the CloudFront viewer-request function normalises to, so each variant
//! is one cache entry), validated by the server's own query parser
//! ([`crate::request::query::parse`]) and signed by the server's own signing
//! code ([`crate::signature::sign_url`]). It also writes responsive-image
//! markup (`<img srcset sizes width height>`, or a `<picture>` with AVIF and
//! WebP sources), with each candidate's real output size computed from the
//! original's dimensions the way the server will resize it; or, for client
//! hints, one `width=auto` `<img>` and the page-side markup that lets the
//! browser send the hints to the image host ([`hint_delegation`]).

use std::time::SystemTime;

use crate::duration::{self, Form, Unit};
use crate::origin::{Fetched, Origin};
use crate::request::assemble::PRESET_PARAM;
use crate::request::rewrite::Rewrite;
use crate::request::{
    Breakpoints, Edit, ImageRequest, Limits, Output, Presets, Rules, Settings, Source, Url, query,
};
use crate::signature::{self, Keyring, SigningKey};
use crate::transform::edits::plan_resize;

use super::{OpsError, key_path};

/// Who signs URLs, and how.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The active keys.
    pub keys: Keyring,
    /// The key to sign with (default: the first).
    pub key_id: Option<String>,
    /// When the URLs stop working.
    pub expires: Option<SystemTime>,
}

/// Reads `--expires` (and the playground's `expires`): `YYYYMMDDTHHmmssZ`,
/// or a lifetime from `now` in the [duration grammar](crate::duration) with
/// its unit, up to days (`90s`, `15m`, `24h`, `7d`): a bare number is refused,
/// so that a mistyped time is not read as seconds.
pub fn parse_expiry_option(value: &str, now: SystemTime) -> Result<SystemTime, String> {
    if let Ok(at) = signature::parse_expires(value) {
        return Ok(at);
    }
    const LIFETIME: Form = Form {
        bare_seconds: false,
        fractions: false,
        largest: Unit::Day,
    };
    duration::parse(value, LIFETIME)
        .filter(|d| !d.is_zero())
        .and_then(|d| now.checked_add(d))
        .ok_or_else(|| {
            format!(
                "--expires {value:?} is neither YYYYMMDDTHHmmssZ nor a lifetime such as 3600s, 15m, 24h or 7d"
            )
        })
}

/// The signing keys from `SIGNATURE_KEYS` (a JSON list or map) or `SIGNATURE_SECRET`.
pub fn keyring_from_env() -> Result<Keyring, String> {
    match (
        std::env::var("SIGNATURE_KEYS"),
        std::env::var("SIGNATURE_SECRET"),
    ) {
        (Ok(json), _) => Keyring::from_json(&json).map_err(|e| format!("SIGNATURE_KEYS {e}")),
        (_, Ok(secret)) => Keyring::new(vec![SigningKey::new("default", &secret, None)]),
        _ => Err("set SIGNATURE_KEYS or SIGNATURE_SECRET to the signing secret(s)".to_string()),
    }
}

/// Writes query-style image URLs under one base.
#[derive(Debug, Clone)]
pub struct UrlWriter {
    base: String,
    limits: Limits,
    signer: Option<Signer>,
    rewrite: Option<Rewrite>,
    presets: Presets,
    max_edits: usize,
    breakpoints: Breakpoints,
}

impl UrlWriter {
    /// URLs under `base` (`https://dxxxx.cloudfront.net`, or an API Gateway
    /// stage URL such as `https://x.execute-api.eu-west-1.amazonaws.com/prod`);
    /// without a base, paths (`/key?...`). `limits` are the server's
    /// (`MAX_OUTPUT_WIDTH`, `MAX_OUTPUT_HEIGHT`).
    pub fn new(base: Option<&str>, limits: Limits) -> Result<UrlWriter, OpsError> {
        let base = match base.map(str::trim).filter(|b| !b.is_empty()) {
            None => String::new(),
            Some(b) => {
                let rest = b
                    .strip_prefix("https://")
                    .or_else(|| b.strip_prefix("http://"))
                    .ok_or_else(|| {
                        OpsError::Input(format!("--base {b:?} must start with https:// or http://"))
                    })?;
                let host = rest.split('/').next().unwrap_or_default();
                if host.is_empty()
                    || rest.contains(['?', '#'])
                    || rest.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(OpsError::Input(format!(
                        "--base {b:?} must be a scheme and host, optionally with a path (no query or fragment)"
                    )));
                }
                b.trim_end_matches('/').to_string()
            }
        };
        Ok(UrlWriter {
            base,
            limits,
            signer: None,
            rewrite: None,
            presets: Presets::default(),
            max_edits: crate::request::DEFAULT_MAX_EDITS,
            breakpoints: Breakpoints::default(),
        })
    }

    /// Checks URLs against the service's configuration as well
    /// ([`crate::Config::assembly`]): its limits, its custom rewrite
    /// (`REWRITE_MATCH_PATTERN`), its presets (`PRESETS`, `PRESETS_ONLY`) and
    /// `MAX_EDITS`.
    pub fn configured(mut self, service: &Settings) -> UrlWriter {
        self.limits = service.rules.limits;
        self.rewrite = service.rewrite.cloned();
        self.presets = service.presets.clone();
        self.max_edits = service.max_edits;
        self.breakpoints = service.breakpoints.clone();
        self
    }

    /// Signs every URL written from now on.
    pub fn signed(mut self, signer: Signer) -> UrlWriter {
        self.signer = Some(signer);
        self
    }

    /// The server's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The origin (`scheme://host[:port]`) URLs are written under, if a base is set.
    pub fn origin(&self) -> Option<&str> {
        let rest = self.base.split_once("://")?.1;
        let host_end = rest.find('/').unwrap_or(rest.len());
        Some(&self.base[..self.base.len() - rest.len() + host_end])
    }

    /// The URL of `key` with these query parameters (sorted by name),
    /// validated as the server will validate it, and signed when a signer is
    /// set. Returns the URL and the request the server will parse from it.
    ///
    /// The path goes through the server's own style detection first, so a key
    /// the service would read otherwise (a key whose first segments look like
    /// thumbor options, such as `300x200/cat.jpg`, or without an image
    /// extension) is refused here rather than served wrong; then `preset`s
    /// and the edit parameters are applied with the server's query parser.
    pub fn url(
        &self,
        key: &str,
        params: &[(String, String)],
    ) -> Result<(String, ImageRequest), OpsError> {
        let path = key_path(key)?;
        let invalid = |e: crate::error::Error| OpsError::Input(e.to_string());
        let mut sorted: Vec<&(String, String)> = Vec::new();
        for pair in params {
            let (name, _) = pair;
            if name != PRESET_PARAM && !query::PARAMS.contains(&name.as_str()) {
                return Err(OpsError::Input(format!(
                    "{name:?} is not a query parameter of the image service (known: {PRESET_PARAM}, {})",
                    query::PARAMS.join(", ")
                )));
            }
            sorted.retain(|(n, _)| n != name);
            sorted.push(pair);
        }
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(sorted.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .finish();

        let presets_known = !self.presets.is_empty();
        let edited = sorted.iter().any(|(n, _)| n != PRESET_PARAM);
        if self.presets.only && (edited || !sorted.iter().any(|(n, _)| n == PRESET_PARAM)) {
            return Err(OpsError::Input(
                "the service allows only presets (PRESETS_ONLY): use --param preset=<name> and no other edit".into(),
            ));
        }
        // Without the service's PRESETS at hand, a preset cannot be checked
        // or sized: the request is read without it.
        let checked = if presets_known {
            query.clone()
        } else {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    sorted
                        .iter()
                        .filter(|(n, _)| n != PRESET_PARAM)
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                )
                .finish()
        };
        let settings = Settings {
            rules: Rules {
                limits: self.limits,
                buckets: &[],
            },
            rewrite: self.rewrite.as_ref(),
            presets: &self.presets,
            max_edits: self.max_edits,
            breakpoints: &self.breakpoints,
        };
        // The server's reading of the URL, through the server's own assembly.
        let url = Url::read(&path, Some(&checked), &settings).map_err(invalid)?;
        let from_path = url.path_request();
        if from_path.source.key != key
            || !from_path.edits.is_empty()
            || from_path.output != Output::default()
            || !url.path_presets().is_empty()
        {
            return Err(OpsError::Input(format!(
                "the service would not read {path} as the key {key:?} (it reads the key {:?} with edits \
                 from the path): such keys cannot be served in the query style",
                from_path.source.key
            )));
        }
        // No request, no hints: `auto` reads as for a browser sending none.
        let request = url.finish(&settings, None).map_err(invalid)?.request;
        let target = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        // The signature covers the path the service sees: without the base's
        // own path (an API Gateway stage is not part of what SIH signs).
        let target = match &self.signer {
            Some(s) => signature::sign_url(&s.keys, &target, s.key_id.as_deref(), s.expires)
                .map_err(OpsError::Input)?,
            None => target,
        };
        Ok((format!("{}{target}", self.base), request))
    }
}

/// What the original looks like, read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OriginalInfo {
    /// Width as displayed (after EXIF orientation).
    pub width: u32,
    /// Height as displayed (after EXIF orientation), of the first frame.
    pub height: u32,
    /// Whether it has an alpha channel.
    pub has_alpha: bool,
}

/// Fetches `key` through `origin` and reads its dimensions with libvips
/// (header only; no pixel is decoded).
pub async fn read_original(origin: &dyn Origin, key: &str) -> Result<OriginalInfo, String> {
    let source = Source {
        bucket: None,
        key: key.to_string(),
    };
    let bytes = match origin.fetch(&source, None).await {
        Ok(Fetched::Full(original)) => original.bytes,
        Ok(Fetched::Unchanged(_)) => return Err("the origin sent no bytes".into()),
        Err(e) => return Err(e.to_string()),
    };
    tokio::task::spawn_blocking(move || {
        crate::transform::init_vips()?;
        // the operator's own tool on their own original: no request's pixel limit
        let info = crate::transform::read_info(&bytes, u64::MAX).map_err(|e| e.to_string())?;
        Ok(OriginalInfo {
            width: info.width,
            height: info.height,
            has_alpha: info.alpha,
        })
    })
    .await
    .map_err(|e| format!("header task failed: {e}"))?
}

/// The size the server's output will have for `request` on an original of
/// `width`x`height` (upright): rotations swap the sides, resizes follow the
/// server's own resize plan; other query edits keep the size.
pub fn output_size(
    width: u32,
    height: u32,
    request: &ImageRequest,
    limits: &Limits,
) -> Option<(u32, u32)> {
    let (mut w, mut h) = (width, height);
    for edit in &request.edits {
        match edit {
            Edit::Rotate(r) => (w, h) = r.turned_size(w, h),
            Edit::Resize(r) => {
                let plan = plan_resize(w, h, r, limits).ok()?;
                (w, h) = plan.boxed.unwrap_or(plan.scaled);
            }
            _ => {}
        }
    }
    Some((w, h))
}

/// What a `srcset` snippet should contain.
#[derive(Debug, Clone)]
pub struct Srcset {
    /// The original's key.
    pub key: String,
    /// Candidate widths, in pixels.
    pub widths: Vec<u32>,
    /// Other edit parameters (not `width`, `height` or `dpr`); `format` picks
    /// one output format for every candidate (default: negotiated from `Accept`).
    pub params: Vec<(String, String)>,
    /// Crop every candidate to this aspect ratio (width, height), with `fit=cover`.
    pub aspect: Option<(u32, u32)>,
    /// The `sizes` attribute.
    pub sizes: String,
    /// The `alt` text.
    pub alt: String,
    /// The `loading` attribute (`lazy`, `eager`), if any.
    pub loading: Option<String>,
    /// A `<picture>` with AVIF and WebP sources and a JPEG (PNG when the
    /// original has alpha) `<img>`, for CDNs that do not vary on `Accept`.
    pub picture: bool,
    /// One `<img src="...?width=auto">` sized by the browser's client hints
    /// instead of a `srcset`, after the markup that delegates the hints to
    /// the image host (`widths` are then not used).
    pub client_hints: bool,
}

impl Srcset {
    /// The edit parameters every URL gets: `format=auto`, the default, is left out.
    fn edits(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .filter(|(n, v)| !(n == "format" && v.eq_ignore_ascii_case("auto")))
            .cloned()
            .collect()
    }

    /// The `<img>` attributes after its size: `alt`, `loading`, `decoding`.
    fn closing_attrs(&self, attrs: &mut Vec<(&str, String)>) {
        attrs.push(("alt", self.alt.clone()));
        if let Some(loading) = &self.loading {
            attrs.push(("loading", loading.clone()));
        }
        attrs.push(("decoding", "async".into()));
    }
}

/// The client hints `width=auto` and `dpr=auto` read that a page must ask
/// for (the legacy `Width` and `DPR` are sent without asking).
pub const PAGE_HINTS: &[&str] = &["Sec-CH-DPR", "Sec-CH-Width", "Sec-CH-Viewport-Width"];

/// What a page sends so that Chromium sends [`PAGE_HINTS`] to `image_origin`
/// (`https://host[:port]`; `None`: the page's own origin): the
/// `Accept-CH` and `Permissions-Policy` response headers, and the
/// equivalent `<meta http-equiv="Delegate-CH">` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HintDelegation {
    /// `Accept-CH` of the page's response.
    pub accept_ch: String,
    /// `Permissions-Policy` of the page's response (the page's own origin
    /// may receive hints without one).
    pub permissions_policy: Option<String>,
    /// The `<meta>` tag, for pages whose headers cannot be set.
    pub meta: String,
}

/// The markup delegating client hints to `image_origin` ([`HintDelegation`]).
pub fn hint_delegation(image_origin: Option<&str>) -> HintDelegation {
    let accept_ch = PAGE_HINTS.join(", ");
    let feature = |hint: &str| hint.to_ascii_lowercase().replace("sec-ch-", "ch-");
    let permissions_policy = image_origin.map(|o| {
        PAGE_HINTS
            .iter()
            .map(|h| format!("{}=(self \"{o}\")", feature(h)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    // The page's own origin needs no delegation: Accept-CH alone, as a meta tag.
    let meta = match image_origin {
        Some(o) => {
            let content = PAGE_HINTS
                .iter()
                .map(|h| format!("{} {o}", h.to_ascii_lowercase()))
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "<meta http-equiv=\"Delegate-CH\" content=\"{}\">",
                html_escape(&content)
            )
        }
        None => format!(
            "<meta http-equiv=\"Accept-CH\" content=\"{}\">",
            html_escape(&accept_ch)
        ),
    };
    HintDelegation {
        accept_ch,
        permissions_policy,
        meta,
    }
}

/// Generated markup, and what the developer should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Markup {
    /// The HTML snippet.
    pub html: String,
    /// Notes (widths capped at the original's, unknown dimensions).
    pub warnings: Vec<String>,
}

/// The widest candidate used as `src` when it is at most this wide (else the narrowest).
pub const SRC_WIDTH: u32 = 1024;

struct Candidate {
    url: String,
    width: u32,
    size: Option<(u32, u32)>,
}

/// Writes `<img srcset>` (or `<picture>`) markup for `spec`. With the
/// original's dimensions, widths above what the original (or the aspect crop)
/// can fill without enlarging are replaced by the largest it can, and the
/// `width`/`height` attributes are the `src` candidate's real output size.
pub fn srcset(
    writer: &UrlWriter,
    spec: &Srcset,
    original: Option<OriginalInfo>,
) -> Result<Markup, OpsError> {
    let mut warnings = Vec::new();
    for (name, _) in &spec.params {
        if matches!(name.as_str(), "width" | "height" | "dpr") {
            return Err(OpsError::Input(format!(
                "srcset sets the width of each candidate; {name} cannot be given (use --widths, and --aspect for a fixed shape)"
            )));
        }
    }
    if spec.client_hints {
        return hinted(writer, spec, original);
    }
    if spec.widths.is_empty() || spec.widths.contains(&0) {
        return Err(OpsError::Input(
            "--widths must list one or more widths in pixels, such as 320,640,1024".into(),
        ));
    }
    if let Some((aw, ah)) = spec.aspect
        && (aw == 0 || ah == 0)
    {
        return Err(OpsError::Input(
            "--aspect must be two positive numbers, such as 16:9".into(),
        ));
    }
    let mut params = spec.edits();
    let explicit_format = params
        .iter()
        .rev()
        .find(|(n, _)| n == "format")
        .map(|(_, v)| v.clone());
    if spec.aspect.is_some() && !params.iter().any(|(n, _)| n == "fit") {
        params.push(("fit".into(), "cover".into()));
    }

    // What the original can fill: its size after the other edits (rotation).
    let limits = writer.limits();
    let full = match original {
        Some(o) => {
            let (_, request) = writer.url(&spec.key, &params)?;
            output_size(o.width, o.height, &request, &limits)
        }
        None => None,
    };
    let mut widths = spec.widths.clone();
    widths.sort_unstable();
    widths.dedup();
    if let Some((fw, fh)) = full {
        let cap = match spec.aspect {
            Some((aw, ah)) => fw.min((u64::from(fh) * u64::from(aw) / u64::from(ah)) as u32),
            None => fw,
        }
        .max(1);
        if widths.iter().any(|w| *w > cap) {
            warnings.push(format!(
                "the original fills at most {cap} px wide; wider candidates were replaced by {cap}w"
            ));
            widths = widths.into_iter().map(|w| w.min(cap)).collect();
            widths.dedup();
        }
    } else {
        warnings.push(
            "the original's dimensions are unknown, so width and height are left out; give --origin or --original-size"
                .into(),
        );
    }

    let candidates = |format: Option<&str>| -> Result<Vec<Candidate>, OpsError> {
        widths
            .iter()
            .map(|&w| {
                let mut p = params.clone();
                p.retain(|(n, _)| n != "format");
                if let Some(f) = format {
                    p.push(("format".into(), f.to_string()));
                }
                p.push(("width".into(), w.to_string()));
                if let Some((aw, ah)) = spec.aspect {
                    let h = (f64::from(w) * f64::from(ah) / f64::from(aw))
                        .round()
                        .max(1.0);
                    p.push(("height".into(), (h as u32).to_string()));
                }
                let (url, request) = writer.url(&spec.key, &p)?;
                let size = match (original, spec.aspect) {
                    (Some(o), _) => output_size(o.width, o.height, &request, &limits),
                    // cover crops to the box whatever the original's size
                    (None, Some(_)) => output_size(1, 1, &request, &limits),
                    (None, None) => None,
                };
                Ok(Candidate {
                    url,
                    width: size.map_or(w, |s| s.0),
                    size,
                })
            })
            .collect()
    };

    let img_format = if spec.picture {
        Some(explicit_format.clone().unwrap_or_else(|| {
            if original.is_some_and(|o| o.has_alpha) {
                "png".into()
            } else {
                "jpeg".into()
            }
        }))
    } else {
        explicit_format.clone()
    };
    let img = candidates(img_format.as_deref())?;
    let src_index = img.iter().rposition(|c| c.width <= SRC_WIDTH).unwrap_or(0);
    let src = &img[src_index];
    let mut img_attrs = vec![
        ("src", src.url.clone()),
        ("srcset", srcset_attr(&img)),
        ("sizes", spec.sizes.clone()),
    ];
    if let Some((w, h)) = src.size {
        img_attrs.push(("width", w.to_string()));
        img_attrs.push(("height", h.to_string()));
    }
    spec.closing_attrs(&mut img_attrs);

    let html = if spec.picture {
        let mut lines = vec!["<picture>".to_string()];
        for (format, mime) in [("avif", "image/avif"), ("webp", "image/webp")] {
            let sources = candidates(Some(format))?;
            lines.push(element(
                "source",
                &[
                    ("type", mime.to_string()),
                    ("srcset", srcset_attr(&sources)),
                    ("sizes", spec.sizes.clone()),
                ],
                "  ",
            ));
        }
        lines.push(element("img", &img_attrs, "  "));
        lines.push("</picture>".into());
        lines.join("\n")
    } else {
        element("img", &img_attrs, "")
    };
    Ok(Markup { html, warnings })
}

/// [`srcset`] with client hints: the delegation markup, then one `<img>`
/// whose `src` asks for `width=auto` (and `dpr=auto` is not needed: the
/// width hint is in device pixels).
fn hinted(
    writer: &UrlWriter,
    spec: &Srcset,
    original: Option<OriginalInfo>,
) -> Result<Markup, OpsError> {
    if spec.aspect.is_some() || spec.picture {
        return Err(OpsError::Input(
            "--client-hints writes one <img src=\"...?width=auto\">: --aspect (which needs a height per width) and --picture (the stack varies on Accept) do not apply".into(),
        ));
    }
    let mut params = spec.edits();
    params.push(("width".into(), "auto".into()));
    let (url, request) = writer.url(&spec.key, &params)?;
    let delegation = hint_delegation(writer.origin());
    let mut attrs = vec![("src", url), ("sizes", spec.sizes.clone())];
    // Without hints the answer is the original's size (width=auto as if
    // absent): its shape is every answer's shape.
    let limits = writer.limits();
    if let Some((w, h)) = original.and_then(|o| output_size(o.width, o.height, &request, &limits)) {
        attrs.push(("width", w.to_string()));
        attrs.push(("height", h.to_string()));
    }
    spec.closing_attrs(&mut attrs);
    let mut comment = vec![
        "<!-- Chromium sends client hints once the page asks for them: send".to_string(),
        format!("     Accept-CH: {}", delegation.accept_ch),
    ];
    match &delegation.permissions_policy {
        Some(policy) => {
            comment.push(format!("     Permissions-Policy: {policy}"));
            comment.push(
                "     with the page, or put the <meta> below in its <head>, before any image. -->"
                    .into(),
            );
        }
        None => comment.push(
            "     with the page (images on its own origin), or put the <meta> below in its <head>. -->"
                .into(),
        ),
    }
    let html = [
        comment.join("\n"),
        delegation.meta,
        element("img", &attrs, ""),
    ]
    .join("\n");
    Ok(Markup {
        html,
        warnings: vec![
            "browsers that send no client hints (Safari, Firefox) get the original's width: use a srcset (without --client-hints) where they matter"
                .into(),
        ],
    })
}

fn srcset_attr(candidates: &[Candidate]) -> String {
    candidates
        .iter()
        .map(|c| format!("{} {}w", c.url, c.width))
        .collect::<Vec<_>>()
        .join(",\n")
}

/// One element, one attribute per line; multi-line values are indented under their attribute.
fn element(name: &str, attrs: &[(&str, String)], indent: &str) -> String {
    let mut out = format!("{indent}<{name}");
    for (attr, value) in attrs {
        let continuation = format!("\n{indent}    ");
        let value = html_escape(value).replace('\n', &continuation);
        out.push_str(&format!("\n{indent}  {attr}=\"{value}\""));
    }
    out.push('>');
    out
}

/// Escapes text for a double-quoted HTML attribute.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::parse_expires;
    use std::time::{Duration, UNIX_EPOCH};

    fn writer(base: Option<&str>) -> UrlWriter {
        UrlWriter::new(base, Limits::default()).unwrap()
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn urls_are_sorted_escaped_and_validated() {
        let (url, request) = writer(Some("https://d111.cloudfront.net/"))
            .url(
                "dir/café au lait.jpg",
                &p(&[
                    ("width", "300"),
                    ("format", "webp"),
                    ("position", "right top"),
                    ("width", "320"),
                ]),
            )
            .unwrap();
        assert_eq!(
            url,
            "https://d111.cloudfront.net/dir/caf%C3%A9%20au%20lait.jpg?format=webp&position=right+top&width=320"
        );
        assert_eq!(request.source.key, "dir/café au lait.jpg");
        assert_eq!(writer(None).url("a.jpg", &[]).unwrap().0, "/a.jpg");
        let e = writer(None)
            .url("a.jpg", &p(&[("width", "-1")]))
            .unwrap_err();
        assert!(e.to_string().contains("width="), "{e}");
        let e = writer(None)
            .url("a.jpg", &p(&[("widht", "1")]))
            .unwrap_err();
        assert!(e.to_string().contains("widht"), "{e}");
        assert!(writer(None).url("a/../b.jpg", &[]).is_err());
        // keys the service would read as thumbor options, or not as an image, are refused
        for key in [
            "300x200/cat.jpg",
            "fit-in/cat.jpg",
            "filters:grayscale()/cat.jpg",
            "notes.txt",
        ] {
            assert!(writer(None).url(key, &[]).is_err(), "{key}");
        }
        assert!(writer(None).url("photos/300x200.jpg", &[]).is_ok());
        for bad in [
            "d111.cloudfront.net",
            "https://",
            "https://h/p?x=1",
            "ftp://h",
        ] {
            assert!(
                UrlWriter::new(Some(bad), Limits::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn signed_urls_verify_without_the_stage() {
        let keys = Keyring::new(vec![SigningKey::new("k", "secret", None)]).unwrap();
        let w = writer(Some("https://api.example.com/prod")).signed(Signer {
            keys: keys.clone(),
            key_id: None,
            expires: None,
        });
        let (url, _) = w.url("a b.jpg", &p(&[("width", "10")])).unwrap();
        let rest = url.strip_prefix("https://api.example.com/prod").unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        assert_eq!(path, "/a%20b.jpg");
        assert!(
            keys.verify(
                &crate::request::target::Target::parse(path, Some(query)).unwrap(),
                SystemTime::now(),
            )
            .is_ok()
        );
    }

    #[test]
    fn output_sizes_follow_the_server() {
        let l = Limits::default();
        let req = |q: &str| query::parse("/a.jpg", Some(q), &l).unwrap();
        for (q, size) in [
            ("width=300", (300, 150)),
            ("width=300&rotate=90", (300, 600)),
            ("width=300&height=300", (300, 300)),
            ("width=300&height=300&fit=inside", (300, 150)),
            ("grayscale=1", (2000, 1000)),
        ] {
            assert_eq!(output_size(2000, 1000, &req(q), &l), Some(size), "{q}");
        }
    }

    #[test]
    fn srcset_markup() {
        let spec = Srcset {
            key: "photos/cat.jpg".into(),
            widths: vec![1600, 320, 640, 1024, 640],
            params: p(&[("quality", "70")]),
            aspect: None,
            sizes: "(max-width: 600px) 100vw, 50vw".into(),
            alt: "A \"cat\" & <friends>".into(),
            loading: Some("lazy".into()),
            picture: false,
            client_hints: false,
        };
        let original = OriginalInfo {
            width: 1200,
            height: 800,
            has_alpha: false,
        };
        let m = srcset(
            &writer(Some("https://d.example.net")),
            &spec,
            Some(original),
        )
        .unwrap();
        assert_eq!(
            m.html,
            r#"<img
  src="https://d.example.net/photos/cat.jpg?quality=70&amp;width=1024"
  srcset="https://d.example.net/photos/cat.jpg?quality=70&amp;width=320 320w,
    https://d.example.net/photos/cat.jpg?quality=70&amp;width=640 640w,
    https://d.example.net/photos/cat.jpg?quality=70&amp;width=1024 1024w,
    https://d.example.net/photos/cat.jpg?quality=70&amp;width=1200 1200w"
  sizes="(max-width: 600px) 100vw, 50vw"
  width="1024"
  height="683"
  alt="A &quot;cat&quot; &amp; &lt;friends&gt;"
  loading="lazy"
  decoding="async">"#
        );
        assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
        // without dimensions: no width/height, and a note saying why
        let m = srcset(&writer(None), &spec, None).unwrap();
        assert!(!m.html.contains("height=") && m.html.contains("1600w"));
        assert_eq!(m.warnings.len(), 1);
        for bad in [p(&[("width", "1")]), p(&[("dpr", "2")])] {
            let spec = Srcset {
                params: bad,
                ..spec.clone()
            };
            assert!(srcset(&writer(None), &spec, None).is_err());
        }
    }

    #[test]
    fn client_hints_markup_delegates_to_the_image_host() {
        let spec = Srcset {
            key: "dune.jpg".into(),
            widths: Vec::new(),
            params: p(&[("format", "auto")]),
            aspect: None,
            sizes: "50vw".into(),
            alt: "Dunes".into(),
            loading: None,
            picture: false,
            client_hints: true,
        };
        let original = OriginalInfo {
            width: 1600,
            height: 1000,
            has_alpha: false,
        };
        let w = writer(Some("https://img.example.com/stage"));
        assert_eq!(w.origin(), Some("https://img.example.com"));
        let m = srcset(&w, &spec, Some(original)).unwrap();
        assert!(
            m.html
                .contains("Accept-CH: Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width"),
            "{}",
            m.html
        );
        assert!(m.html.contains(r#"Permissions-Policy: ch-dpr=(self "https://img.example.com"), ch-width=(self "https://img.example.com"), ch-viewport-width=(self "https://img.example.com")"#), "{}", m.html);
        assert!(m.html.contains(r#"<meta http-equiv="Delegate-CH" content="sec-ch-dpr https://img.example.com; sec-ch-width https://img.example.com; sec-ch-viewport-width https://img.example.com">"#), "{}", m.html);
        assert!(
            m.html
                .contains(r#"src="https://img.example.com/stage/dune.jpg?width=auto""#),
            "{}",
            m.html
        );
        assert!(
            m.html.contains(r#"sizes="50vw""#)
                && m.html.contains(r#"width="1600""#)
                && m.html.contains(r#"height="1000""#)
        );
        assert!(!m.html.contains("srcset="), "{}", m.html);
        assert_eq!(m.warnings.len(), 1);
        // on the page's own origin nothing is delegated
        let own = hint_delegation(None);
        assert_eq!(own.permissions_policy, None);
        assert_eq!(
            own.meta,
            r#"<meta http-equiv="Accept-CH" content="Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width">"#
        );
        for bad in [
            Srcset {
                aspect: Some((16, 9)),
                ..spec.clone()
            },
            Srcset {
                picture: true,
                ..spec.clone()
            },
        ] {
            assert!(srcset(&w, &bad, None).is_err());
        }
    }

    #[test]
    fn html_escaping() {
        assert_eq!(html_escape(r#"a&b"c<d>'"#), "a&amp;b&quot;c&lt;d&gt;'");
    }

    #[test]
    fn expiry_options() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_expiry_option("90s", now).unwrap(),
            now + Duration::from_secs(90)
        );
        assert_eq!(
            parse_expiry_option("2d", now).unwrap(),
            now + Duration::from_secs(172_800)
        );
        assert_eq!(
            parse_expiry_option("20300101T000000Z", now).unwrap(),
            parse_expires("20300101T000000Z").unwrap()
        );
        for bad in ["", "5", "0h", "-1h", "1w", "h"] {
            assert!(parse_expiry_option(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_lifetime_past_the_end_of_time_is_refused_not_a_panic() {
        // `now + lifetime` used to overflow SystemTime and panic, from the
        // playground's signing endpoint too.
        let now = SystemTime::now();
        for huge in [
            "18446744073709551615s",
            "18446744073709551615d",
            "999999999999999d",
            "213503982334601d",
        ] {
            assert!(parse_expiry_option(huge, now).is_err(), "{huge}");
        }
    }
}
