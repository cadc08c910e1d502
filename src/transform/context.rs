//! What the pipeline's steps and the edits share: a job's state as the
//! steps pass it on ([`Ctx`]) and the geometry they hand each other
//! ([`Rect`], [`ResizePlan`]). The order of the steps lives in
//! [`pipeline`](super::pipeline), each edit's pixel work in
//! [`edits`](super::edits).

use bytes::Bytes;
use rs_vips::VipsImage;

use super::failure::vips;
use super::format::SourceFormat;
use super::job::{Job, Reduction};
use super::quality::Chosen;
use crate::error::Result;
use crate::request::OutputFormat;

/// The state a job's steps share.
pub struct Ctx<'a> {
    /// The job being run.
    pub job: &'a Job,
    /// The original as libvips reads it (an SVG is its sanitised text).
    pub bytes: Bytes,
    /// The original's format.
    pub source: SourceFormat,
    /// The chosen output format.
    pub format: OutputFormat,
    /// The current image.
    pub image: VipsImage,
    /// The image comes from a sequential (thumbnail) load: copy it to memory
    /// before any operation that reads out of order.
    pub sequential: bool,
    /// Index of the resize edit whose scaling was done at load time.
    pub hoisted: Option<(usize, ResizePlan)>,
    /// The encoded output, once `encode` has run.
    pub encoded: Vec<u8>,
    /// How the output was reduced to fit the response cap, if it was.
    pub reduced: Option<Reduction>,
    /// The quality and score automatic quality chose, when it ran.
    pub chosen: Option<Chosen>,
    /// Overlays drawn so far (the next one's bytes are `job.overlays[next_overlay]`).
    pub next_overlay: usize,
    /// Pixels decoded so far: the original's (every frame kept) plus each
    /// overlay's, held to `job.max_input_pixels` in all.
    pub pixels: u64,
    /// Frames in `image`, stacked top to bottom (1: a still image).
    pub pages: u32,
    /// Whether a crop chosen from the content is chosen afresh, or once for
    /// every frame of an animation (see [`Ctx::choose`]).
    pub frame_choice: FrameChoice,
}

/// A rectangle in pixels: left, top, width, height.
pub type Rect = (i32, i32, i32, i32);

/// How [`Ctx::choose`] picks a crop from the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameChoice {
    /// Not frame by frame (a still image, or the whole strip at once): each
    /// crop is chosen from the image it is made on.
    Each,
    /// Frame by frame, before the first frame: the next crop chosen is kept
    /// for every later frame.
    FirstFrame,
    /// Frame by frame, after the first frame chose this crop.
    Chosen(Rect),
}

impl Ctx<'_> {
    /// Makes the image safe for random access (rotations, vertical flips, smart crops).
    pub fn random_access(&mut self) -> Result<()> {
        if self.sequential {
            self.image = self.image.copy_memory().map_err(vips)?;
            self.sequential = false;
        }
        Ok(())
    }

    /// A crop chosen from the image's content (trim, smart crop, attention):
    /// on an animation the first frame chooses, and every frame gets that
    /// crop, so the subject does not jump from frame to frame.
    pub fn choose(&mut self, pick: impl FnOnce(&VipsImage) -> Result<Rect>) -> Result<Rect> {
        match self.frame_choice {
            FrameChoice::Chosen(chosen) => Ok(chosen),
            FrameChoice::FirstFrame => {
                let chosen = pick(&self.image)?;
                self.frame_choice = FrameChoice::Chosen(chosen);
                Ok(chosen)
            }
            FrameChoice::Each => pick(&self.image),
        }
    }

    /// The height of one frame.
    pub fn frame_height(&self) -> u32 {
        self.image.get_height().max(0) as u32 / self.pages.max(1)
    }
}

/// How a resize is carried out on an image of a known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizePlan {
    /// Size before scaling (what pixel positions such as a focal point refer to).
    pub from: (u32, u32),
    /// Size after scaling.
    pub scaled: (u32, u32),
    /// The box to crop to (`cover`) or pad to (`contain`), if any.
    pub boxed: Option<(u32, u32)>,
}
