//! The libvips engine: one job turns an original's bytes into the encoded output.
//!
//! [`Engine`] owns libvips' global state (initialised once, operation cache
//! off) and runs every job on tokio's blocking pool behind a semaphore, so
//! image work never blocks the async runtime and never exceeds the configured
//! concurrency. A second, larger bound admits requests (running plus
//! waiting, [`Engine::admit`]): past it a request is refused at once with 503
//! instead of queueing without limit. A third bounds memory: the bytes of the
//! originals and overlays held by admitted requests (`MAX_INFLIGHT_BYTES`),
//! reserved through the request's [`Ticket`] from the size the origin
//! announces before it reads a body (see [`Ticket`] for the waiting rules).
//! [`deadline`] carries the request's
//! deadline into libvips work. What a job takes and gives back lives in
//! [`job`]; the order of operations in [`pipeline`], over the state its steps
//! share ([`context`]); each edit's pixel work lives in [`edits`]; encoder
//! settings live in [`encode`]; automatic quality and `format=best` in
//! [`quality`]; which metadata the output keeps in
//! [`metadata`]; which loader may read what in [`format`](mod@format);
//! SVG sanitising in [`svg`]; the decoders of the formats libvips lacks
//! (HEIC, JPEG XL) in [`decoders`]; how a libvips failure becomes an error
//! in [`failure`].

pub mod context;
pub mod deadline;
pub mod decoders;
pub mod edits;
pub mod encode;
pub mod failure;
pub mod format;
pub mod job;
pub mod metadata;
pub mod pipeline;
pub mod quality;
pub mod svg;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use rs_vips::{Vips, VipsImage};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::budget::{Reserve, ReserveFuture};
use crate::error::{Error, Result};
pub use deadline::Deadline;
pub use format::{Accepted, SourceFormat};
pub use job::{Encoded, Job, OutputSettings, Reduction};

/// Runs jobs on libvips with bounded concurrency, a bounded queue and a
/// bounded number of original bytes in memory.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Jobs running at once.
    permits: Arc<Semaphore>,
    /// Requests admitted at once: running plus waiting.
    admitted: Arc<Semaphore>,
    /// Original and overlay bytes held by admitted requests, in KiB.
    memory: Arc<Semaphore>,
    /// The size of `memory`, in KiB.
    memory_kib: u64,
    concurrency: usize,
    queue: usize,
}

/// A snapshot of the engine's bounds in use ([`Engine::load`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// libvips jobs running (transforms and `?info` reads), at most
    /// `TRANSFORM_CONCURRENCY`; a job whose request has gone still counts
    /// until libvips has finished it.
    pub running: usize,
    /// Admitted requests not running a job: fetching their originals or
    /// waiting for a slot (at most `TRANSFORM_QUEUE_SIZE` beyond the slots).
    pub waiting: usize,
    /// Original and overlay bytes reserved by admitted requests
    /// (`MAX_INFLIGHT_BYTES`), in whole KiB.
    pub reserved_bytes: u64,
}

/// A request's place in the engine (running or waiting) and the memory it
/// has reserved for its originals. Dropping it frees both, so they come back
/// however the request ends (answer, error, deadline, client gone); a job
/// keeps it until libvips has finished with it.
///
/// Memory is reserved through [`Reserve`] by the origin, from the size it
/// learns before reading a body. The request's first reservation waits for
/// memory to come free, until the ticket's deadline ([`Ticket::until`]),
/// then is refused with 503 `Overloaded`. A later one (the handler fetches
/// the overlays, then the original) is granted at once or refused with 503:
/// a request that holds memory never waits for more, so two requests cannot
/// wait on each other.
/// A request needing more than the whole budget is refused with 413
/// `SourceTooLarge`.
#[derive(Debug)]
pub struct Ticket {
    _place: Option<OwnedSemaphorePermit>,
    memory: Arc<Semaphore>,
    memory_kib: u64,
    held: Mutex<Held>,
    until: Option<Instant>,
    busy: (usize, usize),
}

/// The memory a ticket holds.
#[derive(Debug, Default)]
struct Held {
    kib: u64,
    bytes: u64,
    permit: Option<OwnedSemaphorePermit>,
}

impl Ticket {
    /// Bounds the wait for memory by `deadline`.
    pub fn until(mut self, deadline: Deadline) -> Ticket {
        self.until = Some(deadline.at);
        self
    }

    /// Bytes reserved so far.
    pub fn reserved(&self) -> u64 {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }

    fn overloaded(&self) -> Error {
        Error::Overloaded {
            running: self.busy.0,
            queued: self.busy.1,
        }
    }

    async fn take(&self, key: &str, bytes: u64) -> Result<()> {
        let kib = bytes.div_ceil(1024);
        let (held_kib, held_bytes) = {
            let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            (held.kib, held.bytes)
        };
        if held_kib.saturating_add(kib) > self.memory_kib {
            return Err(Error::SourceTooLarge {
                key: key.to_string(),
                size: held_bytes.saturating_add(bytes),
                limit: self.memory_kib.saturating_mul(1024),
            });
        }
        // At most `memory_kib`, itself at most `Semaphore::MAX_PERMITS` and u32.
        let n = u32::try_from(kib).map_err(|_| self.overloaded())?;
        let permit = if held_kib == 0 {
            let wait = self.memory.clone().acquire_many_owned(n);
            let got = match self.until {
                Some(at) => tokio::time::timeout_at(at.into(), wait)
                    .await
                    .map_err(|_| {
                        tracing::warn!(
                            bytes,
                            "no memory came free before the deadline (MAX_INFLIGHT_BYTES)"
                        );
                        self.overloaded()
                    })?,
                None => wait.await,
            };
            got.map_err(|_| self.overloaded())?
        } else {
            self.memory.clone().try_acquire_many_owned(n).map_err(|_| {
                tracing::warn!(
                    bytes,
                    "no memory free for a further original (MAX_INFLIGHT_BYTES)"
                );
                self.overloaded()
            })?
        };
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.kib += kib;
        held.bytes = held.bytes.saturating_add(bytes);
        match &mut held.permit {
            Some(p) => p.merge(permit),
            None => held.permit = Some(permit),
        }
        Ok(())
    }
}

impl Reserve for Ticket {
    fn reserve<'a>(&'a self, key: &'a str, bytes: u64) -> ReserveFuture<'a> {
        Box::pin(self.take(key, bytes))
    }
}

/// The largest memory budget, in KiB (a semaphore's and one acquisition's bound).
const MAX_KIB: u64 = {
    let max = Semaphore::MAX_PERMITS as u64;
    if max < u32::MAX as u64 {
        max
    } else {
        u32::MAX as u64
    }
};

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
            memory: Arc::new(Semaphore::new(MAX_KIB as usize)),
            memory_kib: MAX_KIB,
            concurrency,
            queue,
        })
    }

    /// Bounds the original and overlay bytes held by admitted requests to
    /// `bytes` (`MAX_INFLIGHT_BYTES`; counted in whole KiB).
    pub fn with_inflight_bytes(mut self, bytes: u64) -> Engine {
        let kib = bytes.div_ceil(1024).clamp(1, MAX_KIB);
        self.memory = Arc::new(Semaphore::new(kib as usize));
        self.memory_kib = kib;
        self
    }

    /// The memory budget, in bytes.
    pub fn inflight_bytes(&self) -> u64 {
        self.memory_kib.saturating_mul(1024)
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
                memory: self.memory.clone(),
                memory_kib: self.memory_kib,
                held: Mutex::default(),
                until: None,
                busy: (self.concurrency, self.queue),
            })
            .map_err(|_| Error::Overloaded {
                running: self.concurrency,
                queued: self.queue,
            })
    }

    /// What the engine holds now, read from its bounds (so nothing on the
    /// request path counts it): for the metrics of `serve`.
    pub fn load(&self) -> Load {
        // A running job holds a slot and its place; read the slots first, so
        // a job ending between the two reads is not counted as waiting.
        let running = self
            .concurrency
            .saturating_sub(self.permits.available_permits());
        let admitted = self
            .concurrency
            .saturating_add(self.queue)
            .saturating_sub(self.admitted.available_permits());
        let free_kib = self.memory.available_permits() as u64;
        Load {
            running,
            waiting: admitted.saturating_sub(running),
            reserved_bytes: self
                .memory_kib
                .saturating_sub(free_kib)
                .saturating_mul(1024),
        }
    }

    /// Runs one job off the async runtime (admitting it and reserving its
    /// bytes first).
    pub async fn run(&self, job: Job) -> Result<Encoded> {
        let ticket = self.admit()?;
        let bytes = job.overlays.iter().map(Bytes::len).sum::<usize>() + job.bytes.len();
        ticket.take("job", bytes as u64).await?;
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
            let image = VipsImage::black(2, 2).map_err(failure::vips)?;
            image.pngsave_buffer().map_err(failure::vips)?;
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
    /// Reads an original's header (no pixels are decoded); `max_pixels`
    /// bounds what an SVG's embedded rasters may decode to (see [`read_info`]).
    pub async fn info(&self, ticket: Ticket, bytes: Bytes, max_pixels: u64) -> Result<Info> {
        self.blocking(ticket, move || read_info(&bytes, max_pixels))
            .await
    }
}

/// Reads an original's header (no pixels are decoded), on the calling thread.
/// An SVG is sanitised first, its embedded rasters held to `max_pixels`
/// (`MAX_INPUT_PIXELS`): librsvg may draw them to measure an SVG that
/// states no size.
pub fn read_info(bytes: &[u8], max_pixels: u64) -> Result<Info> {
    let format = format::sniff(bytes)?;
    if let Some(decoder) = format.decoder() {
        let h = decoder.header(bytes)?;
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
    let header = svg::open(bytes, format, max_pixels, u64::MAX)?;
    let orientation = header.get_orientation().clamp(1, 8) as u8;
    let pages = pipeline::frames(&header);
    let (width, height) = pipeline::upright(
        (
            header.get_width().max(0) as u32,
            header.get_page_height().max(0) as u32,
        ),
        i32::from(orientation),
    );
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

/// Whether a file name has an image extension, one a key may have (for
/// listing examples).
pub fn looks_like_image_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        crate::request::KEY_EXTENSIONS
            .iter()
            .any(|e| ext.eq_ignore_ascii_case(e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_are_those_with_a_key_extension() {
        for ext in crate::request::KEY_EXTENSIONS {
            assert!(looks_like_image_name(&format!("a/b.{ext}")));
            assert!(looks_like_image_name(&format!(
                "B.{}",
                ext.to_ascii_uppercase()
            )));
            assert!(!looks_like_image_name(ext), "{ext}: no dot");
            assert!(!looks_like_image_name(&format!("a.{ext}.txt")));
            assert!(!looks_like_image_name(&format!("a.x{ext}")));
        }
        assert!(!looks_like_image_name("notes.txt") && !looks_like_image_name(""));
    }

    #[tokio::test]
    async fn load_reads_running_waiting_and_reserved_from_the_bounds() {
        let engine = Engine::new(1, 2, 1).unwrap().with_inflight_bytes(1 << 20);
        assert_eq!(engine.load(), Load::default());
        let (a, b) = (engine.admit().unwrap(), engine.admit().unwrap());
        a.take("a.jpg", 1500).await.unwrap();
        let load = engine.load();
        assert_eq!((load.running, load.waiting), (0, 2));
        assert_eq!(load.reserved_bytes, 2048, "whole KiB");

        // `a` runs a job that holds its slot until released.
        let (started, running) = tokio::sync::oneshot::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let job = {
            let engine = engine.clone();
            tokio::spawn(async move {
                engine
                    .blocking(a, move || {
                        let _ = started.send(());
                        let _ = held.recv();
                        Ok(())
                    })
                    .await
            })
        };
        running.await.unwrap();
        let load = engine.load();
        assert_eq!((load.running, load.waiting), (1, 1));
        assert_eq!(load.reserved_bytes, 2048);
        release.send(()).unwrap();
        job.await.unwrap().unwrap();
        drop(b);
        assert_eq!(engine.load(), Load::default(), "everything came back");
    }

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

    /// Runs work under `ticket` that waits for the returned sender, once it
    /// has started; with the request's task (abort it to drop the request).
    async fn hold(
        engine: &Engine,
        ticket: Ticket,
    ) -> (
        tokio::task::JoinHandle<Result<()>>,
        std::sync::mpsc::Sender<()>,
    ) {
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
        (task, release_tx)
    }

    #[tokio::test]
    async fn health_answers_while_every_slot_is_busy() {
        let engine = Engine::new(1, 0, 1).unwrap();
        let (_, release) = hold(&engine, engine.admit().unwrap()).await;
        // A load balancer's check must not queue behind the transforms.
        let health =
            tokio::time::timeout(std::time::Duration::from_secs(20), engine.health()).await;
        release.send(()).unwrap();
        assert!(
            matches!(health, Ok(Ok(()))),
            "health waited for a transform slot: {health:?}"
        );
    }

    const KIB: u64 = 1024;

    #[tokio::test]
    async fn memory_is_admitted_by_bytes_and_comes_back() {
        use crate::budget::Reserve;
        use std::time::Duration;
        let engine = Engine::new(1, 100, 1)
            .unwrap()
            .with_inflight_bytes(100 * KIB);
        assert_eq!(engine.inflight_bytes(), 100 * KIB);
        let soon = || Deadline::after(Duration::from_millis(200));

        // No deadline: were it to wait, this test would hang.
        let a = engine.admit().unwrap();
        a.reserve("a.jpg", 60 * KIB).await.unwrap();
        assert_eq!(a.reserved(), 60 * KIB);
        // The budget is spent: a first reservation waits, then 503 at its deadline.
        let b = engine.admit().unwrap().until(soon());
        let e = b.reserve("b.jpg", 60 * KIB).await.unwrap_err();
        assert!(matches!(e, Error::Overloaded { .. }), "{e:?}");
        assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(b.reserved(), 0, "nothing is held after a refusal");
        // A request holding memory never waits for more: 503 at once.
        let c = engine.admit().unwrap();
        c.reserve("c.jpg", 30 * KIB).await.unwrap();
        let e = a.reserve("overlay.png", 20 * KIB).await.unwrap_err();
        assert!(matches!(e, Error::Overloaded { .. }), "{e:?}");
        drop(c);
        a.reserve("overlay.png", 30 * KIB).await.unwrap();
        assert_eq!(a.reserved(), 90 * KIB);
        // More than the whole budget: 413, at once, however free it is.
        let e = b.reserve("huge.jpg", 101 * KIB).await.unwrap_err();
        assert!(
            matches!(e, Error::SourceTooLarge { size, limit, .. } if size == 101 * KIB && limit == 100 * KIB),
            "{e:?}"
        );
        let e = a.reserve("overlay.png", 20 * KIB).await.unwrap_err();
        assert!(
            matches!(e, Error::SourceTooLarge { size, .. } if size == 110 * KIB),
            "the request's bytes count together: {e:?}"
        );

        // A waiting reservation gets the memory as soon as it comes back.
        let waiting = engine.admit().unwrap();
        let waiter =
            tokio::spawn(async move { waiting.reserve("c.jpg", 90 * KIB).await.map(|()| waiting) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "it waits for memory");
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(20), waiter)
            .await
            .expect("woken when memory came back")
            .unwrap()
            .unwrap();
        assert_eq!(c.reserved(), 90 * KIB);

        // Memory comes back however the request ends: a cancelled request
        // (deadline, client gone) drops its ticket.
        drop(c);
        let held = engine.admit().unwrap();
        let task = tokio::spawn(async move {
            held.reserve("d.jpg", 100 * KIB).await.unwrap();
            std::future::pending::<()>().await;
            drop(held);
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        task.abort();
        let _ = task.await;
        let e = engine.admit().unwrap().until(soon());
        e.reserve("e.jpg", 100 * KIB)
            .await
            .expect("the cancelled request's memory came back");
    }

    #[tokio::test]
    async fn a_job_keeps_its_memory_until_libvips_is_done() {
        use crate::budget::Reserve;
        let engine = Engine::new(2, 2, 1).unwrap().with_inflight_bytes(10 * KIB);
        let ticket = engine.admit().unwrap();
        ticket.reserve("a.jpg", 10 * KIB).await.unwrap();
        let (task, release_tx) = hold(&engine, ticket).await;
        task.abort();
        let other = engine
            .admit()
            .unwrap()
            .until(Deadline::after(std::time::Duration::from_millis(100)));
        assert!(
            other.reserve("b.jpg", KIB).await.is_err(),
            "held by the work"
        );
        drop(other);
        release_tx.send(()).unwrap();
        // A first reservation waits: it gets the memory once the work ends.
        let other = engine
            .admit()
            .unwrap()
            .until(Deadline::after(std::time::Duration::from_secs(20)));
        other
            .reserve("b.jpg", 10 * KIB)
            .await
            .expect("freed when libvips is done");
    }

    #[tokio::test]
    async fn a_job_keeps_its_place_until_libvips_is_done() {
        let engine = Engine::new(1, 0, 1).unwrap();
        let (task, release_tx) = hold(&engine, engine.admit().unwrap()).await;
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
