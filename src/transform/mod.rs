//! The libvips engine: one job turns an original's bytes into the encoded output.
//!
//! [`Engine`] owns libvips' global state (initialised once, operation cache
//! off) and runs every job on tokio's blocking pool behind a semaphore, so
//! image work never blocks the async runtime and never exceeds the configured
//! concurrency. The order of operations lives in [`pipeline`]; each edit's
//! pixel work lives in [`edits`]; encoder settings live in [`encode`]; which
//! loader may read what in [`format`]; SVG sanitising in [`svg`]; the
//! decoders of the formats libvips lacks (HEIC, JPEG XL) in [`decoders`].

pub mod decoders;
pub mod edits;
pub mod encode;
pub mod format;
pub mod pipeline;
pub mod svg;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use rs_vips::{Vips, VipsImage};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::request::{Edit, Limits, Output, OutputFormat};
pub use format::{Accepted, SourceFormat};

/// Everything a transform needs; nothing here is HTTP.
#[derive(Debug, Clone)]
pub struct Job {
    /// The original file.
    pub bytes: Bytes,
    /// Edits in order.
    pub edits: Vec<Edit>,
    /// Requested output options.
    pub output: Output,
    /// Which automatic formats the client accepts.
    pub accepted: Accepted,
    /// Output size bounds.
    pub limits: Limits,
    /// Largest original, in pixels over all frames.
    pub max_input_pixels: u64,
    /// Most frames an animation may have (`animated=false` reads only the first).
    pub max_frames: u32,
    /// Encoder effort.
    pub effort: encode::Effort,
    /// The largest output the transport can carry (Lambda's 6 MB response);
    /// a larger output is reduced to fit.
    pub max_output_bytes: Option<u64>,
    /// The originals of the request's overlays, in the order of its
    /// `Edit::Overlay`s (fetched by the handler, which owns the origin).
    pub overlays: Vec<Bytes>,
}

/// A finished transform.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The encoded file.
    pub bytes: Bytes,
    /// Its format.
    pub format: OutputFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Set when the output had to be reduced to fit `Job::max_output_bytes`.
    pub reduced: Option<Reduction>,
    /// Time spent encoding (part of the whole transform).
    pub encode_time: std::time::Duration,
}

/// How an output was reduced to fit the response size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reduction {
    /// The quality it was encoded at, for lossy formats.
    pub quality: Option<u8>,
    /// The width it was scaled to.
    pub width: u32,
    /// The height it was scaled to.
    pub height: u32,
}

/// Runs jobs on libvips with bounded concurrency.
#[derive(Debug, Clone)]
pub struct Engine {
    permits: Arc<Semaphore>,
}

static VIPS: OnceLock<std::result::Result<String, String>> = OnceLock::new();

/// Starts libvips once per process, with the operation cache disabled, and
/// returns its version.
pub fn init_vips() -> std::result::Result<String, String> {
    VIPS.get_or_init(|| {
        Vips::init("image-handler").map_err(|e| format!("libvips failed to start: {e}"))?;
        // Each request is different; the cache would only hold memory and files.
        Vips::cache_set_max(0);
        Vips::cache_set_max_mem(0);
        Vips::cache_set_max_files(0);
        format::restrict_loaders()?;
        Ok(Vips::version_string().unwrap_or_default())
    })
    .clone()
}

impl Engine {
    /// An engine running at most `concurrency` jobs at once.
    pub fn new(concurrency: usize) -> std::result::Result<Engine, String> {
        init_vips()?;
        Ok(Engine {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        })
    }

    /// Runs one job off the async runtime.
    pub async fn run(&self, job: Job) -> Result<Encoded> {
        self.blocking(move || pipeline::run(&job)).await
    }

    /// A tiny libvips round trip, for health checks.
    pub async fn health(&self) -> Result<()> {
        self.blocking(|| {
            let image = VipsImage::black(2, 2).map_err(|e| Error::Processing {
                detail: e.to_string(),
            })?;
            image.pngsave_buffer().map_err(|e| Error::Processing {
                detail: e.to_string(),
            })?;
            Ok(())
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Processing {
                detail: e.to_string(),
            })?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Processing {
                detail: format!("transform task failed: {e}"),
            })?
    }
}

/// What `?info` reports about an original, read from its header alone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Info {
    /// Width in pixels (upright, after EXIF orientation).
    pub width: u32,
    /// Height in pixels of one frame (upright).
    pub height: u32,
    /// The format, e.g. `jpeg`.
    pub format: &'static str,
    /// Frames (pages) in the file.
    pub pages: u32,
    /// Whether it has an alpha channel.
    pub alpha: bool,
    /// The EXIF orientation, 1 to 8.
    pub orientation: u8,
    /// The colour space, as libvips names it (`srgb`, `b-w`, `cmyk`, ...).
    pub space: String,
    /// The file size in bytes.
    pub bytes: u64,
}

impl Engine {
    /// Reads an original's header (no pixels are decoded).
    pub async fn info(&self, bytes: Bytes) -> Result<Info> {
        self.blocking(move || read_info(&bytes)).await
    }
}

/// Reads an original's header (no pixels are decoded), on the calling thread.
pub fn read_info(bytes: &[u8]) -> Result<Info> {
    let format = format::sniff(bytes)?;
    if decoders::decodes(format) {
        let h = decoders::header(bytes)?;
        return Ok(Info {
            width: h.width,
            height: h.height,
            format: format.name(),
            pages: h.images,
            alpha: h.alpha,
            // libheif's and jxl-oxide's sizes are already upright
            orientation: 1,
            space: h.space.into(),
            bytes: bytes.len() as u64,
        });
    }
    let header = match format {
        SourceFormat::Svg => format::open(&svg::sanitize(bytes)?, format, false, u64::MAX)?,
        _ => format::open(bytes, format, false, u64::MAX)?,
    };
    let orientation = header.get_orientation().clamp(1, 8) as u8;
    let pages = header.get_int("n-pages").unwrap_or(1).max(1) as u32;
    let (w, h) = (
        header.get_width().max(0) as u32,
        header.get_page_height().max(0) as u32,
    );
    let (width, height) = if orientation >= 5 { (h, w) } else { (w, h) };
    let space = header
        .get_interpretation()
        .map(|i| format!("{i:?}").to_ascii_lowercase())
        .unwrap_or_else(|_| "unknown".into());
    Ok(Info {
        width,
        height,
        format: format.name(),
        pages,
        alpha: header.hasalpha(),
        orientation,
        space,
        bytes: bytes.len() as u64,
    })
}

/// Whether a file name has an image extension (for listing examples).
pub fn looks_like_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        ".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif", ".gif", ".tif", ".tiff",
        ".svg", ".jxl",
    ]
    .iter()
    .any(|e| lower.ends_with(e))
}
