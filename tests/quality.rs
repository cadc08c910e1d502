mod common;

// `quality=auto` and `format=best` end to end (issue 18, items 1 and 2),
// through the real server and real libvips. Every score here is computed by
// the test itself: the output is decoded and compared by SSIMULACRA2 with
// the same request encoded losslessly (`format=png`), which is exactly the
// image the encoder was given.

use common::*;
use image_handler::Config;
use image_handler::request::OutputFormat;
use image_handler::transform::quality::{self, AutoQuality};

const PHOTOS: [&str; 3] = ["dune.jpg", "flower.jpg", "ladybird.jpg"];

async fn server(name: &str, auto: AutoQuality) -> (Server, TempDir) {
    let dir = TempDir::new(name);
    for photo in PHOTOS {
        dir.write(photo, &sample(photo));
    }
    dir.write("alpha.png", &sample("alpha.png"));
    // A synthetic image: four flat colours, the kind a screenshot or chart has.
    dir.write("flat.png", &png(&quadrant()));
    let config = Config {
        auto_quality: auto,
        ..Config::default()
    };
    (Server::fs(config, &dir).await, dir)
}

/// The SSIMULACRA2 score of `output` against the lossless encode of the
/// same request.
async fn score(s: &Server, query: &str, output: &[u8]) -> f64 {
    let reference = s.get(&format!("{query}&format=png")).await;
    let reference = score::rgb8(&reference.image("image/png"));
    score::ssimulacra2(&reference, &score::decoded(output))
}

/// `X-Image-Quality: quality=<q>, score=<s>` read back.
fn reported(reply: &Reply) -> (String, f64) {
    let header = reply
        .header("x-image-quality")
        .unwrap_or_else(|| panic!("no X-Image-Quality; status {}", reply.status));
    let mut quality = String::new();
    let mut score = f64::NAN;
    for part in header.split(", ") {
        match part.split_once('=') {
            Some(("quality", q)) => quality = q.to_string(),
            Some(("score", v)) => score = v.parse().expect("score"),
            _ => panic!("unexpected part {part:?} in {header:?}"),
        }
    }
    (quality, score)
}

#[tokio::test]
async fn auto_quality_meets_the_target_in_every_lossy_format() {
    let (s, _dir) = server("q-target", AutoQuality::default()).await;
    let target = AutoQuality::default().target(false);
    for photo in PHOTOS {
        for (format, mime) in [
            ("jpeg", "image/jpeg"),
            ("webp", "image/webp"),
            ("avif", "image/avif"),
        ] {
            let query = format!("/{photo}?width=480&format={format}");
            let reply = s.get(&format!("{query}&quality=auto")).await;
            reply.image(mime);
            let (quality, reported_score) = reported(&reply);
            let quality: u8 = quality.parse().expect("a number");
            let measured = score(&s, &query, &reply.body).await;
            assert!(
                (measured - reported_score).abs() < 0.1,
                "{photo} {format}: reported {reported_score}, measured {measured}"
            );
            assert!(
                measured >= target,
                "{photo} {format} q{quality}: {measured} < {target}"
            );
            // The search looked below: a fixed encode one step under the
            // chosen quality (where the search's tolerance allows) does not
            // reach much more than the target.
            let lower = s
                .get(&format!(
                    "{query}&quality={}",
                    quality.saturating_sub(3).max(1)
                ))
                .await;
            let lower_score = score(&s, &query, &lower.body).await;
            assert!(
                lower_score < target + 3.0,
                "{photo} {format}: q{quality} chosen, yet q{} scores {lower_score}",
                quality - 3
            );
            assert!(reply.varies_on("Save-Data"));
        }
    }
}

#[tokio::test]
async fn a_higher_target_never_costs_fewer_bytes() {
    let low = AutoQuality {
        target_tenths: 650,
        ..AutoQuality::default()
    };
    let high = AutoQuality {
        target_tenths: 800,
        ..AutoQuality::default()
    };
    let (s_low, _d1) = server("q-low", low).await;
    let (s_high, _d2) = server("q-high", high).await;
    for photo in PHOTOS {
        let path = format!("/{photo}?width=400&format=jpeg&quality=auto");
        let a = s_low.get(&path).await;
        let b = s_high.get(&path).await;
        let (qa, sa) = reported(&a);
        let (qb, sb) = reported(&b);
        assert!(sa >= 65.0 && sb >= 80.0, "{photo}: {sa} {sb}");
        assert!(
            qa.parse::<u8>().unwrap() < qb.parse::<u8>().unwrap(),
            "{photo}: {qa} vs {qb}"
        );
        assert!(a.body.len() < b.body.len(), "{photo}");
        // Different targets are different variants.
        assert_ne!(a.header("etag"), b.header("etag"));
    }
}

#[tokio::test]
async fn save_data_lowers_the_target_and_is_varied_on_only_when_used() {
    let (s, _dir) = server("q-save", AutoQuality::default()).await;
    let path = "/flower.jpg?width=400&format=jpeg&quality=auto";
    let normal = s.get(path).await;
    let saving = s.get_with(path, &[("save-data", "on")]).await;
    assert!(normal.varies_on("Save-Data") && saving.varies_on("Save-Data"));
    let (qn, sn) = reported(&normal);
    let (qs, ss) = reported(&saving);
    assert!(sn >= 70.0 && ss >= 60.0, "{sn} {ss}");
    assert!(qs.parse::<u8>().unwrap() < qn.parse::<u8>().unwrap());
    assert!(saving.body.len() < normal.body.len());
    assert_ne!(normal.header("etag"), saving.header("etag"));
    // Anything but `on` is not a request to save data.
    let other = s.get_with(path, &[("save-data", "off")]).await;
    assert_eq!(other.header("etag"), normal.header("etag"));
    // A fixed quality ignores Save-Data and does not vary on it.
    for path in [
        "/flower.jpg?width=400&format=jpeg&quality=70",
        "/flower.jpg?width=400&format=jpeg",
    ] {
        let fixed = s.get_with(path, &[("save-data", "on")]).await;
        assert_eq!(fixed.status, 200);
        assert!(!fixed.varies_on("Save-Data"), "{path}");
        assert!(fixed.header("x-image-quality").is_none(), "{path}");
        let plain = s.get(path).await;
        assert_eq!(fixed.header("etag"), plain.header("etag"));
    }
}

#[tokio::test]
async fn auto_quality_on_by_default_leaves_explicit_qualities_alone() {
    let on = AutoQuality {
        default_on: true,
        ..AutoQuality::default()
    };
    let (s, _dir) = server("q-default", on).await;
    let auto = s.get("/dune.jpg?width=320&format=webp").await;
    assert!(auto.header("x-image-quality").is_some());
    assert!(auto.varies_on("Save-Data"));
    let fixed = s.get("/dune.jpg?width=320&format=webp&quality=70").await;
    assert!(fixed.header("x-image-quality").is_none());
    // A PNG stays lossless: only a request's own `quality=auto` makes a
    // palette of it.
    let lossless = s.get("/dune.jpg?width=320&format=png").await;
    assert_eq!(lossless.status, 200);
    assert!(lossless.header("x-image-quality").is_none());
    assert_eq!(png_colour_type(&lossless.body), Some(2));
    let asked = s.get("/dune.jpg?width=320&format=png&quality=auto").await;
    assert_eq!(png_colour_type(&asked.body), Some(3));
}

#[tokio::test]
async fn a_spent_budget_keeps_the_first_probe() {
    let spent = AutoQuality {
        budget: std::time::Duration::ZERO,
        ..AutoQuality::default()
    };
    let (s, _dir) = server("q-budget", spent).await;
    let reply = s
        .get("/ladybird.jpg?width=300&format=jpeg&quality=auto")
        .await;
    // One encode, at the search's first quality, and its score.
    let (quality, _) = reported(&reply);
    let first = quality::start(OutputFormat::Jpeg, AutoQuality::default().target(false));
    assert_eq!(quality, first.unwrap().to_string());
}

#[tokio::test]
async fn best_keeps_the_smallest_accepted_format() {
    let (s, _dir) = server("q-best", AutoQuality::default()).await;
    let all = [("accept", "image/avif,image/webp,*/*")];
    for photo in PHOTOS {
        let base = format!("/{photo}?width=480");
        let best = s.get_with(&format!("{base}&format=best"), &all).await;
        assert_eq!(best.status, 200);
        assert!(best.varies_on("Accept"));
        let mut sizes = Vec::new();
        for format in ["jpeg", "webp", "avif"] {
            let one = s.get(&format!("{base}&format={format}")).await;
            sizes.push((one.body.len(), format!("image/{format}")));
        }
        let smallest = sizes.iter().min().unwrap();
        assert_eq!(best.body.len(), smallest.0, "{photo}: {sizes:?}");
        assert_eq!(best.header("content-type"), Some(smallest.1.as_str()));
        // `max_bytes` still caps the winner (whose auto choice then no longer stands).
        let capped = s
            .get_with(
                &format!(
                    "/unsafe/480x0/filters:format(best):quality(auto):max_bytes(2500)/{photo}"
                ),
                &all,
            )
            .await;
        assert_eq!(capped.status, 200);
        assert!(capped.body.len() <= 2500, "{photo}: {}", capped.body.len());
        assert!(capped.header("x-image-quality").is_none());
        // A client that accepts neither modern format gets the fallback.
        let plain = s
            .get_with(&format!("{base}&format=best"), &[("accept", "*/*")])
            .await;
        plain.image("image/jpeg");
        assert_ne!(plain.header("etag"), best.header("etag"));
    }
}

#[tokio::test]
async fn best_with_auto_quality_meets_the_target_and_tries_lossless_on_flat_images() {
    let (s, _dir) = server("q-best-auto", AutoQuality::default()).await;
    let all = [("accept", "image/avif,image/webp,*/*")];
    let query = "/dune.jpg?width=400";
    let reply = s
        .get_with(&format!("{query}&format=best&quality=auto"), &all)
        .await;
    assert_eq!(reply.status, 200);
    let measured = score(&s, query, &reply.body).await;
    assert!(measured >= 70.0, "{measured}");
    // Four flat colours: a lossless coding wins, and says so.
    let flat = s
        .get_with("/flat.png?width=200&format=best&quality=auto", &all)
        .await;
    assert_eq!(flat.status, 200);
    let (quality, score_) = reported(&flat);
    assert_eq!(quality, "lossless", "{:?}", flat.header("content-type"));
    assert!(score_ > 99.0);
    let lossy = s.get("/flat.png?width=200&format=webp").await;
    assert!(flat.body.len() < lossy.body.len());
    // Transparency survives in whichever format wins.
    let alpha = s.get_with("/alpha.png?width=200&format=best", &all).await;
    let image = decode(&alpha.body);
    assert!(image.hasalpha(), "{:?}", alpha.header("content-type"));
}

#[tokio::test]
async fn every_style_asks_for_auto_and_best_and_bad_words_are_refused() {
    let (s, _dir) = server("q-styles", AutoQuality::default()).await;
    let all = [("accept", "image/webp,*/*")];
    for path in [
        "/flower.jpg?width=200&quality=AUTO&format=webp",
        "/unsafe/200x0/filters:quality(auto):format(webp)/flower.jpg",
    ] {
        let reply = s.get(path).await;
        reply.image("image/webp");
        assert!(reply.header("x-image-quality").is_some(), "{path}");
    }
    for path in [
        "/flower.jpg?width=200&format=Best",
        "/unsafe/200x0/filters:format(best)/flower.jpg",
    ] {
        let reply = s.get_with(path, &all).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert!(reply.varies_on("Accept"), "{path}");
    }
    for (path, param) in [
        ("/flower.jpg?quality=auto2", "quality"),
        ("/flower.jpg?quality=autö", "quality"),
        ("/flower.jpg?format=bestx", "format"),
        ("/flower.jpg?format=b%C3%A9st", "format"),
    ] {
        let reply = s.get(path).await;
        let message = assert_error(&reply, 400, "InvalidParameter");
        assert!(message.contains(param), "{path}: {message}");
    }
}

/// A PNG's colour type (IHDR): 3 is indexed (a palette).
fn png_colour_type(png: &[u8]) -> Option<u8> {
    (png.get(12..16) == Some(b"IHDR")).then(|| png.get(25).copied())?
}

#[tokio::test]
async fn auto_quality_makes_a_palette_png_that_meets_the_target_else_keeps_it_lossless() {
    let (s, _dir) = server("q-png", AutoQuality::default()).await;
    let target = AutoQuality::default().target(false);
    // Whether a palette must win: a photo's and four flat colours' do (the
    // best palette scores 76 and 100); with transparency either may.
    for (query, palette_required) in [
        ("/dune.jpg?width=320", true),
        ("/flat.png?width=200", true),
        ("/alpha.png?width=200", false),
    ] {
        let lossless = s.get(&format!("{query}&format=png")).await;
        lossless.image("image/png");
        assert!(lossless.header("x-image-quality").is_none(), "{query}");
        let reply = s.get(&format!("{query}&format=png&quality=auto")).await;
        reply.image("image/png");
        let (quality, reported_score) = reported(&reply);
        let measured = score(&s, query, &reply.body).await;
        assert!(measured >= target, "{query}: {measured} < {target}");
        assert!(
            (measured - reported_score).abs() < 0.1,
            "{query}: reported {reported_score}, measured {measured}"
        );
        if quality == "lossless" {
            // No palette reached the target: the PNG a request without a
            // quality gets, byte for byte.
            assert!(!palette_required, "{query}: no palette reached {target}");
            assert_eq!(reply.body, lossless.body, "{query}");
        } else {
            let q: u8 = quality.parse().expect("a number");
            assert!((10..=100).contains(&q), "{query}: {q}");
            assert_eq!(png_colour_type(&reply.body), Some(3), "{query}");
            assert!(
                reply.body.len() * 2 < lossless.body.len(),
                "{query}: palette {} B against lossless {} B",
                reply.body.len(),
                lossless.body.len()
            );
        }
        assert_ne!(reply.header("etag"), lossless.header("etag"), "{query}");
    }
    // A target no palette reaches keeps the PNG lossless, and says so.
    let strict = AutoQuality {
        target_tenths: 990,
        ..AutoQuality::default()
    };
    let (s, _dir) = server("q-png-strict", strict).await;
    let query = "/dune.jpg?width=320&format=png";
    let reply = s.get(&format!("{query}&quality=auto")).await;
    assert_eq!(reported(&reply), ("lossless".to_string(), 100.0));
    assert_eq!(reply.body, s.get(query).await.body);
}
