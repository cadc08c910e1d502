//! Input format detection, the loader policy, and output format negotiation.
//!
//! Originals are identified by their magic bytes, never by name or stored
//! content type, and each format in [`SourceFormat`] is opened by its own
//! libvips loader ([`open`]), never by libvips' content detection. Every other
//! loader is blocked when libvips starts ([`restrict_loaders`]), and so are
//! the ones libvips marks untrusted. The output format is the explicit one,
//! else the best one the client accepts (when automatic format is on), else
//! the source's own format, else JPEG or PNG.

use std::ffi::CString;

use rs_vips::VipsImage;
use rs_vips::voption::{Setter, VOption};
use serde::Serialize;

use super::decoders::Decoder;
use crate::error::{Error, Result};
use crate::request::{Output, OutputFormat};

/// Formats accepted as originals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// WebP.
    Webp,
    /// AVIF.
    Avif,
    /// HEIC/HEIF (read-only).
    Heic,
    /// GIF.
    Gif,
    /// TIFF.
    Tiff,
    /// JPEG XL (read-only; decoded by `decoders`).
    Jxl,
    /// SVG (sanitised before it is rasterised or returned, see `svg`).
    Svg,
}

/// The libvips loader classes that may run: one per [`SourceFormat`].
const ALLOWED_LOADERS: &[&str] = &[
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadTiff",
    "VipsForeignLoadHeif",
    "VipsForeignLoadSvg",
];

/// The operations [`open`] and the pipeline's shrink-on-load call.
const LOAD_OPERATIONS: &[&str] = &[
    "jpegload_buffer",
    "pngload_buffer",
    "webpload_buffer",
    "gifload_buffer",
    "tiffload_buffer",
    "heifload_buffer",
    "svgload_buffer",
    "thumbnail_buffer",
];

/// Blocks every libvips loader but [`ALLOWED_LOADERS`], and the operations
/// libvips marks untrusted (a blocked operation fails with "operation is
/// blocked"). Called once, when libvips starts; fails if one of the
/// operations this service calls is missing from the library (the binding
/// would crash on it, so this is checked at start-up, not met by a request).
pub fn restrict_loaders() -> std::result::Result<(), String> {
    let set = |name: &str, blocked: bool| {
        if let Ok(name) = CString::new(name) {
            // SAFETY: a NUL-terminated class name; libvips only reads it.
            unsafe { rs_vips::bindings::vips_operation_block_set(name.as_ptr(), blocked.into()) };
        }
    };
    // SAFETY: a global flag, set before any image is opened.
    unsafe { rs_vips::bindings::vips_block_untrusted_set(1) };
    set("VipsForeignLoad", true);
    for loader in ALLOWED_LOADERS {
        set(loader, false);
    }
    match LOAD_OPERATIONS.iter().find(|op| !operation_exists(op)) {
        Some(op) => Err(format!("libvips has no {op} operation")),
        None => Ok(()),
    }
}

/// Whether libvips has the operation `name`.
fn operation_exists(name: &str) -> bool {
    let Ok(name) = CString::new(name) else {
        return false;
    };
    // SAFETY: a NUL-terminated name; the operation, if created, is released at once.
    unsafe {
        let op = rs_vips::bindings::vips_operation_new(name.as_ptr());
        if op.is_null() {
            rs_vips::Vips::error_clear();
            return false;
        }
        rs_vips::bindings::g_object_unref(op.cast());
        true
    }
}

/// Opens an original of its sniffed format: with that format's own libvips
/// loader, failing on the first decode error (pixels are decoded lazily,
/// when a later step reads them), or, for the formats libvips lacks (HEIC,
/// JPEG XL), through their [`Decoder`], which decodes the whole
/// image after checking it against `max_pixels`. `all_frames` loads every
/// frame of a GIF or WebP as one tall strip (`page-height` tells the frame
/// height).
pub fn open(
    bytes: &[u8],
    format: SourceFormat,
    all_frames: bool,
    max_pixels: u64,
) -> Result<VipsImage> {
    let options = || {
        let o = VOption::new().set("fail_on", "error");
        if all_frames { o.set("n", -1) } else { o }
    };
    let image = match format {
        SourceFormat::Jpeg => VipsImage::jpegload_buffer_with_opts(bytes, options()),
        SourceFormat::Png => VipsImage::pngload_buffer_with_opts(bytes, options()),
        SourceFormat::Webp => VipsImage::webpload_buffer_with_opts(bytes, options()),
        SourceFormat::Gif => VipsImage::gifload_buffer_with_opts(bytes, options()),
        SourceFormat::Tiff => VipsImage::tiffload_buffer_with_opts(bytes, options()),
        SourceFormat::Avif => VipsImage::heifload_buffer_with_opts(bytes, options()),
        SourceFormat::Svg => VipsImage::svgload_buffer_with_opts(bytes, options()),
        SourceFormat::Heic => return Decoder::Heif.decode(bytes, max_pixels),
        SourceFormat::Jxl => return Decoder::Jxl.decode(bytes, max_pixels),
    };
    image.map_err(|e| Error::InvalidImage {
        detail: e.to_string(),
    })
}

/// A JPEG decoded at 1/`shrink` (2, 4 or 8) of its size by the decoder's
/// DCT scaling, read top to bottom once.
pub fn open_jpeg_shrunk(bytes: &[u8], shrink: i32) -> Result<VipsImage> {
    VipsImage::jpegload_buffer_with_opts(
        bytes,
        VOption::new()
            .set("fail_on", "error")
            .set("shrink", shrink)
            .set("access", "sequential"),
    )
    .map_err(|e| Error::InvalidImage {
        detail: e.to_string(),
    })
}

impl SourceFormat {
    /// The format's short name.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Jpeg => "jpeg",
            SourceFormat::Png => "png",
            SourceFormat::Webp => "webp",
            SourceFormat::Avif => "avif",
            SourceFormat::Heic => "heic",
            SourceFormat::Gif => "gif",
            SourceFormat::Tiff => "tiff",
            SourceFormat::Svg => "svg",
            SourceFormat::Jxl => "jxl",
        }
    }

    /// The decoder of ours that reads originals of this format, for the
    /// formats libvips lacks (HEIC, JPEG XL); `None`: libvips reads it.
    pub fn decoder(self) -> Option<Decoder> {
        match self {
            SourceFormat::Heic => Some(Decoder::Heif),
            SourceFormat::Jxl => Some(Decoder::Jxl),
            _ => None,
        }
    }

    /// Whether the format can hold an animation this service keeps.
    pub fn animates(self) -> bool {
        matches!(self, SourceFormat::Gif | SourceFormat::Webp)
    }

    /// The same format as an output, if it can be written.
    pub fn writable(self) -> Option<OutputFormat> {
        Some(match self {
            SourceFormat::Jpeg => OutputFormat::Jpeg,
            SourceFormat::Png => OutputFormat::Png,
            SourceFormat::Webp => OutputFormat::Webp,
            SourceFormat::Avif => OutputFormat::Avif,
            SourceFormat::Gif => OutputFormat::Gif,
            SourceFormat::Tiff => OutputFormat::Tiff,
            SourceFormat::Heic | SourceFormat::Jxl | SourceFormat::Svg => return None,
        })
    }
}

/// Identifies an original from its first bytes, or refuses it with 400.
pub fn sniff(bytes: &[u8]) -> Result<SourceFormat> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let format = if starts(&[0xFF, 0xD8, 0xFF]) {
        SourceFormat::Jpeg
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        SourceFormat::Png
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        SourceFormat::Webp
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        SourceFormat::Gif
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        SourceFormat::Tiff
    } else if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0cJXL \r\n\x87\n") {
        // a bare codestream, or the ISO media container's signature box
        SourceFormat::Jxl
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        match &bytes[8..12] {
            b"avif" | b"avis" => SourceFormat::Avif,
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
                SourceFormat::Heic
            }
            brand => {
                return Err(Error::UnsupportedFormat {
                    detail: format!("ISO media brand {:?}", String::from_utf8_lossy(brand)),
                });
            }
        }
    } else if looks_like_svg(bytes) {
        SourceFormat::Svg
    } else if bytes.is_empty() {
        return Err(Error::UnsupportedFormat {
            detail: "the file is empty".into(),
        });
    } else {
        return Err(Error::UnsupportedFormat {
            detail: "unrecognised file signature".into(),
        });
    };
    Ok(format)
}

/// An SVG document: optional BOM and whitespace, then markup (an XML
/// declaration, comments or the element itself) with an `<svg` element
/// opening within the first 4 KiB.
fn looks_like_svg(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(head) = start.map(|s| &bytes[s..bytes.len().min(s + 4096)]) else {
        return false;
    };
    head.starts_with(b"<") && head.windows(4).any(|w| w == b"<svg")
}

/// Which modern formats may be chosen from the `Accept` header (the
/// configuration's `AUTO_FORMAT`, or SIH's `AUTO_WEBP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoFormat {
    /// AVIF when `Accept` has `image/avif`.
    pub avif: bool,
    /// WebP when `Accept` has `image/webp`.
    pub webp: bool,
}

impl AutoFormat {
    /// Both automatic formats (`format=best` considers every format the
    /// client accepts).
    pub const ALL: AutoFormat = AutoFormat {
        avif: true,
        webp: true,
    };

    /// Whether any automatic choice is on, so responses depend on `Accept`.
    pub fn enabled(self) -> bool {
        self.avif || self.webp
    }
}

/// What the client's `Accept` header allows, already masked by the
/// configuration, and whether it asked to save data (`Save-Data: on`, read
/// only when automatic quality applies).
///
/// This is the only part of the HTTP request that reaches the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Accepted {
    /// `image/avif` is accepted and automatic AVIF is on.
    pub avif: bool,
    /// `image/webp` is accepted and automatic WebP is on.
    pub webp: bool,
    /// `Save-Data: on` lowers automatic quality's target. Left out of the
    /// variant tag when off, so the tags of other requests stay as they were.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub save_data: bool,
}

impl Accepted {
    /// Which automatic formats are accepted, without `Save-Data`.
    pub const fn formats(avif: bool, webp: bool) -> Accepted {
        Accepted {
            avif,
            webp,
            save_data: false,
        }
    }

    /// Reads an `Accept` header value. Media ranges with `q=0` are refused ones.
    pub fn from_header(accept: Option<&str>, auto: AutoFormat) -> Accepted {
        let mut out = Accepted::default();
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match media.as_str() {
                "image/avif" => out.avif = auto.avif,
                "image/webp" => out.webp = auto.webp,
                _ => {}
            }
        }
        out
    }
}

/// What a response takes from the client's headers, and whether it
/// therefore varies on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Client {
    /// What the transform may use of them.
    pub accepted: Accepted,
    /// The format depends on `Accept`: none was asked for and automatic
    /// format is on, or `format=best` was asked for (which reads `Accept`
    /// whatever `AUTO_FORMAT` says).
    pub vary_accept: bool,
    /// Automatic quality applies, so its target depends on `Save-Data`.
    pub vary_save_data: bool,
}

impl Client {
    /// Reads `Accept` and `Save-Data` (header values, if sent) for a
    /// request's `output`, under the configured automatic formats; `auto_quality`
    /// says whether automatic quality applies to it.
    pub fn read(
        output: &Output,
        auto: AutoFormat,
        auto_quality: bool,
        accept: Option<&str>,
        save_data: Option<&[u8]>,
    ) -> Client {
        let vary_accept = output.best || (output.format.is_none() && auto.enabled());
        let mut accepted = if vary_accept {
            Accepted::from_header(accept, if output.best { AutoFormat::ALL } else { auto })
        } else {
            Accepted::default()
        };
        accepted.save_data =
            auto_quality && save_data.is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"on"));
        Client {
            accepted,
            vary_accept,
            vary_save_data: auto_quality,
        }
    }
}

/// What the output format depends on about the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Original {
    /// Its format.
    pub format: SourceFormat,
    /// It has an alpha channel (picks PNG over JPEG when its format cannot be written).
    pub alpha: bool,
    /// It is an animation that the request keeps (AVIF is then not chosen
    /// automatically: it would drop the frames).
    pub animated: bool,
    /// The request edits it (an unedited SVG is returned as SVG).
    pub edited: bool,
}

/// Chooses the output format: explicit, else an unedited SVG as itself, else
/// accepted (AVIF, WebP), else preferred, else the source's own.
pub fn negotiate(
    explicit: Option<OutputFormat>,
    preferred: Option<OutputFormat>,
    accepted: Accepted,
    original: Original,
) -> OutputFormat {
    if let Some(f) = explicit {
        return f;
    }
    if original.format == SourceFormat::Svg && !original.edited && preferred.is_none() {
        return OutputFormat::Svg;
    }
    if accepted.avif && !original.animated {
        return OutputFormat::Avif;
    }
    if accepted.webp {
        return OutputFormat::Webp;
    }
    if let Some(f) = preferred {
        return f;
    }
    original.format.writable().unwrap_or(if original.alpha {
        OutputFormat::Png
    } else {
        OutputFormat::Jpeg
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: AutoFormat = AutoFormat::ALL;

    #[test]
    fn sniffing() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap(),
            SourceFormat::Jpeg
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....").unwrap(), SourceFormat::Png);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(), SourceFormat::Webp);
        assert_eq!(sniff(b"\0\0\0\x1cftypavif").unwrap(), SourceFormat::Avif);
        assert_eq!(sniff(b"\0\0\0\x18ftypheic").unwrap(), SourceFormat::Heic);
        assert_eq!(sniff(b"GIF89a").unwrap(), SourceFormat::Gif);
        assert_eq!(sniff(b"MM\0*").unwrap(), SourceFormat::Tiff);
        for svg in [
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"[..],
            b"\xEF\xBB\xBF\n  <?xml version=\"1.0\"?>\n<!-- made by hand -->\n<svg/>",
        ] {
            assert_eq!(sniff(svg).unwrap(), SourceFormat::Svg);
        }
        assert_eq!(sniff(&[0xFF, 0x0A, 0xFA]).unwrap(), SourceFormat::Jxl);
        assert_eq!(
            sniff(b"\0\0\0\x0cJXL \r\n\x87\n\0\0\0\x14ftypjxl ").unwrap(),
            SourceFormat::Jxl
        );
        for bad in [
            &b""[..],
            b"BM",
            b"%PDF-1.4",
            b"<html><body>no vector here</body></html>",
            b"\0\0\0\x18ftypmp42",
        ] {
            assert!(matches!(sniff(bad), Err(Error::UnsupportedFormat { .. })));
        }
    }

    #[test]
    fn only_the_allowed_loaders_run() {
        crate::transform::init_vips().unwrap();
        // Loaders outside the policy refuse to run even when called directly.
        let text = rs_vips::VipsSource::new_from_memory(b"1 2\n3 4\n").unwrap();
        for (name, loaded) in [
            ("csvload", VipsImage::csvload_source(&text)),
            ("matrixload", VipsImage::matrixload_source(&text)),
            ("vipsload", VipsImage::vipsload_source(&text)),
        ] {
            let e = loaded.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("operation is blocked"), "{name}: {e}");
        }
        rs_vips::Vips::error_clear();
        assert!(LOAD_OPERATIONS.iter().all(|op| operation_exists(op)));
        assert!(!operation_exists("no_such_load_buffer"));
        // Each accepted format opens through its own loader.
        let image = VipsImage::black(4, 3).unwrap();
        let png = image.pngsave_buffer().unwrap();
        let jpeg = image.jpegsave_buffer().unwrap();
        let gif = image.gifsave_buffer().unwrap();
        let webp = image.webpsave_buffer().unwrap();
        let tiff = image.tiffsave_buffer().unwrap();
        let avif = image
            .heifsave_buffer_with_opts(VOption::new().set("compression", "av1"))
            .unwrap();
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="4" height="3"/>"#;
        for bytes in [&png[..], &jpeg, &gif, &webp, &tiff, &avif, svg] {
            let format = sniff(bytes).unwrap();
            let opened = open(bytes, format, false, u64::MAX).unwrap();
            assert_eq!(
                (opened.get_width(), opened.get_height()),
                (4, 3),
                "{format:?}"
            );
        }
    }

    #[test]
    fn accept_parsing() {
        let a = Accepted::from_header(Some("image/avif,image/webp,*/*;q=0.8"), ALL);
        assert_eq!(a, Accepted::formats(true, true));
        let a = Accepted::from_header(Some("image/avif;q=0, image/webp"), ALL);
        assert_eq!(a, Accepted::formats(false, true));
        let a = Accepted::from_header(
            Some("IMAGE/AVIF"),
            AutoFormat {
                avif: false,
                webp: true,
            },
        );
        assert_eq!(a, Accepted::default());
        assert_eq!(Accepted::from_header(None, ALL), Accepted::default());
    }

    #[test]
    fn client_headers_are_read_only_where_the_answer_depends_on_them() {
        let chrome = Some("image/avif,image/webp,*/*");
        let on = Some(&b" On "[..]);
        let read = |output: &Output, auto, quality| Client::read(output, auto, quality, chrome, on);
        let none = AutoFormat {
            avif: false,
            webp: false,
        };
        // automatic format: Accept read, varied on
        let c = read(&Output::default(), ALL, false);
        assert_eq!(
            (c.accepted, c.vary_accept, c.vary_save_data),
            (Accepted::formats(true, true), true, false)
        );
        // an explicit format: neither
        let webp = Output {
            format: Some(OutputFormat::Webp),
            ..Output::default()
        };
        assert_eq!(read(&webp, ALL, false), Client::default());
        // best reads Accept even with AUTO_FORMAT off
        let best = Output {
            best: true,
            ..Output::default()
        };
        let c = read(&best, none, false);
        assert_eq!(
            (c.accepted, c.vary_accept),
            (Accepted::formats(true, true), true)
        );
        // Save-Data only under automatic quality, and only `on`
        let c = read(&webp, ALL, true);
        assert!(c.accepted.save_data && c.vary_save_data && !c.vary_accept);
        let off = Client::read(&webp, ALL, true, chrome, Some(b"off"));
        assert!(!off.accepted.save_data && off.vary_save_data);
    }

    #[test]
    fn negotiation_order() {
        use OutputFormat::{Avif, Gif, Jpeg, Png, Svg, Webp};
        use SourceFormat as S;
        let accepted = Accepted::formats;
        let (both, webp, none) = (
            accepted(true, true),
            accepted(false, true),
            accepted(false, false),
        );
        let animated = Original {
            animated: true,
            ..still(S::Gif, false)
        };
        let svg = still(S::Svg, true);
        let edited = Original {
            edited: true,
            ..svg
        };
        // (forced, SIH's outputFormat, what the client accepts, the original) -> the output
        for (forced, preferred, accepts, original, want) in [
            (Some(Png), None, both, still(S::Jpeg, false), Png),
            (None, None, both, still(S::Jpeg, false), Avif),
            (None, None, webp, still(S::Jpeg, false), Webp),
            (None, None, none, still(S::Gif, false), Gif),
            (None, None, none, still(S::Heic, false), Jpeg),
            (None, None, none, still(S::Heic, true), Png),
            (None, None, none, still(S::Jxl, false), Jpeg),
            // SIH's outputFormat: below automatic WebP, above the source format
            (None, Some(Jpeg), webp, still(S::Png, false), Webp),
            (None, Some(Jpeg), none, still(S::Png, false), Jpeg),
            // an animation kept is never made AVIF automatically; WebP keeps its frames
            (None, None, both, animated, Webp),
            (None, None, accepted(true, false), animated, Gif),
            // an unedited SVG stays SVG whatever the client accepts; edited, it is rasterised
            (None, None, both, svg, Svg),
            (None, None, none, edited, Png),
            (None, None, both, edited, Avif),
            (Some(Webp), None, none, svg, Webp),
        ] {
            let got = negotiate(forced, preferred, accepts, original);
            assert_eq!(
                got, want,
                "{forced:?} {preferred:?} {accepts:?} {original:?}"
            );
        }
    }

    fn still(format: SourceFormat, alpha: bool) -> Original {
        Original {
            format,
            alpha,
            animated: false,
            edited: false,
        }
    }
}
