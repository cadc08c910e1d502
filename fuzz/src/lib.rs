//! The parts of image-handler that the fuzz targets exercise, compiled from
//! the main crate's own source files (`#[path]`), under the crate name
//! `image_handler` so that `checks.rs` reads the same in both places.
//!
//! Why not a path dependency on the main crate: that would build every AWS
//! SDK with coverage instrumentation at `opt-level=3` and one codegen unit,
//! which takes hours on a small machine. The request parsers, signatures,
//! errors and the transform pipeline need none of it. The one outside item
//! they use, `config::AutoFormat`, is re-declared below; `format.rs` uses
//! its fields, so a change there that matters stops this crate compiling.
#![allow(dead_code, unused_imports, clippy::all)]

#[path = "../../src/budget.rs"]
pub mod budget;
#[path = "../../src/error.rs"]
pub mod error;
#[path = "../../src/request/mod.rs"]
pub mod request;
#[path = "../../src/signature.rs"]
pub mod signature;
#[path = "../../src/transform/mod.rs"]
pub mod transform;

pub use error::Error;

/// Stand-in for `image_handler::config`: only what `transform::format` uses.
pub mod config {
    /// Which modern formats may be chosen from the `Accept` header.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct AutoFormat {
        /// AVIF when `Accept` has `image/avif`.
        pub avif: bool,
        /// WebP when `Accept` has `image/webp`.
        pub webp: bool,
    }

    impl AutoFormat {
        /// Whether any automatic choice is on.
        pub fn enabled(self) -> bool {
            self.avif || self.webp
        }
    }
}
