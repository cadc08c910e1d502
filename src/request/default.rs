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
mod tests {
    use super::*;
    use crate::request::Limits;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use serde_json::json;

    fn buckets() -> Vec<String> {
        vec![
            "validBucket".to_string(),
            "bucket-name-here".to_string(),
            "my-bucket".to_string(),
        ]
    }

    fn object(v: Value) -> Object {
        match v {
            Value::Object(o) => o,
            other => panic!("not an object: {other}"),
        }
    }

    fn req(v: Value) -> Result<ImageRequest> {
        let b = buckets();
        let rules = Rules {
            limits: Limits::default(),
            buckets: &b,
        };
        parse(&object(v), &rules)
    }

    fn edits(e: Value) -> Result<Vec<Edit>> {
        req(json!({"key": "k", "edits": e})).map(|r| r.edits)
    }

    fn output(v: Value) -> Output {
        let mut v = object(v);
        v.insert("key".into(), json!("k"));
        req(Value::Object(v)).unwrap().output
    }

    /// The error for `e` as edits, checked to be a 400 naming `name`.
    fn edit_err(e: Value, name: &str) -> Error {
        let err = edits(e.clone()).unwrap_err();
        assert_eq!(err.status(), 400, "{e}: {err}");
        assert!(err.to_string().contains(name), "{e}: {err}");
        err
    }

    const BLACK: Color = Color {
        r: 0,
        g: 0,
        b: 0,
        a: 255,
    };

    fn resize(width: Option<u32>, height: Option<u32>) -> Resize {
        Resize {
            width,
            height,
            fit: Fit::Cover,
            position: Position::Centre,
            background: None,
            without_enlargement: false,
            adaptive: false,
        }
    }

    #[test]
    fn detects_sih_vectors() {
        let o = detect(
            "/eyJidWNrZXQiOiJ2YWxpZEJ1Y2tldCIsImtleSI6InZhbGlkS2V5IiwiZWRpdHMiOnsidG9Gb3JtYXQiOiJwbmcifX0=",
        )
        .unwrap();
        let r = req(Value::Object(o)).unwrap();
        assert_eq!(
            r.source,
            Source {
                bucket: Some("validBucket".into()),
                key: "validKey".into()
            }
        );
        assert_eq!(r.output.format, Some(OutputFormat::Png));
        assert!(r.edits.is_empty());

        let o = detect("/eyJidWNrZXQiOiJidWNrZXQtbmFtZS1oZXJlIiwia2V5Ijoia2V5LW5hbWUtaGVyZSJ9")
            .unwrap();
        assert_eq!(
            Value::Object(o),
            json!({"bucket": "bucket-name-here", "key": "key-name-here"})
        );
        // without the leading slash, and SIH's request-type vector
        assert!(
            detect("eyJidWNrZXQiOiJidWNrZXQtbmFtZS1oZXJlIiwia2V5Ijoia2V5LW5hbWUtaGVyZSJ9")
                .is_some()
        );
        let o = detect("/eyJidWNrZXQiOiJteS1zYW1wbGUtYnVja2V0Iiwia2V5IjoibXktc2FtcGxlLWtleSIsImVkaXRzIjp7ImdyYXlzY2FsZSI6dHJ1ZX19").unwrap();
        assert_eq!(o["edits"], json!({"grayscale": true}));
    }

    #[test]
    fn sih_setup_and_reference_examples() {
        // SIH setup.spec.ts (#29)
        let r = req(json!({"bucket": "validBucket", "key": "validKey", "edits": {"grayscale": true}, "outputFormat": "jpeg"})).unwrap();
        assert_eq!(r.source.bucket.as_deref(), Some("validBucket"));
        assert_eq!(r.edits, vec![Edit::Grayscale]);
        // outputFormat is preferred, not forced: automatic WebP still wins, as in SIH
        assert_eq!(r.output.format, None);
        assert_eq!(r.output.preferred, Some(OutputFormat::Jpeg));
        assert!(r.headers.is_empty());
        // the example URL of the reference, section 1.2
        let o = detect("/eyJidWNrZXQiOiJteS1idWNrZXQiLCJrZXkiOiJwaG90b3MvY2F0LmpwZyIsImVkaXRzIjp7InJlc2l6ZSI6eyJ3aWR0aCI6MjAwLCJoZWlnaHQiOjIwMCwiZml0IjoiY292ZXIifSwiZ3JheXNjYWxlIjp0cnVlfSwib3V0cHV0Rm9ybWF0Ijoid2VicCJ9").unwrap();
        let r = req(Value::Object(o)).unwrap();
        assert_eq!(r.source.key, "photos/cat.jpg");
        assert_eq!(
            r.edits,
            vec![Edit::Resize(resize(Some(200), Some(200))), Edit::Grayscale]
        );
        assert_eq!(r.output.preferred, Some(OutputFormat::Webp));
    }

    #[test]
    fn detect_rejects_what_sih_rejects() {
        // Bytes whose standard base64 holds `+` and `/`, so the URL-safe form differs.
        let json = r#"{"key":"a>>>?b","x":"???>>>"}"#;
        let standard = STANDARD.encode(json);
        let url_safe = URL_SAFE.encode(json);
        assert_ne!(standard, url_safe);
        assert!(detect(&format!("/{standard}")).is_some());
        let unpadded = STANDARD.encode(r#"{"key":"abc"}"#);
        assert!(unpadded.ends_with('='));
        for path in [
            "/someNonBase64EncodedContentHere".to_string(),
            format!("/{url_safe}"),
            format!("/{}", unpadded.trim_end_matches('=')),
            format!("/{}", STANDARD.encode("not json at all")),
            format!("/{}", STANDARD.encode("[1, 2]")),
            format!("/{}", STANDARD.encode("\"string\"")),
            format!("/{}", STANDARD.encode([0xff, 0xfe, b'{', b'}'])),
            format!("/{}", STANDARD.encode("[".repeat(10_000))),
            format!("/{}", STANDARD.encode("{\"a\":".repeat(10_000))),
            "/".to_string(),
            String::new(),
            "/abcd".to_string(),
            "/ab==ab==".to_string(),
            "/a===".to_string(),
            "/====".to_string(),
            "/photos/cat.jpg".to_string(),
            "/fit-in/400x300/image.jpg".to_string(),
            "//e30=".to_string(),
            "/e30=?x".to_string(),
        ] {
            assert!(detect(&path).is_none(), "{path}");
        }
        assert_eq!(detect("/e30="), Some(Map::new()));
    }

    #[test]
    fn buckets_and_keys() {
        let r = req(json!({"key": "中文/a b%20c.jpg"})).unwrap();
        assert_eq!(
            r.source,
            Source {
                bucket: None,
                key: "中文/a b%20c.jpg".into()
            }
        );
        let e = req(json!({"bucket": "otherBucket", "key": "k"})).unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(e.code(), "ImageBucket::CannotAccessBucket");
        assert_eq!(
            req(json!({"bucket": null, "key": "k"}))
                .unwrap()
                .source
                .bucket,
            None
        );
        for (v, code) in [
            (json!({}), "MissingKey"),
            (json!({"key": ""}), "MissingKey"),
            (json!({"key": null}), "MissingKey"),
            (json!({"key": 5}), "DecodeRequest::CannotDecodeRequest"),
            (json!({"key": ["a"]}), "DecodeRequest::CannotDecodeRequest"),
            (json!({"key": "a\u{0}b"}), "InvalidKey"),
            (
                json!({"bucket": 1, "key": "k"}),
                "DecodeRequest::CannotDecodeRequest",
            ),
            (
                json!({"key": "k", "edits": [1]}),
                "DecodeRequest::CannotDecodeRequest",
            ),
            (
                json!({"key": "k", "headers": "x"}),
                "DecodeRequest::CannotDecodeRequest",
            ),
        ] {
            let e = req(v.clone()).unwrap_err();
            assert_eq!(e.status(), 400, "{v}");
            assert_eq!(e.code(), code, "{v}");
        }
        // unknown top-level fields and SIH's old `reductionEffort` are ignored
        let r = req(json!({"key": "k", "reductionEffort": 3, "foo": {"bar": 1}})).unwrap();
        assert_eq!(r.output, Output::default());
    }

    #[test]
    fn output_formats() {
        for (v, format) in [
            (json!({"outputFormat": "jpg"}), Some(OutputFormat::Jpeg)),
            (json!({"outputFormat": "jpeg"}), Some(OutputFormat::Jpeg)),
            (json!({"outputFormat": "png"}), Some(OutputFormat::Png)),
            (json!({"outputFormat": "webp"}), Some(OutputFormat::Webp)),
            (json!({"outputFormat": "tiff"}), Some(OutputFormat::Tiff)),
            (json!({"outputFormat": "gif"}), Some(OutputFormat::Gif)),
            (json!({"outputFormat": "avif"}), Some(OutputFormat::Avif)),
            (json!({"outputFormat": null}), None),
            (json!({}), None),
            (
                json!({"outputFormat": "jpeg", "edits": {"toFormat": "png"}}),
                Some(OutputFormat::Png),
            ),
            (
                json!({"edits": {"toFormat": "webp"}, "outputFormat": "gif"}),
                Some(OutputFormat::Webp),
            ),
        ] {
            let o = output(v.clone());
            assert_eq!(o.format.or(o.preferred), format, "{v}");
        }
        for bad in ["heif", "raw", "auto", "bmp", ""] {
            let e = req(json!({"key": "k", "outputFormat": bad})).unwrap_err();
            assert!(e.to_string().contains("outputFormat="), "{bad}: {e}");
            let e = edit_err(json!({"toFormat": bad}), "toFormat=");
            assert_eq!(e.code(), "InvalidParameter");
        }
        let e = req(json!({"key": "k", "outputFormat": 5})).unwrap_err();
        assert!(e.to_string().contains("outputFormat=5"), "{e}");
    }

    #[test]
    fn format_objects() {
        for (v, format, quality, lossless) in [
            (
                json!({"edits": {"jpeg": {"quality": 80, "progressive": true}}}),
                Some(OutputFormat::Jpeg),
                Some(80),
                false,
            ),
            (
                json!({"edits": {"webp": {"quality": 70, "lossless": true}}}),
                Some(OutputFormat::Webp),
                Some(70),
                true,
            ),
            (
                json!({"edits": {"avif": {"lossless": true}}}),
                Some(OutputFormat::Avif),
                None,
                true,
            ),
            // lossless is not a JPEG option
            (
                json!({"edits": {"jpeg": {"lossless": true}}}),
                Some(OutputFormat::Jpeg),
                None,
                false,
            ),
            // the last format object wins, as the last sharp call does
            (
                json!({"edits": {"png": {"quality": 50}, "webp": {"quality": 60}}}),
                Some(OutputFormat::Webp),
                Some(60),
                false,
            ),
            (
                json!({"edits": {"webp": {"quality": 60}, "png": {"quality": 50}}}),
                Some(OutputFormat::Png),
                Some(50),
                false,
            ),
            // toFormat and outputFormat win; options of that format still apply
            (
                json!({"edits": {"webp": {"quality": 60}, "png": {"quality": 50}, "toFormat": "webp"}}),
                Some(OutputFormat::Webp),
                Some(60),
                false,
            ),
            (
                json!({"outputFormat": "jpg", "edits": {"jpeg": {"quality": 40}, "webp": {"quality": 60}}}),
                Some(OutputFormat::Jpeg),
                Some(40),
                false,
            ),
            // options for another format do not apply (sharp ignores them)
            (
                json!({"outputFormat": "png", "edits": {"jpeg": {"quality": 40}}}),
                Some(OutputFormat::Png),
                None,
                false,
            ),
            (
                json!({"edits": {"gif": true}}),
                Some(OutputFormat::Gif),
                None,
                false,
            ),
            (json!({"edits": {"tiff": null}}), None, None, false),
        ] {
            let o = output(v.clone());
            assert_eq!(
                (o.format.or(o.preferred), o.quality, o.lossless),
                (format, quality, lossless),
                "{v}"
            );
        }
        for (e, name) in [
            (json!({"jpeg": {"quality": 0}}), "jpeg.quality="),
            (json!({"jpeg": {"quality": 101}}), "jpeg.quality="),
            (json!({"webp": {"quality": 50.5}}), "webp.quality="),
            (json!({"webp": {"quality": "50"}}), "webp.quality="),
            (json!({"webp": {"lossless": "yes"}}), "webp.lossless="),
            (json!({"png": 5}), "png="),
            (json!({"heif": {"quality": 50}}), "heif"),
        ] {
            edit_err(e, name);
        }
    }

    #[test]
    fn webp_efforts() {
        for (v, effort) in [
            (json!(3), Some(3)),
            (json!("invalid"), Some(4)),
            (json!(7), Some(4)),
            (json!(-1), Some(4)),
            (json!(2.378), Some(2)),
            (json!(0), Some(0)),
            (json!(6.9), Some(6)),
            (json!(-0.5), Some(0)),
            (json!(1e308), Some(4)),
            (json!("5"), Some(5)),
            (json!("NaN"), Some(4)),
            (json!("Infinity"), Some(4)),
            (json!(true), Some(4)),
            (json!([3]), Some(4)),
            (json!({"e": 3}), Some(4)),
            (json!(null), None),
        ] {
            assert_eq!(output(json!({"effort": v})).effort, effort, "{v}");
        }
        assert_eq!(output(json!({})).effort, None);
    }

    #[test]
    fn response_headers() {
        let r = req(json!({"key": "k", "headers": {
            "Cache-Control": "max-age=31536000,public",
            "Transfer-encoding": "chunked",
            "x-api-key": "key",
            "x-amz-header": "header",
            "content-type": "text/html",
            "Access-Control-Allow-Origin": "*",
        }}))
        .unwrap();
        assert_eq!(
            r.headers,
            vec![(
                "Cache-Control".to_string(),
                "max-age=31536000,public".to_string()
            )]
        );
        let r = req(json!({"key": "k", "headers": {
            "Expires": "Thu, 01 Jan 2099 00:00:00 GMT",
            "X-Custom": 5,
            "X-Object": {"a": 1},
            "Bad Name": "v",
            "": "v",
            "X-Newline": "a\r\nSet-Cookie: x=1",
            "X-Unicode": "ünïcode",
            "x-tag": "one",
            "X-Tag": "two",
        }}))
        .unwrap();
        assert_eq!(
            r.headers,
            vec![
                (
                    "Expires".to_string(),
                    "Thu, 01 Jan 2099 00:00:00 GMT".to_string()
                ),
                ("X-Tag".to_string(), "two".to_string()),
            ]
        );
        assert!(
            req(json!({"key": "k", "headers": null}))
                .unwrap()
                .headers
                .is_empty()
        );
    }

    #[test]
    fn header_deny_list() {
        for (name, allowed) in [
            ("Cache-Control", true),
            ("Expires", true),
            ("X-Custom-Thing", true),
            ("Link", true),
            ("Authorization", false),
            ("CONNECTION", false),
            ("Server", false),
            ("Transfer-Encoding", false),
            ("Set-Cookie", false),
            ("X-Api-Key", false),
            ("WWW-Authenticate", false),
            ("Proxy-Authenticate", false),
            ("Referrer-Policy", false),
            ("Permissions-Policy", false),
            ("Permissions-Anything", false),
            ("Content-Security-Policy", false),
            ("Content-Length", false),
            ("Access-Control-Allow-Credentials", false),
            ("X-Amz-Meta-Foo", false),
            ("X-Amzn-RequestId", false),
            ("Cross-Origin-Resource-Policy", false),
            ("Strict-Transport-Security", false),
            ("X-Frame-Options", false),
            ("X-Content-Type-Options", false),
            ("X-XSS-Protection", false),
            ("Keep-Alive", false),
            ("Upgrade", false),
            ("TE", false),
            ("Trailer", false),
            ("ETag", false),
            ("Vary", false),
            ("Last-Modified", false),
            ("Date", false),
            ("Server-Timing", false),
            ("Clear-Site-Data", false),
            ("Refresh", false),
        ] {
            assert_eq!(header_allowed(name), allowed, "{name}");
        }
    }

    #[test]
    fn edits_follow_sharps_order_then_key_order() {
        assert_eq!(
            edits(json!({"grayscale": true, "rotate": 90})).unwrap(),
            vec![Edit::Rotate(Rotation::D90), Edit::Grayscale]
        );
        assert_eq!(
            edits(json!({"negate": true, "grayscale": true})).unwrap(),
            vec![Edit::Negate { alpha: true }, Edit::Grayscale]
        );
        assert_eq!(
            edits(json!({"grayscale": true, "negate": true})).unwrap(),
            vec![Edit::Grayscale, Edit::Negate { alpha: true }]
        );
        // parsed from text, not built by json!, to check the map keeps key order
        let o: Object = serde_json::from_str(
            r#"{"key":"k","edits":{"sharpen":true,"flop":true,"blur":2,"flip":true,"resize":{"width":10}}}"#,
        )
        .unwrap();
        let b = buckets();
        let r = parse(
            &o,
            &Rules {
                limits: Limits::default(),
                buckets: &b,
            },
        )
        .unwrap();
        assert_eq!(
            r.edits,
            vec![
                Edit::Flop,
                Edit::Flip,
                Edit::Resize(resize(Some(10), None)),
                Edit::Sharpen(None),
                Edit::Blur(2.0),
            ]
        );
    }

    #[test]
    fn unknown_and_unsupported_edits() {
        assert!(
            edits(json!({"toFile": "x", "keepExif": true, "ratio": 2, "raw": {}}))
                .unwrap()
                .is_empty()
        );
        assert!(edits(json!({})).unwrap().is_empty());
        for name in UNSUPPORTED_EDITS {
            let e = edits(json!({ *name: {"bucket": "b", "key": "k"} })).unwrap_err();
            assert_eq!(e.code(), "UnsupportedEdit", "{name}");
            assert_eq!(e.status(), 400, "{name}");
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        // SIH's custom edits do nothing when false
        for name in CUSTOM_EDITS {
            assert!(edits(json!({ *name: false })).unwrap().is_empty(), "{name}");
            assert!(edits(json!({ *name: null })).unwrap().is_empty(), "{name}");
        }
        assert!(edits(json!({"overlayWith": true})).is_err());
        assert!(matches!(
            &edits(json!({"overlayWith": {"bucket": "validBucket", "key": "logo.png", "alpha": 150, "wRatio": "x", "options": {"left": "-10", "top": "50p"}}})).unwrap()[..],
            [Edit::Overlay(o)] if o.alpha == 0 && o.width_ratio.is_none() && o.left == super::super::Offset::Pixels(-10) && o.top == super::super::Offset::Percent(50)
        ));
        // fractional percentages, read as SIH's parseInt reads them (issue 20)
        for (left, top, l, t) in [
            ("25.5p", "-10.9p", 25, -10),
            ("0.5p", "99.99p", 0, 99),
            ("-100.0p", "100p", -100, 100),
        ] {
            assert!(
                matches!(
                    &edits(json!({"overlayWith": {"key": "logo.png", "options": {"left": left, "top": top}}})).unwrap()[..],
                    [Edit::Overlay(o)] if o.left == super::super::Offset::Percent(l) && o.top == super::super::Offset::Percent(t)
                ),
                "{left} {top}"
            );
        }
        for bad in ["100.5p", "1e1p", "NaNp", "infp", ".p", "25.5.5p", "25,5p"] {
            assert!(
                edits(json!({"overlayWith": {"key": "logo.png", "options": {"left": bad, "top": "0"}}})).is_err(),
                "{bad}"
            );
        }
        assert!(edits(json!({"removeAlpha": false})).unwrap().is_empty());
        // an unsupported edit after a valid one still fails the whole request
        assert!(matches!(
            edits(json!({"grayscale": true, "contentModeration": {"minConfidence": 50}})),
            Err(Error::UnsupportedEdit(n)) if n == "contentModeration"
        ));
    }

    #[test]
    fn colour_and_shape_edits() {
        assert_eq!(
            edits(json!({"modulate": {"brightness": 2, "saturation": 0.5, "hue": 90}})).unwrap(),
            vec![Edit::Modulate(Modulate {
                brightness: 2.0,
                saturation: 0.5,
                hue: 90.0,
                lightness: 0.0
            })]
        );
        assert_eq!(
            edits(json!({"median": true})).unwrap(),
            vec![Edit::Median(3)]
        );
        assert_eq!(edits(json!({"median": 5})).unwrap(), vec![Edit::Median(5)]);
        assert_eq!(
            edits(json!({"gamma": 2.4})).unwrap(),
            vec![Edit::Gamma(2.4, 2.4)]
        );
        assert_eq!(
            edits(json!({"gamma": [2.2, 3.0]})).unwrap(),
            vec![Edit::Gamma(2.2, 3.0)]
        );
        assert_eq!(
            edits(json!({"threshold": {"threshold": 100, "grayscale": false}})).unwrap(),
            vec![Edit::Threshold {
                value: 100,
                grayscale: false
            }]
        );
        assert_eq!(
            edits(json!({"clahe": {"width": 8, "height": 8}})).unwrap(),
            vec![Edit::Clahe {
                width: 8,
                height: 8,
                max_slope: 3
            }]
        );
        assert_eq!(
            edits(json!({"removeAlpha": true, "ensureAlpha": 0.5})).unwrap(),
            vec![Edit::RemoveAlpha, Edit::EnsureAlpha(0.5)]
        );
        assert_eq!(
            edits(json!({"roundCrop": {"rx": 0, "ry": 20, "left": 50}})).unwrap(),
            vec![Edit::RoundCrop(RoundCrop::Ellipse {
                rx: None,
                ry: Some(20),
                left: Some(50),
                top: None
            })]
        );
        assert_eq!(
            edits(json!({"smartCrop": {"faceIndex": 1, "padding": 40}})).unwrap(),
            vec![Edit::SmartCrop { padding: 40 }]
        );
        // with a two-sided resize, smartCrop makes its crop attention-based
        let with_resize =
            edits(json!({"smartCrop": true, "resize": {"width": 10, "height": 10}})).unwrap();
        assert!(
            matches!(&with_resize[..], [Edit::Resize(r)] if r.position == Position::Attention && r.fit == Fit::Cover)
        );
        for (bad, name) in [
            (json!({"median": 4}), "median="),
            (json!({"gamma": 0.5}), "gamma="),
            (json!({"threshold": 300}), "threshold="),
            (json!({"clahe": {"width": 8}}), "clahe.height"),
            (
                json!({"modulate": {"saturation": -1}}),
                "modulate.saturation",
            ),
            (json!({"ensureAlpha": 2}), "ensureAlpha="),
            (json!({"roundCrop": 5}), "roundCrop="),
        ] {
            let e = edits(bad.clone()).unwrap_err().to_string();
            assert!(e.contains(name), "{bad}: {e}");
        }
    }

    #[test]
    fn resize_sizes() {
        for (r, w, h) in [
            (
                json!({"width": "99.1", "height": "99.9"}),
                Some(99),
                Some(100),
            ),
            (json!({"width": 200, "height": 100}), Some(200), Some(100)),
            (json!({"width": 200.5}), Some(201), None),
            (json!({"width": null, "height": 300}), None, Some(300)),
            (json!({"width": " 50 "}), Some(50), None),
            (json!({"height": "1e2"}), None, Some(100)),
            (
                json!({"width": 4096, "height": 4096}),
                Some(4096),
                Some(4096),
            ),
        ] {
            assert_eq!(
                edits(json!({ "resize": r })).unwrap(),
                vec![Edit::Resize(resize(w, h))],
                "{r}"
            );
        }
        assert_eq!(
            edits(json!({"resize": 300})).unwrap(),
            vec![Edit::Resize(resize(Some(300), None))]
        );
        for r in [
            json!({}),
            json!({"fit": "inside"}),
            json!({"width": null, "height": null}),
            json!({"ratio": 0.5}),
            json!(null),
        ] {
            assert!(edits(json!({ "resize": r })).unwrap().is_empty(), "{r}");
        }
        for r in [
            json!({"width": 0}),
            json!({"width": -5}),
            json!({"height": "0"}),
            json!({"width": 0.4}),
            json!({"width": 100, "height": -1}),
            json!({"height": -1e308}),
            json!(0),
        ] {
            let e = edits(json!({ "resize": r })).unwrap_err();
            assert!(matches!(e, Error::InvalidResize), "{r}: {e}");
            assert_eq!(e.code(), "InvalidResizeException");
        }
        for (r, name) in [
            (json!({"width": 4097}), "resize.width="),
            (json!({"height": 1e308}), "resize.height="),
            (json!({"width": "abc"}), "resize.width="),
            (json!({"width": ""}), "resize.width="),
            (json!({"width": "NaN"}), "resize.width="),
            (json!({"width": "Infinity"}), "resize.width="),
            (json!({"width": "inf"}), "resize.width="),
            (json!({"width": "0x10"}), "resize.width="),
            (json!({"width": true}), "resize.width="),
            (json!({"width": [100]}), "resize.width="),
            (json!({"width": {"a": 1}}), "resize.width="),
            (json!("100"), "resize="),
            (json!([100, 200]), "resize="),
        ] {
            edit_err(json!({ "resize": r }), name);
        }
    }

    #[test]
    fn resize_options() {
        let red = Color {
            r: 255,
            g: 0,
            b: 0,
            a: 255,
        };
        let r = edits(json!({"resize": {
            "width": 300, "height": 200, "fit": "contain", "position": "right top",
            "background": "#ff0000", "withoutEnlargement": true, "ratio": 3,
            "kernel": "lanczos3"
        }}))
        .unwrap();
        assert_eq!(
            r,
            vec![Edit::Resize(Resize {
                width: Some(300),
                height: Some(200),
                fit: Fit::Contain,
                position: Position::NorthEast,
                background: Some(red),
                without_enlargement: true,
                adaptive: false,
            })]
        );
        for (p, position) in [
            (json!("attention"), Position::Attention),
            (json!("entropy"), Position::Entropy),
            (json!("centre"), Position::Centre),
            (json!("left bottom"), Position::SouthWest),
            (json!(1), Position::North),
            (json!(6), Position::SouthEast),
            (json!(16), Position::Entropy),
            (json!(17), Position::Attention),
        ] {
            let r = edits(json!({"resize": {"width": 10, "position": p}})).unwrap();
            assert!(
                matches!(r[0], Edit::Resize(Resize { position: got, .. }) if got == position),
                "{p}"
            );
        }
        for (bg, c) in [
            (
                json!({"r": 0, "g": 0, "b": 0, "alpha": 0}),
                Color::TRANSPARENT,
            ),
            (
                json!({"r": 255, "g": 128.4, "b": 0, "alpha": 0.5}),
                Color {
                    r: 255,
                    g: 128,
                    b: 0,
                    a: 128,
                },
            ),
            (json!({"r": 255, "g": 255, "b": 255}), Color::WHITE),
            (json!("white"), Color::WHITE),
            (json!("fff"), Color::WHITE),
            (
                json!("rgba(255, 0, 0, 0.5)"),
                Color {
                    r: 255,
                    g: 0,
                    b: 0,
                    a: 128,
                },
            ),
            (json!("RGB(255,0,0)"), red),
        ] {
            let r = edits(json!({"resize": {"width": 10, "background": bg}})).unwrap();
            assert!(
                matches!(r[0], Edit::Resize(Resize { background: Some(got), .. }) if got == c),
                "{bg}"
            );
        }
        for (r, name) in [
            (json!({"width": 10, "fit": "banana"}), "resize.fit="),
            (json!({"width": 10, "fit": 1}), "resize.fit="),
            (json!({"width": 10, "position": "up"}), "resize.position="),
            (json!({"width": 10, "position": 9}), "resize.position="),
            (json!({"width": 10, "position": -1}), "resize.position="),
            (
                json!({"width": 10, "background": "zzz"}),
                "resize.background=",
            ),
            (json!({"width": 10, "background": 5}), "resize.background="),
            (
                json!({"width": 10, "background": [0, 0, 0]}),
                "resize.background=",
            ),
            (
                json!({"width": 10, "background": {"r": 0, "g": 0}}),
                "resize.background=",
            ),
            (
                json!({"width": 10, "background": {"r": 256, "g": 0, "b": 0}}),
                "resize.background.r=",
            ),
            (
                json!({"width": 10, "background": {"r": 0, "g": 0, "b": 0, "alpha": 2}}),
                "resize.background.alpha=",
            ),
            (
                json!({"width": 10, "background": "rgb(1,2)"}),
                "resize.background=",
            ),
            (
                json!({"width": 10, "background": "rgba(1,2,3,5)"}),
                "resize.background=",
            ),
            (
                json!({"width": 10, "withoutEnlargement": "yes"}),
                "resize.withoutEnlargement=",
            ),
        ] {
            edit_err(json!({ "resize": r }), name);
        }
    }

    #[test]
    fn rotate_angles() {
        for (v, r) in [
            (json!(90), vec![Edit::Rotate(Rotation::D90)]),
            (json!(180.0), vec![Edit::Rotate(Rotation::D180)]),
            (json!(-90), vec![Edit::Rotate(Rotation::D270)]),
            (json!(450), vec![Edit::Rotate(Rotation::D90)]),
            (json!(0), vec![]),
            (json!(360), vec![]),
            (json!(null), vec![]),
            (json!(9e15), vec![]),
        ] {
            assert_eq!(edits(json!({ "rotate": v })).unwrap(), r, "{v}");
        }
        // any angle, as SIH (issue 20)
        for (v, r) in [
            (json!(45), vec![Edit::Rotate(Rotation::Other(4_500))]),
            (json!(90.5), vec![Edit::Rotate(Rotation::Other(9_050))]),
            (json!(-225), vec![Edit::Rotate(Rotation::Other(13_500))]),
            (json!(-1e-300), vec![]),
        ] {
            assert_eq!(edits(json!({ "rotate": v })).unwrap(), r, "{v}");
        }
        for v in [json!("90"), json!(true), json!({"angle": 90})] {
            edit_err(json!({ "rotate": v }), "rotate=");
        }
    }

    #[test]
    fn boolean_edits() {
        for (name, edit) in [
            ("flip", Edit::Flip),
            ("flop", Edit::Flop),
            ("grayscale", Edit::Grayscale),
            ("greyscale", Edit::Grayscale),
            ("normalize", Edit::Normalize),
            ("normalise", Edit::Normalize),
        ] {
            assert_eq!(
                edits(json!({ name: true })).unwrap(),
                vec![edit.clone()],
                "{name}"
            );
            assert!(edits(json!({ name: false })).unwrap().is_empty(), "{name}");
            assert!(edits(json!({ name: null })).unwrap().is_empty(), "{name}");
            // SIH (through sharp) takes the strings too (issue 20)
            assert_eq!(
                edits(json!({ name: "true" })).unwrap(),
                vec![edit],
                "{name}"
            );
            assert!(
                edits(json!({ name: "false" })).unwrap().is_empty(),
                "{name}"
            );
            for bad in [
                json!("True"),
                json!("yes"),
                json!("1"),
                json!(""),
                json!(" true"),
                json!(1),
                json!({}),
                json!([]),
            ] {
                edit_err(json!({ name: bad }), &format!("{name}="));
            }
        }
    }

    #[test]
    fn extract_and_crop() {
        let region = Region {
            left: 10,
            top: 0,
            width: 90,
            height: 200,
        };
        for name in ["extract", "crop"] {
            assert_eq!(
                edits(json!({ name: {"left": 10, "top": 0, "width": 90, "height": 200} })).unwrap(),
                vec![Edit::Extract(region)],
                "{name}"
            );
            assert_eq!(
                edits(json!({ name: {"left": 10.0, "top": 0, "width": 90, "height": 200.0} }))
                    .unwrap(),
                vec![Edit::Extract(region)],
                "{name}"
            );
            assert!(edits(json!({ name: null })).unwrap().is_empty());
            for (bad, field) in [
                (json!({"top": 0, "width": 90, "height": 200}), "left"),
                (
                    json!({"left": -1, "top": 0, "width": 90, "height": 200}),
                    "left",
                ),
                (
                    json!({"left": 0, "top": 1.5, "width": 90, "height": 200}),
                    "top",
                ),
                (
                    json!({"left": 0, "top": 0, "width": 0, "height": 200}),
                    "width",
                ),
                (
                    json!({"left": 0, "top": 0, "width": 9, "height": "200"}),
                    "height",
                ),
                (
                    json!({"left": 0, "top": 0, "width": 9, "height": 1e308}),
                    "height",
                ),
                (
                    json!({"left": 0, "top": 0, "width": 9, "height": 5e9}),
                    "height",
                ),
            ] {
                edit_err(json!({ name: bad }), &format!("{name}.{field}"));
            }
            for bad in [json!(true), json!([10, 0, 90, 200]), json!("10,0,90,200")] {
                edit_err(json!({ name: bad }), &format!("{name}="));
            }
        }
    }

    #[test]
    fn extend_borders() {
        let ext = |top, bottom, left, right, background| {
            vec![Edit::Extend(Extend {
                top,
                bottom,
                left,
                right,
                background: Some(background),
            })]
        };
        for (v, want) in [
            (json!(10), ext(10, 10, 10, 10, BLACK)),
            (json!({"top": 5, "left": 2}), ext(5, 0, 2, 0, BLACK)),
            (
                json!({"bottom": 3, "right": 4, "background": {"r": 0, "g": 0, "b": 0, "alpha": 0}}),
                ext(0, 3, 0, 4, Color::TRANSPARENT),
            ),
            (
                json!({"top": 1, "background": "white", "extendWith": "background"}),
                ext(1, 0, 0, 0, Color::WHITE),
            ),
            (json!(0), vec![]),
            (json!({}), vec![]),
            (json!(null), vec![]),
        ] {
            assert_eq!(edits(json!({ "extend": v })).unwrap(), want, "{v}");
        }
        for (v, name) in [
            (json!(-1), "extend="),
            (json!(1.5), "extend="),
            (json!(5000), "extend="),
            (json!("10"), "extend="),
            (json!({"top": -1}), "extend.top="),
            (json!({"left": 4097}), "extend.left="),
            (
                json!({"top": 1, "background": "nope"}),
                "extend.background=",
            ),
        ] {
            edit_err(json!({ "extend": v }), name);
        }
        assert!(matches!(
            edits(json!({"extend": {"top": 1, "extendWith": "mirror"}})),
            Err(Error::UnsupportedEdit(_))
        ));
    }

    #[test]
    fn trim_borders() {
        let t = |threshold, background| {
            vec![Edit::Trim(Trim {
                threshold,
                background,
            })]
        };
        for (v, want) in [
            (json!(true), t(10.0, TrimBackground::TopLeft)),
            (json!(25), t(25.0, TrimBackground::TopLeft)),
            (json!({"threshold": 0}), t(0.0, TrimBackground::TopLeft)),
            (
                json!({"background": "#fff"}),
                t(10.0, TrimBackground::Color(Color::WHITE)),
            ),
            (
                json!({"threshold": 5, "background": {"r": 255, "g": 255, "b": 255}, "lineArt": false}),
                t(5.0, TrimBackground::Color(Color::WHITE)),
            ),
            (json!(false), vec![]),
            (json!(null), vec![]),
        ] {
            assert_eq!(edits(json!({ "trim": v })).unwrap(), want, "{v}");
        }
        for (v, name) in [
            (json!(-1), "trim="),
            (json!("10"), "trim="),
            (json!([10]), "trim="),
            (json!({"threshold": -5}), "trim.threshold="),
            (json!({"threshold": "5"}), "trim.threshold="),
            (json!({"background": "nope"}), "trim.background="),
        ] {
            edit_err(json!({ "trim": v }), name);
        }
        assert!(matches!(
            edits(json!({"trim": {"lineArt": true}})),
            Err(Error::UnsupportedEdit(_))
        ));
    }

    #[test]
    fn blur_and_sharpen() {
        for (v, want) in [
            (json!(true), vec![Edit::Blur(1.0)]),
            (json!(2), vec![Edit::Blur(2.0)]),
            (json!(0.3), vec![Edit::Blur(0.3)]),
            (json!(1000), vec![Edit::Blur(1000.0)]),
            (json!({"sigma": 5}), vec![Edit::Blur(5.0)]),
            (json!(false), vec![]),
            (json!(null), vec![]),
        ] {
            assert_eq!(edits(json!({ "blur": v })).unwrap(), want, "{v}");
        }
        for v in [
            json!(0.2),
            json!(1001),
            json!(0),
            json!(-1),
            json!("2"),
            json!([2]),
        ] {
            edit_err(json!({ "blur": v }), "blur=");
        }
        edit_err(json!({"blur": {"sigma": 0}}), "blur.sigma=");

        for (v, want) in [
            (json!(true), vec![Edit::Sharpen(None)]),
            (json!(1.5), vec![Edit::Sharpen(Some(1.5))]),
            (json!({"sigma": 2, "m1": 1}), vec![Edit::Sharpen(Some(2.0))]),
            (json!(false), vec![]),
            (json!(null), vec![]),
        ] {
            assert_eq!(edits(json!({ "sharpen": v })).unwrap(), want, "{v}");
        }
        for v in [json!(0), json!(11), json!("1"), json!([1])] {
            edit_err(json!({ "sharpen": v }), "sharpen=");
        }
        edit_err(json!({"sharpen": {}}), "sharpen.sigma");
        edit_err(json!({"sharpen": {"sigma": 20}}), "sharpen.sigma=");
    }

    #[test]
    fn colour_edits() {
        let grey = Color {
            r: 26,
            g: 26,
            b: 26,
            a: 255,
        };
        for (e, want) in [
            (json!({"flatten": true}), vec![Edit::Flatten(BLACK)]),
            (json!({"flatten": {}}), vec![Edit::Flatten(BLACK)]),
            (
                json!({"flatten": {"background": {"r": 255, "g": 255, "b": 255}}}),
                vec![Edit::Flatten(Color::WHITE)],
            ),
            (
                json!({"flatten": {"background": "#ffffff"}}),
                vec![Edit::Flatten(Color::WHITE)],
            ),
            (json!({"flatten": false}), vec![]),
            // Thumbor's rgb filter gives fractional channels
            (
                json!({"tint": {"r": 25.5, "g": 25.5, "b": 25.5}}),
                vec![Edit::Tint(grey)],
            ),
            (json!({"tint": "#1a1a1a"}), vec![Edit::Tint(grey)]),
            (json!({"tint": null}), vec![]),
            (json!({"negate": true}), vec![Edit::Negate { alpha: true }]),
            (
                json!({"negate": {"alpha": false}}),
                vec![Edit::Negate { alpha: false }],
            ),
            (json!({"negate": {}}), vec![Edit::Negate { alpha: true }]),
            (json!({"negate": false}), vec![]),
        ] {
            assert_eq!(edits(e.clone()).unwrap(), want, "{e}");
        }
        for (e, name) in [
            (json!({"flatten": "white"}), "flatten="),
            (
                json!({"flatten": {"background": "nope"}}),
                "flatten.background=",
            ),
            (json!({"tint": true}), "tint="),
            (json!({"tint": "nope"}), "tint="),
            (json!({"tint": {"r": -1, "g": 0, "b": 0}}), "tint.r="),
            (json!({"negate": 1}), "negate="),
            (json!({"negate": {"alpha": 1}}), "negate.alpha="),
        ] {
            edit_err(e, name);
        }
    }

    #[test]
    fn linear_levels() {
        for (v, (a, b)) in [
            (json!(1.5), (1.5, 0.0)),
            (json!([1.2, -10]), (1.2, -10.0)),
            (json!({"a": 0.5, "b": 20}), (0.5, 20.0)),
            (json!({"b": 20}), (1.0, 20.0)),
        ] {
            assert_eq!(
                edits(json!({ "linear": v })).unwrap(),
                vec![Edit::Linear { a, b }],
                "{v}"
            );
        }
        assert!(edits(json!({"linear": null})).unwrap().is_empty());
        for (v, name) in [
            (json!([1.2]), "linear="),
            (json!([1, 2, 3]), "linear="),
            (json!("1.5"), "linear="),
            (json!(true), "linear="),
            (json!(1e308), "linear="),
            (json!([1, "x"]), "linear[1]="),
            (json!({"a": "x"}), "linear.a="),
        ] {
            edit_err(json!({ "linear": v }), name);
        }
    }

    #[test]
    fn convolve_kernels() {
        let k = json!({"width": 3, "height": 3, "kernel": [1, 2, 1, 2, 4, 2, 1, 2, 1]});
        assert_eq!(
            edits(json!({ "convolve": k })).unwrap(),
            vec![Edit::Convolve(Kernel {
                width: 3,
                height: 3,
                weights: vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0],
                scale: None,
                offset: 0.0,
            })]
        );
        assert_eq!(
            edits(json!({"convolve": {"width": 1, "height": 3, "kernel": [-1, 0, 1], "scale": 2, "offset": 128}}))
                .unwrap(),
            vec![Edit::Convolve(Kernel {
                width: 1,
                height: 3,
                weights: vec![-1.0, 0.0, 1.0],
                scale: Some(2.0),
                offset: 128.0,
            })]
        );
        assert!(edits(json!({"convolve": null})).unwrap().is_empty());
        for (v, name) in [
            (
                json!({"width": 2, "height": 3, "kernel": [1, 1, 1, 1, 1, 1]}),
                "convolve.width=",
            ),
            (
                json!({"width": 3, "height": 1003, "kernel": []}),
                "convolve.height=",
            ),
            (json!({"width": 3, "kernel": [1, 1, 1]}), "convolve.height"),
            (
                json!({"width": 3, "height": 1, "kernel": [1, 1]}),
                "convolve.kernel",
            ),
            (
                json!({"width": 1, "height": 1, "kernel": ["1"]}),
                "convolve.kernel[0]=",
            ),
            (
                json!({"width": 1, "height": 1, "kernel": 1}),
                "convolve.kernel=",
            ),
            (json!({"width": 1, "height": 1}), "convolve.kernel="),
            (
                json!({"width": 1, "height": 1, "kernel": [1], "scale": 0}),
                "convolve.scale=",
            ),
            (
                json!({"width": 1, "height": 1, "kernel": [1], "offset": "x"}),
                "convolve.offset=",
            ),
            (json!([1, 2, 1]), "convolve="),
        ] {
            edit_err(json!({ "convolve": v }), name);
        }
    }

    #[test]
    fn hostile_json_is_a_400() {
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!({ "width": deep });
        }
        let long = "9".repeat(400);
        for e in [
            json!({"resize": deep}),
            json!({"resize": {"width": long}}),
            json!({"resize": {"width": 1e308, "height": -1e308}}),
            json!({"extract": {"left": 1e308, "top": 0, "width": 1, "height": 1}}),
            json!({"extend": {"top": u64::MAX}}),
            json!({"convolve": {"width": 1001, "height": 1001, "kernel": [1]}}),
            json!({"blur": u64::MAX}),
            json!({"linear": [1e308, -1e308]}),
            json!({"trim": {"threshold": 1e308}}),
            json!({"resize": {"width": 10, "background": {"r": 1e308, "g": 0, "b": 0}}}),
            json!({"resize": {"width": 10, "position": u64::MAX}}),
            json!({"jpeg": {"quality": -1e308}}),
            json!({"flip": [true]}),
            json!({"tint": "x".repeat(100_000)}),
        ] {
            let err = edits(e).unwrap_err();
            assert_eq!(err.status(), 400, "{err}");
            assert!(err.to_string().len() < 400, "{err}");
        }
        // a parsed document nested past serde_json's limit is simply not a default request
        let nested = format!("{{\"key\":{}1{}}}", "[".repeat(1000), "]".repeat(1000));
        assert!(detect(&STANDARD.encode(nested)).is_none());
    }
}
