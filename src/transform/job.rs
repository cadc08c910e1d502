//! What a transform takes and what it gives back: the [`Job`] (an original,
//! its edits and output options, and the [`OutputSettings`] the
//! configuration contributes) and the [`Encoded`] output. The engine
//! ([`Engine`](super::Engine)) runs a job; the [`pipeline`](super::pipeline)
//! carries it out.

use bytes::Bytes;

use super::encode;
use super::format::Accepted;
use super::quality;
use crate::request::{Edit, Limits, Output, OutputFormat};

/// Every setting that changes the bytes of a transformed image for the same
/// request and `Accept`: the one list of them. The transform's
/// [`Job`] takes its settings from here, and the ETag's
/// variant hashes all of it ([`crate::response::variant_tag`]), so a setting
/// added here changes the ETag without anyone remembering to; a setting the
/// pipeline reads must come through here. (`AUTO_FORMAT` reaches the ETag
/// through the [`Accepted`] it masks; presets and rewrites
/// through the request they produce.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSettings {
    /// `MAX_OUTPUT_WIDTH`, `MAX_OUTPUT_HEIGHT`.
    pub limits: Limits,
    /// `MAX_INPUT_PIXELS`.
    pub max_input_pixels: u64,
    /// `MAX_FRAMES`.
    pub max_frames: u32,
    /// `WEBP_EFFORT`, `AVIF_EFFORT`, `GIF_EFFORT`.
    pub effort: encode::Effort,
    /// `FAST_SHRINK_ON_LOAD`.
    pub fast_shrink_on_load: bool,
    /// `MAX_RESPONSE_BYTES`: a larger output is reduced to fit.
    pub max_response_bytes: Option<u64>,
    /// `AUTO_QUALITY`, `QUALITY_TARGET`, `SAVE_DATA_STEP`, `AUTO_QUALITY_BUDGET`.
    pub auto_quality: quality::AutoQuality,
}

/// Everything a transform needs; nothing here is HTTP. Whatever it takes
/// from the configuration must come from [`OutputSettings`],
/// which the ETag hashes.
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
    /// Automatic quality's settings (used when [`quality::applies`]).
    pub auto_quality: quality::AutoQuality,
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
    /// The quality and score automatic quality chose, when it ran.
    pub chosen: Option<quality::Chosen>,
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
