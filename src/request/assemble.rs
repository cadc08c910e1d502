//! From a URL to the finished request: the one place where a URL's canonical
//! form, its style, its presets, its query parameters and the request's own
//! bounds (edit count, overlays) are put together.
//!
//! The handler, the playground and `image-handler url` all build requests
//! here, so a URL means the same thing to each. Reading is split in two at
//! the one point where authorisation must come between: [`Url::read`] takes
//! the canonical form and parses the path's style (which is what tells whether
//! a thumbor HMAC or SIH's query signature authorises it, see
//! [`Url::signature`]); [`Url::finish`] then applies presets and the query,
//! resolving `width=auto` and `dpr=auto` from the request's client hints
//! ([`super::hints`]; the finished request says which hint headers were read,
//! for `Vary`). [`assemble`] does both, for callers that authorise nothing.
//! Which style a path is written in is decided here too ([`parse`]).

use std::borrow::Cow;

use http::HeaderMap;

use super::hints::{Breakpoints, HintSet, Hints};
use super::query::{self, Presets};
use super::rewrite::Rewrite;
use super::target::{self, Target};
use super::{Edit, ImageRequest, KEY_EXTENSIONS, Output, Rules, default, thumbor};
use crate::error::{Error, Result};

/// A request parsed from its path, before query parameters are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The request.
    pub request: ImageRequest,
    /// thumbor's path signature and the part of the path it signs, if present.
    pub thumbor_hmac: Option<(String, String)>,
    /// Presets named in the path (thumbor's `preset:<name>`).
    pub presets: Vec<String>,
}

/// Detects the request style of `path` (raw, percent-encoded) and parses it,
/// as SIH does: standard base64 that decodes to a JSON object is a default
/// request; otherwise, with a rewrite configured, the rewritten path is parsed
/// as thumbor; otherwise a key with no extension or an image extension is a
/// thumbor path (which includes the plain `/<key>` of the query style), and
/// anything else is `RequestTypeError`. Query parameters are applied after
/// authorisation, with [`query::apply`].
pub fn parse(path: &str, rules: &Rules, rewrite: Option<&Rewrite>) -> Result<Parsed> {
    if let Some(json) = default::detect(path) {
        return Ok(Parsed {
            request: default::parse(&json, rules)?,
            thumbor_hmac: None,
            presets: Vec::new(),
        });
    }
    let path = match rewrite {
        Some(r) => r.apply(path)?,
        None => {
            check_extension(path)?;
            Cow::Borrowed(path)
        }
    };
    let parsed = thumbor::parse(&path, rules)?;
    Ok(Parsed {
        request: parsed.request,
        thumbor_hmac: parsed.hmac,
        presets: parsed.presets,
    })
}

/// SIH's request-type rule on the last path segment's extension.
fn check_extension(path: &str) -> Result<()> {
    let last = path.rsplit('/').next().unwrap_or("");
    match last.rsplit_once('.') {
        None => Ok(()),
        Some((_, ext)) if KEY_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)) => Ok(()),
        Some(_) => Err(Error::RequestType),
    }
}

/// `/info/<key>`: the original's metadata as JSON instead of an image.
pub const INFO_PREFIX: &str = "/info/";

/// `?info`: the original's metadata as JSON, in any style.
pub const INFO_PARAM: &str = "info";

/// `?preset=<name>`: a configured preset (`PRESETS`).
pub const PRESET_PARAM: &str = "preset";

/// The query parameters read here besides the edit parameters
/// ([`query::PARAMS`]); `signature` and `expires` are the signature's.
pub const HANDLER_PARAMS: &[&str] = &[INFO_PARAM, PRESET_PARAM];

/// Most edits one request may ask for, unless `MAX_EDITS` says otherwise.
pub const DEFAULT_MAX_EDITS: usize = 32;

/// Overlays one request may draw (each is an original to fetch).
pub const MAX_OVERLAYS: usize = 4;

/// What reading a URL needs besides the URL: the service's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// Output bounds and the bucket allow-list.
    pub rules: Rules<'a>,
    /// The custom path rewrite (`REWRITE_MATCH_PATTERN`), if any.
    pub rewrite: Option<&'a Rewrite>,
    /// The configured presets and `PRESETS_ONLY`.
    pub presets: &'a Presets,
    /// Most edits one request may ask for (`MAX_EDITS`).
    pub max_edits: usize,
    /// What client hints may become (`WIDTH_BREAKPOINTS`, `DPR_BREAKPOINTS`).
    pub breakpoints: &'a Breakpoints,
}

/// What authorises a URL, as its style says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature<'a> {
    /// thumbor's path signature: this HMAC over this part of the path. The
    /// query is then not covered, so it does not apply.
    Thumbor {
        /// The HMAC as written in the path.
        hmac: &'a str,
        /// The part of the path it signs.
        signed: &'a str,
    },
    /// SIH's `signature` (and `expires`) over the canonical URL, when signing is on.
    Query(&'a Target),
}

/// A URL read up to authorisation: its canonical form and its path's style parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    /// The canonical form: what a signature covers and what the parsers read.
    pub target: Target,
    parsed: Parsed,
    info_path: bool,
}

/// A finished request, and what else the URL asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Assembled {
    /// The request to carry out.
    pub request: ImageRequest,
    /// The original's metadata is asked for (`/info/<key>` or `?info`), not an image.
    pub info: bool,
    /// The client-hint headers `auto` values were read from (empty for a
    /// URL without `auto`): the answer varies on exactly these.
    pub hints: HintSet,
}

/// Reads a URL (`path` and `query` raw, as in the URL) into the finished
/// request, authorising nothing: tools use it to see what a URL means.
/// `headers` are the request's, for client hints; `None` reads `auto` as a
/// browser sending no hints would have it read.
pub fn assemble(
    path: &str,
    query: Option<&str>,
    headers: Option<&HeaderMap>,
    settings: &Settings,
) -> Result<Assembled> {
    Url::read(path, query, settings)?.finish(settings, headers)
}

impl Url {
    /// The canonical form of the URL, and its path parsed in its style
    /// (`/info/` taken off first). Nothing of the query is applied yet.
    pub fn read(path: &str, query: Option<&str>, settings: &Settings) -> Result<Url> {
        let target = Target::parse(path, query)?;
        let info_key = target
            .path
            .strip_prefix(INFO_PREFIX)
            .map(|key| format!("/{key}"));
        let parsed = parse(
            info_key.as_deref().unwrap_or(&target.path),
            &settings.rules,
            settings.rewrite,
        )?;
        Ok(Url {
            target,
            parsed,
            info_path: info_key.is_some(),
        })
    }

    /// What authorises this URL.
    pub fn signature(&self) -> Signature<'_> {
        match &self.parsed.thumbor_hmac {
            Some((hmac, signed)) => Signature::Thumbor { hmac, signed },
            None => Signature::Query(&self.target),
        }
    }

    /// The query parameters that apply: none under thumbor's signature,
    /// which covers the path only, else all of them.
    fn params(&self) -> &[(String, String)] {
        match self.signature() {
            Signature::Thumbor { .. } => &[],
            Signature::Query(target) => &target.query,
        }
    }

    /// The finished request: the presets the path (`preset:<name>`) and then
    /// the query (`?preset=<name>`) name, then the query's edits, checked
    /// against `PRESETS_ONLY`, `MAX_EDITS` and [`MAX_OVERLAYS`]. `auto`
    /// values (in the query or a preset) read the client hints of `headers`.
    pub fn finish(&self, settings: &Settings, headers: Option<&HeaderMap>) -> Result<Assembled> {
        let params = self.params();
        let info = self.info_path || params.iter().any(|(k, _)| k == INFO_PARAM);
        let mut request = self.parsed.request.clone();
        let mut hints = match headers {
            Some(h) => Hints::new(h, settings.breakpoints),
            None => Hints::none(settings.breakpoints),
        };
        let limits = &settings.rules.limits;
        for name in self.preset_names(settings.presets)? {
            query::apply_hinted(
                &mut request,
                settings.presets.get(name)?,
                limits,
                &mut hints,
            )?;
        }
        if !settings.presets.only {
            query::apply_hinted(&mut request, params, limits, &mut hints)?;
        }
        if request.edits.len() > settings.max_edits {
            return Err(Error::TooManyEdits {
                count: request.edits.len(),
                limit: settings.max_edits,
            });
        }
        let overlays = request
            .edits
            .iter()
            .filter(|e| matches!(e, Edit::Overlay(_)))
            .count();
        if overlays > MAX_OVERLAYS {
            return Err(Error::param(
                "overlay",
                format!("{overlays} overlays is too many: at most {MAX_OVERLAYS}"),
            ));
        }
        Ok(Assembled {
            request,
            info,
            hints: hints.used(),
        })
    }

    /// The presets to apply, in order. With `PRESETS_ONLY`, a URL with any
    /// other edit, or with no preset, is refused.
    fn preset_names<'a>(&'a self, presets: &Presets) -> Result<Vec<&'a str>> {
        let params = self.params();
        // The last value, as for every parameter: a signature covers only the last
        // value of each name, so applying earlier ones would let them be added unsigned.
        let from_query = target::last(params, PRESET_PARAM);
        let names: Vec<&str> = self
            .parsed
            .presets
            .iter()
            .map(String::as_str)
            .chain(from_query)
            .collect();
        if presets.only {
            let parsed = &self.parsed.request;
            let edited = !parsed.edits.is_empty()
                || parsed.output != Output::default()
                || !parsed.headers.is_empty()
                || params
                    .iter()
                    .any(|(k, _)| query::PARAMS.contains(&k.as_str()));
            if edited || names.is_empty() {
                return Err(Error::param(
                    "preset",
                    "only presets are allowed here: use ?preset=<name> and nothing else",
                ));
            }
        }
        Ok(names)
    }

    /// The request the path alone asks for, before presets and the query.
    pub fn path_request(&self) -> &ImageRequest {
        &self.parsed.request
    }

    /// Presets the path names (thumbor's `preset:<name>`).
    pub fn path_presets(&self) -> &[String] {
        &self.parsed.presets
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Limits, Resize};

    fn presets() -> Presets {
        Presets::from_json(
            r#"{"thumb": "width=100&height=100", "wide": {"width": 800}}"#,
            &Limits::default(),
        )
        .unwrap()
    }

    static BREAKPOINTS: std::sync::LazyLock<Breakpoints> =
        std::sync::LazyLock::new(Breakpoints::default);

    fn settings(presets: &Presets, max_edits: usize) -> Settings<'_> {
        Settings {
            rules: Rules {
                limits: Limits::default(),
                buckets: &[],
            },
            rewrite: None,
            presets,
            max_edits,
            breakpoints: &BREAKPOINTS,
        }
    }

    fn read(path: &str, query: Option<&str>, presets: &Presets) -> Result<Assembled> {
        assemble(path, query, None, &settings(presets, 3))
    }

    fn width(a: &Assembled) -> Option<u32> {
        a.request.edits.iter().find_map(|e| match e {
            Edit::Resize(Resize { width, .. }) => *width,
            _ => None,
        })
    }

    #[test]
    fn a_thumbor_hmac_covers_the_path_only_so_the_query_does_not_apply() {
        let p = presets();
        let hmac = "/AAAAAAAAAAAAAAAAAAAAAAAAAAA=/100x100/a.jpg";
        let signed = read(hmac, Some("width=500&info&preset=wide"), &p).unwrap();
        assert_eq!(width(&signed), Some(100));
        assert!(!signed.info);
        let unsigned = read("/unsafe/100x100/a.jpg", Some("width=500"), &p).unwrap();
        assert_eq!(width(&unsigned), Some(500));
    }

    #[test]
    fn the_signature_is_the_styles() {
        let none = Presets::default();
        let s = settings(&none, 3);
        let url = Url::read("/AAAAAAAAAAAAAAAAAAAAAAAAAAA=/a.jpg", None, &s).unwrap();
        assert!(matches!(
            url.signature(),
            Signature::Thumbor {
                signed: "a.jpg",
                ..
            }
        ));
        let url = Url::read("/a.jpg", Some("width=5"), &s).unwrap();
        assert_eq!(url.signature(), Signature::Query(&url.target));
    }

    #[test]
    fn info_comes_from_the_prefix_or_the_parameter() {
        let p = presets();
        let by_path = read("/info/a.jpg", None, &p).unwrap();
        assert!(by_path.info);
        assert_eq!(by_path.request.source.key, "a.jpg");
        assert!(read("/a.jpg", Some("info"), &p).unwrap().info);
        assert!(!read("/a.jpg", Some("width=5"), &p).unwrap().info);
    }

    #[test]
    fn the_last_preset_applies_then_the_query_on_top() {
        let p = presets();
        let a = read("/a.jpg", Some("preset=wide&preset=thumb"), &p).unwrap();
        assert_eq!(width(&a), Some(100));
        let a = read("/a.jpg", Some("preset=thumb&width=40"), &p).unwrap();
        assert_eq!(width(&a), Some(40));
        let e = read("/a.jpg", Some("preset=nope"), &p).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn presets_only_refuses_anything_else() {
        let mut p = presets();
        p.only = true;
        assert!(read("/a.jpg", Some("preset=thumb"), &p).is_ok());
        for (path, query) in [
            ("/a.jpg", None),
            ("/a.jpg", Some("preset=thumb&width=5")),
            ("/a.jpg", Some("preset=thumb&format=png")),
            ("/fit-in/10x10/a.jpg", Some("preset=thumb")),
        ] {
            let e = read(path, query, &p).unwrap_err();
            assert_eq!(e.code(), "InvalidParameter", "{path}?{query:?}");
        }
    }

    fn hinted(path: &str, query: &str, hints: &[(&'static str, &'static str)]) -> Assembled {
        let mut headers = HeaderMap::new();
        for (k, v) in hints {
            headers.append(*k, http::HeaderValue::from_static(v));
        }
        let p = presets();
        assemble(path, Some(query), Some(&headers), &settings(&p, 32)).unwrap()
    }

    fn resize(a: &Assembled) -> Option<Resize> {
        a.request.edits.iter().find_map(|e| match e {
            Edit::Resize(r) => Some(*r),
            _ => None,
        })
    }

    #[test]
    fn auto_reads_hints_and_explicit_numbers_win() {
        let phone = [("sec-ch-width", "700"), ("sec-ch-dpr", "2.625")];
        // width=auto: the hint, rounded up to a breakpoint, never enlarging
        let a = hinted("/a.jpg", "width=auto", &phone);
        let r = resize(&a).unwrap();
        assert_eq!((r.width, r.without_enlargement), (Some(750), true));
        assert_eq!(a.hints, HintSet::SEC_CH_WIDTH);
        // an explicit width never reads a hint, and may enlarge as before
        let a = hinted("/a.jpg", "width=300", &phone);
        let r = resize(&a).unwrap();
        assert_eq!((r.width, r.without_enlargement), (Some(300), false));
        assert!(a.hints.is_empty());
        let a = hinted("/a.jpg", "width=300&dpr=2", &phone);
        assert_eq!(resize(&a).unwrap().width, Some(600));
        assert!(a.hints.is_empty());
        // dpr=auto: the hint rounded up to the set (2.625 -> 3) multiplies explicit sides
        let a = hinted("/a.jpg", "width=300&height=100&dpr=auto", &phone);
        let r = resize(&a).unwrap();
        assert_eq!((r.width, r.height), (Some(900), Some(300)));
        assert!(r.without_enlargement);
        assert_eq!(a.hints, HintSet::SEC_CH_DPR);
        // ... but never past MAX_OUTPUT_WIDTH: a hint is not the URL's to refuse
        let a = hinted("/a.jpg", "width=2000&dpr=auto", &phone);
        assert_eq!(resize(&a).unwrap().width, Some(4096));
        // a hinted width is already in device pixels: dpr does not multiply it, nor is read
        let a = hinted("/a.jpg", "width=auto&dpr=auto", &phone);
        assert_eq!(resize(&a).unwrap().width, Some(750));
        assert_eq!(a.hints, HintSet::SEC_CH_WIDTH);
        // the viewport times the DPR hint when there is no width hint
        let a = hinted(
            "/a.jpg",
            "width=auto",
            &[("sec-ch-viewport-width", "390"), ("sec-ch-dpr", "3")],
        );
        assert_eq!(resize(&a).unwrap().width, Some(1200));
        assert_eq!(
            a.hints,
            HintSet::SEC_CH_WIDTH
                | HintSet::WIDTH
                | HintSet::SEC_CH_VIEWPORT_WIDTH
                | HintSet::SEC_CH_DPR
        );
        // no hint: as if width were absent (the path's resize stays)
        let a = hinted("/fit-in/100x100/a.jpg", "width=auto", &[]);
        assert_eq!(resize(&a).unwrap().width, Some(100));
        let a = hinted("/a.jpg", "width=auto&height=50", &[]);
        let r = resize(&a).unwrap();
        assert_eq!(
            (r.width, r.height, r.without_enlargement),
            (None, Some(50), true)
        );
        assert!(hinted("/a.jpg", "width=AUTO", &[]).request.edits.is_empty());
        // a malformed hint is no error
        let a = hinted(
            "/a.jpg",
            "width=auto&dpr=auto",
            &[("sec-ch-width", "-5"), ("width", "NaN")],
        );
        assert!(a.request.edits.is_empty());
        // thumbor's HMAC covers the path only: no query, so no hint is read
        let a = hinted(
            "/AAAAAAAAAAAAAAAAAAAAAAAAAAA=/100x100/a.jpg",
            "width=auto",
            &phone,
        );
        assert_eq!(
            (resize(&a).unwrap().width, a.hints),
            (Some(100), HintSet::empty())
        );
    }

    #[test]
    fn edits_and_overlays_are_bounded() {
        let p = presets();
        let many = "/filters:blur(1):blur(2):grayscale():sharpen(1,1,true)/a.jpg";
        let e = read(many, None, &p).unwrap_err();
        assert!(
            matches!(e, Error::TooManyEdits { count: 4, limit: 3 }),
            "{e}"
        );

        let settings = settings(&p, 32);
        let marks = |n: usize| format!("/filters{}/a.jpg", ":watermark(w.png,0,0,0)".repeat(n));
        assert!(assemble(&marks(MAX_OVERLAYS), None, None, &settings).is_ok());
        let e = assemble(&marks(MAX_OVERLAYS + 1), None, None, &settings).unwrap_err();
        assert!(e.to_string().contains("overlays is too many"), "{e}");
    }
}
