//! The AWS runtime against real AWS APIs on loopback (moto's server): the S3
//! origin through the real HTTP server, conditional requests forwarded to S3,
//! object metadata, bucket allow-lists, signing keys held in Secrets Manager
//! and their rotation, and the Lambda adapter fed API Gateway and ALB events.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use common::*;
use image_handler::Config;
use image_handler::keys::{Keys, SecretsManagerKeys};
use image_handler::origin::{Fetched, Origin, S3Origin, S3Settings};
use image_handler::request::Source;

/// A unique bucket name per test (moto is shared by the whole binary).
fn bucket(name: &str) -> String {
    format!("ih-{name}-{}", std::process::id())
}

async fn s3_origin(buckets: &[&str]) -> Arc<S3Origin> {
    let settings = S3Settings {
        buckets: buckets.iter().map(|b| b.to_string()).collect(),
        force_path_style: true,
        max_bytes: 50 * 1024 * 1024,
        ..S3Settings::default()
    };
    Arc::new(S3Origin::new(&moto().sdk_config().await, settings).expect("s3 origin"))
}

fn config(buckets: &[&str]) -> Config {
    Config {
        source_buckets: buckets.iter().map(|b| b.to_string()).collect(),
        ..Config::default()
    }
}

#[tokio::test]
async fn s3_origin_serves_transforms_and_errors() {
    let (main, other, outside) = (bucket("main"), bucket("other"), bucket("outside"));
    moto()
        .bucket(
            &main,
            &[
                ("photos/dune.jpg", sample("dune.jpg"), None),
                ("quad.png", png(&quadrant()), None),
            ],
        )
        .await;
    moto()
        .bucket(&other, &[("only-here.png", png(&quadrant()), None)])
        .await;
    moto()
        .bucket(&outside, &[("quad.png", png(&quadrant()), None)])
        .await;
    let s = Server::start(config(&[&main, &other]), s3_origin(&[&main, &other]).await).await;

    let ok = s.get("/photos/dune.jpg?width=100&format=webp").await;
    assert_size(&ok.image("image/webp"), 100, 63);
    assert!(ok.header("etag").is_some() && ok.header("last-modified").is_some());

    let missing = s.get("/photos/nope.jpg").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "NoSuchKey");

    // other buckets by name, in both styles; buckets outside the list are refused
    assert_size(
        &s.get(&format!("/100x0/s3:{other}/only-here.png"))
            .await
            .image("image/png"),
        100,
        50,
    );
    let json = format!(r#"{{"bucket":"{other}","key":"only-here.png"}}"#);
    let path = format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    );
    assert_eq!(s.get(&path).await.status, 200);
    let json = format!(r#"{{"bucket":"{outside}","key":"quad.png"}}"#);
    let denied = s
        .get(&format!(
            "/{}",
            base64::engine::general_purpose::STANDARD.encode(json)
        ))
        .await;
    assert_eq!(
        (denied.status, denied.json()["code"].as_str()),
        (403, Some("ImageBucket::CannotAccessBucket"))
    );
}

#[tokio::test]
async fn conditional_requests_reach_s3() {
    let b = bucket("cond");
    moto()
        .bucket(&b, &[("quad.png", png(&quadrant()), None)])
        .await;
    let origin = s3_origin(&[&b]).await;
    let s = Server::start(config(&[&b]), origin.clone()).await;

    let first = s.get("/quad.png?width=50").await;
    let etag = first.header("etag").unwrap().to_string();
    let again = s
        .get_with("/quad.png?width=50", &[("if-none-match", &etag)])
        .await;
    assert_eq!(
        (again.status, again.header("etag")),
        (304, Some(etag.as_str()))
    );
    assert!(again.body.is_empty());

    // the identity in our ETag is S3's: the origin answers "unchanged" from S3's 304
    let identity = etag
        .trim_matches('"')
        .rsplit_once('.')
        .unwrap()
        .0
        .to_string();
    let source = Source {
        bucket: None,
        key: "quad.png".into(),
    };
    assert!(
        matches!(origin.fetch(&source, Some(&identity)).await, Ok(Fetched::Unchanged(m)) if m.identity == identity)
    );
    assert!(matches!(
        origin.fetch(&source, Some("0123456789abcdef")).await,
        Ok(Fetched::Full(_))
    ));

    // a new version of the original is a new ETag, and the old one no longer matches
    moto()
        .s3()
        .await
        .put_object()
        .bucket(&b)
        .key("quad.png")
        .body(png(&halves()).into())
        .send()
        .await
        .unwrap();
    let changed = s
        .get_with("/quad.png?width=50", &[("if-none-match", &etag)])
        .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert_size(&changed.image("image/png"), 50, 100);
}

#[tokio::test]
async fn object_metadata_flows_into_the_response() {
    let b = bucket("meta");
    moto()
        .bucket(
            &b,
            &[("short.png", png(&quadrant()), Some("public, max-age=60"))],
        )
        .await;
    let s3 = moto().s3().await;
    let expires = aws_sdk_s3::primitives::DateTime::from_secs(4_102_444_800); // 2100-01-01
    s3.put_object()
        .bucket(&b)
        .key("expires.png")
        .body(png(&quadrant()).into())
        .content_type("binary/octet-stream")
        .expires(expires)
        .send()
        .await
        .unwrap();
    let s = Server::start(config(&[&b]), s3_origin(&[&b]).await).await;
    let short = s.get("/short.png?width=10").await;
    assert_eq!(short.header("cache-control"), Some("public, max-age=60"));
    let with_expires = s.get("/expires.png").await;
    assert_eq!(
        with_expires.header("expires"),
        Some("Fri, 01 Jan 2100 00:00:00 GMT")
    );
    // a generic stored content type does not stop the image from being recognised
    assert_eq!(with_expires.header("content-type"), Some("image/png"));
}

#[tokio::test]
async fn unreachable_s3_is_a_gateway_error_not_cached_for_long() {
    // nothing listens on this port
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .load()
        .await;
    let settings = S3Settings {
        buckets: vec!["b".into()],
        force_path_style: true,
        max_bytes: 1 << 20,
        ..S3Settings::default()
    };
    let origin = Arc::new(S3Origin::new(&shared, settings).unwrap());
    let s = Server::start(config(&["b"]), origin).await;
    let r = s.get("/quad.png").await;
    assert!(matches!(r.status, 502..=504), "{}", r.status);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

async fn secrets_handler_server(name: &str, secret_id: &str) -> (Server, String) {
    let b = bucket(name);
    moto()
        .bucket(&b, &[("quad.png", png(&quadrant()), None)])
        .await;
    let shared = moto().sdk_config().await;
    let keys = SecretsManagerKeys::new(&shared, secret_id, "signatureKey")
        .with_refresh_interval(Duration::from_secs(1));
    let keys = Keys::SecretsManager(keys);
    let handler = image_handler::Handler::new(config(&[&b]), s3_origin(&[&b]).await)
        .unwrap()
        .with_keys(keys);
    (Server::start_handler(handler).await, b)
}

#[tokio::test]
async fn signing_keys_from_secrets_manager_and_rotation() {
    let sm = aws_sdk_secretsmanager::Client::new(&moto().sdk_config().await);
    let id = format!("image-handler/{}", std::process::id());
    sm.create_secret()
        .name(&id)
        .secret_string(r#"{"signatureKey":"first"}"#)
        .send()
        .await
        .unwrap();
    let (s, _) = secrets_handler_server("rotation", &id).await;

    assert_eq!(
        s.get(&signed("first", "/quad.png?width=20")).await.status,
        200
    );
    let wrong = s.get(&signed("wrong", "/quad.png?width=20")).await;
    assert_eq!(
        (wrong.status, wrong.json()["code"].as_str()),
        (403, Some("SignatureDoesNotMatch"))
    );
    let unsigned = s.get("/quad.png?width=20").await;
    assert_eq!(unsigned.status, 400);

    // rotate right after that mismatch: refetches are rate-limited, so the new
    // secret is refused until the interval has passed, then accepted without a
    // redeploy; URLs signed with the previous secret keep working (AWSPREVIOUS)
    sm.put_secret_value()
        .secret_id(&id)
        .secret_string(r#"{"signatureKey":"second"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.get(&signed("second", "/quad.png?width=21")).await.status,
        403
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        s.get(&signed("second", "/quad.png?width=21")).await.status,
        200
    );
    assert_eq!(
        s.get(&signed("first", "/quad.png?width=22")).await.status,
        200
    );
}

#[tokio::test]
async fn secrets_manager_failure_fails_closed() {
    let (s, _) = secrets_handler_server("closed", "image-handler/does-not-exist").await;
    let r = s.get(&signed("anything", "/quad.png")).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (500, Some("SignatureValidationFailure"))
    );
    assert_eq!(r.json()["message"], "Signature validation failed.");
    assert_ne!(r.header("content-type"), Some("image/png"));
}

/// API Gateway REST, HTTP API and ALB events (fixtures from `aws_lambda_events`,
/// pointed at our object) through the Lambda adapter.
#[tokio::test]
async fn lambda_adapter_handles_every_event_shape() {
    let b = bucket("lambda");
    moto()
        .bucket(&b, &[("photos/dune.jpg", sample("dune.jpg"), None)])
        .await;
    let handler = image_handler::Handler::new(config(&[&b]), s3_origin(&[&b]).await).unwrap();
    for fixture in ["apigw-rest.json", "apigw-http.json", "alb.json"] {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let event =
            lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let response = image_handler::lambda::handle(&handler, event).await;
        assert_eq!(response.status(), 200, "{fixture}: {:?}", response.body());
        assert_eq!(
            response.headers()["content-type"],
            "image/webp",
            "{fixture}"
        );
        let lambda_http::Body::Binary(bytes) = response.body() else {
            panic!("{fixture}: not a binary body")
        };
        assert_size(&decode(bytes), 120, 75);
    }
    // the stage is not part of the path the handler (and a signature) sees
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/apigw-rest.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let event =
        lambda_http::request::from_str(&text.replace("photos/dune.jpg", "photos/missing.jpg"))
            .unwrap();
    let response = image_handler::lambda::handle(&handler, event).await;
    assert_eq!(response.status(), 404);
    let lambda_http::Body::Text(json) = response.body() else {
        panic!("errors are text")
    };
    assert!(
        json.contains("photos/missing.jpg") && !json.contains("/prod/"),
        "{json}"
    );
    let _ = SystemTime::now();
}

#[tokio::test]
async fn fallback_image_from_its_own_bucket_with_its_cache_control() {
    let (main, fallback) = (bucket("fb-main"), bucket("fb-images"));
    moto()
        .bucket(&main, &[("quad.png", png(&quadrant()), None)])
        .await;
    moto()
        .bucket(
            &fallback,
            &[("missing.png", png(&halves()), Some("max-age=12,public"))],
        )
        .await;
    let handler = image_handler::Handler::new(config(&[&main]), s3_origin(&[&main]).await)
        .unwrap()
        .with_fallback(
            s3_origin(&[&fallback]).await,
            Source {
                bucket: Some(fallback.clone()),
                key: "missing.png".into(),
            },
        );
    let s = Server::start_handler(handler).await;
    let r = s.get("/nope.png").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("cache-control"), Some("max-age=12,public"));
    assert_size(&decode(&r.body), 100, 200);
    // the main bucket still answers normally
    assert_size(&s.get("/quad.png").await.image("image/png"), 200, 100);
}
