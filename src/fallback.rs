//! SIH's fallback image, held in memory.
//!
//! The image answered for errors (`ENABLE_DEFAULT_FALLBACK_IMAGE`) is loaded
//! when the handler is built and kept; errors only read the copy in memory.
//! It is refreshed at most every [`REFRESH`] (after a failed load, every
//! [`RETRY`]), in the background and one load at a time, asking the origin
//! with the held identity so that an unchanged image is not transferred
//! again. A flood of errors therefore costs no origin requests: before, each
//! error fetched the image again, after the deadline and outside admission.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::origin::{Fetched, Origin, Original};
use crate::request::Source;

/// How long a loaded fallback image is served before it is loaded again.
pub const REFRESH: Duration = Duration::from_secs(300);

/// How long after a failed load the next one may start.
pub const RETRY: Duration = Duration::from_secs(30);

/// The longest one load may take.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest an error waits for the first load to finish (only while no
/// load has finished yet, e.g. an error in the first instant after start-up).
pub const FIRST_WAIT: Duration = Duration::from_secs(2);

/// The fallback image and when to load it again.
pub struct Fallback {
    origin: Arc<dyn Origin>,
    source: Source,
    max_bytes: Option<u64>,
    refresh: Duration,
    state: Mutex<State>,
    /// Counts finished loads, so that a first error can wait for one.
    loads: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    image: Option<Original>,
    /// When the next load may start; `None` until one has finished.
    next_load: Option<Instant>,
    loading: bool,
}

impl Fallback {
    /// The fallback image `source` of `origin`, refused when larger than
    /// `max_bytes` (the response cap), loaded again every `refresh`.
    /// Nothing is loaded until [`Fallback::start`] or the first [`Fallback::get`].
    pub fn new(
        origin: Arc<dyn Origin>,
        source: Source,
        max_bytes: Option<u64>,
        refresh: Duration,
    ) -> Arc<Fallback> {
        Arc::new(Fallback {
            origin,
            source,
            max_bytes,
            refresh,
            state: Mutex::new(State::default()),
            loads: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The key of the fallback image.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Starts loading now when on a Tokio runtime (else the first error does).
    pub fn start(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_ok() {
            self.load_if_due();
        }
    }

    /// The image in memory, starting a background load when one is due. Only
    /// while no load has finished yet does it wait, at most [`FIRST_WAIT`].
    pub async fn get(self: &Arc<Self>) -> Option<Original> {
        let mut loads = self.loads.subscribe();
        let (image, loaded_once) = self.load_if_due();
        if image.is_some() || loaded_once {
            return image;
        }
        let _ = tokio::time::timeout(FIRST_WAIT, loads.changed()).await;
        self.lock().image.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every step: a panic elsewhere does not spoil it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a load when one is due and none runs; returns the image held
    /// and whether a load has finished yet.
    fn load_if_due(self: &Arc<Self>) -> (Option<Original>, bool) {
        let mut state = self.lock();
        let due = state.next_load.is_none_or(|at| Instant::now() >= at);
        if due && !state.loading {
            state.loading = true;
            tokio::spawn(self.clone().load());
        }
        (state.image.clone(), state.next_load.is_some())
    }

    async fn load(self: Arc<Self>) {
        // Clears `loading` however the load ends, so a later one can start.
        struct Loading(Arc<Fallback>);
        impl Drop for Loading {
            fn drop(&mut self) {
                let mut state = self.0.lock();
                state.loading = false;
                if state.next_load.is_none_or(|at| at <= Instant::now()) {
                    state.next_load = Some(Instant::now() + RETRY);
                }
                drop(state);
                self.0.loads.send_modify(|n| *n += 1);
            }
        }
        let guard = Loading(self.clone());
        let known = self.lock().image.as_ref().map(|i| i.meta.identity.clone());
        let fetched = tokio::time::timeout(
            LOAD_TIMEOUT,
            self.origin.fetch(&self.source, known.as_deref()),
        )
        .await;
        let key = &self.source.key;
        let next = match fetched {
            Ok(Ok(Fetched::Full(original))) if self.fits(&original) => {
                self.lock().image = Some(original);
                Some(self.refresh)
            }
            Ok(Ok(Fetched::Full(original))) => {
                tracing::warn!(key = %key, bytes = original.bytes.len(), "the fallback image is too large to return");
                None
            }
            Ok(Ok(Fetched::Unchanged(_))) if known.is_some() => Some(self.refresh),
            Ok(Ok(Fetched::Unchanged(_))) => None,
            Ok(Err(e)) => {
                tracing::warn!(key = %key, error = %e, "the fallback image could not be fetched");
                None
            }
            Err(_) => {
                tracing::warn!(key = %key, "the fallback image could not be fetched in time");
                None
            }
        };
        self.lock().next_load = Some(Instant::now() + next.unwrap_or(RETRY));
        drop(guard);
    }

    fn fits(&self, original: &Original) -> bool {
        self.max_bytes
            .is_none_or(|max| original.bytes.len() as u64 <= max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::FsOrigin;

    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("ih-fallback-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn fallback(dir: &Dir, max_bytes: Option<u64>, refresh: Duration) -> Arc<Fallback> {
        let origin = Arc::new(FsOrigin::new(&dir.0, 1 << 20).unwrap());
        let source = Source {
            bucket: None,
            key: "f.png".into(),
        };
        Fallback::new(origin, source, max_bytes, refresh)
    }

    async fn body(f: &Arc<Fallback>) -> Option<Vec<u8>> {
        f.get().await.map(|o| o.bytes.to_vec())
    }

    #[tokio::test]
    async fn held_in_memory_and_refreshed_in_the_background() {
        let d = dir("refresh");
        std::fs::write(d.0.join("f.png"), b"one").unwrap();
        let f = fallback(&d, None, Duration::from_millis(400));
        f.start();
        // the first error waits for the first load
        assert_eq!(body(&f).await.as_deref(), Some(&b"one"[..]));
        std::fs::write(d.0.join("f.png"), b"second").unwrap();
        // within the interval every error reads the copy in memory
        for _ in 0..100 {
            assert_eq!(body(&f).await.as_deref(), Some(&b"one"[..]));
        }
        tokio::time::sleep(Duration::from_millis(450)).await;
        // due: the held image answers at once, the new one comes in the background
        let started = Instant::now();
        let mut seen = body(&f).await;
        while seen.as_deref() != Some(&b"second"[..]) && started.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
            seen = body(&f).await;
        }
        assert_eq!(seen.as_deref(), Some(&b"second"[..]));
    }

    #[tokio::test]
    async fn a_failed_load_is_not_retried_on_every_error() {
        let d = dir("missing");
        let f = fallback(&d, None, REFRESH);
        assert_eq!(body(&f).await, None, "missing: no image");
        std::fs::write(d.0.join("f.png"), b"late").unwrap();
        for _ in 0..100 {
            assert_eq!(body(&f).await, None, "no load before RETRY");
        }
        // too large for the response cap: refused, and not loaded again either
        let d = dir("large");
        std::fs::write(d.0.join("f.png"), b"too large").unwrap();
        let f = fallback(&d, Some(4), REFRESH);
        assert_eq!(body(&f).await, None);
    }
}
