//! Where originals come from: a small trait and its implementations.
//!
//! An [`Origin`] turns a request's [`Source`] into the original's bytes plus
//! what HTTP caching needs (identity for the ETag, last-modified, the stored
//! cache-control). It knows nothing of transforms or HTTP.

pub mod embedded;
mod fs;

pub use embedded::EmbeddedOrigin;
pub use fs::FsOrigin;

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use bytes::Bytes;

use crate::error::Result;
use crate::request::Source;

/// A fetched original.
#[derive(Debug, Clone)]
pub struct Original {
    /// The whole file.
    pub bytes: Bytes,
    /// The stored content type, if the origin keeps one.
    pub content_type: Option<String>,
    /// A string that changes whenever the bytes change (an S3 ETag, or size and mtime).
    pub identity: String,
    /// When the original last changed.
    pub last_modified: Option<SystemTime>,
    /// A `Cache-Control` stored with the original, which then wins over the default.
    pub cache_control: Option<String>,
}

/// A boxed future, so origins can be used as trait objects.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Original>> + Send + 'a>>;

/// A store of originals.
pub trait Origin: Send + Sync {
    /// Fetches the original named by `source`, or fails with `NotFound`,
    /// `InvalidKey`, `SourceTooLarge` or `Origin`.
    fn fetch<'a>(&'a self, source: &'a Source) -> FetchFuture<'a>;

    /// Keys of a few originals to show in examples (may be empty).
    fn examples(&self) -> Vec<String> {
        Vec::new()
    }
}
