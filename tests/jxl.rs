mod common;

// JPEG XL originals through the real server: the portable libvips has no
// JPEG XL, so jxl-oxide decodes them (`transform::decoders`). The fixtures
// are tiny committed files made with libjxl's cjxl (tests/fixtures/jxl/README.md).

use common::*;
use image_handler::Config;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jxl")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn server(name: &str, config: Config) -> (Server, TempDir) {
    let dir = TempDir::new(&format!("jxl-{name}"));
    for file in [
        "halves-lossless.jxl",
        "halves-lossy.jxl",
        "halves-container.jxl",
        "alpha.jxl",
    ] {
        dir.write(file, &fixture(file));
    }
    (Server::fs(config, &dir).await, dir)
}

#[tokio::test]
async fn jxl_decodes_as_jpeg_with_its_colours() {
    let (s, _dir) = server("colours", Config::default()).await;
    for (file, tolerance) in [
        ("halves-lossless.jxl", 12.0),
        ("halves-container.jxl", 12.0),
        ("halves-lossy.jxl", 30.0),
    ] {
        // JPEG XL cannot be written: without `format` it becomes JPEG.
        let out = s.get(&format!("/{file}")).await.image("image/jpeg");
        assert_size(&out, 32, 16);
        assert_rgb(&out, 4, 8, RED, tolerance);
        assert_rgb(&out, 28, 8, BLUE, tolerance);
    }
    // lossless into a lossless format: exact
    let out = s
        .get("/halves-lossless.jxl?format=png")
        .await
        .image("image/png");
    assert_rgb(&out, 0, 0, RED, 0.0);
    assert_rgb(&out, 31, 15, BLUE, 0.0);
}

#[tokio::test]
async fn jxl_resizes() {
    let (s, _dir) = server("resize", Config::default()).await;
    let out = s
        .get("/halves-lossless.jxl?width=8&format=png")
        .await
        .image("image/png");
    assert_size(&out, 8, 4);
    assert_rgb(&out, 1, 2, RED, 8.0);
    assert_rgb(&out, 6, 2, BLUE, 8.0);
    let out = s
        .get("/fit-in/16x16/filters:grayscale()/halves-lossy.jxl")
        .await
        .image("image/jpeg");
    assert_size(&out, 16, 8);
}

#[tokio::test]
async fn jxl_with_alpha_becomes_png_with_alpha() {
    let (s, _dir) = server("alpha", Config::default()).await;
    let out = s.get("/alpha.jxl").await.image("image/png");
    assert_size(&out, 16, 16);
    assert_eq!(out.get_bands(), 4);
    assert_rgb(&out, 2, 8, RED, 2.0);
    assert_eq!(alpha(&out, 2, 8), Some(255.0));
    assert!((alpha(&out, 13, 8).unwrap() - 128.0).abs() <= 1.0);
}

#[tokio::test]
async fn jxl_info_reports_its_size() {
    let (s, _dir) = server("info", Config::default()).await;
    let info = s.get("/halves-container.jxl?info").await.json();
    assert_eq!(info["width"].as_u64(), Some(32));
    assert_eq!(info["height"].as_u64(), Some(16));
    assert_eq!(info["format"].as_str(), Some("jxl"));
    assert_eq!(info["alpha"].as_bool(), Some(false));
    let info = s.get("/alpha.jxl?info").await.json();
    assert_eq!(info["alpha"].as_bool(), Some(true));
}

#[tokio::test]
async fn corrupt_and_truncated_jxl_are_400_json() {
    let dir = TempDir::new("jxl-corrupt");
    let lossy = fixture("halves-lossy.jxl");
    dir.write("truncated.jxl", &lossy[..lossy.len() / 2]);
    let mut scrambled = lossy.clone();
    for b in &mut scrambled[4..] {
        *b ^= 0xA5;
    }
    dir.write("scrambled.jxl", &scrambled);
    dir.write("signature.jxl", &[0xFF, 0x0A]);
    let s = Server::fs(Config::default(), &dir).await;
    for key in ["truncated.jxl", "scrambled.jxl", "signature.jxl"] {
        for query in ["", "?width=10", "?info"] {
            let reply = s.get(&format!("/{key}{query}")).await;
            assert_error(&reply, 400, "InvalidImage");
            assert_eq!(reply.header("content-type"), Some("application/json"));
        }
    }
}

#[tokio::test]
async fn jxl_over_the_pixel_limit_is_refused() {
    let config = Config {
        max_input_pixels: 32 * 16 - 1,
        ..Config::default()
    };
    let (s, _dir) = server("limit", config).await;
    let message = assert_error(&s.get("/halves-lossless.jxl").await, 413, "TooManyPixels");
    assert!(message.contains("32x16"), "{message}");
}
