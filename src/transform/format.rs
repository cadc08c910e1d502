//! Input format detection and output format negotiation.
//!
//! Originals are identified by their magic bytes, never by name or stored
//! content type, and only the formats listed in [`SourceFormat`] reach a
//! libvips loader. The output format is the explicit one, else the best one
//! the client accepts (when automatic format is on), else the source's own
//! format, else JPEG or PNG.

use serde::Serialize;

use crate::config::AutoFormat;
use crate::error::{Error, Result};
use crate::request::OutputFormat;

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
    /// JPEG XL (read-only).
    Jxl,
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
            SourceFormat::Jxl => "jxl",
        }
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
            SourceFormat::Heic | SourceFormat::Jxl => return None,
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

/// What the client's `Accept` header allows, already masked by the configuration.
///
/// This is the only part of the HTTP request that reaches the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Accepted {
    /// `image/avif` is accepted and automatic AVIF is on.
    pub avif: bool,
    /// `image/webp` is accepted and automatic WebP is on.
    pub webp: bool,
}

impl Accepted {
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

/// Chooses the output format: explicit, else accepted (AVIF, WebP), else
/// preferred, else the source's own. `has_alpha` picks PNG over JPEG when the source
/// format cannot be written.
pub fn negotiate(
    explicit: Option<OutputFormat>,
    preferred: Option<OutputFormat>,
    accepted: Accepted,
    source: SourceFormat,
    has_alpha: bool,
) -> OutputFormat {
    if let Some(f) = explicit {
        return f;
    }
    if accepted.avif {
        return OutputFormat::Avif;
    }
    if accepted.webp {
        return OutputFormat::Webp;
    }
    if let Some(f) = preferred {
        return f;
    }
    source.writable().unwrap_or(if has_alpha {
        OutputFormat::Png
    } else {
        OutputFormat::Jpeg
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: AutoFormat = AutoFormat {
        avif: true,
        webp: true,
    };

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
        assert_eq!(sniff(&[0xFF, 0x0A, 0xFA]).unwrap(), SourceFormat::Jxl);
        assert_eq!(
            sniff(b"\0\0\0\x0cJXL \r\n\x87\n\0\0\0\x14ftypjxl ").unwrap(),
            SourceFormat::Jxl
        );
        for bad in [
            &b""[..],
            b"BM",
            b"<svg xmlns",
            b"%PDF-1.4",
            b"\0\0\0\x18ftypmp42",
        ] {
            assert!(matches!(sniff(bad), Err(Error::UnsupportedFormat { .. })));
        }
    }

    #[test]
    fn accept_parsing() {
        let a = Accepted::from_header(Some("image/avif,image/webp,*/*;q=0.8"), ALL);
        assert_eq!(
            a,
            Accepted {
                avif: true,
                webp: true
            }
        );
        let a = Accepted::from_header(Some("image/avif;q=0, image/webp"), ALL);
        assert_eq!(
            a,
            Accepted {
                avif: false,
                webp: true
            }
        );
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
    fn negotiation_order() {
        let both = Accepted {
            avif: true,
            webp: true,
        };
        let webp = Accepted {
            avif: false,
            webp: true,
        };
        let none = Accepted::default();
        assert_eq!(
            negotiate(
                Some(OutputFormat::Png),
                None,
                both,
                SourceFormat::Jpeg,
                false
            ),
            OutputFormat::Png
        );
        assert_eq!(
            negotiate(None, None, both, SourceFormat::Jpeg, false),
            OutputFormat::Avif
        );
        assert_eq!(
            negotiate(None, None, webp, SourceFormat::Jpeg, false),
            OutputFormat::Webp
        );
        assert_eq!(
            negotiate(None, None, none, SourceFormat::Gif, false),
            OutputFormat::Gif
        );
        assert_eq!(
            negotiate(None, None, none, SourceFormat::Heic, false),
            OutputFormat::Jpeg
        );
        assert_eq!(
            negotiate(None, None, none, SourceFormat::Heic, true),
            OutputFormat::Png
        );
        assert_eq!(
            negotiate(None, None, none, SourceFormat::Jxl, false),
            OutputFormat::Jpeg
        );
        // SIH's outputFormat: below automatic WebP, above the source format
        let jpeg = Some(OutputFormat::Jpeg);
        assert_eq!(
            negotiate(None, jpeg, webp, SourceFormat::Png, false),
            OutputFormat::Webp
        );
        assert_eq!(
            negotiate(None, jpeg, none, SourceFormat::Png, false),
            OutputFormat::Jpeg
        );
    }
}
