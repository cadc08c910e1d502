use super::*;

/// Runs the search over a score curve, counting the probes.
fn run(curve: impl Fn(u8) -> f64, target: f64, start: u8) -> (Probe, Vec<Probe>) {
    search(
        (25, 95),
        start,
        target,
        MAX_PROBES,
        || true,
        |q| Ok::<_, ()>(curve(q)),
    )
    .unwrap()
}

/// The lowest quality in 25..=95 whose score reaches `target`.
fn truth(curve: &impl Fn(u8) -> f64, target: f64) -> Option<u8> {
    (25..=95).find(|&q| curve(q) >= target)
}

#[test]
fn finds_the_lowest_passing_quality_on_monotone_curves() {
    // Generated monotone curves: concave, linear and steep, with plateaus
    // (rounded scores), over targets across the range.
    let mut rng = fastrand::Rng::with_seed(18);
    let mut missed = 0;
    for case in 0..2000 {
        let a = rng.f64() * 60.0; // score at quality 25
        let b = a + rng.f64() * (100.0 - a); // score at quality 95
        let power = 0.3 + rng.f64() * 2.0;
        let step = [0.0, 0.5, 2.0][case % 3];
        let curve = move |q: u8| {
            let t = (f64::from(q) - 25.0) / 70.0;
            let s = a + (b - a) * t.powf(power);
            if step > 0.0 {
                (s / step).floor() * step
            } else {
                s
            }
        };
        let target = rng.f64() * 100.0;
        let start = rng.u8(25..=95);
        let (best, probes) = run(curve, target, start);
        assert!(probes.len() <= MAX_PROBES, "case {case}: {probes:?}");
        // No quality is probed twice.
        let mut qs: Vec<u8> = probes.iter().map(|p| p.quality).collect();
        qs.dedup();
        qs.sort_unstable();
        qs.dedup();
        assert_eq!(qs.len(), probes.len(), "case {case}: {probes:?}");
        match truth(&curve, target) {
            // Reachable: the result passes and is the lowest passing
            // quality probed; never below the true answer.
            Some(lowest) => {
                if best.score < target {
                    // Only when every probe was spent, and then the best
                    // tried.
                    assert_eq!(probes.len(), MAX_PROBES, "case {case}: {probes:?}");
                    assert_eq!(Some(best.quality), probes.iter().map(|p| p.quality).max());
                    missed += 1;
                    continue;
                }
                assert!(best.quality >= lowest);
                assert!(
                    probes
                        .iter()
                        .all(|p| p.score < target || p.quality >= best.quality)
                );
            }
            // Out of reach: the highest quality tried.
            None => assert_eq!(
                Some(best.quality),
                probes.iter().map(|p| p.quality).max(),
                "case {case}"
            ),
        }
    }
    // Bounded, yet it rarely runs out on curves this varied.
    assert!(missed <= 2, "{missed} of 2000 missed a reachable target");
}

#[test]
fn converges_close_to_the_answer_on_smooth_curves() {
    // A photo-like curve: the search should land within a few steps of the
    // true answer in its five probes.
    let curve = |q: u8| 30.0 + 60.0 * (1.0 - (-(f64::from(q) - 10.0) / 35.0).exp());
    let mut worst = 0;
    for target in [50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0] {
        let lowest = truth(&curve, target).unwrap();
        let (best, _) = run(curve, target, 80);
        assert!(best.score >= target);
        // Close to the answer: in quality, or in score (where the curve is
        // shallow, a step moves the score little).
        if best.score > target + CLOSE {
            worst = worst.max(best.quality - lowest);
        }
    }
    assert!(
        worst <= TOLERANCE,
        "up to {worst} qualities above the answer"
    );
}

#[test]
fn a_pass_close_to_the_target_ends_the_search() {
    // A start that lands just above the target needs no second encode;
    // one far above it does.
    let curve = |q: u8| f64::from(q) * 0.6 + 20.0;
    let (best, probes) = run(curve, 67.0, 79);
    assert_eq!((best.quality, probes.len()), (79, 1), "{probes:?}");
    let (best, probes) = run(curve, 60.0, 79);
    assert!(probes.len() > 1 && best.quality < 79, "{probes:?}");
    assert!(
        best.score >= 60.0 && best.score <= 60.0 + CLOSE,
        "{probes:?}"
    );
}

#[test]
fn the_budget_stops_after_the_first_probe() {
    let mut calls = 0;
    let (best, probes) = search(
        (25, 95),
        80,
        99.0,
        MAX_PROBES,
        || false,
        |q| {
            calls += 1;
            Ok::<_, ()>(f64::from(q))
        },
    )
    .unwrap();
    assert_eq!((calls, probes.len(), best.quality), (1, 1, 80));
}

#[test]
fn an_error_stops_the_search() {
    let r = search(
        (25, 95),
        80,
        70.0,
        MAX_PROBES,
        || true,
        |_| Err::<f64, _>("x"),
    );
    assert_eq!(r.unwrap_err(), "x");
}

#[test]
fn save_data_lowers_the_target_by_its_step() {
    let s = AutoQuality::default();
    assert_eq!(s.target(false), 70.0);
    assert_eq!(s.target(true), 60.0);
    let low = AutoQuality {
        target_tenths: 50,
        ..s
    };
    assert_eq!(low.target(true), 0.0);
}

#[test]
fn scores_parse_in_tenths() {
    assert_eq!(AutoQuality::parse_score("72.5"), Some(725));
    assert_eq!(AutoQuality::parse_score(" 80 "), Some(800));
    for bad in ["", "x", "-1", "100.1", "NaN", "inf", "８０"] {
        assert_eq!(AutoQuality::parse_score(bad), None, "{bad}");
    }
}

#[test]
fn candidates_follow_accept_alpha_animation_and_content() {
    let all = Accepted::formats(true, true);
    let formats = |c: Vec<Candidate>| -> Vec<(OutputFormat, bool)> {
        c.into_iter().map(|c| (c.format, c.lossless)).collect()
    };
    use OutputFormat::*;
    assert_eq!(
        formats(candidates(Jpeg, all, false, false)),
        [(Avif, false), (Webp, false), (Jpeg, false)]
    );
    assert_eq!(
        formats(candidates(Webp, all, false, false)),
        [(Avif, false), (Webp, false)]
    );
    assert_eq!(
        formats(candidates(Png, Accepted::default(), false, true)),
        [(Png, false), (Png, true)]
    );
    assert_eq!(
        formats(candidates(Gif, all, true, true)),
        [(Webp, false), (Gif, false), (Webp, true)]
    );
}

#[test]
fn applies_when_asked_or_by_default_never_losslessly() {
    let off = AutoQuality::default();
    let on = AutoQuality {
        default_on: true,
        ..off
    };
    let auto = Output {
        auto_quality: true,
        ..Output::default()
    };
    assert!(applies(&auto, &off) && applies(&auto, &on));
    assert!(!applies(&Output::default(), &off) && applies(&Output::default(), &on));
    for output in [
        Output {
            quality: Some(60),
            ..Output::default()
        },
        Output {
            max_bytes: Some(10_000),
            ..Output::default()
        },
    ] {
        assert!(!applies(&output, &on), "{output:?}");
    }
    for output in [
        Output {
            lossless: true,
            ..auto
        },
        Output {
            near_lossless: true,
            ..auto
        },
    ] {
        assert!(!applies(&output, &on), "{output:?}");
    }
}

#[test]
fn a_png_search_starts_at_the_best_palette() {
    // When the best palette misses the target, no lower quality reaches
    // it: one encode, then the lossless PNG.
    for target in [10.0, 70.0, 99.0] {
        assert_eq!(start(OutputFormat::Png, target), Some(100));
    }
    assert_eq!(start(OutputFormat::Gif, 70.0), None);
}
