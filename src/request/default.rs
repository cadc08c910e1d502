//! SIH's "default" URL style: `GET /<base64(JSON)>`.
//!
//! The path (without its leading `/`) is standard, padded base64 of a UTF-8
//! JSON object `{"bucket","key","edits","outputFormat","effort","headers"}`,
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
//! Conventions: a JSON `null` means the same as an absent field; numbers must
//! be finite JSON numbers unless a field says numeric strings are taken too;
//! every bad value is a 400 whose message names the field by its path, such as
//! `resize.width`. The response headers a request may ask for are filtered
//! by [`header_allowed`].

use base64::Engine;
use serde_json::{Map, Value};

use super::{
    Color, Edit, Extend, Fit, ImageRequest, Kernel, Modulate, Output, OutputFormat, Position,
    Region, Resize, Rotation, RoundCrop, Rules, Source, Trim, TrimBackground,
};
use crate::error::{Error, Result};

/// A decoded default request.
type Object = Map<String, Value>;

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

/// Response headers a request may not set (lower case): SIH's deny list plus
/// `set-cookie`, hop-by-hop headers, and headers this service owns or that
/// would let a crafted URL act on the whole origin.
const DENIED_HEADERS: &[&str] = &[
    // SIH
    "authorization",
    "connection",
    "server",
    "transfer-encoding",
    "referrer-policy",
    "permissions-policy",
    "www-authenticate",
    "proxy-authenticate",
    "x-api-key",
    // DIT 7
    "set-cookie",
    // lambda_http sends a body as UTF-8 text when a response carries this,
    // which would corrupt every image byte >= 0x80
    "x-lambda-http-content-encoding",
    // hop-by-hop
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "upgrade",
    // ours
    "etag",
    "vary",
    "last-modified",
    "date",
    "age",
    "accept-ranges",
    "server-timing",
    // origin-wide effects
    "set-cookie2",
    "clear-site-data",
    "refresh",
    "alt-svc",
    "nel",
    "report-to",
    "reporting-endpoints",
];

/// Prefixes of response headers a request may not set (lower case), as SIH.
const DENIED_HEADER_PREFIXES: &[&str] = &[
    "content-",
    "access-control-",
    "x-amz-",
    "x-amzn-",
    "cross-origin-",
    "strict-transport-",
    "x-frame-",
    "x-content-",
    "x-xss-",
    "permissions-",
];

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
/// is SIH's WebP effort; `headers` are kept if [`header_allowed`] and valid
/// HTTP. Unknown top-level fields are ignored.
pub fn parse(json: &Object, rules: &Rules) -> Result<ImageRequest> {
    let bucket = match field(json, "bucket") {
        None => None,
        Some(Value::String(bucket)) => {
            rules.check_bucket(bucket)?;
            Some(bucket.clone())
        }
        Some(other) => {
            return Err(Error::DecodeRequest(format!(
                "bucket must be a string, not {}",
                show(other)
            )));
        }
    };
    let key = match field(json, "key") {
        None => return Err(Error::MissingKey),
        Some(Value::String(key)) if key.is_empty() => return Err(Error::MissingKey),
        Some(Value::String(key)) => key.clone(),
        Some(other) => {
            return Err(Error::DecodeRequest(format!(
                "key must be a string, not {}",
                show(other)
            )));
        }
    };
    if key.contains('\0') {
        return Err(Error::InvalidKey {
            key,
            reason: "it contains a NUL byte",
        });
    }

    let mut formats = Formats::default();
    let edits = match field(json, "edits") {
        None => Vec::new(),
        Some(Value::Object(edits)) => parse_edits(edits, rules, &mut formats)?,
        Some(other) => {
            return Err(Error::DecodeRequest(format!(
                "edits must be an object, not {}",
                show(other)
            )));
        }
    };
    let output_format = match field(json, "outputFormat") {
        None => None,
        Some(v) => Some(format_name("outputFormat", v)?),
    };
    let headers = match field(json, "headers") {
        None => Vec::new(),
        Some(Value::Object(headers)) => filter_headers(headers),
        Some(other) => {
            return Err(Error::DecodeRequest(format!(
                "headers must be an object, not {}",
                show(other)
            )));
        }
    };

    // SIH: toFormat is forced; outputFormat (or a format object, as sharp
    // selects it) only applies when automatic WebP does not.
    let format = formats.to_format;
    let preferred = output_format.or(formats.last_object);
    let options = formats
        .options
        .iter()
        .rev()
        .find(|o| Some(o.format) == format.or(preferred))
        .copied();
    Ok(ImageRequest {
        source: Source { bucket, key },
        edits,
        output: Output {
            format,
            preferred,
            quality: options.and_then(|o| o.quality),
            lossless: options.is_some_and(|o| o.lossless),
            near_lossless: options.is_some_and(|o| o.near_lossless),
            progressive: options.is_some_and(|o| o.progressive),
            effort: field(json, "effort").map(webp_effort),
            max_bytes: None,
            still: formats.still,
        },
        headers,
    })
}

/// SIH's response-header deny list (case-insensitive): `false` for headers a
/// request may not set.
pub fn header_allowed(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !DENIED_HEADERS.contains(&name.as_str())
        && !DENIED_HEADER_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The allowed headers with string values that are valid HTTP and ASCII
/// (non-ASCII bytes would reach clients as Latin-1); for names repeated in
/// another case the last one wins.
fn filter_headers(headers: &Object) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let Value::String(value) = value else {
            continue;
        };
        if !header_allowed(name)
            || http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || !value.is_ascii()
            || http::HeaderValue::from_str(value).is_err()
        {
            continue;
        }
        kept.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        kept.push((name.clone(), value.clone()));
    }
    kept
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
        let edit = match name {
            "resize" => resize(value, rules)?.map(Edit::Resize),
            "rotate" => rotate(value)?.map(Edit::Rotate),
            "flip" => flag(name, value)?.then_some(Edit::Flip),
            "flop" => flag(name, value)?.then_some(Edit::Flop),
            "grayscale" | "greyscale" => flag(name, value)?.then_some(Edit::Grayscale),
            "normalize" | "normalise" => flag(name, value)?.then_some(Edit::Normalize),
            "extract" | "crop" => region(name, value)?.map(Edit::Extract),
            "extend" => extend(value, rules)?.map(Edit::Extend),
            "trim" => trim(value)?.map(Edit::Trim),
            "blur" => blur(value)?.map(Edit::Blur),
            "sharpen" => sharpen(value)?.map(Edit::Sharpen),
            "flatten" => flatten(value)?.map(Edit::Flatten),
            "tint" => match value {
                Value::Null => None,
                v => Some(Edit::Tint(color("tint", v)?)),
            },
            "negate" => negate(value)?.map(|alpha| Edit::Negate { alpha }),
            "linear" => linear(value)?.map(|(a, b)| Edit::Linear { a, b }),
            "convolve" => convolve(value)?.map(Edit::Convolve),
            "animated" => {
                formats.still = !value.is_null() && !flag(name, value)?;
                None
            }
            "toFormat" => {
                if !value.is_null() {
                    formats.to_format = Some(format_name("toFormat", value)?);
                }
                None
            }
            "jpeg" | "png" | "webp" | "avif" | "tiff" | "gif" => {
                format_object(name, value, formats)?;
                None
            }
            "heif" => {
                return Err(Error::param(
                    "heif",
                    "heif output is not supported: use avif, webp, jpeg, png, gif or tiff",
                ));
            }
            n if CUSTOM_EDITS.contains(&n) && matches!(value, Value::Null | Value::Bool(false)) => {
                None
            }
            "modulate" => modulate(value)?.map(Edit::Modulate),
            "overlayWith" => Some(Edit::Overlay(overlay(value, rules)?)),
            "median" => match value {
                Value::Null | Value::Bool(false) => None,
                Value::Bool(true) => Some(Edit::Median(3)),
                v => Some(Edit::Median(odd("median", v, 1, 99)?)),
            },
            "gamma" => match value {
                Value::Null | Value::Bool(false) => None,
                Value::Bool(true) => Some(Edit::Gamma(2.2, 2.2)),
                Value::Array(pair) if pair.len() == 2 => Some(Edit::Gamma(
                    float_in("gamma[0]", &pair[0], 1.0, 3.0)?,
                    float_in("gamma[1]", &pair[1], 1.0, 3.0)?,
                )),
                Value::Object(o) => {
                    let g = field(o, "gamma")
                        .map(|v| float_in("gamma.gamma", v, 1.0, 3.0))
                        .transpose()?
                        .unwrap_or(2.2);
                    let out = field(o, "gammaOut")
                        .map(|v| float_in("gamma.gammaOut", v, 1.0, 3.0))
                        .transpose()?
                        .unwrap_or(g);
                    Some(Edit::Gamma(g, out))
                }
                v => {
                    let g = float_in("gamma", v, 1.0, 3.0)?;
                    Some(Edit::Gamma(g, g))
                }
            },
            "threshold" => match value {
                Value::Null | Value::Bool(false) => None,
                Value::Bool(true) => Some(Edit::Threshold {
                    value: 128,
                    grayscale: true,
                }),
                Value::Object(o) => Some(Edit::Threshold {
                    value: field(o, "threshold")
                        .map(|v| whole("threshold.threshold", v, 0, 255))
                        .transpose()?
                        .unwrap_or(128) as u8,
                    grayscale: field(o, "grayscale")
                        .map(|v| flag("threshold.grayscale", v))
                        .transpose()?
                        .unwrap_or(true),
                }),
                v => Some(Edit::Threshold {
                    value: whole("threshold", v, 0, 255)? as u8,
                    grayscale: true,
                }),
            },
            "clahe" => match value {
                Value::Null | Value::Bool(false) => None,
                Value::Object(o) => {
                    let size = |k: &str| -> Result<u32> {
                        let v = field(o, k).ok_or_else(|| {
                            Error::param(
                                &format!("clahe.{k}"),
                                format!("clahe.{k} is missing: use a whole number from 1 to 1000"),
                            )
                        })?;
                        whole(&format!("clahe.{k}"), v, 1, 1000)
                    };
                    Some(Edit::Clahe {
                        width: size("width")?,
                        height: size("height")?,
                        max_slope: field(o, "maxSlope")
                            .map(|v| whole("clahe.maxSlope", v, 0, 100))
                            .transpose()?
                            .unwrap_or(3),
                    })
                }
                other => return Err(not_an_object("clahe", other)),
            },
            "removeAlpha" => flag(name, value)?.then_some(Edit::RemoveAlpha),
            "ensureAlpha" => match value {
                Value::Null | Value::Bool(false) => None,
                Value::Bool(true) => Some(Edit::EnsureAlpha(1.0)),
                v => Some(Edit::EnsureAlpha(float_in("ensureAlpha", v, 0.0, 1.0)?)),
            },
            "roundCrop" => match value {
                Value::Bool(true) => Some(Edit::RoundCrop(RoundCrop::Ellipse {
                    rx: None,
                    ry: None,
                    left: None,
                    top: None,
                })),
                Value::Object(o) => {
                    // SIH: a missing, falsy or non-positive value falls back to its default.
                    let get = |k: &str| -> Result<Option<u32>> {
                        match field(o, k) {
                            None => Ok(None),
                            Some(v) => Ok(Some(whole(&format!("roundCrop.{k}"), v, 0, 100_000)?)
                                .filter(|n| *n > 0)),
                        }
                    };
                    Some(Edit::RoundCrop(RoundCrop::Ellipse {
                        rx: get("rx")?,
                        ry: get("ry")?,
                        left: get("left")?,
                        top: get("top")?,
                    }))
                }
                other => return Err(not_an_object("roundCrop", other)),
            },
            "smartCrop" => match value {
                Value::Bool(true) => Some(Edit::SmartCrop { padding: 0 }),
                Value::Object(o) => {
                    // faceIndex is accepted and ignored: there is no face detection (docs/url-api.md).
                    if let Some(v) = field(o, "faceIndex") {
                        whole("smartCrop.faceIndex", v, 0, 100)?;
                    }
                    let padding = field(o, "padding")
                        .map(|v| whole("smartCrop.padding", v, 0, 100_000))
                        .transpose()?
                        .unwrap_or(0);
                    Some(Edit::SmartCrop { padding })
                }
                other => return Err(not_an_object("smartCrop", other)),
            },
            n if UNSUPPORTED_EDITS.contains(&n) => {
                return Err(Error::UnsupportedEdit(n.to_string()));
            }
            _ => None,
        };
        out.extend(edit);
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
    // sharp's pipeline order; the sort is stable, so key order holds within a rank.
    out.sort_by_key(|e| match e {
        Edit::Rotate(_) | Edit::Flip | Edit::Flop => 0,
        Edit::Trim(_) => 1,
        Edit::Resize(_) => 2,
        _ => 3,
    });
    Ok(out)
}

/// `resize`: `{width, height, fit, position, background, withoutEnlargement}`,
/// or a bare width as sharp's `resize(width)`.
fn resize(value: &Value, rules: &Rules) -> Result<Option<Resize>> {
    let limits = rules.limits;
    let object = match value {
        Value::Null => return Ok(None),
        Value::Number(_) => {
            return Ok(
                dimension("resize", Some(value), limits.max_width)?.map(|w| Resize {
                    width: Some(w),
                    height: None,
                    fit: Fit::default(),
                    position: Position::default(),
                    background: None,
                    without_enlargement: false,
                    adaptive: false,
                }),
            );
        }
        Value::Object(o) => o,
        other => return Err(not_an_object("resize", other)),
    };
    let without_enlargement = match field(object, "withoutEnlargement") {
        None => false,
        Some(v) => flag("resize.withoutEnlargement", v)?,
    };
    let (max_w, max_h) = Resize::box_limits(without_enlargement, &limits);
    let width = dimension("resize.width", field(object, "width"), max_w)?;
    let height = dimension("resize.height", field(object, "height"), max_h)?;
    let fit = match field(object, "fit") {
        None => Fit::default(),
        Some(v) => v
            .as_str()
            .and_then(|s| Fit::parse("resize.fit", s).ok())
            .ok_or_else(|| {
                Error::param(
                    "resize.fit",
                    format!(
                        "resize.fit={} is not a fit: use cover, contain, fill, inside or outside",
                        show(v)
                    ),
                )
            })?,
    };
    let position = match field(object, "position") {
        None => Position::default(),
        Some(v) => position("resize.position", v)?,
    };
    let background = field(object, "background")
        .map(|v| color("resize.background", v))
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
fn dimension(param: &str, value: Option<&Value>, max: u32) -> Result<Option<u32>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Some(n) = number_like(value) else {
        return Err(Error::param(
            param,
            format!(
                "{param}={} is not a number of pixels: use a whole number from 1 to {max}",
                show(value)
            ),
        ));
    };
    let n = n.round();
    if n <= 0.0 {
        return Err(Error::InvalidResize);
    }
    if n > f64::from(max) {
        return Err(Error::param(
            param,
            format!("{param}={} is above the maximum of {max}", show(value)),
        ));
    }
    Ok(Some(n as u32))
}

/// sharp's `position`: a gravity, position or strategy name, or its number.
fn position(param: &str, value: &Value) -> Result<Position> {
    match value {
        Value::String(s) => Position::parse(param, s).map_err(|_| bad_position(param, value)),
        Value::Number(n) => {
            let p = match n.as_u64() {
                Some(0) => Position::Centre,
                Some(1) => Position::North,
                Some(2) => Position::East,
                Some(3) => Position::South,
                Some(4) => Position::West,
                Some(5) => Position::NorthEast,
                Some(6) => Position::SouthEast,
                Some(7) => Position::SouthWest,
                Some(8) => Position::NorthWest,
                Some(16) => Position::Entropy,
                Some(17) => Position::Attention,
                _ => return Err(bad_position(param, value)),
            };
            Ok(p)
        }
        other => Err(bad_position(param, other)),
    }
}

fn bad_position(param: &str, value: &Value) -> Error {
    Error::param(
        param,
        format!(
            "{param}={} is not a position: use centre, north, northeast, east, southeast, south, southwest, west, northwest (or top, right top, ...), entropy or attention",
            show(value)
        ),
    )
}

/// `rotate`: a multiple of 90 degrees; `null` only auto-orients, which is always done.
fn rotate(value: &Value) -> Result<Option<Rotation>> {
    let degrees = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64().filter(|d| d.is_finite()),
        _ => None,
    };
    let Some(degrees) = degrees else {
        return Err(Error::param(
            "rotate",
            format!(
                "rotate={} is not an angle: use a number of degrees",
                show(value)
            ),
        ));
    };
    Rotation::from_degrees("rotate", degrees)
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
        other => Err(Error::param(
            param,
            format!(
                "{param}={} is not a boolean: use true or false",
                show(other)
            ),
        )),
    }
}

/// `extract` and `crop`: `{left, top, width, height}` in whole pixels.
fn region(name: &str, value: &Value) -> Result<Option<Region>> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => return Err(not_an_object(name, other)),
    };
    let side = |side: &str, min: u32| {
        let param = format!("{name}.{side}");
        match field(object, side) {
            Some(v) => whole(&param, v, min, u32::MAX),
            None => Err(Error::param(
                &param,
                format!("{param} is missing: {name} needs left, top, width and height"),
            )),
        }
    };
    Ok(Some(Region {
        left: side("left", 0)?,
        top: side("top", 0)?,
        width: side("width", 1)?,
        height: side("height", 1)?,
    }))
}

/// `extend`: a number of pixels for every side, or `{top, bottom, left,
/// right, background}` with missing sides 0 and sharp's opaque black background.
fn extend(value: &Value, rules: &Rules) -> Result<Option<Extend>> {
    let limits = rules.limits;
    let black = Color {
        r: 0,
        g: 0,
        b: 0,
        a: 255,
    };
    let e = match value {
        Value::Null => return Ok(None),
        Value::Number(_) => {
            let n = whole("extend", value, 0, limits.max_width.min(limits.max_height))?;
            Extend {
                top: n,
                bottom: n,
                left: n,
                right: n,
                background: Some(black),
            }
        }
        Value::Object(object) => {
            if let Some(with) = field(object, "extendWith")
                && with.as_str() != Some("background")
            {
                return Err(Error::UnsupportedEdit(format!(
                    "extend.extendWith={}",
                    show(with)
                )));
            }
            let side = |side: &str, max: u32| {
                field(object, side)
                    .map(|v| whole(&format!("extend.{side}"), v, 0, max))
                    .transpose()
                    .map(Option::unwrap_or_default)
            };
            Extend {
                top: side("top", limits.max_height)?,
                bottom: side("bottom", limits.max_height)?,
                left: side("left", limits.max_width)?,
                right: side("right", limits.max_width)?,
                background: Some(
                    field(object, "background")
                        .map(|v| color("extend.background", v))
                        .transpose()?
                        .unwrap_or(black),
                ),
            }
        }
        other => return Err(not_an_object("extend", other)),
    };
    let nothing = e.top == 0 && e.bottom == 0 && e.left == 0 && e.right == 0;
    Ok((!nothing).then_some(e))
}

/// `trim`: `true` (threshold 10), a threshold, or `{threshold, background}`.
fn trim(value: &Value) -> Result<Option<Trim>> {
    let mut t = Trim {
        threshold: 10.0,
        background: TrimBackground::TopLeft,
    };
    match value {
        Value::Null | Value::Bool(false) => return Ok(None),
        Value::Bool(true) => {}
        Value::Number(_) => t.threshold = threshold("trim", value)?,
        Value::Object(object) => {
            if let Some(v) = field(object, "threshold") {
                t.threshold = threshold("trim.threshold", v)?;
            }
            if let Some(v) = field(object, "background") {
                t.background = TrimBackground::Color(color("trim.background", v)?);
            }
            if let Some(v) = field(object, "lineArt")
                && flag("trim.lineArt", v)?
            {
                return Err(Error::UnsupportedEdit("trim.lineArt".to_string()));
            }
        }
        other => {
            return Err(Error::param(
                "trim",
                format!(
                    "trim={} is not a trim: use true, a threshold or {{\"threshold\", \"background\"}}",
                    show(other)
                ),
            ));
        }
    }
    Ok(Some(t))
}

fn threshold(param: &str, value: &Value) -> Result<f64> {
    float_in(param, value, 0.0, 1e6)
}

/// `blur`: `true` (a mild blur), a sigma 0.3 to 1000, or `{sigma}`.
fn blur(value: &Value) -> Result<Option<f64>> {
    match value {
        Value::Null | Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(1.0)),
        Value::Number(_) => float_in("blur", value, 0.3, 1000.0).map(Some),
        Value::Object(object) => match field(object, "sigma") {
            Some(v) => float_in("blur.sigma", v, 0.3, 1000.0).map(Some),
            None => Ok(Some(1.0)),
        },
        other => Err(Error::param(
            "blur",
            format!(
                "blur={} is not a blur: use true or a sigma from 0.3 to 1000",
                show(other)
            ),
        )),
    }
}

/// `sharpen`: `true` (a mild sharpen), a sigma 0.01 to 10, or `{sigma}`.
fn sharpen(value: &Value) -> Result<Option<Option<f64>>> {
    match value {
        Value::Null | Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(None)),
        Value::Number(_) => float_in("sharpen", value, 0.01, 10.0).map(|s| Some(Some(s))),
        Value::Object(object) => match field(object, "sigma") {
            Some(v) => float_in("sharpen.sigma", v, 0.01, 10.0).map(|s| Some(Some(s))),
            None => Err(Error::param(
                "sharpen.sigma",
                "sharpen.sigma is missing: use a sigma from 0.01 to 10",
            )),
        },
        other => Err(Error::param(
            "sharpen",
            format!(
                "sharpen={} is not a sharpen: use true or a sigma from 0.01 to 10",
                show(other)
            ),
        )),
    }
}

/// `overlayWith`: `{bucket, key, alpha, wRatio, hRatio, options: {left, top}}`,
/// with SIH's rules: an `alpha` outside 0 to 100 is opaque, ratios other than
/// whole numbers 0 to 100 are ignored, `left`/`top` are pixels (negative from
/// the far edge) or `Np` percentages.
fn overlay(value: &Value, rules: &Rules) -> Result<super::Overlay> {
    let Value::Object(o) = value else {
        return Err(not_an_object("overlayWith", value));
    };
    let bucket = match field(o, "bucket") {
        None => None,
        Some(Value::String(b)) => {
            rules.check_bucket(b)?;
            Some(b.clone())
        }
        Some(other) => {
            return Err(Error::param(
                "overlayWith.bucket",
                format!("overlayWith.bucket={} is not a bucket name", show(other)),
            ));
        }
    };
    let key = match field(o, "key") {
        Some(Value::String(k)) if !k.is_empty() && !k.contains('\0') => k.clone(),
        other => {
            return Err(Error::param(
                "overlayWith.key",
                format!(
                    "overlayWith.key={} is not an image key",
                    other.map(show).unwrap_or_else(|| "missing".into())
                ),
            ));
        }
    };
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let alpha = field(o, "alpha")
        .and_then(number_like)
        .filter(|a| (0.0..=100.0).contains(a))
        .map(|a| a as u8)
        .unwrap_or(0);
    let ratio = |k: &str| -> Option<u8> {
        field(o, k)
            .and_then(text)
            .and_then(|s| s.trim().parse::<u8>().ok())
            .filter(|r| *r <= 100)
    };
    let options = field(o, "options").and_then(|v| v.as_object());
    let offset = |k: &str| -> Result<super::Offset> {
        match options.and_then(|opts| field(opts, k)).and_then(text) {
            Some(v) => super::Offset::parse(&format!("overlayWith.options.{k}"), &v),
            None => Ok(super::Offset::Pixels(0)),
        }
    };
    Ok(super::Overlay {
        source: Source { bucket, key },
        left: offset("left")?,
        top: offset("top")?,
        alpha,
        width_ratio: ratio("wRatio"),
        height_ratio: ratio("hRatio"),
    })
}

/// `modulate`: `{brightness, saturation, hue, lightness}`.
fn modulate(value: &Value) -> Result<Option<Modulate>> {
    let o = match value {
        Value::Null | Value::Bool(false) => return Ok(None),
        Value::Object(o) => o,
        other => return Err(not_an_object("modulate", other)),
    };
    let get = |k: &str, min: f64, max: f64, default: f64| -> Result<f64> {
        field(o, k)
            .map(|v| float_in(&format!("modulate.{k}"), v, min, max))
            .transpose()
            .map(|v| v.unwrap_or(default))
    };
    Ok(Some(Modulate {
        brightness: get("brightness", 0.0, 100.0, 1.0)?,
        saturation: get("saturation", 0.0, 100.0, 1.0)?,
        hue: get("hue", -3600.0, 3600.0, 0.0)?,
        lightness: get("lightness", -100.0, 100.0, 0.0)?,
    }))
}

/// An odd whole number in `min..=max`.
fn odd(param: &str, value: &Value, min: u32, max: u32) -> Result<u32> {
    let n = whole(param, value, min, max)?;
    if n % 2 == 0 {
        return Err(Error::param(param, format!("{param}={n} must be odd")));
    }
    Ok(n)
}

/// `flatten`: `true` (onto black, as sharp) or `{background}`.
fn flatten(value: &Value) -> Result<Option<Color>> {
    let black = Color {
        r: 0,
        g: 0,
        b: 0,
        a: 255,
    };
    match value {
        Value::Null | Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(black)),
        Value::Object(object) => Ok(Some(
            field(object, "background")
                .map(|v| color("flatten.background", v))
                .transpose()?
                .unwrap_or(black),
        )),
        other => Err(not_an_object("flatten", other)),
    }
}

/// `negate`: `true` (alpha too, as sharp) or `{alpha}`.
fn negate(value: &Value) -> Result<Option<bool>> {
    match value {
        Value::Null | Value::Bool(false) => Ok(None),
        Value::Bool(true) => Ok(Some(true)),
        Value::Object(object) => match field(object, "alpha") {
            None => Ok(Some(true)),
            Some(v) => flag("negate.alpha", v).map(Some),
        },
        other => Err(not_an_object("negate", other)),
    }
}

/// `linear`: `a` (with `b` 0, as sharp's `linear(a)`), `[a, b]` or `{a, b}`.
fn linear(value: &Value) -> Result<Option<(f64, f64)>> {
    let any = |param: &str, v: &Value| float_in(param, v, -1e6, 1e6);
    match value {
        Value::Null => Ok(None),
        Value::Number(_) => Ok(Some((any("linear", value)?, 0.0))),
        Value::Array(items) if items.len() == 2 => Ok(Some((
            any("linear[0]", &items[0])?,
            any("linear[1]", &items[1])?,
        ))),
        Value::Object(object) => {
            let a = field(object, "a").map(|v| any("linear.a", v)).transpose()?;
            let b = field(object, "b").map(|v| any("linear.b", v)).transpose()?;
            Ok(Some((a.unwrap_or(1.0), b.unwrap_or(0.0))))
        }
        other => Err(Error::param(
            "linear",
            format!(
                "linear={} is not a linear transform: use a, [a, b] or {{\"a\", \"b\"}}",
                show(other)
            ),
        )),
    }
}

/// `convolve`: `{width, height, kernel, scale, offset}`.
fn convolve(value: &Value) -> Result<Option<Kernel>> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => return Err(not_an_object("convolve", other)),
    };
    let side = |side: &str| {
        let param = format!("convolve.{side}");
        let n = match field(object, side) {
            Some(v) => whole(&param, v, 1, 1001)?,
            None => return Err(Error::param(&param, format!("{param} is missing"))),
        };
        if n.is_multiple_of(2) {
            return Err(Error::param(
                &param,
                format!("{param}={n} is not odd: use an odd number from 1 to 1001"),
            ));
        }
        Ok(n)
    };
    let width = side("width")?;
    let height = side("height")?;
    let cells = width as usize * height as usize;
    let weights = match field(object, "kernel") {
        Some(Value::Array(items)) if items.len() == cells => items
            .iter()
            .enumerate()
            .map(|(i, v)| float_in(&format!("convolve.kernel[{i}]"), v, -1e6, 1e6))
            .collect::<Result<Vec<f64>>>()?,
        Some(Value::Array(items)) => {
            return Err(Error::param(
                "convolve.kernel",
                format!(
                    "convolve.kernel has {} weights: a {width}x{height} kernel needs {cells}",
                    items.len()
                ),
            ));
        }
        other => {
            return Err(Error::param(
                "convolve.kernel",
                format!(
                    "convolve.kernel={} is not an array of {cells} numbers",
                    other.map(show).unwrap_or_else(|| "(missing)".to_string())
                ),
            ));
        }
    };
    let scale = match field(object, "scale") {
        None => None,
        Some(v) => {
            let s = float_in("convolve.scale", v, -1e6, 1e6)?;
            if s == 0.0 {
                return Err(Error::param(
                    "convolve.scale",
                    "convolve.scale=0 would divide by zero",
                ));
            }
            Some(s)
        }
    };
    let offset = field(object, "offset")
        .map(|v| float_in("convolve.offset", v, -1e6, 1e6))
        .transpose()?
        .unwrap_or(0.0);
    Ok(Some(Kernel {
        width,
        height,
        weights,
        scale,
        offset,
    }))
}

/// A format object (`{"webp": {"quality": 80, "lossless": false}}`): selects
/// that format as sharp's `webp()` does, with its quality and lossless options.
fn format_object(name: &str, value: &Value, formats: &mut Formats) -> Result<()> {
    let format = match OutputFormat::parse(name, name) {
        Ok(Some(format)) => format,
        _ => {
            return Err(Error::param(
                name,
                format!("{name} is not an output format"),
            ));
        }
    };
    let (quality, lossless, near_lossless, progressive) = match value {
        Value::Null | Value::Bool(false) => return Ok(()),
        Value::Bool(true) => (None, false, false, false),
        Value::Object(object) => {
            let quality = field(object, "quality")
                .map(|v| whole(&format!("{name}.quality"), v, 1, 100))
                .transpose()?
                .map(|q| q as u8);
            let option = |key: &str| -> Result<bool> {
                match field(object, key) {
                    Some(v) => flag(&format!("{name}.{key}"), v),
                    None => Ok(false),
                }
            };
            (
                quality,
                option("lossless")? && matches!(format, OutputFormat::Webp | OutputFormat::Avif),
                option("nearLossless")? && format == OutputFormat::Webp,
                option("progressive")? && matches!(format, OutputFormat::Jpeg | OutputFormat::Png),
            )
        }
        other => return Err(not_an_object(name, other)),
    };
    formats.last_object = Some(format);
    formats.options.retain(|o| o.format != format);
    formats.options.push(FormatOptions {
        format,
        quality,
        lossless,
        near_lossless,
        progressive,
    });
    Ok(())
}

/// An output format name as sharp's `toFormat` takes it (no `auto`, `heif` or `raw`).
fn format_name(param: &str, value: &Value) -> Result<OutputFormat> {
    if let Value::String(s) = value
        && let Ok(Some(format)) = OutputFormat::parse(param, s)
    {
        return Ok(format);
    }
    Err(Error::param(
        param,
        format!(
            "{param}={} is not an output format: use jpeg, jpg, png, webp, avif, gif or tiff",
            show(value)
        ),
    ))
}

/// A colour as sharp takes it: a CSS string (`#rrggbb[aa]`, `#rgb`, a basic
/// name, `rgb(r, g, b)`, `rgba(r, g, b, a)`) or `{r, g, b, alpha}` with
/// channels 0 to 255 and alpha 0 to 1.
fn color(param: &str, value: &Value) -> Result<Color> {
    let bad = || {
        Error::param(
            param,
            format!(
                "{param}={} is not a colour: use hex (#ff0000), a CSS colour name, rgb(r, g, b) or {{\"r\", \"g\", \"b\", \"alpha\"}}",
                show(value)
            ),
        )
    };
    match value {
        Value::String(s) => {
            let lower = s.trim().to_ascii_lowercase();
            let args = lower
                .strip_prefix("rgba(")
                .or_else(|| lower.strip_prefix("rgb("))
                .and_then(|rest| rest.strip_suffix(')'));
            let Some(args) = args else {
                return Color::parse(param, s).map_err(|_| bad());
            };
            let parts: Vec<&str> = args.split(',').map(str::trim).collect();
            let num = |i: usize| -> Option<f64> { parts.get(i).and_then(|p| numeric_str(p)) };
            let channel = |i: usize| num(i).filter(|c| (0.0..=255.0).contains(c));
            let alpha = match parts.len() {
                3 => Some(1.0),
                4 => num(3).filter(|a| (0.0..=1.0).contains(a)),
                _ => None,
            };
            match (channel(0), channel(1), channel(2), alpha) {
                (Some(r), Some(g), Some(b), Some(a)) => Ok(rgba(r, g, b, a)),
                _ => Err(bad()),
            }
        }
        Value::Object(object) => {
            let channel = |name: &str| {
                let param = format!("{param}.{name}");
                match field(object, name) {
                    Some(v) => float_in(&param, v, 0.0, 255.0),
                    None => Err(bad()),
                }
            };
            let alpha = field(object, "alpha")
                .map(|v| float_in(&format!("{param}.alpha"), v, 0.0, 1.0))
                .transpose()?
                .unwrap_or(1.0);
            Ok(rgba(channel("r")?, channel("g")?, channel("b")?, alpha))
        }
        _ => Err(bad()),
    }
}

/// Channels already checked to be in range.
fn rgba(r: f64, g: f64, b: f64, alpha: f64) -> Color {
    Color {
        r: r.round() as u8,
        g: g.round() as u8,
        b: b.round() as u8,
        a: (alpha * 255.0).round() as u8,
    }
}

/// A field, with `null` read as absent.
fn field<'a>(object: &'a Object, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|v| !v.is_null())
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

/// A finite JSON number in `min..=max`.
fn float_in(param: &str, value: &Value, min: f64, max: f64) -> Result<f64> {
    match value.as_f64() {
        Some(v) if v.is_finite() && (min..=max).contains(&v) => Ok(v),
        _ => Err(Error::param(
            param,
            format!(
                "{param}={} is out of range: use a number from {min} to {max}",
                show(value)
            ),
        )),
    }
}

/// A whole JSON number in `min..=max` (`10.0` counts as whole).
fn whole(param: &str, value: &Value, min: u32, max: u32) -> Result<u32> {
    let n = value.as_f64().filter(|v| v.is_finite() && v.fract() == 0.0);
    match n {
        Some(v) if (f64::from(min)..=f64::from(max)).contains(&v) => Ok(v as u32),
        _ => Err(Error::param(
            param,
            format!(
                "{param}={} is not a whole number from {min} to {max}",
                show(value)
            ),
        )),
    }
}

fn not_an_object(param: &str, value: &Value) -> Error {
    Error::param(
        param,
        format!("{param}={} is not valid here: use an object", show(value)),
    )
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
