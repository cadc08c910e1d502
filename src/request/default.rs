//! SIH's "default" URL style: `GET /<base64(JSON)>`.
//!
//! The path (without its leading `/`) is standard, padded base64 of a UTF-8
//! JSON object `{"bucket","key","edits","outputFormat","effort","metadata","headers"}`,
//! as AWS Serverless Image Handler's demo UI builds it. [`detect`] applies
//! SIH's rule for recognising such a path; [`parse`] turns the object into an
//! [`ImageRequest`].
//!
//! `edits` holds sharp method names and the values sharp takes for them. They
//! become [`Edit`]s in the order sharp itself runs them whatever the call
//! order: rotations and mirrors, then trim, then the resize (SIH always calls
//! `resize` first, so `extract`/`crop` are post-resize), then everything else
//! in JSON key order. Edits sharp and SIH know but this service does not carry out are
//! refused with [`Error::UnsupportedEdit`]; any other key is ignored, as SIH
//! does.
//!
//! The shapes are declared as serde types: `Arg` is what an edit's value
//! may be (`true`, a number, a list or an object of its options), and each
//! edit's options are a struct of `Field`s, so unknown options are ignored.
//! Converting them checks every value. Conventions: a JSON `null` means the
//! same as an absent field; numbers must be finite JSON numbers unless a
//! field says numeric strings are taken too; every bad value is a 400 whose
//! message names the field by its path, such as `resize.width`. The response
//! headers a request may ask for are filtered by [`header_allowed`].

use base64::Engine;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Number, Value};

use super::edit::{
    BLUR_SIGMA, CHANNEL, CLAHE_SIZE, COEFFICIENT, DEFAULT_GAMMA, ENSURE_ALPHA, PERCENT,
    SHARPEN_SIGMA, THRESHOLD, TRIM_THRESHOLD, kernel_side, pixels, quality,
};
use super::{
    Color, Edit, Extend, Fit, FormatNames, ImageRequest, Kernel, Metadata, NumberArg, Offset,
    Output, OutputFormat, Overlay, Position, Range, Region, Resize, Rotation, RoundCrop, Rules,
    Source, Stage, Trim, TrimBackground,
};
use crate::error::{Error, Result};

// Only the unit tests name it, through their `use super::*`.
#[cfg(test)]
use super::Modulate;

mod headers;

use headers::filter_headers;
pub use headers::header_allowed;

/// A decoded default request.
type Object = Map<String, Value>;

/// What `resize.fit`, `resize.position` and a colour may be, for messages.
const FITS: &str = "is not a fit: use cover, contain, fill, inside or outside";
const POSITIONS: &str = "is not a position: use centre, north, northeast, east, southeast, south, southwest, west, northwest (or top, right top, ...), entropy or attention";
const COLOURS: &str = "is not a colour: use hex (#ff0000), a CSS colour name, rgb(r, g, b) or {\"r\", \"g\", \"b\", \"alpha\"}";

/// sharp's default background: opaque black.
const BLACK: Color = Color {
    r: 0,
    g: 0,
    b: 0,
    a: 255,
};
/// A colour's opacity, 0 to 1 (the range of an added alpha channel).
const OPACITY: Range = ENSURE_ALPHA;
/// `smartCrop.faceIndex`, accepted and ignored (there is no face detection).
const FACE_INDEX: Range = PERCENT;

/// sharp and SIH edits this service does not carry out yet.
const UNSUPPORTED_EDITS: &[&str] = &[
    "contentModeration",
    "recomb",
    "boolean",
    "affine",
    "extractChannel",
    "joinChannel",
    "bandbool",
    "unflatten",
    "toColourspace",
    "toColorspace",
    "pipelineColourspace",
    "pipelineColorspace",
];

/// SIH's custom edits, which do nothing when their value is `false` or `null`.
const CUSTOM_EDITS: &[&str] = &["overlayWith", "smartCrop", "roundCrop", "contentModeration"];

/// An option of an edit, as JSON; `null` reads as absent.
type Field = Option<Value>;

/// An edit's value, in the shapes sharp takes: `null`, a boolean, a number,
/// a list, an object of the edit's options `O`, or anything else (which each
/// edit refuses with its own message). `null` and `false` turn most edits off.
#[derive(Deserialize)]
#[serde(untagged)]
enum Arg<O> {
    Null,
    Bool(bool),
    Number(Number),
    List(Vec<Value>),
    Object(O),
    Other(IgnoredAny),
}

impl<O: DeserializeOwned> Arg<O> {
    /// The shape of `value`, which always fits one, since `O` has only [`Field`]s.
    fn of(value: &Value) -> Arg<O> {
        Arg::deserialize(value).unwrap_or(Arg::Other(IgnoredAny))
    }
}

/// Declares the options object of an edit: a struct of [`Field`]s named as
/// sharp names them (camelCase); options not listed are ignored.
macro_rules! options {
    ($($(#[$doc:meta])* $name:ident { $($field:ident),* })*) => {$(
        $(#[$doc])*
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct $name { $($field: Field),* }
    )*};
}

options! {
    /// An edit that takes no options.
    NoOptions {}
    /// The top-level request object.
    Request { bucket, key, edits, output_format, effort, metadata, headers }
    /// `resize`.
    ResizeOptions { width, height, fit, position, background, without_enlargement }
    /// `extract` and `crop`.
    RegionOptions { left, top, width, height }
    /// `extend`.
    ExtendOptions { top, bottom, left, right, background, extend_with }
    /// `trim`.
    TrimOptions { threshold, background, line_art }
    /// `blur` and `sharpen`.
    Sigma { sigma }
    /// `flatten`.
    Background { background }
    /// `negate`.
    Alpha { alpha }
    /// `linear`.
    LinearOptions { a, b }
    /// `convolve`.
    KernelOptions { width, height, kernel, scale, offset }
    /// `modulate`.
    ModulateOptions { brightness, saturation, hue, lightness }
    /// `gamma`.
    GammaOptions { gamma, gamma_out }
    /// `threshold`.
    ThresholdOptions { threshold, grayscale }
    /// `clahe`.
    ClaheOptions { width, height, max_slope }
    /// `roundCrop`.
    RoundCropOptions { rx, ry, left, top }
    /// `smartCrop`.
    SmartCropOptions { face_index, padding }
    /// `overlayWith`.
    OverlayOptions { bucket, key, alpha, w_ratio, h_ratio, options }
    /// `overlayWith.options`.
    OffsetOptions { left, top }
    /// A format object (`{"webp": {...}}`).
    EncodeOptions { quality, lossless, near_lossless, progressive }
}

/// If `path` (raw URL path, leading `/` optional) is a default request, its JSON object.
///
/// SIH's rule: the path matches
/// `^([0-9a-zA-Z+/]{4})*(([0-9a-zA-Z+/]{2}==)|([0-9a-zA-Z+/]{3}=))?$`
/// (standard alphabet with padding; the URL-safe alphabet is not accepted),
/// is not empty, and decodes to UTF-8 text that is a JSON object. Anything
/// else gives `None`, and the caller tries the other URL styles.
pub fn detect(path: &str) -> Option<Object> {
    let raw = path.strip_prefix('/').unwrap_or(path);
    if !is_padded_base64(raw) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// Whether `s` is non-empty and matches SIH's base64 regex.
fn is_padded_base64(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return false;
    }
    let pad = bytes.iter().rev().take_while(|b| **b == b'=').count();
    pad <= 2
        && bytes[..bytes.len() - pad]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// Parses a default request's JSON object.
///
/// `bucket` must be one of `rules.buckets` (else 403); `key` is used as is
/// (no percent-decoding); `edits` become [`Edit`]s in sharp's order; the
/// output format is `edits.toFormat`; `outputFormat`, else the last format
/// object in `edits` (`{"webp":{...}}`), is only preferred, so automatic
/// WebP/AVIF still wins over it, as in SIH; `effort`
/// is SIH's WebP effort; `metadata` (ours: `none`, `copyright`, `keep`) and
/// the edits `stripExif`/`stripIcc` (SIH 8.0.3) set [`Metadata`]; `headers`
/// are kept if [`header_allowed`] and valid HTTP. Unknown top-level fields
/// are ignored.
pub fn parse(json: &Object, rules: &Rules) -> Result<ImageRequest> {
    let Ok(request) = Request::deserialize(json) else {
        return Err(Error::DecodeRequest("the request is not an object".into()));
    };
    let bucket = top("bucket", &request.bucket, Value::as_str)?;
    if let Some(bucket) = bucket {
        rules.check_bucket(bucket)?;
    }
    let key = top("key", &request.key, Value::as_str)?
        .filter(|k| !k.is_empty())
        .ok_or(Error::MissingKey)?;
    if key.contains('\0') {
        return Err(Error::InvalidKey {
            key: key.to_string(),
            reason: "it contains a NUL byte",
        });
    }
    let mut formats = Formats::default();
    let edits = match top("edits", &request.edits, Value::as_object)? {
        Some(edits) => parse_edits(edits, rules, &mut formats)?,
        None => Vec::new(),
    };
    let output_format = (request.output_format.as_ref())
        .map(|v| format_name("outputFormat", v))
        .transpose()?;
    let headers = top("headers", &request.headers, Value::as_object)?;
    let metadata = top("metadata", &request.metadata, Value::as_str)?
        .map(|v| Metadata::parse("metadata", v))
        .transpose()?
        .unwrap_or_default();

    // SIH: toFormat is forced; outputFormat (or a format object, as sharp
    // selects it) only applies when automatic WebP does not.
    let format = formats.to_format;
    let preferred = output_format.or(formats.last_object);
    let options = (formats.options.iter().rev())
        .find(|o| Some(o.format) == format.or(preferred))
        .copied();
    Ok(ImageRequest {
        source: Source {
            bucket: bucket.map(str::to_string),
            key: key.to_string(),
        },
        edits,
        output: Output {
            format,
            preferred,
            quality: options.and_then(|o| o.quality),
            auto_quality: false,
            best: false,
            lossless: options.is_some_and(|o| o.lossless),
            near_lossless: options.is_some_and(|o| o.near_lossless),
            progressive: options.is_some_and(|o| o.progressive),
            effort: request.effort.as_ref().map(webp_effort),
            max_bytes: None,
            still: formats.still,
            // SIH 8.0.3's stripExif and stripIcc apply after the mode.
            metadata: metadata.stripped(formats.strip_exif, formats.strip_icc),
        },
        headers: headers.map(filter_headers).unwrap_or_default(),
    })
}

/// A top-level field as `get` reads it, or a 400 saying what it must be.
fn top<'a, T>(name: &str, value: &'a Field, get: fn(&'a Value) -> Option<T>) -> Result<Option<T>> {
    let want = if name == "edits" || name == "headers" {
        "an object"
    } else {
        "a string"
    };
    (value.as_ref())
        .map(|v| {
            get(v).ok_or_else(|| {
                Error::DecodeRequest(format!("{name} must be {want}, not {}", show(v)))
            })
        })
        .transpose()
}

/// SIH's WebP effort: the number truncated toward zero if that is 0 to 6,
/// else 4 (sharp's default). Like SIH's `Math.trunc`, numeric strings count.
fn webp_effort(value: &Value) -> u8 {
    match number_like(value).map(f64::trunc) {
        Some(e) if (0.0..=6.0).contains(&e) => e as u8,
        _ => 4,
    }
}

/// What the format edits (`toFormat`, `jpeg`, `webp`, ...) asked for.
#[derive(Default)]
struct Formats {
    /// `toFormat`.
    to_format: Option<OutputFormat>,
    /// The last format object, which sharp would encode to.
    last_object: Option<OutputFormat>,
    /// Options of each format object, in key order.
    options: Vec<FormatOptions>,
    /// `animated: false`: only the first frame (SIH's override of sharp's `animated`).
    still: bool,
    /// `stripExif: true` (SIH 8.0.3).
    strip_exif: bool,
    /// `stripIcc: true` (SIH 8.0.3).
    strip_icc: bool,
}

/// A format object's options this service honours.
#[derive(Clone, Copy)]
struct FormatOptions {
    format: OutputFormat,
    quality: Option<u8>,
    lossless: bool,
    near_lossless: bool,
    progressive: bool,
}

/// Maps the `edits` object into sharp's order (see the module docs).
fn parse_edits(edits: &Object, rules: &Rules, formats: &mut Formats) -> Result<Vec<Edit>> {
    let mut out = Vec::new();
    for (name, value) in edits {
        let name = name.as_str();
        // SIH's custom edits do nothing when `false` or `null`.
        if CUSTOM_EDITS.contains(&name) && matches!(value, Value::Null | Value::Bool(false)) {
            continue;
        }
        if UNSUPPORTED_EDITS.contains(&name) {
            return Err(Error::UnsupportedEdit(name.to_string()));
        }
        if let Some(format) = format_method(name) {
            format_object(format, name, value, formats)?;
            continue;
        }
        out.extend(edit(name, value, rules, formats)?);
    }
    // SIH's smartCrop with a two-sided resize: the resize's crop becomes content-aware.
    let two_sided = out
        .iter()
        .any(|e| matches!(e, Edit::Resize(r) if r.width.is_some() && r.height.is_some()));
    if two_sided && out.iter().any(|e| matches!(e, Edit::SmartCrop { .. })) {
        out.retain(|e| !matches!(e, Edit::SmartCrop { .. }));
        for e in &mut out {
            if let Edit::Resize(r) = e {
                r.fit = Fit::Cover;
                r.position = Position::Attention;
            }
        }
    }
    // The sort is stable, so key order holds within a stage.
    out.sort_by_key(Stage::after_resize);
    Ok(out)
}

/// One entry of `edits`: `None` for an edit turned off and for unknown names.
fn edit(name: &str, value: &Value, rules: &Rules, formats: &mut Formats) -> Result<Option<Edit>> {
    use Arg::{Bool, List, Number, Object};
    if value.is_null() && name != "heif" {
        return Ok(None);
    }
    let at = |field: &str| format!("{name}.{field}");
    let or = |field: Field, default: f64| field.unwrap_or_else(|| Value::from(default));
    let refuse = |what: &str| Err(invalid(name, value, what));
    let not_an_object = || Err(object_wanted(name, value));
    let background =
        |field: Option<&Value>| field.map_or(Ok(BLACK), |v| color(&at("background"), v));
    Ok(Some(match name {
        "resize" => match Arg::of(value) {
            Number(_) => {
                let width = Some(dimension(name, value, rules.limits.max_width)?);
                Edit::Resize(Resize {
                    width,
                    ..Resize::default()
                })
            }
            Object(o) => return Ok(resize(o, rules)?.map(Edit::Resize)),
            _ => return not_an_object(),
        },
        "rotate" => match Arg::<NoOptions>::of(value) {
            Number(n) => {
                let degrees = n.as_f64().unwrap_or(f64::NAN);
                return Ok(Rotation::from_degrees(name, degrees)?.map(Edit::Rotate));
            }
            _ => return refuse("is not an angle: use a number of degrees"),
        },
        "flip" => return Ok(flag(name, value)?.then_some(Edit::Flip)),
        "flop" => return Ok(flag(name, value)?.then_some(Edit::Flop)),
        "grayscale" | "greyscale" => return Ok(flag(name, value)?.then_some(Edit::Grayscale)),
        "normalize" | "normalise" => return Ok(flag(name, value)?.then_some(Edit::Normalize)),
        "removeAlpha" => return Ok(flag(name, value)?.then_some(Edit::RemoveAlpha)),
        "extract" | "crop" => match Arg::<RegionOptions>::of(value) {
            Object(o) => {
                let side = |field: Field, side: &str, min: f64| {
                    let hint = format!(": {name} needs left, top, width and height");
                    let v = required(&at(side), field, &hint)?;
                    Range::new(min, f64::from(u32::MAX)).check_whole(&at(side), &v)
                };
                Edit::Extract(Region {
                    left: side(o.left, "left", 0.0)?,
                    top: side(o.top, "top", 0.0)?,
                    width: side(o.width, "width", 1.0)?,
                    height: side(o.height, "height", 1.0)?,
                })
            }
            _ => return not_an_object(),
        },
        "extend" => {
            let (max_w, max_h) = (rules.limits.max_width, rules.limits.max_height);
            let side = |field: Field, side: &str, max: u32| {
                let range = Range::new(0.0, f64::from(max));
                field.map_or(Ok(0), |v| range.check_whole(&at(side), &v))
            };
            let e = match Arg::<ExtendOptions>::of(value) {
                Number(_) => {
                    let n =
                        Range::new(0.0, f64::from(max_w.min(max_h))).check_whole(name, value)?;
                    Extend {
                        top: n,
                        bottom: n,
                        left: n,
                        right: n,
                        background: Some(BLACK),
                    }
                }
                Object(o) => {
                    if let Some(with) = o.extend_with.filter(|w| w != "background") {
                        let what = format!("extend.extendWith={}", show(&with));
                        return Err(Error::UnsupportedEdit(what));
                    }
                    Extend {
                        top: side(o.top, "top", max_h)?,
                        bottom: side(o.bottom, "bottom", max_h)?,
                        left: side(o.left, "left", max_w)?,
                        right: side(o.right, "right", max_w)?,
                        background: Some(background(o.background.as_ref())?),
                    }
                }
                _ => return not_an_object(),
            };
            let nothing = e.top == 0 && e.bottom == 0 && e.left == 0 && e.right == 0;
            return Ok((!nothing).then_some(Edit::Extend(e)));
        }
        "trim" => {
            let mut t = Trim {
                threshold: 10.0,
                background: TrimBackground::TopLeft,
            };
            match Arg::<TrimOptions>::of(value) {
                Bool(false) => return Ok(None),
                Bool(true) => {}
                Number(_) => t.threshold = TRIM_THRESHOLD.check(name, value)?,
                Object(o) => {
                    if let Some(v) = o.threshold {
                        t.threshold = TRIM_THRESHOLD.check(&at("threshold"), &v)?;
                    }
                    if let Some(v) = o.background {
                        t.background = TrimBackground::Color(color(&at("background"), &v)?);
                    }
                    if let Some(v) = o.line_art
                        && flag(&at("lineArt"), &v)?
                    {
                        return Err(Error::UnsupportedEdit(at("lineArt")));
                    }
                }
                _ => {
                    return refuse(
                        "is not a trim: use true, a threshold or {\"threshold\", \"background\"}",
                    );
                }
            }
            Edit::Trim(t)
        }
        "blur" => match Arg::<Sigma>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) | Object(Sigma { sigma: None }) => Edit::Blur(1.0),
            Number(_) => Edit::blur(name, value)?,
            Object(Sigma { sigma: Some(v) }) => Edit::blur(&at("sigma"), &v)?,
            _ => {
                return refuse(&format!(
                    "is not a blur: use true or a sigma from {}",
                    span(BLUR_SIGMA)
                ));
            }
        },
        "sharpen" => match Arg::<Sigma>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) => Edit::Sharpen(None),
            Number(_) => Edit::sharpen(name, value)?,
            Object(o) => {
                let hint = format!(": use a sigma from {}", span(SHARPEN_SIGMA));
                Edit::sharpen(&at("sigma"), &required(&at("sigma"), o.sigma, &hint)?)?
            }
            _ => {
                return refuse(&format!(
                    "is not a sharpen: use true or a sigma from {}",
                    span(SHARPEN_SIGMA)
                ));
            }
        },
        "flatten" => match Arg::<Background>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) => Edit::Flatten(BLACK),
            Object(o) => Edit::Flatten(background(o.background.as_ref())?),
            _ => return not_an_object(),
        },
        "tint" => Edit::Tint(color(name, value)?),
        "negate" => match Arg::<Alpha>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) | Object(Alpha { alpha: None }) => Edit::Negate { alpha: true },
            Object(Alpha { alpha: Some(v) }) => Edit::Negate {
                alpha: flag(&at("alpha"), &v)?,
            },
            _ => return not_an_object(),
        },
        "linear" => match Arg::<LinearOptions>::of(value) {
            Number(_) => Edit::linear((name, value), (name, &Value::from(0)))?,
            List(ab) if ab.len() == 2 => {
                Edit::linear(("linear[0]", &ab[0]), ("linear[1]", &ab[1]))?
            }
            Object(o) => Edit::linear((&at("a"), &or(o.a, 1.0)), (&at("b"), &or(o.b, 0.0)))?,
            _ => return refuse("is not a linear transform: use a, [a, b] or {\"a\", \"b\"}"),
        },
        "convolve" => match Arg::of(value) {
            Object(o) => Edit::Convolve(convolve(o)?),
            _ => return not_an_object(),
        },
        "modulate" => match Arg::<ModulateOptions>::of(value) {
            Bool(false) => return Ok(None),
            Object(o) => Edit::modulate(
                (&at("brightness"), &or(o.brightness, 1.0)),
                (&at("saturation"), &or(o.saturation, 1.0)),
                (&at("hue"), &or(o.hue, 0.0)),
                (&at("lightness"), &or(o.lightness, 0.0)),
            )?,
            _ => return not_an_object(),
        },
        "median" => match value {
            Value::Bool(false) => return Ok(None),
            Value::Bool(true) => Edit::Median(3),
            _ => Edit::median(name, value)?,
        },
        "gamma" => match Arg::<GammaOptions>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) => Edit::Gamma(DEFAULT_GAMMA, DEFAULT_GAMMA),
            List(pair) if pair.len() == 2 => {
                Edit::gamma("gamma[0]", &pair[0], "gamma[1]", &pair[1])?
            }
            Object(o) => {
                let gamma = or(o.gamma, DEFAULT_GAMMA);
                let out = o.gamma_out.unwrap_or_else(|| gamma.clone());
                Edit::gamma(&at("gamma"), &gamma, &at("gammaOut"), &out)?
            }
            _ => Edit::gamma(name, value, name, value)?,
        },
        "threshold" => match Arg::<ThresholdOptions>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) => Edit::Threshold {
                value: 128,
                grayscale: true,
            },
            Object(o) => {
                let level = or(o.threshold, 128.0);
                THRESHOLD.check_whole(&at("threshold"), &level)?;
                let grayscale = o
                    .grayscale
                    .map_or(Ok(true), |v| flag(&at("grayscale"), &v))?;
                Edit::threshold(&at("threshold"), &level, grayscale)?
            }
            _ => Edit::threshold(name, value, true)?,
        },
        "clahe" => match Arg::<ClaheOptions>::of(value) {
            Bool(false) => return Ok(None),
            Object(o) => {
                // the width is checked before the height is looked for
                let size = |field: Field, side: &str| -> Result<Value> {
                    let hint = format!(": use a whole number from {}", span(CLAHE_SIZE));
                    let v = required(&at(side), field, &hint)?;
                    CLAHE_SIZE.check_whole(&at(side), &v).map(|_| v)
                };
                let (width, height) = (size(o.width, "width")?, size(o.height, "height")?);
                Edit::clahe(
                    (&at("width"), &width),
                    (&at("height"), &height),
                    (&at("maxSlope"), &or(o.max_slope, 3.0)),
                )?
            }
            _ => return not_an_object(),
        },
        "ensureAlpha" => match value {
            Value::Bool(false) => return Ok(None),
            Value::Bool(true) => Edit::EnsureAlpha(1.0),
            _ => Edit::ensure_alpha(name, value)?,
        },
        "roundCrop" => match Arg::<RoundCropOptions>::of(value) {
            Bool(true) => Edit::RoundCrop(RoundCrop::Ellipse {
                rx: None,
                ry: None,
                left: None,
                top: None,
            }),
            Object(o) => {
                // SIH: a missing, falsy or non-positive value falls back to its default.
                let get = |field: Field, key: &str| -> Result<Option<u32>> {
                    let n = field.map(|v| pixels(&at(key), &v)).transpose()?;
                    Ok(n.filter(|n| *n > 0))
                };
                let (rx, ry) = (get(o.rx, "rx")?, get(o.ry, "ry")?);
                let (left, top) = (get(o.left, "left")?, get(o.top, "top")?);
                Edit::RoundCrop(RoundCrop::Ellipse { rx, ry, left, top })
            }
            _ => return not_an_object(),
        },
        "smartCrop" => match Arg::<SmartCropOptions>::of(value) {
            Bool(true) => Edit::SmartCrop { padding: 0 },
            Object(o) => {
                // faceIndex is accepted and ignored: there is no face detection (docs/url-api.md).
                if let Some(v) = o.face_index {
                    FACE_INDEX.check_whole(&at("faceIndex"), &v)?;
                }
                Edit::smart_crop(&at("padding"), &or(o.padding, 0.0))?
            }
            _ => return not_an_object(),
        },
        "overlayWith" => match Arg::of(value) {
            Object(o) => Edit::Overlay(overlay(o, rules)?),
            _ => return not_an_object(),
        },
        "animated" => {
            formats.still = !flag(name, value)?;
            return Ok(None);
        }
        "stripExif" => {
            formats.strip_exif = flag(name, value)?;
            return Ok(None);
        }
        "stripIcc" => {
            formats.strip_icc = flag(name, value)?;
            return Ok(None);
        }
        "toFormat" => {
            formats.to_format = Some(format_name(name, value)?);
            return Ok(None);
        }
        "heif" => {
            let why = "heif output is not supported: use avif, webp, jpeg, png, gif or tiff";
            return Err(Error::param(name, why));
        }
        _ => return Ok(None),
    }))
}

/// `resize`'s options; `None` when it gives neither width nor height.
fn resize(o: ResizeOptions, rules: &Rules) -> Result<Option<Resize>> {
    let without_enlargement = (o.without_enlargement.as_ref())
        .map_or(Ok(false), |v| flag("resize.withoutEnlargement", v))?;
    let (max_w, max_h) = Resize::box_limits(without_enlargement, &rules.limits);
    let width = o
        .width
        .map(|v| dimension("resize.width", &v, max_w))
        .transpose()?;
    let height = o
        .height
        .map(|v| dimension("resize.height", &v, max_h))
        .transpose()?;
    let fit = match &o.fit {
        None => Fit::default(),
        Some(v) => (v.as_str())
            .and_then(|s| Fit::parse("resize.fit", s).ok())
            .ok_or_else(|| invalid("resize.fit", v, FITS))?,
    };
    let position = o
        .position
        .as_ref()
        .map_or(Ok(Position::default()), position)?;
    let background = o
        .background
        .map(|v| color("resize.background", &v))
        .transpose()?;
    if width.is_none() && height.is_none() {
        return Ok(None);
    }
    Ok(Some(Resize {
        width,
        height,
        fit,
        position,
        background,
        without_enlargement,
        adaptive: false,
    }))
}

/// A resize width or height as SIH reads it: `Math.round(Number(x))`, so
/// numeric strings count; `<= 0` is SIH's `InvalidResizeException`.
fn dimension(param: &str, value: &Value, max: u32) -> Result<u32> {
    let Some(n) = number_like(value).map(f64::round) else {
        let what = format!("is not a number of pixels: use a whole number from 1 to {max}");
        return Err(invalid(param, value, &what));
    };
    if n <= 0.0 {
        return Err(Error::InvalidResize);
    }
    if n > f64::from(max) {
        return Err(invalid(
            param,
            value,
            &format!("is above the maximum of {max}"),
        ));
    }
    Ok(n as u32)
}

/// sharp's `position` (`resize.position`): a gravity, position or strategy
/// name, or sharp's number for it.
fn position(value: &Value) -> Result<Position> {
    use Position::*;
    const PARAM: &str = "resize.position";
    // sharp's `gravity` numbers 0 to 8, then its `strategy` numbers
    const GRAVITY: [Position; 9] = [
        Centre, North, East, South, West, NorthEast, SouthEast, SouthWest, NorthWest,
    ];
    let found = match value {
        Value::String(s) => Position::parse(PARAM, s).ok(),
        Value::Number(n) => match n.as_u64() {
            Some(g @ 0..=8) => Some(GRAVITY[g as usize]),
            Some(16) => Some(Entropy),
            Some(17) => Some(Attention),
            _ => None,
        },
        _ => None,
    };
    found.ok_or_else(|| invalid(PARAM, value, POSITIONS))
}

/// `convolve`'s options: `{width, height, kernel, scale, offset}`.
fn convolve(o: KernelOptions) -> Result<Kernel> {
    let side = |field: Field, side: &str| {
        let param = format!("convolve.{side}");
        kernel_side(&param, &required(&param, field, "")?)
    };
    let (width, height) = (side(o.width, "width")?, side(o.height, "height")?);
    let cells = width as usize * height as usize;
    let weights = match o.kernel {
        Some(Value::Array(items)) if items.len() == cells => (items.iter().enumerate())
            .map(|(i, v)| COEFFICIENT.check(&format!("convolve.kernel[{i}]"), v))
            .collect::<Result<Vec<f64>>>()?,
        Some(Value::Array(items)) => {
            let n = items.len();
            let msg =
                format!("convolve.kernel has {n} weights: a {width}x{height} kernel needs {cells}");
            return Err(Error::param("convolve.kernel", msg));
        }
        other => {
            let shown = other.as_ref().map_or_else(|| "(missing)".to_string(), show);
            let msg = format!("convolve.kernel={shown} is not an array of {cells} numbers");
            return Err(Error::param("convolve.kernel", msg));
        }
    };
    let scale = o
        .scale
        .map(|v| COEFFICIENT.check("convolve.scale", &v))
        .transpose()?;
    if scale == Some(0.0) {
        return Err(Error::param(
            "convolve.scale",
            "convolve.scale=0 would divide by zero",
        ));
    }
    let offset = o
        .offset
        .map_or(Ok(0.0), |v| COEFFICIENT.check("convolve.offset", &v))?;
    Ok(Kernel {
        width,
        height,
        weights,
        scale,
        offset,
    })
}

/// `overlayWith`'s options: `{bucket, key, alpha, wRatio, hRatio, options:
/// {left, top}}`, with SIH's rules: an `alpha` outside 0 to 100 is opaque,
/// ratios other than whole numbers 0 to 100 are ignored, `left`/`top` are
/// pixels (negative from the far edge) or `Np` percentages.
fn overlay(o: OverlayOptions, rules: &Rules) -> Result<Overlay> {
    let bucket = match o.bucket {
        None => None,
        Some(Value::String(b)) => {
            rules.check_bucket(&b)?;
            Some(b)
        }
        Some(other) => {
            return Err(invalid(
                "overlayWith.bucket",
                &other,
                "is not a bucket name",
            ));
        }
    };
    let key = match o.key {
        Some(Value::String(k)) if !k.is_empty() && !k.contains('\0') => k,
        other => {
            let shown = other.as_ref().map_or_else(|| "missing".to_string(), show);
            let msg = format!("overlayWith.key={shown} is not an image key");
            return Err(Error::param("overlayWith.key", msg));
        }
    };
    let text = |v: Value| match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let ratio = |field: Field| -> Option<u8> {
        let r = field.and_then(text)?.trim().parse::<u8>().ok();
        r.filter(|r| PERCENT.contains(f64::from(*r)))
    };
    let offsets = match o.options.as_ref().map(Arg::<OffsetOptions>::of) {
        Some(Arg::Object(offsets)) => offsets,
        _ => OffsetOptions {
            left: None,
            top: None,
        },
    };
    let offset = |field: Field, key: &str| match field.and_then(text) {
        Some(v) => Offset::parse(&format!("overlayWith.options.{key}"), &v),
        None => Ok(Offset::Pixels(0)),
    };
    Ok(Overlay {
        source: Source { bucket, key },
        left: offset(offsets.left, "left")?,
        top: offset(offsets.top, "top")?,
        alpha: (o.alpha.as_ref().and_then(number_like))
            .filter(|a| PERCENT.contains(*a))
            .map_or(0, |a| a as u8),
        width_ratio: ratio(o.w_ratio),
        height_ratio: ratio(o.h_ratio),
    })
}

/// The format sharp's method `name` (`jpeg()`, `webp()`, ...) encodes to.
fn format_method(name: &str) -> Option<OutputFormat> {
    let format = OutputFormat::parse_name(name, name, FormatNames::SHARP).ok()??;
    (format.name() == name).then_some(format)
}

/// A format object (`{"webp": {"quality": 80, "lossless": false}}`): selects
/// that format as sharp's `webp()` does, with its quality and lossless options.
fn format_object(
    format: OutputFormat,
    name: &str,
    value: &Value,
    formats: &mut Formats,
) -> Result<()> {
    let options = match Arg::of(value) {
        Arg::Null | Arg::Bool(false) => return Ok(()),
        Arg::Bool(true) => EncodeOptions {
            quality: None,
            lossless: None,
            near_lossless: None,
            progressive: None,
        },
        Arg::Object(options) => options,
        _ => return Err(object_wanted(name, value)),
    };
    let quality = (options.quality)
        .map(|v| quality(&format!("{name}.quality"), &v))
        .transpose()?;
    let option =
        |field: Field, key: &str| field.map_or(Ok(false), |v| flag(&format!("{name}.{key}"), &v));
    let lossless = option(options.lossless, "lossless")?;
    let near_lossless = option(options.near_lossless, "nearLossless")?;
    let progressive = option(options.progressive, "progressive")?;
    formats.last_object = Some(format);
    formats.options.retain(|o| o.format != format);
    formats.options.push(FormatOptions {
        format,
        quality,
        lossless: lossless && matches!(format, OutputFormat::Webp | OutputFormat::Avif),
        near_lossless: near_lossless && format == OutputFormat::Webp,
        progressive: progressive && matches!(format, OutputFormat::Jpeg | OutputFormat::Png),
    });
    Ok(())
}

/// An output format name as sharp's `toFormat` takes it (no `auto`, `heif` or `raw`).
fn format_name(param: &str, value: &Value) -> Result<OutputFormat> {
    let names = FormatNames::SHARP;
    (value.as_str())
        .and_then(|s| OutputFormat::parse_name(param, s, names).ok().flatten())
        .ok_or_else(|| names.error(param, show(value)))
}

/// A boolean edit or option; `null` is `false`; the strings `"true"` and
/// `"false"` count as their booleans, any other string is refused.
fn flag(param: &str, value: &Value) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        // SIH hands these to sharp, which takes the strings too (issue 20)
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(invalid(param, other, "is not a boolean: use true or false")),
    }
}

/// A colour as sharp takes it: a CSS string (`#rrggbb[aa]`, `#rgb`, a basic
/// name, `rgb(r, g, b)`, `rgba(r, g, b, a)`) or `{r, g, b, alpha}` with
/// channels 0 to 255 and alpha 0 to 1.
fn color(param: &str, value: &Value) -> Result<Color> {
    let bad = || invalid(param, value, COLOURS);
    let rgba = |r: f64, g: f64, b: f64, alpha: f64| Color {
        r: r.round() as u8,
        g: g.round() as u8,
        b: b.round() as u8,
        a: (alpha * 255.0).round() as u8,
    };
    match value {
        Value::String(s) => {
            let lower = s.trim().to_ascii_lowercase();
            let args = (lower
                .strip_prefix("rgba(")
                .or_else(|| lower.strip_prefix("rgb(")))
            .and_then(|rest| rest.strip_suffix(')'));
            let Some(args) = args else {
                return Color::parse(param, s).map_err(|_| bad());
            };
            let parts: Vec<&str> = args.split(',').map(str::trim).collect();
            let num = |i: usize| parts.get(i).and_then(|p| numeric_str(p));
            let channel = |i: usize| num(i).filter(|c| CHANNEL.contains(*c));
            let alpha = match parts.len() {
                3 => Some(1.0),
                4 => num(3).filter(|a| OPACITY.contains(*a)),
                _ => None,
            };
            match (channel(0), channel(1), channel(2), alpha) {
                (Some(r), Some(g), Some(b), Some(a)) => Ok(rgba(r, g, b, a)),
                _ => Err(bad()),
            }
        }
        Value::Object(object) => {
            let get = |name: &str| object.get(name).filter(|v| !v.is_null());
            let channel = |name: &str| match get(name) {
                Some(v) => CHANNEL.check(&format!("{param}.{name}"), v),
                None => Err(bad()),
            };
            let alpha =
                get("alpha").map_or(Ok(1.0), |v| OPACITY.check(&format!("{param}.alpha"), v))?;
            Ok(rgba(channel("r")?, channel("g")?, channel("b")?, alpha))
        }
        _ => Err(bad()),
    }
}

/// A required option, or a 400 saying it is missing (and `hint`).
fn required(param: &str, field: Field, hint: &str) -> Result<Value> {
    field.ok_or_else(|| Error::param(param, format!("{param} is missing{hint}")))
}

/// A JSON number, or a string holding a decimal number (JavaScript's
/// `Number(x)` for the forms people write); finite only.
fn number_like(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
        Value::String(s) => numeric_str(s),
        _ => None,
    }
}

/// A decimal number in a string (`"99.1"`, `" 1e2 "`); not `inf`, `NaN` or hex.
fn numeric_str(s: &str) -> Option<f64> {
    let t = s.trim();
    let decimal = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if !decimal {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A JSON value as the validated constructors read it: only JSON numbers are
/// numbers (`10.0` is whole), shown as JSON.
impl NumberArg for &Value {
    fn number(&self) -> Option<f64> {
        self.as_f64().filter(|v| v.is_finite())
    }
    fn whole(&self) -> Option<u64> {
        let n = self.number().filter(|v| v.fract() == 0.0 && *v >= 0.0);
        n.map(|v| v as u64)
    }
    fn shown(&self) -> String {
        show(self)
    }
}

/// `min to max`, for messages.
fn span(range: Range) -> String {
    format!("{} to {}", range.min, range.max)
}

/// The 400 for a value of `param` that is not what it should be (`what`).
fn invalid(param: &str, value: &Value, what: &str) -> Error {
    Error::param(param, format!("{param}={} {what}", show(value)))
}

fn object_wanted(param: &str, value: &Value) -> Error {
    invalid(param, value, "is not valid here: use an object")
}

/// A value as JSON, cut short so that hostile input cannot make a huge message.
fn show(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests;
