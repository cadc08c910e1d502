//! The playground's page and API on a real server: every style it shows is
//! answered with the same image, srcset markup is the CLI's, signing is off
//! unless asked for and refused to foreign hosts, and the Lambda-free server
//! without a playground still treats `/` as an image request.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Server, TempDir, build_router, error_code};
use image_handler::origin::EmbeddedOrigin;
use image_handler::playground::{self, Options, Playground};
use image_handler::request::{Limits, Presets};
use image_handler::signature::{Keyring, SigningKey};
use image_handler::{Config, Handler};

async fn start(config: Config, options: Options) -> Server {
    start_handler(
        Handler::new(config, Arc::new(EmbeddedOrigin)).expect("handler"),
        options,
    )
    .await
}

async fn start_handler(handler: Handler, options: Options) -> Server {
    let listener = image_handler::serve::bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let playground = Playground::new(handler.clone(), options);
    tokio::spawn(image_handler::serve::run_with(
        listener,
        handler,
        Some(playground),
        std::future::pending(),
    ));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    Server { addr, client }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn urls(server: &Server, pairs: &[(&str, &str)]) -> serde_json::Value {
    let reply = server
        .get(&format!("/_playground/api/urls?{}", encode(pairs)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn style<'a>(answer: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    answer["styles"]
        .as_array()
        .expect("styles")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {answer}"))
}

#[tokio::test]
async fn the_page_its_assets_and_reserved_paths() {
    let server = start(Config::default(), Options::default()).await;
    let page = server.get("/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    let html = String::from_utf8(page.body.clone()).unwrap();
    for asset in ["_playground/app.js", "_playground/style.css"] {
        assert!(html.contains(asset), "{asset}");
        let reply = server.get(&format!("/{asset}")).await;
        assert_eq!(reply.status, 200, "{asset}");
        assert!(!reply.body.is_empty());
    }
    assert_eq!(
        server
            .get("/_playground/app.js")
            .await
            .header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let config = server.get("/_playground/config.json").await.json();
    assert_eq!(config["mode"], "serve");
    assert!(
        config["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == "dune.jpg")
    );
    assert_eq!(config["signing"]["required"], false);

    let missing = server.get("/_playground/nothing.jpg").await;
    assert_eq!(
        (missing.status, error_code(&missing).as_str()),
        (404, "NotFound")
    );
    let post = server.request(reqwest::Method::POST, "/", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let head = server.request(reqwest::Method::HEAD, "/", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    // images are still served beside it
    server
        .get("/dune.jpg?width=100&format=png")
        .await
        .image("image/png");

    // without a playground, `/` is an image request without a key, as before
    let plain = Server::start(Config::default(), Arc::new(EmbeddedOrigin)).await;
    let root = plain.get("/").await;
    assert_eq!(
        (root.status, error_code(&root).as_str()),
        (400, "MissingKey")
    );
}

/// Fetches every URL an answer shows and checks each gives the query URL's image.
async fn same_image_in_every_style(
    server: &Server,
    answer: &serde_json::Value,
    signed: bool,
) -> usize {
    let field = if signed { "signed" } else { "url" };
    let query = style(answer, "query")[field].as_str().unwrap().to_string();
    let reference = server.get(&query).await;
    assert_eq!(reference.status, 200, "{query}: {}", reference.text());
    let mime = reference.header("content-type").unwrap().to_string();
    let expected = common::decode(&reference.body);
    let mut checked = 0;
    for s in answer["styles"].as_array().unwrap() {
        let Some(url) = s[field].as_str() else {
            assert!(
                s["unavailable"].as_str().is_some_and(|r| !r.is_empty()),
                "{s}"
            );
            continue;
        };
        let reply = server.get(url).await;
        let image = reply.image(&mime);
        assert_eq!(
            (image.get_width(), image.get_height()),
            (expected.get_width(), expected.get_height()),
            "{url} vs {query}"
        );
        checked += 1;
    }
    checked
}

#[tokio::test]
async fn every_style_shown_gives_the_same_image() {
    let server = start(Config::default(), Options::default()).await;
    for (edits, styles) in [
        (&[("width", "300"), ("format", "webp")][..], 3),
        (
            &[
                ("width", "240"),
                ("height", "240"),
                ("position", "attention"),
                ("format", "png"),
            ][..],
            3,
        ),
        (
            &[
                ("width", "300"),
                ("height", "100"),
                ("fit", "contain"),
                ("background", "ff0000"),
                ("format", "jpeg"),
                ("quality", "60"),
            ][..],
            3,
        ),
        (
            &[
                ("height", "120"),
                ("flip", "true"),
                ("flop", "true"),
                ("grayscale", "true"),
                ("format", "png"),
            ][..],
            3,
        ),
        (
            &[
                ("width", "200"),
                ("blur", "2"),
                ("sharpen", "1.5"),
                ("format", "avif"),
            ][..],
            3,
        ),
        // thumbor rotates after resizing: only the query and base64 forms
        (
            &[("width", "200"), ("rotate", "90"), ("format", "png")][..],
            2,
        ),
        // a default request sets quality per format
        (
            &[("width", "200"), ("quality", "50"), ("format", "")][..],
            2,
        ),
        // thumbor has no entropy crop
        (
            &[
                ("width", "200"),
                ("height", "200"),
                ("position", "entropy"),
                ("format", "jpeg"),
            ][..],
            2,
        ),
    ] {
        let mut pairs = vec![("key", "ladybird.jpg")];
        pairs.extend_from_slice(edits);
        let answer = urls(&server, &pairs).await;
        assert!(style(&answer, "query")["signed"].is_null());
        assert_eq!(
            same_image_in_every_style(&server, &answer, false).await,
            styles,
            "{edits:?}: {answer}"
        );
    }
    let answer = urls(
        &server,
        &[("key", "dune.jpg"), ("rotate", "90"), ("width", "200")],
    )
    .await;
    let why = style(&answer, "thumbor")["unavailable"].as_str().unwrap();
    assert!(why.contains("after the size"), "{why}");
    let answer = urls(&server, &[("key", "dune.jpg"), ("quality", "50")]).await;
    let why = style(&answer, "base64")["unavailable"].as_str().unwrap();
    assert!(why.contains("choose a format"), "{why}");

    // bad input is a 400 naming what is wrong
    for (pairs, names) in [
        (&[("key", "dune.jpg"), ("width", "-3")][..], "width"),
        (&[("key", "dune.jpg"), ("widht", "3")][..], "widht"),
        (&[("width", "3")][..], "key"),
        (&[("key", "notes.txt")][..], "supported file type"),
    ] {
        let reply = server
            .get(&format!("/_playground/api/urls?{}", encode(pairs)))
            .await;
        assert_eq!(reply.status, 400, "{pairs:?}");
        assert!(
            reply.json()["message"].as_str().unwrap().contains(names),
            "{}",
            reply.text()
        );
    }
}

#[tokio::test]
async fn presets_are_offered_and_written() {
    let config = Config {
        presets: Presets::from_json(r#"{"thumb":"width=120&height=120"}"#, &Limits::default())
            .unwrap(),
        ..Config::default()
    };
    let server = start(config, Options::default()).await;
    let cfg = server.get("/_playground/config.json").await.json();
    assert_eq!(cfg["presets"], serde_json::json!(["thumb"]));
    let answer = urls(
        &server,
        &[("key", "dune.jpg"), ("preset", "thumb"), ("format", "png")],
    )
    .await;
    assert_eq!(same_image_in_every_style(&server, &answer, false).await, 3);
    let answer = urls(&server, &[("key", "dune.jpg"), ("preset", "thumb")]).await;
    assert_eq!(style(&answer, "thumbor")["url"], "/preset:thumb/dune.jpg");
}

#[tokio::test]
async fn the_original_and_srcset_follow_the_cli() {
    let server = start(Config::default(), Options::default()).await;
    let original = server
        .get("/_playground/api/original?key=alpha.png")
        .await
        .json();
    assert_eq!(original["alpha"], true);
    let view = server.get(original["url"].as_str().unwrap()).await;
    let image = view.image("image/png");
    assert_eq!(
        (image.get_width() as u64, image.get_height() as u64),
        (
            original["width"].as_u64().unwrap(),
            original["height"].as_u64().unwrap()
        )
    );
    let info = server.get(original["info"].as_str().unwrap()).await.json();
    assert_eq!(info["format"], "png");

    let pairs = [
        ("key", "dune.jpg"),
        ("widths", "320,640,4000"),
        ("sizes", "50vw"),
        ("loading", "lazy"),
        ("format", "webp"),
        ("quality", "70"),
        ("base", "http://127.0.0.1:9"),
    ];
    let reply = server
        .get(&format!("/_playground/api/srcset?{}", encode(&pairs)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();
    let html = answer["html"].as_str().unwrap();
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_image-handler"))
        .args([
            "srcset",
            "dune.jpg",
            "--widths",
            "320,640,4000",
            "--sizes",
            "50vw",
            "--format",
            "webp",
            "--quality",
            "70",
            "--base",
            "http://127.0.0.1:9",
        ])
        .env_remove("IMAGE_ORIGIN")
        .env_remove("IMAGE_BASE_URL")
        .output()
        .expect("run the CLI");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(html, String::from_utf8_lossy(&cli.stdout).trim_end());
    assert!(html.contains("1600w") && !html.contains("4000w"), "{html}");
    assert_eq!(answer["warnings"].as_array().unwrap().len(), 1, "{answer}");

    let bad = server
        .get("/_playground/api/srcset?key=dune.jpg&widths=10,x")
        .await;
    assert_eq!(bad.status, 400);
    let bad = server
        .get("/_playground/api/srcset?key=dune.jpg&width=10")
        .await;
    assert_eq!(bad.status, 400);
    let many: Vec<String> = (1..=33).map(|w| (w * 10).to_string()).collect();
    let bad = server
        .get(&format!(
            "/_playground/api/srcset?key=dune.jpg&widths={}",
            many.join(",")
        ))
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap()
            .contains("at most 32")
    );
    // client hints: one width=auto image and the page's delegation markup, as the CLI writes them
    let hinted = server
        .get("/_playground/api/srcset?key=dune.jpg&client_hints=yes&sizes=50vw&base=http%3A%2F%2F127.0.0.1%3A9")
        .await;
    assert_eq!(hinted.status, 200, "{}", hinted.text());
    let html = hinted.json()["html"].as_str().unwrap().to_string();
    assert!(
        html.contains(r#"src="http://127.0.0.1:9/dune.jpg?width=auto""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<meta http-equiv="Delegate-CH" content="sec-ch-dpr http://127.0.0.1:9; "#),
        "{html}"
    );
    assert!(
        html.contains(r#"ch-width=(self "http://127.0.0.1:9")"#),
        "{html}"
    );
    assert!(!html.contains("srcset="), "{html}");
}

fn signing_config() -> Config {
    Config {
        signing: Some(Keyring::new(vec![SigningKey::new("k1", "s3cret", None)]).unwrap()),
        ..Config::default()
    }
}

#[tokio::test]
async fn signing_is_off_unless_turned_on() {
    let server = start(signing_config(), Options::default()).await;
    let cfg = server.get("/_playground/config.json").await.json();
    assert_eq!(cfg["signing"]["required"], true);
    assert_eq!(cfg["signing"]["available"], false);
    assert!(
        cfg["signing"]["note"]
            .as_str()
            .unwrap()
            .contains("PLAYGROUND_SIGNING")
    );
    let refused = server
        .get("/_playground/api/urls?key=dune.jpg&width=100&sign=yes")
        .await;
    assert_eq!(
        (refused.status, error_code(&refused).as_str()),
        (403, "PlaygroundSigningRefused")
    );
    // unsigned URLs are shown, and the service refuses them
    let answer = urls(&server, &[("key", "dune.jpg"), ("width", "100")]).await;
    let unsigned = server.get(answer["preview"].as_str().unwrap()).await;
    assert_eq!(unsigned.status, 400);

    // without keys, turning the endpoint on signs nothing
    let server = start(Config::default(), Options { signing: true }).await;
    let refused = server
        .get("/_playground/api/urls?key=dune.jpg&sign=yes")
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("ENABLE_SIGNATURE")
    );
}

#[tokio::test]
async fn signed_urls_work_in_every_style() {
    let server = start(signing_config(), Options { signing: true }).await;
    let cfg = server.get("/_playground/config.json").await.json();
    assert_eq!(cfg["signing"]["available"], true);
    let answer = urls(
        &server,
        &[
            ("key", "flower.jpg"),
            ("width", "160"),
            ("format", "webp"),
            ("sign", "yes"),
            ("expires", "1h"),
        ],
    )
    .await;
    assert_eq!(same_image_in_every_style(&server, &answer, true).await, 3);
    assert!(answer["preview"].as_str().unwrap().contains("signature="));
    let original = server
        .get("/_playground/api/original?key=flower.jpg&sign=yes")
        .await
        .json();
    assert_eq!(
        server.get(original["url"].as_str().unwrap()).await.status,
        200
    );
    assert_eq!(
        server.get(original["info"].as_str().unwrap()).await.status,
        200
    );
    let srcset = server
        .get("/_playground/api/srcset?key=flower.jpg&widths=100,200&sign=yes")
        .await
        .json();
    assert!(srcset["html"].as_str().unwrap().contains("signature="));

    // a DNS-rebinding host or another site's page gets nothing signed
    for headers in [
        &[("host", "attacker.example")][..],
        &[("origin", "http://attacker.example")][..],
        &[("sec-fetch-site", "cross-site")][..],
    ] {
        let reply = server
            .get_with("/_playground/api/urls?key=flower.jpg&sign=yes", headers)
            .await;
        assert_eq!(reply.status, 403, "{headers:?}");
    }
}

#[test]
fn the_page_exports_as_static_files() {
    let dir = TempDir::new("playground-export");
    let config = Config {
        presets: Presets::from_json(r#"{"thumb":"width=120"}"#, &Limits::default()).unwrap(),
        limits: Limits {
            max_width: 2000,
            max_height: 1000,
        },
        ..Config::default()
    };
    let files = playground::export(
        &dir.path,
        "https://d111.cloudfront.net/",
        &["a.jpg".into()],
        &config,
    )
    .expect("export");
    assert_eq!(files.len(), 4);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("_playground/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["mode"], "static");
    assert_eq!(config["imageBase"], "https://d111.cloudfront.net");
    assert_eq!(config["keys"], serde_json::json!(["a.jpg"]));
    assert_eq!(config["presets"], serde_json::json!(["thumb"]));
    assert_eq!(
        config["limits"],
        serde_json::json!({"width": 2000, "height": 1000})
    );
    assert!(
        std::fs::read_to_string(dir.join("index.html"))
            .unwrap()
            .contains("_playground/app.js")
    );
    let e =
        playground::export(&dir.path, "d111.cloudfront.net", &[], &Config::default()).unwrap_err();
    assert!(e.contains("--image-base"), "{e}");
}

#[tokio::test]
async fn the_page_lists_the_origins_and_names_the_one_a_key_maps_to() {
    let dir = TempDir::new("playground-origins");
    std::fs::write(dir.join("plain.jpg"), common::sample("dune.jpg")).unwrap();
    let routes = image_handler::origin::mapping::Routes::parse(
        &serde_json::json!({
            "samples": {"dir": dir.join("").display().to_string()},
            "legacy": {"http": "https://img.example.com/assets/"},
        })
        .to_string(),
        Some(r#"[{"path": "/old/", "origin": "legacy", "strip_prefix": true}, {"path": "/", "origin": "samples"}]"#),
    )
    .unwrap();
    let router = build_router(&routes).await.unwrap();
    let handler = Handler::routed(Config::default(), Arc::new(router)).unwrap();
    let server = start_handler(handler, Options::default()).await;

    let cfg = server.get("/_playground/config.json").await.json();
    assert_eq!(
        cfg["origins"],
        serde_json::json!([
            {"name": "samples", "paths": ["/"]},
            {"name": "legacy", "paths": ["/old"]},
        ])
    );
    assert_eq!(cfg["keys"], serde_json::json!(["plain.jpg"]));
    let original = server
        .get("/_playground/api/original?key=plain.jpg")
        .await
        .json();
    assert_eq!(
        (&original["origin"], &original["fetched"]),
        (&"samples".into(), &"plain.jpg".into())
    );
    // A key mapped to the HTTP origin is never fetched here: no packet leaves
    // loopback. A name the guard would refuse is not needed; a path the
    // mappings refuse answers before any origin.
    let refused = server
        .get("/_playground/api/original?key=old/../x.jpg")
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.text().contains("'.' and '..'"),
        "{}",
        refused.text()
    );
}
