//! The order of operations, in one place.
//!
//! A job runs as an ordered list of small named steps over one [`Ctx`], as
//! imgproxy does: `open` reads the header (format, limits, output format),
//! or decodes originals libvips cannot read (see `decoders`), then [`STEPS`]
//! run in order. Read [`STEPS`] to know what happens when.

use std::time::Instant;

use bytes::Bytes;
use rs_vips::enums::Interpretation;
use rs_vips::voption::{Setter, VOption};
use rs_vips::{Vips, VipsImage};

use super::context::{Ctx, FrameChoice};
use super::edits;
use super::failure::{undecodable, vips};
use super::format::{self, Original, SourceFormat};
use super::job::{Encoded, Job, Reduction};
use super::{encode, metadata, quality, svg};
use crate::error::{Error, Result};
use crate::request::{Edit, OutputFormat};

/// One step of the pipeline.
type Step = fn(&mut Ctx) -> Result<()>;

/// The pipeline. Each step reads and replaces `Ctx::image`.
pub const STEPS: &[(&str, Step)] = &[
    // The first resize folded into the decode (libvips thumbnail), when only
    // rotations and mirrors come before it: the decoder reads at about the
    // output's size, keeps every frame of an animation and turns it upright.
    ("shrink_on_load", shrink_on_load),
    // Every frame of an animation that is kept, as one strip of frames.
    ("load_frames", load_frames),
    // Upright by EXIF orientation.
    ("autorotate", autorotate),
    // An embedded colour profile applied once, after any shrink: sRGB from
    // here on, unless the request keeps an RGB original's profile (`metadata`).
    ("import_profile", import_profile),
    // 16-bit originals brought to 8 bits, the scale edits take values on.
    ("to_8_bit", to_8_bit),
    // The request's edits, in the request's order (see `edits`).
    ("edits", apply_edits),
    // 8-bit sRGB (or grayscale for JPEG/PNG) for the encoder.
    ("colour", to_output_colour),
    // Transparency onto white when the output format has no alpha.
    ("flatten", flatten_for_output),
    // The metadata the request keeps, readied for the encoder (`metadata`).
    ("metadata", prepare_metadata),
    // Encode, with only that metadata.
    ("encode", encode_output),
];

/// Runs a job to completion.
pub fn run(job: &Job) -> Result<Encoded> {
    run_steps(job).map_err(|e| {
        // libvips' error buffer is global; clear it so the next failure's
        // message does not carry this one's.
        Vips::error_clear();
        // Past the deadline the failure is the kill (see `deadline`).
        super::deadline::expired().unwrap_or_else(|| reclassify(job, e))
    })
}

fn run_steps(job: &Job) -> Result<Encoded> {
    let mut ctx = open(job)?;
    if ctx.format == OutputFormat::Svg {
        // An unedited SVG is returned as sanitised: no pixel is drawn.
        if job
            .max_output_bytes
            .is_some_and(|cap| ctx.bytes.len() as u64 > cap)
        {
            return Err(Error::TooLargeImage);
        }
        return Ok(Encoded {
            width: ctx.image.get_width() as u32,
            height: ctx.image.get_height() as u32,
            format: ctx.format,
            bytes: ctx.bytes,
            reduced: None,
            encode_time: std::time::Duration::ZERO,
            chosen: None,
        });
    }
    let mut encode_time = std::time::Duration::ZERO;
    for (name, step) in STEPS {
        let started = std::time::Instant::now();
        run_step(&mut ctx, name, *step)?;
        if *name == "encode" {
            encode_time = started.elapsed();
        }
    }
    Ok(Encoded {
        width: ctx.image.get_width() as u32,
        height: ctx.frame_height(),
        format: ctx.format,
        bytes: std::mem::take(&mut ctx.encoded).into(),
        reduced: ctx.reduced,
        encode_time,
        chosen: ctx.chosen,
    })
}

/// Runs one step of [`STEPS`] under the request's deadline: no step starts
/// after it, and libvips work computed from the step's image stops at it.
fn run_step(ctx: &mut Ctx, name: &str, step: Step) -> Result<()> {
    super::deadline::checkpoint(&ctx.image)?;
    step(ctx).map_err(|e| {
        tracing::debug!(step = name, error = %e, detail = e.detail().unwrap_or(""), "transform step failed");
        e
    })
}

/// Makes the image the encoder reads again, from the original: the steps of
/// [`STEPS`] before `encode`, on a fresh [`Ctx`]. For an image streamed from
/// a sequential (shrink-on-load) decode that an encode has already read:
/// its decoder cannot go back to the top, so reading it again fails ("out of
/// order read"). Redoing the steps costs a second decode (shrink-on-load, so
/// at about the output's size) only when an output is too large; keeping
/// every streamed image in memory in case it has to be encoded twice would
/// cost memory on every request.
fn remake_image(ctx: &mut Ctx) -> Result<()> {
    // The consumed pipeline holds its decoder's buffers: let them go first.
    ctx.image = VipsImage::new();
    let mut again = open(ctx.job)?;
    for (name, step) in STEPS.iter().take_while(|(name, _)| *name != "encode") {
        run_step(&mut again, name, *step)?;
    }
    ctx.image = again.image;
    ctx.sequential = again.sequential;
    ctx.pages = again.pages;
    Ok(())
}

/// Identifies the original, reads its header and checks limits before any
/// pixel is decoded, chooses the output format, and whether the animation
/// (if any) is kept.
fn open(job: &Job) -> Result<Ctx<'_>> {
    let source = format::sniff(&job.bytes)?;
    let bytes = match source {
        SourceFormat::Svg => Bytes::from(svg::sanitize(&job.bytes, job.max_input_pixels)?),
        _ => job.bytes.clone(),
    };
    // HEIC and JPEG XL are decoded whole here (pixel limit checked first).
    let header = format::open(&bytes, source, false, job.max_input_pixels)?;
    let frames = u64::from(frames(&header));
    // A single-frame GIF or WebP is a still image; so is any animation the
    // request asks to flatten to its first frame.
    let animated = frames > 1 && source.animates() && !job.output.still;
    let format = format::negotiate(
        job.output.format,
        job.output.preferred,
        job.accepted,
        Original {
            format: source,
            alpha: header.hasalpha(),
            animated,
            edited: !job.edits.is_empty(),
        },
    );
    // An animation written as JPEG, PNG, AVIF or TIFF keeps its first frame.
    let pages = if animated && format.animates() {
        frames
    } else {
        1
    };
    if pages > u64::from(job.max_frames) {
        return Err(Error::TooManyFrames {
            frames: pages,
            limit: job.max_frames,
        });
    }
    let width = header.get_width().max(0) as u64;
    let height = header.get_height().max(0) as u64 * pages;
    let pixels = width.saturating_mul(height);
    if pixels > job.max_input_pixels {
        return Err(Error::TooManyPixels {
            width,
            height,
            pixels,
            limit: job.max_input_pixels,
        });
    }
    Ok(Ctx {
        job,
        bytes,
        source,
        format,
        image: header,
        sequential: false,
        hoisted: None,
        encoded: Vec::new(),
        reduced: None,
        chosen: None,
        next_overlay: 0,
        pixels,
        pages: pages as u32,
        frame_choice: FrameChoice::Each,
    })
}

/// The frames (pages) in a file, from its header.
pub fn frames(header: &VipsImage) -> u32 {
    header.get_int("n-pages").unwrap_or(1).max(1) as u32
}

/// A stored size turned upright by an EXIF orientation (5 to 8 turn it a
/// quarter, swapping the sides).
pub fn upright((w, h): (u32, u32), orientation: i32) -> (u32, u32) {
    if (5..=8).contains(&orientation) {
        (h, w)
    } else {
        (w, h)
    }
}

/// The first resize, if only rotations and mirrors come before it, with the
/// number of quarter turns before it.
fn hoistable(edits: &[Edit]) -> Option<(usize, u32)> {
    let mut turns = 0;
    for (i, edit) in edits.iter().enumerate() {
        match edit {
            // a turn by another angle grows the canvas the resize sees
            Edit::Rotate(r) => turns += edits::quarter_turns(*r)?,
            Edit::Flip | Edit::Flop => {}
            Edit::Resize(_) => return Some((i, turns)),
            _ => return None,
        }
    }
    None
}

/// The JPEG decoder's scale (8, 4, 2 or 1) for `FAST_SHRINK_ON_LOAD`: the
/// largest the output size allows, as sharp's `fastShrinkOnLoad`. libvips'
/// thumbnail keeps at least a factor of 2 for its own resampling (better
/// quality, more decoding: measured in benches/README.md).
fn fast_jpeg_shrink((w, h): (u32, u32), (lw, lh): (u32, u32)) -> i32 {
    let factor = (f64::from(w) / f64::from(lw.max(1))).min(f64::from(h) / f64::from(lh.max(1)));
    [8, 4, 2]
        .into_iter()
        .find(|&s| factor >= f64::from(s))
        .unwrap_or(1)
}

/// The first resize, if [`hoistable`], done by the decoder: libvips
/// thumbnail shrinks on load (every frame of a kept animation, upright), or
/// an original decoded whole already (HEIC, JPEG XL) is scaled in memory.
/// `Ctx::hoisted` then tells the later steps what was done.
fn shrink_on_load(ctx: &mut Ctx) -> Result<()> {
    let job = ctx.job;
    let Some((index, turns)) = hoistable(&job.edits) else {
        return Ok(());
    };
    let Some(Edit::Resize(resize)) = job.edits.get(index) else {
        return Ok(());
    };
    // Size in the upright orientation, then in the frame the resize sees.
    let (w, h) = upright(
        (ctx.image.get_width() as u32, ctx.image.get_height() as u32),
        ctx.image.get_orientation(),
    );
    let (fw, fh) = if turns % 2 == 1 { (h, w) } else { (w, h) };
    let plan = edits::plan_resize(fw, fh, resize, &job.limits)?;
    let (sw, sh) = plan.scaled;
    let (lw, lh) = if turns % 2 == 1 { (sh, sw) } else { (sw, sh) };
    if ctx.source.decoder().is_some() {
        // Already decoded whole, in memory: scale that image.
        ctx.image = edits::scale_to(&ctx.image, lw, lh)?;
    } else {
        // thumbnail's own `fail_on` does not reach the loader of a buffer: a
        // truncated original would come out grey-filled. With every frame
        // loaded, thumbnail scales each frame to `lw`x`lh`.
        let loader = if ctx.pages > 1 {
            "fail_on=error,n=-1"
        } else {
            "fail_on=error"
        };
        let size = || VOption::new().set("height", lh as i32).set("size", "force");
        let shrink = match ctx.source {
            SourceFormat::Jpeg if job.fast_shrink => fast_jpeg_shrink((w, h), (lw, lh)),
            _ => 1,
        };
        ctx.image = if shrink > 1 {
            // The decoder scales by 1/shrink; thumbnail does the rest.
            format::open_jpeg_shrunk(&ctx.bytes, shrink)?
                .thumbnail_image_with_opts(lw as i32, size())
        } else {
            VipsImage::thumbnail_buffer_with_opts(
                &ctx.bytes,
                lw as i32,
                size().set("option_string", loader),
            )
        }
        .map_err(undecodable)?;
        ctx.sequential = true;
    }
    ctx.hoisted = Some((index, plan));
    Ok(())
}

/// Without shrink-on-load: an animation's every frame, read again from the
/// original (`open` read the header of the first).
fn load_frames(ctx: &mut Ctx) -> Result<()> {
    if ctx.hoisted.is_none() && ctx.pages > 1 {
        ctx.image = format::open(&ctx.bytes, ctx.source, true, ctx.job.max_input_pixels)?;
    }
    Ok(())
}

/// Without shrink-on-load: each frame turned upright by its EXIF orientation.
fn autorotate(ctx: &mut Ctx) -> Result<()> {
    if ctx.hoisted.is_none() && (ctx.pages <= 1 || ctx.image.get_orientation() > 1) {
        edits::each_frame(ctx, |ctx| {
            ctx.image = ctx.image.autorot().map_err(undecodable)?;
            Ok(())
        })?;
    }
    Ok(())
}

/// An embedded profile is applied once, after any shrink, so later edits
/// and the encoder see sRGB. Images without one are taken as sRGB.
fn import_profile(ctx: &mut Ctx) -> Result<()> {
    if metadata::keeps_profile(&ctx.image, ctx.job.output.metadata) {
        return Ok(());
    }
    ctx.image = edits::import_profile(&ctx.image).map_err(undecodable)?;
    Ok(())
}

/// Edits take colours, offsets and thresholds on a 0 to 255 scale, and the
/// output is 8-bit anyway: bring 16-bit originals (without a profile) to 8 bits.
fn to_8_bit(ctx: &mut Ctx) -> Result<()> {
    let eight_bit = match ctx.image.get_interpretation() {
        Ok(Interpretation::Rgb16) => Some(Interpretation::Srgb),
        Ok(Interpretation::Grey16) => Some(Interpretation::BW),
        _ => None,
    };
    if let Some(target) = eight_bit {
        ctx.image = ctx.image.colourspace(target).map_err(vips)?;
    }
    Ok(())
}

fn apply_edits(ctx: &mut Ctx) -> Result<()> {
    for (i, edit) in ctx.job.edits.iter().enumerate() {
        match (&ctx.hoisted, edit) {
            (Some((index, plan)), Edit::Resize(r)) if *index == i => {
                let plan = *plan;
                // The load already scaled; only a crop or pad to a box is left,
                // and cutting an animation into frames costs a copy of it all.
                let frame = (ctx.image.get_width().max(0) as u32, ctx.frame_height());
                if edits::boxes(&plan, frame) {
                    edits::each_frame(ctx, |ctx| edits::fit_to_box(ctx, &plan, r))?;
                }
            }
            _ => edits::apply(ctx, edit)?,
        }
    }
    Ok(())
}

fn to_output_colour(ctx: &mut Ctx) -> Result<()> {
    use rs_vips::enums::BandFormat;
    let interpretation = ctx
        .image
        .get_interpretation()
        .unwrap_or(Interpretation::Multiband);
    let gray = matches!(interpretation, Interpretation::BW | Interpretation::Grey16);
    let keep_gray = gray && matches!(ctx.format, OutputFormat::Jpeg | OutputFormat::Png);
    let target = if keep_gray {
        Interpretation::BW
    } else {
        Interpretation::Srgb
    };
    let is_uchar = matches!(ctx.image.get_format(), Ok(BandFormat::Uchar));
    if interpretation != target || !is_uchar {
        ctx.image = ctx.image.colourspace(target).map_err(vips)?;
    }
    if !matches!(ctx.image.get_format(), Ok(BandFormat::Uchar)) {
        ctx.image = ctx.image.cast(BandFormat::Uchar).map_err(vips)?;
    }
    Ok(())
}

fn flatten_for_output(ctx: &mut Ctx) -> Result<()> {
    if !ctx.format.has_alpha() && ctx.image.hasalpha() {
        ctx.image = edits::flatten(&ctx.image, crate::request::Color::WHITE)?;
    }
    Ok(())
}

fn prepare_metadata(ctx: &mut Ctx) -> Result<()> {
    metadata::check_supported(ctx.job.output.metadata)?;
    let image = std::mem::replace(&mut ctx.image, VipsImage::new());
    ctx.image = metadata::prepare(image, ctx.job.output.metadata)?;
    Ok(())
}

fn encode_output(ctx: &mut Ctx) -> Result<()> {
    let output = &ctx.job.output;
    let mut effort = ctx.job.effort;
    if let Some(e) = output.effort {
        effort.webp = e.min(6);
    }
    let settings = encode::Settings {
        quality: output.quality,
        lossless: output.lossless,
        near_lossless: output.near_lossless,
        progressive: output.progressive,
        effort,
        keep: metadata::keep_flags(output.metadata),
    };
    let auto = &ctx.job.auto_quality;
    let target = auto.aim(output, ctx.job.accepted.save_data);
    let until = Instant::now() + auto.budget;
    if output.best {
        encode_best(ctx, settings, target, until)?;
        // `max_bytes` still caps a lossy winner, from its own quality down;
        // what automatic quality chose then no longer stands.
        let lossless_winner = ctx.chosen.is_some_and(|c| c.quality.is_none());
        let start = (ctx.chosen.and_then(|c| c.quality)).or(encode::default_quality(ctx.format));
        if let (Some(max), Some(quality)) = (output.max_bytes, start)
            && !settings.lossless
            && !lossless_winner
            && ctx.encoded.len() as u64 > max
        {
            ctx.encoded = encode_within(ctx, settings, quality, 1, max)?.0;
            ctx.chosen = None;
        }
    } else {
        let start_quality = settings.quality.or(encode::default_quality(ctx.format));
        ctx.encoded = match (output.max_bytes, start_quality, target) {
            (Some(max), Some(quality), _) if !output.lossless && !output.near_lossless => {
                encode_within(ctx, settings, quality, 1, max)?.0
            }
            (None, _, Some(target)) => encode_auto(ctx, settings, target, until)?,
            _ => encode::encode(&ctx.image, ctx.format, settings)?,
        };
    }
    let start_quality = ctx
        .chosen
        .and_then(|c| c.quality)
        .or(settings.quality)
        .or(encode::default_quality(ctx.format));
    let settings = encode::Settings {
        lossless: settings.lossless || ctx.chosen.is_some_and(|c| c.quality.is_none()),
        ..settings
    };
    if let Some(cap) = ctx.job.max_output_bytes
        && ctx.encoded.len() as u64 > cap
    {
        fit_response_cap(ctx, settings, start_quality, cap)?;
    }
    Ok(())
}

/// `quality=auto` for the chosen format: the lowest quality that reaches the
/// target (see [`quality`]); the default quality when the format has none to
/// search or the image is too small to score.
fn encode_auto(
    ctx: &mut Ctx,
    settings: encode::Settings,
    target: quality::Target,
    until: Instant,
) -> Result<Vec<u8>> {
    // Every probe reads the pixels again: compute them once.
    in_memory(ctx)?;
    let reference = quality::Reference::new(&ctx.image)?;
    match quality::encode_auto(
        &ctx.image,
        reference.as_ref(),
        ctx.format,
        settings,
        target,
        until,
    )? {
        Some((bytes, chosen)) => {
            ctx.chosen = Some(chosen);
            Ok(bytes)
        }
        None => encode::encode(&ctx.image, ctx.format, settings),
    }
}

/// `format=best`: the smallest of the candidates (see
/// [`quality::candidates`]), each at its automatic quality when `target` is
/// set. A candidate without transparency gets the image over white, as
/// `flatten` would have given it.
fn encode_best(
    ctx: &mut Ctx,
    settings: encode::Settings,
    target: Option<quality::Target>,
    until: Instant,
) -> Result<()> {
    in_memory(ctx)?;
    let animated = ctx.pages > 1;
    let fallback = format::negotiate(
        None,
        ctx.job.output.preferred,
        format::Accepted::default(),
        Original {
            format: ctx.source,
            alpha: ctx.image.hasalpha(),
            animated,
            edited: true,
        },
    );
    let synthetic = quality::synthetic(&ctx.image);
    let candidates = quality::candidates(fallback, ctx.job.accepted, animated, synthetic);
    let best = quality::encode_best(&ctx.image, &candidates, settings, target, until)?;
    ctx.format = best.format;
    ctx.chosen = best.chosen;
    ctx.encoded = best.bytes;
    if !ctx.format.has_alpha() && ctx.image.hasalpha() {
        // What the response cap would encode again.
        ctx.image = edits::flatten(&ctx.image, crate::request::Color::WHITE)?;
    }
    Ok(())
}

/// Computes the image into memory once, for several encodes.
fn in_memory(ctx: &mut Ctx) -> Result<()> {
    ctx.image = ctx.image.copy_memory().map_err(vips)?;
    ctx.sequential = false;
    Ok(())
}

/// The lowest quality the response cap lowers a lossy output to before it
/// lowers the size instead.
const CAP_QUALITY_FLOOR: u8 = 40;

/// Lambda's response cap: lower the quality of a lossy output (down to
/// [`CAP_QUALITY_FLOOR`]), then the size, until the output fits; 413 when
/// even a tenth of the size does not.
///
/// Each reduced encode reads the pixels again, so they are first computed
/// once into memory; an image streamed from a sequential decode, which the
/// first encode consumed, is made again first (see [`remake_image`]).
fn fit_response_cap(
    ctx: &mut Ctx,
    settings: encode::Settings,
    start_quality: Option<u8>,
    cap: u64,
) -> Result<()> {
    // Only its size is needed from here: the first output can be large.
    let mut size = std::mem::take(&mut ctx.encoded).len() as u64;
    if ctx.sequential {
        remake_image(ctx)?;
    }
    let mut quality = None;
    if let (Some(q), false) = (start_quality, settings.lossless) {
        let (out, used) = encode_within(ctx, settings, q, CAP_QUALITY_FLOOR.min(q), cap)?;
        size = out.len() as u64;
        ctx.encoded = out;
        quality = Some(used);
    } else {
        ctx.image = ctx.image.copy_memory().map_err(vips)?;
        ctx.sequential = false;
    }
    let settings = encode::Settings {
        quality: quality.or(settings.quality),
        ..settings
    };
    let mut scale = 1.0_f64;
    while size > cap {
        scale *= ((cap as f64 / size as f64).sqrt() * 0.9).min(0.9);
        if scale < 0.1 {
            return Err(Error::TooLargeImage);
        }
        let (w, h) = (ctx.image.get_width(), ctx.frame_height());
        let width = ((f64::from(w) * scale).round() as u32).max(1);
        let height = ((f64::from(h) * scale).round() as u32).max(1);
        let full = ctx.image.clone();
        edits::each_frame(ctx, |ctx| {
            ctx.image = edits::scale_to(&ctx.image, width, height)?;
            Ok(())
        })?;
        ctx.encoded = encode::encode(&ctx.image, ctx.format, settings)?;
        size = ctx.encoded.len() as u64;
        if size > cap {
            ctx.image = full;
        }
    }
    ctx.reduced = Some(Reduction {
        quality,
        width: ctx.image.get_width() as u32,
        height: ctx.frame_height(),
    });
    Ok(())
}

/// The highest quality in `floor..=quality` whose output fits in `max` bytes,
/// found by bisection (at most 8 encodes), or the `floor` output when none
/// fits; with the quality used. Thumbor's `max_bytes` uses a floor of 1.
fn encode_within(
    ctx: &mut Ctx,
    settings: encode::Settings,
    quality: u8,
    floor: u8,
    max: u64,
) -> Result<(Vec<u8>, u8)> {
    // Several encodes read the pixels several times: compute them once.
    in_memory(ctx)?;
    let at = |q: u8| {
        encode::encode(
            &ctx.image,
            ctx.format,
            encode::Settings {
                quality: Some(q),
                ..settings
            },
        )
    };
    let first = at(quality)?;
    if first.len() as u64 <= max {
        return Ok((first, quality));
    }
    let floor = floor.clamp(1, quality);
    let (mut low, mut high) = (floor, quality - 1);
    let mut best: Option<(Vec<u8>, u8)> = None;
    while low <= high && high >= floor {
        let mid = low + (high - low) / 2;
        let out = at(mid)?;
        if out.len() as u64 <= max {
            best = Some((out, mid));
            low = mid + 1;
        } else if mid == floor {
            break;
        } else {
            high = mid - 1;
        }
    }
    match best {
        Some(found) => Ok(found),
        None => Ok((at(floor)?, floor)),
    }
}

/// libvips decodes lazily, so a corrupt or truncated original (or overlay)
/// often fails only while a later step pulls its pixels. Such a failure is
/// the input's fault (400), not ours (500). It is told from the failure
/// itself, without decoding anything again: libvips names the loader that
/// failed in its error ([`LOADER_ERRORS`]). libvips' error buffer is shared
/// by every thread, though, and another job's `error_clear` can empty it
/// before this failure's message is read: only a failure that names no
/// loader (a fault of ours, or a message lost so) is checked by decoding the
/// original again, which a corrupt input does not reach by itself.
fn reclassify(job: &Job, e: Error) -> Error {
    match e {
        Error::Processing { detail } if input_fault(&detail) || !decodes(&job.bytes) => {
            Error::InvalidImage { detail }
        }
        other => other,
    }
}

/// The names libvips gives a decoder's failure (its loaders' and codecs'
/// error domains): one of them in a failure means the input did not decode.
const LOADER_ERRORS: &[&str] = &[
    "VipsForeignLoad",
    "VipsJpeg",
    "jpegload",
    "pngload",
    "spngload",
    "vipspng",
    "webpload",
    "webp2vips",
    "gifload",
    "tiffload",
    "tiff2vips",
    "heifload",
    "heif: ",
    "svgload",
];

/// Whether a libvips failure came from decoding an input.
fn input_fault(detail: &str) -> bool {
    LOADER_ERRORS.iter().any(|name| detail.contains(name))
}

#[cfg(test)]
thread_local! {
    /// Second decodes on this thread, for the tests.
    static SECOND_DECODES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether the whole original decodes without error (a second full decode:
/// only for failures that name no loader).
fn decodes(bytes: &[u8]) -> bool {
    #[cfg(test)]
    SECOND_DECODES.with(|n| n.set(n.get() + 1));
    // HEIC and JPEG XL originals were decoded whole by `open` already.
    if format::sniff(bytes).is_ok_and(|s| s.decoder().is_some()) {
        return true;
    }
    let decoded = format::sniff(bytes).and_then(|source| {
        // the job's own sanitising already held an SVG's embedded rasters to the limit
        svg::open(bytes, source, u64::MAX, u64::MAX)?
            .avg()
            .map_err(vips)
    });
    Vips::error_clear();
    decoded.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Fit, Position, Resize, Rotation};

    /// A JPEG photograph (the embedded origin's first sample).
    const PHOTO: &[u8] = include_bytes!("../samples/dune.jpg");

    fn resize() -> Edit {
        Edit::Resize(Resize {
            width: Some(10),
            height: None,
            fit: Fit::Cover,
            position: Position::Centre,
            background: None,
            without_enlargement: false,
            adaptive: false,
        })
    }

    /// A job without limits on the input, for the tests.
    fn job(bytes: bytes::Bytes, edits: Vec<Edit>, output: crate::request::Output) -> Job {
        Job {
            bytes,
            edits,
            output,
            accepted: Default::default(),
            limits: Default::default(),
            max_input_pixels: u64::MAX,
            max_frames: 256,
            effort: Default::default(),
            fast_shrink: false,
            max_output_bytes: None,
            overlays: Vec::new(),
            auto_quality: Default::default(),
        }
    }

    #[test]
    fn hoisting_only_across_rotations_and_mirrors() {
        assert_eq!(hoistable(&[resize()]), Some((0, 0)));
        assert_eq!(
            hoistable(&[Edit::Rotate(Rotation::D90), Edit::Flip, resize()]),
            Some((2, 1))
        );
        assert_eq!(
            hoistable(&[
                Edit::Rotate(Rotation::D270),
                Edit::Rotate(Rotation::D90),
                resize()
            ]),
            Some((2, 4))
        );
        assert_eq!(hoistable(&[Edit::Grayscale, resize()]), None);
        assert_eq!(hoistable(&[Edit::Flip]), None);
    }

    #[test]
    fn truncated_originals_are_the_inputs_fault() {
        crate::transform::init_vips().unwrap();
        let whole = PHOTO;
        assert!(decodes(whole));
        assert!(!decodes(&whole[..whole.len() / 2]));
        let processing = Error::Processing {
            detail: String::new(),
        };
        let job = |bytes: &[u8]| {
            job(
                bytes::Bytes::copy_from_slice(bytes),
                Vec::new(),
                Default::default(),
            )
        };
        // a truncated original fails while a later step pulls its pixels
        let truncated = job(&whole[..1000]);
        let e = run_steps(&truncated).unwrap_err();
        assert!(matches!(e, Error::Processing { .. }), "{e:?}");
        assert!(matches!(
            reclassify(&truncated, e),
            Error::InvalidImage { .. }
        ));
        // Told from libvips' message, without a second decode. libvips'
        // error buffer is the process's: a test on another thread can
        // clear it between a failure and its reading, so one run in a few
        // may fall back to decoding again; never telling it is the bug.
        let told_from_message = (0..5).any(|_| {
            let decoded = SECOND_DECODES.with(|n| n.get());
            assert!(matches!(run(&truncated), Err(Error::InvalidImage { .. })));
            SECOND_DECODES.with(|n| n.get()) == decoded
        });
        assert!(
            told_from_message,
            "the original was decoded a second time, every time"
        );
        // a failure of ours stays ours
        assert!(matches!(
            reclassify(&job(whole), processing),
            Error::Processing { .. }
        ));
        let ours = Error::Processing {
            detail: "vips error: OperationError - Cannot run linear. linear: vector must have 1 or 3 elements".into(),
        };
        assert!(!input_fault(ours.detail().unwrap_or_default()));
        assert!(matches!(
            reclassify(&job(whole), ours),
            Error::Processing { .. }
        ));
    }

    /// The failure alone gives the class the second full decode gave, over
    /// truncations and bit flips of an original of every lazily decoded
    /// format.
    #[test]
    fn the_failure_tells_input_faults_as_a_second_decode_did() {
        crate::transform::init_vips().unwrap();
        let photo = VipsImage::thumbnail_buffer(PHOTO, 96)
            .and_then(|i| i.copy_memory())
            .unwrap();
        let originals: Vec<(&str, Vec<u8>)> = vec![
            ("jpeg", photo.jpegsave_buffer().unwrap()),
            ("png", photo.pngsave_buffer().unwrap()),
            ("webp", photo.webpsave_buffer().unwrap()),
            ("gif", photo.gifsave_buffer().unwrap()),
            ("tiff", photo.tiffsave_buffer().unwrap()),
            (
                "avif",
                photo
                    .heifsave_buffer_with_opts(VOption::new().set("compression", "av1"))
                    .unwrap(),
            ),
        ];
        let (mut checked, mut processing, mut named, mut changed) = (0, 0, 0, Vec::new());
        let mut formats = std::collections::BTreeSet::new();
        for (name, whole) in &originals {
            let mut inputs: Vec<Vec<u8>> = Vec::new();
            let n = whole.len();
            for cut in (16..n).step_by((n / 40).max(1)) {
                inputs.push(whole[..cut].to_vec());
            }
            for at in (0..n).step_by((n / 60).max(1)) {
                for bit in [0x01u8, 0x80] {
                    let mut flipped = whole.clone();
                    flipped[at] ^= bit;
                    inputs.push(flipped);
                }
            }
            for bytes in inputs {
                let job = job(
                    bytes::Bytes::from(bytes),
                    vec![resize(), Edit::Grayscale],
                    crate::request::Output {
                        format: Some(OutputFormat::Png),
                        ..Default::default()
                    },
                );
                let failure = run_steps(&job);
                Vips::error_clear();
                checked += 1;
                if let Err(Error::Processing { detail }) = failure {
                    processing += 1;
                    formats.insert(*name);
                    // libvips' error buffer is shared with the tests running
                    // beside this one: a message they cleared names no loader.
                    named += usize::from(input_fault(&detail));
                    let before = !decodes(&job.bytes);
                    let now = matches!(
                        reclassify(
                            &job,
                            Error::Processing {
                                detail: detail.clone()
                            }
                        ),
                        Error::InvalidImage { .. }
                    );
                    if now != before {
                        changed.push(format!("{name}: {detail:?}"));
                    }
                }
            }
        }
        assert!(
            named * 10 >= processing * 9,
            "{named} of {processing} late failures named their loader"
        );
        assert!(
            changed.is_empty(),
            "the class changed for:\n{}",
            changed.join("\n")
        );
        assert!(
            checked > 500 && formats.len() >= 3,
            "{checked} inputs, {processing} late failures, in {formats:?}"
        );
    }
}
