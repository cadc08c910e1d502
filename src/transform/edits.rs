//! The pixel work of each edit: one function per [`Edit`] variant.
//!
//! [`apply`] dispatches an edit to its home. Resize is split in two so the
//! pipeline can fold its scaling into the load: [`plan_resize`] computes the
//! scaled size, [`fit_to_box`] does what the fit mode needs after scaling
//! (crop for `cover`, pad for `contain`).
//!
//! An animation is one strip of frames stacked top to bottom. Edits that
//! treat each pixel on its own run on the whole strip at once
//! ([`per_pixel`]); every other edit runs on each frame in turn
//! ([`each_frame`]), and a crop chosen from the content is chosen on the
//! first frame and applied to all ([`Ctx::choose`]).

use rs_vips::VipsImage;
use rs_vips::enums::{Angle, BandFormat, CompassDirection, Direction, Interpretation};
use rs_vips::voption::{Setter, VOption};

use super::context::{Ctx, FrameChoice, Rect, ResizePlan};
use super::failure::vips;
use super::format;
use crate::error::{Error, Result};
use crate::request::{
    Color, Edit, Extend, Fit, Kernel, Limits, Overlay, Position, Region, Resize, Rotation,
    RoundCrop, Trim, TrimBackground,
};

/// Number of clockwise quarter turns of a rotation; `None` for another angle.
pub fn quarter_turns(r: Rotation) -> Option<u32> {
    match r {
        Rotation::D90 => Some(1),
        Rotation::D180 => Some(2),
        Rotation::D270 => Some(3),
        Rotation::Other(_) => None,
    }
}

/// Edits that read each pixel alone (or statistics of the whole image), so
/// they run on all of an animation's frames at once.
fn per_pixel(edit: &Edit) -> bool {
    matches!(
        edit,
        Edit::Flop
            | Edit::Grayscale
            | Edit::Flatten(_)
            | Edit::Normalize
            | Edit::Negate { .. }
            | Edit::Tint(_)
            | Edit::Linear { .. }
            | Edit::Modulate(_)
            | Edit::Gamma(..)
            | Edit::Threshold { .. }
            | Edit::RemoveAlpha
            | Edit::EnsureAlpha(_)
    )
}

/// Runs `edit` on each frame of an animation and stacks the results again;
/// on a still image, runs it once. Every frame must come out the same size.
pub fn each_frame(ctx: &mut Ctx, mut edit: impl FnMut(&mut Ctx) -> Result<()>) -> Result<()> {
    let pages = ctx.pages;
    if pages <= 1 {
        return edit(ctx);
    }
    // Frames are cut out of the strip: it must allow random access.
    ctx.random_access()?;
    let strip = ctx.image.clone();
    let (w, page) = (strip.get_width(), ctx.frame_height() as i32);
    ctx.pages = 1;
    ctx.frame_choice = FrameChoice::FirstFrame;
    let frames = (0..pages as i32)
        .map(|i| {
            ctx.image = strip.extract_area(0, i * page, w, page).map_err(vips)?;
            edit(ctx)?;
            Ok(ctx.image.clone())
        })
        .collect::<Result<Vec<_>>>();
    ctx.pages = pages;
    ctx.frame_choice = FrameChoice::Each;
    let frames = frames?;
    let first = size(&frames[0]);
    if frames.iter().any(|f| size(f) != first) {
        return Err(Error::Processing {
            detail: "the frames of an animation came out in different sizes".into(),
        });
    }
    let mut joined = VipsImage::arrayjoin_with_opts(&frames, VOption::new().set("across", 1))
        .and_then(|j| j.copy())
        .map_err(vips)?;
    joined
        .set_int("page-height", first.1 as i32)
        .map_err(vips)?;
    ctx.image = joined;
    Ok(())
}

/// Applies one edit to the context's image (to each frame of an animation).
pub fn apply(ctx: &mut Ctx, edit: &Edit) -> Result<()> {
    match edit {
        Edit::Overlay(o) => overlay(ctx, o),
        edit if ctx.pages > 1 && !per_pixel(edit) => {
            each_frame(ctx, |ctx| apply_to_frame(ctx, edit))
        }
        edit => apply_to_frame(ctx, edit),
    }
}

fn apply_to_frame(ctx: &mut Ctx, edit: &Edit) -> Result<()> {
    match edit {
        Edit::Resize(r) => resize(ctx, r),
        Edit::Rotate(r) => rotate(ctx, *r),
        Edit::Flip => {
            ctx.random_access()?;
            ctx.image = ctx.image.flip(Direction::Vertical).map_err(vips)?;
            Ok(())
        }
        Edit::Flop => {
            ctx.image = ctx.image.flip(Direction::Horizontal).map_err(vips)?;
            Ok(())
        }
        Edit::Grayscale => {
            ctx.image = ctx.image.colourspace(Interpretation::BW).map_err(vips)?;
            Ok(())
        }
        Edit::Blur(sigma) => {
            ctx.image = ctx.image.gaussblur(*sigma).map_err(vips)?;
            Ok(())
        }
        Edit::Sharpen(sigma) => {
            ctx.image = ctx
                .image
                .sharpen_with_opts(VOption::new().set("sigma", sigma.unwrap_or(1.0)))
                .map_err(vips)?;
            Ok(())
        }
        Edit::Flatten(color) => {
            if ctx.image.hasalpha() {
                ctx.image = flatten(&ctx.image, *color)?;
            }
            Ok(())
        }
        Edit::Scale(factor) => scale(ctx, *factor),
        Edit::Extract(region) => extract(ctx, region),
        Edit::Extend(extend) => extend_borders(ctx, extend),
        Edit::Trim(trim) => trim_border(ctx, trim),
        Edit::Normalize => normalize(ctx),
        Edit::Negate { alpha } => {
            ctx.image = if *alpha {
                invert(&ctx.image).map_err(vips)?
            } else {
                map_colour(&ctx.image, invert)?
            };
            Ok(())
        }
        Edit::Tint(color) => tint(ctx, *color),
        Edit::Linear { a, b } => {
            let (a, b) = (*a, *b);
            ctx.image = map_colour(&ctx.image, |c| {
                let n = c.get_bands() as usize;
                c.linear(&vec![a; n], &vec![b; n])
            })?;
            Ok(())
        }
        Edit::Convolve(kernel) => convolve(ctx, kernel),
        Edit::Modulate(m) => {
            // sharp: scale lightness and chroma, add lightness and hue, in LCh.
            let m = *m;
            ctx.image = map_colour(&ctx.image, |c| {
                c.colourspace(Interpretation::Lch)?
                    .linear(
                        &[m.brightness, m.saturation, 1.0],
                        &[m.lightness, 0.0, m.hue],
                    )?
                    .colourspace(Interpretation::Srgb)
            })?;
            Ok(())
        }
        Edit::Median(size) => {
            let size = *size as i32;
            ctx.image = map_colour(&ctx.image, |c| c.median(size))?;
            Ok(())
        }
        Edit::Gamma(decode, encode) => {
            let exponent = decode / encode;
            ctx.image = map_colour(&ctx.image, |c| {
                c.gamma_with_opts(VOption::new().set("exponent", exponent))
            })?;
            Ok(())
        }
        Edit::Threshold { value, grayscale } => {
            let (value, grayscale) = (f64::from(*value), *grayscale);
            ctx.image = map_colour(&ctx.image, |c| {
                let c = if grayscale {
                    c.colourspace(Interpretation::BW)?
                } else {
                    c.copy()?
                };
                let n = c.get_bands() as usize;
                c.relational_const(rs_vips::enums::OperationRelational::Moreeq, &vec![value; n])
            })?;
            Ok(())
        }
        Edit::Clahe {
            width,
            height,
            max_slope,
        } => clahe(ctx, *width, *height, *max_slope),
        Edit::RemoveAlpha => {
            if ctx.image.hasalpha() {
                ctx.image = colour_bands(&ctx.image).map_err(vips)?;
            }
            Ok(())
        }
        Edit::EnsureAlpha(alpha) => {
            if !ctx.image.hasalpha() {
                let max = if matches!(
                    ctx.image.get_format(),
                    Ok(rs_vips::enums::BandFormat::Uchar)
                ) {
                    255.0
                } else {
                    65535.0
                };
                ctx.image = ctx.image.bandjoin_const(&[alpha * max]).map_err(vips)?;
            }
            Ok(())
        }
        Edit::RoundCrop(shape) => round_crop(ctx, shape),
        Edit::SmartCrop { padding } => smart_crop(ctx, *padding),
        Edit::Overlay(o) => overlay(ctx, o),
    }
}

/// Reads and fits the next overlay once, then draws it on every frame.
fn overlay(ctx: &mut Ctx, o: &Overlay) -> Result<()> {
    let prepared = prepare_overlay(ctx, o)?;
    each_frame(ctx, |ctx| draw_overlay(ctx, o, &prepared))
}

/// Reads the next overlay and gives it SIH's size and transparency: scaled
/// to `wRatio`/`hRatio` percent of the base (fitting inside), made `alpha`
/// percent transparent, with an alpha band.
fn prepare_overlay(ctx: &mut Ctx, o: &Overlay) -> Result<VipsImage> {
    let bytes = ctx
        .job
        .overlays
        .get(ctx.next_overlay)
        .cloned()
        .ok_or_else(|| Error::Processing {
            detail: "an overlay's original was not fetched".into(),
        })?;
    ctx.next_overlay += 1;
    let source = format::sniff(&bytes)?;
    let (bw, bh) = (ctx.image.get_width() as u32, ctx.frame_height());
    // What is left of the request's pixel bound (decoders that decode whole check it first).
    let left = ctx.job.max_input_pixels.saturating_sub(ctx.pixels);
    let mut overlay = super::svg::open(&bytes, source, ctx.job.max_input_pixels, left)
        .and_then(|i| i.autorot().map_err(vips))
        .map_err(|e| match e {
            Error::InvalidImage { detail } | Error::Processing { detail } => Error::InvalidImage {
                detail: format!("overlay: {detail}"),
            },
            other => other,
        })?;
    let (ow, oh) = size(&overlay);
    // One bound for the request: the original's pixels and every overlay's.
    let pixels = ctx.pixels.saturating_add(u64::from(ow) * u64::from(oh));
    if pixels > ctx.job.max_input_pixels {
        return Err(Error::TooManyPixels {
            width: u64::from(ow),
            height: u64::from(oh),
            pixels,
            limit: ctx.job.max_input_pixels,
        });
    }
    ctx.pixels = pixels;
    overlay = import_profile(&overlay).map_err(vips)?;
    if o.width_ratio.is_some() || o.height_ratio.is_some() {
        let bw_box = o
            .width_ratio
            .map(|r| (u64::from(bw) * u64::from(r) / 100).max(1) as u32)
            .unwrap_or(ow.max(1));
        let bh_box = o
            .height_ratio
            .map(|r| (u64::from(bh) * u64::from(r) / 100).max(1) as u32)
            .unwrap_or(oh.max(1));
        let s = (f64::from(bw_box) / f64::from(ow.max(1)))
            .min(f64::from(bh_box) / f64::from(oh.max(1)));
        let (w, h) = (
            ((f64::from(ow) * s).floor() as u32).max(1),
            ((f64::from(oh) * s).floor() as u32).max(1),
        );
        overlay = scale_to(&overlay, w, h)?;
    }
    let (ow, oh) = size(&overlay);
    if ow > bw || oh > bh {
        return Err(Error::OverlayTooLarge);
    }
    let (overlay, _) = with_background(&overlay, Color::TRANSPARENT)?;
    if o.alpha == 0 {
        return Ok(overlay);
    }
    let keep = 1.0 - f64::from(o.alpha.min(100)) / 100.0;
    let n = overlay.get_bands() as usize;
    let mut a = vec![1.0; n];
    a[n - 1] = keep;
    overlay
        .linear(&a, &vec![0.0; n])
        .and_then(|i| i.cast(rs_vips::enums::BandFormat::Uchar))
        .map_err(vips)
}

/// Draws a prepared overlay at `left`/`top` (negative from the far edge, `Np` percent).
fn draw_overlay(ctx: &mut Ctx, o: &Overlay, overlay: &VipsImage) -> Result<()> {
    let (bw, bh) = size(&ctx.image);
    let (ow, oh) = size(overlay);
    let x = o
        .left
        .resolve(i64::from(bw), i64::from(ow))
        .clamp(-100_000, 100_000) as i32;
    let y = o
        .top
        .resolve(i64::from(bh), i64::from(oh))
        .clamp(-100_000, 100_000) as i32;
    let base = ctx.image.colourspace(Interpretation::Srgb).map_err(vips)?;
    ctx.image = base
        .composite2_with_opts(
            overlay,
            rs_vips::enums::BlendMode::Over,
            VOption::new().set("x", x).set("y", y),
        )
        .map_err(vips)?;
    Ok(())
}

/// Contrast-limited adaptive equalisation of the lightness (CIE L*), keeping colour.
fn clahe(ctx: &mut Ctx, width: u32, height: u32, max_slope: u32) -> Result<()> {
    ctx.random_access()?;
    let (w, h) = size(&ctx.image);
    let (width, height) = (width.min(w).max(1) as i32, height.min(h).max(1) as i32);
    ctx.image = map_colour(&ctx.image, |c| {
        let lab = c.colourspace(Interpretation::Lab)?;
        let l = lab
            .extract_band(0)?
            .linear(&[255.0 / 100.0], &[0.0])?
            .cast(rs_vips::enums::BandFormat::Uchar)?
            .hist_local_with_opts(
                width,
                height,
                VOption::new().set("max_slope", max_slope as i32),
            )?
            .linear(&[100.0 / 255.0], &[0.0])?;
        let ab = lab.extract_band_with_opts(1, VOption::new().set("n", 2))?;
        VipsImage::bandjoin(&[l, ab])?
            .copy_with_opts(VOption::new().set("interpretation", "lab"))?
            .colourspace(Interpretation::Srgb)
    })?;
    Ok(())
}

/// Keeps an ellipse (cropped to its bounding box, as SIH does) or cuts
/// rounded corners, through an anti-aliased SVG mask.
fn round_crop(ctx: &mut Ctx, shape: &RoundCrop) -> Result<()> {
    let (w, h) = size(&ctx.image);
    // The mask's shape, and an ellipse's bounding box (left, top, right, bottom).
    let (svg, bounds) = match *shape {
        RoundCrop::Ellipse { rx, ry, left, top } => {
            let r = w.min(h) / 2;
            let (rx, ry) = (rx.unwrap_or(r).max(1), ry.unwrap_or(r).max(1));
            let (cx, cy) = (left.unwrap_or(w / 2), top.unwrap_or(h / 2));
            let bounds = (
                cx.saturating_sub(rx),
                cy.saturating_sub(ry),
                (cx + rx).min(w),
                (cy + ry).min(h),
            );
            let svg = format!(r#"<ellipse cx="{cx}" cy="{cy}" rx="{rx}" ry="{ry}" fill="white"/>"#);
            (svg, Some(bounds))
        }
        RoundCrop::Corners { rx, ry, .. } => {
            let svg = format!(
                r#"<rect x="0" y="0" width="{w}" height="{h}" rx="{rx}" ry="{ry}" fill="white"/>"#
            );
            (svg, None)
        }
    };
    let svg =
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">{svg}</svg>"#);
    let mask = VipsImage::svgload_buffer(svg.as_bytes())
        .and_then(|m| m.extract_band(3))
        .map_err(vips)?;
    let (image, _) = with_background(&ctx.image, Color::TRANSPARENT)?;
    let (colour, alpha) = split_alpha(&image).map_err(vips)?;
    let alpha = alpha
        .multiply(&mask)
        .and_then(|a| a.linear(&[1.0 / 255.0], &[0.0]))
        .and_then(|a| a.cast(rs_vips::enums::BandFormat::Uchar))
        .map_err(vips)?;
    ctx.image = VipsImage::bandjoin(&[colour, alpha]).map_err(vips)?;
    if let RoundCrop::Corners {
        background: Some(color),
        ..
    } = *shape
    {
        ctx.image = flatten(&ctx.image, color)?;
    }
    // An ellipse is cropped to its bounding box, as SIH does.
    if let Some((x0, y0, x1, y1)) = bounds
        && x1 > x0
        && y1 > y0
        && (x1 - x0, y1 - y0) != (w, h)
    {
        ctx.image = ctx
            .image
            .extract_area(x0 as i32, y0 as i32, (x1 - x0) as i32, (y1 - y0) as i32)
            .map_err(vips)?;
    }
    Ok(())
}

/// A square of the shorter side (less `padding` on each side) around libvips'
/// attention point, then widened by `padding` where the image allows.
fn smart_crop(ctx: &mut Ctx, padding: u32) -> Result<()> {
    ctx.random_access()?;
    let (w, h) = size(&ctx.image);
    let side = w.min(h);
    let crop = ctx.choose(|image| {
        let inner = side.saturating_sub(2 * padding).max(1);
        let (mut ax, mut ay) = (0i32, 0i32);
        image
            .smartcrop_with_opts(
                inner as i32,
                inner as i32,
                VOption::new()
                    .set("interesting", "attention")
                    .set("attention_x", &mut ax)
                    .set("attention_y", &mut ay),
            )
            .map_err(vips)?;
        let half = side / 2;
        let left = (ax.max(0) as u32).saturating_sub(half).min(w - side);
        let top = (ay.max(0) as u32).saturating_sub(half).min(h - side);
        Ok((left as i32, top as i32, side as i32, side as i32))
    })?;
    crop_to(ctx, crop)
}

/// Cuts `crop` out of the image, unless it is the whole image.
fn crop_to(ctx: &mut Ctx, (left, top, width, height): Rect) -> Result<()> {
    if (width, height) != (ctx.image.get_width(), ctx.image.get_height()) {
        ctx.image = ctx
            .image
            .extract_area(left, top, width, height)
            .map_err(vips)?;
    }
    Ok(())
}

/// Applies `f` to the colour bands only, keeping any alpha band as it is.
fn map_colour(
    image: &VipsImage,
    f: impl FnOnce(&VipsImage) -> rs_vips::Result<VipsImage>,
) -> Result<VipsImage> {
    if !image.hasalpha() {
        return f(image).map_err(vips);
    }
    let (colour, alpha) = split_alpha(image).map_err(vips)?;
    let colour = f(&colour).map_err(vips)?;
    let alpha = if colour.get_format().ok() == alpha.get_format().ok() {
        alpha
    } else {
        alpha
            .cast(colour.get_format().map_err(vips)?)
            .map_err(vips)?
    };
    VipsImage::bandjoin(&[colour, alpha]).map_err(vips)
}

/// Every band but the last (the alpha band).
fn colour_bands(image: &VipsImage) -> rs_vips::Result<VipsImage> {
    image.extract_band_with_opts(0, VOption::new().set("n", image.get_bands() - 1))
}

/// The colour bands and the alpha band (the last) of an image with alpha.
fn split_alpha(image: &VipsImage) -> rs_vips::Result<(VipsImage, VipsImage)> {
    Ok((
        colour_bands(image)?,
        image.extract_band(image.get_bands() - 1)?,
    ))
}

/// `255 - x` on every band. libvips' `invert` does that only for 8-bit
/// pixels and negates float ones, so the float pixels that `linear`,
/// `normalize` or `convolve` leave behind would all come out black.
fn invert(image: &VipsImage) -> rs_vips::Result<VipsImage> {
    if image.get_format()? == BandFormat::Uchar {
        return image.invert();
    }
    let n = image.get_bands() as usize;
    image.linear(&vec![-1.0; n], &vec![255.0; n])
}

fn size(image: &VipsImage) -> (u32, u32) {
    (image.get_width() as u32, image.get_height() as u32)
}

fn check_output_size(param: &str, w: u64, h: u64, limits: &Limits) -> Result<()> {
    if w > u64::from(limits.max_width) || h > u64::from(limits.max_height) {
        return Err(Error::param(
            param,
            format!(
                "{param} would give a {w}x{h} image, above the maximum of {}x{}",
                limits.max_width, limits.max_height
            ),
        ));
    }
    Ok(())
}

fn scale(ctx: &mut Ctx, factor: f64) -> Result<()> {
    let (w, h) = size(&ctx.image);
    let side = |v: u32| ((f64::from(v) * factor).round() as u64).max(1);
    let (sw, sh) = (side(w), side(h));
    check_output_size("proportion", sw, sh, &ctx.job.limits)?;
    if (sw, sh) != (u64::from(w), u64::from(h)) {
        ctx.image = scale_to(&ctx.image, sw as u32, sh as u32)?;
    }
    Ok(())
}

/// Resamples to exactly `width`x`height` (libvips thumbnail, already upright).
pub fn scale_to(image: &VipsImage, width: u32, height: u32) -> Result<VipsImage> {
    image
        .thumbnail_image_with_opts(
            width as i32,
            VOption::new()
                .set("height", height as i32)
                .set("size", "force")
                .set("no_rotate", true),
        )
        .map_err(vips)
}

fn extract(ctx: &mut Ctx, r: &Region) -> Result<()> {
    let (w, h) = size(&ctx.image);
    let fits = u64::from(r.left) + u64::from(r.width) <= u64::from(w)
        && u64::from(r.top) + u64::from(r.height) <= u64::from(h)
        && r.width > 0
        && r.height > 0;
    if !fits {
        return Err(Error::param(
            "extract",
            format!(
                "extract: the area left={}, top={}, width={}, height={} is outside the {w}x{h} image",
                r.left, r.top, r.width, r.height
            ),
        ));
    }
    ctx.image = ctx
        .image
        .extract_area(r.left as i32, r.top as i32, r.width as i32, r.height as i32)
        .map_err(vips)?;
    Ok(())
}

fn extend_borders(ctx: &mut Ctx, e: &Extend) -> Result<()> {
    let (w, h) = size(&ctx.image);
    let nw = u64::from(w) + u64::from(e.left) + u64::from(e.right);
    let nh = u64::from(h) + u64::from(e.top) + u64::from(e.bottom);
    check_output_size("extend", nw, nh, &ctx.job.limits)?;
    let (image, bg) = with_background(&ctx.image, e.background.unwrap_or(Color::TRANSPARENT))?;
    ctx.image = image
        .embed_with_opts(
            e.left as i32,
            e.top as i32,
            nw as i32,
            nh as i32,
            VOption::new()
                .set("extend", "background")
                .set("background", &bg[..]),
        )
        .map_err(vips)?;
    Ok(())
}

/// The image in sRGB, with an alpha band when `color` needs one, and `color`
/// as a background vector matching its bands.
fn with_background(image: &VipsImage, color: Color) -> Result<(VipsImage, Vec<f64>)> {
    let mut image = image.colourspace(Interpretation::Srgb).map_err(vips)?;
    if !image.hasalpha() && color.a < 255 {
        image = image.bandjoin_const(&[255.0]).map_err(vips)?;
    }
    let mut bg = vec![f64::from(color.r), f64::from(color.g), f64::from(color.b)];
    if image.hasalpha() {
        bg.push(f64::from(color.a));
    }
    Ok((image, bg))
}

fn trim_border(ctx: &mut Ctx, t: &Trim) -> Result<()> {
    // find_trim reads every pixel before the crop reads them again.
    ctx.random_access()?;
    let crop = ctx.choose(|image| {
        let (w, h) = size(image);
        let colour = if image.hasalpha() {
            colour_bands(image)
        } else {
            image.copy()
        }
        .map_err(vips)?;
        let background = match t.background {
            TrimBackground::TopLeft => colour.getpoint(0, 0).map_err(vips)?,
            TrimBackground::BottomRight => {
                colour.getpoint(w as i32 - 1, h as i32 - 1).map_err(vips)?
            }
            TrimBackground::Color(c) => background(c, colour.get_bands() < 3),
        };
        let (left, top, tw, th) = colour
            .find_trim_with_opts(
                VOption::new()
                    .set("threshold", t.threshold)
                    .set("background", &background[..]),
            )
            .map_err(vips)?;
        // An image that is all background is left as it is, as sharp does.
        Ok(if tw > 0 && th > 0 {
            (left, top, tw, th)
        } else {
            (0, 0, w as i32, h as i32)
        })
    })?;
    crop_to(ctx, crop)
}

/// sharp's normalise: stretch lightness so 1% of pixels are black and 1% white.
fn normalize(ctx: &mut Ctx) -> Result<()> {
    ctx.random_access()?;
    let luma = ctx
        .image
        .colourspace(Interpretation::BW)
        .and_then(|g| g.extract_band(0))
        .and_then(|g| g.cast(rs_vips::enums::BandFormat::Uchar))
        .map_err(vips)?;
    let low = f64::from(luma.percent(1.0).map_err(vips)?);
    let high = f64::from(luma.percent(99.0).map_err(vips)?);
    if high > low {
        let a = 255.0 / (high - low);
        let b = -low * a;
        ctx.image = map_colour(&ctx.image, |c| {
            let n = c.get_bands() as usize;
            c.linear(&vec![a; n], &vec![b; n])
        })?;
    }
    Ok(())
}

/// sharp's tint: keep each pixel's lightness, take chroma from the colour.
fn tint(ctx: &mut Ctx, color: Color) -> Result<()> {
    let swatch = VipsImage::black(1, 1)
        .and_then(|i| {
            i.linear(
                &[0.0, 0.0, 0.0],
                &[f64::from(color.r), f64::from(color.g), f64::from(color.b)],
            )
        })
        .and_then(|i| i.cast(rs_vips::enums::BandFormat::Uchar))
        .and_then(|i| i.copy_with_opts(VOption::new().set("interpretation", "srgb")))
        .and_then(|i| i.colourspace(Interpretation::Lab))
        .and_then(|i| i.getpoint(0, 0))
        .map_err(vips)?;
    let (a, b) = (
        swatch.get(1).copied().unwrap_or(0.0),
        swatch.get(2).copied().unwrap_or(0.0),
    );
    ctx.image = map_colour(&ctx.image, |c| {
        c.colourspace(Interpretation::Lab)?
            .linear(&[1.0, 0.0, 0.0], &[0.0, a, b])?
            .colourspace(Interpretation::Srgb)
    })?;
    Ok(())
}

fn convolve(ctx: &mut Ctx, k: &Kernel) -> Result<()> {
    let mut mask = VipsImage::new_matrix_from_array(k.width as i32, k.height as i32, &k.weights)
        .map_err(vips)?;
    let sum: f64 = k.weights.iter().sum();
    let scale = k.scale.unwrap_or(if sum == 0.0 { 1.0 } else { sum });
    mask.set_double("scale", scale).map_err(vips)?;
    mask.set_double("offset", k.offset).map_err(vips)?;
    ctx.image = map_colour(&ctx.image, |c| c.conv(&mask))?;
    Ok(())
}

fn rotate(ctx: &mut Ctx, r: Rotation) -> Result<()> {
    ctx.random_access()?;
    let angle = match r {
        Rotation::D90 => Angle::D90,
        Rotation::D180 => Angle::D180,
        Rotation::D270 => Angle::D270,
        Rotation::Other(_) => {
            let (w, h) = size(&ctx.image);
            let (tw, th) = r.turned_size(w, h);
            check_output_size("rotate", u64::from(tw), u64::from(th), &ctx.job.limits)?;
            // sharp's default background: opaque black, in every band
            let bands = ctx.image.get_bands() as usize;
            let mut background = vec![0.0; bands];
            if let Some(alpha) = background.last_mut().filter(|_| ctx.image.hasalpha()) {
                *alpha = 255.0;
            }
            ctx.image = ctx
                .image
                .rotate_with_opts(
                    r.degrees(),
                    VOption::new().set("background", background.as_slice()),
                )
                .map_err(vips)?;
            return Ok(());
        }
    };
    ctx.image = ctx.image.rot(angle).map_err(vips)?;
    Ok(())
}

/// Resize without shrink-on-load: scale the current image, then fit the box.
fn resize(ctx: &mut Ctx, r: &Resize) -> Result<()> {
    let plan = plan_resize(
        ctx.image.get_width() as u32,
        ctx.image.get_height() as u32,
        r,
        &ctx.job.limits,
    )?;
    let (w, h) = plan.scaled;
    if (w, h) != (ctx.image.get_width() as u32, ctx.image.get_height() as u32) {
        ctx.image = scale_to(&ctx.image, w, h)?;
    }
    fit_to_box(ctx, &plan, r)
}

/// Computes sharp's resize geometry for an image of `w`x`h`.
pub fn plan_resize(w: u32, h: u32, r: &Resize, limits: &Limits) -> Result<ResizePlan> {
    let (w, h) = (w.max(1), h.max(1));
    let swapped;
    let r = match (r.adaptive, r.width, r.height) {
        (true, Some(bw), Some(bh)) if (w > h) != (bw > bh) && w != h && bw != bh => {
            swapped = Resize {
                width: Some(bh),
                height: Some(bw),
                ..*r
            };
            &swapped
        }
        _ => r,
    };
    let (fw, fh) = (f64::from(w), f64::from(h));
    let side = |v: f64| (v.round() as u32).max(1);
    let mut boxed = None;
    let scaled = match (r.width, r.height) {
        (None, None) => (w, h),
        (Some(tw), None) => {
            let s = cap(f64::from(tw) / fw, r);
            if s == 1.0 {
                (w, h)
            } else {
                (side(fw * s), side(fh * s))
            }
        }
        (None, Some(th)) => {
            let s = cap(f64::from(th) / fh, r);
            if s == 1.0 {
                (w, h)
            } else {
                (side(fw * s), side(fh * s))
            }
        }
        (Some(tw), Some(th)) => {
            let (sx, sy) = (f64::from(tw) / fw, f64::from(th) / fh);
            match r.fit {
                Fit::Fill => {
                    if r.without_enlargement {
                        (tw.min(w), th.min(h))
                    } else {
                        (tw, th)
                    }
                }
                Fit::Inside | Fit::Contain => {
                    if r.fit == Fit::Contain {
                        boxed = Some((tw, th));
                    }
                    scale_keeping_aspect(w, h, cap(sx.min(sy), r), tw, th, sx <= sy)
                }
                Fit::Cover | Fit::Outside => {
                    let s = cap(sx.max(sy), r);
                    if r.fit == Fit::Cover {
                        boxed = Some((tw, th));
                    }
                    scale_keeping_aspect(w, h, s, tw, th, sx >= sy)
                }
            }
        }
    };
    // Output bounds: `outside` can exceed the box, and `cover` scales past it
    // before cropping; keep both within the configured maximum area.
    let max_area = u64::from(limits.max_width) * u64::from(limits.max_height);
    let area = u64::from(scaled.0) * u64::from(scaled.1);
    let out = boxed.filter(|_| r.fit == Fit::Cover).unwrap_or(scaled);
    if area > max_area
        || (r.fit == Fit::Outside && (out.0 > limits.max_width || out.1 > limits.max_height))
    {
        return Err(Error::param(
            "fit",
            format!(
                "resizing {w}x{h} to fit={} would need {}x{} pixels, above the maximum of {}x{}",
                r.fit.name(),
                scaled.0,
                scaled.1,
                limits.max_width,
                limits.max_height
            ),
        ));
    }
    // Without enlargement the box shrinks to what the image can fill.
    let boxed = boxed.map(|(bw, bh)| {
        if r.fit == Fit::Cover {
            (bw.min(scaled.0), bh.min(scaled.1))
        } else {
            (bw, bh)
        }
    });
    // A box without enlargement may exceed the output limits (the request
    // parsers allow it, as SIH does): the size actually produced may not.
    let produced = boxed.unwrap_or(scaled);
    if r.without_enlargement && (produced.0 > limits.max_width || produced.1 > limits.max_height) {
        return Err(Error::param(
            "fit",
            format!(
                "resizing {w}x{h} without enlargement would give a {}x{} image, above the maximum of {}x{}",
                produced.0, produced.1, limits.max_width, limits.max_height
            ),
        ));
    }
    Ok(ResizePlan {
        from: (w, h),
        scaled,
        boxed,
    })
}

fn cap(s: f64, r: &Resize) -> f64 {
    if r.without_enlargement { s.min(1.0) } else { s }
}

/// Scales by `s`, setting the constraining side exactly to the box so rounding never loses a pixel.
fn scale_keeping_aspect(
    w: u32,
    h: u32,
    s: f64,
    tw: u32,
    th: u32,
    width_constrains: bool,
) -> (u32, u32) {
    let side = |v: f64| (v.round() as u32).max(1);
    let exact = (f64::from(tw) / f64::from(w) - s).abs() < 1e-12
        || (f64::from(th) / f64::from(h) - s).abs() < 1e-12;
    if !exact {
        return (side(f64::from(w) * s), side(f64::from(h) * s));
    }
    if width_constrains {
        (tw, side(f64::from(h) * s))
    } else {
        (side(f64::from(w) * s), th)
    }
}

/// Whether [`fit_to_box`] has anything to do to a frame of this size: the
/// plan crops or pads to a box, and the frame is not that box already.
pub fn boxes(plan: &ResizePlan, frame: (u32, u32)) -> bool {
    plan.boxed.is_some_and(|b| b != frame)
}

/// After scaling: crop to the box (`cover`) or pad to it (`contain`).
pub fn fit_to_box(ctx: &mut Ctx, plan: &ResizePlan, r: &Resize) -> Result<()> {
    let (w, h) = (ctx.image.get_width() as u32, ctx.image.get_height() as u32);
    let Some((bw, bh)) = plan.boxed.filter(|_| boxes(plan, (w, h))) else {
        return Ok(());
    };
    match r.fit {
        Fit::Cover => {
            ctx.image = match r.position {
                Position::Entropy | Position::Attention => {
                    ctx.random_access()?;
                    let interesting = if r.position == Position::Entropy {
                        "entropy"
                    } else {
                        "attention"
                    };
                    let crop = ctx.choose(|image| {
                        // libvips tells where it cut through the offsets of its result.
                        let cut = image
                            .smartcrop_with_opts(
                                bw as i32,
                                bh as i32,
                                VOption::new().set("interesting", interesting),
                            )
                            .map_err(vips)?;
                        Ok((-cut.get_xoffset(), -cut.get_yoffset(), bw as i32, bh as i32))
                    })?;
                    crop_to(ctx, crop)?;
                    return Ok(());
                }
                Position::Focal { .. } | Position::FocalPixel { .. } => {
                    // Centre the box on the point, as far as the image allows.
                    let (fx, fy) = focal_fraction(r.position, plan.from);
                    let left = (fx * f64::from(w) - f64::from(bw) / 2.0)
                        .round()
                        .clamp(0.0, f64::from(w - bw)) as i32;
                    let top = (fy * f64::from(h) - f64::from(bh) / 2.0)
                        .round()
                        .clamp(0.0, f64::from(h - bh)) as i32;
                    ctx.image
                        .extract_area(left, top, bw as i32, bh as i32)
                        .map_err(vips)?
                }
                p => {
                    let (fx, fy) = anchor(p);
                    let left = ((w - bw) as f64 * fx).round() as i32;
                    let top = ((h - bh) as f64 * fy).round() as i32;
                    ctx.image
                        .extract_area(left, top, bw as i32, bh as i32)
                        .map_err(vips)?
                }
            };
        }
        Fit::Contain => {
            let (image, bg) =
                with_background(&ctx.image, r.background.unwrap_or(Color::TRANSPARENT))?;
            let direction = compass(r.position);
            ctx.image = image
                .gravity_with_opts(
                    direction,
                    bw as i32,
                    bh as i32,
                    VOption::new()
                        .set("extend", "background")
                        .set("background", &bg[..]),
                )
                .map_err(vips)?;
        }
        _ => {}
    }
    Ok(())
}

/// Where a position anchors a crop, as fractions of the spare width and height.
fn anchor(p: Position) -> (f64, f64) {
    match p {
        Position::North => (0.5, 0.0),
        Position::NorthEast => (1.0, 0.0),
        Position::East => (1.0, 0.5),
        Position::SouthEast => (1.0, 1.0),
        Position::South => (0.5, 1.0),
        Position::SouthWest => (0.0, 1.0),
        Position::West => (0.0, 0.5),
        Position::NorthWest => (0.0, 0.0),
        Position::Centre
        | Position::Entropy
        | Position::Attention
        | Position::Focal { .. }
        | Position::FocalPixel { .. } => (0.5, 0.5),
    }
}

/// A focal point as fractions of the image it refers to (`from` for pixels).
fn focal_fraction(p: Position, from: (u32, u32)) -> (f64, f64) {
    match p {
        Position::Focal { x, y } => (f64::from(x) / 1000.0, f64::from(y) / 1000.0),
        Position::FocalPixel { x, y } => (
            (f64::from(x) / f64::from(from.0.max(1))).min(1.0),
            (f64::from(y) / f64::from(from.1.max(1))).min(1.0),
        ),
        _ => (0.5, 0.5),
    }
}

fn compass(p: Position) -> CompassDirection {
    match p {
        Position::North => CompassDirection::North,
        Position::NorthEast => CompassDirection::NorthEast,
        Position::East => CompassDirection::East,
        Position::SouthEast => CompassDirection::SouthEast,
        Position::South => CompassDirection::South,
        Position::SouthWest => CompassDirection::SouthWest,
        Position::West => CompassDirection::West,
        Position::NorthWest => CompassDirection::NorthWest,
        Position::Centre
        | Position::Entropy
        | Position::Attention
        | Position::Focal { .. }
        | Position::FocalPixel { .. } => CompassDirection::Centre,
    }
}

/// The image in sRGB through its embedded colour profile; without one, the
/// image as it is (taken as sRGB).
pub fn import_profile(image: &VipsImage) -> rs_vips::Result<VipsImage> {
    if image.get_typeof("icc-profile-data").unwrap_or(0) == 0 {
        return Ok(image.clone());
    }
    image.icc_transform_with_opts("srgb", VOption::new().set("embedded", true))
}

/// Replaces transparency with `color`.
pub fn flatten(image: &VipsImage, color: Color) -> Result<VipsImage> {
    // Grayscale with alpha: two bands.
    let bg = background(color, image.get_bands() <= 2);
    image
        .flatten_with_opts(VOption::new().set("background", &bg[..]))
        .map_err(vips)
}

/// `color` as a background of colour bands (no alpha): its luminance on a
/// grayscale image, else its RGB.
fn background(color: Color, gray: bool) -> Vec<f64> {
    let rgb = [f64::from(color.r), f64::from(color.g), f64::from(color.b)];
    if gray {
        vec![0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]]
    } else {
        rgb.to_vec()
    }
}

#[cfg(test)]
mod tests;
