//! End-to-end tests of the URL styles and signed URLs, through the real server:
//! SIH default (base64 JSON) requests, thumbor paths, the custom rewrite, query
//! parameters on top of each, SIH v7 signatures with expiry, key rotation and
//! tenant prefixes, thumbor path signatures, and `image-handler sign`.

mod common;

use std::time::{Duration, SystemTime};

use base64::Engine;
use common::*;
use image_handler::Config;
use image_handler::request::rewrite::Rewrite;
use image_handler::signature::{self, Keyring, Secret, SigningKey};

fn b64(json: &str) -> String {
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

async fn server(name: &str, config: Config) -> (Server, TempDir) {
    let dir = TempDir::new(name);
    standard_fixtures(&dir);
    dir.write("photos/dune.jpg", &sample("dune.jpg"));
    dir.write("users/alice/dune.jpg", &sample("dune.jpg"));
    dir.write("users/bob/dune.jpg", &sample("dune.jpg"));
    (Server::fs(config, &dir).await, dir)
}

#[tokio::test]
async fn default_requests() {
    let config = Config {
        source_buckets: vec!["main".into(), "other".into()],
        ..Config::default()
    };
    let (s, _dir) = server("default", config).await;

    let path = b64(
        r#"{"key":"photos/dune.jpg","edits":{"resize":{"width":300,"height":200,"fit":"cover"},"grayscale":true},"outputFormat":"webp"}"#,
    );
    let img = s.get(&path).await.image("image/webp");
    assert_size(&img, 300, 200);
    let [r, g, b] = rgb(&img, 150, 100);
    assert!(
        (r - g).abs() < 3.0 && (g - b).abs() < 3.0,
        "grayscale {r} {g} {b}"
    );

    // numeric strings are rounded, toFormat wins over outputFormat
    let path = b64(
        r#"{"bucket":"other","key":"quad.png","edits":{"resize":{"width":"99.1","height":"49.9","fit":"fill"},"toFormat":"png"},"outputFormat":"jpeg"}"#,
    );
    assert_size(&s.get(&path).await.image("image/png"), 99, 50);

    // outputFormat is SIH's fallback: automatic WebP (Accept) wins over it, toFormat does not
    let path = b64(r#"{"key":"quad.png","outputFormat":"jpeg"}"#);
    let plain = s.get_with(&path, &[("accept", "image/png")]).await;
    assert!(is_jpeg(&plain.body) && plain.varies_on("accept"));
    let webp = s.get_with(&path, &[("accept", "image/webp")]).await;
    assert!(is_webp(&webp.body));
    let forced = s
        .get_with(
            &b64(r#"{"key":"quad.png","edits":{"toFormat":"jpeg"}}"#),
            &[("accept", "image/webp")],
        )
        .await;
    assert!(is_jpeg(&forced.body) && !forced.varies_on("accept"));

    // per-format options select the format and its quality, as sharp does
    let low = s
        .get(&b64(
            r#"{"key":"photos/dune.jpg","edits":{"jpeg":{"quality":10}}}"#,
        ))
        .await;
    let high = s
        .get(&b64(
            r#"{"key":"photos/dune.jpg","edits":{"jpeg":{"quality":95}}}"#,
        ))
        .await;
    assert!(
        is_jpeg(&low.body) && low.body.len() * 3 < high.body.len(),
        "{} vs {}",
        low.body.len(),
        high.body.len()
    );

    // flop moves the red quadrant from the top left to the top right
    let img = s
        .get(&b64(r#"{"key":"quad.png","edits":{"flop":true}}"#))
        .await
        .image("image/png");
    assert_rgb(&img, 190, 10, RED, 1.0);
    assert_rgb(&img, 10, 10, BLUE, 1.0);

    // extract after resize uses resized coordinates; out of bounds is a 400
    let img = s
        .get(&b64(
            r#"{"key":"quad.png","edits":{"extract":{"left":0,"top":0,"width":50,"height":25}}}"#,
        ))
        .await;
    let img = img.image("image/png");
    assert_size(&img, 50, 25);
    assert_rgb(&img, 25, 12, RED, 1.0);
    let out = s
        .get(&b64(
            r#"{"key":"quad.png","edits":{"crop":{"left":150,"top":0,"width":100,"height":10}}}"#,
        ))
        .await;
    assert_eq!(
        (out.status, error_code(&out).as_str()),
        (400, "InvalidParameter"),
        "{}",
        out.text()
    );

    // extend with a colour
    let img = s
        .get(&b64(r##"{"key":"quad.png","edits":{"extend":{"top":10,"bottom":0,"left":0,"right":0,"background":"#00ff00"}}}"##))
        .await
        .image("image/png");
    assert_size(&img, 200, 110);
    assert_rgb(&img, 5, 5, GREEN, 1.0);

    // SIH errors: size <= 0, bucket outside the list, custom headers filtered
    let bad = s
        .get(&b64(r#"{"key":"quad.png","edits":{"resize":{"width":0}}}"#))
        .await;
    assert_eq!(
        (bad.status, error_code(&bad).as_str()),
        (400, "InvalidResizeException")
    );
    let denied = s.get(&b64(r#"{"bucket":"secret","key":"quad.png"}"#)).await;
    assert_eq!(
        (denied.status, error_code(&denied).as_str()),
        (403, "ImageBucket::CannotAccessBucket")
    );
    let missing = s.get(&b64(r#"{"key":"nope.jpg"}"#)).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["message"],
        "The image nope.jpg does not exist or the request may not be base64 encoded properly."
    );
    let with_headers = s
        .get(&b64(r#"{"key":"quad.png","headers":{"Cache-Control":"max-age=60,public","x-amz-meta":"x","Content-Type":"text/html","X-Custom":"yes"}}"#))
        .await;
    assert_eq!(
        with_headers.header("cache-control"),
        Some("max-age=60,public")
    );
    assert_eq!(with_headers.header("x-custom"), Some("yes"));
    assert_eq!(with_headers.header("x-amz-meta"), None);
    assert_eq!(with_headers.header("content-type"), Some("image/png"));

    // query parameters apply on top of a default request
    let img = s
        .get(&format!(
            "{}?format=jpeg&width=100",
            b64(r#"{"key":"quad.png","edits":{"resize":{"width":50}}}"#)
        ))
        .await;
    assert_size(&img.image("image/jpeg"), 100, 50);
}

#[tokio::test]
async fn thumbor_paths() {
    let config = Config {
        source_buckets: vec!["main".into(), "other".into()],
        ..Config::default()
    };
    let (s, _dir) = server("thumbor", config).await;

    assert_size(
        &s.get("/fit-in/400x300/photos/dune.jpg")
            .await
            .image("image/jpeg"),
        400,
        250,
    );
    assert_size(
        &s.get("/unsafe/300x300/photos/dune.jpg")
            .await
            .image("image/jpeg"),
        300,
        300,
    );
    assert_size(
        &s.get("/0x100/photos/dune.jpg").await.image("image/jpeg"),
        160,
        100,
    );
    // crop in source coordinates, then resize
    let img = s.get("/0x0:100x50/50x25/quad.png").await.image("image/png");
    assert_size(&img, 50, 25);
    assert_rgb(&img, 25, 12, RED, 1.0);
    // -W flops, -H flips: red moves to the bottom right
    let img = s.get("/-200x-100/quad.png").await.image("image/png");
    assert_rgb(&img, 190, 90, RED, 1.0);
    assert_rgb(&img, 10, 10, BLUE, 1.0);
    // valign picks what a cover crop keeps
    assert_rgb(
        &s.get("/100x50/top/halves.png").await.image("image/png"),
        50,
        25,
        RED,
        1.0,
    );
    assert_rgb(
        &s.get("/100x50/bottom/halves.png").await.image("image/png"),
        50,
        25,
        BLUE,
        1.0,
    );
    // filters, in either order; the key keeps its name
    for path in [
        "/filters:format(webp):quality(50)/photos/dune.jpg",
        "/filters:quality(50):format(webp)/photos/dune.jpg",
        "/filters:format(webp)/filters:quality(50)/photos/dune.jpg",
    ] {
        assert_size(&s.get(path).await.image("image/webp"), 1600, 1000);
    }
    let img = s
        .get("/filters:rotate(90):grayscale()/filters:blur(2)/quad.png")
        .await
        .image("image/png");
    assert_size(&img, 100, 200);
    // s3: bucket segment must be allowed
    assert_eq!(s.get("/100x0/s3:other/quad.png").await.status, 200);
    let denied = s.get("/100x0/s3:nope/quad.png").await;
    assert_eq!(
        (denied.status, error_code(&denied).as_str()),
        (403, "ImageBucket::CannotAccessBucket")
    );
    // a watermark from an allowed bucket
    assert_size(
        &s.get("/filters:watermark(main,quad.png,0,0,50)/quad.png")
            .await
            .image("image/png"),
        200,
        100,
    );
    // not yet supported edits are refused, not silently ignored
    let unsupported = s.get("/fit-in/100x100/filters:fill(blur)/quad.png").await;
    assert_eq!(
        (unsupported.status, error_code(&unsupported).as_str()),
        (400, "UnsupportedEdit")
    );
    // the query style still works, and overrides the path
    assert_size(
        &s.get("/fit-in/400x300/photos/dune.jpg?width=100")
            .await
            .image("image/jpeg"),
        100,
        63,
    );
    // unknown extensions are SIH's RequestTypeError
    let bad = s.get("/photos/dune.bmp").await;
    assert_eq!(
        (bad.status, error_code(&bad).as_str()),
        (400, "RequestTypeError")
    );
}

#[tokio::test]
async fn custom_rewrite() {
    let config = Config {
        rewrite: Some(Rewrite::new("/(filters-)/gm", "filters:").unwrap()),
        ..Config::default()
    };
    let (s, _dir) = server("rewrite", config).await;
    let img = s
        .get("/filters-rotate(90)/filters-grayscale()/quad.png")
        .await
        .image("image/png");
    assert_size(&img, 100, 200);
}

fn signing_config() -> Config {
    let keys = Keyring::new(vec![
        SigningKey::new("new", "new-secret", None),
        SigningKey::new("old", "old-secret", None),
        SigningKey::new("alice", "alice-secret", Some("users/alice/")),
    ])
    .unwrap();
    Config {
        signing: Some(keys),
        thumbor_key: Some(Secret("thumbor-key".into())),
        ..Config::default()
    }
}

#[tokio::test]
async fn signed_urls() {
    let (s, _dir) = server("signed", signing_config()).await;
    let keys = signing_config().signing.unwrap();
    let sign = |url: &str, key: &str, expires: Option<SystemTime>| {
        signature::sign_url(&keys, url, Some(key), expires).unwrap()
    };

    // both keys of a rotation work
    for key in ["new", "old"] {
        let url = sign("/photos/dune.jpg?width=100", key, None);
        assert_size(&s.get(&url).await.image("image/jpeg"), 100, 63);
    }
    // every style is covered: a signed default request and a signed thumbor path
    let default = sign(
        &b64(r#"{"key":"quad.png","edits":{"resize":{"width":20}}}"#),
        "new",
        None,
    );
    assert_size(&s.get(&default).await.image("image/png"), 20, 10);
    assert_size(
        &s.get(&sign("/fit-in/50x50/quad.png", "new", None))
            .await
            .image("image/png"),
        50,
        25,
    );

    // missing, tampered and foreign signatures
    let missing = s.get("/photos/dune.jpg?width=100").await;
    assert_eq!(
        (missing.status, error_code(&missing).as_str()),
        (400, "AuthorizationQueryParametersError")
    );
    let url = sign("/photos/dune.jpg?width=100", "new", None);
    for tampered in [
        url.replace("width=100", "width=101"),
        url.replace("dune", "dunf"),
        format!("{url}&grayscale=1"),
    ] {
        let r = s.get(&tampered).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (403, "SignatureDoesNotMatch"),
            "{tampered}"
        );
    }
    let foreign = signature::sign_url(
        &Keyring::new(vec![SigningKey::new("x", "x", None)]).unwrap(),
        "/quad.png",
        None,
        None,
    )
    .unwrap();
    assert_eq!(s.get(&foreign).await.status, 403);

    // expiry: capped cache lifetime while valid, refused once past, malformed refused
    let soon = SystemTime::now() + Duration::from_secs(600);
    let ok = s.get(&sign("/quad.png", "new", Some(soon))).await;
    assert_eq!(ok.status, 200);
    // the configured directives are kept, only the lifetime shrinks
    let max_age: u64 = ok
        .header("cache-control")
        .unwrap()
        .strip_prefix("public, max-age=")
        .and_then(|rest| rest.strip_suffix(", immutable"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (590..=600).contains(&max_age),
        "{:?}",
        ok.header("cache-control")
    );
    let past = SystemTime::now() - Duration::from_secs(1);
    let expired = s.get(&sign("/quad.png", "new", Some(past))).await;
    assert_eq!(
        (expired.status, error_code(&expired).as_str()),
        (400, "ImageRequestExpired")
    );
    let malformed = sign("/quad.png?expires=2030-01-01", "new", None);
    let r = s.get(&malformed).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "ImageRequestExpiryFormat")
    );

    // a 304 needs a valid signature too
    let etag = s.get(&url).await.header("etag").unwrap().to_string();
    assert_eq!(
        s.get_with(&url, &[("if-none-match", &etag)]).await.status,
        304
    );
    let unsigned = s
        .get_with("/photos/dune.jpg?width=100", &[("if-none-match", &etag)])
        .await;
    assert_eq!(unsigned.status, 400);

    // the health check needs no signature
    assert_eq!(s.get("/health").await.status, 200);
}

#[tokio::test]
async fn tenant_keys_stay_in_their_prefix() {
    let (s, _dir) = server("tenant", signing_config()).await;
    let keys = signing_config().signing.unwrap();
    let sign = |url: &str| signature::sign_url(&keys, url, Some("alice"), None).unwrap();
    assert_eq!(
        s.get(&sign("/users/alice/dune.jpg?width=50")).await.status,
        200
    );
    for outside in [
        "/users/bob/dune.jpg?width=50".to_string(),
        "/photos/dune.jpg".to_string(),
        "/fit-in/10x10/users/bob/dune.jpg".to_string(),
        b64(r#"{"key":"users/bob/dune.jpg"}"#),
    ] {
        let r = s.get(&sign(&outside)).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (403, "KeyOutsidePrefix"),
            "{outside}"
        );
    }
}

#[tokio::test]
async fn thumbor_signatures() {
    let (s, _dir) = server("thumbor-sig", signing_config()).await;
    let signed = "fit-in/60x60/quad.png";
    let hmac = signature::sign_thumbor("thumbor-key", signed);
    assert_size(
        &s.get(&format!("/{hmac}/{signed}")).await.image("image/png"),
        60,
        30,
    );
    // query parameters are not covered by thumbor's signature, so they are not applied
    assert_size(
        &s.get(&format!("/{hmac}/{signed}?width=200"))
            .await
            .image("image/png"),
        60,
        30,
    );
    let tampered = s.get(&format!("/{hmac}/fit-in/61x61/quad.png")).await;
    assert_eq!(tampered.status, 403);
}

#[test]
fn sign_command_prints_a_verifiable_url() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_image-handler"))
        .args([
            "sign",
            "https://d.example.net/photos/a.jpg?width=300",
            "--expires",
            "1h",
            "--key-id",
            "b",
        ])
        .env(
            "SIGNATURE_KEYS",
            r#"[{"id":"a","secret":"one"},{"id":"b","secret":"two"}]"#,
        )
        .env_remove("SIGNATURE_SECRET")
        .output()
        .expect("run image-handler sign");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap();
    let url = url.trim();
    assert!(
        url.starts_with("https://d.example.net/photos/a.jpg?width=300&expires="),
        "{url}"
    );
    let (path, query) = url
        .trim_start_matches("https://d.example.net")
        .split_once('?')
        .unwrap();
    let keys = Keyring::from_json(r#"[{"id":"b","secret":"two"}]"#).unwrap();
    let grant = keys
        .verify(
            &image_handler::request::target::Target::parse(path, Some(query)).unwrap(),
            SystemTime::now(),
        )
        .unwrap();
    assert!(grant.expires.unwrap() > SystemTime::now() + Duration::from_secs(3500));

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_image-handler"))
        .args(["sign", "/a.jpg", "--key-id", "zzz"])
        .env("SIGNATURE_KEYS", r#"[{"id":"a","secret":"one"}]"#)
        .output()
        .expect("run image-handler sign");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("zzz"));
}

#[tokio::test]
async fn an_added_preset_cannot_ride_on_a_signature() {
    let keys = Keyring::new(vec![SigningKey::new("k", "secret", None)]).unwrap();
    let presets = r#"{"small":"width=20","huge":"width=4000"}"#;
    let mut config =
        Config::from_lookup(|k| (k == "PRESETS").then(|| presets.to_string())).unwrap();
    config.signing = Some(keys.clone());
    let (s, _dir) = server("preset-sig", config).await;
    let url = signature::sign_url(&keys, "/quad.png?preset=small", None, None).unwrap();
    assert_size(&s.get(&url).await.image("image/png"), 20, 10);
    // an extra, unsigned preset placed before the signed one changes nothing
    let forged = url.replace("?preset=small", "?preset=huge&preset=small");
    assert_size(&s.get(&forged).await.image("image/png"), 20, 10);
}

/// SIH answers a box above the output limit with the original's size when
/// enlargement is off (issue 15): the limit applies to the size produced.
#[tokio::test]
async fn without_enlargement_the_limit_applies_to_the_size_produced() {
    let (s, dir) = server("no-enlargement", Config::default()).await;
    dir.write("wide.jpg", &jpeg(&canvas(2560, 1600, BLUE, &[]), 80));
    for url in [
        b64(r#"{"key":"wide.jpg","edits":{"resize":{"width":5000,"withoutEnlargement":true}}}"#),
        b64(
            r#"{"key":"wide.jpg","edits":{"resize":{"width":5000,"height":5000,"fit":"inside","withoutEnlargement":true}}}"#,
        ),
        "/fit-in/5000x5000/filters:no_upscale()/wide.jpg".to_string(),
    ] {
        let r = s.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        assert_size(&r.image("image/jpeg"), 2560, 1600);
    }
    // with enlargement the box itself is bounded, as before
    for url in [
        b64(r#"{"key":"wide.jpg","edits":{"resize":{"width":5000}}}"#),
        "/fit-in/5000x5000/wide.jpg".to_string(),
        "/wide.jpg?width=5000".to_string(),
    ] {
        let r = s.get(&url).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (400, "InvalidParameter"),
            "{url}"
        );
    }
    // an original above the limit is not passed through at full size: the
    // size produced is still checked
    dir.write("huge.png", &png(&canvas(5000, 100, BLUE, &[])));
    let r = s
        .get(&b64(
            r#"{"key":"huge.png","edits":{"resize":{"width":6000,"withoutEnlargement":true}}}"#,
        ))
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "InvalidParameter")
    );
    // and a contain box without enlargement cannot pad past the limit
    let r = s
        .get(&b64(
            r#"{"key":"wide.jpg","edits":{"resize":{"width":5000,"height":5000,"fit":"contain","withoutEnlargement":true}}}"#,
        ))
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "InvalidParameter")
    );
}

/// `PRESETS_ONLY` refuses a base64 request that sets response headers, as it
/// refuses any other choice that is not a preset (issue 15).
#[tokio::test]
async fn presets_only_refuses_request_headers() {
    let config = Config {
        presets: image_handler::request::Presets::from_json(
            r#"{"thumb":"width=50"}"#,
            &Default::default(),
        )
        .map(|mut p| {
            p.only = true;
            p
        })
        .unwrap(),
        ..Config::default()
    };
    let (s, _dir) = server("presets-only-headers", config).await;
    assert_eq!(s.get("/quad.png?preset=thumb").await.status, 200);
    let r = s
        .get(&format!(
            "{}?preset=thumb",
            b64(r#"{"key":"quad.png","headers":{"x-custom":"1"}}"#)
        ))
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "InvalidParameter")
    );
}
