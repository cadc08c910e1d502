//! Where originals come from: a small trait and its implementations.
//!
//! An [`Origin`] turns a request's [`Source`] into the original's bytes plus
//! what HTTP caching needs (identity for the ETag, last-modified, the stored
//! cache-control and expires). Given the identity a client already holds, an
//! origin answers [`Fetched::Unchanged`] without transferring the bytes (S3
//! gets the `If-None-Match`). It knows nothing of transforms or HTTP.
//!
//! Memory: [`Origin::fetch_reserving`] reserves an original's size through a
//! [`Reserve`] (the engine's byte budget) once the size is known and before
//! the body is read: S3's `Content-Length`, the file's size. The body read is
//! then held to that size.
//!
//! Implementations: S3 (`s3`), a directory (`fs`), the embedded samples
//! (`embedded`) and HTTP(S) servers (`http`, behind the SSRF address guard
//! of [`guard`]). [`mapping`] holds the `ORIGINS` / `MAPPINGS` contract that
//! names origins and chooses one per request; [`router`] builds them and
//! makes the choice for the handler.

pub mod embedded;
mod fs;
pub mod guard;
mod http;
pub mod mapping;
mod retry;
pub mod router;
mod s3;

pub use crate::budget::{Reserve, ReserveFuture, Unbounded};
pub use embedded::EmbeddedOrigin;
pub use fs::FsOrigin;
pub use http::{HttpOrigin, HttpSettings, HttpTimeouts, MAX_REDIRECTS};
pub use router::{Picked, Router};
pub use s3::{S3Origin, S3Settings, S3Timeouts};

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
    /// The original's metadata.
    pub meta: Meta,
}

/// What caching needs to know about an original.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// A token that changes whenever the bytes change (an S3 ETag, or size
    /// and mtime), made of ETag-safe characters (see [`identity_token`]).
    pub identity: String,
    /// When the original last changed.
    pub last_modified: Option<SystemTime>,
    /// A `Cache-Control` stored with the original, which then wins over the default.
    pub cache_control: Option<String>,
    /// An `Expires` stored with the original (an HTTP date).
    pub expires: Option<String>,
}

/// The answer to a fetch.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// The original, in full.
    Full(Original),
    /// The original still has the identity the client holds; nothing was transferred.
    Unchanged(Meta),
}

/// Makes an origin's version string safe inside an ETag and unambiguous in
/// `"<identity>.<variant>"`: kept as is when it is made of `[A-Za-z0-9_~-]`,
/// hashed otherwise.
pub fn identity_token(raw: &str) -> String {
    let raw = raw.trim().trim_matches('"');
    let safe = !raw.is_empty()
        && raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'~');
    if safe {
        raw.to_string()
    } else {
        use sha2::{Digest, Sha256};
        format!("h{}", hex::encode(&Sha256::digest(raw.as_bytes())[..12]))
    }
}

/// A boxed future, so origins can be used as trait objects.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Fetched>> + Send + 'a>>;

/// What one fetch asks of an origin.
#[derive(Clone, Copy)]
pub struct Ask<'a> {
    /// The original.
    pub source: &'a Source,
    /// The identity of the original the client holds, if any.
    pub known: Option<&'a str>,
    /// Where the original's size is reserved before its body is read.
    pub reserve: &'a dyn Reserve,
}

/// A store of originals.
pub trait Origin: Send + Sync {
    /// Fetches the original named by `ask.source`, or fails with `NotFound`,
    /// `InvalidKey`, `SourceTooLarge` or an origin error, reserving the
    /// original's size through `ask.reserve` before its body is read
    /// (nothing is reserved for [`Fetched::Unchanged`]). When `ask.known` is
    /// the original's current identity, it may answer [`Fetched::Unchanged`].
    fn fetch_reserving<'a>(&'a self, ask: Ask<'a>) -> FetchFuture<'a>;

    /// [`Origin::fetch_reserving`] outside any memory budget (tools, the
    /// fallback image).
    fn fetch<'a>(&'a self, source: &'a Source, known: Option<&'a str>) -> FetchFuture<'a> {
        self.fetch_reserving(Ask {
            source,
            known,
            reserve: &Unbounded,
        })
    }

    /// Keys of a few originals to show in examples (may be empty).
    fn examples(&self) -> Vec<String> {
        Vec::new()
    }
}
