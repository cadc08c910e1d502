//! The query-parameter URL style: `GET /<key>?width=&height=&fit=...`.
//!
//! The names `width`, `height`, `fit`, `format`, `rotate`, `flip`, `flop` and
//! `grayscale`/`greyscale` are those of AWS Serverless Image Handler v7's query
//! edits; `position`, `quality`, `blur`, `sharpen`, `background` and `dpr`
//! extend them. Unknown parameters are ignored; for repeated parameters the
//! last value wins (as CloudFront's query normalisation does). Because query
//! parameters carry no order, edits are built in one fixed order:
//! rotate, flip, flop, resize, grayscale, blur, sharpen, flatten.

use super::{
    Color, Edit, Fit, ImageRequest, Limits, Output, OutputFormat, Position, Resize, Rotation,
    Source,
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
];

/// Parses `path` (still percent-encoded, with its leading `/`) and the raw query string.
pub fn parse(path: &str, query: Option<&str>, limits: &Limits) -> Result<ImageRequest> {
    let key = super::decode_key(path)?;
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if let Some(known) = PARAMS.iter().find(|p| **p == name) {
            values.retain(|(n, _)| n != known);
            values.push((known, value.into_owned()));
        }
    }
    let get = |name: &str| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    };

    let mut edits = Vec::new();
    if let Some(v) = get("rotate")
        && let Some(r) = parse_rotate("rotate", v)?
    {
        edits.push(Edit::Rotate(r));
    }
    if get("flip").map(|v| parse_bool("flip", v)).transpose()? == Some(true) {
        edits.push(Edit::Flip);
    }
    if get("flop").map(|v| parse_bool("flop", v)).transpose()? == Some(true) {
        edits.push(Edit::Flop);
    }

    let dpr = get("dpr")
        .map(|v| parse_dpr("dpr", v))
        .transpose()?
        .unwrap_or(1.0);
    let width = get("width")
        .map(|v| parse_dimension("width", v, limits.max_width))
        .transpose()?
        .flatten();
    let height = get("height")
        .map(|v| parse_dimension("height", v, limits.max_height))
        .transpose()?
        .flatten();
    let fit = get("fit")
        .map(|v| Fit::parse("fit", v))
        .transpose()?
        .unwrap_or_default();
    let position = get("position")
        .map(|v| Position::parse("position", v))
        .transpose()?
        .unwrap_or_default();
    let background = get("background")
        .filter(|v| !v.is_empty())
        .map(|v| Color::parse("background", v))
        .transpose()?;
    if width.is_some() || height.is_some() {
        edits.push(Edit::Resize(Resize {
            width: width
                .map(|w| scale_dimension("width", w, dpr, limits.max_width))
                .transpose()?,
            height: height
                .map(|h| scale_dimension("height", h, dpr, limits.max_height))
                .transpose()?,
            fit,
            position,
            background,
            without_enlargement: false,
            adaptive: false,
        }));
    }

    let grayscale = get("grayscale").or(get("greyscale"));
    if let Some(v) = grayscale {
        let name = if get("grayscale").is_some() {
            "grayscale"
        } else {
            "greyscale"
        };
        if parse_bool(name, v)? {
            edits.push(Edit::Grayscale);
        }
    }
    if let Some(v) = get("blur").filter(|v| !v.is_empty()) {
        edits.push(Edit::Blur(parse_float_in("blur", v, 0.3, 1000.0)?));
    }
    if let Some(v) = get("sharpen").filter(|v| !v.is_empty()) {
        match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => edits.push(Edit::Sharpen(None)),
            "false" | "no" | "off" | "0" => {}
            _ => edits.push(Edit::Sharpen(Some(parse_float_in(
                "sharpen", v, 0.01, 10.0,
            )?))),
        }
    }
    if let Some(color) = background.filter(|c| c.a == 255) {
        edits.push(Edit::Flatten(color));
    }

    let format = get("format")
        .filter(|v| !v.is_empty())
        .map(|v| OutputFormat::parse("format", v))
        .transpose()?
        .flatten();
    let quality = get("quality")
        .filter(|v| !v.is_empty())
        .map(|v| parse_quality("quality", v))
        .transpose()?;

    Ok(ImageRequest {
        source: Source { bucket: None, key },
        edits,
        output: Output {
            format,
            quality,
            ..Output::default()
        },
        headers: Vec::new(),
    })
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

fn parse_dpr(param: &str, value: &str) -> Result<f64> {
    parse_float_in(param, value, 1.0, 4.0)
}

/// Quality 1 to 100.
pub fn parse_quality(param: &str, value: &str) -> Result<u8> {
    match value.parse::<u32>() {
        Ok(q @ 1..=100) => Ok(q as u8),
        _ => Err(Error::param(
            param,
            format!("{param}={value:?} is not a quality: use a whole number from 1 to 100"),
        )),
    }
}

/// Rotation in degrees, a multiple of 90; `""` means none (SIH's auto-orient, which is always on here).
pub fn parse_rotate(param: &str, value: &str) -> Result<Option<Rotation>> {
    if value.is_empty() {
        return Ok(None);
    }
    let degrees: i64 = value
        .parse()
        .ok()
        .filter(|d: &i64| d.abs() <= 3600)
        .ok_or_else(|| {
            Error::param(
                param,
                format!("{param}={value:?} is not an angle: use 0, 90, 180 or 270"),
            )
        })?;
    Rotation::from_degrees(param, degrees)
}

/// A finite decimal in `min..=max`.
pub fn parse_float_in(param: &str, value: &str, min: f64, max: f64) -> Result<f64> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(v),
        _ => Err(Error::param(
            param,
            format!("{param}={value:?} is out of range: use a number from {min} to {max}"),
        )),
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
            ("rotate=45", "rotate"),
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
        assert!(matches!(
            parse("/%FF.jpg", None, &l),
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
