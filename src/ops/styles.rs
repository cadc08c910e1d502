//! The same request in the other URL styles: a thumbor path and a Serverless
//! Image Handler default request (base64 JSON).
//!
//! This module owns writing a validated [`ImageRequest`] back out as those
//! two styles, for the edits a query URL can ask for (size, fit, position,
//! rotation, mirrors, grayscale, blur, sharpen, background, format, quality,
//! metadata).
//! A style that has no name for an edit, or applies edits in an order that
//! gives another image, is reported with a reason ([`Unavailable`]) rather than
//! written wrong. The writers are checked against the server's own parsers:
//! the caller parses what was written (see `request::assemble`) and
//! [`same_image`] decides whether it asks for the same image.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::request::{Color, Edit, Fit, ImageRequest, Position, Resize};

use super::key_path;

/// Why a request cannot be written in a style.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

fn unavailable<T>(why: impl Into<String>) -> Result<T, Unavailable> {
    Err(Unavailable(why.into()))
}

/// The thumbor path (`/[fit-in/][-]Wx[-]H/[halign/][valign/][smart/][filters:…/]<key>`)
/// of `request`, which must name no bucket. Thumbor applies a path's mirrors
/// before its resize and its filters (`rotate()` among them) after it, so a
/// request that rotates before resizing or mirrors after filtering may come
/// out different: the caller checks the result with [`same_image`].
pub fn thumbor_path(request: &ImageRequest) -> Result<String, Unavailable> {
    if request.source.bucket.is_some() {
        return unavailable("the request names a bucket");
    }
    let mut flip = false;
    let mut flop = false;
    let mut resize: Option<&Resize> = None;
    let mut filters: Vec<String> = Vec::new();
    for edit in &request.edits {
        match edit {
            Edit::Flip | Edit::Flop if resize.is_some() || !filters.is_empty() => {
                return unavailable(
                    "thumbor mirrors only with a negative size (-Wx-H), which applies before the resize and every filter",
                );
            }
            Edit::Flip => flip = true,
            Edit::Flop => flop = true,
            Edit::Resize(r) => {
                if resize.is_some() {
                    return unavailable("a thumbor path holds one resize");
                }
                resize = Some(r);
            }
            Edit::Rotate(r) => filters.push(format!("rotate({})", r.degrees())),
            Edit::Grayscale => filters.push("grayscale()".into()),
            // thumbor's sigma is radius / 2
            Edit::Blur(sigma) => filters.push(format!("blur({})", sigma * 2.0)),
            Edit::Sharpen(sigma) => {
                let sigma = sigma.unwrap_or(1.0);
                if sigma < 1.0 {
                    return unavailable(format!(
                        "thumbor's sharpen(amount,radius) has a sigma of 1 + radius/2, at least 1; sharpen={sigma} is below"
                    ));
                }
                filters.push(format!("sharpen(1,{})", (sigma - 1.0) * 2.0));
            }
            Edit::Flatten(color) => filters.push(format!("background_color({})", hex(*color))),
            other => {
                return unavailable(format!(
                    "the playground does not write the {} edit as a thumbor path",
                    edit_name(other)
                ));
            }
        }
    }
    let mut segments: Vec<String> = Vec::new();
    if let Some(r) = resize {
        let both = r.width.is_some() && r.height.is_some();
        match r.fit {
            _ if !both => {}
            Fit::Cover => {}
            Fit::Inside => segments.push("fit-in".into()),
            Fit::Outside => segments.push("full-fit-in".into()),
            Fit::Contain => {
                segments.push("fit-in".into());
                let fill = r.background.unwrap_or(Color::TRANSPARENT);
                filters.push(format!("fill({})", hex(fill)));
            }
            Fit::Fill => filters.push("stretch()".into()),
        }
        if r.without_enlargement {
            filters.push("no_upscale()".into());
        }
        if r.adaptive {
            return unavailable("adaptive resizes are not written by the playground");
        }
        segments.push(size_segment(r.width, r.height, flop, flip));
        if both && r.fit == Fit::Cover {
            match r.position {
                Position::Attention => segments.push("smart".into()),
                Position::Entropy => {
                    return unavailable(
                        "thumbor has no entropy crop (its smart/ is the attention crop)",
                    );
                }
                Position::Focal { .. } | Position::FocalPixel { .. } => {
                    return unavailable(
                        "thumbor's focal() takes pixels of the original, not fractions",
                    );
                }
                p => {
                    let (h, v) = alignment(p);
                    segments.extend(h.map(String::from));
                    segments.extend(v.map(String::from));
                }
            }
        } else if both && r.fit == Fit::Contain && r.position != Position::Centre {
            return unavailable("thumbor always centres the image it pads (fill())");
        }
    } else if flip || flop {
        segments.push(size_segment(None, None, flop, flip));
    }

    let output = &request.output;
    if let Some(format) = output.format {
        filters.push(format!("format({})", format.name()));
    }
    if let Some(q) = output.quality {
        filters.push(format!("quality({q})"));
    }
    if let Some(bytes) = output.max_bytes {
        filters.push(format!("max_bytes({bytes})"));
    }
    if !output.metadata.is_none() {
        let (mode, strip_exif, strip_icc) = output.metadata.spelled();
        filters.push(format!("metadata({mode})"));
        if strip_exif {
            filters.push("strip_exif()".into());
        }
        if strip_icc {
            filters.push("strip_icc()".into());
        }
    }
    if output.progressive
        || output.lossless
        || output.near_lossless
        || output.effort.is_some()
        || output.preferred.is_some()
    {
        return unavailable(
            "thumbor has no filter for progressive, lossless or effort options, nor a preferred format",
        );
    }
    if !request.headers.is_empty() {
        return unavailable("thumbor paths cannot carry response headers");
    }
    if !filters.is_empty() {
        segments.push(format!("filters:{}", filters.join(":")));
    }
    let key = key_path(&request.source.key).map_err(|e| Unavailable(e.to_string()))?;
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.push_str(&segment);
    }
    path.push_str(&key);
    Ok(path)
}

/// The default request (`/<base64 of the JSON>`) of `request`, and its JSON.
/// Edits are written in the request's order, which SIH applies in JSON key order.
pub fn default_path(request: &ImageRequest) -> Result<(String, Value), Unavailable> {
    let mut edits = Map::new();
    let mut put = |name: &str, value: Value| -> Result<(), Unavailable> {
        if edits.insert(name.to_string(), value).is_some() {
            return unavailable(format!("a default request holds one {name} edit"));
        }
        Ok(())
    };
    for edit in &request.edits {
        match edit {
            Edit::Rotate(r) => match r.degrees() {
                d if d.fract() == 0.0 => put("rotate", json!(d as i64))?,
                d => put("rotate", json!(d))?,
            },
            Edit::Flip => put("flip", json!(true))?,
            Edit::Flop => put("flop", json!(true))?,
            Edit::Grayscale => put("grayscale", json!(true))?,
            Edit::Blur(sigma) => put("blur", json!(sigma))?,
            Edit::Sharpen(None) => put("sharpen", json!(true))?,
            Edit::Sharpen(Some(sigma)) => put("sharpen", json!(sigma))?,
            Edit::Flatten(color) => put("flatten", json!({"background": css(*color)}))?,
            Edit::Resize(r) => {
                if r.adaptive {
                    return unavailable("sharp has no adaptive resize");
                }
                let mut o = Map::new();
                if let Some(w) = r.width {
                    o.insert("width".into(), json!(w));
                }
                if let Some(h) = r.height {
                    o.insert("height".into(), json!(h));
                }
                if r.fit != Fit::Cover {
                    o.insert("fit".into(), json!(r.fit.name()));
                }
                match r.position {
                    Position::Centre => {}
                    Position::Focal { .. } | Position::FocalPixel { .. } => {
                        return unavailable("sharp's position has no focal point");
                    }
                    p => {
                        o.insert("position".into(), json!(position_name(p)));
                    }
                }
                if let Some(bg) = r.background {
                    o.insert("background".into(), json!(css(bg)));
                }
                if r.without_enlargement {
                    o.insert("withoutEnlargement".into(), json!(true));
                }
                put("resize", Value::Object(o))?;
            }
            other => {
                return unavailable(format!(
                    "the playground does not write the {} edit as a default request",
                    edit_name(other)
                ));
            }
        }
    }
    let output = &request.output;
    let mut options = Map::new();
    if let Some(q) = output.quality {
        options.insert("quality".into(), json!(q));
    }
    if output.progressive {
        options.insert("progressive".into(), json!(true));
    }
    if output.lossless
        || output.near_lossless
        || output.effort.is_some()
        || output.max_bytes.is_some()
    {
        return unavailable("the playground does not write lossless, effort or max_bytes options");
    }
    match output.format {
        Some(format) => {
            if !options.is_empty() {
                put(format.name(), Value::Object(options))?;
            }
            put("toFormat", json!(format.name()))?;
        }
        None if !options.is_empty() => {
            return unavailable(
                "a default request sets quality and progressive per format ({\"webp\": {\"quality\": 60}}), which also picks that format: choose a format",
            );
        }
        None => {}
    }
    if !request.headers.is_empty() {
        return unavailable("the playground does not write response headers");
    }
    let metadata = (!output.metadata.is_none()).then(|| output.metadata.spelled());
    if let Some((_, strip_exif, strip_icc)) = metadata {
        if strip_exif {
            put("stripExif", json!(true))?;
        }
        if strip_icc {
            put("stripIcc", json!(true))?;
        }
    }
    let mut object = Map::new();
    if let Some(bucket) = &request.source.bucket {
        object.insert("bucket".into(), json!(bucket));
    }
    object.insert("key".into(), json!(request.source.key));
    if !edits.is_empty() {
        object.insert("edits".into(), Value::Object(edits));
    }
    if let Some(preferred) = output.preferred {
        object.insert("outputFormat".into(), json!(preferred.name()));
    }
    if let Some((mode, _, _)) = metadata {
        object.insert("metadata".into(), json!(mode));
    }
    let value = Value::Object(object);
    let text = value.to_string();
    let path = format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    );
    Ok((path, value))
}

/// Whether two requests ask for the same image: equal once the differences
/// that change nothing are removed (the fit and position of a resize with one
/// free side, the padding colour of a resize that does not pad, a default
/// sharpen written as its sigma of 1, the order of a flip and a flop next to
/// each other, a preferred format under a forced one), with numbers equal
/// to 1e-9 relative.
pub fn same_image(a: &ImageRequest, b: &ImageRequest) -> bool {
    let (a, b) = (normalised(a), normalised(b));
    match (serde_json::to_value(&a), serde_json::to_value(&b)) {
        (Ok(a), Ok(b)) => close(&a, &b),
        _ => false,
    }
}

fn normalised(request: &ImageRequest) -> ImageRequest {
    let mut r = request.clone();
    // A preferred format only matters when none is forced.
    if r.output.format.is_some() {
        r.output.preferred = None;
    }
    for edit in &mut r.edits {
        match edit {
            Edit::Resize(resize) => {
                let both = resize.width.is_some() && resize.height.is_some();
                if !both {
                    resize.fit = Fit::Inside;
                    resize.position = Position::Centre;
                }
                if resize.fit == Fit::Contain {
                    resize.background = Some(resize.background.unwrap_or(Color::TRANSPARENT));
                } else {
                    resize.background = None;
                }
                if matches!(resize.fit, Fit::Inside | Fit::Outside | Fit::Fill) {
                    resize.position = Position::Centre;
                }
            }
            Edit::Sharpen(sigma @ None) => *sigma = Some(1.0),
            _ => {}
        }
    }
    // A flip and a flop next to each other commute.
    for i in 1..r.edits.len() {
        if r.edits[i - 1] == Edit::Flop && r.edits[i] == Edit::Flip {
            r.edits.swap(i - 1, i);
        }
    }
    r
}

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

fn size_segment(width: Option<u32>, height: Option<u32>, flop: bool, flip: bool) -> String {
    format!(
        "{}{}x{}{}",
        if flop { "-" } else { "" },
        width.unwrap_or(0),
        if flip { "-" } else { "" },
        height.unwrap_or(0)
    )
}

fn alignment(p: Position) -> (Option<&'static str>, Option<&'static str>) {
    match p {
        Position::North => (None, Some("top")),
        Position::NorthEast => (Some("right"), Some("top")),
        Position::East => (Some("right"), None),
        Position::SouthEast => (Some("right"), Some("bottom")),
        Position::South => (None, Some("bottom")),
        Position::SouthWest => (Some("left"), Some("bottom")),
        Position::West => (Some("left"), None),
        Position::NorthWest => (Some("left"), Some("top")),
        _ => (None, None),
    }
}

fn position_name(p: Position) -> &'static str {
    match p {
        Position::North => "north",
        Position::NorthEast => "northeast",
        Position::East => "east",
        Position::SouthEast => "southeast",
        Position::South => "south",
        Position::SouthWest => "southwest",
        Position::West => "west",
        Position::NorthWest => "northwest",
        Position::Entropy => "entropy",
        Position::Attention => "attention",
        _ => "centre",
    }
}

/// `rrggbb`, or `rrggbbaa` when not opaque (thumbor colours have no `#`).
fn hex(c: Color) -> String {
    if c.a == 255 {
        format!("{:02x}{:02x}{:02x}", c.r, c.g, c.b)
    } else {
        format!("{:02x}{:02x}{:02x}{:02x}", c.r, c.g, c.b, c.a)
    }
}

/// `#rrggbb[aa]`, as sharp takes a colour string.
fn css(c: Color) -> String {
    format!("#{}", hex(c))
}

fn edit_name(edit: &Edit) -> String {
    serde_json::to_value(edit)
        .ok()
        .and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Object(o) => o.keys().next().cloned(),
            _ => None,
        })
        .unwrap_or_else(|| "this".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{self, Limits, Rules, query};

    fn rules() -> Rules<'static> {
        Rules {
            limits: Limits::default(),
            buckets: &[],
        }
    }

    /// The query request, its thumbor and default forms, each parsed back by the server's parsers.
    fn forms(
        q: &str,
    ) -> (
        ImageRequest,
        Result<ImageRequest, Unavailable>,
        Result<ImageRequest, Unavailable>,
    ) {
        let target = query::parse("/dune.jpg", Some(q), &Limits::default()).unwrap();
        let back = |path: Result<String, Unavailable>| {
            path.map(|p| {
                request::parse(&p, &rules(), None)
                    .unwrap_or_else(|e| panic!("{p}: {e}"))
                    .request
            })
        };
        (
            target.clone(),
            back(thumbor_path(&target)),
            back(default_path(&target).map(|(p, _)| p)),
        )
    }

    #[test]
    fn the_playground_edits_round_trip() {
        for q in [
            "width=300",
            "height=200&format=webp",
            "width=300&height=200&fit=inside",
            "width=300&height=200&fit=outside",
            "width=300&height=200&fit=fill",
            "width=300&height=200&fit=contain&background=ff000080&format=png",
            "width=300&height=200&position=attention",
            "width=300&height=200&position=right+top&quality=60&format=jpeg",
            "width=300&height=300&position=west",
            "flip=1&flop=1&width=200",
            "flip=1",
            "grayscale=1&blur=2.5&sharpen=1.5&background=white",
            "sharpen=true",
            "rotate=90",
            "dpr=2&width=150&format=avif&quality=40",
            "width=100&metadata=keep",
            "width=100&metadata=copyright&format=png",
        ] {
            let (target, thumbor, default) = forms(q);
            let thumbor = thumbor.unwrap_or_else(|e| panic!("{q}: {e}"));
            assert!(
                same_image(&target, &thumbor),
                "{q}: {target:?} vs {thumbor:?}"
            );
            let default = default.unwrap_or_else(|e| panic!("{q}: {e}"));
            assert!(
                same_image(&target, &default),
                "{q}: {target:?} vs {default:?}"
            );
        }
    }

    #[test]
    fn what_a_style_cannot_say_is_reported() {
        // thumbor rotates after the resize: the path is written, and the check catches it
        let (target, thumbor, default) = forms("rotate=90&width=300");
        assert!(!same_image(&target, &thumbor.unwrap()));
        assert!(same_image(&target, &default.unwrap()));
        // no entropy crop in thumbor, no quality without a format in a default request
        let (_, thumbor, _) = forms("width=300&height=300&position=entropy");
        assert!(thumbor.unwrap_err().0.contains("entropy"));
        let (_, _, default) = forms("width=300&quality=50");
        assert!(default.unwrap_err().0.contains("choose a format"));
        let (_, thumbor, _) = forms("sharpen=0.5");
        assert!(thumbor.unwrap_err().0.contains("sharpen"));
        let (_, thumbor, _) = forms("width=10&flip=1&grayscale=1&progressive=1");
        assert!(thumbor.is_err());
    }

    #[test]
    fn written_forms() {
        let target = query::parse(
            "/dir/a%20b.jpg",
            Some("width=300&height=200&position=attention&grayscale=1&format=webp&quality=70"),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            thumbor_path(&target).unwrap(),
            "/300x200/smart/filters:grayscale():format(webp):quality(70)/dir/a%20b.jpg"
        );
        let (path, json) = default_path(&target).unwrap();
        assert_eq!(
            json.to_string(),
            r#"{"key":"dir/a b.jpg","edits":{"resize":{"width":300,"height":200,"position":"attention"},"grayscale":true,"webp":{"quality":70},"toFormat":"webp"}}"#
        );
        assert!(path.starts_with("/eyJ"));
    }

    #[test]
    fn sameness_ignores_only_what_changes_nothing() {
        let l = Limits::default();
        let q = |s: &str| query::parse("/a.jpg", Some(s), &l).unwrap();
        assert!(same_image(&q("width=300&fit=contain"), &q("width=300")));
        assert!(!same_image(
            &q("width=300&height=2&fit=contain"),
            &q("width=300&height=2")
        ));
        assert!(same_image(&q("sharpen=true"), &q("sharpen=1")));
        assert!(!same_image(&q("blur=1"), &q("blur=1.001")));
        assert!(!same_image(&q("format=png"), &q("format=webp")));
    }
}
