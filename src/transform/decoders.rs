//! Decoders for the formats the linked libvips cannot read: HEIC/HEIF and
//! JPEG XL.
//!
//! The portable libvips has no HEVC decoder (patents) and no JPEG XL, so
//! those originals are decoded here into an ordinary in-memory libvips image,
//! and the pipeline carries on from that image as if libvips had loaded it:
//! HEIC through libheif with libde265 (the `libheif-rs` binding), JPEG XL
//! through `jxl-oxide` (pure Rust). AVIF, although HEIF-based too, stays with
//! libvips, which has AV1.
//!
//! What a decoded image looks like:
//! - the primary image (HEIF) or first frame (JPEG XL), upright: libheif
//!   applies the file's transformations (`irot`, `imir`, `clap`) and
//!   jxl-oxide the codestream's orientation while decoding, so no EXIF
//!   orientation is carried over (the image has orientation 1 and the
//!   pipeline's auto-rotation is a no-op; an EXIF tag would rotate it a
//!   second time);
//! - interleaved 8-bit RGB or RGBA (grey, grey+alpha for grey JPEG XL);
//!   deeper samples are scaled to 8 bits with rounding;
//! - the file's colour profile attached as `icc-profile-data`, so the
//!   pipeline's ICC step converts to sRGB as it does for any other original.
//!
//! HEIC needs the `heic` cargo feature (the system libheif); a build without
//! it answers a HEIC original with [`Error::DecoderNotBuilt`] (400).
//!
//! The pixel limit is checked from the header before a pixel is decoded;
//! libheif's own security limits stay at their defaults. A corrupt file is
//! [`Error::InvalidImage`], a HEIF whose codec this libheif cannot decode is
//! [`Error::UnsupportedFormat`] naming it.

#[cfg(feature = "heic")]
use std::sync::OnceLock;

#[cfg(feature = "heic")]
use libheif_rs::{
    ColorSpace, HeifContext, HeifError, HeifErrorCode, HeifErrorSubCode, ImageHandle, LibHeif,
    RgbChroma,
};
use rs_vips::VipsImage;
use rs_vips::enums::BandFormat;
use rs_vips::voption::{Setter, VOption};

use crate::error::{Error, Result};

/// One of the decoders here. Which original goes to which is the format's
/// rule ([`SourceFormat::decoder`](super::format::SourceFormat::decoder)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    /// HEIC/HEIF through libheif (the `heic` feature).
    Heif,
    /// JPEG XL through jxl-oxide.
    Jxl,
}

/// An original's size and alpha, read without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Width in pixels, upright (after the file's rotation).
    pub width: u32,
    /// Height in pixels, upright.
    pub height: u32,
    /// Whether the image has an alpha channel.
    pub alpha: bool,
    /// Top-level images (HEIF) or frames (JPEG XL) in the file; only the
    /// primary image or first frame is decoded.
    pub images: u32,
    /// The colour space it decodes to, as libvips names it (`srgb`, `b-w`).
    pub space: &'static str,
}

impl Decoder {
    /// Reads the header of an original of this decoder's format.
    pub fn header(self, bytes: &[u8]) -> Result<Header> {
        match self {
            Decoder::Jxl => jxl::header(bytes),
            Decoder::Heif => heif_header(bytes),
        }
    }

    /// Decodes an original of this decoder's format into an upright 8-bit
    /// libvips image in memory, refusing it with [`Error::TooManyPixels`]
    /// before decoding when it has more than `max_pixels` pixels.
    pub fn decode(self, bytes: &[u8], max_pixels: u64) -> Result<VipsImage> {
        match self {
            Decoder::Jxl => jxl::decode(bytes, max_pixels),
            Decoder::Heif => heif_decode(bytes, max_pixels),
        }
    }
}

/// Refuses an image of `width`x`height` above `max_pixels`.
fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(Error::TooManyPixels {
            width: u64::from(width),
            height: u64::from(height),
            pixels,
            limit: max_pixels,
        });
    }
    if pixels == 0 {
        return Err(Error::InvalidImage {
            detail: "the image has no pixels".into(),
        });
    }
    Ok(())
}

/// An 8-bit interleaved buffer as a libvips image with `profile` attached.
fn memory_image(
    pixels: &[u8],
    width: usize,
    height: usize,
    bands: usize,
    profile: Option<&[u8]>,
) -> Result<VipsImage> {
    let vips = |e: rs_vips::error::Error| Error::Processing {
        detail: format!("decoded image: {e}"),
    };
    let interpretation = if bands <= 2 { "b-w" } else { "srgb" };
    // Memory images are "multiband" (whose last band is no alpha) until told.
    let mut image = VipsImage::new_from_memory_copy(
        pixels,
        width as i32,
        height as i32,
        bands as i32,
        BandFormat::Uchar,
    )
    .and_then(|i| i.copy_with_opts(VOption::new().set("interpretation", interpretation)))
    .map_err(vips)?;
    if let Some(profile) = profile.filter(|p| !p.is_empty()) {
        image
            .set_blob_copy("icc-profile-data", profile)
            .map_err(vips)?;
    }
    Ok(image)
}

#[cfg(feature = "heic")]
fn heif_header(bytes: &[u8]) -> Result<Header> {
    let failed = |e| codec_error(bytes, e);
    let context = HeifContext::read_from_bytes(bytes).map_err(failed)?;
    let handle = context.primary_image_handle().map_err(failed)?;
    Ok(Header {
        images: context.number_of_top_level_images().max(1) as u32,
        ..header_of(&handle)
    })
}

#[cfg(feature = "heic")]
fn header_of(handle: &ImageHandle) -> Header {
    Header {
        width: handle.width(),
        height: handle.height(),
        alpha: handle.has_alpha_channel(),
        images: 1,
        space: "srgb",
    }
}

#[cfg(feature = "heic")]
/// Decodes the primary image of a HEIF original to 8-bit RGB(A).
fn heif_decode(bytes: &[u8], max_pixels: u64) -> Result<VipsImage> {
    let failed = |e| codec_error(bytes, e);
    let context = HeifContext::read_from_bytes(bytes).map_err(failed)?;
    let handle = context.primary_image_handle().map_err(failed)?;
    let Header {
        width,
        height,
        alpha,
        ..
    } = header_of(&handle);
    check_pixels(width, height, max_pixels)?;
    let deep = handle.luma_bits_per_pixel() > 8;
    let chroma = match (alpha, deep) {
        (false, false) => RgbChroma::Rgb,
        (true, false) => RgbChroma::Rgba,
        (false, true) => RgbChroma::HdrRgbLe,
        (true, true) => RgbChroma::HdrRgbaLe,
    };
    // Decoding options are left at libheif's defaults (transformations
    // applied); libheif-rs 0.20 frees options it is given before using them.
    let image = libheif()
        .decode(&handle, ColorSpace::Rgb(chroma), None)
        .map_err(failed)?;
    let bands = if alpha { 4 } else { 3 };
    let plane = image
        .planes()
        .interleaved
        .ok_or_else(|| Error::InvalidImage {
            detail: "heif: the decoded image has no interleaved plane".into(),
        })?;
    let (w, h) = (plane.width as usize, plane.height as usize);
    let row = w * bands * if deep { 2 } else { 1 };
    if w == 0 || h == 0 || plane.stride < row || plane.data.len() < plane.stride * (h - 1) + row {
        return Err(Error::InvalidImage {
            detail: format!(
                "heif: decoded plane {w}x{h} with stride {} does not hold {bands} bands",
                plane.stride
            ),
        });
    }
    let mut pixels = Vec::with_capacity(w * h * bands);
    let rows = plane.data.chunks(plane.stride).take(h);
    if deep {
        let max = (1u32 << plane.bits_per_pixel.clamp(9, 16)) - 1;
        for line in rows {
            pixels.extend(
                line[..row]
                    .chunks_exact(2)
                    .map(|s| to_8_bit(u16::from_le_bytes([s[0], s[1]]), max)),
            );
        }
    } else {
        for line in rows {
            pixels.extend_from_slice(&line[..row]);
        }
    }
    drop(image);
    let profile = handle.color_profile_raw();
    memory_image(&pixels, w, h, bands, profile.as_ref().map(|p| &p.data[..]))
}

#[cfg(feature = "heic")]
/// A `bits`-deep sample (`max` = 2^bits - 1) on the 0 to 255 scale, rounded.
fn to_8_bit(sample: u16, max: u32) -> u8 {
    ((u32::from(sample).min(max) * 255 + max / 2) / max) as u8
}

#[cfg(feature = "heic")]
/// The process's libheif, initialised once and never torn down (each
/// initialisation registers the decoder plugins again).
fn libheif() -> &'static LibHeif {
    static LIBHEIF: OnceLock<LibHeif> = OnceLock::new();
    LIBHEIF.get_or_init(LibHeif::new)
}

#[cfg(feature = "heic")]
/// A libheif failure, as the input's fault unless it is libheif's or ours.
fn heif_error(e: HeifError) -> Error {
    match e.code {
        HeifErrorCode::UnsupportedFeature => Error::UnsupportedFormat {
            detail: format!(
                "HEIF with a feature this service cannot decode: {}",
                e.message
            ),
        },
        HeifErrorCode::UsageError | HeifErrorCode::ContextCreateFailed => Error::Processing {
            detail: format!("heif: {e}"),
        },
        HeifErrorCode::MemoryAllocationError
            if !matches!(e.sub_code, HeifErrorSubCode::SecurityLimitExceeded) =>
        {
            Error::Processing {
                detail: format!("heif: {e}"),
            }
        }
        _ => Error::InvalidImage {
            detail: format!("heif: {e}"),
        },
    }
}

#[cfg(feature = "heic")]
/// Codecs this libheif (Debian's 1.15: libde265, dav1d/aom) decodes.
const DECODABLE: &[&str] = &["HEVC", "AV1"];

#[cfg(feature = "heic")]
/// A libheif failure on `bytes`. A codec libheif cannot decode is named after
/// the file's brands: libheif 1.15 reports a missing decoder plugin as an
/// unsupported codec, but an image item of a type it does not know (JPEG 2000,
/// VVC) as a missing image; that is corruption only when the brands announce a
/// codec it has.
fn codec_error(bytes: &[u8], e: HeifError) -> Error {
    let codec = codec_name(bytes);
    let missing_codec = match (e.code, e.sub_code) {
        (
            HeifErrorCode::UnsupportedFeature,
            HeifErrorSubCode::UnsupportedCodec | HeifErrorSubCode::UnsupportedImageType,
        ) => true,
        (
            HeifErrorCode::InvalidInput,
            HeifErrorSubCode::NoOrInvalidPrimaryItem
            | HeifErrorSubCode::MissingGridImages
            | HeifErrorSubCode::NoItemData,
        ) => !DECODABLE.contains(&codec),
        _ => false,
    };
    if missing_codec {
        return Error::UnsupportedFormat {
            detail: format!("HEIF with {codec} compression, which this service cannot decode"),
        };
    }
    heif_error(e)
}

#[cfg(feature = "heic")]
/// The codec a HEIF file's `ftyp` brands announce, for messages.
fn codec_name(bytes: &[u8]) -> &'static str {
    let size = bytes
        .get(0..4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
        .unwrap_or(0)
        .min(bytes.len());
    let brands = bytes.get(8..size).unwrap_or(&[]);
    // the major brand, then (after the minor version) the compatible ones
    let names = brands
        .chunks_exact(4)
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, b)| b);
    for brand in names {
        let name = match brand {
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => "HEVC",
            b"avif" | b"avis" => "AV1",
            b"j2ki" | b"j2is" => "JPEG 2000",
            b"vvic" | b"vvis" => "VVC",
            b"evbi" | b"evbs" => "EVC",
            b"jpeg" | b"jpgs" => "JPEG",
            _ => continue,
        };
        return name;
    }
    "an unknown"
}

/// Whether this build decodes HEIC/HEIF (the `heic` feature, which links
/// the system libheif).
pub const HEIC: bool = cfg!(feature = "heic");

/// Without the `heic` feature, a HEIC original is refused with how to get a
/// build that decodes it.
#[cfg(not(feature = "heic"))]
fn no_heic() -> Error {
    Error::DecoderNotBuilt {
        format: "HEIC/HEIF",
        hint: "build it with `cargo build --release --features heic`, which needs \
               libheif (apt-get install libheif-dev pkg-config); the Lambda layer has it",
    }
}

#[cfg(not(feature = "heic"))]
fn heif_header(_: &[u8]) -> Result<Header> {
    Err(no_heic())
}

#[cfg(not(feature = "heic"))]
fn heif_decode(_: &[u8], _: u64) -> Result<VipsImage> {
    Err(no_heic())
}

/// JPEG XL through jxl-oxide.
mod jxl {
    use jxl_oxide::{AllocTracker, JxlImage, PixelFormat};
    use rs_vips::VipsImage;

    use super::{Header, check_pixels, memory_image};
    use crate::error::{Error, Result};

    /// What jxl-oxide may allocate while it reads the headers and frame
    /// table, beyond the file's own length. It reserves each group's data
    /// at the size the frame table declares, before reading it: without a
    /// bound a 133-byte file declared a 1 GB group (found by the `decode`
    /// fuzz target). A group's data lives in the file, so a table that
    /// declares more than the file holds is refused.
    const HEADER_MARGIN: usize = 4 << 20;

    /// What rendering may allocate per pixel (after the pixel limit is
    /// checked): 32-bit samples for the colour and alpha channels, with room
    /// for working copies and a few extra channels.
    const RENDER_BYTES_PER_PIXEL: usize = 128;

    /// Parses the headers and frame table (no pixel is decoded yet), with
    /// allocations held to the file's length; the tracker is returned for
    /// the render to widen.
    fn open(bytes: &[u8]) -> Result<(JxlImage, AllocTracker)> {
        let tracker = AllocTracker::with_limit(bytes.len().saturating_add(HEADER_MARGIN));
        let image = JxlImage::builder()
            .alloc_tracker(tracker.clone())
            .read(bytes)
            .map_err(|e| Error::InvalidImage {
                detail: format!("jxl: {e}"),
            })?;
        if image.num_loaded_keyframes() == 0 || !image.is_loading_done() {
            return Err(Error::InvalidImage {
                detail: "jxl: the file ends before its first frame does".into(),
            });
        }
        Ok((image, tracker))
    }

    pub(super) fn header(bytes: &[u8]) -> Result<Header> {
        let (image, _) = open(bytes)?;
        Ok(Header {
            width: image.width(),
            height: image.height(),
            alpha: image.pixel_format().has_alpha(),
            images: image.num_loaded_keyframes() as u32,
            space: if image.pixel_format().is_grayscale() {
                "b-w"
            } else {
                "srgb"
            },
        })
    }

    pub(super) fn decode(bytes: &[u8], max_pixels: u64) -> Result<VipsImage> {
        let (image, tracker) = open(bytes)?;
        check_pixels(image.width(), image.height(), max_pixels)?;
        let pixels = image.width() as usize * image.height() as usize;
        tracker.expand_limit(pixels.saturating_mul(RENDER_BYTES_PER_PIXEL));
        if matches!(image.pixel_format(), PixelFormat::Cmyk | PixelFormat::Cmyka) {
            return Err(Error::UnsupportedFormat {
                detail: "CMYK JPEG XL, which this service cannot decode".into(),
            });
        }
        let render = image.render_frame(0).map_err(|e| Error::InvalidImage {
            detail: format!("jxl: {e}"),
        })?;
        // colour and alpha channels, oriented, as 8-bit samples
        let mut stream = render.stream();
        let (w, h, bands) = (
            stream.width() as usize,
            stream.height() as usize,
            stream.channels() as usize,
        );
        if !(1..=4).contains(&bands) {
            return Err(Error::UnsupportedFormat {
                detail: format!("JPEG XL with {bands} channels"),
            });
        }
        let mut pixels = vec![0u8; w * h * bands];
        let written = stream.write_to_buffer(&mut pixels);
        if written != pixels.len() {
            return Err(Error::InvalidImage {
                detail: format!("jxl: {written} of {} samples decoded", pixels.len()),
            });
        }
        drop(render);
        memory_image(&pixels, w, h, bands, Some(&image.rendered_icc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "heic")]
    fn deep_samples_scale_with_rounding() {
        assert_eq!(to_8_bit(0, 1023), 0);
        assert_eq!(to_8_bit(1023, 1023), 255);
        assert_eq!(to_8_bit(512, 1023), 128);
        assert_eq!(to_8_bit(4095, 4095), 255);
        assert_eq!(to_8_bit(2048, 4095), 128);
        // out-of-range samples saturate
        assert_eq!(to_8_bit(u16::MAX, 1023), 255);
        for v in 0..=1023u16 {
            let exact = f64::from(v) * 255.0 / 1023.0;
            assert!((f64::from(to_8_bit(v, 1023)) - exact).abs() <= 0.5);
        }
    }

    #[test]
    #[cfg(feature = "heic")]
    fn codecs_are_named_from_the_brands() {
        let ftyp = |major: &[u8; 4], compatible: &[&[u8; 4]]| {
            let mut b = Vec::new();
            b.extend(((16 + 4 * compatible.len()) as u32).to_be_bytes());
            b.extend(b"ftyp");
            b.extend(major);
            b.extend([0, 0, 0, 0]);
            for c in compatible {
                b.extend(*c);
            }
            b.extend(b"\0\0\0\x08meta");
            b
        };
        assert_eq!(codec_name(&ftyp(b"heic", &[b"mif1"])), "HEVC");
        assert_eq!(codec_name(&ftyp(b"mif1", &[b"mif1", b"j2ki"])), "JPEG 2000");
        assert_eq!(codec_name(&ftyp(b"mif1", &[b"miaf", b"vvic"])), "VVC");
        assert_eq!(codec_name(&ftyp(b"mif1", &[])), "an unknown");
        assert_eq!(codec_name(b"\0\0"), "an unknown");
    }

    #[test]
    fn a_jxl_frame_table_cannot_reserve_more_than_the_file_holds() {
        // Found by the `decode` fuzz target: a 133-byte codestream whose
        // frame table declares a group of about 1 GB, which jxl-oxide
        // reserved before reading it (its first byte is the target's choice
        // of edits).
        let found = include_bytes!("../../fuzz/regressions/decode/jxl-toc-declares-1gb");
        let bytes = &found[1..];
        for e in [
            Decoder::Jxl.header(bytes).unwrap_err(),
            Decoder::Jxl.decode(bytes, u64::MAX).unwrap_err(),
        ] {
            assert!(matches!(e, Error::InvalidImage { .. }), "{e:?}");
            let detail = e.detail().unwrap_or_default().to_string();
            assert!(
                detail.contains("1077953535"),
                "refused for its size: {detail}"
            );
        }
    }

    #[test]
    #[cfg(not(feature = "heic"))]
    fn without_the_feature_heic_is_refused_saying_how_to_get_it() {
        let mut bytes = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
        bytes.extend([0xAB; 64]);
        for e in [
            Decoder::Heif.header(&bytes).unwrap_err(),
            Decoder::Heif.decode(&bytes, u64::MAX).unwrap_err(),
        ] {
            assert_eq!(
                (e.status().as_u16(), e.code()),
                (400, "UnsupportedImageFormat")
            );
            assert!(e.to_string().contains("--features heic"), "{e}");
        }
    }

    #[test]
    #[cfg(feature = "heic")]
    fn garbage_is_an_invalid_image() {
        let mut bytes = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
        bytes.extend([0xAB; 64]);
        assert!(matches!(
            Decoder::Heif.header(&bytes),
            Err(Error::InvalidImage { .. })
        ));
        assert!(matches!(
            Decoder::Heif.decode(&bytes, u64::MAX),
            Err(Error::InvalidImage { .. })
        ));
    }
}
