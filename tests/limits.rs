//! Per-request limits through the real server: the edit count in every URL
//! style, the request deadline (also inside libvips work), and
//! backpressure: a bounded queue answered 503 with `Retry-After`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use image_handler::Config;
use image_handler::origin::EmbeddedOrigin;
use image_handler::request::rewrite::Rewrite;

fn b64(json: &str) -> String {
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

#[tokio::test]
async fn edits_are_counted_once_the_request_is_complete_in_every_style() {
    let dir = TempDir::new("max-edits");
    standard_fixtures(&dir);
    let config = Config {
        max_edits: 3,
        rewrite: Some(Rewrite::new("/(filters-)/gm", "filters:").unwrap()),
        presets: image_handler::request::Presets::from_json(
            r#"{"two":"flip=true&flop=true"}"#,
            &Default::default(),
        )
        .unwrap(),
        ..Config::default()
    };
    let s = Server::fs(config, &dir).await;
    let over = [
        (
            "query",
            "/quad.png?rotate=90&flip=true&flop=true&grayscale=true".to_string(),
        ),
        (
            "thumbor",
            "/filters:grayscale():blur(1):rotate(90):brightness(10)/quad.png".to_string(),
        ),
        (
            "base64 JSON",
            b64(
                r#"{"key":"quad.png","edits":{"grayscale":true,"flip":true,"flop":true,"negate":true}}"#,
            ),
        ),
        (
            "base64 JSON plus query",
            format!(
                "{}?blur=2",
                b64(r#"{"key":"quad.png","edits":{"grayscale":true,"flip":true,"flop":true}}"#)
            ),
        ),
        (
            "preset plus query",
            "/quad.png?preset=two&rotate=90&grayscale=true".to_string(),
        ),
    ];
    for (style, url) in &over {
        let message = assert_error_for(style, &s.get(url).await, 400, "TooManyEdits");
        assert!(
            message.contains("4 edits") && message.contains("limit of 3"),
            "{style}: {message}"
        );
        assert!(message.contains("MAX_EDITS"), "{style}: {message}");
    }
    // SIH's rewrite style (`filters-` becomes thumbor's `filters:`)
    let message = assert_error_for(
        "rewrite",
        &s.get("/filters-grayscale():blur(1):rotate(90):brightness(10)/quad.png")
            .await,
        400,
        "TooManyEdits",
    );
    assert!(message.contains("4 edits"), "{message}");
    // at the limit: served
    for url in [
        "/quad.png?rotate=90&flip=true&grayscale=true",
        "/filters:grayscale():blur(1):rotate(90)/quad.png",
        "/quad.png?preset=two&grayscale=true",
    ] {
        assert_eq!(s.get(url).await.status, 200, "{url}");
    }
    assert_eq!(
        s.get(&b64(
            r#"{"key":"quad.png","edits":{"grayscale":true,"flip":true,"flop":true}}"#
        ))
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn the_deadline_stops_libvips_work_and_frees_its_slot() {
    let config = Config {
        request_timeout: Duration::from_secs(1),
        transform_concurrency: 1,
        ..Config::default()
    };
    let s = Server::start(config, Arc::new(EmbeddedOrigin)).await;
    // A very wide blur over an upscaled photo: far more than a second of pixel work.
    let slow = s.get("/dune.jpg?width=3000&blur=400&format=jpeg").await;
    let message = assert_error_for("slow", &slow, 504, "DeadlineExceeded");
    assert!(message.contains("1000 ms"), "{message}");
    assert_eq!(slow.header("cache-control"), Some("no-store"));
    // With one slot, a small request only succeeds once libvips has stopped
    // the blur: run to its end, it would hold the slot for a long time and
    // this request would time out waiting for it.
    let mut answered = None;
    for _ in 0..10 {
        let r = s.get("/dune.jpg?width=50").await;
        if r.status == 200 {
            answered = Some(r);
            break;
        }
        assert_error_for("waiting", &r, 504, "DeadlineExceeded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = answered.expect("the slot came back after the deadline");
    assert_eq!(r.image("image/jpeg").get_width(), 50);
}

/// Six parallel requests for a slow but real transform (a 3000-pixel AVIF
/// encode) against one slot: with no queue every request that finds the
/// slot taken is refused at once; with a queue of one, one more waits.
#[tokio::test]
async fn a_full_queue_is_503_with_retry_after() {
    for queue in [0usize, 1] {
        let config = Config {
            transform_concurrency: 1,
            transform_queue: queue,
            ..Config::default()
        };
        let s = Arc::new(Server::start(config, Arc::new(EmbeddedOrigin)).await);
        let mut tasks = Vec::new();
        for i in 0..6 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.get(&format!(
                    "/dune.jpg?width={}&format=avif&quality=90",
                    3000 + i
                ))
                .await
            }));
        }
        let (mut ok, mut busy) = (0, 0);
        for t in tasks {
            let r = t.await.unwrap();
            match r.status {
                200 => {
                    assert!(is_avif(&r.body));
                    ok += 1;
                }
                503 => {
                    assert_error_for("busy", &r, 503, "Overloaded");
                    assert_eq!(r.header("retry-after"), Some("1"));
                    assert_eq!(r.header("cache-control"), Some("no-store"));
                    busy += 1;
                }
                other => panic!("queue {queue}: status {other}: {}", r.text()),
            }
        }
        assert!(ok >= 1, "queue {queue}: the admitted request is served");
        assert!(busy >= 1, "queue {queue}: the rest are refused, not queued");
        // the places come back: the next request is served
        assert_eq!(s.get("/dune.jpg?width=40").await.status, 200);
        // health takes no place
        assert_eq!(s.get("/health").await.status, 200);
    }
}
