//! The pixel work of each edit: one function per [`Edit`] variant.
//!
//! [`apply`] dispatches an edit to its home. Resize is split in two so the
//! pipeline can fold its scaling into the load: [`plan_resize`] computes the
//! scaled size, [`fit_to_box`] does what the fit mode needs after scaling
//! (crop for `cover`, pad for `contain`).

use rs_vips::VipsImage;
use rs_vips::enums::{Angle, CompassDirection, Direction, Interpretation};
use rs_vips::voption::{Setter, VOption};

use super::pipeline::{Ctx, vips};
use crate::error::{Error, Result};
use crate::request::{Color, Edit, Fit, Limits, Position, Resize, Rotation};

/// How a resize is carried out on an image of a known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizePlan {
    /// Size after scaling.
    pub scaled: (u32, u32),
    /// The box to crop to (`cover`) or pad to (`contain`), if any.
    pub boxed: Option<(u32, u32)>,
}

/// Number of clockwise quarter turns of a rotation.
pub fn quarter_turns(r: Rotation) -> u32 {
    match r {
        Rotation::D90 => 1,
        Rotation::D180 => 2,
        Rotation::D270 => 3,
    }
}

/// Applies one edit to the context's image.
pub fn apply(ctx: &mut Ctx, edit: &Edit) -> Result<()> {
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
    }
}

fn rotate(ctx: &mut Ctx, r: Rotation) -> Result<()> {
    ctx.random_access()?;
    let angle = match r {
        Rotation::D90 => Angle::D90,
        Rotation::D180 => Angle::D180,
        Rotation::D270 => Angle::D270,
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
        ctx.image = ctx
            .image
            .thumbnail_image_with_opts(
                w as i32,
                VOption::new()
                    .set("height", h as i32)
                    .set("size", "force")
                    .set("no_rotate", true),
            )
            .map_err(vips)?;
    }
    fit_to_box(ctx, &plan, r)
}

/// Computes sharp's resize geometry for an image of `w`x`h`.
pub fn plan_resize(w: u32, h: u32, r: &Resize, limits: &Limits) -> Result<ResizePlan> {
    let (w, h) = (w.max(1), h.max(1));
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
    Ok(ResizePlan { scaled, boxed })
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

/// After scaling: crop to the box (`cover`) or pad to it (`contain`).
pub fn fit_to_box(ctx: &mut Ctx, plan: &ResizePlan, r: &Resize) -> Result<()> {
    let Some((bw, bh)) = plan.boxed else {
        return Ok(());
    };
    let (w, h) = (ctx.image.get_width() as u32, ctx.image.get_height() as u32);
    match r.fit {
        Fit::Cover if (w, h) != (bw, bh) => {
            ctx.image = match r.position {
                Position::Entropy | Position::Attention => {
                    ctx.random_access()?;
                    let interesting = if r.position == Position::Entropy {
                        "entropy"
                    } else {
                        "attention"
                    };
                    ctx.image
                        .smartcrop_with_opts(
                            bw as i32,
                            bh as i32,
                            VOption::new().set("interesting", interesting),
                        )
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
        Fit::Contain if (w, h) != (bw, bh) => {
            let background = r.background.unwrap_or(Color {
                r: 0,
                g: 0,
                b: 0,
                a: 0,
            });
            let mut image = ctx.image.colourspace(Interpretation::Srgb).map_err(vips)?;
            if !image.hasalpha() && background.a < 255 {
                image = image.bandjoin_const(&[255.0]).map_err(vips)?;
            }
            let mut bg = vec![
                f64::from(background.r),
                f64::from(background.g),
                f64::from(background.b),
            ];
            if image.hasalpha() {
                bg.push(f64::from(background.a));
            }
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
        Position::Centre | Position::Entropy | Position::Attention => (0.5, 0.5),
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
        Position::Centre | Position::Entropy | Position::Attention => CompassDirection::Centre,
    }
}

/// Replaces transparency with `color`.
pub fn flatten(image: &VipsImage, color: Color) -> Result<VipsImage> {
    let bg: Vec<f64> = if image.get_bands() <= 2 {
        // Grayscale with alpha: the colour's luminance.
        vec![
            0.2126 * f64::from(color.r) + 0.7152 * f64::from(color.g) + 0.0722 * f64::from(color.b),
        ]
    } else {
        vec![f64::from(color.r), f64::from(color.g), f64::from(color.b)]
    };
    image
        .flatten_with_opts(VOption::new().set("background", &bg[..]))
        .map_err(vips)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(width: Option<u32>, height: Option<u32>, fit: Fit) -> Resize {
        Resize {
            width,
            height,
            fit,
            position: Position::Centre,
            background: None,
            without_enlargement: false,
        }
    }

    fn plan(w: u32, h: u32, resize: Resize) -> ResizePlan {
        plan_resize(w, h, &resize, &Limits::default()).unwrap()
    }

    #[test]
    fn sharp_fit_geometry() {
        // 1600x1000 source
        assert_eq!(
            plan(1600, 1000, r(Some(300), None, Fit::Cover)).scaled,
            (300, 188)
        );
        assert_eq!(
            plan(1600, 1000, r(None, Some(100), Fit::Cover)).scaled,
            (160, 100)
        );
        let cover = plan(1600, 1000, r(Some(300), Some(300), Fit::Cover));
        assert_eq!(
            cover,
            ResizePlan {
                scaled: (480, 300),
                boxed: Some((300, 300))
            }
        );
        let contain = plan(1600, 1000, r(Some(300), Some(300), Fit::Contain));
        assert_eq!(
            contain,
            ResizePlan {
                scaled: (300, 188),
                boxed: Some((300, 300))
            }
        );
        assert_eq!(
            plan(1600, 1000, r(Some(300), Some(300), Fit::Inside)).scaled,
            (300, 188)
        );
        assert_eq!(
            plan(1600, 1000, r(Some(300), Some(300), Fit::Outside)).scaled,
            (480, 300)
        );
        assert_eq!(
            plan(1600, 1000, r(Some(300), Some(300), Fit::Fill)).scaled,
            (300, 300)
        );
        // odd ratios never lose the constrained side to rounding
        assert_eq!(
            plan(1001, 333, r(Some(299), Some(50), Fit::Cover)).scaled.0,
            299
        );
        assert_eq!(
            plan(333, 1001, r(Some(50), Some(299), Fit::Cover)).scaled.1,
            299
        );
    }

    #[test]
    fn without_enlargement() {
        let mut small = r(Some(400), Some(400), Fit::Cover);
        small.without_enlargement = true;
        assert_eq!(
            plan(200, 100, small),
            ResizePlan {
                scaled: (200, 100),
                boxed: Some((200, 100))
            }
        );
        let mut wide = r(Some(4000), None, Fit::Cover);
        wide.without_enlargement = true;
        assert_eq!(plan(200, 100, wide).scaled, (200, 100));
    }

    #[test]
    fn oversized_results_are_refused() {
        let e = plan_resize(
            10,
            1000,
            &r(Some(4000), Some(10), Fit::Outside),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        assert!(
            plan_resize(
                1,
                4000,
                &r(Some(4000), Some(4000), Fit::Cover),
                &Limits::default()
            )
            .is_err()
        );
    }
}
