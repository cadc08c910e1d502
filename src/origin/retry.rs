//! Retrying an origin's GET: which answer is final, how many attempts, and
//! the wait between them. The S3 and HTTP origins share it, so both retry
//! the same way within their one time budget.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::Reserve;
use crate::error::{Error, Result};

/// How one attempt failed.
pub(crate) enum Failure {
    /// Another attempt would fail the same way (a 404, a refusal, a bad key).
    Final(Error),
    /// Worth another attempt: a 5xx, throttling, a reset or a timeout.
    Transient(Error),
}

/// Runs `once` until it succeeds, fails for good, or has failed
/// `max_attempts` times, waiting [`backoff`] between attempts. `origin`
/// names the origin in the log and `target` what it fetched (never a secret).
pub(crate) async fn retrying<T, F, Fut>(
    max_attempts: u32,
    origin: &str,
    target: &(dyn Display + Sync),
    mut once: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, Failure>>,
{
    let mut attempt = 1;
    loop {
        match once().await {
            Ok(done) => return Ok(done),
            Err(Failure::Final(e)) => return Err(e),
            Err(Failure::Transient(e)) if attempt < max_attempts => {
                tracing::warn!(
                    %target,
                    detail = e.detail().unwrap_or(""),
                    attempt,
                    "{origin} GET failed; trying again"
                );
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Err(Failure::Transient(e)) => return Err(e),
        }
    }
}

/// Full-jitter exponential backoff: up to 100 ms, doubling per attempt, at
/// most 2 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap = Duration::from_millis(100)
        .saturating_mul(1 << attempt.saturating_sub(1).min(5))
        .min(Duration::from_secs(2));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    cap.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

/// What the attempts of one fetch have reserved in the memory budget, so
/// that a retry reserves only what a larger body needs beyond the first.
#[derive(Debug, Default)]
pub(crate) struct Reserved(AtomicU64);

impl Reserved {
    /// Reserves up to `needed` bytes for `key` (the declared size, or all
    /// the body may be when unstated) before the body is read.
    pub(crate) async fn up_to(
        &self,
        reserve: &dyn Reserve,
        key: &str,
        needed: u64,
    ) -> std::result::Result<(), Failure> {
        let held = self.0.load(Ordering::Relaxed);
        if needed > held {
            reserve
                .reserve(key, needed - held)
                .await
                .map_err(Failure::Final)?;
            self.0.store(needed, Ordering::Relaxed);
        }
        Ok(())
    }
}
