//! Security properties that SECURITY.md claims and no other test shows:
//! an expired URL never gets an image (not the fallback, not a 304); the
//! cache key cannot be busted with unknown parameters or `Accept` noise;
//! no request makes the server fetch from a URL (SSRF); request-chosen
//! headers cannot inject or override; overlays stay in the tenant's prefix.

mod common;

use std::net::TcpListener;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use common::*;
use image_handler::Config;
use image_handler::signature::{Keyring, SigningKey, sign_url};

fn b64(json: &str) -> String {
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

fn keys() -> Keyring {
    Keyring::new(vec![
        SigningKey::new("k", "secret", None),
        SigningKey::new("alice", "alice-secret", Some("users/alice/")),
    ])
    .unwrap()
}

#[tokio::test]
async fn an_expired_url_never_gets_an_image_not_the_fallback_nor_a_304() {
    let dir = TempDir::new("expired");
    standard_fixtures(&dir);
    dir.write("fallback.png", &png(&halves()));
    let config = Config {
        signing: Some(keys()),
        ..Config::default()
    };
    let s = Server::fs_with_fallback(config, &dir, "fallback.png").await;
    let ring = keys();
    let soon = SystemTime::now() + Duration::from_secs(2);
    let url = sign_url(&ring, "/quad.png?width=50", Some("k"), Some(soon)).unwrap();
    let fresh = s.get(&url).await;
    assert_size(&fresh.image("image/png"), 50, 25);
    let etag = fresh.header("etag").unwrap().to_string();
    assert_eq!(
        s.get_with(&url, &[("if-none-match", &etag)]).await.status,
        304
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    for (what, r) in [
        ("plain", s.get(&url).await),
        (
            "with the ETag",
            s.get_with(&url, &[("if-none-match", &etag)]).await,
        ),
        (
            "HEAD",
            s.request(reqwest::Method::HEAD, &url, &[("if-none-match", &etag)])
                .await,
        ),
    ] {
        assert_eq!(r.status, 400, "{what}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{what}: no image, not even the fallback"
        );
        assert!(r.header("etag").is_none(), "{what}");
        if what != "HEAD" {
            assert_eq!(r.json()["code"], "ImageRequestExpired", "{what}");
        }
    }
    // a missing key still gets the fallback when the URL is properly signed
    let missing = s
        .get(&sign_url(&ring, "/nope.png", Some("k"), None).unwrap())
        .await;
    assert_eq!(
        (missing.status, missing.header("content-type")),
        (404, Some("image/png"))
    );
}

#[tokio::test]
async fn unknown_parameters_and_accept_noise_do_not_change_the_variant() {
    let dir = TempDir::new("cache-key");
    standard_fixtures(&dir);
    let s = Server::fs(Config::default(), &dir).await;
    let base = s.get("/quad.png?width=50&format=png").await;
    let tag = base.header("etag").unwrap().to_string();
    for noise in [
        "/quad.png?width=50&format=png&utm_source=x",
        "/quad.png?width=50&format=png&cb=1234567",
        "/quad.png?format=png&width=50",
        "/quad.png?width=50&format=png&Width=900&FORMAT=avif",
        "/quad.png?width=50&format=png&signature=nothing-to-check",
        "/quad.png?width=50&format=png&width=50",
    ] {
        let r = s.get(noise).await;
        assert_eq!(r.header("etag"), Some(tag.as_str()), "{noise}");
        assert_eq!(r.body, base.body, "{noise}: the same bytes");
    }
    // an explicit format: Accept is irrelevant and not varied on
    for accept in [
        "image/avif",
        "image/webp,*/*",
        "text/html",
        "*/*;q=0.1, x/y",
    ] {
        let r = s
            .get_with("/quad.png?width=50&format=png", &[("accept", accept)])
            .await;
        assert_eq!(r.header("etag"), Some(tag.as_str()), "{accept}");
        assert!(!r.varies_on("accept"), "{accept}");
    }
    // negotiated: only what the client accepts of avif/webp matters, not how it says it
    let webp = s
        .get_with("/quad.png?width=50", &[("accept", "image/webp")])
        .await;
    let webp_tag = webp.header("etag").unwrap().to_string();
    for accept in [
        "image/webp,*/*",
        "text/html, image/webp;q=0.9, image/png",
        "IMAGE/WEBP, application/x-garbage-1234",
    ] {
        let r = s
            .get_with("/quad.png?width=50", &[("accept", accept)])
            .await;
        assert_eq!(r.header("etag"), Some(webp_tag.as_str()), "{accept}");
        assert_eq!(r.header("content-type"), Some("image/webp"), "{accept}");
    }
    let plain = s
        .get_with("/quad.png?width=50", &[("accept", "*/*")])
        .await
        .header("etag")
        .unwrap()
        .to_string();
    for accept in ["text/html", "image/png", "image/webp;q=0", "x/y;q=0.5"] {
        let r = s
            .get_with("/quad.png?width=50", &[("accept", accept)])
            .await;
        assert_eq!(r.header("etag"), Some(plain.as_str()), "{accept}");
    }
}

#[tokio::test]
async fn no_request_makes_the_server_fetch_a_url() {
    let bait = TcpListener::bind("127.0.0.1:0").unwrap();
    bait.set_nonblocking(true).unwrap();
    let target = format!("http://127.0.0.1:{}", bait.local_addr().unwrap().port());
    let dir = TempDir::new("ssrf");
    standard_fixtures(&dir);
    let s = Server::fs(Config::default(), &dir).await;
    let encoded = target.replace(':', "%3A").replace('/', "%2F");
    for url in [
        format!("/{target}/x.jpg"),
        format!("/{encoded}%2Fx.jpg"),
        format!("/unsafe/{target}/x.jpg"),
        format!("/unsafe/300x200/{encoded}%2Fx.jpg"),
        format!("/filters:watermark({target}/w.png,0,0,0)/quad.png"),
        format!("/filters:watermark(,{target}/w.png,0,0,0)/quad.png"),
        b64(&format!(r#"{{"key":"{target}/x.jpg"}}"#)),
        b64(&format!(
            r#"{{"key":"quad.png","edits":{{"overlayWith":{{"key":"{target}/w.png"}}}}}}"#
        )),
        format!("/quad.png?overlay={encoded}%2Fw.png"),
    ] {
        let r = s.get(&url).await;
        assert!(
            (400..500).contains(&r.status),
            "{url}: {} {}",
            r.status,
            r.text()
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{url}");
    }
    // a parameter naming a URL is not ours: ignored, the local original is served
    let r = s.get(&format!("/quad.png?url={encoded}%2Fx.jpg")).await;
    assert_size(&r.image("image/png"), 200, 100);
    match bait.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the server connected out: {other:?}"),
    }
}

#[tokio::test]
async fn request_headers_cannot_inject_or_override() {
    let dir = TempDir::new("headers");
    standard_fixtures(&dir);
    let s = Server::fs(Config::default(), &dir).await;
    let r = s
        .get(&b64(r#"{"key":"quad.png","headers":{
                "X-Ok":"fine",
                "X-Injected":"a\r\nSet-Cookie: stolen=1",
                "X-Split":"b\nLocation: https://evil.example/",
                "Set-Cookie":"session=1",
                "Content-Type":"text/html",
                "Content-Security-Policy":"none",
                "Access-Control-Allow-Origin":"https://evil.example",
                "Strict-Transport-Security":"max-age=0",
                "X-Content-Type-Options":"off",
                "Location":"https://evil.example/",
                "ETag":"\"forged\""
            }}"#))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("x-ok"), Some("fine"));
    for name in [
        "x-injected",
        "x-split",
        "set-cookie",
        "content-security-policy",
        "access-control-allow-origin",
        "strict-transport-security",
    ] {
        assert_eq!(r.header(name), None, "{name} must not be set");
    }
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_ne!(r.header("etag"), Some("\"forged\""), "our ETag wins");
}

#[tokio::test]
async fn overlays_stay_in_the_tenants_prefix() {
    let dir = TempDir::new("tenant-overlay");
    dir.write("users/alice/a.png", &png(&quadrant()));
    dir.write("users/bob/secret.png", &png(&halves()));
    let config = Config {
        signing: Some(keys()),
        ..Config::default()
    };
    let s = Server::fs(config, &dir).await;
    let ring = keys();
    let alice = |url: &str| sign_url(&ring, url, Some("alice"), None).unwrap();
    assert_eq!(
        s.get(&alice("/users/alice/a.png?width=10")).await.status,
        200
    );
    for url in [
        "/filters:watermark(,users/bob/secret.png,0,0,0)/users/alice/a.png".to_string(),
        b64(
            r#"{"key":"users/alice/a.png","edits":{"overlayWith":{"key":"users/bob/secret.png"}}}"#,
        ),
        "/users/alice/a.png?overlay=users/bob/secret.png".to_string(),
        "/users/alice/../bob/secret.png".to_string(),
    ] {
        let r = s.get(&alice(&url)).await;
        assert!(
            r.status == 403 || r.status == 400,
            "{url}: {} {}",
            r.status,
            r.text()
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{url}");
    }
}
