use super::*;

#[test]
fn colours() {
    assert_eq!(Color::parse("b", "fff").unwrap(), Color::WHITE);
    assert_eq!(
        Color::parse("b", "#FF000080").unwrap(),
        Color {
            r: 255,
            g: 0,
            b: 0,
            a: 128
        }
    );
    assert_eq!(
        Color::parse("b", "0f08").unwrap(),
        Color {
            r: 0,
            g: 255,
            b: 0,
            a: 136
        }
    );
    assert_eq!(
        Color::parse("b", "Navy").unwrap(),
        Color {
            r: 0,
            g: 0,
            b: 128,
            a: 255
        }
    );
    for bad in ["", "ff", "fffff", "ggg", "#12345", "rebeccapurplex", "ääää"] {
        let err = Color::parse("background", bad).unwrap_err();
        assert!(err.to_string().contains("background="), "{bad}: {err}");
    }
}

#[test]
fn overlay_offsets_as_sih() {
    // SIH's calcOverlaySizeOption vectors (overlay.spec.ts)
    assert_eq!(Offset::parse("x", "50p").unwrap().resolve(100, 10), 50);
    assert_eq!(Offset::parse("x", "-50p").unwrap().resolve(100, 50), 0);
    assert_eq!(Offset::parse("x", "-60").unwrap().resolve(100, 50), -10);
    assert_eq!(Offset::parse("x", "-50").unwrap().resolve(100, 50), 0);
    assert_eq!(Offset::parse("x", "center").unwrap().resolve(100, 50), 25);
    for bad in ["", "abc", "101p", "-101p", "1e9", "5px"] {
        assert!(
            Offset::parse("overlay_x", bad)
                .unwrap_err()
                .to_string()
                .contains("overlay_x="),
            "{bad}"
        );
    }
}

#[test]
fn rotations() {
    let r = |d: f64| Rotation::from_degrees("rotate", d).unwrap();
    assert_eq!(r(90.0), Some(Rotation::D90));
    assert_eq!(r(-90.0), Some(Rotation::D270));
    assert_eq!(r(540.0), Some(Rotation::D180));
    assert_eq!(r(360.0), None);
    assert_eq!(r(-720.0), None);
    assert_eq!(r(359.999), None);
    assert_eq!(r(45.0), Some(Rotation::Other(4_500)));
    assert_eq!(r(-15.5), Some(Rotation::Other(34_450)));
    assert_eq!(r(75.004), Some(Rotation::Other(7_500)));
    assert_eq!(r(9e15), r(9e15 % 360.0));
    assert!(Rotation::from_degrees("rotate", f64::NAN).is_err());
    assert!(Rotation::from_degrees("rotate", f64::INFINITY).is_err());
    // the turned canvas
    assert_eq!(Rotation::D90.turned_size(200, 100), (100, 200));
    assert_eq!(Rotation::D180.turned_size(200, 100), (200, 100));
    assert_eq!(r(45.0).unwrap().turned_size(100, 100), (142, 142));
    assert_eq!(r(30.0).unwrap().turned_size(200, 100), (224, 187));
    assert_eq!(r(0.01).unwrap().turned_size(1, 1), (2, 2));
    for h in [1u16, 4_500, 7_500, 35_999] {
        let d = Rotation::Other(h).degrees();
        assert_eq!(r(d), Some(Rotation::Other(h)), "{d}");
    }
}

#[test]
fn positions_and_fits() {
    assert_eq!(
        Position::parse("p", "right top").unwrap(),
        Position::NorthEast
    );
    assert_eq!(
        Position::parse("p", "ATTENTION").unwrap(),
        Position::Attention
    );
    assert!(
        Position::parse("position", "up")
            .unwrap_err()
            .to_string()
            .contains("position=")
    );
    assert_eq!(Fit::parse("fit", "Inside").unwrap(), Fit::Inside);
    assert!(
        Fit::parse("fit", "banana")
            .unwrap_err()
            .to_string()
            .contains("banana")
    );
    assert_eq!(
        OutputFormat::parse("format", "jpg").unwrap(),
        Some(OutputFormat::Jpeg)
    );
    assert_eq!(OutputFormat::parse("format", "auto").unwrap(), None);
    assert!(OutputFormat::parse("format", "bmp").is_err());
}

#[test]
fn offsets_at_the_integer_limits() {
    // `i64::MIN.abs()` overflowed: a panic in debug builds, and an accepted
    // offset of -2^63 pixels in release builds.
    for bad in [
        "-9223372036854775808",
        "9223372036854775807",
        "-9223372036854775809",
        "100001",
        "-100001",
    ] {
        assert!(Offset::parse("overlay_x", bad).is_err(), "{bad}");
    }
    assert_eq!(
        Offset::parse("x", "-100000").unwrap(),
        Offset::Pixels(-100_000)
    );
    assert_eq!(
        Offset::parse("x", "100000").unwrap(),
        Offset::Pixels(100_000)
    );
}
