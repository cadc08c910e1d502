//! A byte budget's one operation: setting memory aside before it is used.
//!
//! The engine (`transform`) owns the budget (`MAX_INFLIGHT_BYTES`) and hands
//! each request a [`Reserve`]; origins call it with an original's size before
//! reading its body. This module sits below both, so neither imports the
//! other for it (and the fuzz crate, which compiles `transform` without the
//! origins, can include it).

use std::future::Future;
use std::pin::Pin;

use crate::error::Result;

/// The future of a [`Reserve::reserve`].
pub type ReserveFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// Memory set aside for originals before their bodies are read.
pub trait Reserve: Send + Sync {
    /// Sets aside `bytes` for the original `key`: waits for memory to come
    /// free, or refuses (503 `Overloaded`, 413 `SourceTooLarge`).
    fn reserve<'a>(&'a self, key: &'a str, bytes: u64) -> ReserveFuture<'a>;
}

/// No memory bound: every reservation is granted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unbounded;

impl Reserve for Unbounded {
    fn reserve<'a>(&'a self, _key: &'a str, _bytes: u64) -> ReserveFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}
