//! The query-parameter URL style: `GET /<key>?width=&height=&fit=...`.
//!
//! The names `width`, `height`, `fit`, `format`, `rotate`, `flip`, `flop` and
//! `grayscale`/`greyscale` are those of AWS Serverless Image Handler v7's query
//! edits; `position`, `quality`, `blur`, `sharpen`, `background` and `dpr`
//! extend them. Unknown parameters are ignored; for repeated parameters the
//! last value wins (as CloudFront's query normalisation does). Because query
//! parameters carry no order, edits are built in one fixed order:
//! rotate, flip, flop, resize, grayscale, blur, sharpen, flatten. The same
//! parameters apply on top of the other URL styles ([`apply`]). Values are
//! checked by the constructors of [`super::edit`], which own the ranges.
//! `width=auto` and `dpr=auto` read client hints ([`apply_hinted`],
//! [`super::hints`]).
//! [`Presets`] (`PRESETS`) are named query strings of this style.

use super::edit::{self, DPR, ROTATE_DEGREES};
use super::hints::{Breakpoints, Hints, is_auto};
use super::{
    Color, Edit, Fit, ImageRequest, Limits, Metadata, Offset, Output, OutputFormat, Overlay,
    Position, Resize, Rotation, Source, Stage,
};
use crate::error::{Error, Result};

/// The parameters this style knows; anything else is ignored.
pub const PARAMS: &[&str] = &[
    "width",
    "height",
    "fit",
    "position",
    "format",
    "quality",
    "rotate",
    "flip",
    "flop",
    "grayscale",
    "greyscale",
    "blur",
    "sharpen",
    "background",
    "dpr",
    "fx",
    "fy",
    "overlay",
    "overlay_x",
    "overlay_y",
    "overlay_alpha",
    "overlay_ratio",
    "progressive",
    "animated",
    "metadata",
];

/// Parses `path` (still percent-encoded, with its leading `/`) and the raw
/// query string, through their canonical form ([`super::target::Target`]).
pub fn parse(path: &str, query: Option<&str>, limits: &Limits) -> Result<ImageRequest> {
    let target = super::target::Target::parse(path, query)?;
    let mut request = ImageRequest {
        source: Source {
            bucket: None,
            key: super::decode_key(&target.path)?,
        },
        edits: Vec::new(),
        output: Output::default(),
        headers: Vec::new(),
    };
    apply(&mut request, &target.query, limits)?;
    Ok(request)
}

/// Applies query parameters on top of a request of any style, as SIH v7 does:
/// a parameter replaces the path's or JSON's edit of the same name. An edit
/// the request did not have goes where this style would put it: rotations and
/// mirrors first, the resize after them, filters last ([`Stage::insert`]).
/// `params` are the decoded pairs of [`super::target::Target`]; the last
/// value of each name wins.
///
/// (Not to be confused with [`Edit::Overlay`], the `overlay=` watermark.)
pub fn apply(
    request: &mut ImageRequest,
    params: &[(String, String)],
    limits: &Limits,
) -> Result<()> {
    let breakpoints = Breakpoints::default();
    apply_hinted(request, params, limits, &mut Hints::none(&breakpoints))
}

/// [`apply`], reading `width=auto` and `dpr=auto` from `hints` (see
/// [`super::hints`]): explicit numbers win; a resize with `auto` in it never
/// enlarges (the original's size caps it); a `dpr` from a hint is lowered
/// as far as needed (never below 1) for explicit sides to stay within
/// `limits`, since a hint is not the URL's to be refused for.
pub fn apply_hinted(
    request: &mut ImageRequest,
    params: &[(String, String)],
    limits: &Limits,
    hints: &mut Hints,
) -> Result<()> {
    let get = |name: &str| super::target::last(params, name);
    let edits = &mut request.edits;

    if let Some(v) = get("rotate") {
        let rotation = parse_rotate("rotate", v)?;
        replace(
            edits,
            |e| matches!(e, Edit::Rotate(_)),
            rotation.map(Edit::Rotate),
        );
    }
    for (name, edit) in [("flip", Edit::Flip), ("flop", Edit::Flop)] {
        if let Some(v) = get(name) {
            let on = parse_bool(name, v)?;
            let same = edit.clone();
            replace(edits, |e| *e == same, on.then_some(edit));
        }
    }

    let auto_dpr = get("dpr").is_some_and(is_auto);
    let explicit_dpr = get("dpr")
        .filter(|_| !auto_dpr)
        .map(|v| DPR.check("dpr", v))
        .transpose()?;
    let auto_width = get("width").is_some_and(is_auto);
    // `width=auto` without a readable hint is as if `width` were absent.
    let hinted_width = if auto_width {
        hints.width(explicit_dpr)
    } else {
        None
    };
    let width_given = get("width").is_some() && (!auto_width || hinted_width.is_some());
    let width = match hinted_width {
        Some(w) => Some(w),
        None if auto_width => None,
        None => get("width")
            .map(|v| parse_dimension("width", v, limits.max_width))
            .transpose()?
            .flatten(),
    };
    let height = get("height")
        .map(|v| parse_dimension("height", v, limits.max_height))
        .transpose()?
        .flatten();
    let fit = get("fit").map(|v| Fit::parse("fit", v)).transpose()?;
    let mut position = get("position")
        .map(|v| Position::parse("position", v))
        .transpose()?;
    // fx/fy: a focal point, as fractions of the width and height (default 0.5)
    if get("fx").is_some() || get("fy").is_some() {
        let fraction = |name: &str| -> Result<u16> {
            match get(name).filter(|v| !v.is_empty()) {
                Some(v) => edit::focal(name, v),
                None => Ok(500),
            }
        };
        position = Some(Position::Focal {
            x: fraction("fx")?,
            y: fraction("fy")?,
        });
    }
    let background = get("background")
        .filter(|v| !v.is_empty())
        .map(|v| Color::parse("background", v))
        .transpose()?;
    if width_given || get("height").is_some() {
        // The explicit sides the dpr multiplies (a hinted width is already in device pixels).
        let explicit_width = width.filter(|_| hinted_width.is_none());
        let dpr = match explicit_dpr {
            Some(d) => d,
            None if auto_dpr && (explicit_width.is_some() || height.is_some()) => {
                let fits = |side: Option<u32>, max: u32| {
                    side.map_or(f64::INFINITY, |s| f64::from(max) / f64::from(s))
                };
                hints
                    .dpr()
                    .unwrap_or(1.0)
                    .min(fits(explicit_width, limits.max_width))
                    .min(fits(height, limits.max_height))
                    .max(1.0)
            }
            None => 1.0,
        };
        let resize = (width.is_some() || height.is_some())
            .then(|| -> Result<Edit> {
                Ok(Edit::Resize(Resize {
                    width: match hinted_width {
                        Some(w) => Some(w),
                        None => width
                            .map(|w| scale_dimension("width", w, dpr, limits.max_width))
                            .transpose()?,
                    },
                    height: height
                        .map(|h| scale_dimension("height", h, dpr, limits.max_height))
                        .transpose()?,
                    fit: fit.unwrap_or_default(),
                    position: position.unwrap_or_default(),
                    background,
                    // what a hint sized is never larger than the original
                    without_enlargement: auto_width || auto_dpr,
                    adaptive: false,
                }))
            })
            .transpose()?;
        replace(edits, |e| matches!(e, Edit::Resize(_)), resize);
    } else if let Some(Edit::Resize(r)) = edits.iter_mut().find(|e| matches!(e, Edit::Resize(_))) {
        // fit, position or background alone adjust the request's own resize
        r.fit = fit.unwrap_or(r.fit);
        r.position = position.unwrap_or(r.position);
        r.background = background.or(r.background);
    }

    let grayscale = get("grayscale")
        .map(|v| ("grayscale", v))
        .or(get("greyscale").map(|v| ("greyscale", v)));
    if let Some((name, v)) = grayscale {
        let on = parse_bool(name, v)?;
        replace(
            edits,
            |e| matches!(e, Edit::Grayscale),
            on.then_some(Edit::Grayscale),
        );
    }
    if let Some(v) = get("blur") {
        let blur = (!v.is_empty()).then(|| Edit::blur("blur", v)).transpose()?;
        replace(edits, |e| matches!(e, Edit::Blur(_)), blur);
    }
    if let Some(v) = get("sharpen") {
        let sharpen = match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some(Edit::Sharpen(None)),
            "" | "false" | "no" | "off" | "0" => None,
            _ => Some(Edit::sharpen("sharpen", v)?),
        };
        replace(edits, |e| matches!(e, Edit::Sharpen(_)), sharpen);
    }
    if let Some(color) = background {
        let flatten = (color.a == 255).then_some(Edit::Flatten(color));
        replace(edits, |e| matches!(e, Edit::Flatten(_)), flatten);
    }

    if let Some(key) = get("overlay") {
        let overlay = (!key.is_empty())
            .then(|| -> Result<Edit> {
                let offset = |name: &str| {
                    get(name)
                        .filter(|v| !v.is_empty())
                        .map(|v| Offset::parse(name, v))
                        .transpose()
                };
                let percent = |name: &str| -> Result<Option<u8>> {
                    get(name)
                        .filter(|v| !v.is_empty())
                        .map(|v| edit::percent(name, v))
                        .transpose()
                };
                let ratio = percent("overlay_ratio")?;
                Ok(Edit::Overlay(Overlay {
                    source: Source {
                        bucket: request.source.bucket.clone(),
                        key: key.to_string(),
                    },
                    left: offset("overlay_x")?.unwrap_or(Offset::Pixels(0)),
                    top: offset("overlay_y")?.unwrap_or(Offset::Pixels(0)),
                    alpha: percent("overlay_alpha")?.unwrap_or(0),
                    width_ratio: ratio,
                    height_ratio: ratio,
                }))
            })
            .transpose()?;
        replace(
            &mut request.edits,
            |e| matches!(e, Edit::Overlay(_)),
            overlay,
        );
    }
    if let Some(v) = get("progressive") {
        request.output.progressive = parse_bool("progressive", v)?;
    }
    if let Some(v) = get("animated") {
        // An empty value keeps the animation, as SIH's `animated()` does.
        request.output.still = !v.is_empty() && !parse_bool("animated", v)?;
    }
    if let Some(v) = get("metadata").filter(|v| !v.is_empty()) {
        request.output.metadata = Metadata::parse("metadata", v)?;
    }
    if let Some(v) = get("format").filter(|v| !v.is_empty())
        && !request.output.set_best(v)
    {
        request.output.format = OutputFormat::parse("format", v)?;
        request.output.best = false;
    }
    if let Some(v) = get("quality").filter(|v| !v.is_empty()) {
        request.output.set_quality("quality", v)?;
    }
    Ok(())
}

/// Replaces the edits matching `is` by `with` (at the first match's place), or
/// inserts `with` where its [`Stage`] goes when there was none.
fn replace(edits: &mut Vec<Edit>, is: impl Fn(&Edit) -> bool, with: Option<Edit>) {
    let first = edits.iter().position(&is);
    edits.retain(|e| !is(e));
    let Some(edit) = with else { return };
    match first {
        Some(at) => edits.insert(at.min(edits.len()), edit),
        None => Stage::insert(edits, edit),
    }
}

/// SIH's boolean rule, made strict: `""`, `0`, `false`, `no`, `off` are false;
/// `1`, `true`, `yes`, `on` are true; anything else is an error.
pub fn parse_bool(param: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(false),
        "1" | "true" | "yes" | "on" => Ok(true),
        _ => Err(Error::param(
            param,
            format!("{param}={value:?} is not a boolean: use true or false"),
        )),
    }
}

/// A width or height: a whole number of pixels; `""` and `0` mean "not set" (as SIH).
pub fn parse_dimension(param: &str, value: &str, max: u32) -> Result<Option<u32>> {
    if value.is_empty() {
        return Ok(None);
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        let what = if value.starts_with('-') {
            "must not be negative"
        } else {
            "is not a whole number of pixels"
        };
        return Err(Error::param(param, format!("{param}={value:?} {what}")));
    }
    let n: u64 = value.parse().unwrap_or(u64::MAX);
    if n > u64::from(max) {
        return Err(Error::param(
            param,
            format!("{param}={value} is above the maximum of {max}"),
        ));
    }
    Ok((n > 0).then_some(n as u32))
}

fn scale_dimension(param: &str, value: u32, dpr: f64, max: u32) -> Result<u32> {
    let scaled = (f64::from(value) * dpr).round();
    if scaled > f64::from(max) {
        return Err(Error::param(
            param,
            format!("{param}={value} at dpr={dpr} is {scaled} pixels, above the maximum of {max}"),
        ));
    }
    Ok(scaled as u32)
}

/// Rotation in degrees clockwise, any angle in [`ROTATE_DEGREES`] (SIH
/// rotates by any angle); `""` means none (SIH's auto-orient, which is
/// always on here).
pub fn parse_rotate(param: &str, value: &str) -> Result<Option<Rotation>> {
    if value.is_empty() {
        return Ok(None);
    }
    let degrees: f64 = value
        .parse()
        .ok()
        .filter(|d: &f64| ROTATE_DEGREES.contains(*d))
        .ok_or_else(|| {
            Error::param(
                param,
                format!(
                    "{param}={value:?} is not an angle: use degrees from {} to {}, such as 90 or 12.5",
                    ROTATE_DEGREES.min, ROTATE_DEGREES.max
                ),
            )
        })?;
    Rotation::from_degrees(param, degrees)
}

/// Named transformations (`PRESETS`): each is a query string of this style's
/// parameters, applied as if it were in the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presets {
    presets: Vec<(String, Vec<(String, String)>)>,
    /// Refuse every edit that does not come from a preset (`PRESETS_ONLY`).
    pub only: bool,
}

impl Presets {
    /// Reads `{"name": "width=300&height=300", "other": {"width": 800, ...}}`,
    /// checking every preset with the query parser.
    pub fn from_json(text: &str, limits: &Limits) -> std::result::Result<Presets, String> {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| format!("is not a JSON object of presets: {e}"))?;
        let mut presets = Vec::new();
        for (name, value) in map {
            let query = match value {
                serde_json::Value::String(q) => q,
                serde_json::Value::Object(o) => {
                    let mut q = form_urlencoded::Serializer::new(String::new());
                    for (k, v) in o {
                        let v = match v {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        q.append_pair(&k, &v);
                    }
                    q.finish()
                }
                _ => {
                    return Err(format!(
                        "preset {name:?} is neither a query string nor an object"
                    ));
                }
            };
            let params =
                super::target::query_pairs(&query).map_err(|e| format!("preset {name:?}: {e}"))?;
            let mut probe = ImageRequest {
                source: Source {
                    bucket: None,
                    key: "k".into(),
                },
                edits: Vec::new(),
                output: Output::default(),
                headers: Vec::new(),
            };
            apply(&mut probe, &params, limits).map_err(|e| format!("preset {name:?}: {e}"))?;
            presets.push((name, params));
        }
        Ok(Presets {
            presets,
            only: false,
        })
    }

    /// The decoded query parameters of a preset, or 400 naming it.
    pub fn get(&self, name: &str) -> Result<&[(String, String)]> {
        self.presets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, q)| q.as_slice())
            .ok_or_else(|| {
                Error::param(
                    "preset",
                    format!("preset={name:?} is not a configured preset"),
                )
            })
    }

    /// The configured presets' names, in configuration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.presets.iter().map(|(n, _)| n.as_str())
    }

    /// Whether any preset is configured.
    pub fn is_empty(&self) -> bool {
        self.presets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(q: &str) -> Result<ImageRequest> {
        parse("/photos/cat.jpg", Some(q), &Limits::default())
    }

    fn err(q: &str) -> String {
        let e = req(q).unwrap_err();
        assert_eq!(e.status(), 400, "{q}");
        e.to_string()
    }

    #[test]
    fn metadata_modes() {
        use crate::request::{ExifKept, Metadata};
        assert!(req("metadata=none").unwrap().output.metadata.is_none());
        assert!(req("metadata=").unwrap().output.metadata.is_none());
        let copyright = req("metadata=Copyright").unwrap().output.metadata;
        assert_eq!(copyright.exif, ExifKept::Copyright);
        assert!(!copyright.xmp_iptc && !copyright.icc);
        let keep = req("metadata=keep").unwrap().output.metadata;
        assert_eq!(
            keep,
            Metadata {
                exif: ExifKept::All,
                xmp_iptc: true,
                icc: true
            }
        );
        // every mode and strip spells itself back
        for mode in ["none", "copyright", "keep"] {
            for (strip_exif, strip_icc) in
                [(false, false), (true, false), (false, true), (true, true)]
            {
                let m = Metadata::parse("m", mode)
                    .unwrap()
                    .stripped(strip_exif, strip_icc);
                let (name, e, i) = m.spelled();
                assert_eq!(
                    Metadata::parse("m", name).unwrap().stripped(e, i),
                    m,
                    "{m:?}"
                );
            }
        }
        let message = err("metadata=all");
        assert!(message.contains("\"all\"") && message.contains("none, copyright or keep"));
        // the default is left out of the canonical form: variant tags of
        // requests without `metadata` are unchanged
        let plain = req("width=10").unwrap().canonical();
        assert!(!plain.contains("metadata"), "{plain}");
        assert_eq!(plain, req("width=10&metadata=none").unwrap().canonical());
        assert_ne!(plain, req("width=10&metadata=keep").unwrap().canonical());
    }

    #[test]
    fn full_request() {
        let r = req("width=300&height=200&fit=contain&position=top&format=webp&quality=70&rotate=90&flip=true&flop=1&grayscale=true&blur=2&sharpen=1.5&background=ff0000&dpr=2&utm_source=x").unwrap();
        assert_eq!(
            r.source,
            Source {
                bucket: None,
                key: "photos/cat.jpg".into()
            }
        );
        assert_eq!(
            r.output,
            Output {
                format: Some(OutputFormat::Webp),
                quality: Some(70),
                ..Output::default()
            }
        );
        let red = Color {
            r: 255,
            g: 0,
            b: 0,
            a: 255,
        };
        assert_eq!(
            r.edits,
            vec![
                Edit::Rotate(Rotation::D90),
                Edit::Flip,
                Edit::Flop,
                Edit::Resize(Resize {
                    width: Some(600),
                    height: Some(400),
                    fit: Fit::Contain,
                    position: Position::North,
                    background: Some(red),
                    without_enlargement: false,
                    adaptive: false
                }),
                Edit::Grayscale,
                Edit::Blur(2.0),
                Edit::Sharpen(Some(1.5)),
                Edit::Flatten(red),
            ]
        );
    }

    #[test]
    fn empty_and_zero_mean_unset() {
        let r = req("width=0&height=&format=&quality=&flip=false&grayscale=").unwrap();
        assert!(r.edits.is_empty());
        assert_eq!(r.output, Output::default());
        assert_eq!(req("format=auto").unwrap().output.format, None);
        assert!(req("").unwrap().edits.is_empty());
    }

    #[test]
    fn last_value_wins_and_unknown_ignored() {
        let r = req("width=100&width=200&foo=bar&Width=5").unwrap();
        assert!(matches!(
            r.edits[0],
            Edit::Resize(Resize {
                width: Some(200),
                height: None,
                ..
            })
        ));
    }

    #[test]
    fn greyscale_spelling() {
        assert_eq!(req("greyscale=yes").unwrap().edits, vec![Edit::Grayscale]);
        assert!(err("greyscale=maybe").contains("greyscale="));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (q, name) in [
            ("width=-1", "width"),
            ("width=abc", "width"),
            ("width=1.5", "width"),
            ("height=99999", "height"),
            ("width=5000", "width"),
            ("fit=banana", "fit"),
            ("position=up", "position"),
            ("quality=0", "quality"),
            ("quality=101", "quality"),
            ("format=bmp", "format"),
            ("rotate=4000", "rotate"),
            ("rotate=NaN", "rotate"),
            ("rotate=abc", "rotate"),
            ("flip=maybe", "flip"),
            ("blur=0", "blur"),
            ("blur=nan", "blur"),
            ("sharpen=-2", "sharpen"),
            ("background=zzz", "background"),
            ("dpr=5", "dpr"),
            ("dpr=0.5", "dpr"),
            ("width=3000&dpr=2", "width"),
        ] {
            let m = err(q);
            assert!(m.contains(&format!("{name}=")), "{q}: {m}");
        }
    }

    #[test]
    fn keys_are_decoded() {
        let l = Limits::default();
        assert_eq!(
            parse("/a%20b/%E7%8C%AB.jpg", None, &l).unwrap().source.key,
            "a b/猫.jpg"
        );
        assert_eq!(
            parse("/photos/猫 1.jpg", None, &l).unwrap().source.key,
            "photos/猫 1.jpg"
        );
        assert_eq!(parse("/a+b.jpg", None, &l).unwrap().source.key, "a+b.jpg");
        assert!(matches!(parse("/", None, &l), Err(Error::MissingKey)));
        // a path that is not UTF-8 has no canonical form (request::target)
        assert!(matches!(
            parse("/%FF.jpg", None, &l),
            Err(Error::MalformedUrl(_))
        ));
        assert!(matches!(
            parse("/%00.jpg", None, &l),
            Err(Error::InvalidKey { .. })
        ));
        // a query `+` is a space, as in HTML forms
        assert_eq!(
            parse("/k", Some("position=right+top&width=10"), &l)
                .unwrap()
                .edits
                .len(),
            1
        );
    }
}
