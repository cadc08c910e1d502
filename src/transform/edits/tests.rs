//! The resize geometry's unit tests.

use super::*;

fn r(width: Option<u32>, height: Option<u32>, fit: Fit) -> Resize {
    Resize {
        width,
        height,
        fit,
        ..Resize::default()
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
            from: (1600, 1000),
            scaled: (480, 300),
            boxed: Some((300, 300))
        }
    );
    let contain = plan(1600, 1000, r(Some(300), Some(300), Fit::Contain));
    assert_eq!(
        contain,
        ResizePlan {
            from: (1600, 1000),
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
fn adaptive_swaps_the_box_for_the_other_orientation() {
    let mut box_ = r(Some(300), Some(200), Fit::Inside);
    box_.adaptive = true;
    assert_eq!(plan(1000, 1600, box_).scaled, (188, 300));
    assert_eq!(plan(1600, 1000, box_).scaled, (300, 188));
}

#[test]
fn without_enlargement() {
    let mut small = r(Some(400), Some(400), Fit::Cover);
    small.without_enlargement = true;
    assert_eq!(
        plan(200, 100, small),
        ResizePlan {
            from: (200, 100),
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
