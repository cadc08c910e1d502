//! The libvips engine: one job turns an original's bytes into the encoded output.
//!
//! [`Engine`] owns libvips' global state (initialised once, operation cache
//! off) and runs every job on tokio's blocking pool behind a semaphore, so
//! image work never blocks the async runtime and never exceeds the configured
//! concurrency. A second, larger bound admits requests (running plus
//! waiting, [`Engine::admit`]): past it a request is refused at once with 503
//! instead of queueing without limit. [`deadline`] carries the request's
//! deadline into libvips work. The order of operations lives in
//! [`pipeline`]; each edit's pixel work lives in [`edits`]; encoder settings
//! live in [`encode`]; which loader may read what in [`format`]; SVG
//! sanitising in [`svg`]; the decoders of the formats libvips lacks (HEIC,
//! JPEG XL) in [`decoders`].

pub mod deadline;
pub mod decoders;
pub mod edits;
pub mod encode;
pub mod format;
pub mod pipeline;
pub mod svg;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use rs_vips::{Vips, VipsImage};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::request::{Edit, Limits, Output, OutputFormat};
pub use deadline::Deadline;
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
    /// Shrink JPEGs in the decoder as far as the output size allows
    /// (`FAST_SHRINK_ON_LOAD`), instead of leaving libvips' margin of at
    /// least 2x for its resampling.
    pub fast_shrink: bool,
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

/// Runs jobs on libvips with bounded concurrency and a bounded queue.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Jobs running at once.
    permits: Arc<Semaphore>,
    /// Requests admitted at once: running plus waiting.
    admitted: Arc<Semaphore>,
    concurrency: usize,
    queue: usize,
}

/// A request's place in the engine: running or waiting. Dropping it frees
/// the place; a job keeps it until libvips has finished with it.
#[derive(Debug)]
pub struct Ticket {
    _place: Option<OwnedSemaphorePermit>,
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
    /// An engine running at most `concurrency` jobs at once, with at most
    /// `queue` more admitted and waiting, each job on `threads` libvips
    /// threads (libvips' setting is global: the last engine made sets it).
    pub fn new(
        concurrency: usize,
        queue: usize,
        threads: usize,
    ) -> std::result::Result<Engine, String> {
        init_vips()?;
        Vips::concurrency_set(threads.clamp(1, 1024) as i32);
        let concurrency = concurrency.max(1);
        Ok(Engine {
            permits: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))),
            concurrency,
            queue,
        })
    }

    /// Takes a place for one request, or refuses it at once (503
    /// `Overloaded`) when every running and waiting place is taken. Take it
    /// before fetching the original, so that originals held in memory are
    /// bounded too.
    pub fn admit(&self) -> Result<Ticket> {
        self.admitted
            .clone()
            .try_acquire_owned()
            .map(|place| Ticket {
                _place: Some(place),
            })
            .map_err(|_| Error::Overloaded {
                running: self.concurrency,
                queued: self.queue,
            })
    }

    /// Runs one job off the async runtime (admitting it first).
    pub async fn run(&self, job: Job) -> Result<Encoded> {
        let ticket = self.admit()?;
        self.run_admitted(ticket, job, None).await
    }

    /// Runs one admitted job off the async runtime, within `deadline`: a
    /// job still waiting for a slot at the deadline is not started, and
    /// libvips' work on it is stopped at the deadline (see [`deadline`]).
    pub async fn run_admitted(
        &self,
        ticket: Ticket,
        job: Job,
        deadline: Option<Deadline>,
    ) -> Result<Encoded> {
        self.blocking(ticket, move || {
            deadline::scope(deadline, || pipeline::run(&job))
        })
        .await
    }

    /// A tiny libvips round trip, for health checks. It takes neither a
    /// place nor a transform slot: a load balancer must hear from a busy
    /// instance at once, not after the transforms ahead of it.
    pub async fn health(&self) -> Result<()> {
        tokio::task::spawn_blocking(|| {
            let image = VipsImage::black(2, 2).map_err(|e| Error::Processing {
                detail: e.to_string(),
            })?;
            image.pngsave_buffer().map_err(|e| Error::Processing {
                detail: e.to_string(),
            })?;
            Ok(())
        })
        .await
        .map_err(|e| Error::Processing {
            detail: format!("health check task failed: {e}"),
        })?
    }

    /// Waits for a slot, then runs `work` on the blocking pool. The slot and
    /// the ticket move into the blocking task, so they stay taken until
    /// libvips is done even when the request has gone (deadline, client
    /// disconnect): the concurrency bound holds for the work, not the requests.
    async fn blocking<T: Send + 'static>(
        &self,
        ticket: Ticket,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Processing {
                detail: e.to_string(),
            })?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop((permit, ticket));
            out
        })
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
    pub async fn info(&self, ticket: Ticket, bytes: Bytes) -> Result<Info> {
        self.blocking(ticket, move || read_info(&bytes)).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_is_bounded_and_places_come_back() {
        let engine = Engine::new(1, 1, 1).unwrap();
        let (a, b) = (engine.admit().unwrap(), engine.admit().unwrap());
        let refused = engine.admit().unwrap_err();
        assert!(
            matches!(
                refused,
                Error::Overloaded {
                    running: 1,
                    queued: 1
                }
            ),
            "{refused:?}"
        );
        assert_eq!(refused.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.retry_after(), Some(1));
        drop(a);
        let c = engine.admit().expect("a freed place is reused");
        drop((b, c));
        let none = Engine::new(2, 0, 1).unwrap();
        let _held = (none.admit().unwrap(), none.admit().unwrap());
        assert!(none.admit().is_err(), "queue 0: only the running places");
    }

    /// Holds the engine's only slot with work that waits for the returned sender.
    async fn hold_the_slot(engine: &Engine) -> std::sync::mpsc::Sender<()> {
        let ticket = engine.admit().unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let running = engine.clone();
        tokio::spawn(async move {
            running
                .blocking(ticket, move || {
                    started_tx.send(()).ok();
                    release_rx.recv().ok();
                    Ok(())
                })
                .await
        });
        tokio::task::spawn_blocking(move || started_rx.recv())
            .await
            .unwrap()
            .unwrap();
        release_tx
    }

    #[tokio::test]
    async fn health_answers_while_every_slot_is_busy() {
        let engine = Engine::new(1, 0, 1).unwrap();
        let release = hold_the_slot(&engine).await;
        // A load balancer's check must not queue behind the transforms.
        let health =
            tokio::time::timeout(std::time::Duration::from_secs(20), engine.health()).await;
        release.send(()).unwrap();
        assert!(
            matches!(health, Ok(Ok(()))),
            "health waited for a transform slot: {health:?}"
        );
    }

    #[tokio::test]
    async fn a_job_keeps_its_place_until_libvips_is_done() {
        let engine = Engine::new(1, 0, 1).unwrap();
        let ticket = engine.admit().unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let running = engine.clone();
        let task = tokio::spawn(async move {
            running
                .blocking(ticket, move || {
                    started_tx.send(()).ok();
                    release_rx.recv().ok();
                    Ok(())
                })
                .await
        });
        tokio::task::spawn_blocking(move || started_rx.recv())
            .await
            .unwrap()
            .unwrap();
        // The request goes away (deadline, disconnect) while libvips works on.
        task.abort();
        tokio::task::yield_now().await;
        assert!(engine.admit().is_err(), "the place is held by the work");
        release_tx.send(()).unwrap();
        let mut freed = false;
        for _ in 0..200 {
            if engine.admit().is_ok() {
                freed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(freed, "the place comes back when the work ends");
    }
}
