//! Which of the original's metadata reaches the output ([`Metadata`]): the
//! one place that decides whether an embedded profile is applied or kept,
//! what the image carries into the encoder, and the encoder's `keep` flags.
//!
//! - Nothing kept (the default): the profile is applied (pixels become
//!   sRGB) and the encoder keeps nothing.
//! - `copyright`: the pixels are sRGB, and the output carries an EXIF block
//!   made afresh with only `Artist` and `Copyright`. The image is rebuilt
//!   from its pixels alone (a copy of the output-sized pixels), so no other
//!   field of the original can come along: libvips writes every `exif-ifd*`
//!   field an image carries, and the binding cannot list them to remove them.
//! - `keep`: EXIF (its orientation set to 1, since the pixels were turned
//!   upright), XMP, IPTC and the ICC profile. An RGB original with a profile
//!   keeps its pixels in that profile (Display P3 stays P3, no conversion to
//!   sRGB); other originals with a profile (CMYK, grayscale) are converted to
//!   sRGB as usual and written without a profile. Without `icc` (`stripIcc`) the
//!   pixels are converted to sRGB and no profile is written.

use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Interpretation};

use super::failure::vips;
use crate::error::{Error, Result};
use crate::request::{ExifKept, Metadata};

/// libvips' name of the embedded ICC profile.
const ICC: &str = "icc-profile-data";
/// libvips' names of the two EXIF fields `copyright` keeps.
const COPYRIGHT_FIELDS: [&str; 2] = ["exif-ifd0-Artist", "exif-ifd0-Copyright"];

/// libvips' `VipsForeignKeep` flags (set as a number, like other flags).
const KEEP_EXIF: i32 = 1;
const KEEP_XMP: i32 = 2;
const KEEP_IPTC: i32 = 4;
const KEEP_ICC: i32 = 8;

/// Whether `image`'s embedded profile stays, unapplied: `keep` with the
/// profile, on an RGB image (a profile libvips can write with RGB pixels).
pub fn keeps_profile(image: &VipsImage, metadata: Metadata) -> bool {
    metadata.icc
        && image.get_typeof(ICC).unwrap_or(0) != 0
        && matches!(
            image.get_interpretation(),
            Ok(Interpretation::Srgb | Interpretation::Rgb16)
        )
        && image.get_bands() >= 3
}

/// Whether libvips `version` (`8.18.7`) has the savers' `keep` option
/// (8.15 and later), which every mode but the default needs.
pub fn keep_supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (8, 15)
}

/// Refuses a mode other than the default when the linked libvips cannot
/// keep metadata: 400 naming the version, rather than a failed save.
pub fn check_supported(metadata: Metadata) -> Result<()> {
    if metadata == Metadata::default() {
        return Ok(());
    }
    let version = super::init_vips().unwrap_or_default();
    if keep_supported(&version) {
        Ok(())
    } else {
        Err(Error::param(
            "metadata",
            format!(
                "keeping metadata needs libvips 8.15 or later; this build links libvips {version}"
            ),
        ))
    }
}

/// The encoder's `keep` flags for `metadata`.
pub fn keep_flags(metadata: Metadata) -> i32 {
    let exif = match metadata.exif {
        ExifKept::None => 0,
        ExifKept::Copyright | ExifKept::All => KEEP_EXIF,
    };
    let xmp_iptc = if metadata.xmp_iptc {
        KEEP_XMP | KEEP_IPTC
    } else {
        0
    };
    let icc = if metadata.icc { KEEP_ICC } else { 0 };
    exif | xmp_iptc | icc
}

/// Readies the metadata `image` carries into the encoder for `metadata`
/// (see the module docs). Unchanged when nothing is kept: the encoder's
/// flags then drop it all.
pub fn prepare(image: VipsImage, metadata: Metadata) -> Result<VipsImage> {
    let mut image = match metadata.exif {
        ExifKept::None => image,
        ExifKept::Copyright => copyright_only(&image)?,
        ExifKept::All => {
            let mut image = image;
            // Upright already: an orientation left in the EXIF would turn it again.
            image.set_int("orientation", 1).map_err(vips)?;
            image
        }
    };
    // A profile written with pixels that are not in it (a grayscale output
    // of an RGB profile) would misdescribe them.
    let colour_bands = image.get_bands() - i32::from(image.hasalpha());
    if metadata.icc && colour_bands != 3 && image.get_typeof(ICC).unwrap_or(0) != 0 {
        image.remove(ICC).map_err(vips)?;
    }
    Ok(image)
}

/// The image's pixels and frame layout with no metadata but the original's
/// EXIF `Artist` and `Copyright` (when it has them).
fn copyright_only(image: &VipsImage) -> Result<VipsImage> {
    let format = image.get_format().map_err(vips)?;
    let (width, height, bands) = (image.get_width(), image.get_height(), image.get_bands());
    let pixels = image.write_to_memory();
    let expected = width as usize * height as usize * bands as usize * sample_bytes(format);
    if pixels.len() != expected {
        return Err(Error::Processing {
            detail: format!(
                "the image's pixels came out as {} bytes, not {expected}",
                pixels.len()
            ),
        });
    }
    let mut fresh =
        VipsImage::new_from_memory_copy(&pixels, width, height, bands, format).map_err(vips)?;
    drop(pixels);
    // What the encoders read besides pixels: the frame layout of an animation.
    if image.get_typeof("page-height").unwrap_or(0) != 0 {
        fresh
            .set_int("page-height", image.get_page_height())
            .map_err(vips)?;
    }
    for name in ["loop", "gif-loop"] {
        if let Ok(v) = image.get_int(name) {
            fresh.set_int(name, v).map_err(vips)?;
        }
    }
    if let Ok(delay) = image.get_array_int("delay") {
        fresh.set_array_int("delay", &delay).map_err(vips)?;
    }
    for name in COPYRIGHT_FIELDS {
        if let Ok(field) = image.get_string(name) {
            // libexif shows a Copyright without an editor part with a space
            // after it, which would be written back and grow each time.
            let value = exif_value(&field).trim_end();
            fresh.set_string(name, value).map_err(vips)?;
        }
    }
    Ok(fresh)
}

/// The text of an EXIF string field as libvips shows it,
/// `text (text, ASCII, n components, n bytes)`: `text`. libvips takes the
/// text back only when it holds no parenthesis, so it is cut out here;
/// a field in any other shape is returned whole.
fn exif_value(field: &str) -> &str {
    let Some((head, _)) = field
        .strip_suffix(" bytes)")
        .and_then(|f| f.rsplit_once(", ASCII, "))
    else {
        return field;
    };
    // `head` is `text (text`.
    let n = head.len().saturating_sub(2) / 2;
    match (head.get(..n), head.get(n..n + 2), head.get(n + 2..)) {
        (Some(a), Some(" ("), Some(b)) if a == b => a,
        _ => field,
    }
}

/// Bytes per sample of `format`.
fn sample_bytes(format: BandFormat) -> usize {
    match format {
        BandFormat::Uchar | BandFormat::Char => 1,
        BandFormat::Ushort | BandFormat::Short => 2,
        BandFormat::Uint | BandFormat::Int | BandFormat::Float => 4,
        BandFormat::Double | BandFormat::Complex => 8,
        BandFormat::Dpcomplex => 16,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn keeping_needs_libvips_8_15() {
        for (version, ok) in [
            ("8.18.7", true),
            ("8.15.0", true),
            ("9.0.1", true),
            ("8.14.1", false),
            ("8", false),
            ("", false),
            ("x.y", false),
        ] {
            assert_eq!(keep_supported(version), ok, "{version}");
        }
        assert!(check_supported(Metadata::default()).is_ok());
    }

    use super::{Metadata, check_supported, exif_value, keep_supported};

    #[test]
    fn exif_text_is_cut_out_of_libvips_fields() {
        let field = "(c) Jane (J) ((c) Jane (J), ASCII, 12 components, 12 bytes)";
        assert_eq!(exif_value(field), "(c) Jane (J)");
        assert_eq!(exif_value("Ann (Ann, ASCII, 4 components, 4 bytes)"), "Ann");
        assert_eq!(exif_value("é (é, ASCII, 3 components, 3 bytes)"), "é");
        for other in [
            "plain",
            "a (b, ASCII, 2 components, 2 bytes)",
            "",
            " bytes)",
        ] {
            assert_eq!(exif_value(other), other);
        }
    }
}
