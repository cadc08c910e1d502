//! Named origins through the public API, as the wiring will use them:
//! `ORIGINS` / `MAPPINGS` parsed, a request path routed, the chosen HTTP
//! origin built from its spec and fetching a real PNG from an axum server on
//! 127.0.0.1 (revalidated with a 304), and the same server refused to an
//! origin not allowed private addresses. Loopback only: the one address
//! here is 127.0.0.1, so nothing leaves the machine even if the guard broke.
//! (The guard's and the HTTP origin's own tests, with a gate that records
//! every address, are unit tests in src/origin/.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use common::*;
use image_handler::error::Error;
use image_handler::origin::mapping::{Mappings, OriginSpec, Origins};
use image_handler::origin::{Fetched, HttpOrigin, Origin};
use image_handler::request::Source;

struct Site {
    png: Vec<u8>,
    gets: AtomicUsize,
}

async fn quad(State(site): State<Arc<Site>>, headers: HeaderMap) -> impl IntoResponse {
    site.gets.fetch_add(1, Ordering::SeqCst);
    let etag = "\"quad-v1\"";
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag)
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)], Vec::new());
    }
    (StatusCode::OK, [(header::ETAG, etag)], site.png.clone())
}

/// An axum site on 127.0.0.1 serving `/assets/quad.png`.
async fn site() -> (std::net::SocketAddr, Arc<Site>) {
    let site = Arc::new(Site {
        png: png(&quadrant()),
        gets: AtomicUsize::new(0),
    });
    let app = axum::Router::new()
        .route("/assets/quad.png", axum::routing::get(quad))
        .with_state(site.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, site)
}

fn http_origin(origins: &Origins, name: &str) -> HttpOrigin {
    let Some(OriginSpec::Http(spec)) = origins.get(name) else {
        panic!("{name} is an http origin")
    };
    let settings = spec
        .settings(10 << 20, |_| Err("no secrets here".into()))
        .unwrap();
    HttpOrigin::new(settings).unwrap()
}

#[tokio::test]
async fn a_mapped_http_origin_serves_and_revalidates_and_the_guard_refuses_without_allow_private() {
    let (addr, site) = site().await;
    let origins = Origins::parse(&format!(
        r#"{{"dev": {{"http": "http://{addr}/assets/", "allow_private": true}},
            "strict": {{"http": "http://{addr}/assets"}}}}"#
    ))
    .unwrap();
    let mappings = Mappings::parse(
        r#"[{"path": "/legacy/", "origin": "dev", "strip_prefix": true},
            {"path": "/strict/", "origin": "strict", "strip_prefix": true}]"#,
        &origins,
    )
    .unwrap();

    let route = mappings.route(None, "/legacy/quad.png").unwrap();
    assert_eq!((route.origin, route.key.as_str()), ("dev", "quad.png"));
    let dev = http_origin(&origins, route.origin);
    let source = Source {
        bucket: None,
        key: route.key.clone(),
    };
    let Ok(Fetched::Full(original)) = dev.fetch(&source, None).await else {
        panic!("the original")
    };
    assert_size(&decode(&original.bytes), 200, 100);
    assert_eq!(original.meta.identity, "quad-v1");
    assert!(matches!(
        dev.fetch(&source, Some("quad-v1")).await,
        Ok(Fetched::Unchanged(_))
    ));
    assert_eq!(site.gets.load(Ordering::SeqCst), 2);

    let route = mappings.route(None, "/strict/quad.png").unwrap();
    let strict = http_origin(&origins, route.origin);
    let e = strict
        .fetch(
            &Source {
                bucket: None,
                key: route.key,
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (502, "OriginRefused"),
        "{e:?}"
    );
    assert!(e.to_string().contains("loopback"), "{e}");
    assert_eq!(
        site.gets.load(Ordering::SeqCst),
        2,
        "refused before connecting"
    );

    assert!(matches!(
        mappings.route(None, "/elsewhere/quad.png"),
        Err(Error::NotFound { .. })
    ));
}
