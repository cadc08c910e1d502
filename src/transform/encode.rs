//! Encoder settings per output format.
//!
//! Defaults follow sharp (the engine of AWS Serverless Image Handler) so the
//! two produce comparable files, except AVIF effort, which is lowered for
//! on-the-fly use (see the README's format table for the measurements).
//! The encoder keeps the metadata `keep` names (libvips' `keep` flags, from
//! [`super::metadata`]); nothing by default.

use rs_vips::VipsImage;
use rs_vips::voption::{Setter, VOption};

use super::failure::vips;
use crate::error::{Error, Result};
use crate::request::OutputFormat;

/// libvips' `VIPS_FOREIGN_PNG_FILTER_NONE` (a flags value, so it is set as a number).
const PNG_FILTER_NONE: i32 = 0x08;

/// Default JPEG quality (sharp: 80).
pub const JPEG_QUALITY: u8 = 80;
/// Default WebP quality (sharp: 80).
pub const WEBP_QUALITY: u8 = 80;
/// Default AVIF quality (sharp: 50).
pub const AVIF_QUALITY: u8 = 50;
/// Default TIFF quality when JPEG-compressed (sharp: 80).
pub const TIFF_QUALITY: u8 = 80;

/// Encoder effort: CPU time traded for smaller files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effort {
    /// WebP effort 0 to 6 (sharp and libvips: 4).
    pub webp: u8,
    /// AVIF effort 0 to 9 (sharp and libvips: 4). Measured on a 1600x1000
    /// photo: effort 4 took 2.3 s, effort 2 0.28 s for a 16% larger file,
    /// effort 0 0.06 s for 28% larger.
    pub avif: u8,
    /// GIF quantisation effort 1 to 10 (sharp and libvips: 7). Measured on
    /// the 10-frame sample at 160x100: effort 7 took 2.6 s, effort 4 0.69 s
    /// for a 4% larger file, effort 1 0.54 s for 6% larger.
    pub gif: u8,
}

impl Default for Effort {
    fn default() -> Self {
        Effort {
            webp: 4,
            avif: 2,
            gif: 4,
        }
    }
}

/// The quality a lossy format is encoded at when none is asked for.
pub fn default_quality(format: OutputFormat) -> Option<u8> {
    match format {
        OutputFormat::Jpeg => Some(JPEG_QUALITY),
        OutputFormat::Webp => Some(WEBP_QUALITY),
        OutputFormat::Avif => Some(AVIF_QUALITY),
        OutputFormat::Tiff => Some(TIFF_QUALITY),
        OutputFormat::Png | OutputFormat::Gif | OutputFormat::Svg => None,
    }
}

/// How to encode: the request's output options with the configured effort applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// 1 to 100; for PNG it turns on palette quantisation, as sharp does.
    pub quality: Option<u8>,
    /// Lossless WebP or AVIF.
    pub lossless: bool,
    /// Near-lossless WebP.
    pub near_lossless: bool,
    /// Progressive JPEG, interlaced PNG.
    pub progressive: bool,
    /// Encoder effort.
    pub effort: Effort,
    /// libvips' `keep` flags: which metadata the encoder writes (0: none).
    pub keep: i32,
}

/// The metadata option of a save.
trait Keep {
    /// `keep` flags: nothing is `strip`, which every libvips takes (system
    /// builds may be older than 8.15, which added `keep`).
    fn set_keep(self, keep: i32) -> Self;
}

impl Keep for VOption<'_> {
    fn set_keep(self, keep: i32) -> Self {
        if keep == 0 {
            self.set("strip", true)
        } else {
            self.set("keep", keep)
        }
    }
}

/// Encodes `image` as `format`.
pub fn encode(image: &VipsImage, format: OutputFormat, settings: Settings) -> Result<Vec<u8>> {
    let Settings {
        quality,
        lossless,
        near_lossless,
        progressive,
        effort,
        keep,
    } = settings;
    let q = |default: u8| i32::from(quality.unwrap_or(default));
    let out = match format {
        OutputFormat::Jpeg => image.jpegsave_buffer_with_opts(
            VOption::new()
                .set("Q", q(JPEG_QUALITY))
                // 4:2:0 at every quality, as sharp does (libvips' own `auto`
                // turns it off from quality 90, doubling the size there).
                .set("subsample_mode", "on")
                .set("optimize_coding", true)
                .set("interlace", progressive)
                .set_keep(keep),
        ),
        OutputFormat::Png => {
            let mut opts = VOption::new()
                .set("compression", 6)
                .set("interlace", progressive)
                .set("filter", PNG_FILTER_NONE)
                .set_keep(keep);
            if let Some(quality) = quality {
                opts = opts.set("palette", true).set("Q", i32::from(quality));
            }
            image.pngsave_buffer_with_opts(opts)
        }
        OutputFormat::Webp => image.webpsave_buffer_with_opts(
            VOption::new()
                .set("Q", q(WEBP_QUALITY))
                .set("effort", i32::from(effort.webp))
                .set("lossless", lossless)
                .set("near_lossless", near_lossless)
                .set_keep(keep),
        ),
        OutputFormat::Avif => image.heifsave_buffer_with_opts(
            VOption::new()
                .set("compression", "av1")
                .set("Q", q(AVIF_QUALITY))
                .set("effort", i32::from(effort.avif))
                .set("bitdepth", 8)
                .set("lossless", lossless)
                .set_keep(keep),
        ),
        OutputFormat::Gif => image.gifsave_buffer_with_opts(
            VOption::new()
                .set("effort", i32::from(effort.gif))
                .set_keep(keep),
        ),
        OutputFormat::Tiff => {
            let compression = if image.hasalpha() { "deflate" } else { "jpeg" };
            image.tiffsave_buffer_with_opts(
                VOption::new()
                    .set("compression", compression)
                    .set("Q", q(TIFF_QUALITY))
                    .set_keep(keep),
            )
        }
        OutputFormat::Svg => {
            return Err(Error::Processing {
                detail: "an SVG is returned as sanitised, never encoded from pixels".into(),
            });
        }
    };
    out.map_err(vips)
}
