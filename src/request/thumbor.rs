//! The Thumbor URL style: `/unsafe/300x200/smart/filters:grayscale()/photos/cat.jpg`.
//!
//! This module owns Thumbor's path grammar and its mapping onto the request
//! model, following AWS Serverless Image Handler (SIH) where SIH documents a
//! mapping and Thumbor itself where SIH has none:
//!
//! ```text
//! /[unsafe/|<hmac>/][trim[:top-left|bottom-right][:tolerance]/][AxB:CxD/]
//!  [fit-in/|full-fit-in/|adaptive-fit-in/|adaptive-full-fit-in/][-]Wx[-]H/
//!  [left|center|right/][top|middle|bottom/][smart/]
//!  [filters:f(args):g(args)/ | s3:<bucket>/]...<key>
//! ```
//!
//! Options are positional, as in Thumbor: each may appear only in this order
//! and at most once, and the first segment that is none of the options still
//! allowed at its place starts the key (so `/100x100/test-100x100/a.jpg` has
//! the key `test-100x100/a.jpg`). `filters:` segments may repeat. The one
//! `s3:<bucket>` segment may stand anywhere before the key, as SIH allows
//! (`/s3:b/fit-in/100x100/k.jpg`), but never before a signature. The *shape*
//! of a segment decides its role and its *values* decide whether the request
//! is valid: `99999x1` is a size that is too large (400), not a key, and any
//! segment starting `filters:` is a filter list, whose syntax errors are 400s.
//!
//! Where this differs from SIH: `unsafe/` is stripped (SIH keeps it in the
//! key); options are only recognised in their place (SIH finds `fit-in` or a
//! size anywhere in the path, even inside the key); filters apply in URL
//! order (SIH sorts them by name); an `s3:` bucket that is not allowed is a
//! 403 rather than skipped; trim, halign/valign, `smart` and negative sizes
//! (flips) are supported; `heif`/`heic` output is refused with a 400.
//!
//! Edits come out in this order: trim, crop (extract), the flips of negative
//! sizes, the resize, then the filters' edits in URL order. Filters that
//! change the resize (`fill`, `no_upscale`, `upscale`, `stretch`,
//! `proportion`) change that one resize wherever they appear; output filters
//! (`format`, `autojpg`, `quality`, `max_bytes`) set [`Output`]. Unknown
//! filters are ignored, as SIH does. The query string is not read here.

use percent_encoding::percent_decode_str;

use super::query::{parse_bool, parse_dimension, parse_float_in, parse_quality, parse_rotate};
use super::{
    Color, Edit, Fit, ImageRequest, Kernel, Limits, Output, OutputFormat, Position, Region, Resize,
    Rules, Source, Trim, TrimBackground,
};
use super::{Modulate, Offset, Overlay, RoundCrop};
use crate::error::{Error, Result};

/// A Thumbor path, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The request (source, ordered edits, output).
    pub request: ImageRequest,
    /// Thumbor's own signature segment, if the path starts with one: the
    /// base64url HMAC and the rest of the path it signs (without the leading
    /// `/`, still percent-encoded as received).
    pub hmac: Option<(String, String)>,
    /// Presets named by `preset:<name>` segments, to apply before the filters' edits.
    pub presets: Vec<String>,
}

/// The largest trim tolerance: the RGB distance from black to white (√(3·255²) ≈ 441.7).
const MAX_TRIM_TOLERANCE: u32 = 442;
/// The largest side of a convolution kernel.
const MAX_KERNEL_SIDE: usize = 1001;
/// The prefix of a filter-list segment.
const FILTERS: &str = "filters:";
/// The prefix of a bucket segment.
const S3: &str = "s3:";

/// Parses a Thumbor path: `path` is the raw URL path (still percent-encoded,
/// with its leading `/`, without the query string).
///
/// The key is the rest of the path after the options, percent-decoded.
///
/// # Errors
///
/// - [`Error::MissingKey`] when nothing is left for the key, and
///   [`Error::InvalidKey`] when it is not UTF-8 or holds a NUL once decoded;
/// - [`Error::BucketNotAllowed`] (403) when an `s3:<bucket>` segment names a
///   bucket that [`Rules::check_bucket`] refuses;
/// - [`Error::InvalidParameter`] for a bad value, naming the option (`width`,
///   `height`, `crop`, `trim`, `s3`) or the filter (`blur`, `fill`, ...), or
///   `filters` for a filter list that is not `name(args):name(args)`;
/// - [`Error::UnsupportedEdit`] for `fill(auto)` and `fill(blur)`.
pub fn parse(path: &str, rules: &Rules<'_>) -> Result<Parsed> {
    let mut rest = path.strip_prefix('/').unwrap_or(path);
    let mut options = Options::default();
    let mut hmac = None;
    let mut next = 0;
    'segments: while let Some((segment, after)) = next_segment(rest) {
        // SIH accepts the `s3:<bucket>` segment anywhere before the key. It
        // never moves the options on, but a signature may only come first.
        if let Some(bucket) = segment.strip_prefix(S3) {
            options.take_bucket(bucket, rules)?;
            next = next.max(1);
            rest = after;
            continue;
        }
        for (i, stage) in STAGES.iter().enumerate().skip(next) {
            if options.take(*stage, segment, after, &mut hmac, rules)? {
                next = if *stage == Stage::Tail { i } else { i + 1 };
                rest = after;
                continue 'segments;
            }
        }
        break;
    }
    let key = super::decode_key(rest)?;

    let mut resize = options.resize();
    let mut filtered = Vec::new();
    let mut output = Output::default();
    for segment in &options.filters {
        apply_filters(segment, &mut resize, &mut filtered, &mut output)?;
    }
    if let Some(r) = &resize {
        r.check_box(&rules.limits)?;
    }

    let mut edits = Vec::new();
    edits.extend(options.trim.map(Edit::Trim));
    edits.extend(options.extract.map(Edit::Extract));
    if let Some(size) = &options.size {
        if size.flop {
            edits.push(Edit::Flop);
        }
        if size.flip {
            edits.push(Edit::Flip);
        }
    }
    edits.extend(resize.map(Edit::Resize));
    edits.extend(filtered);

    Ok(Parsed {
        request: ImageRequest {
            source: Source {
                bucket: options.bucket,
                key,
            },
            edits,
            output,
            headers: Vec::new(),
        },
        hmac,
        presets: options.presets,
    })
}

/// The options of the grammar, in the order they may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Signature,
    Trim,
    Crop,
    FitIn,
    Size,
    HAlign,
    VAlign,
    Smart,
    /// `filters:` and `s3:` segments, repeatable.
    Tail,
}

const STAGES: [Stage; 9] = [
    Stage::Signature,
    Stage::Trim,
    Stage::Crop,
    Stage::FitIn,
    Stage::Size,
    Stage::HAlign,
    Stage::VAlign,
    Stage::Smart,
    Stage::Tail,
];

/// Horizontal alignment of a crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum HAlign {
    Left,
    #[default]
    Center,
    Right,
}

/// Vertical alignment of a crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum VAlign {
    Top,
    #[default]
    Middle,
    Bottom,
}

/// A `WxH` segment.
#[derive(Debug, Clone, Copy)]
struct Size {
    width: Option<u32>,
    height: Option<u32>,
    /// `-W`: mirror left to right.
    flop: bool,
    /// `-H`: mirror top to bottom.
    flip: bool,
}

/// The path options, as read.
#[derive(Debug, Default)]
struct Options {
    trim: Option<Trim>,
    extract: Option<Region>,
    /// The fit of a `fit-in` flavour, and whether it is adaptive.
    fit_in: Option<(Fit, bool)>,
    size: Option<Size>,
    halign: Option<HAlign>,
    valign: Option<VAlign>,
    smart: bool,
    /// `filters:` segments, percent-decoded, in URL order.
    filters: Vec<String>,
    bucket: Option<String>,
    /// `preset:<name>` segments, in URL order.
    presets: Vec<String>,
}

impl Options {
    /// Reads `segment` as `stage`; `Ok(false)` if it does not have that shape.
    fn take(
        &mut self,
        stage: Stage,
        segment: &str,
        after: &str,
        hmac: &mut Option<(String, String)>,
        rules: &Rules<'_>,
    ) -> Result<bool> {
        match stage {
            Stage::Signature => {
                if segment == "unsafe" {
                    return Ok(true);
                }
                if is_hmac(segment) {
                    *hmac = Some((segment.to_string(), after.to_string()));
                    return Ok(true);
                }
            }
            Stage::Trim => {
                if let Some(trim) = parse_trim(segment)? {
                    self.trim = Some(trim);
                    return Ok(true);
                }
            }
            Stage::Crop => {
                if let Some(region) = parse_crop(segment)? {
                    self.extract = Some(region);
                    return Ok(true);
                }
            }
            Stage::FitIn => {
                let fit = match segment {
                    "fit-in" => Some((Fit::Inside, false)),
                    "full-fit-in" => Some((Fit::Outside, false)),
                    "adaptive-fit-in" => Some((Fit::Inside, true)),
                    "adaptive-full-fit-in" => Some((Fit::Outside, true)),
                    _ => None,
                };
                if fit.is_some() {
                    self.fit_in = fit;
                    return Ok(true);
                }
            }
            Stage::Size => {
                if let Some(size) = parse_size(segment, &rules.limits)? {
                    self.size = Some(size);
                    return Ok(true);
                }
            }
            Stage::HAlign => {
                let halign = match segment {
                    "left" => Some(HAlign::Left),
                    "center" => Some(HAlign::Center),
                    "right" => Some(HAlign::Right),
                    _ => None,
                };
                if halign.is_some() {
                    self.halign = halign;
                    return Ok(true);
                }
            }
            Stage::VAlign => {
                let valign = match segment {
                    "top" => Some(VAlign::Top),
                    "middle" => Some(VAlign::Middle),
                    "bottom" => Some(VAlign::Bottom),
                    _ => None,
                };
                if valign.is_some() {
                    self.valign = valign;
                    return Ok(true);
                }
            }
            Stage::Smart => {
                if segment == "smart" {
                    self.smart = true;
                    return Ok(true);
                }
            }
            Stage::Tail => {
                if segment.starts_with(FILTERS) {
                    let decoded = percent_decode_str(segment).decode_utf8().map_err(|_| {
                        Error::param(
                            "filters",
                            format!(
                                "the filters segment {segment:?} is not UTF-8 once percent-decoded"
                            ),
                        )
                    })?;
                    self.filters.push(decoded.into_owned());
                    return Ok(true);
                }
                if let Some(name) = segment.strip_prefix("preset:") {
                    if name.is_empty() {
                        return Err(Error::param(
                            "preset",
                            "the preset: segment names no preset: write preset:<name>/",
                        ));
                    }
                    self.presets.push(name.to_string());
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Takes the one `s3:<bucket>` segment, checked against the allow-list.
    fn take_bucket(&mut self, bucket: &str, rules: &Rules<'_>) -> Result<()> {
        if self.bucket.is_some() {
            return Err(Error::param(
                "s3",
                format!("s3:{bucket} is a second bucket: name at most one s3:<bucket> segment"),
            ));
        }
        if bucket.is_empty() {
            return Err(Error::param(
                "s3",
                "the s3: segment names no bucket: write s3:<bucket>/",
            ));
        }
        rules.check_bucket(bucket)?;
        self.bucket = Some(bucket.to_string());
        Ok(())
    }

    /// The resize the size, fit-in and alignment segments ask for, if any.
    fn resize(&self) -> Option<Resize> {
        let size = self.size?;
        if size.width.is_none() && size.height.is_none() {
            return None;
        }
        let fit = match self.fit_in {
            Some((fit, _)) => fit,
            // Thumbor crops to fill a box; one free side keeps the aspect
            // ratio, which SIH writes as `inside`.
            None if size.width.is_some() && size.height.is_some() => Fit::Cover,
            None => Fit::Inside,
        };
        Some(Resize {
            width: size.width,
            height: size.height,
            fit,
            position: self.position(),
            background: None,
            without_enlargement: false,
            adaptive: self.fit_in.is_some_and(|(_, adaptive)| adaptive),
        })
    }

    /// The crop position from `smart` or the alignments.
    fn position(&self) -> Position {
        if self.smart {
            return Position::Attention;
        }
        match (
            self.halign.unwrap_or_default(),
            self.valign.unwrap_or_default(),
        ) {
            (HAlign::Left, VAlign::Top) => Position::NorthWest,
            (HAlign::Center, VAlign::Top) => Position::North,
            (HAlign::Right, VAlign::Top) => Position::NorthEast,
            (HAlign::Left, VAlign::Middle) => Position::West,
            (HAlign::Center, VAlign::Middle) => Position::Centre,
            (HAlign::Right, VAlign::Middle) => Position::East,
            (HAlign::Left, VAlign::Bottom) => Position::SouthWest,
            (HAlign::Center, VAlign::Bottom) => Position::South,
            (HAlign::Right, VAlign::Bottom) => Position::SouthEast,
        }
    }
}

/// Splits off the next `/`-terminated segment: `(segment, rest after the /)`.
///
/// A segment that is the last one (no `/` after it) is never an option. A
/// `filters:` segment ends at the first `/` outside parentheses, so filter
/// arguments may contain `/`; with unbalanced parentheses it ends at the first `/`.
fn next_segment(rest: &str) -> Option<(&str, &str)> {
    let end = if rest.starts_with(FILTERS) {
        slash_outside_parens(rest).or_else(|| rest.find('/'))
    } else {
        rest.find('/')
    }?;
    Some((rest.get(..end)?, rest.get(end + 1..)?))
}

fn slash_outside_parens(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'/' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// Thumbor's signature: base64url of a 20-byte HMAC-SHA1, with its `=` padding.
fn is_hmac(segment: &str) -> bool {
    segment.len() == 28
        && segment.ends_with('=')
        && segment
            .bytes()
            .take(27)
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `trim`, `trim:top-left`, `trim:bottom-right`, each with an optional `:tolerance`.
fn parse_trim(segment: &str) -> Result<Option<Trim>> {
    let Some(spec) = segment.strip_prefix("trim") else {
        return Ok(None);
    };
    let mut parts = spec.split(':');
    if parts.next() != Some("") {
        return Ok(None);
    }
    let parts: Vec<&str> = parts.collect();
    let (corner, tolerance) = match parts.as_slice() {
        [] => (None, None),
        [t] if is_digits(t) => (None, Some(*t)),
        [c] => (Some(*c), None),
        [c, t] if is_digits(t) => (Some(*c), Some(*t)),
        _ => return Ok(None),
    };
    let background = match corner {
        None | Some("top-left") => TrimBackground::TopLeft,
        Some("bottom-right") => TrimBackground::BottomRight,
        Some(_) => return Ok(None),
    };
    let threshold = match tolerance {
        None => 0,
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|t| *t <= MAX_TRIM_TOLERANCE)
            .ok_or_else(|| {
                Error::param(
                    "trim",
                    format!(
                        "{segment}: the tolerance {t} is out of range: use a whole number from 0 to {MAX_TRIM_TOLERANCE}"
                    ),
                )
            })?,
    };
    Ok(Some(Trim {
        threshold: f64::from(threshold),
        background,
    }))
}

/// `AxB:CxD`, the top-left and bottom-right corners of a crop.
fn parse_crop(segment: &str) -> Result<Option<Region>> {
    fn corner(s: &str) -> Option<(&str, &str)> {
        s.split_once('x')
            .filter(|(x, y)| is_digits(x) && is_digits(y))
    }
    let Some((a, c)) = segment.split_once(':') else {
        return Ok(None);
    };
    let (Some((left, top)), Some((right, bottom))) = (corner(a), corner(c)) else {
        return Ok(None);
    };
    let number = |v: &str| {
        v.parse::<u32>().map_err(|_| {
            Error::param(
                "crop",
                format!(
                    "crop {segment}: {v} is above the largest coordinate, {}",
                    u32::MAX
                ),
            )
        })
    };
    let (left, top, right, bottom) = (number(left)?, number(top)?, number(right)?, number(bottom)?);
    if right <= left || bottom <= top {
        return Err(Error::param(
            "crop",
            format!(
                "crop {segment}: the bottom-right corner {right}x{bottom} must be right of and below the top-left corner {left}x{top}"
            ),
        ));
    }
    Ok(Some(Region {
        left,
        top,
        width: right - left,
        height: bottom - top,
    }))
}

/// `[-]Wx[-]H`, each side digits, empty or `orig`.
fn parse_size(segment: &str, limits: &Limits) -> Result<Option<Size>> {
    fn side(s: &str) -> Option<(bool, &str)> {
        let (negative, v) = match s.strip_prefix('-') {
            Some(v) => (true, v),
            None => (false, s),
        };
        (v.is_empty() || v == "orig" || is_digits(v)).then_some((negative, v))
    }
    let Some((w, h)) = segment.split_once('x') else {
        return Ok(None);
    };
    let (Some((flop, w)), Some((flip, h))) = (side(w), side(h)) else {
        return Ok(None);
    };
    let dimension = |param: &str, v: &str, max: u32| {
        if v == "orig" {
            Ok(None)
        } else {
            parse_dimension(param, v, max)
        }
    };
    // Bounded by the output limits once the filters are read: `no_upscale()` lifts them.
    let (max_w, max_h) = Resize::box_limits(true, limits);
    Ok(Some(Size {
        width: dimension("width", w, max_w)?,
        height: dimension("height", h, max_h)?,
        flop,
        flip,
    }))
}

/// Applies one `filters:` segment (percent-decoded), filter by filter.
fn apply_filters(
    segment: &str,
    resize: &mut Option<Resize>,
    edits: &mut Vec<Edit>,
    output: &mut Output,
) -> Result<()> {
    let list = segment.strip_prefix(FILTERS).unwrap_or(segment);
    if list.is_empty() {
        return Err(Error::param(
            "filters",
            "the filters: segment names no filter: write filters:name(arguments)",
        ));
    }
    for call in split_outside_parens(list, ':') {
        let (name, args) = parse_call(call)?;
        apply_filter(name, args, resize, edits, output)?;
    }
    Ok(())
}

/// Splits `s` on `sep` where it is not inside parentheses.
fn split_outside_parens(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                parts.push(s.get(start..i).unwrap_or(""));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(s.get(start..).unwrap_or(""));
    parts
}

fn is_filter_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `name(arguments)` → `(name, arguments)`.
fn parse_call(call: &str) -> Result<(&str, &str)> {
    let Some((name, tail)) = call.split_once('(') else {
        return Err(if is_filter_name(call) {
            Error::param(
                call,
                format!("filter {call} has no argument list: write {call}()"),
            )
        } else {
            Error::param(
                "filters",
                format!("{call:?} is not a filter: write name(arguments)"),
            )
        });
    };
    if !is_filter_name(name) {
        return Err(Error::param(
            "filters",
            format!(
                "{call:?} is not a filter: write name(arguments), the name in letters, digits and _"
            ),
        ));
    }
    let mut depth = 1usize;
    for (i, c) in tail.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return match (tail.get(..i), tail.get(i + 1..)) {
                        (Some(args), Some("")) => Ok((name, args)),
                        _ => Err(Error::param(
                            name,
                            format!("filter {call:?} has text after its closing parenthesis"),
                        )),
                    };
                }
            }
            _ => {}
        }
    }
    Err(Error::param(
        name,
        format!("filter {call:?} is missing its closing parenthesis"),
    ))
}

/// The comma-separated arguments of `name(args)`, trimmed, checked for count.
fn arguments<'a>(name: &str, args: &'a str, min: usize, max: usize) -> Result<Vec<&'a str>> {
    let list: Vec<&str> = if args.trim().is_empty() {
        Vec::new()
    } else {
        args.split(',').map(str::trim).collect()
    };
    if (min..=max).contains(&list.len()) {
        return Ok(list);
    }
    let wanted = match (min, max) {
        (0, 0) => "no arguments".to_string(),
        (1, 1) => "1 argument".to_string(),
        (a, b) if a == b => format!("{a} arguments"),
        (a, b) => format!("{a} to {b} arguments"),
    };
    Err(Error::param(
        name,
        format!("{name}({args}): {name} takes {wanted}, not {}", list.len()),
    ))
}

/// The one argument of a filter that takes exactly one.
fn argument<'a>(name: &str, args: &'a str) -> Result<&'a str> {
    let list = arguments(name, args, 1, 1)?;
    Ok(list.first().copied().unwrap_or(""))
}

/// A number argument, finite.
fn number(name: &str, what: &str, value: &str) -> Result<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            Error::param(
                name,
                format!("{name}: the {what} {value:?} is not a number"),
            )
        })
}

/// A boolean argument that defaults to true when empty.
fn flag_default_true(name: &str, value: Option<&&str>) -> Result<bool> {
    match value {
        None | Some(&"") => Ok(true),
        Some(v) => parse_bool(name, v),
    }
}

/// Applies one filter. Unknown names are ignored, as SIH does.
fn apply_filter(
    name: &str,
    args: &str,
    resize: &mut Option<Resize>,
    edits: &mut Vec<Edit>,
    output: &mut Output,
) -> Result<()> {
    match name {
        "autojpg" => {
            let list = arguments(name, args, 0, 1)?;
            if flag_default_true(name, list.first())? {
                output.format = Some(OutputFormat::Jpeg);
            }
        }
        "format" => {
            let value = argument(name, args).unwrap_or("");
            match parse_format(value) {
                Ok(format) => output.format = Some(format),
                // SIH maps these and then fails; we refuse them plainly
                Err(e) if ["heif", "heic"].contains(&value.to_ascii_lowercase().as_str()) => {
                    return Err(e);
                }
                // SIH ignores any other format name and keeps the source's (issue 20)
                Err(_) => {}
            }
        }
        "quality" => output.quality = Some(parse_quality(name, argument(name, args)?)?),
        "max_bytes" => {
            let v = argument(name, args)?;
            let bytes = v.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                Error::param(
                    name,
                    format!(
                        "max_bytes({v}) is not a size: use a whole number of bytes, at least 1"
                    ),
                )
            })?;
            output.max_bytes = Some(bytes);
        }
        "background_color" => {
            let color = Color::parse(name, argument(name, args)?)?;
            edits.push(Edit::Flatten(color));
        }
        "blur" => {
            let list = arguments(name, args, 1, 2)?;
            let radius = parse_float_in(name, list.first().copied().unwrap_or(""), 0.0, 2000.0)?;
            let sigma = match list.get(1).copied().filter(|s| !s.is_empty()) {
                Some(s) => Some(parse_float_in(name, s, 0.3, 1000.0)?),
                None => None,
            };
            if radius > 0.0 {
                let sigma = sigma.unwrap_or(radius / 2.0);
                if sigma < 0.3 {
                    return Err(Error::param(
                        name,
                        format!(
                            "blur({args}) is a sigma of {sigma}, below 0.3: use a radius of 0 (no blur) or at least 0.6"
                        ),
                    ));
                }
                edits.push(Edit::Blur(sigma));
            }
        }
        "convolution" => edits.push(Edit::Convolve(parse_kernel(args)?)),
        "equalize" => {
            arguments(name, args, 0, 0)?;
            edits.push(Edit::Normalize);
        }
        "grayscale" => {
            arguments(name, args, 0, 0)?;
            edits.push(Edit::Grayscale);
        }
        "fill" => {
            let list = arguments(name, args, 1, 2)?;
            let value = list.first().copied().unwrap_or("");
            let lower = value.to_ascii_lowercase();
            if lower == "auto" || lower == "blur" {
                return Err(Error::UnsupportedEdit(format!("fill({lower})")));
            }
            let color = Color::parse(name, value)?;
            let fill_transparent = match list.get(1) {
                Some(v) => parse_bool(name, v)?,
                None => false,
            };
            if let Some(r) = resize.as_mut() {
                r.fit = Fit::Contain;
                r.background = Some(color);
            }
            if fill_transparent && color.a == 255 {
                edits.push(Edit::Flatten(color));
            }
        }
        "no_upscale" => {
            arguments(name, args, 0, 0)?;
            if let Some(r) = resize.as_mut() {
                r.without_enlargement = true;
            }
        }
        "upscale" => {
            arguments(name, args, 0, 0)?;
            if let Some(r) = resize.as_mut() {
                r.fit = Fit::Inside;
            }
        }
        "stretch" => {
            arguments(name, args, 0, 0)?;
            if let Some(r) = resize.as_mut().filter(|r| r.fit != Fit::Inside) {
                r.fit = Fit::Fill;
            }
        }
        "proportion" => {
            let v = argument(name, args)?;
            let ratio = v
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1.0)
                .ok_or_else(|| {
                    Error::param(
                        name,
                        format!(
                            "proportion({v}) is out of range: use a number above 0 and at most 1"
                        ),
                    )
                })?;
            match resize.as_mut() {
                Some(r) => {
                    let scale = |side: u32| ((f64::from(side) * ratio).round() as u32).max(1);
                    r.width = r.width.map(scale);
                    r.height = r.height.map(scale);
                }
                None => edits.push(Edit::Scale(ratio)),
            }
        }
        "rgb" => {
            let list = arguments(name, args, 3, 3)?;
            let mut channels = [0u8; 3];
            for (channel, v) in channels.iter_mut().zip(&list) {
                let percent = parse_float_in(name, v, -100.0, 100.0)?;
                *channel = (255.0 * percent / 100.0).round().clamp(0.0, 255.0) as u8;
            }
            let [r, g, b] = channels;
            edits.push(Edit::Tint(Color { r, g, b, a: 255 }));
        }
        "rotate" => {
            let list = arguments(name, args, 0, 1)?;
            if let Some(rotation) = parse_rotate(name, list.first().copied().unwrap_or(""))? {
                edits.push(Edit::Rotate(rotation));
            }
        }
        "sharpen" => {
            let list = arguments(name, args, 2, 3)?;
            number(name, "amount", list.first().copied().unwrap_or(""))?;
            let radius = number(name, "radius", list.get(1).copied().unwrap_or(""))?;
            if let Some(v) = list.get(2) {
                parse_bool(name, v)?;
            }
            edits.push(Edit::Sharpen(Some((1.0 + radius / 2.0).clamp(0.01, 10.0))));
        }
        "strip_exif" | "strip_icc" => {
            // Metadata is always stripped from the output.
            arguments(name, args, 0, 0)?;
        }
        "brightness" => {
            let n = parse_float_in(name, argument(name, args)?, -100.0, 100.0)?;
            edits.push(Edit::Linear {
                a: 1.0,
                b: 255.0 * n / 100.0,
            });
        }
        "contrast" => {
            let n = parse_float_in(name, argument(name, args)?, -100.0, 100.0)?;
            let f = 1.0 + n / 100.0;
            edits.push(Edit::Linear {
                a: f,
                b: 128.0 * (1.0 - f),
            });
        }
        "watermark" => {
            // watermark(bucket,key,x,y,alpha[,wRatio,hRatio]); the key may hold commas? No: SIH splits on commas.
            let list = arguments(name, args, 4, 7)?;
            let bucket = list[0].trim();
            let key = list[1].trim();
            if key.is_empty() {
                return Err(Error::param(name, "watermark names no image key"));
            }
            // The filters segment was percent-decoded once already: decoding
            // the key again would read `%2541` as `A`, not as `%41`.
            if key.contains('\0') {
                return Err(Error::param(name, "the watermark key contains a NUL byte"));
            }
            let alpha = match list.get(4).map(|a| a.trim()).filter(|a| !a.is_empty()) {
                Some(a) => a.parse::<u8>().ok().filter(|a| *a <= 100).ok_or_else(|| {
                    Error::param(
                        name,
                        format!("watermark alpha {a:?} is not a transparency from 0 to 100"),
                    )
                })?,
                None => 0,
            };
            let ratio = |i: usize| -> Result<Option<u8>> {
                match list
                    .get(i)
                    .map(|r| r.trim())
                    .filter(|r| !r.is_empty() && *r != "none")
                {
                    Some(r) => r
                        .parse::<u8>()
                        .ok()
                        .filter(|r| *r <= 100)
                        .map(Some)
                        .ok_or_else(|| {
                            Error::param(
                                name,
                                format!("watermark ratio {r:?} is not a percentage from 0 to 100"),
                            )
                        }),
                    None => Ok(None),
                }
            };
            edits.push(Edit::Overlay(Overlay {
                source: Source {
                    bucket: Some(bucket.to_string()).filter(|b| !b.is_empty()),
                    key: key.to_string(),
                },
                // SIH drops a position it cannot read and composites at
                // sharp's default, the centre (issue 20)
                left: Offset::parse(name, list[2]).unwrap_or(Offset::Center),
                top: Offset::parse(name, list[3]).unwrap_or(Offset::Center),
                alpha,
                width_ratio: ratio(5)?,
                height_ratio: ratio(6)?,
            }));
        }
        "saturation" => {
            let n = parse_float_in(name, argument(name, args)?, -100.0, 100.0)?;
            edits.push(Edit::Modulate(Modulate {
                saturation: 1.0 + n / 100.0,
                ..Modulate::default()
            }));
        }
        "round_corner" => {
            // round_corner(a|b,r,g,b[,transparent])
            let list = arguments(name, args, 4, 5)?;
            let radius = |v: &str| -> Result<u32> {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|r| *r <= 100_000)
                    .ok_or_else(|| {
                        Error::param(
                            name,
                            format!("round_corner radius {v:?} is not a whole number of pixels"),
                        )
                    })
            };
            let (rx, ry) = match list[0].split_once('|') {
                Some((a, b)) => (radius(a)?, radius(b)?),
                None => (radius(list[0])?, radius(list[0])?),
            };
            let channel = |v: &str| -> Result<u8> {
                v.trim().parse::<u8>().map_err(|_| {
                    Error::param(
                        name,
                        format!("round_corner colour channel {v:?} is not 0 to 255"),
                    )
                })
            };
            let color = Color {
                r: channel(list[1])?,
                g: channel(list[2])?,
                b: channel(list[3])?,
                a: 255,
            };
            let transparent = match list.get(4) {
                Some(v) => flag_default_true(name, Some(v))?,
                None => false,
            };
            let background = (!transparent).then_some(color);
            edits.push(Edit::RoundCrop(RoundCrop::Corners { rx, ry, background }));
        }
        "focal" => {
            // focal(AxB:CxD): the region's centre, in the original's pixels
            let v = argument(name, args)?;
            let bad = || {
                Error::param(
                    name,
                    format!("focal({v}) is not a region: use focal(LEFTxTOP:RIGHTxBOTTOM)"),
                )
            };
            let (a, b) = v.split_once(':').ok_or_else(bad)?;
            let point = |p: &str| -> Option<(u32, u32)> {
                let (x, y) = p.split_once('x')?;
                Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
            };
            let ((l, t), (r, bt)) = (point(a).ok_or_else(bad)?, point(b).ok_or_else(bad)?);
            if r < l || bt < t || r > 1_000_000 || bt > 1_000_000 {
                return Err(bad());
            }
            if let Some(resize) = resize.as_mut() {
                resize.position = Position::FocalPixel {
                    x: (l + r) / 2,
                    y: (t + bt) / 2,
                };
            }
        }
        "smart_crop" => {
            // smart_crop(faceIndex,padding): no face detection here; libvips attention instead
            let list = arguments(name, args, 0, 2)?;
            let padding = match list.get(1).map(|p| p.trim()).filter(|p| !p.is_empty()) {
                Some(p) => p
                    .parse::<u32>()
                    .ok()
                    .filter(|p| *p <= 100_000)
                    .ok_or_else(|| {
                        Error::param(
                            name,
                            format!("smart_crop padding {p:?} is not a whole number of pixels"),
                        )
                    })?,
                None => 0,
            };
            match resize.as_mut() {
                Some(r) if r.width.is_some() && r.height.is_some() => {
                    r.fit = Fit::Cover;
                    r.position = Position::Attention;
                }
                _ => edits.push(Edit::SmartCrop { padding }),
            }
        }
        // SIH: `animated(v)` keeps the animation unless `v` is `false`.
        "animated" => output.still = args.trim().eq_ignore_ascii_case("false"),
        _ => {}
    }
    Ok(())
}

/// `format(f)`: the formats this service writes (`jpg` is `jpeg`).
fn parse_format(value: &str) -> Result<OutputFormat> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "jpeg" | "jpg" => OutputFormat::Jpeg,
        "png" => OutputFormat::Png,
        "webp" => OutputFormat::Webp,
        "avif" => OutputFormat::Avif,
        "gif" => OutputFormat::Gif,
        "tiff" => OutputFormat::Tiff,
        _ => {
            return Err(Error::param(
                "format",
                format!(
                    "format({value}) is not an output format this service writes: use jpeg, png, webp, avif, gif or tiff"
                ),
            ));
        }
    })
}

/// `convolution(k1;k2;...;kn,width[,normalize])`.
fn parse_kernel(args: &str) -> Result<Kernel> {
    const NAME: &str = "convolution";
    let list = arguments(NAME, args, 2, 3)?;
    let matrix = list.first().copied().unwrap_or("");
    let mut weights = matrix
        .split(';')
        .map(|w| w.trim().parse::<f64>().ok().filter(|w| w.is_finite()))
        .collect::<Option<Vec<f64>>>()
        .ok_or_else(|| {
            Error::param(
                NAME,
                format!(
                    "convolution: the matrix {matrix:?} is not a list of numbers separated by ;"
                ),
            )
        })?;
    let w = list.get(1).copied().unwrap_or("");
    let width = w
        .parse::<usize>()
        .ok()
        .filter(|w| !w.is_multiple_of(2) && *w <= MAX_KERNEL_SIDE)
        .ok_or_else(|| {
            Error::param(
                NAME,
                format!("convolution: the width {w:?} is not an odd whole number from 1 to {MAX_KERNEL_SIDE}"),
            )
        })?;
    let height = weights.len().div_ceil(width);
    if height.is_multiple_of(2) || height > MAX_KERNEL_SIDE {
        return Err(Error::param(
            NAME,
            format!(
                "convolution: {} weights in rows of {width} make {height} rows: the number of rows must be odd and at most {MAX_KERNEL_SIDE}",
                weights.len()
            ),
        ));
    }
    weights.resize(width * height, 0.0);
    let normalize = flag_default_true(NAME, list.get(2))?;
    Ok(Kernel {
        width: width as u32,
        height: height as u32,
        weights,
        scale: if normalize { None } else { Some(1.0) },
        offset: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Rotation;

    const RED: Color = Color {
        r: 255,
        g: 0,
        b: 0,
        a: 255,
    };

    fn with_buckets(path: &str, buckets: &[&str]) -> Result<Parsed> {
        let buckets: Vec<String> = buckets.iter().map(|b| b.to_string()).collect();
        let rules = Rules {
            limits: Limits::default(),
            buckets: &buckets,
        };
        parse(path, &rules)
    }

    fn parsed(path: &str) -> ImageRequest {
        match with_buckets(path, &["main"]) {
            Ok(p) => p.request,
            Err(e) => panic!("{path}: {e}"),
        }
    }

    fn edits(path: &str) -> Vec<Edit> {
        parsed(path).edits
    }

    fn key(path: &str) -> String {
        parsed(path).source.key
    }

    fn err(path: &str) -> Error {
        match with_buckets(path, &["main"]) {
            Ok(p) => panic!("{path}: expected an error, got {p:?}"),
            Err(e) => e,
        }
    }

    /// The parameter a 400 names.
    fn param(path: &str) -> String {
        match err(path) {
            Error::InvalidParameter { param, .. } => param,
            e => panic!("{path}: expected InvalidParameter, got {e:?}"),
        }
    }

    fn resize(width: Option<u32>, height: Option<u32>, fit: Fit) -> Resize {
        Resize {
            width,
            height,
            fit,
            ..Resize::default()
        }
    }

    fn only_resize(path: &str) -> Resize {
        match edits(path).as_slice() {
            [Edit::Resize(r)] => *r,
            other => panic!("{path}: expected one resize, got {other:?}"),
        }
    }

    #[test]
    fn sih_resize_and_crop_cases() {
        for (path, expected) in [
            (
                "/fit-in/400x300/x.jpg",
                vec![Edit::Resize(resize(Some(400), Some(300), Fit::Inside))],
            ),
            ("/fit-in/x.jpg", vec![]),
            (
                "/400x300/x.jpg",
                vec![Edit::Resize(resize(Some(400), Some(300), Fit::Cover))],
            ),
            (
                "/0x300/x.jpg",
                vec![Edit::Resize(resize(None, Some(300), Fit::Inside))],
            ),
            ("/0x0/x.jpg", vec![]),
            ("/x/x.jpg", vec![]),
            (
                "/10x0:100x200/x.jpg",
                vec![Edit::Extract(Region {
                    left: 10,
                    top: 0,
                    width: 90,
                    height: 200,
                })],
            ),
            (
                "/10x0:100x200/10x20/x.jpg",
                vec![
                    Edit::Extract(Region {
                        left: 10,
                        top: 0,
                        width: 90,
                        height: 200,
                    }),
                    Edit::Resize(resize(Some(10), Some(20), Fit::Cover)),
                ],
            ),
            (
                "/-300x-200/a.jpg",
                vec![
                    Edit::Flop,
                    Edit::Flip,
                    Edit::Resize(resize(Some(300), Some(200), Fit::Cover)),
                ],
            ),
            (
                "/-300x200/a.jpg",
                vec![
                    Edit::Flop,
                    Edit::Resize(resize(Some(300), Some(200), Fit::Cover)),
                ],
            ),
            ("/-x-/a.jpg", vec![Edit::Flop, Edit::Flip]),
            (
                "/origx300/a.jpg",
                vec![Edit::Resize(resize(None, Some(300), Fit::Inside))],
            ),
            (
                "/300x/a.jpg",
                vec![Edit::Resize(resize(Some(300), None, Fit::Inside))],
            ),
        ] {
            assert_eq!(edits(path), expected, "{path}");
        }
        assert_eq!(key("/10x0:100x200/10x20/x.jpg"), "x.jpg");
        assert_eq!(key("/-x-/a.jpg"), "a.jpg");
        // `abc:0:10x200` is no crop: it starts the key
        assert_eq!(key("/abc:0:10x200/x.jpg"), "abc:0:10x200/x.jpg");
        assert!(edits("/abc:0:10x200/x.jpg").is_empty());
    }

    #[test]
    fn fit_in_flavours() {
        assert_eq!(
            only_resize("/full-fit-in/300x200/a.jpg"),
            resize(Some(300), Some(200), Fit::Outside)
        );
        let mut adaptive = resize(Some(300), Some(200), Fit::Inside);
        adaptive.adaptive = true;
        assert_eq!(only_resize("/adaptive-fit-in/300x200/a.jpg"), adaptive);
        adaptive.fit = Fit::Outside;
        assert_eq!(only_resize("/adaptive-full-fit-in/300x200/a.jpg"), adaptive);
        assert_eq!(
            only_resize("/fit-in/0x200/a.jpg"),
            resize(None, Some(200), Fit::Inside)
        );
    }

    #[test]
    fn alignment_and_smart() {
        for (path, position) in [
            ("/300x200/left/top/a.jpg", Position::NorthWest),
            ("/300x200/center/top/a.jpg", Position::North),
            ("/300x200/right/top/a.jpg", Position::NorthEast),
            ("/300x200/left/a.jpg", Position::West),
            ("/300x200/left/middle/a.jpg", Position::West),
            ("/300x200/center/middle/a.jpg", Position::Centre),
            ("/300x200/right/a.jpg", Position::East),
            ("/300x200/left/bottom/a.jpg", Position::SouthWest),
            ("/300x200/bottom/a.jpg", Position::South),
            ("/300x200/right/bottom/a.jpg", Position::SouthEast),
            ("/300x200/top/a.jpg", Position::North),
            ("/300x200/smart/a.jpg", Position::Attention),
            ("/300x200/left/top/smart/a.jpg", Position::Attention),
            ("/300x200/a.jpg", Position::Centre),
        ] {
            assert_eq!(only_resize(path).position, position, "{path}");
            assert_eq!(key(path), "a.jpg", "{path}");
        }
        // out of order: valign before halign starts the key
        assert_eq!(key("/300x200/top/left/a.jpg"), "left/a.jpg");
        // alignment without a size is no edit
        assert!(edits("/left/top/smart/a.jpg").is_empty());
        assert_eq!(key("/left/top/smart/a.jpg"), "a.jpg");
    }

    #[test]
    fn trim() {
        for (path, threshold, background) in [
            ("/trim/a.jpg", 0.0, TrimBackground::TopLeft),
            ("/trim:top-left/a.jpg", 0.0, TrimBackground::TopLeft),
            ("/trim:bottom-right/a.jpg", 0.0, TrimBackground::BottomRight),
            ("/trim:25/a.jpg", 25.0, TrimBackground::TopLeft),
            (
                "/trim:bottom-right:442/a.jpg",
                442.0,
                TrimBackground::BottomRight,
            ),
        ] {
            assert_eq!(
                edits(path),
                vec![Edit::Trim(Trim {
                    threshold,
                    background
                })],
                "{path}"
            );
            assert_eq!(key(path), "a.jpg", "{path}");
        }
        assert_eq!(param("/trim:443/a.jpg"), "trim");
        assert_eq!(param("/trim:top-left:99999999999999999999/a.jpg"), "trim");
        // not trim's shape: the key
        assert_eq!(key("/trim:middle/a.jpg"), "trim:middle/a.jpg");
        assert_eq!(key("/trimmed/a.jpg"), "trimmed/a.jpg");
    }

    #[test]
    fn edit_order_is_trim_crop_flips_resize_filters() {
        let r = parsed("/unsafe/trim/1x2:11x22/fit-in/-50x60/filters:grayscale()/a.jpg");
        assert_eq!(
            r.edits,
            vec![
                Edit::Trim(Trim {
                    threshold: 0.0,
                    background: TrimBackground::TopLeft
                }),
                Edit::Extract(Region {
                    left: 1,
                    top: 2,
                    width: 10,
                    height: 20
                }),
                Edit::Flop,
                Edit::Resize(resize(Some(50), Some(60), Fit::Inside)),
                Edit::Grayscale,
            ]
        );
        assert_eq!(r.source.key, "a.jpg");
    }

    #[test]
    fn options_are_positional() {
        // a size after a filter is part of the key
        assert_eq!(key("/filters:grayscale()/300x200/a.jpg"), "300x200/a.jpg");
        // each option at most once
        assert_eq!(key("/fit-in/fit-in/a.jpg"), "fit-in/a.jpg");
        assert_eq!(key("/300x200/300x200/a.jpg"), "300x200/a.jpg");
        // `unsafe` only first
        assert_eq!(key("/300x200/unsafe/a.jpg"), "unsafe/a.jpg");
        // the last segment is always the key
        assert_eq!(key("/300x200"), "300x200");
        assert_eq!(key("/fit-in"), "fit-in");
        assert!(edits("/300x200").is_empty());
        // a size needs its x
        assert_eq!(key("/300/a.jpg"), "300/a.jpg");
    }

    #[test]
    fn sih_keys() {
        for (path, expected) in [
            ("/unsafe/fit-in/100x100/a.jpg", "a.jpg"),
            (
                "/100x100/test-100x100/test/beach-100x100.jpg",
                "test-100x100/test/beach-100x100.jpg",
            ),
            (
                "/fit-in/400x0/filters:fill(ffffff)/fit-in-thumbor-image%20(1)%20suffix.jpg",
                "fit-in-thumbor-image (1) suffix.jpg",
            ),
            (
                "/10x20:100x200/10x10/filters:rotate(90)/filters:grayscale()/thumbor-image%20(1)%20suffix.jpg",
                "thumbor-image (1) suffix.jpg",
            ),
            (
                "/filters:rotate(90)/s3:main/filters:grayscale()/thumbor-image%20(1).jpg",
                "thumbor-image (1).jpg",
            ),
            ("/image_without_extension", "image_without_extension"),
            ("/a/%E7%8C%AB.jpg", "a/猫.jpg"),
            ("/300x200/猫/a.jpg", "猫/a.jpg"),
            ("/a+b.jpg", "a+b.jpg"),
        ] {
            assert_eq!(key(path), expected, "{path}");
        }
        let r =
            parsed("/fit-in/400x0/filters:fill(ffffff)/fit-in-thumbor-image%20(1)%20suffix.jpg");
        let mut expected = resize(Some(400), None, Fit::Contain);
        expected.background = Some(Color::WHITE);
        assert_eq!(r.edits, vec![Edit::Resize(expected)]);
    }

    #[test]
    fn missing_and_bad_keys() {
        for path in ["/", "", "/fit-in/", "/unsafe/300x200/filters:grayscale()/"] {
            assert!(matches!(err(path), Error::MissingKey), "{path}");
        }
        assert!(matches!(err("/300x200/%FF.jpg"), Error::InvalidKey { .. }));
        assert!(matches!(err("/a%00.jpg"), Error::InvalidKey { .. }));
    }

    #[test]
    fn signature() {
        let hmac = "cST4Ko5_FqwT3BDn-Wf4gO3RFSk=";
        let p = with_buckets(&format!("/{hmac}/500x500/top/raw/gopher.png"), &[]).unwrap();
        assert_eq!(
            p.hmac,
            Some((hmac.to_string(), "500x500/top/raw/gopher.png".to_string()))
        );
        assert_eq!(p.request.source.key, "raw/gopher.png");
        let mut r = resize(Some(500), Some(500), Fit::Cover);
        r.position = Position::North;
        assert_eq!(p.request.edits, vec![Edit::Resize(r)]);

        let p = with_buckets("/unsafe/a.jpg", &[]).unwrap();
        assert_eq!(p.hmac, None);
        assert_eq!(p.request.source.key, "a.jpg");
        assert_eq!(with_buckets("/a.jpg", &[]).unwrap().hmac, None);
        // not a signature: wrong length, no padding, other alphabet; and not after unsafe
        for path in [
            "/cST4Ko5_FqwT3BDn-Wf4gO3RFSk/a.jpg",
            "/cST4Ko5_FqwT3BDn-Wf4gO3RFSkX/a.jpg",
            "/cST4Ko5+FqwT3BDn-Wf4gO3RFSk=/a.jpg",
            "/unsafe/cST4Ko5_FqwT3BDn-Wf4gO3RFSk=/a.jpg",
        ] {
            let p = with_buckets(path, &[]).unwrap();
            assert_eq!(p.hmac, None, "{path}");
            assert!(p.request.source.key.ends_with("/a.jpg"), "{path}");
        }
        // the signature alone is a key
        let p = with_buckets(&format!("/{hmac}"), &[]).unwrap();
        assert_eq!((p.hmac, p.request.source.key), (None, hmac.to_string()));
    }

    #[test]
    fn buckets() {
        let p = with_buckets("/s3:other/a.jpg", &["main", "other"]).unwrap();
        assert_eq!(p.request.source.bucket.as_deref(), Some("other"));
        assert_eq!(p.request.source.key, "a.jpg");
        let e = with_buckets("/s3:other/a.jpg", &["main"]).unwrap_err();
        assert!(
            matches!(e, Error::BucketNotAllowed(ref b) if b == "other"),
            "{e:?}"
        );
        assert_eq!(e.status(), 403);
        assert_eq!(e.code(), "ImageBucket::CannotAccessBucket");
        assert_eq!(parsed("/a.jpg").source.bucket, None);
        assert_eq!(
            parsed("/300x200/filters:grayscale()/s3:main/a.jpg")
                .source
                .bucket
                .as_deref(),
            Some("main")
        );
        assert_eq!(param("/s3:main/s3:main/a.jpg"), "s3");
        assert_eq!(param("/s3:/a.jpg"), "s3");
        // SIH accepts the bucket segment anywhere before the key (issue 15)
        let fit = Edit::Resize(Resize {
            width: Some(100),
            height: Some(100),
            fit: Fit::Inside,
            position: Position::Centre,
            background: None,
            without_enlargement: false,
            adaptive: false,
        });
        for path in [
            "/s3:main/fit-in/100x100/k.jpg",
            "/fit-in/s3:main/100x100/k.jpg",
            "/fit-in/100x100/s3:main/k.jpg",
            "/fit-in/100x100/filters:quality(80)/s3:main/k.jpg",
        ] {
            let r = parsed(path);
            assert_eq!(r.source.bucket.as_deref(), Some("main"), "{path}");
            assert_eq!(r.source.key, "k.jpg", "{path}");
            assert_eq!(r.edits, vec![fit.clone()], "{path}");
        }
        // ... but never before thumbor's signature, which would leave it unsigned
        let hmac = "cST4Ko5_FqwT3BDn-Wf4gO3RFSk=";
        let p = with_buckets(&format!("/s3:main/{hmac}/a.jpg"), &["main"]).unwrap();
        assert_eq!(p.hmac, None);
        assert_eq!(p.request.source.key, format!("{hmac}/a.jpg"));
    }

    #[test]
    fn sih_filter_chains() {
        assert_eq!(
            edits("/filters:rotate(90):grayscale()/filters:blur(20)/x.jpg"),
            vec![
                Edit::Rotate(Rotation::D90),
                Edit::Grayscale,
                Edit::Blur(10.0)
            ]
        );
        for path in [
            "/filters:format(jpeg)/filters:quality(50)/image_without_extension",
            "/filters:quality(50)/filters:format(jpeg)/image_without_extension",
            "/filters:quality(50):format(jpg)/image_without_extension",
        ] {
            let r = parsed(path);
            assert_eq!(
                r.output,
                Output {
                    format: Some(OutputFormat::Jpeg),
                    quality: Some(50),
                    ..Output::default()
                },
                "{path}"
            );
            assert_eq!(r.source.key, "image_without_extension");
        }
        let r = parsed("/fit-in/200x300/filters:grayscale()/test-image-001.jpg");
        assert_eq!(
            r.edits,
            vec![
                Edit::Resize(resize(Some(200), Some(300), Fit::Inside)),
                Edit::Grayscale
            ]
        );
    }

    #[test]
    fn filters_apply_in_url_order() {
        assert_eq!(
            edits("/filters:grayscale():blur(2)/filters:rotate(180)/a.jpg"),
            vec![
                Edit::Grayscale,
                Edit::Blur(1.0),
                Edit::Rotate(Rotation::D180)
            ]
        );
        assert_eq!(
            edits("/filters:rotate(180)/filters:blur(2):grayscale()/a.jpg"),
            vec![
                Edit::Rotate(Rotation::D180),
                Edit::Blur(1.0),
                Edit::Grayscale
            ]
        );
    }

    #[test]
    fn output_filters() {
        for (path, output) in [
            (
                "/filters:autojpg()/a.png",
                Output {
                    format: Some(OutputFormat::Jpeg),
                    ..Output::default()
                },
            ),
            ("/filters:autojpg(false)/a.png", Output::default()),
            (
                "/filters:format(webp)/a",
                Output {
                    format: Some(OutputFormat::Webp),
                    ..Output::default()
                },
            ),
            (
                "/filters:format(AVIF)/a",
                Output {
                    format: Some(OutputFormat::Avif),
                    ..Output::default()
                },
            ),
            (
                "/filters:format(png):format(gif)/a",
                Output {
                    format: Some(OutputFormat::Gif),
                    ..Output::default()
                },
            ),
            (
                "/filters:format(tiff)/a",
                Output {
                    format: Some(OutputFormat::Tiff),
                    ..Output::default()
                },
            ),
            (
                "/filters:quality(1)/a",
                Output {
                    quality: Some(1),
                    ..Output::default()
                },
            ),
            (
                "/filters:max_bytes(30000)/a",
                Output {
                    max_bytes: Some(30000),
                    ..Output::default()
                },
            ),
        ] {
            let r = parsed(path);
            assert_eq!(r.output, output, "{path}");
            assert!(r.edits.is_empty(), "{path}");
        }
        for (path, name) in [
            ("/filters:format(heif)/a", "format"),
            ("/filters:format(heic)/a", "format"),
            ("/filters:quality(0)/a", "quality"),
            ("/filters:quality(101)/a", "quality"),
            ("/filters:quality(high)/a", "quality"),
            ("/filters:max_bytes(0)/a", "max_bytes"),
            ("/filters:max_bytes(-5)/a", "max_bytes"),
            ("/filters:autojpg(maybe)/a", "autojpg"),
        ] {
            assert_eq!(param(path), name, "{path}");
        }
        // SIH ignores an unknown format and keeps the source's (issue 20)
        for path in [
            "/filters:format(test)/a",
            "/filters:format()/a",
            "/filters:format(bmp):grayscale()/a",
            "/filters:format(png,jpeg)/a",
        ] {
            let r = parsed(path);
            assert_eq!(r.output.format, None, "{path}");
        }
        assert_eq!(
            parsed("/filters:format(png):format(test)/a").output.format,
            Some(OutputFormat::Png)
        );
    }

    #[test]
    fn colour_filters() {
        assert_eq!(
            edits("/filters:background_color(ff0000)/a.png"),
            vec![Edit::Flatten(RED)]
        );
        assert_eq!(
            edits("/filters:background_color(red)/a.png"),
            vec![Edit::Flatten(RED)]
        );
        // SIH's `ffff` is a four-digit hex colour
        assert_eq!(
            edits("/filters:background_color(ffff)/a.png"),
            vec![Edit::Flatten(Color::WHITE)]
        );
        assert_eq!(
            edits("/filters:rgb(10,%2010,%2010)/a.jpg"),
            vec![Edit::Tint(Color {
                r: 26,
                g: 26,
                b: 26,
                a: 255
            })]
        );
        assert_eq!(
            edits("/filters:rgb(100,-20,0)/a.jpg"),
            vec![Edit::Tint(Color {
                r: 255,
                g: 0,
                b: 0,
                a: 255
            })]
        );
        assert_eq!(edits("/filters:equalize()/a.jpg"), vec![Edit::Normalize]);
        assert_eq!(edits("/filters:grayscale()/a.jpg"), vec![Edit::Grayscale]);
        assert_eq!(
            edits("/filters:brightness(40)/a.jpg"),
            vec![Edit::Linear { a: 1.0, b: 102.0 }]
        );
        assert_eq!(
            edits("/filters:contrast(50)/a.jpg"),
            vec![Edit::Linear { a: 1.5, b: -64.0 }]
        );
        assert_eq!(
            edits("/filters:contrast(-100)/a.jpg"),
            vec![Edit::Linear { a: 0.0, b: 128.0 }]
        );
        for (path, name) in [
            ("/filters:background_color(zzz)/a", "background_color"),
            ("/filters:background_color()/a", "background_color"),
            ("/filters:rgb(10,10)/a", "rgb"),
            ("/filters:rgb(101,0,0)/a", "rgb"),
            ("/filters:rgb(a,b,c)/a", "rgb"),
            ("/filters:brightness(101)/a", "brightness"),
            ("/filters:brightness()/a", "brightness"),
            ("/filters:contrast(-101)/a", "contrast"),
            ("/filters:grayscale(1)/a", "grayscale"),
            ("/filters:equalize(x)/a", "equalize"),
        ] {
            assert_eq!(param(path), name, "{path}");
        }
    }

    #[test]
    fn blur_and_sharpen() {
        for (path, expected) in [
            ("/filters:blur(60)/a", vec![Edit::Blur(30.0)]),
            ("/filters:blur(60,%202)/a", vec![Edit::Blur(2.0)]),
            ("/filters:blur(1)/a", vec![Edit::Blur(0.5)]),
            ("/filters:blur(0)/a", vec![]),
            ("/filters:blur(0,5)/a", vec![]),
            ("/filters:sharpen(75,5)/a", vec![Edit::Sharpen(Some(3.5))]),
            (
                "/filters:sharpen(1.5,0.5,true)/a",
                vec![Edit::Sharpen(Some(1.25))],
            ),
            ("/filters:sharpen(1,100)/a", vec![Edit::Sharpen(Some(10.0))]),
            ("/filters:sharpen(1,-10)/a", vec![Edit::Sharpen(Some(0.01))]),
        ] {
            assert_eq!(edits(path), expected, "{path}");
        }
        for (path, name) in [
            ("/filters:blur(0.5)/a", "blur"),
            ("/filters:blur(-1)/a", "blur"),
            ("/filters:blur(x)/a", "blur"),
            ("/filters:blur()/a", "blur"),
            ("/filters:blur(10,0.1)/a", "blur"),
            ("/filters:blur(10,2000)/a", "blur"),
            ("/filters:blur(1,2,3)/a", "blur"),
            ("/filters:sharpen(1)/a", "sharpen"),
            ("/filters:sharpen(a,1)/a", "sharpen"),
            ("/filters:sharpen(1,nan)/a", "sharpen"),
            ("/filters:sharpen(1,1,maybe)/a", "sharpen"),
        ] {
            assert_eq!(param(path), name, "{path}");
        }
    }

    #[test]
    fn convolution() {
        assert_eq!(
            edits("/filters:convolution(1;2;1;2;4;2;1;2;1,3,true)/a"),
            vec![Edit::Convolve(Kernel {
                width: 3,
                height: 3,
                weights: vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0],
                scale: None,
                offset: 0.0
            })]
        );
        assert_eq!(
            edits("/filters:convolution(-1;-1;-1;-1;8;-1;-1;-1,3,false)/a"),
            vec![Edit::Convolve(Kernel {
                width: 3,
                height: 3,
                weights: vec![-1.0, -1.0, -1.0, -1.0, 8.0, -1.0, -1.0, -1.0, 0.0],
                scale: Some(1.0),
                offset: 0.0
            })]
        );
        assert_eq!(
            edits("/filters:convolution(1;1;1,1,0)/a"),
            vec![Edit::Convolve(Kernel {
                width: 1,
                height: 3,
                weights: vec![1.0, 1.0, 1.0],
                scale: Some(1.0),
                offset: 0.0
            })]
        );
        for path in [
            "/filters:convolution(1;2;1,2)/a",
            "/filters:convolution(1;2;1;2,3)/a",
            "/filters:convolution(1;2;1,1003)/a",
            "/filters:convolution(1;x;1,3)/a",
            "/filters:convolution(,3)/a",
            "/filters:convolution(1;2;1)/a",
            "/filters:convolution(1;2;1,3,maybe)/a",
            "/filters:convolution(1;2;1,0)/a",
            "/filters:convolution(1;2;1,-3)/a",
        ] {
            assert_eq!(param(path), "convolution", "{path}");
        }
    }

    #[test]
    fn resize_filters() {
        let mut filled = resize(Some(300), Some(200), Fit::Contain);
        filled.background = Some(RED);
        assert_eq!(only_resize("/300x200/filters:fill(red)/a"), filled);
        filled.background = Some(Color::TRANSPARENT);
        assert_eq!(
            only_resize("/fit-in/300x200/filters:fill(transparent)/a"),
            filled
        );
        assert_eq!(edits("/filters:fill(fff)/a"), vec![]);
        filled.background = Some(RED);
        assert_eq!(
            edits("/300x200/filters:fill(red,true)/a"),
            vec![Edit::Resize(filled), Edit::Flatten(RED)]
        );
        for v in ["auto", "blur", "AUTO"] {
            let e = err(&format!("/300x200/filters:fill({v})/a"));
            assert!(
                matches!(&e, Error::UnsupportedEdit(n) if *n == format!("fill({})", v.to_ascii_lowercase())),
                "{e:?}"
            );
            assert_eq!(e.status(), 400);
        }
        assert_eq!(param("/300x200/filters:fill(nocolour)/a"), "fill");
        assert_eq!(param("/300x200/filters:fill()/a"), "fill");

        let mut small = resize(Some(300), Some(200), Fit::Cover);
        small.without_enlargement = true;
        assert_eq!(only_resize("/300x200/filters:no_upscale()/a"), small);
        assert_eq!(edits("/filters:no_upscale()/a"), vec![]);
        assert_eq!(
            only_resize("/300x200/filters:upscale()/a"),
            resize(Some(300), Some(200), Fit::Inside)
        );
        assert_eq!(
            only_resize("/300x200/filters:stretch()/a"),
            resize(Some(300), Some(200), Fit::Fill)
        );
        assert_eq!(
            only_resize("/fit-in/300x200/filters:stretch()/a"),
            resize(Some(300), Some(200), Fit::Inside)
        );
        assert_eq!(
            only_resize("/200x200/filters:proportion(0.3)/a"),
            resize(Some(60), Some(60), Fit::Cover)
        );
        assert_eq!(
            only_resize("/0x200/filters:proportion(0.001)/a"),
            resize(None, Some(1), Fit::Inside)
        );
        assert_eq!(edits("/filters:proportion(0.3)/a"), vec![Edit::Scale(0.3)]);
        for path in [
            "/filters:proportion(0)/a",
            "/filters:proportion(1.5)/a",
            "/filters:proportion(-0.5)/a",
            "/filters:proportion(x)/a",
        ] {
            assert_eq!(param(path), "proportion", "{path}");
        }
        assert_eq!(param("/300x200/filters:stretch(1)/a"), "stretch");
    }

    #[test]
    fn rotate_and_metadata_filters() {
        assert_eq!(
            edits("/filters:rotate(270)/a"),
            vec![Edit::Rotate(Rotation::D270)]
        );
        assert_eq!(
            edits("/filters:rotate(-90)/a"),
            vec![Edit::Rotate(Rotation::D270)]
        );
        assert_eq!(edits("/filters:rotate()/a"), vec![]);
        assert_eq!(edits("/filters:rotate(360)/a"), vec![]);
        assert_eq!(
            edits("/filters:rotate(75)/a"),
            vec![Edit::Rotate(Rotation::Other(7_500))]
        );
        assert_eq!(param("/filters:rotate(inf)/a"), "rotate");
        assert_eq!(param("/filters:rotate(abc)/a"), "rotate");
        let r = parsed("/filters:strip_exif():strip_icc()/a");
        assert!(r.edits.is_empty());
        assert_eq!(r.output, Output::default());
    }

    #[test]
    fn animated_filter_and_unknown_filters() {
        // SIH's mapping: only a case-insensitive `false` turns animation off.
        for (path, still) in [
            ("/filters:animated(fAlSe)/a.gif", true),
            ("/filters:animated()/a.gif", false),
            ("/filters:animated(ABCDEF)/a.gif", false),
            ("/filters:grayscale():animated(false)/a.gif", true),
        ] {
            assert_eq!(parsed(path).output.still, still, "{path}");
        }
        let r = parsed("/filters:notSupportedFilter():grayscale()/a.jpg");
        assert_eq!(r.edits, vec![Edit::Grayscale]);
        assert_eq!(r.source.key, "a.jpg");
    }

    #[test]
    fn watermark_filter() {
        let r = parsed("/filters:watermark(b,folder/key.png,-10,50p,20,25,30)/a.jpg");
        assert!(matches!(&r.edits[..], [Edit::Overlay(o)]
            if o.source.bucket.as_deref() == Some("b") && o.source.key == "folder/key.png"
            && o.left == Offset::Pixels(-10) && o.top == Offset::Percent(50)
            && o.alpha == 20 && o.width_ratio == Some(25) && o.height_ratio == Some(30)));
        let r = parsed("/filters:watermark(,logo.png,center,0,0)/a.jpg");
        assert!(
            matches!(&r.edits[..], [Edit::Overlay(o)] if o.source.bucket.is_none() && o.left == Offset::Center)
        );
        // SIH drops positions it cannot read: the overlay goes to the centre
        for (path, left, top) in [
            (
                "/filters:watermark(b,k,x,x,0)/a.jpg",
                Offset::Center,
                Offset::Center,
            ),
            (
                "/filters:watermark(b,k,x,10,0)/a.jpg",
                Offset::Center,
                Offset::Pixels(10),
            ),
            (
                "/filters:watermark(b,k,5,101p,0)/a.jpg",
                Offset::Pixels(5),
                Offset::Center,
            ),
            (
                "/filters:watermark(b,k,25.5p,é,0)/a.jpg",
                Offset::Percent(25),
                Offset::Center,
            ),
        ] {
            let r = parsed(path);
            assert!(
                matches!(&r.edits[..], [Edit::Overlay(o)] if o.left == left && o.top == top),
                "{path}: {:?}",
                r.edits
            );
        }
        for bad in [
            "/filters:watermark(b,k,0,0,101)/a.jpg",
            "/filters:watermark(b,k)/a.jpg",
            "/filters:watermark(b,k%00.png,0,0,0)/a.jpg",
        ] {
            assert_eq!(err(bad).status(), 400, "{bad}");
        }
        // the key is percent-decoded once, with the rest of the filters segment
        for (path, key) in [
            ("/filters:watermark(b,a%2541.png,0,0,0)/k.jpg", "a%41.png"),
            (
                "/filters:watermark(b,a%252541.png,0,0,0)/k.jpg",
                "a%2541.png",
            ),
            (
                "/filters:watermark(b,logos%2Fl%C3%A9.png,0,0,0)/k.jpg",
                "logos/lé.png",
            ),
            ("/filters:watermark(b,100%25.png,0,0,0)/k.jpg", "100%.png"),
        ] {
            let r = parsed(path);
            assert!(
                matches!(&r.edits[..], [Edit::Overlay(o)] if o.source.key == key),
                "{path}: {:?}",
                r.edits
            );
        }
    }

    #[test]
    fn shape_and_focus_filters() {
        assert_eq!(
            edits("/filters:round_corner(20|10,255,0,0)/a.jpg"),
            vec![Edit::RoundCrop(RoundCrop::Corners {
                rx: 20,
                ry: 10,
                background: Some(Color {
                    r: 255,
                    g: 0,
                    b: 0,
                    a: 255
                })
            })]
        );
        assert_eq!(
            edits("/filters:round_corner(8,0,0,0,1)/a.jpg"),
            vec![Edit::RoundCrop(RoundCrop::Corners {
                rx: 8,
                ry: 8,
                background: None
            })]
        );
        let r = parsed("/300x200/filters:focal(100x50:200x150)/a.jpg");
        assert!(matches!(
            r.edits[..],
            [Edit::Resize(Resize {
                position: Position::FocalPixel { x: 150, y: 100 },
                ..
            })]
        ));
        let r = parsed("/300x200/filters:smart_crop(1,40)/a.jpg");
        assert!(matches!(
            r.edits[..],
            [Edit::Resize(Resize {
                position: Position::Attention,
                ..
            })]
        ));
        assert_eq!(
            edits("/filters:smart_crop(0,25)/a.jpg"),
            vec![Edit::SmartCrop { padding: 25 }]
        );
        assert_eq!(
            edits("/filters:saturation(-100)/a.jpg"),
            vec![Edit::Modulate(Modulate {
                saturation: 0.0,
                ..Modulate::default()
            })]
        );
        for bad in [
            "/filters:round_corner(x,1,2,3)/a.jpg",
            "/filters:round_corner(5,1,2)/a.jpg",
            "/filters:focal(1x1)/a.jpg",
            "/filters:focal(5x5:1x1)/a.jpg",
            "/filters:saturation(200)/a.jpg",
        ] {
            let name = bad
                .split(':')
                .nth(1)
                .and_then(|f| f.split('(').next())
                .unwrap();
            let e = err(bad);
            assert_eq!(e.status(), 400, "{bad}");
            assert!(e.to_string().contains(name), "{bad}: {e}");
        }
    }

    #[test]
    fn filter_syntax() {
        // arguments with colons, semicolons, spaces and slashes inside parentheses
        let r = parsed("/filters:fakefilter(a:b;c%20d/e):grayscale()/dir/a.jpg");
        assert_eq!(r.edits, vec![Edit::Grayscale]);
        assert_eq!(r.source.key, "dir/a.jpg");
        assert_eq!(key("/filters:fake((x)/(y)):grayscale()/a.jpg"), "a.jpg");
        // percent-encoded parentheses and colons
        assert_eq!(
            edits("/filters%3Ablur%2810%29/a.jpg"),
            Vec::<Edit>::new(),
            "an encoded prefix is not a filters segment"
        );
        assert_eq!(
            edits("/filters:blur%2810%29%3Agrayscale()/a.jpg"),
            vec![Edit::Blur(5.0), Edit::Grayscale]
        );
        for (path, name) in [
            ("/filters:blur(/x.jpg", "blur"),
            ("/filters:blur(1/x.jpg", "blur"),
            ("/filters:blur(1))/x.jpg", "blur"),
            ("/filters:blur(1)x/x.jpg", "blur"),
            ("/filters:()/x.jpg", "filters"),
            ("/filters:/x.jpg", "filters"),
            ("/filters:grayscale/x.jpg", "grayscale"),
            ("/filters:grayscale()::blur(2)/x.jpg", "filters"),
            ("/filters:gray-scale()/x.jpg", "filters"),
            ("/filters:%FF()/x.jpg", "filters"),
            ("/filters:猫()/x.jpg", "filters"),
        ] {
            assert_eq!(param(path), name, "{path}");
        }
        // a filters segment with nothing after it is the key
        assert_eq!(key("/filters:blur("), "filters:blur(");
    }

    #[test]
    fn size_limits() {
        for (path, name) in [
            ("/99999999999x1/a.jpg", "width"),
            ("/1x99999999999999999999999/a.jpg", "height"),
            ("/4097x1/a.jpg", "width"),
            ("/-4097x1/a.jpg", "width"),
            ("/fit-in/1x4097/a.jpg", "height"),
            ("/5x0:4x10/a.jpg", "crop"),
            ("/0x10:10x10/a.jpg", "crop"),
            ("/0x0:99999999999x1/a.jpg", "crop"),
        ] {
            assert_eq!(param(path), name, "{path}");
        }
        assert_eq!(
            only_resize("/4096x4096/a.jpg"),
            resize(Some(4096), Some(4096), Fit::Cover)
        );
        // crop coordinates are not bound by the output limits
        assert_eq!(
            edits("/5000x5000:6000x6000/a.jpg"),
            vec![Edit::Extract(Region {
                left: 5000,
                top: 5000,
                width: 1000,
                height: 1000
            })]
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let long = format!("/{}a.jpg", "300x200/".repeat(10_000));
        let deep = format!("/filters:{}/a.jpg", "(".repeat(10_000));
        let many = format!("/filters:{}/a.jpg", vec!["grayscale()"; 5_000].join(":"));
        let colons = format!("/{}/a.jpg", ":".repeat(10_000));
        for path in [
            "/filters:blur(",
            "/filters:()/x.jpg",
            "/-x-/a.jpg",
            "/--x--/a.jpg",
            "/99999999999x1/a.jpg",
            "/%",
            "/%/a.jpg",
            "/%E7%8C/a.jpg",
            "/filters:%/a.jpg",
            "/filters:blur(%)/a.jpg",
            "/filters:rgb(%E7,1,1)/a.jpg",
            "/trim:::/a.jpg",
            "/x:x/a.jpg",
            "/:x/a.jpg",
            "/s3:/",
            "/unsafe",
            "//",
            "///",
            "/🦀x🦀/🦀.jpg",
            "/filters:🦀(🦀)/a",
            "/filters:blur(🦀)/a",
            "/filters:convolution(;;;;,3)/a",
            "/filters:convolution(1,1)/a",
            "/filters:sharpen(1e308,1e308)/a",
            "/filters:proportion(1e-320)/a",
            "/filters:)(/a",
            &long,
            &deep,
            &many,
            &colons,
        ] {
            let _ = with_buckets(path, &["main"]);
        }
        assert_eq!(key(&long), format!("{}a.jpg", "300x200/".repeat(9_999)));
        assert_eq!(edits(&many), vec![Edit::Grayscale; 5_000]);
    }

    #[test]
    fn token_soup_never_panics() {
        const TOKENS: &[&str] = &[
            "/",
            "/",
            "unsafe",
            "cST4Ko5_FqwT3BDn-Wf4gO3RFSk=",
            "trim",
            ":",
            "top-left",
            "bottom-right",
            "442",
            "10x0",
            "x",
            "-",
            "0",
            "300",
            "4097",
            "orig",
            "fit-in",
            "full-",
            "adaptive-",
            "left",
            "middle",
            "bottom",
            "smart",
            "filters:",
            "(",
            ")",
            ",",
            ";",
            "blur",
            "fill",
            "proportion",
            "convolution",
            "rgb",
            "format",
            "s3:",
            "main",
            "%",
            "%20",
            "%E7%8C",
            "%FF",
            "猫",
            "🦀",
            "a.jpg",
            "1.5",
            "-100",
            "true",
            "unsafe/",
            "trim:bottom-right:5/",
            "1x1:9x9/",
            "fit-in/",
            "-300x200/",
            "0x100/",
            "left/",
            "top/",
            "smart/",
            "filters:blur(4):grayscale()/",
            "filters:fill(red)/",
            "filters:proportion(0.5):no_upscale()/",
            "filters:quality(80)/",
            "s3:main/",
        ];
        let limits = Limits::default();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n
        };
        for _ in 0..20_000 {
            let len = 1 + next(24);
            let mut path = String::from("/");
            for _ in 0..len {
                path.push_str(TOKENS[next(TOKENS.len())]);
            }
            if let Ok(p) = with_buckets(&path, &["main"]) {
                assert!(!p.request.source.key.is_empty(), "{path}");
                for edit in &p.request.edits {
                    if let Edit::Resize(r) = edit {
                        let (max_w, max_h) = Resize::box_limits(r.without_enlargement, &limits);
                        assert!(r.width.is_none_or(|w| (1..=max_w).contains(&w)), "{path}");
                        assert!(r.height.is_none_or(|h| (1..=max_h).contains(&h)), "{path}");
                    }
                    if let Edit::Blur(sigma) = edit {
                        assert!((0.3..=1000.0).contains(sigma), "{path}");
                    }
                }
            }
        }
    }
}
