//! The one validated request model that every URL style parses into.
//!
//! A request names its source (optional bucket, key), an ordered list of
//! [`Edit`]s and the [`Output`] options. Parsers for each URL style live in
//! submodules and validate every value at the boundary, so the rest of the
//! pipeline can trust what it gets: sizes are in range, colours are parsed,
//! enums are closed.

pub mod assemble;
pub mod default;
pub mod edit;
pub mod hints;
pub mod query;
pub mod rewrite;
pub mod target;
pub mod thumbor;

pub use assemble::{
    Assembled, DEFAULT_MAX_EDITS, MAX_OVERLAYS, Parsed, Settings, Signature, Url, assemble, parse,
};

use serde::Serialize;

pub use edit::{ExifKept, FormatNames, Metadata, NumberArg, Range, Stage};
pub use hints::{Breakpoints, HintSet};
pub use query::Presets;

use crate::error::{Error, Result};

/// Bounds that parsers enforce on what a request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest output width a request may ask for, after `dpr`.
    pub max_width: u32,
    /// Largest output height a request may ask for, after `dpr`.
    pub max_height: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_width: 4096,
            max_height: 4096,
        }
    }
}

/// Extensions SIH accepts as image keys (plus `heic`, `heif` and `jxl`); a key
/// without an extension is accepted too.
pub const KEY_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "webp", "tiff", "tif", "svg", "gif", "avif", "heic", "heif", "jxl",
];

/// What parsers need to know beyond the URL.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Output size bounds.
    pub limits: Limits,
    /// `SOURCE_BUCKETS`: the buckets a request may name (empty: none may be named).
    pub buckets: &'a [String],
}

impl Rules<'_> {
    /// The bucket a request that names none is read from (the first of `SOURCE_BUCKETS`).
    pub fn default_bucket(&self) -> Option<&str> {
        self.buckets.first().map(String::as_str)
    }

    /// Checks that a bucket named by a request is allowed.
    pub fn check_bucket(&self, bucket: &str) -> Result<()> {
        if self.buckets.iter().any(|b| b == bucket) {
            Ok(())
        } else {
            Err(Error::BucketNotAllowed(bucket.to_string()))
        }
    }
}

/// A parsed, validated image request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageRequest {
    /// Where the original lives.
    pub source: Source,
    /// Edits, applied in this order.
    pub edits: Vec<Edit>,
    /// Output format and quality.
    pub output: Output,
    /// Extra response headers the request asks for (SIH default requests),
    /// already filtered by the deny list.
    pub headers: Vec<(String, String)>,
}

impl ImageRequest {
    /// A stable text form of the whole request, used in the ETag.
    pub fn canonical(&self) -> String {
        // The derived Serialize is deterministic: field order is declaration order.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The original image a request names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// Bucket (S3 origins); `None` means the origin's default.
    pub bucket: Option<String>,
    /// Object key, decoded (no percent-escapes), never empty.
    pub key: String,
}

/// What the output should be encoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Output {
    /// An explicit format; `None` lets the server choose (Accept, then
    /// `preferred`, then the source's format).
    pub format: Option<OutputFormat>,
    /// The format when none is forced and the client accepts no automatic one
    /// (SIH's `outputFormat`, which automatic WebP overrides).
    pub preferred: Option<OutputFormat>,
    /// Encoder quality 1 to 100; `None` uses the format's default.
    pub quality: Option<u8>,
    /// `quality=auto`: the lowest quality that reaches the perceptual target
    /// (see `transform::quality`); `quality` is then `None`. Left out of the
    /// canonical form when off, like every option added later.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auto_quality: bool,
    /// `format=best`: the smallest of the formats the client accepts;
    /// `format` is then `None`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub best: bool,
    /// Lossless WebP or AVIF.
    pub lossless: bool,
    /// Near-lossless WebP (lossless coding of slightly preprocessed pixels;
    /// `quality` sets the preprocessing, 100 is none).
    pub near_lossless: bool,
    /// Progressive JPEG, interlaced PNG.
    pub progressive: bool,
    /// Encoder effort for this request (WebP 0 to 6, AVIF 0 to 9); `None` uses the configured one.
    pub effort: Option<u8>,
    /// Lower the quality of lossy formats until the output fits in this many bytes.
    pub max_bytes: Option<u64>,
    /// Only the first frame of an animated original (`animated=false`, SIH's
    /// `animated: false`); animations are kept by default.
    pub still: bool,
    /// Which of the original's metadata the output keeps (`metadata=`,
    /// `stripExif`, `strip_exif()`, ...); none by default. Left out of the
    /// canonical form when it is the default, so the variant tags of
    /// requests that do not ask for metadata stay as they were.
    #[serde(skip_serializing_if = "Metadata::is_none")]
    pub metadata: Metadata,
}

/// One edit. Each variant has exactly one home in `transform`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Edit {
    /// Scale (and crop or pad) to a box.
    Resize(Resize),
    /// Scale both sides by this factor (0 < f <= 1 shrinks; Thumbor's `proportion`).
    Scale(f64),
    /// Cut out a region (sharp's `extract`, SIH's `crop`, Thumbor's `AxB:CxD`).
    Extract(Region),
    /// Add borders (sharp's `extend`).
    Extend(Extend),
    /// Remove a border of near-constant colour (sharp's and Thumbor's `trim`).
    Trim(Trim),
    /// Rotate clockwise by a multiple of 90 degrees.
    Rotate(Rotation),
    /// Mirror top to bottom.
    Flip,
    /// Mirror left to right.
    Flop,
    /// Convert to grayscale (kept as sRGB-compatible single band).
    Grayscale,
    /// Gaussian blur with this sigma ([`edit::BLUR_SIGMA`]; built by [`Edit::blur`]).
    Blur(f64),
    /// Unsharp mask with this sigma ([`edit::SHARPEN_SIGMA`]); `None` is a mild default.
    Sharpen(Option<f64>),
    /// Replace transparency with this colour.
    Flatten(Color),
    /// Stretch contrast so the darkest pixel is black and the lightest white.
    Normalize,
    /// Invert colours; `alpha` inverts transparency too.
    Negate {
        /// Also invert the alpha channel.
        alpha: bool,
    },
    /// Colourise, keeping each pixel's lightness (sharp's `tint`).
    Tint(Color),
    /// `out = a * in + b` on the colour channels (brightness and contrast).
    Linear {
        /// Multiplier.
        a: f64,
        /// Offset, 0 to 255 scale.
        b: f64,
    },
    /// Convolve with a kernel.
    Convolve(Kernel),
    /// Brightness, saturation and lightness multipliers and a hue rotation (sharp's `modulate`).
    Modulate(Modulate),
    /// Median filter over a square window of this odd size ([`edit::MEDIAN_SIZE`]).
    Median(u32),
    /// Gamma correction: decode with the first exponent, encode with the second ([`edit::GAMMA`]).
    Gamma(f64, f64),
    /// Pixels at or above the value become white, the rest black (sharp's `threshold`).
    Threshold {
        /// [`edit::THRESHOLD`].
        value: u8,
        /// Threshold the lightness (one band) rather than each channel.
        grayscale: bool,
    },
    /// Contrast-limited adaptive histogram equalisation over `width`x`height` regions.
    Clahe {
        /// Region width, [`edit::CLAHE_SIZE`].
        width: u32,
        /// Region height, [`edit::CLAHE_SIZE`].
        height: u32,
        /// Contrast limit, [`edit::CLAHE_SLOPE`] (0: plain adaptive equalisation).
        max_slope: u32,
    },
    /// Drop the alpha channel.
    RemoveAlpha,
    /// Add an alpha channel of this opacity ([`edit::ENSURE_ALPHA`]) if there is none.
    EnsureAlpha(f64),
    /// Keep an ellipse (or rounded corners) and make the rest transparent.
    RoundCrop(RoundCrop),
    /// Draw another original on top (SIH's `overlayWith`, thumbor's `watermark`).
    Overlay(Overlay),
    /// Crop to the most interesting part (libvips attention), for SIH's
    /// `smartCrop` and thumbor's `smart_crop` (see docs/url-api.md).
    SmartCrop {
        /// Pixels kept around the region on each side, where the image allows.
        padding: u32,
    },
}

/// An image drawn on top, with SIH's geometry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlay {
    /// The overlay's original, from the same origin and allow-list.
    pub source: Source,
    /// Offset from the left; negative counts from the right.
    pub left: Offset,
    /// Offset from the top; negative counts from the bottom.
    pub top: Offset,
    /// Transparency 0 (opaque) to 100 (invisible).
    pub alpha: u8,
    /// Width as a percentage of the base image's, 0 to 100 (SIH's `wRatio`).
    pub width_ratio: Option<u8>,
    /// Height as a percentage of the base image's, 0 to 100 (SIH's `hRatio`).
    pub height_ratio: Option<u8>,
}

/// An overlay offset, in SIH's forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Offset {
    /// Pixels; a negative value counts from the far edge (`size + v - overlay`).
    Pixels(i64),
    /// `Np`: a percentage of the base; negative counts from the far edge.
    Percent(i32),
    /// thumbor's `center`.
    Center,
}

impl Offset {
    /// SIH's `calcOverlaySizeOption`: where the overlay starts along one side.
    pub fn resolve(self, image: i64, overlay: i64) -> i64 {
        match self {
            Offset::Pixels(v) if v < 0 => image + v - overlay,
            Offset::Pixels(v) => v,
            Offset::Percent(p) if p < 0 => image + (image * i64::from(p)).div_euclid(100) - overlay,
            Offset::Percent(p) => (image * i64::from(p)).div_euclid(100),
            Offset::Center => (image - overlay) / 2,
        }
    }
}

/// sharp's `modulate`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Modulate {
    /// Brightness multiplier (1 leaves it).
    pub brightness: f64,
    /// Saturation multiplier (1 leaves it).
    pub saturation: f64,
    /// Hue rotation in degrees.
    pub hue: f64,
    /// Lightness added, 0 to 100 scale.
    pub lightness: f64,
}

impl Default for Modulate {
    fn default() -> Self {
        Modulate {
            brightness: 1.0,
            saturation: 1.0,
            hue: 0.0,
            lightness: 0.0,
        }
    }
}

/// An ellipse to keep, or rounded corners.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum RoundCrop {
    /// SIH's `roundCrop`: an ellipse with radii `rx`, `ry` centred at
    /// (`left`, `top`); `None` radii are half the shorter side, `None`
    /// centres the middle of the image.
    Ellipse {
        /// Horizontal radius.
        rx: Option<u32>,
        /// Vertical radius.
        ry: Option<u32>,
        /// Centre, from the left.
        left: Option<u32>,
        /// Centre, from the top.
        top: Option<u32>,
    },
    /// thumbor's `round_corner`: corners of radii `rx`, `ry`; `background`
    /// fills them (`None`: transparent).
    Corners {
        /// Horizontal radius.
        rx: u32,
        /// Vertical radius.
        ry: u32,
        /// Colour of the cut corners.
        background: Option<Color>,
    },
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Region {
    /// Left edge.
    pub left: u32,
    /// Top edge.
    pub top: u32,
    /// Width, at least 1.
    pub width: u32,
    /// Height, at least 1.
    pub height: u32,
}

/// Borders to add, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Extend {
    /// Above.
    pub top: u32,
    /// Below.
    pub bottom: u32,
    /// Left.
    pub left: u32,
    /// Right.
    pub right: u32,
    /// Border colour; `None` is transparent (white once flattened for JPEG).
    pub background: Option<Color>,
}

/// Which colour a trim removes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trim {
    /// Difference from the background still counted as background (sharp: 10; Thumbor: 0).
    pub threshold: f64,
    /// The border colour: `None` takes the top-left pixel; Thumbor's
    /// `bottom-right` takes that corner.
    pub background: TrimBackground,
}

/// Where a trim's background colour comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrimBackground {
    /// The top-left pixel.
    TopLeft,
    /// The bottom-right pixel.
    BottomRight,
    /// An explicit colour.
    Color(Color),
}

/// A convolution kernel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kernel {
    /// Columns, odd, [`edit::KERNEL_SIDE`].
    pub width: u32,
    /// Rows, odd, [`edit::KERNEL_SIDE`].
    pub height: u32,
    /// `width * height` weights, row by row.
    pub weights: Vec<f64>,
    /// Divisor; `None` is the sum of the weights (or 1 if that is 0).
    pub scale: Option<f64>,
    /// Added after dividing.
    pub offset: f64,
}

/// A resize to a box, with sharp's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Resize {
    /// Target width in pixels; `None` follows the aspect ratio.
    pub width: Option<u32>,
    /// Target height in pixels; `None` follows the aspect ratio.
    pub height: Option<u32>,
    /// How the image fits the box when both sides are given.
    pub fit: Fit,
    /// Which part is kept by `cover`, or where `contain` places the image.
    pub position: Position,
    /// Padding colour for `contain`; `None` pads with transparency.
    pub background: Option<Color>,
    /// Never scale up.
    pub without_enlargement: bool,
    /// Swap the box's width and height when the image's orientation
    /// (portrait or landscape) differs from the box's (Thumbor's `adaptive-fit-in`).
    pub adaptive: bool,
}

/// The largest box side a resize without enlargement may ask for: the
/// output is then never larger than the original, so the box may exceed
/// `MAX_OUTPUT_WIDTH`/`HEIGHT` (as SIH allows); the size actually produced
/// is checked against them by the transform.
pub const MAX_BOX_SIDE: u32 = 65_535;

impl Resize {
    /// The largest box width and height this resize may ask for.
    pub fn box_limits(without_enlargement: bool, limits: &Limits) -> (u32, u32) {
        if without_enlargement {
            (
                limits.max_width.max(MAX_BOX_SIDE),
                limits.max_height.max(MAX_BOX_SIDE),
            )
        } else {
            (limits.max_width, limits.max_height)
        }
    }

    /// Checks the box against [`Resize::box_limits`], naming the side.
    pub fn check_box(&self, limits: &Limits) -> Result<()> {
        let (max_w, max_h) = Resize::box_limits(self.without_enlargement, limits);
        for (param, side, max) in [("width", self.width, max_w), ("height", self.height, max_h)] {
            if let Some(v) = side.filter(|v| *v > max) {
                return Err(Error::param(
                    param,
                    format!("{param}={v} is above the maximum of {max}"),
                ));
            }
        }
        Ok(())
    }
}

/// A clockwise rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Rotation {
    /// 90 degrees clockwise.
    D90,
    /// 180 degrees.
    D180,
    /// 270 degrees clockwise.
    D270,
    /// Any other angle, in hundredths of a degree clockwise (1 to 35999, not
    /// a multiple of 9000). The canvas grows to hold the turned image and
    /// the corners are filled with opaque black, as sharp's `rotate` does.
    Other(u16),
}

impl Rotation {
    /// The rotation for `degrees` (any finite angle, negative allowed,
    /// rounded to a hundredth of a degree); `Ok(None)` for a full turn.
    pub fn from_degrees(param: &str, degrees: f64) -> Result<Option<Rotation>> {
        if !degrees.is_finite() {
            return Err(Error::param(
                param,
                format!("{param}={degrees} is not an angle: use a number of degrees"),
            ));
        }
        // Exact for any finite float, so huge angles cannot overflow.
        let hundredths = (degrees.rem_euclid(360.0) * 100.0).round() as u32 % 36_000;
        Ok(match hundredths {
            0 => None,
            9_000 => Some(Rotation::D90),
            18_000 => Some(Rotation::D180),
            27_000 => Some(Rotation::D270),
            h => Some(Rotation::Other(h as u16)),
        })
    }

    /// The angle in degrees clockwise, 0 to 360.
    pub fn degrees(self) -> f64 {
        match self {
            Rotation::D90 => 90.0,
            Rotation::D180 => 180.0,
            Rotation::D270 => 270.0,
            Rotation::Other(h) => f64::from(h) / 100.0,
        }
    }

    /// The size of a `width`x`height` image once turned: the bounding box of
    /// the turned rectangle.
    pub fn turned_size(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Rotation::D180 => (width, height),
            Rotation::D90 | Rotation::D270 => (height, width),
            Rotation::Other(_) => {
                let (sin, cos) = self.degrees().to_radians().sin_cos();
                let (w, h) = (f64::from(width), f64::from(height));
                let side = |v: f64| (v - 1e-6).ceil().clamp(1.0, f64::from(u32::MAX)) as u32;
                (
                    side(w * cos.abs() + h * sin.abs()),
                    side(w * sin.abs() + h * cos.abs()),
                )
            }
        }
    }
}

/// sharp's fit modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fill the box, cropping overflow (default).
    #[default]
    Cover,
    /// Fit inside the box and pad to its size.
    Contain,
    /// Stretch to the box, ignoring the aspect ratio.
    Fill,
    /// Fit inside the box; the output may be smaller.
    Inside,
    /// Cover the box without cropping; the output may be larger.
    Outside,
}

impl Fit {
    /// The fit's name, as written in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Contain => "contain",
            Fit::Fill => "fill",
            Fit::Inside => "inside",
            Fit::Outside => "outside",
        }
    }

    /// Parses a fit name (case-insensitive).
    pub fn parse(param: &str, value: &str) -> Result<Fit> {
        Ok(match value.to_ascii_lowercase().as_str() {
            "cover" => Fit::Cover,
            "contain" => Fit::Contain,
            "fill" => Fit::Fill,
            "inside" => Fit::Inside,
            "outside" => Fit::Outside,
            _ => {
                return Err(Error::param(
                    param,
                    format!(
                        "{param}={value:?} is not a fit: use cover, contain, fill, inside or outside"
                    ),
                ));
            }
        })
    }
}

/// Where the kept region sits: a compass gravity or a content strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    /// Middle.
    #[default]
    Centre,
    /// Top edge, centred.
    North,
    /// Top right corner.
    NorthEast,
    /// Right edge, centred.
    East,
    /// Bottom right corner.
    SouthEast,
    /// Bottom edge, centred.
    South,
    /// Bottom left corner.
    SouthWest,
    /// Left edge, centred.
    West,
    /// Top left corner.
    NorthWest,
    /// The region with the most detail (libvips entropy).
    Entropy,
    /// The region a viewer looks at first (libvips attention).
    Attention,
    /// Centre the kept region on this point, in thousandths of the width and
    /// height (query `fx`/`fy`).
    Focal {
        /// 0 to 1000.
        x: u16,
        /// 0 to 1000.
        y: u16,
    },
    /// Centre the kept region on this pixel of the image before resizing
    /// (thumbor's `focal(AxB:CxD)`, the region's centre).
    FocalPixel {
        /// From the left.
        x: u32,
        /// From the top.
        y: u32,
    },
}

impl Position {
    /// Parses sharp's names (`top`, `right top`, `northeast`, `entropy`, ...), case-insensitive.
    pub fn parse(param: &str, value: &str) -> Result<Position> {
        let v: String = value
            .to_ascii_lowercase()
            .split([' ', '-', '_', '+'])
            .collect();
        Ok(match v.as_str() {
            "centre" | "center" | "middle" => Position::Centre,
            "north" | "top" => Position::North,
            "northeast" | "righttop" | "topright" => Position::NorthEast,
            "east" | "right" => Position::East,
            "southeast" | "rightbottom" | "bottomright" => Position::SouthEast,
            "south" | "bottom" => Position::South,
            "southwest" | "leftbottom" | "bottomleft" => Position::SouthWest,
            "west" | "left" => Position::West,
            "northwest" | "lefttop" | "topleft" => Position::NorthWest,
            "entropy" => Position::Entropy,
            "attention" | "smart" => Position::Attention,
            _ => {
                return Err(Error::param(
                    param,
                    format!(
                        "{param}={value:?} is not a position: use centre, north, northeast, east, southeast, south, southwest, west, northwest (or top, right top, ...), entropy or attention"
                    ),
                ));
            }
        })
    }
}

/// Output encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// JPEG (mozjpeg).
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    Webp,
    /// AVIF (AV1 in HEIF).
    Avif,
    /// GIF.
    Gif,
    /// TIFF.
    Tiff,
    /// SVG: only an unedited SVG original, returned sanitised. Never parsed
    /// from a request (an edited SVG is rasterised).
    Svg,
}

impl OutputFormat {
    /// The name requests use for it (`format=`); `svg` is never parsed back.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
            OutputFormat::Avif => "avif",
            OutputFormat::Gif => "gif",
            OutputFormat::Tiff => "tiff",
            OutputFormat::Svg => "svg",
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
            OutputFormat::Webp => "image/webp",
            OutputFormat::Avif => "image/avif",
            OutputFormat::Gif => "image/gif",
            OutputFormat::Tiff => "image/tiff",
            OutputFormat::Svg => "image/svg+xml",
        }
    }

    /// Whether the format can carry an alpha channel.
    pub fn has_alpha(self) -> bool {
        !matches!(self, OutputFormat::Jpeg)
    }

    /// Whether the format can carry an animation (GIF, WebP).
    pub fn animates(self) -> bool {
        matches!(self, OutputFormat::Gif | OutputFormat::Webp)
    }
}

/// An sRGB colour with alpha, each 0 to 255.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha; 255 is opaque.
    pub a: u8,
}

impl Color {
    /// Opaque white, the default when transparency must go.
    pub const WHITE: Color = Color {
        r: 255,
        g: 255,
        b: 255,
        a: 255,
    };
    /// Fully transparent, the default padding.
    pub const TRANSPARENT: Color = Color {
        r: 0,
        g: 0,
        b: 0,
        a: 0,
    };

    /// Parses `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa` (the `#` is optional) or a
    /// CSS basic colour name (`white`, `black`, `red`, ..., `transparent`).
    pub fn parse(param: &str, value: &str) -> Result<Color> {
        let bad = || {
            Error::param(
                param,
                format!(
                    "{param}={value:?} is not a colour: use hex (fff, ffffff, ffffff80) or a CSS colour name"
                ),
            )
        };
        let v = value.trim().to_ascii_lowercase();
        if let Some(c) = named_color(&v) {
            return Ok(c);
        }
        let hex = v.strip_prefix('#').unwrap_or(&v);
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).map(|d| d * 17);
        let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16);
        let parsed = match hex.len() {
            3 | 4 => (
                digit(0),
                digit(1),
                digit(2),
                if hex.len() == 4 { digit(3) } else { Ok(255) },
            ),
            6 | 8 => (
                pair(0),
                pair(2),
                pair(4),
                if hex.len() == 8 { pair(6) } else { Ok(255) },
            ),
            _ => return Err(bad()),
        };
        match parsed {
            (Ok(r), Ok(g), Ok(b), Ok(a)) => Ok(Color { r, g, b, a }),
            _ => Err(bad()),
        }
    }
}

/// Decodes a URL path (with or without its leading `/`) into an object key.
///
/// Percent-escapes are decoded as UTF-8; `+` stays `+` (it is a space only in
/// query strings). An empty key is [`Error::MissingKey`].
pub fn decode_key(path: &str) -> Result<String> {
    let raw = path.strip_prefix('/').unwrap_or(path);
    if raw.is_empty() {
        return Err(Error::MissingKey);
    }
    let key = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Error::InvalidKey {
            key: raw.to_string(),
            reason: "it is not UTF-8 once percent-decoded",
        })?;
    if key.contains('\0') {
        return Err(Error::InvalidKey {
            key: raw.to_string(),
            reason: "it contains a NUL byte",
        });
    }
    Ok(key.into_owned())
}

fn named_color(name: &str) -> Option<Color> {
    let (r, g, b, a) = match name {
        "transparent" => (0, 0, 0, 0),
        "black" => (0, 0, 0, 255),
        "white" => (255, 255, 255, 255),
        "red" => (255, 0, 0, 255),
        "lime" => (0, 255, 0, 255),
        "green" => (0, 128, 0, 255),
        "blue" => (0, 0, 255, 255),
        "yellow" => (255, 255, 0, 255),
        "cyan" | "aqua" => (0, 255, 255, 255),
        "magenta" | "fuchsia" => (255, 0, 255, 255),
        "gray" | "grey" => (128, 128, 128, 255),
        "silver" => (192, 192, 192, 255),
        "maroon" => (128, 0, 0, 255),
        "olive" => (128, 128, 0, 255),
        "purple" => (128, 0, 128, 255),
        "teal" => (0, 128, 128, 255),
        "navy" => (0, 0, 128, 255),
        "orange" => (255, 165, 0, 255),
        _ => return None,
    };
    Some(Color { r, g, b, a })
}

#[cfg(test)]
mod tests;
