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
//! Each value is then checked by the validated constructors of
//! [`super::edit`], in a fixed order, under its path (`resize.width`).
//! Conventions: a JSON `null` means the same as an absent field; numbers
//! must be finite JSON numbers unless a field says numeric strings are taken
//! too; every bad value is a 400 whose message names the field by its path.
//! The response headers a request may ask for are filtered by [`header_allowed`].

use base64::Engine;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};

use super::edit::{
    BLUR_SIGMA, CHANNEL, CLAHE_SIZE, COEFFICIENT, DEFAULT_GAMMA, ENSURE_ALPHA, PERCENT,
    SHARPEN_SIGMA, THRESHOLD, TRIM_THRESHOLD, kernel_side, pixels, quality,
};
use super::{
    Color, Edit, Extend, Fit, FormatNames, ImageRequest, Kernel, Metadata, Modulate, NumberArg,
    Offset, Output, OutputFormat, Overlay, Position, Range, Region, Resize, Rotation, RoundCrop,
    Rules, Source, Stage, Trim, TrimBackground,
};
use crate::error::{Error, Result};

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
    a: 255,
    ..Color::TRANSPARENT
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
    Number(f64),
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

/// Declares the options objects: one struct of [`Field`]s per edit (or
/// edits sharing options), each named as sharp names it (camelCase), and the
/// top-level `Request`. Options not listed are ignored.
macro_rules! options {
    ($($name:ident { $($field:ident),* })*) => {$(
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct $name { $($field: Field),* }
    )*};
}

options! {
    NoOptions {}
    Request { bucket, key, edits, output_format, effort, metadata, headers }
    ResizeOptions { width, height, fit, position, background, without_enlargement }
    ExtractOptions { left, top, width, height }
    ExtendOptions { top, bottom, left, right, background, extend_with }
    TrimOptions { threshold, background, line_art }
    SigmaOptions { sigma }
    FlattenOptions { background }
    NegateOptions { alpha }
    LinearOptions { a, b }
    ConvolveOptions { width, height, kernel, scale, offset }
    ModulateOptions { brightness, saturation, hue, lightness }
    GammaOptions { gamma, gamma_out }
    ThresholdOptions { threshold, grayscale }
    ClaheOptions { width, height, max_slope }
    RoundCropOptions { rx, ry, left, top }
    SmartCropOptions { face_index, padding }
    OverlayOptions { bucket, key, alpha, w_ratio, h_ratio, options }
    OffsetOptions { left, top }
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
    let bytes = raw.as_bytes();
    let pad = bytes.iter().rev().take_while(|b| **b == b'=').count();
    let sih_base64 = !bytes.is_empty()
        && bytes.len().is_multiple_of(4)
        && pad <= 2
        && (bytes[..bytes.len() - pad].iter())
            .all(|b| b.is_ascii_alphanumeric() || b"+/".contains(b));
    if !sih_base64 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    serde_json::from_slice(&bytes).ok()
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
    let request = Request::deserialize(json).map_err(|e| Error::DecodeRequest(e.to_string()))?;
    let bucket = top("bucket", &request.bucket, Value::as_str)?;
    if let Some(bucket) = bucket {
        rules.check_bucket(bucket)?;
    }
    let key = top("key", &request.key, Value::as_str)?
        .filter(|k| !k.is_empty())
        .ok_or(Error::MissingKey)?;
    if key.contains('\0') {
        let key = key.to_string();
        return Err(Error::InvalidKey {
            key,
            reason: "it contains a NUL byte",
        });
    }
    let mut out = Formats::default();
    let edits = top("edits", &request.edits, Value::as_object)?;
    let edits = edits.map_or(Ok(Vec::new()), |edits| parse_edits(edits, rules, &mut out))?;
    let output_format = read(&request.output_format, "outputFormat", format_name)?;
    let headers = top("headers", &request.headers, Value::as_object)?;
    let metadata = (top("metadata", &request.metadata, Value::as_str)?)
        .map_or(Ok(Metadata::default()), |v| Metadata::parse("metadata", v))?;

    // SIH: toFormat is forced; outputFormat (or a format object, as sharp
    // selects it) only applies when automatic WebP does not.
    let format = out.to_format;
    let preferred = output_format.or(out.last_object);
    let chosen = format.or(preferred);
    let encoder = out.options.into_iter().find(|(f, _)| Some(*f) == chosen);
    Ok(ImageRequest {
        source: Source {
            bucket: bucket.map(str::to_string),
            key: key.to_string(),
        },
        edits,
        output: Output {
            format,
            preferred,
            effort: request.effort.as_ref().map(webp_effort),
            still: out.still,
            // SIH 8.0.3's stripExif and stripIcc apply after the mode.
            metadata: metadata.stripped(out.strip_exif, out.strip_icc),
            // the chosen format's encoder options, from its format object
            ..encoder.map(|(_, o)| o).unwrap_or_default()
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
    read(value, name, |_, v| {
        get(v)
            .ok_or_else(|| Error::DecodeRequest(format!("{name} must be {want}, not {}", show(v))))
    })
}

/// SIH's WebP effort: the number truncated toward zero if that is 0 to 6,
/// else 4 (sharp's default). Like SIH's `Math.trunc`, numeric strings count.
fn webp_effort(value: &Value) -> u8 {
    match number_like(value).map(f64::trunc) {
        Some(e) if (0.0..=6.0).contains(&e) => e as u8,
        _ => 4,
    }
}

/// What the output edits (`toFormat`, `jpeg`, `webp`, ..., `animated`,
/// `stripExif`, `stripIcc`) asked for.
#[derive(Default)]
struct Formats {
    /// `toFormat`.
    to_format: Option<OutputFormat>,
    /// The last format object, which sharp would encode to.
    last_object: Option<OutputFormat>,
    /// The encoder options of each format object (quality, lossless,
    /// near-lossless, progressive), in key order.
    options: Vec<(OutputFormat, Output)>,
    /// `animated: false`: only the first frame (SIH's override of sharp's `animated`).
    still: bool,
    /// `stripExif: true` (SIH 8.0.3).
    strip_exif: bool,
    /// `stripIcc: true` (SIH 8.0.3).
    strip_icc: bool,
}

impl Formats {
    /// Takes the output edit `name`; `false` if it is not one.
    fn take(&mut self, name: &str, value: &Value) -> Result<bool> {
        match name {
            "animated" => self.still = !flag(name, value)?,
            "stripExif" => self.strip_exif = flag(name, value)?,
            "stripIcc" => self.strip_icc = flag(name, value)?,
            "toFormat" => self.to_format = Some(format_name(name, value)?),
            _ => {
                // a format object (`{"webp": {"quality": 80}}`) selects its
                // format as sharp's `webp()` does, with the options it takes
                let Some(format) = OutputFormat::parse_name(name, name, FormatNames::SHARP)
                    .ok()
                    .flatten()
                    .filter(|f| f.name() == name)
                else {
                    return Ok(false);
                };
                let o = match Arg::<EncodeOptions>::of(value) {
                    Arg::Bool(false) => return Ok(true),
                    Arg::Bool(true) => EncodeOptions::default(),
                    Arg::Object(o) => o,
                    _ => return Err(object_wanted(name, value)),
                };
                let at = |key: &str| format!("{name}.{key}");
                let option = |field: &Field, key: &str, formats: &[OutputFormat]| {
                    let on = read(field, &at(key), flag)?.unwrap_or(false);
                    Ok::<_, Error>(on && formats.contains(&format))
                };
                use OutputFormat::{Avif, Jpeg, Png, Webp};
                let options = Output {
                    quality: read(&o.quality, &at("quality"), quality)?,
                    lossless: option(&o.lossless, "lossless", &[Webp, Avif])?,
                    near_lossless: option(&o.near_lossless, "nearLossless", &[Webp])?,
                    progressive: option(&o.progressive, "progressive", &[Jpeg, Png])?,
                    ..Output::default()
                };
                self.last_object = Some(format);
                self.options.retain(|(f, _)| *f != format);
                self.options.push((format, options));
            }
        }
        Ok(true)
    }
}

/// Maps the `edits` object into sharp's order (see the module docs).
fn parse_edits(edits: &Object, rules: &Rules, formats: &mut Formats) -> Result<Vec<Edit>> {
    let mut out = Vec::new();
    for (name, value) in edits {
        let name = name.as_str();
        let off = matches!(value, Value::Null | Value::Bool(false));
        // SIH's custom edits do nothing when `false` or `null`.
        if off && CUSTOM_EDITS.contains(&name) {
            continue;
        }
        if UNSUPPORTED_EDITS.contains(&name) {
            return Err(Error::UnsupportedEdit(name.to_string()));
        }
        if value.is_null() && name != "heif" || formats.take(name, value)? {
            continue;
        }
        out.extend(edit(name, value, rules)?);
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
fn edit(name: &str, value: &Value, rules: &Rules) -> Result<Option<Edit>> {
    use Arg::{Bool, List, Number, Object};
    let at = |field: &str| format!("{name}.{field}");
    let or = |field: Field, default: f64| field.unwrap_or_else(|| Value::from(default));
    let refuse = |what: &str| Err(invalid(name, value, what));
    let sigma = |range| format!("is not a {name}: use true or a sigma from {}", span(range));
    let not_an_object = || Err(object_wanted(name, value));
    let background = |field: &Field| Ok(read(field, &at("background"), color)?.unwrap_or(BLACK));
    let flagged = |edit: Edit| Ok(flag(name, value)?.then_some(edit));
    let (max_w, max_h) = (rules.limits.max_width, rules.limits.max_height);
    Ok(Some(match name {
        "resize" => match Arg::of(value) {
            Number(_) => {
                let width = Some(dimension(name, value, max_w)?);
                Edit::Resize(Resize {
                    width,
                    ..Resize::default()
                })
            }
            Object(o) => return Ok(resize(o, rules)?.map(Edit::Resize)),
            _ => return not_an_object(),
        },
        "rotate" => match Arg::<NoOptions>::of(value) {
            Number(degrees) => return Ok(Rotation::from_degrees(name, degrees)?.map(Edit::Rotate)),
            _ => return refuse("is not an angle: use a number of degrees"),
        },
        "flip" => return flagged(Edit::Flip),
        "flop" => return flagged(Edit::Flop),
        "grayscale" | "greyscale" => return flagged(Edit::Grayscale),
        "normalize" | "normalise" => return flagged(Edit::Normalize),
        "removeAlpha" => return flagged(Edit::RemoveAlpha),
        "extract" | "crop" => match Arg::<ExtractOptions>::of(value) {
            Object(o) => {
                let side = |field: Field, side: &str, min: f64| {
                    let hint = format!(": {name} needs left, top, width and height");
                    let v = required(&at(side), field, &hint)?;
                    Range::new(min, f64::from(u32::MAX)).check_whole(&at(side), &v)
                };
                let (left, top) = (side(o.left, "left", 0.0)?, side(o.top, "top", 0.0)?);
                let (width, height) =
                    (side(o.width, "width", 1.0)?, side(o.height, "height", 1.0)?);
                Edit::Extract(Region {
                    left,
                    top,
                    width,
                    height,
                })
            }
            _ => return not_an_object(),
        },
        "extend" => {
            let side = |field: &Field, side: &str, max: u32| {
                let range = Range::new(0.0, f64::from(max));
                Ok(read(field, &at(side), |p, v| range.check_whole(p, v))?.unwrap_or(0))
            };
            let e = match Arg::<ExtendOptions>::of(value) {
                Number(_) => {
                    let n =
                        Range::new(0.0, f64::from(max_w.min(max_h))).check_whole(name, value)?;
                    let background = Some(BLACK);
                    Extend {
                        top: n,
                        bottom: n,
                        left: n,
                        right: n,
                        background,
                    }
                }
                Object(o) => {
                    if let Some(with) = o.extend_with.filter(|w| w != "background") {
                        let what = format!("extend.extendWith={}", show(&with));
                        return Err(Error::UnsupportedEdit(what));
                    }
                    Extend {
                        top: side(&o.top, "top", max_h)?,
                        bottom: side(&o.bottom, "bottom", max_h)?,
                        left: side(&o.left, "left", max_w)?,
                        right: side(&o.right, "right", max_w)?,
                        background: Some(background(&o.background)?),
                    }
                }
                _ => return not_an_object(),
            };
            let nothing = e.top == 0 && e.bottom == 0 && e.left == 0 && e.right == 0;
            return Ok((!nothing).then_some(Edit::Extend(e)));
        }
        "trim" => {
            let o = match Arg::<TrimOptions>::of(value) {
                Bool(false) => return Ok(None),
                Bool(true) => TrimOptions::default(),
                Number(_) => TrimOptions {
                    threshold: Some(value.clone()),
                    ..Default::default()
                },
                Object(o) => o,
                _ => {
                    return refuse(
                        "is not a trim: use true, a threshold or {\"threshold\", \"background\"}",
                    );
                }
            };
            // a bare threshold is named by the edit itself
            let param = if value.is_number() {
                name.to_string()
            } else {
                at("threshold")
            };
            let threshold = read(&o.threshold, &param, |p, v| TRIM_THRESHOLD.check(p, v))?;
            let background = read(&o.background, &at("background"), color)?;
            if read(&o.line_art, &at("lineArt"), flag)? == Some(true) {
                return Err(Error::UnsupportedEdit(at("lineArt")));
            }
            Edit::Trim(Trim {
                threshold: threshold.unwrap_or(10.0),
                background: background.map_or(TrimBackground::TopLeft, TrimBackground::Color),
            })
        }
        "blur" => match Arg::<SigmaOptions>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) | Object(SigmaOptions { sigma: None }) => Edit::Blur(1.0),
            Number(_) => Edit::blur(name, value)?,
            Object(SigmaOptions { sigma: Some(v) }) => Edit::blur(&at("sigma"), &v)?,
            _ => return refuse(&sigma(BLUR_SIGMA)),
        },
        "sharpen" => match Arg::<SigmaOptions>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) => Edit::Sharpen(None),
            Number(_) => Edit::sharpen(name, value)?,
            Object(o) => {
                let hint = format!(": use a sigma from {}", span(SHARPEN_SIGMA));
                Edit::sharpen(&at("sigma"), &required(&at("sigma"), o.sigma, &hint)?)?
            }
            _ => return refuse(&sigma(SHARPEN_SIGMA)),
        },
        "flatten" => match Arg::<FlattenOptions>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) => Edit::Flatten(BLACK),
            Object(o) => Edit::Flatten(background(&o.background)?),
            _ => return not_an_object(),
        },
        "tint" => Edit::Tint(color(name, value)?),
        "negate" => match Arg::<NegateOptions>::of(value) {
            Bool(false) => return Ok(None),
            Bool(true) => Edit::Negate { alpha: true },
            Object(o) => Edit::Negate {
                alpha: read(&o.alpha, &at("alpha"), flag)?.unwrap_or(true),
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
            Object(o) => {
                let d = Modulate::default();
                Edit::modulate(
                    (&at("brightness"), &or(o.brightness, d.brightness)),
                    (&at("saturation"), &or(o.saturation, d.saturation)),
                    (&at("hue"), &or(o.hue, d.hue)),
                    (&at("lightness"), &or(o.lightness, d.lightness)),
                )?
            }
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
            Bool(true) => Edit::threshold(name, 128_u32, true)?,
            Object(o) => {
                let level = or(o.threshold, 128.0);
                THRESHOLD.check_whole(&at("threshold"), &level)?;
                let grayscale = read(&o.grayscale, &at("grayscale"), flag)?.unwrap_or(true);
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
                let slope = or(o.max_slope, 3.0);
                Edit::clahe(
                    (&at("width"), &width),
                    (&at("height"), &height),
                    (&at("maxSlope"), &slope),
                )?
            }
            _ => return not_an_object(),
        },
        "ensureAlpha" => match value {
            Value::Bool(false) => return Ok(None),
            Value::Bool(true) => Edit::EnsureAlpha(1.0),
            _ => Edit::ensure_alpha(name, value)?,
        },
        "roundCrop" => {
            let o = match Arg::<RoundCropOptions>::of(value) {
                Bool(true) => RoundCropOptions::default(),
                Object(o) => o,
                _ => return not_an_object(),
            };
            // SIH: a missing, falsy or non-positive value falls back to its default.
            let get = |field: &Field, key: &str| -> Result<Option<u32>> {
                Ok(read(field, &at(key), pixels)?.filter(|n| *n > 0))
            };
            let (rx, ry) = (get(&o.rx, "rx")?, get(&o.ry, "ry")?);
            let (left, top) = (get(&o.left, "left")?, get(&o.top, "top")?);
            Edit::RoundCrop(RoundCrop::Ellipse { rx, ry, left, top })
        }
        "smartCrop" => match Arg::<SmartCropOptions>::of(value) {
            Bool(true) => Edit::SmartCrop { padding: 0 },
            Object(o) => {
                // faceIndex is accepted and ignored: there is no face detection (docs/url-api.md).
                read(&o.face_index, &at("faceIndex"), |p, v| {
                    FACE_INDEX.check_whole(p, v)
                })?;
                Edit::smart_crop(&at("padding"), &or(o.padding, 0.0))?
            }
            _ => return not_an_object(),
        },
        "overlayWith" => match Arg::of(value) {
            Object(o) => Edit::Overlay(overlay(o, rules)?),
            _ => return not_an_object(),
        },
        "heif" => {
            let why = "heif output is not supported: use avif, webp, jpeg, png, gif or tiff";
            return Err(Error::param(name, why));
        }
        _ => return Ok(None),
    }))
}

/// `resize`'s options; `None` when it gives neither width nor height.
fn resize(o: ResizeOptions, rules: &Rules) -> Result<Option<Resize>> {
    let without_enlargement =
        read(&o.without_enlargement, "resize.withoutEnlargement", flag)?.unwrap_or(false);
    let (max_w, max_h) = Resize::box_limits(without_enlargement, &rules.limits);
    let width = read(&o.width, "resize.width", |p, v| dimension(p, v, max_w))?;
    let height = read(&o.height, "resize.height", |p, v| dimension(p, v, max_h))?;
    let fit = read(&o.fit, "resize.fit", |p, v| name_of(p, v, Fit::parse, FITS))?;
    let position = read(&o.position, "resize.position", position)?;
    let background = read(&o.background, "resize.background", color)?;
    if width.is_none() && height.is_none() {
        return Ok(None);
    }
    Ok(Some(Resize {
        width,
        height,
        fit: fit.unwrap_or_default(),
        position: position.unwrap_or_default(),
        background,
        without_enlargement,
        adaptive: false,
    }))
}

/// A resize width or height as SIH reads it: `Math.round(Number(x))`, so
/// numeric strings count; `<= 0` is SIH's `InvalidResizeException`.
fn dimension(param: &str, value: &Value, max: u32) -> Result<u32> {
    match number_like(value).map(f64::round) {
        None => {
            let what = format!("is not a number of pixels: use a whole number from 1 to {max}");
            Err(invalid(param, value, &what))
        }
        Some(n) if n <= 0.0 => Err(Error::InvalidResize),
        Some(n) if n > f64::from(max) => Err(invalid(
            param,
            value,
            &format!("is above the maximum of {max}"),
        )),
        Some(n) => Ok(n as u32),
    }
}

/// sharp's `position` (`resize.position`): a gravity, position or strategy
/// name, or sharp's number for it.
fn position(param: &str, value: &Value) -> Result<Position> {
    use Position::*;
    // sharp's `gravity` numbers 0 to 8, then its `strategy` numbers
    const GRAVITY: [Position; 9] = [
        Centre, North, East, South, West, NorthEast, SouthEast, SouthWest, NorthWest,
    ];
    match value.as_u64() {
        Some(g @ 0..=8) => Ok(GRAVITY[g as usize]),
        Some(16) => Ok(Entropy),
        Some(17) => Ok(Attention),
        _ => name_of(param, value, Position::parse, POSITIONS),
    }
}

/// A string `parse` takes, or a 400 saying that the value `is not` one.
fn name_of<T>(
    param: &str,
    value: &Value,
    parse: fn(&str, &str) -> Result<T>,
    what: &str,
) -> Result<T> {
    (value.as_str())
        .and_then(|s| parse(param, s).ok())
        .ok_or_else(|| invalid(param, value, what))
}

/// `convolve`'s options: `{width, height, kernel, scale, offset}`.
fn convolve(o: ConvolveOptions) -> Result<Kernel> {
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
        other => {
            let msg = match other {
                Some(Value::Array(items)) => format!(
                    "convolve.kernel has {} weights: a {width}x{height} kernel needs {cells}",
                    items.len()
                ),
                other => {
                    let shown = other.as_ref().map_or_else(|| "(missing)".to_string(), show);
                    format!("convolve.kernel={shown} is not an array of {cells} numbers")
                }
            };
            return Err(Error::param("convolve.kernel", msg));
        }
    };
    let coefficient = |p: &str, v: &Value| COEFFICIENT.check(p, v);
    let scale = read(&o.scale, "convolve.scale", coefficient)?;
    if scale == Some(0.0) {
        return Err(Error::param(
            "convolve.scale",
            "convolve.scale=0 would divide by zero",
        ));
    }
    let offset = read(&o.offset, "convolve.offset", coefficient)?.unwrap_or(0.0);
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
    let bucket = read(&o.bucket, "overlayWith.bucket", |p, v| match v.as_str() {
        Some(b) => rules.check_bucket(b).map(|()| b.to_string()),
        None => Err(invalid(p, v, "is not a bucket name")),
    })?;
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
    let offsets = match o.options.as_ref().map(Arg::of) {
        Some(Arg::Object(offsets)) => offsets,
        _ => OffsetOptions::default(),
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
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
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
            let rest = lower
                .strip_prefix("rgba(")
                .or_else(|| lower.strip_prefix("rgb("));
            let Some(args) = rest.and_then(|rest| rest.strip_suffix(')')) else {
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

/// The option `field` read by `read` under the name `param`, if it is given.
fn read<'v, T>(
    field: &'v Field,
    param: &str,
    read: impl FnOnce(&str, &'v Value) -> Result<T>,
) -> Result<Option<T>> {
    field.as_ref().map(|v| read(param, v)).transpose()
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
    t.parse::<f64>().ok().filter(|v| decimal && v.is_finite())
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
