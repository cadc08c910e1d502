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

// ---------------------------------------------------------------- `serve` with ORIGINS and MAPPINGS

/// What the HTTP origin saw.
#[derive(Default)]
struct Seen {
    gets: AtomicUsize,
    not_modified: AtomicUsize,
    tls_refused: AtomicUsize,
    authorization: std::sync::Mutex<Vec<String>>,
}

async fn legacy(State(seen): State<Arc<Seen>>, headers: HeaderMap) -> impl IntoResponse {
    seen.gets.fetch_add(1, Ordering::SeqCst);
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let auth = auth.to_str().unwrap_or("?").to_string();
        seen.authorization.lock().unwrap().push(auth);
    }
    let etag = "\"legacy-v1\"";
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag)
    {
        seen.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)], Vec::new());
    }
    (StatusCode::OK, [(header::ETAG, etag)], png(&quadrant()))
}

/// `image-handler serve` with `env`, on a free loopback port: its base URL,
/// the process, and the file its stderr (the logs) goes to.
fn spawn_serve(env: &[(&str, String)], logs: &std::path::Path) -> (String, ChildGuard) {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_image-handler"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--playground", "no"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(logs).unwrap());
    for var in [
        "SOURCE_BUCKETS",
        "AWS_ENDPOINT_URL",
        "ORIGINS",
        "MAPPINGS",
        "LOG_FORMAT",
        "IMAGE_ORIGIN",
    ] {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = ChildGuard(command.spawn().expect("spawn image-handler"));
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let banner = lines.next().and_then(Result::ok).unwrap_or_else(|| {
        panic!(
            "no banner; logs: {}",
            std::fs::read_to_string(logs).unwrap_or_default()
        )
    });
    let base = banner
        .rsplit_once(" on ")
        .map(|(_, url)| url.trim().to_string())
        .unwrap_or_else(|| panic!("{banner}"));
    // Keep draining stdout so the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (base, child)
}

#[tokio::test]
async fn serve_answers_each_mapping_from_its_origin() {
    // Two S3 endpoints (two moto servers), an HTTP origin and a directory.
    let moto_a = moto();
    let moto_b = Moto::start();
    moto_a
        .bucket("routes-a", &[("public/cat.png", png(&halves()), None)])
        .await;
    moto_b
        .bucket(
            "routes-b",
            &[(
                "dog.png",
                png(&canvas(50, 40, [0.0, 255.0, 0.0], &[])),
                None,
            )],
        )
        .await;
    let dir = TempDir::new("routes-dir");
    dir.write(
        "local/x.png",
        &png(&canvas(30, 20, [255.0, 255.0, 0.0], &[])),
    );

    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .route("/assets/quad.png", axum::routing::get(legacy))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let origins = serde_json::json!({
        "photos": {"s3": "routes-a", "prefix": "public/", "endpoint": moto_a.endpoint},
        "other": {"s3": "routes-b", "endpoint": moto_b.endpoint, "region": "eu-west-1"},
        "legacy": {"http": format!("http://{site}/assets/"), "allow_private": true,
                   "headers": {"Authorization": "Bearer sekret-token"}},
        "local": {"dir": dir.join("").display().to_string()},
    });
    let mappings = serde_json::json!([
        {"path": "/legacy/", "origin": "legacy", "strip_prefix": true},
        {"host": "cdn.example.com", "origin": "other"},
        {"path": "/photos", "origin": "photos", "strip_prefix": true},
        {"path": "/", "origin": "local"},
    ]);
    let logs = dir.join("serve.log");
    let (base, _serve) = spawn_serve(
        &[
            ("ORIGINS", origins.to_string()),
            ("MAPPINGS", mappings.to_string()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AUTO_FORMAT", "No".into()),
            ("LOG_FORMAT", "json".into()),
        ],
        &logs,
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut req = client.get(format!("{base}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let size = |bytes: &[u8]| {
        let image = decode(bytes);
        (image.get_width(), image.get_height())
    };

    // Path prefix, stripped, to the HTTP origin: its own header sent.
    let res = get("/legacy/quad.png?format=png", &[]).await.unwrap();
    assert_eq!(res.status(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(size(&res.bytes().await.unwrap()), (200, 100));
    assert_eq!(
        *seen.authorization.lock().unwrap(),
        vec!["Bearer sekret-token".to_string()]
    );
    // Revalidation: the origin is asked conditionally, answers 304, and so do we.
    let res = get("/legacy/quad.png?format=png", &[("if-none-match", &etag)])
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(seen.not_modified.load(Ordering::SeqCst), 1);
    assert_eq!(seen.gets.load(Ordering::SeqCst), 2);

    // Path prefix, stripped, to an S3 origin with a key prefix of its own.
    let res = get("/photos/cat.png?format=png", &[]).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(size(&res.bytes().await.unwrap()), (100, 200));

    // A host rule beats every host-less one: the second endpoint's bucket.
    let res = get("/dog.png?format=png", &[("host", "cdn.example.com")])
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(size(&res.bytes().await.unwrap()), (50, 40));
    let res = get("/photos/cat.png", &[("host", "CDN.example.com.")])
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        404,
        "the host rule's origin has no photos/cat.png"
    );

    // The root rule: the directory, the key whole (no strip_prefix).
    let res = get("/local/x.png?format=png", &[]).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(size(&res.bytes().await.unwrap()), (30, 20));

    // An overlay is routed by its own key: the directory's image under the HTTP origin's.
    let gets = seen.gets.load(Ordering::SeqCst);
    let res = get(
        "/local/x.png?overlay=legacy/quad.png&overlay_ratio=50&format=png",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert_eq!(seen.gets.load(Ordering::SeqCst), gets + 1);
    let res = get("/local/x.png?overlay=nowhere/quad.png", &[])
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        400,
        "a missing overlay is the parameter's fault"
    );

    // `/photos` matches on a `/` boundary only: `/photosx.png` is the directory's (absent).
    let res = get("/photosx.png", &[]).await.unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(body["code"], "NoSuchKey");

    // A request naming a bucket is served only by that bucket's origin.
    let named = base64_json(&serde_json::json!({"bucket": "routes-b", "key": "photos/cat.png"}));
    let res = get(&format!("/{named}"), &[]).await.unwrap();
    assert_eq!(res.status(), 403, "the /photos rule chose routes-a");

    // The logs name each origin and the key fetched, never the header's secret.
    let text = std::fs::read_to_string(&logs).unwrap();
    let logged: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "request" && l["origin"] != "")
        .map(|l| {
            (
                l["origin"].as_str().unwrap().into(),
                l["fetched"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (origin, fetched) in [
        ("legacy", "quad.png"),
        ("photos", "public/cat.png"),
        ("other", "dog.png"),
        ("local", "local/x.png"),
    ] {
        assert!(
            logged.contains(&(origin.into(), fetched.into())),
            "{origin} {fetched} in {logged:?}"
        );
    }
    assert!(!text.contains("sekret"), "{text}");
}

fn base64_json(value: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(value.to_string())
}

#[test]
fn serve_refuses_conflicting_or_invalid_origin_settings_at_start() {
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_image-handler"));
        command
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"]);
        for var in ["SOURCE_BUCKETS", "ORIGINS", "MAPPINGS", "IMAGE_ORIGIN"] {
            command.env_remove(var);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        assert!(!out.status.success(), "{env:?} {args:?} must not start");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let two = r#"{"a": {"dir": "/"}, "b": {"dir": "/tmp"}}"#;
    let err = run(&[("ORIGINS", two)], &[]);
    assert!(err.contains("MAPPINGS: is needed to choose"), "{err}");
    let err = run(
        &[
            ("ORIGINS", r#"{"a": {"dir": "/"}}"#),
            ("SOURCE_BUCKETS", "x"),
        ],
        &[],
    );
    assert!(err.contains("SOURCE_BUCKETS"), "{err}");
    let err = run(
        &[("ORIGINS", r#"{"a": {"dir": "/"}}"#)],
        &["--origin", "/tmp"],
    );
    assert!(err.contains("--origin"), "{err}");
    let err = run(&[("MAPPINGS", r#"[{"origin": "a"}]"#)], &[]);
    assert!(err.contains("ORIGINS must define"), "{err}");
    let secret = r#"{"a": {"http": "https://x.example/", "headers": {"Authorization": "Bearer hush"}, "bogus": 1}}"#;
    let err = run(&[("ORIGINS", secret)], &[]);
    assert!(err.contains("ORIGINS.a") || err.contains("\"a\""), "{err}");
    assert!(
        !err.contains("hush"),
        "a header value is never echoed: {err}"
    );
}

#[tokio::test]
async fn host_mappings_read_the_viewer_host_header_when_one_is_named() {
    let a = TempDir::new("viewer-host-a");
    a.write("k.png", &png(&canvas(30, 20, [255.0, 0.0, 0.0], &[])));
    let b = TempDir::new("viewer-host-b");
    b.write("k.png", &png(&canvas(10, 40, [0.0, 0.0, 255.0], &[])));
    let routes = image_handler::origin::mapping::Routes::parse(
        &serde_json::json!({
            "a": {"dir": a.join("").display().to_string()},
            "b": {"dir": b.join("").display().to_string()},
        })
        .to_string(),
        Some(r#"[{"host": "img.example.com", "origin": "a"}, {"path": "/", "origin": "b"}]"#),
    )
    .unwrap();
    let router = build_router(&routes).await.unwrap();
    let config = image_handler::Config::from_lookup(|name| match name {
        "VIEWER_HOST_HEADER" => Some("X-Viewer-Host".into()),
        _ => None,
    })
    .unwrap();
    let handler = image_handler::Handler::routed(config, Arc::new(router)).unwrap();
    let server = Server::start_handler(handler).await;
    let width = |reply: &Reply| reply.image("image/png").get_width();

    // The named header decides; Host (the server's own name here) does not.
    let r = server
        .get_with("/k.png?format=png", &[("x-viewer-host", "IMG.example.com")])
        .await;
    assert_eq!(width(&r), 30);
    let r = server
        .get_with(
            "/k.png?format=png",
            &[("x-viewer-host", "other.example.com")],
        )
        .await;
    assert_eq!(width(&r), 10);
    // Without it, Host is read.
    let r = server
        .get_with("/k.png?format=png", &[("host", "img.example.com")])
        .await;
    assert_eq!(width(&r), 30);
    let r = server.get("/k.png?format=png").await;
    assert_eq!(width(&r), 10);

    let e = image_handler::Config::from_lookup(|name| {
        (name == "VIEWER_HOST_HEADER").then(|| "bad header".to_string())
    })
    .unwrap_err();
    assert!(e.to_string().contains("VIEWER_HOST_HEADER"), "{e}");
}

#[tokio::test]
async fn a_tenant_key_bound_to_an_origin_reads_only_what_maps_to_it() {
    let a = TempDir::new("tenant-origin-a");
    a.write("t/k.png", &png(&canvas(30, 20, [255.0, 0.0, 0.0], &[])));
    a.write("u/k.png", &png(&canvas(30, 20, [255.0, 0.0, 0.0], &[])));
    let b = TempDir::new("tenant-origin-b");
    b.write("k.png", &png(&canvas(10, 40, [0.0, 0.0, 255.0], &[])));
    let origins = serde_json::json!({
        "a": {"dir": a.join("").display().to_string()},
        "b": {"dir": b.join("").display().to_string()},
    })
    .to_string();
    let mappings =
        r#"[{"path": "/b/", "origin": "b", "strip_prefix": true}, {"path": "/", "origin": "a"}]"#;
    let keys = r#"[{"id": "tenant", "secret": "s-tenant", "origin": "a", "prefix": "t/"},
                   {"id": "other", "secret": "s-other", "origin": "b"}]"#;
    let env = |name: &str| match name {
        "ORIGINS" => Some(origins.clone()),
        "MAPPINGS" => Some(mappings.to_string()),
        "ENABLE_SIGNATURE" => Some("Yes".to_string()),
        "SIGNATURE_KEYS" => Some(keys.to_string()),
        _ => None,
    };
    let config = image_handler::Config::from_lookup(env).unwrap();
    let router = build_router(config.routes.as_ref().unwrap()).await.unwrap();
    let handler = image_handler::Handler::routed(config, Arc::new(router)).unwrap();
    let server = Server::start_handler(handler).await;

    let status = |secret: &'static str, path: &'static str| {
        let server = &server;
        async move { server.get(&signed(secret, path)).await.status }
    };
    assert_eq!(status("s-tenant", "/t/k.png?format=png").await, 200);
    assert_eq!(
        status("s-tenant", "/u/k.png?format=png").await,
        403,
        "outside its prefix"
    );
    assert_eq!(
        status("s-tenant", "/b/k.png?format=png").await,
        403,
        "another origin"
    );
    assert_eq!(status("s-other", "/b/k.png?format=png").await, 200);
    assert_eq!(
        status("s-other", "/t/k.png?format=png").await,
        403,
        "another origin"
    );
    // An overlay is held to the same origin.
    assert_eq!(
        status("s-tenant", "/t/k.png?overlay=b/k.png&format=png").await,
        403
    );
    let reply = server
        .get(&signed("s-other", "/b/k.png?overlay=t/k.png"))
        .await;
    assert_eq!(reply.status, 403);
    assert!(reply.text().contains("origin b"), "{}", reply.text());

    // A key bound to an origin that ORIGINS does not define stops the start.
    let e = image_handler::Config::from_lookup(|name| match name {
        "SIGNATURE_KEYS" => Some(r#"[{"id": "x", "secret": "s", "origin": "nowhere"}]"#.into()),
        other => env(other),
    })
    .unwrap_err();
    assert!(e.to_string().contains("\"nowhere\""), "{e}");
}

// ---------------------------------------------------------------- an HTTPS origin under a private CA

/// Serves one HTTP/1.1 request on `stream`: `/assets/quad.png` with an
/// ETag, 304 to its `If-None-Match`, 404 otherwise; then closes.
async fn answer_one<S>(stream: &mut S, seen: &Seen)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let etag = "\"tls-v1\"";
    let response = if !head.starts_with("get /assets/quad.png ") {
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
    } else {
        seen.gets.fetch_add(1, Ordering::SeqCst);
        if head.contains(&format!("if-none-match: {etag}")) {
            seen.not_modified.fetch_add(1, Ordering::SeqCst);
            format!("HTTP/1.1 304 Not Modified\r\netag: {etag}\r\nconnection: close\r\n\r\n")
                .into_bytes()
        } else {
            let body = png(&quadrant());
            let mut r = format!(
                "HTTP/1.1 200 OK\r\netag: {etag}\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

/// An HTTPS server on 127.0.0.1 with the certificate of tests/fixtures/tls
/// (issued by that directory's test CA for `127.0.0.1` and `localhost`).
async fn https_site(seen: Arc<Seen>) -> std::net::SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => answer_one(&mut tls, &seen).await,
                    Err(_) => {
                        seen.tls_refused.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_https_origin_under_a_private_ca_serves_and_revalidates_with_304() {
    let seen = Arc::new(Seen::default());
    let addr = https_site(seen.clone()).await;
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
    let origins = serde_json::json!({
        "tls": {"http": format!("https://{addr}/assets/"), "allow_private": true, "ca": ca},
        "untrusted": {"http": format!("https://{addr}/assets/"), "allow_private": true},
    })
    .to_string();
    let mappings = r#"[{"path": "/tls/", "origin": "tls", "strip_prefix": true},
                       {"path": "/untrusted/", "origin": "untrusted", "strip_prefix": true}]"#;
    let routes = image_handler::origin::mapping::Routes::parse(&origins, Some(mappings)).unwrap();
    let router = build_router(&routes).await.unwrap();
    let config = image_handler::Config::from_lookup(|name| {
        (name == "AUTO_FORMAT").then(|| "No".to_string())
    })
    .unwrap();
    let handler = image_handler::Handler::routed(config, Arc::new(router)).unwrap();
    let server = Server::start_handler(handler).await;

    let first = server.get("/tls/quad.png?width=100&format=png").await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_size(&first.image("image/png"), 100, 50);
    let etag = first.header("etag").unwrap().to_string();
    // Revalidation: our ETag carries the origin's; the origin is asked with
    // If-None-Match, answers 304, and the transform is skipped.
    let again = server
        .get_with(
            "/tls/quad.png?width=100&format=png",
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(
        (
            seen.gets.load(Ordering::SeqCst),
            seen.not_modified.load(Ordering::SeqCst)
        ),
        (2, 1)
    );

    // Without the CA the certificate is not trusted: a 502, never the image.
    let refused = server.get("/untrusted/quad.png").await;
    assert_eq!(refused.status, 502, "{}", refused.text());
    assert_eq!(
        seen.gets.load(Ordering::SeqCst),
        2,
        "no request without trust"
    );
    assert!(seen.tls_refused.load(Ordering::SeqCst) >= 1);

    // A CA file that is missing or holds no certificate stops the start.
    for (path, want) in [
        ("/nonexistent/ca.pem", "the \"ca\" file"),
        ("Cargo.toml", "no PEM certificate"),
    ] {
        let routes = image_handler::origin::mapping::Routes::parse(
            &serde_json::json!({"x": {"http": "https://example.com/", "ca": path}}).to_string(),
            None,
        )
        .unwrap();
        let e = build_router(&routes).await.err().unwrap();
        assert!(e.contains("ORIGINS.x") && e.contains(want), "{e}");
    }
}

// ---------------------------------------------------------------- an S3-compatible store with keys of its own

/// A stand-in for an S3-compatible store (path-style `GET /<bucket>/<key>`):
/// answers `/store/a.png` and records each request's `Authorization`.
async fn s3_compatible_store(seen: Arc<Seen>) -> std::net::SocketAddr {
    async fn object(
        State(seen): State<Arc<Seen>>,
        headers: HeaderMap,
        uri: axum::http::Uri,
    ) -> impl IntoResponse {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        seen.authorization.lock().unwrap().push(auth);
        if uri.path() != "/store/a.png" {
            return (StatusCode::NOT_FOUND, [(header::ETAG, "\"x\"")], Vec::new());
        }
        (
            StatusCode::OK,
            [(header::ETAG, "\"store-v1\"")],
            png(&quadrant()),
        )
    }
    let app = axum::Router::new()
        .fallback(axum::routing::get(object))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn an_s3_compatible_origin_signs_with_its_own_keys_from_secrets_manager() {
    let moto = moto();
    let shared = moto.sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&shared);
    for (name, text) in [
        (
            "store-keys",
            r#"{"access_key_id": "STOREKEY", "secret_access_key": "store-secret"}"#,
        ),
        (
            "store-keys-bad",
            r#"{"user": "STOREKEY", "password": "hush-hush"}"#,
        ),
    ] {
        secrets
            .create_secret()
            .name(name)
            .secret_string(text)
            .send()
            .await
            .unwrap();
    }
    let seen = Arc::new(Seen::default());
    let store = s3_compatible_store(seen.clone()).await;
    let origins = serde_json::json!({
        "keyed": {"s3": "store", "endpoint": format!("http://{store}"), "region": "auto",
                  "credentials": "secret:store-keys"},
        "default": {"s3": "store", "endpoint": format!("http://{store}")},
    })
    .to_string();
    let mappings = r#"[{"path": "/k/", "origin": "keyed", "strip_prefix": true},
                       {"path": "/d/", "origin": "default", "strip_prefix": true}]"#;
    let routes = image_handler::origin::mapping::Routes::parse(&origins, Some(mappings)).unwrap();
    let s3 = image_handler::origin::S3Settings::default();
    let router = image_handler::origin::Router::build(&routes, &shared, 1 << 20, &s3)
        .await
        .unwrap();
    let source = |key: &str| Source {
        bucket: None,
        key: key.to_string(),
    };
    let Ok(Fetched::Full(original)) = router.fetch(&source("k/a.png"), None).await else {
        panic!("the keyed origin serves a.png")
    };
    assert_size(&decode(&original.bytes), 200, 100);
    router.fetch(&source("d/a.png"), None).await.unwrap();
    let auth = seen.authorization.lock().unwrap().clone();
    assert_eq!(auth.len(), 2, "{auth:?}");
    // SigV4 names the access key: the origin's own, then the default (moto's test keys).
    assert!(auth[0].contains("Credential=STOREKEY/"), "{}", auth[0]);
    assert!(
        auth[0].contains("/auto/s3/aws4_request"),
        "its own region: {}",
        auth[0]
    );
    assert!(auth[1].contains("Credential=test/"), "{}", auth[1]);

    // A secret of another shape stops the start, naming the origin, never its text.
    let bad = serde_json::json!({"x": {"s3": "store", "endpoint": format!("http://{store}"),
                                       "credentials": "secret:store-keys-bad"}})
    .to_string();
    let routes = image_handler::origin::mapping::Routes::parse(&bad, None).unwrap();
    let e = image_handler::origin::Router::build(&routes, &shared, 1 << 20, &s3)
        .await
        .err()
        .unwrap();
    assert!(
        e.contains("ORIGINS.x") && e.contains("access_key_id"),
        "{e}"
    );
    assert!(!e.contains("hush-hush"), "{e}");
    // `credentials` must name a secret.
    let e = image_handler::origin::mapping::Routes::parse(
        r#"{"x": {"s3": "b", "credentials": "AKIA..."}}"#,
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("secret:<id>"), "{e}");
    assert!(!e.to_string().contains("AKIA"), "{e}");
}
