//! The query-parameter URL style: `GET /<key>?width=&height=&fit=...`.
//!
//! The names `width`, `height`, `fit`, `format`, `rotate`, `flip`, `flop` and
//! `grayscale`/`greyscale` are those of AWS Serverless Image Handler v7's query
//! edits; `position`, `quality`, `blur`, `sharpen`, `background` and `dpr`
//! extend them. Unknown parameters are ignored; for repeated parameters the
//! last value wins (as CloudFront's query normalisation does). Because query
//! parameters carry no order, edits are built in one fixed order:
//! rotate, flip, flop, resize, grayscale, blur, sharpen, flatten. The same
//! parameters apply on top of the other URL styles ([`overlay`]).

use super::{
    Color, Edit, Fit, ImageRequest, Limits, Offset, Output, OutputFormat, Overlay, Position,
    Resize, Rotation, Source,
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
    overlay(&mut request, &target.query, limits)?;
    Ok(request)
}

/// Applies query parameters on top of a request of any style, as SIH v7 does:
/// a parameter replaces the path's or JSON's edit of the same name. An edit
/// the request did not have goes where this style would put it: rotations and
/// mirrors first, the resize after them, filters last. `params` are the
/// decoded pairs of [`super::target::Target`]; the last value of each name wins.
pub fn overlay(
    request: &mut ImageRequest,
    params: &[(String, String)],
    limits: &Limits,
) -> Result<()> {
    let get = |name: &str| super::target::last(params, name);
    let edits = &mut request.edits;

    if let Some(v) = get("rotate") {
        let rotation = parse_rotate("rotate", v)?;
        replace(
            edits,
            |e| matches!(e, Edit::Rotate(_)),
            rotation.map(Edit::Rotate),
            Slot::Front,
        );
    }
    for (name, edit) in [("flip", Edit::Flip), ("flop", Edit::Flop)] {
        if let Some(v) = get(name) {
            let on = parse_bool(name, v)?;
            let same = edit.clone();
            replace(edits, |e| *e == same, on.then_some(edit), Slot::Front);
        }
    }

    let dpr = get("dpr")
        .map(|v| parse_float_in("dpr", v, 1.0, 4.0))
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
    let fit = get("fit").map(|v| Fit::parse("fit", v)).transpose()?;
    let mut position = get("position")
        .map(|v| Position::parse("position", v))
        .transpose()?;
    // fx/fy: a focal point, as fractions of the width and height (default 0.5)
    if get("fx").is_some() || get("fy").is_some() {
        let fraction = |name: &str| -> Result<u16> {
            match get(name).filter(|v| !v.is_empty()) {
                Some(v) => Ok((parse_float_in(name, v, 0.0, 1.0)? * 1000.0).round() as u16),
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
    if get("width").is_some() || get("height").is_some() {
        let resize = (width.is_some() || height.is_some())
            .then(|| -> Result<Edit> {
                Ok(Edit::Resize(Resize {
                    width: width
                        .map(|w| scale_dimension("width", w, dpr, limits.max_width))
                        .transpose()?,
                    height: height
                        .map(|h| scale_dimension("height", h, dpr, limits.max_height))
                        .transpose()?,
                    fit: fit.unwrap_or_default(),
                    position: position.unwrap_or_default(),
                    background,
                    without_enlargement: false,
                    adaptive: false,
                }))
            })
            .transpose()?;
        replace(
            edits,
            |e| matches!(e, Edit::Resize(_)),
            resize,
            Slot::AfterGeometry,
        );
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
            Slot::End,
        );
    }
    if let Some(v) = get("blur") {
        let blur = (!v.is_empty())
            .then(|| parse_float_in("blur", v, 0.3, 1000.0))
            .transpose()?
            .map(Edit::Blur);
        replace(edits, |e| matches!(e, Edit::Blur(_)), blur, Slot::End);
    }
    if let Some(v) = get("sharpen") {
        let sharpen = match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Some(Edit::Sharpen(None)),
            "" | "false" | "no" | "off" | "0" => None,
            _ => Some(Edit::Sharpen(Some(parse_float_in(
                "sharpen", v, 0.01, 10.0,
            )?))),
        };
        replace(edits, |e| matches!(e, Edit::Sharpen(_)), sharpen, Slot::End);
    }
    if let Some(color) = background {
        let flatten = (color.a == 255).then_some(Edit::Flatten(color));
        replace(edits, |e| matches!(e, Edit::Flatten(_)), flatten, Slot::End);
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
                        .map(|v| {
                            v.parse::<u8>().ok().filter(|p| *p <= 100).ok_or_else(|| {
                                Error::param(
                                    name,
                                    format!("{name}={v:?} is not a percentage from 0 to 100"),
                                )
                            })
                        })
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
            Slot::End,
        );
    }
    if let Some(v) = get("progressive") {
        request.output.progressive = parse_bool("progressive", v)?;
    }
    if let Some(v) = get("animated") {
        // An empty value keeps the animation, as SIH's `animated()` does.
        request.output.still = !v.is_empty() && !parse_bool("animated", v)?;
    }
    if let Some(v) = get("format").filter(|v| !v.is_empty()) {
        request.output.format = OutputFormat::parse("format", v)?;
    }
    if let Some(v) = get("quality").filter(|v| !v.is_empty()) {
        request.output.quality = Some(parse_quality("quality", v)?);
    }
    Ok(())
}

/// Where an edit the request did not have is inserted.
#[derive(Clone, Copy)]
enum Slot {
    /// After the leading rotations and mirrors.
    Front,
    /// After the leading rotations, mirrors, trims and extracts.
    AfterGeometry,
    /// Last.
    End,
}

/// Replaces the edits matching `is` by `with` (at the first match's place), or
/// inserts `with` at `slot` when there was none.
fn replace(edits: &mut Vec<Edit>, is: impl Fn(&Edit) -> bool, with: Option<Edit>, slot: Slot) {
    let first = edits.iter().position(&is);
    edits.retain(|e| !is(e));
    let Some(edit) = with else { return };
    let leading = |pred: fn(&Edit) -> bool| edits.iter().take_while(|e| pred(e)).count();
    let at = first.unwrap_or_else(|| match slot {
        Slot::Front => leading(|e| matches!(e, Edit::Rotate(_) | Edit::Flip | Edit::Flop)),
        Slot::AfterGeometry => leading(|e| {
            matches!(
                e,
                Edit::Rotate(_) | Edit::Flip | Edit::Flop | Edit::Trim(_) | Edit::Extract(_)
            )
        }),
        Slot::End => edits.len(),
    });
    edits.insert(at.min(edits.len()), edit);
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

/// Rotation in degrees clockwise, any angle from -3600 to 3600 (SIH rotates
/// by any angle); `""` means none (SIH's auto-orient, which is always on here).
pub fn parse_rotate(param: &str, value: &str) -> Result<Option<Rotation>> {
    if value.is_empty() {
        return Ok(None);
    }
    let degrees: f64 = value
        .parse()
        .ok()
        .filter(|d: &f64| d.is_finite() && d.abs() <= 3600.0)
        .ok_or_else(|| {
            Error::param(
                param,
                format!("{param}={value:?} is not an angle: use degrees from -3600 to 3600, such as 90 or 12.5"),
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
