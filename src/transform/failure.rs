//! How a libvips failure becomes an [`Error`]: a fault of ours (500,
//! [`vips`]) or the input's (400, [`undecodable`]). A failure libvips
//! reports late, while a later step pulls the pixels of a corrupt original,
//! is told apart afterwards by the pipeline (`reclassify`).

use crate::error::Error;

/// Wraps a libvips failure. Whether it was the input's fault is decided in `reclassify`.
pub fn vips(e: rs_vips::error::Error) -> Error {
    Error::Processing {
        detail: e.to_string(),
    }
}

/// Wraps a libvips failure to decode the input: the input's fault (400).
pub fn undecodable(e: rs_vips::error::Error) -> Error {
    Error::InvalidImage {
        detail: e.to_string(),
    }
}
