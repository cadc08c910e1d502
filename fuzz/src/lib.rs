//! The parts of image-handler that the fuzz targets exercise, compiled from
//! the main crate's own source files (`#[path]`), under the crate name
//! `image_handler` so that `checks.rs` reads the same in both places.
//!
//! Why not a path dependency on the main crate: that would build every AWS
//! SDK with coverage instrumentation at `opt-level=3` and one codegen unit,
//! which takes hours on a small machine. The request parsers, signatures,
//! errors and the transform pipeline need none of it, and none of them
//! imports `config` (the settings they take live beside them).
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
