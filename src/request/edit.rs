//! The one home of each edit's rules: the value ranges, their messages, the
//! output format names and the order edits run in.
//!
//! Every URL style (query, thumbor, SIH's JSON, presets) reads *what* was
//! asked in its own syntax and hands the values to the validated
//! constructors here ([`Edit::blur`], [`Edit::median`], [`quality`], ...),
//! as sharp validates each option once, in the operation itself. A range is
//! written once, as a [`Range`] constant, so a style cannot drift from the
//! others. Each constructor takes the parameter's name as the style writes
//! it (`blur`, `blur.sigma`, thumbor's `blur`) and a [`NumberArg`], the value
//! as the request wrote it, so that a 400 names both.
//!
//! [`Stage`] names the pipeline's order; [`OutputFormat::parse_name`] is the
//! one parser of format names.

use std::fmt::Display;

use super::{Edit, Kernel, Modulate, Offset, Output, OutputFormat};
use crate::error::{Error, Result};

/// A number as a request wrote it: its value, if it is one, and its text
/// for messages. Implemented for query and thumbor text (`&str`, shown
/// quoted) and for numbers (`f64`, `u32`); a style with its own value type
/// (SIH's JSON) implements it for that type.
pub trait NumberArg {
    /// The value, if it is a finite number.
    fn number(&self) -> Option<f64>;
    /// The value, if it is a whole number written as one. Text takes only
    /// digits (and a leading `+`, as `u64::from_str`); `10.0` is not whole
    /// there, while a JSON number with no fraction is.
    fn whole(&self) -> Option<u64>;
    /// How a message shows the value.
    fn shown(&self) -> String;
}

impl NumberArg for &str {
    fn number(&self) -> Option<f64> {
        self.parse::<f64>().ok().filter(|v| v.is_finite())
    }
    fn whole(&self) -> Option<u64> {
        self.parse::<u64>().ok()
    }
    fn shown(&self) -> String {
        format!("{self:?}")
    }
}

impl NumberArg for f64 {
    fn number(&self) -> Option<f64> {
        Some(*self).filter(|v| v.is_finite())
    }
    fn whole(&self) -> Option<u64> {
        // `as` saturates; a value that large is out of every range here.
        Some(*self)
            .filter(|v| v.is_finite() && v.fract() == 0.0 && *v >= 0.0)
            .map(|v| v as u64)
    }
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl NumberArg for u32 {
    fn number(&self) -> Option<f64> {
        Some(f64::from(*self))
    }
    fn whole(&self) -> Option<u64> {
        Some(u64::from(*self))
    }
    fn shown(&self) -> String {
        self.to_string()
    }
}

/// A closed range of finite numbers a value must lie in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// The least value allowed.
    pub min: f64,
    /// The greatest value allowed.
    pub max: f64,
}

impl Range {
    /// `min..=max`.
    pub const fn new(min: f64, max: f64) -> Range {
        Range { min, max }
    }

    /// Whether `v` is finite and in the range.
    pub fn contains(self, v: f64) -> bool {
        v.is_finite() && (self.min..=self.max).contains(&v)
    }

    /// The value, or a 400: `{param}={value} is out of range: use a number
    /// from {min} to {max}`.
    pub fn check(self, param: &str, value: impl NumberArg) -> Result<f64> {
        match value.number() {
            Some(v) if self.contains(v) => Ok(v),
            _ => Err(Error::param(
                param,
                format!(
                    "{param}={} is out of range: use a number from {} to {}",
                    value.shown(),
                    self.min,
                    self.max
                ),
            )),
        }
    }

    /// The value as a whole number, or a 400: `{param}={value} is not a
    /// whole number from {min} to {max}`.
    pub fn check_whole(self, param: &str, value: impl NumberArg) -> Result<u32> {
        self.whole_or(param, &value, "a whole number")
    }

    /// As [`Range::check_whole`], calling the value `what` in the message.
    fn whole_or(self, param: &str, value: &impl NumberArg, what: &str) -> Result<u32> {
        match value.whole() {
            Some(n) if self.contains(n as f64) && n <= u64::from(u32::MAX) => Ok(n as u32),
            _ => Err(Error::param(
                param,
                format!(
                    "{param}={} is not {what} from {} to {}",
                    value.shown(),
                    self.min,
                    self.max
                ),
            )),
        }
    }
}

/// Gaussian blur sigma (sharp's `blur`).
pub const BLUR_SIGMA: Range = Range::new(0.3, 1000.0);
/// Unsharp-mask sigma (sharp's `sharpen`).
pub const SHARPEN_SIGMA: Range = Range::new(0.01, 10.0);
/// Each gamma exponent (sharp's `gamma`).
pub const GAMMA: Range = Range::new(1.0, 3.0);
/// The gamma sharp's `gamma()` uses with no exponent.
pub const DEFAULT_GAMMA: f64 = 2.2;
/// A colour channel.
pub const CHANNEL: Range = Range::new(0.0, 255.0);
/// A threshold level (sharp's `threshold`), on the channels' scale.
pub const THRESHOLD: Range = CHANNEL;
/// A CLAHE region's width or height (sharp's `clahe`).
pub const CLAHE_SIZE: Range = Range::new(1.0, 1000.0);
/// A CLAHE contrast limit (sharp's `clahe.maxSlope`).
pub const CLAHE_SLOPE: Range = Range::new(0.0, 100.0);
/// The opacity an added alpha channel gets (sharp's `ensureAlpha`).
pub const ENSURE_ALPHA: Range = Range::new(0.0, 1.0);
/// A median window's side (sharp's `median`), odd.
pub const MEDIAN_SIZE: Range = Range::new(1.0, 99.0);
/// A `modulate` brightness or saturation multiplier.
pub const MODULATE_FACTOR: Range = Range::new(0.0, 100.0);
/// A `modulate` hue rotation, in degrees.
pub const MODULATE_HUE: Range = Range::new(-3600.0, 3600.0);
/// A `modulate` lightness offset, on a 0 to 100 scale.
pub const MODULATE_LIGHTNESS: Range = SIGNED_PERCENT;
/// A `linear` multiplier or offset, or a convolution weight, scale or offset.
pub const COEFFICIENT: Range = Range::new(-1e6, 1e6);
/// A convolution kernel's width or height, odd.
pub const KERNEL_SIDE: Range = Range::new(1.0, 1001.0);
/// A length in pixels an edit adds or keeps (smart-crop padding,
/// round-crop radii and centres); overlay offsets are bounded by it too.
pub const PIXELS: Range = Range::new(0.0, 100_000.0);
/// Encoder quality.
pub const QUALITY: Range = Range::new(1.0, 100.0);
/// A percentage: overlay transparency and size ratios.
pub const PERCENT: Range = Range::new(0.0, 100.0);
/// A signed percentage: thumbor's `brightness`, `contrast`, `saturation`
/// and `rgb` adjustments, and overlay offsets given as `Np`.
pub const SIGNED_PERCENT: Range = Range::new(-100.0, 100.0);
/// A focal point coordinate, as a fraction of the side (query `fx`, `fy`).
pub const FOCAL: Range = Range::new(0.0, 1.0);
/// The output's device-pixel ratio (query `dpr`).
pub const DPR: Range = Range::new(1.0, 4.0);
/// A rotation written as text (query `rotate`, thumbor `rotate()`), in degrees.
pub const ROTATE_DEGREES: Range = Range::new(-3600.0, 3600.0);
/// A trim threshold (sharp's `trim`).
pub const TRIM_THRESHOLD: Range = Range::new(0.0, 1e6);

impl Edit {
    /// `Blur(sigma)`, sigma in [`BLUR_SIGMA`].
    pub fn blur(param: &str, sigma: impl NumberArg) -> Result<Edit> {
        BLUR_SIGMA.check(param, sigma).map(Edit::Blur)
    }

    /// `Sharpen(Some(sigma))`, sigma in [`SHARPEN_SIGMA`].
    pub fn sharpen(param: &str, sigma: impl NumberArg) -> Result<Edit> {
        SHARPEN_SIGMA
            .check(param, sigma)
            .map(|s| Edit::Sharpen(Some(s)))
    }

    /// `Gamma(gamma, gamma_out)`, each in [`GAMMA`]; each value is named by
    /// its own parameter.
    pub fn gamma(
        param: &str,
        gamma: impl NumberArg,
        out_param: &str,
        gamma_out: impl NumberArg,
    ) -> Result<Edit> {
        Ok(Edit::Gamma(
            GAMMA.check(param, gamma)?,
            GAMMA.check(out_param, gamma_out)?,
        ))
    }

    /// `Threshold`, the level a whole number in [`THRESHOLD`].
    pub fn threshold(param: &str, value: impl NumberArg, grayscale: bool) -> Result<Edit> {
        Ok(Edit::Threshold {
            value: THRESHOLD.check_whole(param, value)? as u8,
            grayscale,
        })
    }

    /// `Clahe`: width and height whole numbers in [`CLAHE_SIZE`], the slope
    /// in [`CLAHE_SLOPE`]; each `(param, value)` is checked under its own name.
    pub fn clahe(
        width: (&str, impl NumberArg),
        height: (&str, impl NumberArg),
        max_slope: (&str, impl NumberArg),
    ) -> Result<Edit> {
        Ok(Edit::Clahe {
            width: CLAHE_SIZE.check_whole(width.0, width.1)?,
            height: CLAHE_SIZE.check_whole(height.0, height.1)?,
            max_slope: CLAHE_SLOPE.check_whole(max_slope.0, max_slope.1)?,
        })
    }

    /// `EnsureAlpha(alpha)`, alpha in [`ENSURE_ALPHA`].
    pub fn ensure_alpha(param: &str, alpha: impl NumberArg) -> Result<Edit> {
        ENSURE_ALPHA.check(param, alpha).map(Edit::EnsureAlpha)
    }

    /// `Median(size)`, size an odd whole number in [`MEDIAN_SIZE`].
    pub fn median(param: &str, size: impl NumberArg) -> Result<Edit> {
        let n = MEDIAN_SIZE.check_whole(param, size)?;
        if n % 2 == 0 {
            return Err(Error::param(param, format!("{param}={n} must be odd")));
        }
        Ok(Edit::Median(n))
    }

    /// `Modulate`: brightness and saturation in [`MODULATE_FACTOR`], hue in
    /// [`MODULATE_HUE`], lightness in [`MODULATE_LIGHTNESS`]; each
    /// `(param, value)` is checked under its own name.
    pub fn modulate(
        brightness: (&str, impl NumberArg),
        saturation: (&str, impl NumberArg),
        hue: (&str, impl NumberArg),
        lightness: (&str, impl NumberArg),
    ) -> Result<Edit> {
        Ok(Edit::Modulate(Modulate {
            brightness: MODULATE_FACTOR.check(brightness.0, brightness.1)?,
            saturation: MODULATE_FACTOR.check(saturation.0, saturation.1)?,
            hue: MODULATE_HUE.check(hue.0, hue.1)?,
            lightness: MODULATE_LIGHTNESS.check(lightness.0, lightness.1)?,
        }))
    }

    /// `Linear { a, b }`, each in [`COEFFICIENT`].
    pub fn linear(a: (&str, impl NumberArg), b: (&str, impl NumberArg)) -> Result<Edit> {
        Ok(Edit::Linear {
            a: COEFFICIENT.check(a.0, a.1)?,
            b: COEFFICIENT.check(b.0, b.1)?,
        })
    }

    /// `SmartCrop { padding }`, padding a whole number of [`PIXELS`].
    pub fn smart_crop(param: &str, padding: impl NumberArg) -> Result<Edit> {
        Ok(Edit::SmartCrop {
            padding: pixels(param, padding)?,
        })
    }

    /// The stage this edit runs in (see [`Stage`]).
    pub fn stage(&self) -> Stage {
        match self {
            Edit::Rotate(_) | Edit::Flip | Edit::Flop => Stage::Orient,
            Edit::Trim(_) => Stage::Trim,
            Edit::Extract(_) => Stage::Crop,
            Edit::Resize(_) => Stage::Resize,
            _ => Stage::Effects,
        }
    }
}

/// The order edits run in when a request does not give one: sharp's
/// pipeline order, which SIH's JSON inherits (sharp runs `rotate`, `flip`
/// and `flop`, then `trim`, then a pre-resize `extract`, then `resize`,
/// then everything else, whatever the call order).
///
/// Styles with an order of their own keep it: thumbor's filters run in URL
/// order after the resize, and thumbor's negative-size flips after its crop.
/// An edit that query parameters add to such a request goes after the
/// leading edits of its stage or an earlier one ([`Stage::insert`]).
/// SIH's JSON always calls `resize` first, so its `extract` runs with the
/// effects after the resize ([`Stage::after_resize`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Rotations and mirrors.
    Orient,
    /// Removing a border.
    Trim,
    /// Cutting out a region before the resize.
    Crop,
    /// Scaling to a box.
    Resize,
    /// Everything else: filters, colour, overlays, post-resize crops.
    Effects,
}

impl Stage {
    /// The stage of an edit in a request whose crop comes after its resize
    /// (SIH's JSON): [`Edit::stage`], except that `Extract` is an effect.
    pub fn after_resize(edit: &Edit) -> Stage {
        match edit.stage() {
            Stage::Crop => Stage::Effects,
            stage => stage,
        }
    }

    /// Inserts `edit` after the leading run of `edits` whose stage is at
    /// most `edit`'s: a rotation goes after the leading rotations and
    /// mirrors, a resize after the leading geometry, an effect last.
    pub fn insert(edits: &mut Vec<Edit>, edit: Edit) {
        let stage = edit.stage();
        let at = edits.iter().take_while(|e| e.stage() <= stage).count();
        edits.insert(at, edit);
    }
}

/// A whole number of [`PIXELS`].
pub fn pixels(param: &str, value: impl NumberArg) -> Result<u32> {
    PIXELS.whole_or(param, &value, "a whole number of pixels")
}

/// A focal point coordinate in [`FOCAL`], as the thousandths
/// [`super::Position::Focal`] holds.
pub fn focal(param: &str, value: impl NumberArg) -> Result<u16> {
    Ok((FOCAL.check(param, value)? * 1e3).round() as u16)
}

/// Encoder quality, a whole number in [`QUALITY`].
pub fn quality(param: &str, value: impl NumberArg) -> Result<u8> {
    QUALITY
        .whole_or(param, &value, "a quality: use a whole number")
        .map(|q| q as u8)
}

/// The quality word for automatic quality (`quality=auto`, thumbor's
/// `quality(auto)`).
pub const AUTO_QUALITY: &str = "auto";

/// The format word for the smallest accepted format (`format=best`,
/// thumbor's `format(best)`).
pub const BEST_FORMAT: &str = "best";

impl Output {
    /// Applies a quality parameter: a whole number in [`QUALITY`], or
    /// [`AUTO_QUALITY`].
    pub fn set_quality(&mut self, param: &str, value: &str) -> Result<()> {
        if value.eq_ignore_ascii_case(AUTO_QUALITY) {
            (self.quality, self.auto_quality) = (None, true);
            return Ok(());
        }
        let quality = quality(param, value).map_err(|_| {
            Error::param(
                param,
                format!(
                    "{param}={value:?} is not a quality: use a whole number from 1 to 100, or auto"
                ),
            )
        })?;
        (self.quality, self.auto_quality) = (Some(quality), false);
        Ok(())
    }

    /// Applies [`BEST_FORMAT`] when `value` is it (and says whether it was):
    /// the styles' format parameters check this before their format names.
    pub fn set_best(&mut self, value: &str) -> bool {
        let best = value.eq_ignore_ascii_case(BEST_FORMAT);
        if best {
            (self.format, self.best) = (None, true);
        }
        best
    }
}

/// A whole percentage in [`PERCENT`] (overlay transparency and ratios).
pub fn percent(param: &str, value: impl NumberArg) -> Result<u8> {
    PERCENT
        .whole_or(param, &value, "a percentage")
        .map(|p| p as u8)
}

/// A convolution kernel's width or height: an odd whole number in [`KERNEL_SIDE`].
pub fn kernel_side(param: &str, value: impl NumberArg) -> Result<u32> {
    let odd = value.whole().filter(|n| n % 2 == 1);
    match odd {
        Some(n) if KERNEL_SIDE.contains(n as f64) => Ok(n as u32),
        _ => Err(Error::param(
            param,
            format!(
                "{param}={} is not an odd whole number from {} to {}",
                value.shown(),
                KERNEL_SIDE.min,
                KERNEL_SIDE.max
            ),
        )),
    }
}

impl Offset {
    /// Parses `10`, `-10`, `50p`, `-50p`, `25.5p` (percentages -100 to 100,
    /// truncated to whole ones) or `center`.
    pub fn parse(param: &str, value: &str) -> Result<Offset> {
        let v = value.trim();
        let bad = || {
            Error::param(
                param,
                format!(
                    "{param}={value:?} is not an offset: use pixels (-10), a percentage (50p) or center"
                ),
            )
        };
        if v.eq_ignore_ascii_case("center") {
            return Ok(Offset::Center);
        }
        if let Some(p) = v.strip_suffix('p') {
            // A decimal is accepted and truncated, as SIH's `parseInt` reads
            // `25.5p` as 25% (issue 20).
            let p: f64 = p
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && !v.contains(['e', 'E']))
                .ok_or_else(bad)?;
            return if SIGNED_PERCENT.contains(p) {
                Ok(Offset::Percent(p.trunc() as i32))
            } else {
                Err(bad())
            };
        }
        let n: i64 = v.parse().map_err(|_| bad())?;
        if !PIXELS.contains(n.unsigned_abs() as f64) {
            return Err(bad());
        }
        Ok(Offset::Pixels(n))
    }
}

impl Kernel {
    /// The largest kernel side, [`KERNEL_SIDE`]'s maximum.
    pub const MAX_SIDE: u32 = KERNEL_SIDE.max as u32;
}

/// Which names a style's format parameter takes besides `jpeg`, `jpg`,
/// `png`, `webp`, `avif`, `gif` and `tiff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatNames {
    /// `auto`: the server chooses (parsed as `None`).
    pub auto: bool,
    /// `tif` for TIFF.
    pub tif: bool,
}

impl FormatNames {
    /// The query style's `format=`: `auto` and `tif` too.
    pub const QUERY: FormatNames = FormatNames {
        auto: true,
        tif: true,
    };
    /// sharp's `toFormat` names (SIH's JSON): `tif` too, no `auto`.
    pub const SHARP: FormatNames = FormatNames {
        auto: false,
        tif: true,
    };
    /// thumbor's `format()`: neither `auto` nor `tif`.
    pub const THUMBOR: FormatNames = FormatNames {
        auto: false,
        tif: false,
    };

    /// The 400 for a value that is not one of these names, shown as `shown`.
    pub fn error(self, param: &str, shown: impl Display) -> Error {
        let list = if self.auto {
            "jpeg, png, webp, avif, gif, tiff, auto or best"
        } else {
            "jpeg, png, webp, avif, gif, tiff or best"
        };
        Error::param(
            param,
            format!("{param}={shown} is not an output format: use {list}"),
        )
    }
}

impl OutputFormat {
    /// Parses a format name as the query style takes it (`auto` gives
    /// `Ok(None)`, `tif` is TIFF): [`OutputFormat::parse_name`] with
    /// [`FormatNames::QUERY`].
    pub fn parse(param: &str, value: &str) -> Result<Option<OutputFormat>> {
        OutputFormat::parse_name(param, value, FormatNames::QUERY)
    }

    /// The one parser of format names (case-insensitive), with the names
    /// `names` allows; `auto` gives `Ok(None)`.
    pub fn parse_name(param: &str, value: &str, names: FormatNames) -> Result<Option<Self>> {
        Ok(Some(match value.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => OutputFormat::Jpeg,
            "png" => OutputFormat::Png,
            "webp" => OutputFormat::Webp,
            "avif" => OutputFormat::Avif,
            "gif" => OutputFormat::Gif,
            "tiff" => OutputFormat::Tiff,
            "tif" if names.tif => OutputFormat::Tiff,
            "auto" if names.auto => return Ok(None),
            _ => return Err(names.error(param, format_args!("{value:?}"))),
        }))
    }
}

#[cfg(test)]
mod tests;

/// Which of the original's metadata an output keeps: the one rule behind
/// `metadata=none|copyright|keep` and the strip edits and filters of SIH
/// (`stripExif`, `stripIcc`) and thumbor (`strip_exif()`, `strip_icc()`).
///
/// The default keeps nothing (EXIF can hold a GPS position) and encodes
/// sRGB. A strip only ever removes: on the default it changes nothing, so
/// [`Metadata::stripped`] of the default is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Metadata {
    /// Which EXIF fields are kept.
    pub exif: ExifKept,
    /// XMP and IPTC are kept as they are.
    pub xmp_iptc: bool,
    /// The embedded ICC profile is kept, and an RGB original's pixels stay
    /// in it (not converted to sRGB).
    pub icc: bool,
}

/// The EXIF an output keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExifKept {
    /// No EXIF.
    #[default]
    None,
    /// Only the `Artist` and `Copyright` fields.
    Copyright,
    /// Every field, with the orientation reset to 1 (the pixels are upright).
    All,
}

impl Metadata {
    /// The modes' names, for messages.
    pub const MODES: &'static str = "none, copyright or keep";

    /// Parses a mode name (case-insensitive): `none` (the default),
    /// `copyright` (EXIF Artist and Copyright only) or `keep` (EXIF, XMP,
    /// IPTC and the ICC profile).
    pub fn parse(param: &str, value: &str) -> Result<Metadata> {
        Ok(match value.trim().to_ascii_lowercase().as_str() {
            "none" => Metadata::default(),
            "copyright" => Metadata {
                exif: ExifKept::Copyright,
                ..Metadata::default()
            },
            "keep" => Metadata {
                exif: ExifKept::All,
                xmp_iptc: true,
                icc: true,
            },
            _ => {
                return Err(Error::param(
                    param,
                    format!(
                        "{param}={value:?} is not a metadata mode: use {}",
                        Metadata::MODES
                    ),
                ));
            }
        })
    }

    /// This as a mode name and the strips (`strip_exif`, `strip_icc`) to
    /// apply after it: [`Metadata::parse`] and [`Metadata::stripped`] of
    /// these give this back.
    pub fn spelled(self) -> (&'static str, bool, bool) {
        if self.xmp_iptc {
            ("keep", self.exif == ExifKept::None, !self.icc)
        } else if self.exif == ExifKept::Copyright {
            ("copyright", false, false)
        } else {
            ("none", false, false)
        }
    }

    /// Whether nothing is kept (the default).
    pub fn is_none(&self) -> bool {
        *self == Metadata::default()
    }

    /// This, less the EXIF (`strip_exif`) and the ICC profile (`strip_icc`;
    /// the pixels are then converted to sRGB). Applied after the mode,
    /// whatever order a request wrote them in.
    pub fn stripped(self, strip_exif: bool, strip_icc: bool) -> Metadata {
        Metadata {
            exif: if strip_exif {
                ExifKept::None
            } else {
                self.exif
            },
            xmp_iptc: self.xmp_iptc,
            icc: self.icc && !strip_icc,
        }
    }
}
