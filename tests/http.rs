//! End-to-end tests: the real server on an ephemeral loopback port, real HTTP
//! requests, and assertions on the decoded output.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use image_handler::Config;
use image_handler::config::AutoFormat;
use image_handler::origin::EmbeddedOrigin;
use rs_vips::enums::{BandFormat, Interpretation};
use rs_vips::voption::{Setter, VOption};

const JPEG: &str = "image/jpeg";
const PNG: &str = "image/png";
const WEBP: &str = "image/webp";
const AVIF: &str = "image/avif";

async fn embedded(config: Config) -> Server {
    Server::start(config, Arc::new(EmbeddedOrigin)).await
}

/// A server over a fresh directory holding the standard fixtures.
async fn fixtures(name: &str, config: Config) -> (Server, TempDir) {
    let dir = TempDir::new(name);
    standard_fixtures(&dir);
    let server = Server::fs(config, &dir).await;
    (server, dir)
}

/// Width and height of a shipped sample, read with libvips.
fn sample_size(name: &str) -> (i32, i32) {
    let image = decode(&sample(name));
    (image.get_width(), image.get_height())
}

// ------------------------------------------------------------ 1. resize + format

#[tokio::test]
async fn width_and_format_webp() {
    let server = embedded(Config::default()).await;
    let (sw, sh) = sample_size("dune.jpg");
    let reply = server.get("/dune.jpg?width=300&format=webp").await;
    assert!(is_webp(&reply.body), "RIFF/WEBP magic");
    let image = reply.image(WEBP);
    let expected_height = (300.0 * f64::from(sh) / f64::from(sw)).round() as i32;
    assert_eq!((sw, sh), (1600, 1000));
    assert_size(&image, 300, expected_height);
    assert_eq!(expected_height, 188);
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert!(
        reply
            .header("server-timing")
            .is_some_and(|t| t.contains("transform;dur=")),
        "{:?}",
        reply.header("server-timing")
    );
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str())
    );
}

// ------------------------------------------------------------ 2. negotiation

#[tokio::test]
async fn accept_header_negotiates_format() {
    let server = embedded(Config::default()).await;
    let url = "/dune.jpg?width=300";

    let avif = server
        .get_with(url, &[("accept", "image/avif,image/webp")])
        .await;
    assert!(is_avif(&avif.body), "ftypavif magic");
    assert_size(&avif.image(AVIF), 300, 188);
    assert!(
        avif.varies_on("Accept"),
        "Vary: {}",
        avif.header_all("vary")
    );

    let webp = server.get_with(url, &[("accept", "image/webp")]).await;
    assert!(is_webp(&webp.body));
    assert_size(&webp.image(WEBP), 300, 188);
    assert!(webp.varies_on("Accept"));

    // AVIF refused with q=0: WebP.
    let refused = server
        .get_with(url, &[("accept", "image/avif;q=0, image/webp")])
        .await;
    assert_eq!(refused.header("content-type"), Some(WEBP));

    // reqwest sends `Accept: */*`, which names no modern format.
    let any = server.get(url).await;
    assert!(is_jpeg(&any.body));
    assert_size(&any.image(JPEG), 300, 188);
    assert!(any.varies_on("Accept"));

    // No Accept header at all.
    let none = server.raw_get(url, &[]).await;
    assert!(is_jpeg(&none.body));
    assert_size(&none.image(JPEG), 300, 188);
    assert!(none.varies_on("Accept"));

    // An explicit format does not depend on Accept.
    let png = server
        .get_with(
            "/dune.jpg?width=300&format=png",
            &[("accept", "image/avif,image/webp")],
        )
        .await;
    assert!(is_png(&png.body));
    assert_size(&png.image(PNG), 300, 188);
    assert!(!png.varies_on("Accept"), "Vary: {}", png.header_all("vary"));
    assert_eq!(png.header("vary"), None);
}

/// An error that came after the format was negotiated from `Accept` may
/// depend on it (an output the negotiated encoder cannot produce, or that
/// does not fit the response cap), so every error from then on varies on
/// `Accept` like the image would; errors found before, and requests with an
/// explicit format, do not.
#[tokio::test]
async fn errors_after_accept_negotiation_vary_on_accept() {
    let (server, dir) = fixtures("vary-errors", Config::default()).await;
    let whole = png(&quadrant());
    dir.write("broken.png", &whole[..whole.len() / 2]);
    for accept in ["image/avif,image/webp", "image/webp", "*/*"] {
        for (url, status, code) in [
            ("/broken.png?width=50", 400, "InvalidImage"),
            ("/nope.png", 404, "NoSuchKey"),
        ] {
            let reply = server.get_with(url, &[("accept", accept)]).await;
            assert_error(&reply, status, code);
            assert!(
                reply.varies_on("Accept"),
                "{url} {accept}: Vary: {}",
                reply.header_all("vary")
            );
        }
    }
    for (url, status, code) in [
        ("/broken.png?width=50&format=png", 400, "InvalidImage"),
        ("/quad.png?width=abc", 400, "InvalidParameter"),
        ("/nope.png?format=jpeg", 404, "NoSuchKey"),
    ] {
        let reply = server.get_with(url, &[("accept", "image/webp")]).await;
        assert_error(&reply, status, code);
        assert!(
            !reply.varies_on("Accept"),
            "{url}: Vary: {}",
            reply.header_all("vary")
        );
    }
}

#[tokio::test]
async fn auto_format_off_keeps_source_format() {
    let config = Config {
        auto_format: AutoFormat {
            avif: false,
            webp: false,
        },
        ..Config::default()
    };
    let server = embedded(config).await;
    let reply = server
        .get_with(
            "/dune.jpg?width=300",
            &[("accept", "image/avif,image/webp")],
        )
        .await;
    assert!(is_jpeg(&reply.body));
    assert_size(&reply.image(JPEG), 300, 188);
    assert_eq!(reply.header("vary"), None);
}

#[tokio::test]
async fn auto_format_webp_only() {
    let config = Config {
        auto_format: AutoFormat {
            avif: false,
            webp: true,
        },
        ..Config::default()
    };
    let server = embedded(config).await;
    let reply = server
        .get_with(
            "/dune.jpg?width=300",
            &[("accept", "image/avif,image/webp")],
        )
        .await;
    assert!(is_webp(&reply.body));
    assert_size(&reply.image(WEBP), 300, 188);
    assert!(reply.varies_on("Accept"));
}

// ------------------------------------------------------------ 3. caching

#[tokio::test]
async fn etag_and_conditional_requests() {
    let dir = TempDir::new("etag");
    standard_fixtures(&dir);
    let mtime = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(dir.join("quad.jpg"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let server = Server::fs(Config::default(), &dir).await;
    let url = "/quad.jpg?width=100";
    let webp_accept = [("accept", "image/webp")];

    let first = server.get_with(url, &webp_accept).await;
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("ETag").to_string();
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "ETag {etag:?} is quoted"
    );
    assert!(!etag.starts_with("W/"));
    assert_eq!(
        first.header("last-modified"),
        Some("Sun, 13 Sep 2020 12:26:40 GMT")
    );
    assert_eq!(
        httpdate::parse_http_date(first.header("last-modified").unwrap()).unwrap(),
        mtime
    );
    assert_eq!(
        first.header("cache-control"),
        Some(Config::default().cache_control.as_str())
    );

    // The same request again: same ETag.
    let again = server.get_with(url, &webp_accept).await;
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    // A different Accept of the same class: same ETag.
    let same_class = server
        .get_with(url, &[("accept", "image/webp,*/*;q=0.8")])
        .await;
    assert_eq!(same_class.header("etag"), Some(etag.as_str()));

    // Conditional: 304, empty body, same ETag and caching headers.
    let not_modified = server
        .get_with(url, &[("accept", "image/webp"), ("if-none-match", &etag)])
        .await;
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    assert!(not_modified.varies_on("Accept"));
    assert_eq!(
        not_modified.header("last-modified"),
        first.header("last-modified")
    );
    let listed = format!("\"nope\", {etag}");
    let in_list = server
        .get_with(url, &[("accept", "image/webp"), ("if-none-match", &listed)])
        .await;
    assert_eq!(in_list.status, 304);
    let star = server
        .get_with(url, &[("accept", "image/webp"), ("if-none-match", "*")])
        .await;
    assert_eq!(star.status, 304);

    // Another ETag: 200 with the image.
    let other = server
        .get_with(
            url,
            &[("accept", "image/webp"), ("if-none-match", "\"other\"")],
        )
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("etag"), Some(etag.as_str()));
    assert_size(&other.image(WEBP), 100, 50);

    // Another Accept class is another variant: another ETag, and the first
    // ETag does not validate it.
    let avif = server.get_with(url, &[("accept", "image/avif")]).await;
    let avif_etag = avif.header("etag").expect("ETag").to_string();
    assert_ne!(avif_etag, etag);
    let plain = server.raw_get(url, &[]).await;
    let plain_etag = plain.header("etag").expect("ETag").to_string();
    assert_ne!(plain_etag, etag);
    assert_ne!(plain_etag, avif_etag);
    let mismatch = server
        .get_with(url, &[("accept", "image/avif"), ("if-none-match", &etag)])
        .await;
    assert_eq!(mismatch.status, 200);
    assert_eq!(mismatch.header("content-type"), Some(AVIF));

    // Other parameters are another variant too.
    let wider = server.get_with("/quad.jpg?width=120", &webp_accept).await;
    assert_ne!(wider.header("etag"), Some(etag.as_str()));

    // A changed original changes the ETag.
    std::fs::File::options()
        .write(true)
        .open(dir.join("quad.jpg"))
        .unwrap()
        .set_modified(mtime + Duration::from_secs(60))
        .unwrap();
    let changed = server
        .get_with(url, &[("accept", "image/webp"), ("if-none-match", &etag)])
        .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
}

/// Every setting that changes the output bytes changes the ETag (else a
/// revalidation after a configuration change would answer 304 for bytes
/// that now differ); settings that do not change the bytes leave it alone.
#[tokio::test]
async fn every_output_setting_changes_the_etag_and_no_other_does() {
    let etag = |pairs: &'static [(&'static str, &'static str)]| async move {
        let config = Config::from_lookup(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .expect("config");
        let server = embedded(config).await;
        let reply = server
            .get_with(
                "/flower.jpg?width=40",
                &[("accept", "image/avif,image/webp")],
            )
            .await;
        assert_eq!(reply.status, 200, "{pairs:?}: {}", reply.text());
        reply.header("etag").expect("ETag").to_string()
    };
    let base = etag(&[]).await;
    assert_eq!(etag(&[]).await, base, "the ETag is stable");
    for changed in [
        &[("WEBP_EFFORT", "6")][..],
        &[("AVIF_EFFORT", "3")],
        &[("GIF_EFFORT", "7")],
        &[("FAST_SHRINK_ON_LOAD", "Yes")],
        &[("MAX_RESPONSE_BYTES", "5000000")],
        &[("MAX_OUTPUT_WIDTH", "4000")],
        &[("MAX_OUTPUT_HEIGHT", "4000")],
        &[("MAX_INPUT_PIXELS", "40000000")],
        &[("MAX_FRAMES", "100")],
        &[("AUTO_FORMAT", "webp")],
    ] {
        assert_ne!(etag(changed).await, base, "{changed:?} changes the output");
    }
    for unrelated in [
        &[
            ("CORS_ENABLED", "Yes"),
            ("CORS_ORIGIN", "https://a.example"),
        ][..],
        &[("CACHE_CONTROL", "public, max-age=60")],
        &[("ERROR_MAX_AGE", "5")],
        &[("LOG_LEVEL", "debug")],
        &[("METRICS", "emf")],
        &[("TRANSFORM_CONCURRENCY", "1"), ("VIPS_CONCURRENCY", "1")],
        &[("TRANSFORM_QUEUE_SIZE", "3")],
        &[("REQUEST_TIMEOUT", "20")],
        &[("MAX_EDITS", "5")],
        &[("MAX_SOURCE_BYTES", "40000000")],
    ] {
        assert_eq!(
            etag(unrelated).await,
            base,
            "{unrelated:?} does not change the output"
        );
    }
}

#[tokio::test]
async fn embedded_origin_has_etag_without_last_modified() {
    let server = embedded(Config::default()).await;
    let reply = server.get("/flower.jpg?width=50&format=png").await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("etag").is_some_and(|e| e.starts_with('"')));
    assert_eq!(reply.header("last-modified"), None);
}

// ------------------------------------------------------------ 4. HEAD

#[tokio::test]
async fn head_matches_get() {
    let server = embedded(Config::default()).await;
    for url in [
        "/dune.jpg?width=200&format=webp",
        "/alpha.png?width=100",
        "/missing.jpg",
        "/dune.jpg?width=abc",
    ] {
        let get = server.get(url).await;
        let head = server.request(reqwest::Method::HEAD, url, &[]).await;
        assert_eq!(head.status, get.status, "{url}");
        assert!(!get.body.is_empty(), "{url}");
        assert!(head.body.is_empty(), "{url}: HEAD has no body");
        assert_eq!(
            head.header("content-type"),
            get.header("content-type"),
            "{url}"
        );
        assert_eq!(
            head.header("content-length"),
            Some(get.body.len().to_string().as_str()),
            "{url}: Content-Length of HEAD is the GET body's length"
        );
        assert_eq!(head.header("etag"), get.header("etag"), "{url}");
    }
}

// ------------------------------------------------------------ 5. bad parameters

#[tokio::test]
async fn bad_parameters_are_400_json_naming_the_parameter() {
    let config = Config {
        error_max_age: 42,
        ..Config::default()
    };
    let server = embedded(config).await;
    for (query, param) in [
        ("width=-1", "width"),
        ("width=abc", "width"),
        ("width=1.5", "width"),
        ("fit=banana", "fit"),
        ("quality=0", "quality"),
        ("quality=101", "quality"),
        ("format=bmp", "format"),
        ("width=5000", "width"),
        ("height=4097", "height"),
        ("width=3000&dpr=2", "width"),
        ("rotate=4000", "rotate"),
        ("position=up", "position"),
        ("flip=maybe", "flip"),
        ("blur=0", "blur"),
        ("background=zzz", "background"),
        ("dpr=9", "dpr"),
    ] {
        let reply = server.get(&format!("/dune.jpg?{query}")).await;
        let message = assert_error(&reply, 400, "InvalidParameter");
        assert!(
            message.contains(&format!("{param}=")),
            "{query}: message {message:?} names {param}"
        );
        assert_eq!(
            reply.header("cache-control"),
            Some("public, max-age=42"),
            "{query}: 4xx are cached briefly"
        );
        assert_eq!(reply.header("etag"), None, "{query}");
    }
}

#[tokio::test]
async fn error_max_age_default_is_short() {
    let server = embedded(Config::default()).await;
    let reply = server.get("/dune.jpg?width=abc").await;
    assert_error(&reply, 400, "InvalidParameter");
    let cache = reply.header("cache-control").expect("Cache-Control");
    let max_age: u32 = cache
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .expect("max-age")
        .parse()
        .unwrap();
    assert_eq!(max_age, 60);
    assert!(!cache.contains("immutable"));
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let server = embedded(Config::default()).await;
    let reply = server.get("/dune.jpg?foo=bar&width=100&Width=7").await;
    assert!(is_jpeg(&reply.body));
    assert_size(&reply.image(JPEG), 100, 63);
    // Repeated parameters: the last one wins.
    let reply = server.get("/dune.jpg?width=100&width=80&format=png").await;
    assert_size(&reply.image(PNG), 80, 50);
    // Empty and zero mean "not set".
    let reply = server.get("/flower.jpg?width=0&height=&format=").await;
    assert_size(&reply.image(JPEG), 1600, 1000);
}

// ------------------------------------------------------------ 6. keys

#[tokio::test]
async fn missing_key_is_404_json() {
    let (server, _dir) = fixtures("missing", Config::default()).await;
    let reply = server.get("/nope.jpg?width=100").await;
    let message = assert_error(&reply, 404, "NoSuchKey");
    assert!(message.contains("nope.jpg"), "{message}");
    assert_eq!(reply.header("cache-control"), Some("public, max-age=60"));
    let reply = server.get("/dir/nope.jpg").await;
    assert_error(&reply, 404, "NoSuchKey");
    let embedded = embedded(Config::default()).await;
    assert_error(&embedded.get("/nope.jpg").await, 404, "NoSuchKey");
    // No key at all.
    assert_error(&embedded.get("/?width=10").await, 400, "MissingKey");
}

#[tokio::test]
async fn traversal_never_leaves_the_root() {
    let outer = TempDir::new("traversal");
    // A real image outside the served root that must never be served.
    outer.write("secret.jpg", &jpeg(&canvas(20, 20, GREEN, &[]), 90));
    outer.write("root/a/inside.png", &png(&quadrant()));
    let root = outer.join("root");
    std::os::unix::fs::symlink(outer.join("secret.jpg"), root.join("link.jpg")).unwrap();
    let origin = image_handler::origin::FsOrigin::new(&root, 1 << 20).unwrap();
    let server = Server::start(Config::default(), Arc::new(origin)).await;

    // The root works.
    assert_size(&server.get("/a/inside.png").await.image(PNG), 200, 100);

    for target in [
        "/../secret.jpg",
        "/%2e%2e/secret.jpg",
        "/%2E%2E/secret.jpg",
        "/a/../../secret.jpg",
        "/a/%2E%2E/%2E%2E/secret.jpg",
        "/a/%2e%2e%2f%2e%2e%2fsecret.jpg",
        "/..%2fsecret.jpg",
        "/%2Fsecret.jpg",
        "/./../secret.jpg",
        "/link.jpg",
    ] {
        // Exactly as written, and as a URL library normalises it.
        for reply in [server.raw_get(target, &[]).await, server.get(target).await] {
            assert!(
                reply.status == 400 || reply.status == 404,
                "{target}: status {} body {}",
                reply.status,
                reply.text()
            );
            assert_eq!(reply.header("content-type"), Some("application/json"));
            let code = reply.json()["code"].as_str().unwrap().to_string();
            assert!(
                ["InvalidKey", "NoSuchKey"].contains(&code.as_str()),
                "{target}: {code}"
            );
        }
    }
    // Unnormalised `..` segments are refused before the filesystem is touched.
    assert_error(
        &server.raw_get("/../secret.jpg", &[]).await,
        400,
        "InvalidKey",
    );
    assert_error(
        &server.raw_get("/a/%2E%2E/%2E%2E/secret.jpg", &[]).await,
        400,
        "InvalidKey",
    );
}

#[tokio::test]
async fn percent_encoded_unicode_key() {
    let dir = TempDir::new("unicode");
    dir.write("dir/café au lait.jpg", &jpeg(&quadrant(), 95));
    dir.write("a+b.png", &png(&halves()));
    let server = Server::fs(Config::default(), &dir).await;
    let reply = server
        .get("/dir/caf%C3%A9%20au%20lait.jpg?width=50&format=png")
        .await;
    let image = reply.image(PNG);
    assert_size(&image, 50, 25);
    assert_rgb(&image, 5, 5, RED, 60.0);
    // Raw UTF-8 in the request target is not valid HTTP, but the encoded form is.
    let reply = server.raw_get("/dir/caf%c3%a9%20au%20lait.jpg", &[]).await;
    assert_size(&reply.image(JPEG), 200, 100);
    // `+` in a path is a plus, not a space.
    assert_size(&server.get("/a+b.png").await.image(PNG), 100, 200);
    // Invalid UTF-8 after decoding has no canonical form: a 400, not a crash.
    assert_error(&server.get("/%FF.jpg").await, 400, "MalformedUrl");
    // A NUL is a bad key.
    assert_error(&server.get("/%00.jpg").await, 400, "InvalidKey");
}

// ------------------------------------------------------------ 7. corrupt input

#[tokio::test]
async fn corrupt_originals_are_400() {
    let dir = TempDir::new("corrupt");
    let mut garbage = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    let mut x: u32 = 12345;
    garbage.extend((0..4000).map(|_| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (x >> 16) as u8
    }));
    dir.write("garbage.jpg", &garbage);
    dir.write("soi-only.jpg", &[0xFF, 0xD8, 0xFF]);
    dir.write("empty.jpg", b"");
    dir.write("text.jpg", b"hello, I am not a picture\n");
    dir.write("fake.png", b"\x89PNG\r\n\x1a\nnot really");
    let server = Server::fs(Config::default(), &dir).await;
    for (key, code) in [
        ("garbage.jpg", "InvalidImage"),
        ("soi-only.jpg", "InvalidImage"),
        ("empty.jpg", "UnsupportedImageFormat"),
        ("text.jpg", "UnsupportedImageFormat"),
        ("fake.png", "InvalidImage"),
    ] {
        for query in ["", "?width=100", "?format=webp&rotate=90"] {
            let url = format!("/{key}{query}");
            let reply = server.get(&url).await;
            assert_error_for(&url, &reply, 400, code);
        }
    }
}

#[tokio::test]
async fn truncated_jpeg_is_invalid_image() {
    let dir = TempDir::new("truncated");
    let photo = sample("dune.jpg");
    dir.write("half.jpg", &photo[..photo.len() / 2]);
    let small = jpeg(&quadrant(), 95);
    dir.write("small-half.jpg", &small[..small.len() / 2]);
    let server = Server::fs(Config::default(), &dir).await;
    for key in ["half.jpg", "small-half.jpg"] {
        for query in [
            "?width=100",
            "",
            "?width=100&format=webp",
            "?format=png",
            "?rotate=90&width=100",
            "?flip=true",
            "?grayscale=true",
            "?width=100&height=100&fit=cover&position=entropy",
        ] {
            let url = format!("/{key}{query}");
            let reply = server.get(&url).await;
            assert_error_for(&url, &reply, 400, "InvalidImage");
        }
    }
}

// ------------------------------------------------------------ 8. pixel semantics

#[tokio::test]
async fn grayscale_has_equal_channels() {
    let (server, _dir) = fixtures("gray", Config::default()).await;
    for (query, mime, tolerance) in [
        ("grayscale=true", PNG, 0.0),
        ("greyscale=1&format=jpeg", JPEG, 2.0),
        ("grayscale=true&format=webp", WEBP, 3.0),
    ] {
        let reply = server.get(&format!("/quad.png?{query}")).await;
        let image = reply.image(mime);
        assert_size(&image, 200, 100);
        let bands = image.get_bands();
        assert!(bands == 1 || bands == 3, "{query}: {bands} bands");
        for (x, y) in [(20, 20), (150, 20), (50, 80)] {
            let p = image.getpoint(x, y).unwrap();
            assert!(
                p.iter().all(|c| (c - p[0]).abs() <= tolerance),
                "{query}: pixel ({x},{y}) = {p:?} is not grey"
            );
        }
        // Red and blue become different greys.
        let red = rgb(&image, 20, 20)[0];
        let blue = rgb(&image, 150, 20)[0];
        assert!(red - blue > 20.0, "{query}: red {red} vs blue {blue}");
    }
}

#[tokio::test]
async fn flip_and_flop_mirror() {
    let (server, _dir) = fixtures("flip", Config::default()).await;
    let flip = server.get("/quad.png?flip=true").await.image(PNG);
    assert_size(&flip, 200, 100);
    assert_rgb(&flip, 10, 90, RED, 0.0);
    assert_rgb(&flip, 10, 10, BLUE, 0.0);
    assert_rgb(&flip, 190, 90, BLUE, 0.0);

    let flop = server.get("/quad.png?flop=true").await.image(PNG);
    assert_size(&flop, 200, 100);
    assert_rgb(&flop, 190, 10, RED, 0.0);
    assert_rgb(&flop, 10, 10, BLUE, 0.0);
    assert_rgb(&flop, 190, 90, BLUE, 0.0);

    let both = server
        .get("/quad.png?flip=true&flop=true&width=100")
        .await
        .image(PNG);
    assert_size(&both, 100, 50);
    assert_rgb(&both, 90, 45, RED, 1.0);
    assert_rgb(&both, 10, 5, BLUE, 1.0);
}

#[tokio::test]
async fn rotate_is_clockwise() {
    let (server, _dir) = fixtures("rotate", Config::default()).await;
    let r90 = server.get("/quad.png?rotate=90").await.image(PNG);
    assert_size(&r90, 100, 200);
    assert_rgb(&r90, 90, 10, RED, 0.0);
    assert_rgb(&r90, 10, 10, BLUE, 0.0);
    assert_rgb(&r90, 90, 190, BLUE, 0.0);

    let r270 = server.get("/quad.png?rotate=-90").await.image(PNG);
    assert_size(&r270, 100, 200);
    assert_rgb(&r270, 10, 190, RED, 0.0);
    assert_rgb(&r270, 90, 10, BLUE, 0.0);

    let r180 = server.get("/quad.png?rotate=180").await.image(PNG);
    assert_size(&r180, 200, 100);
    assert_rgb(&r180, 190, 90, RED, 0.0);

    // With a resize folded into the load, the box applies after rotating.
    let small = server.get("/quad.png?rotate=90&width=50").await.image(PNG);
    assert_size(&small, 50, 100);
    assert_rgb(&small, 45, 5, RED, 1.0);
    assert_rgb(&small, 5, 5, BLUE, 1.0);
}

#[tokio::test]
async fn exif_orientation_is_applied() {
    assert_exif_orientation(Config::default()).await;
}

/// `FAST_SHRINK_ON_LOAD`: the JPEG decoder shrinks (here by 2, 4, 8) and
/// thumbnail does the rest; sizes and orientation are the same as without.
#[tokio::test]
async fn fast_shrink_on_load_keeps_sizes_and_orientation() {
    let fast = Config {
        fast_shrink_on_load: true,
        ..Config::default()
    };
    assert_exif_orientation(fast.clone()).await;
    // It is a different decode of the same picture: not the same pixels,
    // but close to them (the shipped 1200x800 photograph, by 2, 4 and 8).
    let quality = embedded(Config::default()).await;
    let fast = embedded(fast).await;
    for (width, height) in [(600, 400), (300, 200), (150, 100)] {
        let path = format!("/orientation.jpg?width={width}&format=png");
        let (a, b) = (
            quality.get(&path).await.image(PNG),
            fast.get(&path).await.image(PNG),
        );
        assert_size(&b, width, height);
        let diff = a
            .subtract(&b)
            .and_then(|d| d.abs())
            .and_then(|d| d.avg())
            .unwrap();
        assert!(
            diff > 0.0 && diff < 4.0,
            "{path}: mean difference {diff} between the two decodes"
        );
    }
}

async fn assert_exif_orientation(config: Config) {
    let (server, _dir) = fixtures("exif", config.clone()).await;
    let upright = server.get("/exif6.jpg").await.image(JPEG);
    assert_size(&upright, 200, 100);
    assert_rgb(&upright, 20, 20, RED, 40.0);
    assert_rgb(&upright, 150, 20, BLUE, 40.0);
    assert_rgb(&upright, 50, 80, BLUE, 40.0);

    let resized = server.get("/exif6.jpg?width=100").await.image(JPEG);
    assert_size(&resized, 100, 50);
    assert_rgb(&resized, 10, 10, RED, 40.0);
    assert_rgb(&resized, 80, 10, BLUE, 40.0);
    assert_rgb(&resized, 20, 40, BLUE, 40.0);

    let png = server
        .get("/exif6.jpg?height=50&format=png")
        .await
        .image(PNG);
    assert_size(&png, 100, 50);
    assert_rgb(&png, 10, 10, RED, 40.0);

    // An explicit rotation comes on top of the EXIF one.
    let turned = server
        .get("/exif6.jpg?rotate=90&width=50&format=png")
        .await
        .image(PNG);
    assert_size(&turned, 50, 100);
    assert_rgb(&turned, 40, 10, RED, 40.0);
    assert_rgb(&turned, 10, 10, BLUE, 40.0);
    let turned = server
        .get("/exif6.jpg?rotate=90&format=png")
        .await
        .image(PNG);
    assert_size(&turned, 100, 200);
    assert_rgb(&turned, 90, 10, RED, 40.0);

    // Cover crops in the upright frame.
    let cover = server
        .get("/exif6.jpg?width=100&height=100&fit=cover&position=left&format=png")
        .await
        .image(PNG);
    assert_size(&cover, 100, 100);
    assert_rgb(&cover, 10, 10, RED, 40.0);
    assert_rgb(&cover, 10, 90, BLUE, 40.0);

    // The shipped sample: 800x1200 stored, 1200x800 upright.
    let sample = embedded(config).await;
    assert_size(&sample.get("/orientation.jpg").await.image(JPEG), 1200, 800);
    assert_size(
        &sample.get("/orientation.jpg?width=300").await.image(JPEG),
        300,
        200,
    );
}

#[tokio::test]
async fn fit_cover_fill_inside_outside() {
    let (server, _dir) = fixtures("fit", Config::default()).await;
    // 200x100 → cover 150x150: scaled to 300x150, centre crop.
    let cover = server
        .get("/quad.png?width=150&height=150&fit=cover")
        .await
        .image(PNG);
    assert_size(&cover, 150, 150);
    assert_rgb(&cover, 10, 10, RED, 2.0);
    assert_rgb(&cover, 140, 10, BLUE, 2.0);
    assert_rgb(&cover, 10, 140, BLUE, 2.0);
    // cover is the default fit.
    let default = server
        .get("/quad.png?width=150&height=150")
        .await
        .image(PNG);
    assert_size(&default, 150, 150);

    let fill = server
        .get("/quad.png?width=50&height=150&fit=fill")
        .await
        .image(PNG);
    assert_size(&fill, 50, 150);
    assert_rgb(&fill, 10, 30, RED, 2.0);
    assert_rgb(&fill, 40, 30, BLUE, 2.0);
    assert_rgb(&fill, 10, 120, BLUE, 2.0);

    let inside = server
        .get("/quad.png?width=150&height=150&fit=inside")
        .await
        .image(PNG);
    assert_size(&inside, 150, 75);
    assert_rgb(&inside, 10, 10, RED, 2.0);

    let outside = server
        .get("/quad.png?width=150&height=150&fit=outside")
        .await
        .image(PNG);
    assert_size(&outside, 300, 150);

    // Enlarging works when asked.
    let big = server.get("/quad.png?width=400").await.image(PNG);
    assert_size(&big, 400, 200);
}

#[tokio::test]
async fn fit_contain_pads_to_the_box() {
    let (server, _dir) = fixtures("contain", Config::default()).await;
    // 200x100 → 150x75 centred in 150x150: bands of padding above and below.
    let png = server
        .get("/quad.png?width=150&height=150&fit=contain")
        .await
        .image(PNG);
    assert_size(&png, 150, 150);
    assert_eq!(png.get_bands(), 4, "PNG padding needs alpha");
    assert_eq!(alpha(&png, 75, 5), Some(0.0), "top padding is transparent");
    assert_eq!(
        alpha(&png, 75, 145),
        Some(0.0),
        "bottom padding is transparent"
    );
    assert_eq!(alpha(&png, 10, 50), Some(255.0));
    assert_rgb(&png, 10, 50, RED, 2.0);
    assert_rgb(&png, 140, 100, BLUE, 2.0);

    let green = server
        .get("/quad.png?width=150&height=150&fit=contain&background=00ff00")
        .await
        .image(PNG);
    assert_size(&green, 150, 150);
    assert_rgb(&green, 75, 5, GREEN, 0.0);
    assert_rgb(&green, 75, 145, GREEN, 0.0);
    assert!(alpha(&green, 75, 5).is_none_or(|a| a == 255.0));
    assert_rgb(&green, 10, 50, RED, 2.0);

    // JPEG output of an alpha source: transparency becomes white.
    let reply = server
        .get("/rgba.png?width=150&height=150&fit=contain&format=jpeg")
        .await;
    assert!(is_jpeg(&reply.body));
    let jpeg = reply.image(JPEG);
    assert_size(&jpeg, 150, 150);
    assert_eq!(jpeg.get_bands(), 3);
    assert_rgb(&jpeg, 75, 5, WHITE, 8.0);
    assert_rgb(&jpeg, 75, 145, WHITE, 8.0);
    assert_rgb(&jpeg, 10, 50, RED, 40.0);
    // Same for an opaque source.
    let jpeg = server
        .get("/quad.jpg?width=150&height=150&fit=contain")
        .await
        .image(JPEG);
    assert_size(&jpeg, 150, 150);
    assert_rgb(&jpeg, 75, 5, WHITE, 8.0);

    // position places the image inside the box.
    let top = server
        .get("/quad.png?width=150&height=150&fit=contain&position=top&background=00ff00")
        .await
        .image(PNG);
    assert_size(&top, 150, 150);
    assert_rgb(&top, 10, 5, RED, 2.0);
    assert_rgb(&top, 75, 145, GREEN, 0.0);
}

#[tokio::test]
async fn position_chooses_the_cover_crop() {
    let (server, _dir) = fixtures("position", Config::default()).await;
    // halves.png is 100x200, top half red: a 50x50 cover crop is all one colour.
    for (position, colour) in [
        ("top", RED),
        ("north", RED),
        ("bottom", BLUE),
        ("south", BLUE),
    ] {
        let image = server
            .get(&format!(
                "/halves.png?width=50&height=50&fit=cover&position={position}"
            ))
            .await
            .image(PNG);
        assert_size(&image, 50, 50);
        for (x, y) in [(2, 2), (25, 25), (47, 47)] {
            assert_rgb(&image, x, y, colour, 2.0);
        }
    }
    // The default (centre) straddles the edge.
    let centre = server
        .get("/halves.png?width=50&height=50&fit=cover")
        .await
        .image(PNG);
    assert_rgb(&centre, 25, 2, RED, 2.0);
    assert_rgb(&centre, 25, 47, BLUE, 2.0);
}

#[tokio::test]
async fn dpr_multiplies_the_size() {
    let server = embedded(Config::default()).await;
    let image = server
        .get("/dune.jpg?dpr=2&width=100&format=png")
        .await
        .image(PNG);
    assert_size(&image, 200, 125);
    let image = server
        .get("/dune.jpg?dpr=1.5&width=100&height=100&format=png")
        .await
        .image(PNG);
    assert_size(&image, 150, 150);
}

#[tokio::test]
async fn blur_softens_an_edge() {
    let (server, _dir) = fixtures("blur", Config::default()).await;
    let sharp = server.get("/quad.png").await.image(PNG);
    let blurred = server.get("/quad.png?blur=5").await.image(PNG);
    assert_size(&blurred, 200, 100);
    // Right at the red/blue edge.
    assert_rgb(&sharp, 99, 25, RED, 0.0);
    assert_rgb(&sharp, 100, 25, BLUE, 0.0);
    let edge = rgb(&blurred, 99, 25);
    assert!(
        edge[0] < 220.0 && edge[2] > 35.0,
        "blurred edge pixel {edge:?} mixes red and blue"
    );
    // Far from any edge, colours stay.
    assert_rgb(&blurred, 30, 20, RED, 8.0);
}

#[tokio::test]
async fn quality_changes_jpeg_size() {
    let server = embedded(Config::default()).await;
    let low = server
        .get("/dune.jpg?width=400&format=jpeg&quality=10")
        .await;
    let high = server
        .get("/dune.jpg?width=400&format=jpeg&quality=95")
        .await;
    assert_size(&low.image(JPEG), 400, 250);
    assert_size(&high.image(JPEG), 400, 250);
    assert!(
        low.body.len() * 2 < high.body.len(),
        "quality=10 is {} bytes, quality=95 is {} bytes",
        low.body.len(),
        high.body.len()
    );
}

// ------------------------------------------------------------ 9. output formats

/// A magic-bytes check.
type Magic = fn(&[u8]) -> bool;

#[tokio::test]
async fn every_output_format() {
    let (server, _dir) = fixtures("formats", Config::default()).await;
    let checks: [(&str, &str, Magic); 8] = [
        ("jpeg", JPEG, is_jpeg),
        ("jpg", JPEG, is_jpeg),
        ("png", PNG, is_png),
        ("webp", WEBP, is_webp),
        ("avif", AVIF, is_avif),
        ("gif", "image/gif", is_gif),
        ("tiff", "image/tiff", is_tiff),
        ("TIF", "image/tiff", is_tiff),
    ];
    for (format, mime, magic) in checks {
        let reply = server
            .get(&format!("/quad.png?width=100&format={format}"))
            .await;
        assert!(
            magic(&reply.body),
            "{format}: magic {:02x?}",
            &reply.body[..reply.body.len().min(12)]
        );
        let image = reply.image(mime);
        assert_size(&image, 100, 50);
        assert_rgb(&image, 10, 10, RED, 60.0);
        assert_rgb(&image, 80, 40, BLUE, 60.0);
        assert_eq!(reply.header("vary"), None, "{format}");
    }
}

#[tokio::test]
async fn transparency_survives_formats_with_alpha() {
    let server = embedded(Config::default()).await;
    // alpha.png: 600x600, a flower in a feathered circle, transparent corners.
    for (query, mime) in [
        ("width=100", PNG),
        ("width=100&format=webp", WEBP),
        ("width=100&format=avif", AVIF),
        ("width=100&format=tiff", "image/tiff"),
    ] {
        let image = server.get(&format!("/alpha.png?{query}")).await.image(mime);
        assert_size(&image, 100, 100);
        assert_eq!(image.get_bands(), 4, "{query}");
        assert!(alpha(&image, 2, 2).unwrap() < 5.0, "{query}: corner");
        assert!(alpha(&image, 50, 50).unwrap() > 250.0, "{query}: centre");
    }
    // JPEG has no alpha: transparency is flattened onto white.
    let image = server
        .get("/alpha.png?width=100&format=jpeg")
        .await
        .image(JPEG);
    assert_eq!(image.get_bands(), 3);
    assert_rgb(&image, 2, 2, WHITE, 6.0);
    // background= flattens onto that colour instead.
    let image = server
        .get("/alpha.png?width=100&format=jpeg&background=00ff00")
        .await
        .image(JPEG);
    assert_rgb(&image, 2, 2, GREEN, 12.0);
}

#[tokio::test]
async fn metadata_is_stripped() {
    let (server, _dir) = fixtures("strip", Config::default()).await;
    let sample = embedded(Config::default()).await;
    let source = decode(&sample_bytes_with_exif());
    assert_ne!(source.get_typeof("exif-data").unwrap(), 0);
    for (server, url, mime) in [
        (&server, "/exif6.jpg?format=jpeg", JPEG),
        (&server, "/exif6.jpg?width=50", JPEG),
        (&server, "/exif6.jpg?format=webp", WEBP),
        (&server, "/exif6.jpg?format=png", PNG),
        (&sample, "/orientation.jpg?width=100&format=jpeg", JPEG),
    ] {
        let image = server.get(url).await.image(mime);
        assert_eq!(image.get_typeof("exif-data").unwrap(), 0, "{url}: EXIF");
        assert_eq!(image.get_typeof("xmp-data").unwrap(), 0, "{url}: XMP");
        let orientation = image.get_int("orientation").unwrap_or(1);
        assert_eq!(orientation, 1, "{url}: orientation");
    }
}

fn sample_bytes_with_exif() -> Vec<u8> {
    sample("orientation.jpg")
}

#[tokio::test]
async fn colour_is_converted_to_8_bit_srgb() {
    init_vips();
    let dir = TempDir::new("colour");
    // 16-bit PNG.
    let deep = quadrant().colourspace(Interpretation::Rgb16).unwrap();
    assert_eq!(deep.get_format().unwrap(), BandFormat::Ushort);
    dir.write("deep.png", &deep.pngsave_buffer().unwrap());
    // Display P3 pixels with an embedded P3 profile.
    let p3 = quadrant()
        .icc_transform_with_opts("p3", VOption::new().set("input_profile", "srgb"))
        .unwrap()
        .cast(BandFormat::Uchar)
        .unwrap();
    assert_ne!(p3.get_typeof("icc-profile-data").unwrap(), 0);
    let p3_red = p3.getpoint(5, 5).unwrap();
    assert!(p3_red[0] < 245.0 && p3_red[1] > 20.0, "P3 red {p3_red:?}");
    dir.write("p3.jpg", &jpeg(&p3, 95));
    // A single-band grey JPEG.
    let grey = canvas(50, 50, [128.0; 3], &[])
        .colourspace(Interpretation::BW)
        .unwrap();
    dir.write("grey.jpg", &jpeg(&grey, 95));
    // CMYK JPEG (libvips' built-in CMYK profile).
    let cmyk = quadrant().colourspace(Interpretation::Cmyk).unwrap();
    assert_eq!(cmyk.get_bands(), 4);
    dir.write("cmyk.jpg", &jpeg(&cmyk, 95));
    let server = Server::fs(Config::default(), &dir).await;

    for url in ["/deep.png", "/deep.png?width=100"] {
        let image = server.get(url).await.image(PNG);
        assert_eq!(image.get_format().unwrap(), BandFormat::Uchar, "{url}");
        assert_eq!(image.get_bands(), 3, "{url}");
        assert_rgb(&image, 5, 5, RED, 1.0);
        assert_rgb(
            &image,
            image.get_width() - 5,
            image.get_height() - 5,
            BLUE,
            1.0,
        );
    }
    for url in ["/p3.jpg", "/p3.jpg?width=100", "/p3.jpg?format=png"] {
        let reply = server.get(url).await;
        let mime = reply.header("content-type").unwrap().to_string();
        let image = reply.image(&mime);
        assert_eq!(image.get_typeof("icc-profile-data").unwrap(), 0, "{url}");
        assert_rgb(&image, 5, 5, RED, 12.0);
        assert_rgb(
            &image,
            image.get_width() - 5,
            image.get_height() - 5,
            BLUE,
            12.0,
        );
    }
    let image = server.get("/grey.jpg").await.image(JPEG);
    assert_eq!(image.get_bands(), 1);
    assert_rgb(&image, 5, 5, [128.0; 3], 2.0);
    let image = server.get("/grey.jpg?format=webp").await.image(WEBP);
    assert_eq!(image.get_bands(), 3);
    assert_rgb(&image, 5, 5, [128.0; 3], 3.0);
    for url in ["/cmyk.jpg", "/cmyk.jpg?width=100&format=png"] {
        let reply = server.get(url).await;
        let mime = reply.header("content-type").unwrap().to_string();
        let image = reply.image(&mime);
        assert_eq!(image.get_bands(), 3, "{url}: CMYK becomes RGB");
        assert_eq!(image.get_interpretation().unwrap(), Interpretation::Srgb);
        let [r, g, b] = rgb(&image, 5, 5);
        assert!(
            r > 180.0 && g < 80.0 && b < 80.0,
            "{url}: red is {r},{g},{b}"
        );
    }
}

#[tokio::test]
async fn format_is_sniffed_not_taken_from_the_name() {
    let dir = TempDir::new("sniff");
    dir.write("really-a-png.jpg", &png(&quadrant()));
    dir.write("no-extension", &jpeg(&quadrant(), 90));
    let server = Server::fs(Config::default(), &dir).await;
    let reply = server.get("/really-a-png.jpg?width=100").await;
    assert!(is_png(&reply.body));
    assert_size(&reply.image(PNG), 100, 50);
    let reply = server.get("/no-extension?width=100").await;
    assert!(is_jpeg(&reply.body));
    assert_size(&reply.image(JPEG), 100, 50);
}

#[tokio::test]
async fn configured_limits() {
    let dir = TempDir::new("limits");
    standard_fixtures(&dir);
    let config = Config {
        limits: image_handler::request::Limits {
            max_width: 150,
            max_height: 120,
        },
        max_input_pixels: 200 * 100,
        ..Config::default()
    };
    let server = Server::fs(config, &dir).await;
    assert_size(&server.get("/quad.png?width=150").await.image(PNG), 150, 75);
    let message = assert_error(
        &server.get("/quad.png?width=151").await,
        400,
        "InvalidParameter",
    );
    assert!(message.contains("150"), "{message}");
    assert_error(
        &server.get("/quad.png?height=121").await,
        400,
        "InvalidParameter",
    );
    assert_error(
        &server.get("/quad.png?width=100&dpr=2").await,
        400,
        "InvalidParameter",
    );
    // 100x200 = 20000 pixels is at the limit; 400x100 is above it.
    dir.write("wide.png", &png(&canvas(400, 100, BLUE, &[])));
    assert_size(&server.get("/halves.png").await.image(PNG), 100, 200);
    let reply = server.get("/wide.png?width=100").await;
    assert_error(&reply, 413, "TooManyPixels");

    // The origin's byte limit.
    let small = image_handler::origin::FsOrigin::new(&dir.path, 100).unwrap();
    let server = Server::start(Config::default(), Arc::new(small)).await;
    let reply = server.get("/quad.png").await;
    assert_error(&reply, 413, "SourceTooLarge");
}

#[tokio::test]
async fn concurrent_requests() {
    let config = Config {
        transform_concurrency: 1,
        ..Config::default()
    };
    let (server, _dir) = fixtures("concurrent", config).await;
    let server = Arc::new(server);
    let mut tasks = Vec::new();
    for width in [20, 40, 60, 80, 100, 120, 140, 160] {
        let server = Arc::clone(&server);
        tasks.push(tokio::spawn(async move {
            let reply = server
                .get(&format!("/quad.png?width={width}&format=webp"))
                .await;
            (width, reply)
        }));
    }
    for task in tasks {
        let (width, reply) = task.await.unwrap();
        let image = reply.image(WEBP);
        assert_size(&image, width, width / 2);
    }
}

// ------------------------------------------------------------ 10. CORS

#[tokio::test]
async fn cors_headers_when_enabled() {
    let config = Config {
        cors_origin: Some("*".to_string()),
        ..Config::default()
    };
    let server = embedded(config).await;
    let ok = server.get("/flower.jpg?width=50").await;
    let etag = ok.header("etag").unwrap().to_string();
    let replies = [
        ok,
        server.get("/flower.jpg?width=abc").await,
        server.get("/missing.jpg").await,
        server.get("/health").await,
        server
            .get_with("/flower.jpg?width=50", &[("if-none-match", &etag)])
            .await,
        server
            .request(reqwest::Method::POST, "/flower.jpg", &[])
            .await,
    ];
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400, 404, 200, 304, 405]);
    // A page's script may read what automatic quality and the response cap did.
    let exposed = replies[0]
        .header("access-control-expose-headers")
        .unwrap_or("");
    for name in ["ETag", "X-Image-Quality", "X-Image-Reduced"] {
        assert!(exposed.split(", ").any(|n| n == name), "{exposed}");
    }
    for reply in &replies {
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some("*"),
            "status {}",
            reply.status
        );
        assert!(!reply.varies_on("Origin"));
    }

    let config = Config {
        cors_origin: Some("https://app.example".to_string()),
        ..Config::default()
    };
    let server = embedded(config).await;
    let reply = server.get("/flower.jpg?width=50").await;
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(reply.varies_on("Accept"));
    // one fixed origin: the answer does not depend on the request's Origin
    for reply in [
        reply,
        server
            .get_with(
                "/flower.jpg?width=50",
                &[("origin", "https://other.example")],
            )
            .await,
        server.get("/flower.jpg?width=abc").await,
    ] {
        assert!(!reply.varies_on("Origin"), "{}", reply.header_all("vary"));
    }
}

#[tokio::test]
async fn no_cors_headers_by_default() {
    let server = embedded(Config::default()).await;
    for url in [
        "/flower.jpg?width=50",
        "/flower.jpg?width=abc",
        "/missing.jpg",
    ] {
        let reply = server.get(url).await;
        assert!(reply.status == 200 || reply.status >= 400);
        assert_eq!(reply.header("access-control-allow-origin"), None, "{url}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    }
}

// ------------------------------------------------------------ 11. health, methods

#[tokio::test]
async fn health_and_methods() {
    let server = embedded(Config::default()).await;
    let health = server.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.header("content-type"), Some("application/json"));
    assert_eq!(health.header("cache-control"), Some("no-store"));
    let json = health.json();
    assert_eq!(json["status"], "ok");
    assert!(json["libvips"].as_str().is_some_and(|v| v.starts_with('8')));

    for (method, url) in [
        (reqwest::Method::POST, "/dune.jpg?width=100"),
        (reqwest::Method::PUT, "/dune.jpg"),
        (reqwest::Method::DELETE, "/dune.jpg"),
        (reqwest::Method::POST, "/health"),
    ] {
        let reply = server.request(method.clone(), url, &[]).await;
        let message = assert_error(&reply, 405, "MethodNotAllowed");
        assert!(message.contains(method.as_str()), "{message}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{method} {url}");
    }
}

// ------------------------------------------------------------ 12. the binary

/// Kills the child process when dropped, also when an assertion fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_serves_the_samples() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_image-handler"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for var in [
        "IMAGE_ORIGIN",
        "LISTEN_ADDR",
        "AUTO_FORMAT",
        "AUTO_WEBP",
        "MAX_OUTPUT_WIDTH",
        "MAX_OUTPUT_HEIGHT",
        "CORS_ENABLED",
    ] {
        command.env_remove(var);
    }
    let mut child = KillOnDrop(command.spawn().expect("spawn image-handler"));
    let stdout = child.0.stdout.take().expect("stdout");

    // Read the banner with a deadline.
    let rx = lines(stdout);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut banner = Vec::new();
    let try_url = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no `try:` line ({e}); got {banner:?}"));
        if let Some(url) = line.strip_prefix("try: ") {
            break url.trim().to_string();
        }
        banner.push(line);
    };
    assert!(
        banner
            .iter()
            .any(|l| l.starts_with("image-handler serving")),
        "{banner:?}"
    );
    assert!(try_url.starts_with("http://127.0.0.1:"), "{try_url}");
    assert!(try_url.ends_with("?width=300&format=webp"), "{try_url}");
    assert!(!try_url.contains("127.0.0.1:0/"), "{try_url}: real port");

    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let res = client.get(&try_url).send().await.expect("fetch try URL");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some(WEBP)
    );
    let body = res.bytes().await.unwrap();
    assert!(is_webp(&body));
    let image = decode(&body);
    assert_eq!(image.get_width(), 300);

    drop(child);
    // The guard really ended the server.
    assert!(client.get(&try_url).send().await.is_err());
}
