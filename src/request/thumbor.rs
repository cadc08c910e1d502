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
//! Edits come out in thumbor's order, not in [`super::Stage`]'s: trim, crop
//! (extract), the flips of negative sizes (which mirror the cropped image),
//! the resize, then the filters' edits in URL order. Values are checked by
//! the constructors of [`super::edit`], which own the ranges. Filters that
//! change the resize (`fill`, `no_upscale`, `upscale`, `stretch`,
//! `proportion`) change that one resize wherever they appear; output filters
//! (`format`, `autojpg`, `quality`, `max_bytes`, and `metadata`, `strip_exif`,
//! `strip_icc`, see [`super::Metadata`]) set [`Output`]. Unknown
//! filters are ignored, as SIH does. The query string is not read here.

use percent_encoding::percent_decode_str;

use super::edit::{self, BLUR_SIGMA, FormatNames, Range, SHARPEN_SIGMA, SIGNED_PERCENT};
use super::query::{parse_bool, parse_dimension, parse_rotate};
use super::{
    Color, Edit, Fit, ImageRequest, Kernel, Limits, Output, OutputFormat, Position, Region, Resize,
    Rules, Source, Trim, TrimBackground,
};
use super::{Metadata, Offset, Overlay, RoundCrop};
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
/// thumbor's `blur(radius)`; the sigma is half the radius unless given.
const BLUR_RADIUS: Range = Range::new(0.0, 2000.0);
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
        for (i, part) in PARTS.iter().enumerate().skip(next) {
            if options.take(*part, segment, after, &mut hmac, rules)? {
                next = if *part == Part::Tail { i } else { i + 1 };
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
    let mut strips = Strips::default();
    for segment in &options.filters {
        apply_filters(
            segment,
            &mut resize,
            &mut filtered,
            &mut output,
            &mut strips,
        )?;
    }
    // strip_exif() and strip_icc() apply after metadata(), in any order.
    output.metadata = output.metadata.stripped(strips.exif, strips.icc);
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
enum Part {
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

const PARTS: [Part; 9] = [
    Part::Signature,
    Part::Trim,
    Part::Crop,
    Part::FitIn,
    Part::Size,
    Part::HAlign,
    Part::VAlign,
    Part::Smart,
    Part::Tail,
];

/// The horizontal alignment words, by column of [`ALIGNED`].
const HALIGN: [&str; 3] = ["left", "center", "right"];
/// The vertical alignment words, by row of [`ALIGNED`].
const VALIGN: [&str; 3] = ["top", "middle", "bottom"];
/// The crop position of each alignment: the row is the vertical one, the
/// column the horizontal one; either left out is the middle.
const ALIGNED: [[Position; 3]; 3] = [
    [Position::NorthWest, Position::North, Position::NorthEast],
    [Position::West, Position::Centre, Position::East],
    [Position::SouthWest, Position::South, Position::SouthEast],
];

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
    /// The column of [`ALIGNED`] a horizontal alignment chose.
    halign: Option<usize>,
    /// The row of [`ALIGNED`] a vertical alignment chose.
    valign: Option<usize>,
    smart: bool,
    /// `filters:` segments, percent-decoded, in URL order.
    filters: Vec<String>,
    bucket: Option<String>,
    /// `preset:<name>` segments, in URL order.
    presets: Vec<String>,
}

impl Options {
    /// Reads `segment` as `part`; `Ok(false)` if it does not have that shape.
    fn take(
        &mut self,
        part: Part,
        segment: &str,
        after: &str,
        hmac: &mut Option<(String, String)>,
        rules: &Rules<'_>,
    ) -> Result<bool> {
        match part {
            Part::Signature => {
                if segment == "unsafe" {
                    return Ok(true);
                }
                if is_hmac(segment) {
                    *hmac = Some((segment.to_string(), after.to_string()));
                    return Ok(true);
                }
            }
            Part::Trim => {
                if let Some(trim) = parse_trim(segment)? {
                    self.trim = Some(trim);
                    return Ok(true);
                }
            }
            Part::Crop => {
                if let Some(region) = parse_crop(segment)? {
                    self.extract = Some(region);
                    return Ok(true);
                }
            }
            Part::FitIn => {
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
            Part::Size => {
                if let Some(size) = parse_size(segment, &rules.limits)? {
                    self.size = Some(size);
                    return Ok(true);
                }
            }
            Part::HAlign | Part::VAlign => {
                let (words, chosen) = if part == Part::HAlign {
                    (HALIGN, &mut self.halign)
                } else {
                    (VALIGN, &mut self.valign)
                };
                if let Some(i) = words.iter().position(|w| *w == segment) {
                    *chosen = Some(i);
                    return Ok(true);
                }
            }
            Part::Smart => {
                if segment == "smart" {
                    self.smart = true;
                    return Ok(true);
                }
            }
            Part::Tail => {
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
        ALIGNED[self.valign.unwrap_or(1)][self.halign.unwrap_or(1)]
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

/// The `strip_exif()` and `strip_icc()` filters a request gave.
#[derive(Default)]
struct Strips {
    exif: bool,
    icc: bool,
}

/// Applies one `filters:` segment (percent-decoded), filter by filter.
fn apply_filters(
    segment: &str,
    resize: &mut Option<Resize>,
    edits: &mut Vec<Edit>,
    output: &mut Output,
    strips: &mut Strips,
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
        apply_filter(name, args, resize, edits, output, strips)?;
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
    strips: &mut Strips,
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
            if output.set_best(value) {
                return Ok(());
            }
            match OutputFormat::parse_name(name, value, FormatNames::THUMBOR) {
                Ok(format) => {
                    output.format = format.or(output.format);
                    output.best = false;
                }
                // SIH maps these and then fails; we refuse them plainly
                Err(e) if ["heif", "heic"].contains(&value.to_ascii_lowercase().as_str()) => {
                    return Err(e);
                }
                // SIH ignores any other format name and keeps the source's (issue 20)
                Err(_) => {}
            }
        }
        "quality" => output.set_quality(name, argument(name, args)?)?,
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
            let radius = BLUR_RADIUS.check(name, list.first().copied().unwrap_or(""))?;
            let sigma = list
                .get(1)
                .copied()
                .filter(|s| !s.is_empty())
                .map(|s| Edit::blur(name, s))
                .transpose()?;
            if radius > 0.0 {
                let blur = match sigma {
                    Some(blur) => blur,
                    None => Edit::blur(name, radius / 2.0).map_err(|_| {
                        Error::param(
                            name,
                            format!(
                                "blur({args}) is a sigma of {}, below {}: use a radius of 0 (no blur) or at least {}",
                                radius / 2.0,
                                BLUR_SIGMA.min,
                                2.0 * BLUR_SIGMA.min
                            ),
                        )
                    })?,
                };
                edits.push(blur);
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
                let percent = SIGNED_PERCENT.check(name, *v)?;
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
            let sigma = (1.0 + radius / 2.0).clamp(SHARPEN_SIGMA.min, SHARPEN_SIGMA.max);
            edits.push(Edit::sharpen(name, sigma)?);
        }
        "strip_exif" => {
            arguments(name, args, 0, 0)?;
            strips.exif = true;
        }
        "strip_icc" => {
            arguments(name, args, 0, 0)?;
            strips.icc = true;
        }
        // Not thumbor's: metadata(none|copyright|keep), as the query's `metadata=`.
        "metadata" => output.metadata = Metadata::parse(name, argument(name, args)?)?,
        "brightness" => {
            let n = SIGNED_PERCENT.check(name, argument(name, args)?)?;
            edits.push(Edit::linear((name, 1.0), (name, 255.0 * n / 100.0))?);
        }
        "contrast" => {
            let n = SIGNED_PERCENT.check(name, argument(name, args)?)?;
            let f = 1.0 + n / 100.0;
            edits.push(Edit::linear((name, f), (name, 128.0 * (1.0 - f)))?);
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
                Some(a) => edit::percent(name, a)?,
                None => 0,
            };
            let ratio = |i: usize| -> Result<Option<u8>> {
                list.get(i)
                    .map(|r| r.trim())
                    .filter(|r| !r.is_empty() && *r != "none")
                    .map(|r| edit::percent(name, r))
                    .transpose()
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
            let n = SIGNED_PERCENT.check(name, argument(name, args)?)?;
            edits.push(Edit::modulate(
                (name, 1.0),
                (name, 1.0 + n / 100.0),
                (name, 0.0),
                (name, 0.0),
            )?);
        }
        "round_corner" => {
            // round_corner(a|b,r,g,b[,transparent])
            let list = arguments(name, args, 4, 5)?;
            let radius = |v: &str| edit::pixels(name, v.trim());
            let (rx, ry) = match list[0].split_once('|') {
                Some((a, b)) => (radius(a)?, radius(b)?),
                None => (radius(list[0])?, radius(list[0])?),
            };
            let channel = |v: &str| -> Result<u8> {
                edit::CHANNEL.check_whole(name, v.trim()).map(|c| c as u8)
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
            let crop = match list.get(1).map(|p| p.trim()).filter(|p| !p.is_empty()) {
                Some(p) => Edit::smart_crop(name, p)?,
                None => Edit::smart_crop(name, 0)?,
            };
            match resize.as_mut() {
                Some(r) if r.width.is_some() && r.height.is_some() => {
                    r.fit = Fit::Cover;
                    r.position = Position::Attention;
                }
                _ => edits.push(crop),
            }
        }
        // SIH: `animated(v)` keeps the animation unless `v` is `false`.
        "animated" => output.still = args.trim().eq_ignore_ascii_case("false"),
        _ => {}
    }
    Ok(())
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
    let width = edit::kernel_side(NAME, list.get(1).copied().unwrap_or(""))? as usize;
    let height = weights.len().div_ceil(width);
    if height.is_multiple_of(2) || height > Kernel::MAX_SIDE as usize {
        return Err(Error::param(
            NAME,
            format!(
                "convolution: {} weights in rows of {width} make {height} rows: the number of rows must be odd and at most {}",
                weights.len(),
                Kernel::MAX_SIDE
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
mod tests;
