use super::*;
use crate::request::{Color, Region, Resize, Rotation, Trim, TrimBackground};

/// Text a hostile client might send where a number is expected.
fn hostile_text(rng: &mut fastrand::Rng) -> String {
    const PIECES: &[&str] = &[
        "0",
        "1",
        "9",
        ".",
        "-",
        "+",
        "e",
        "E",
        "inf",
        "NaN",
        "nan",
        "x",
        " ",
        "0x1",
        "1e308",
        "1e-9",
        "999999999999999999999",
        "٣",
        "é",
        "\u{0}",
        ",",
        "_",
        "%",
    ];
    let len = rng.usize(..6);
    (0..len)
        .map(|_| PIECES[rng.usize(..PIECES.len())])
        .collect()
}

/// Numbers at and around every boundary, and ones that are not numbers.
fn hostile_numbers() -> Vec<f64> {
    let mut v = vec![
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        -0.0,
        1e300,
        u32::MAX as f64 + 1.0,
        u64::MAX as f64,
    ];
    for r in [
        BLUR_SIGMA,
        SHARPEN_SIGMA,
        GAMMA,
        THRESHOLD,
        CLAHE_SIZE,
        CLAHE_SLOPE,
        ENSURE_ALPHA,
        MEDIAN_SIZE,
        MODULATE_FACTOR,
        MODULATE_HUE,
        MODULATE_LIGHTNESS,
        COEFFICIENT,
        KERNEL_SIDE,
        PIXELS,
        QUALITY,
        PERCENT,
    ] {
        for b in [r.min, r.max] {
            v.extend([b, b - 1.0, b + 1.0, b - 1e-9, b + 1e-9, b + 0.5]);
        }
    }
    v
}

#[test]
fn ranges_hold_for_every_input() {
    // a fixed seed, so that failures replay
    let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
    let mut texts: Vec<String> = (0..3000).map(|_| hostile_text(&mut rng)).collect();
    texts.extend(hostile_numbers().iter().map(|n| n.to_string()));
    let check_text = |t: &str| {
        // Every constructor either refuses with a 400 naming the parameter,
        // or gives a value inside its range.
        let named = |e: Error| {
            assert_eq!(e.status(), 400, "{t:?}");
            assert!(e.to_string().starts_with("p="), "{t:?}: {e}");
        };
        match Edit::blur("p", t) {
            Ok(Edit::Blur(s)) => assert!(BLUR_SIGMA.contains(s), "{t:?}"),
            Ok(e) => panic!("{e:?}"),
            Err(e) => named(e),
        }
        match Edit::sharpen("p", t) {
            Ok(Edit::Sharpen(Some(s))) => assert!(SHARPEN_SIGMA.contains(s), "{t:?}"),
            Ok(e) => panic!("{e:?}"),
            Err(e) => named(e),
        }
        match Edit::median("p", t) {
            Ok(Edit::Median(n)) => assert!(n % 2 == 1 && (1..=99).contains(&n), "{t:?}"),
            Ok(e) => panic!("{e:?}"),
            Err(e) => named(e),
        }
        match Edit::threshold("p", t, true) {
            Ok(Edit::Threshold { .. }) => assert!(t.parse::<u8>().is_ok(), "{t:?}"),
            Ok(e) => panic!("{e:?}"),
            Err(e) => named(e),
        }
        match Edit::smart_crop("p", t) {
            Ok(Edit::SmartCrop { padding }) => assert!(padding <= 100_000, "{t:?}"),
            Ok(e) => panic!("{e:?}"),
            Err(e) => named(e),
        }
        match quality("p", t) {
            Ok(q) => assert!((1..=100).contains(&q), "{t:?}"),
            Err(e) => named(e),
        }
        match percent("p", t) {
            Ok(q) => assert!(q <= 100, "{t:?}"),
            Err(e) => named(e),
        }
        match kernel_side("p", t) {
            Ok(n) => assert!(n % 2 == 1 && n <= Kernel::MAX_SIDE, "{t:?}"),
            Err(e) => named(e),
        }
        // Text is whole only when written as digits.
        if t.contains(['.', 'e', 'E', '-']) {
            assert!(quality("p", t).is_err(), "{t:?}");
        }
    };
    for t in &texts {
        check_text(t);
    }
    for n in hostile_numbers() {
        let ok = |r: Result<Edit>| r.is_ok();
        assert_eq!(ok(Edit::blur("p", n)), BLUR_SIGMA.contains(n), "{n}");
        assert_eq!(ok(Edit::sharpen("p", n)), SHARPEN_SIGMA.contains(n), "{n}");
        assert_eq!(
            ok(Edit::ensure_alpha("p", n)),
            ENSURE_ALPHA.contains(n),
            "{n}"
        );
        assert_eq!(ok(Edit::gamma("p", n, "q", 2.0)), GAMMA.contains(n), "{n}");
        let whole = n.is_finite() && n.fract() == 0.0;
        assert_eq!(
            ok(Edit::threshold("p", n, false)),
            whole && THRESHOLD.contains(n),
            "{n}"
        );
        assert_eq!(
            ok(Edit::median("p", n)),
            whole && MEDIAN_SIZE.contains(n) && n % 2.0 == 1.0,
            "{n}"
        );
        assert_eq!(
            kernel_side("p", n).is_ok(),
            whole && KERNEL_SIDE.contains(n) && n % 2.0 == 1.0,
            "{n}"
        );
        assert_eq!(
            ok(Edit::clahe(("w", n), ("h", 8.0), ("s", 3.0))),
            whole && CLAHE_SIZE.contains(n),
            "{n}"
        );
        assert_eq!(
            ok(Edit::modulate(("b", 1.0), ("s", 1.0), ("h", n), ("l", 0.0))),
            MODULATE_HUE.contains(n),
            "{n}"
        );
        assert_eq!(
            ok(Edit::linear(("a", n), ("b", 0.0))),
            COEFFICIENT.contains(n),
            "{n}"
        );
    }
}

#[test]
fn messages_name_the_parameter_and_the_range() {
    let m = |r: Result<Edit>| r.unwrap_err().to_string();
    assert_eq!(
        m(Edit::blur("blur", "0")),
        "blur=\"0\" is out of range: use a number from 0.3 to 1000"
    );
    assert_eq!(
        m(Edit::blur("blur.sigma", 2000.0)),
        "blur.sigma=2000 is out of range: use a number from 0.3 to 1000"
    );
    assert_eq!(m(Edit::median("median", 4.0)), "median=4 must be odd");
    assert!(m(Edit::gamma("gamma[0]", 2.0, "gamma[1]", 4.0)).starts_with("gamma[1]=4 "));
    assert!(
        m(Edit::clahe(
            ("clahe.width", 8.0),
            ("clahe.height", 0.0),
            ("clahe.maxSlope", 3.0)
        ))
        .starts_with("clahe.height=0 is not a whole number from 1 to 1000")
    );
    assert_eq!(
        quality("quality", "0").unwrap_err().to_string(),
        "quality=\"0\" is not a quality: use a whole number from 1 to 100"
    );
    assert_eq!(
        OutputFormat::parse_name("format", "bmp", FormatNames::QUERY)
            .unwrap_err()
            .to_string(),
        "format=\"bmp\" is not an output format: use jpeg, png, webp, avif, gif, tiff, auto or best"
    );
}

#[test]
fn format_names_per_style() {
    use FormatNames as N;
    let p = |v: &str, n: N| OutputFormat::parse_name("format", v, n).ok();
    for n in [N::QUERY, N::SHARP, N::THUMBOR] {
        assert_eq!(p("JPG", n), Some(Some(OutputFormat::Jpeg)));
        assert_eq!(p("tiff", n), Some(Some(OutputFormat::Tiff)));
        for bad in ["", "svg", "heif", "heic", "raw", "jpeg ", "bmp"] {
            assert_eq!(p(bad, n), None, "{bad}");
        }
    }
    assert_eq!(p("auto", N::QUERY), Some(None));
    assert_eq!(p("auto", N::SHARP), None);
    assert_eq!(p("auto", N::THUMBOR), None);
    assert_eq!(p("tif", N::QUERY), Some(Some(OutputFormat::Tiff)));
    assert_eq!(p("tif", N::SHARP), Some(Some(OutputFormat::Tiff)));
    assert_eq!(p("tif", N::THUMBOR), None);
}

#[test]
fn stages_follow_sharps_pipeline() {
    let trim = Edit::Trim(Trim {
        threshold: 10.0,
        background: TrimBackground::TopLeft,
    });
    let extract = Edit::Extract(Region {
        left: 0,
        top: 0,
        width: 1,
        height: 1,
    });
    let resize = Edit::Resize(Resize::default());
    let rotate = Edit::Rotate(Rotation::D90);
    assert!(rotate.stage() < trim.stage());
    assert!(trim.stage() < extract.stage());
    assert!(extract.stage() < resize.stage());
    assert!(resize.stage() < Edit::Grayscale.stage());
    assert_eq!(Stage::after_resize(&extract), Stage::Effects);
    assert_eq!(Stage::after_resize(&rotate), Stage::Orient);

    // Insertion goes after the leading run of earlier-or-equal stages,
    // wherever later edits of an earlier stage stand (thumbor's filters).
    let mut edits = vec![
        trim.clone(),
        extract.clone(),
        Edit::Flop,
        Edit::Grayscale,
        rotate.clone(),
    ];
    Stage::insert(&mut edits, resize.clone());
    assert_eq!(edits[3], resize);
    Stage::insert(&mut edits, Edit::Flip);
    assert_eq!(edits[0], Edit::Flip);
    Stage::insert(&mut edits, Edit::Flatten(Color::WHITE));
    assert_eq!(edits.last(), Some(&Edit::Flatten(Color::WHITE)));
}

/// The insertion rule query's parameters followed before [`Stage`] named it
/// (its `Slot`s), as the oracle for [`Stage::insert`] over generated requests.
#[test]
fn insert_matches_the_former_slots() {
    enum Slot {
        Front,
        AfterGeometry,
        End,
    }
    fn slot_insert(edits: &mut Vec<Edit>, edit: Edit, slot: Slot) {
        let leading = |pred: fn(&Edit) -> bool| edits.iter().take_while(|e| pred(e)).count();
        let at = match slot {
            Slot::Front => leading(|e| matches!(e, Edit::Rotate(_) | Edit::Flip | Edit::Flop)),
            Slot::AfterGeometry => leading(|e| {
                matches!(
                    e,
                    Edit::Rotate(_) | Edit::Flip | Edit::Flop | Edit::Trim(_) | Edit::Extract(_)
                )
            }),
            Slot::End => edits.len(),
        };
        edits.insert(at, edit);
    }
    let pool = vec![
        Edit::Rotate(Rotation::D90),
        Edit::Flip,
        Edit::Flop,
        Edit::Trim(Trim {
            threshold: 0.0,
            background: TrimBackground::TopLeft,
        }),
        Edit::Extract(Region {
            left: 0,
            top: 0,
            width: 1,
            height: 1,
        }),
        Edit::Resize(Resize::default()),
        Edit::Scale(0.5),
        Edit::Grayscale,
        Edit::Blur(1.0),
        Edit::SmartCrop { padding: 0 },
        Edit::Normalize,
    ];
    // What query inserts, and where its Slot put it.
    let inserted = || {
        vec![
            (Edit::Rotate(Rotation::D180), Slot::Front),
            (Edit::Flip, Slot::Front),
            (Edit::Flop, Slot::Front),
            (Edit::Resize(Resize::default()), Slot::AfterGeometry),
            (Edit::Grayscale, Slot::End),
            (Edit::Blur(2.0), Slot::End),
            (Edit::Sharpen(None), Slot::End),
            (Edit::Flatten(Color::WHITE), Slot::End),
        ]
    };
    let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
    for _ in 0..5000 {
        let len = rng.usize(..8);
        let base: Vec<Edit> = (0..len)
            .map(|_| pool[rng.usize(..pool.len())].clone())
            .collect();
        for (edit, slot) in inserted() {
            // query removes the edits of the inserted kind first
            let kind = std::mem::discriminant(&edit);
            let mut edits: Vec<Edit> = base
                .iter()
                .filter(|e| std::mem::discriminant(*e) != kind)
                .cloned()
                .collect();
            let mut expected = edits.clone();
            slot_insert(&mut expected, edit.clone(), slot);
            Stage::insert(&mut edits, edit);
            assert_eq!(edits, expected, "{base:?}");
        }
    }
}
