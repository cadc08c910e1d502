//! The HTTP origin against a real HTTP/1.1 server on loopback, started by
//! each test (raw tokio sockets, so bodies can be slow, cut or oversized).
//!
//! No test may reach another host even if the guard were broken: the
//! origin's test gate (after the guard) records every address about to be
//! connected to and refuses any that std does not call loopback, and
//! redirects point only at literals the guard must refuse. The tests assert
//! the gate saw no such address: the guard refused first.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::request::Source;

const SECRET: &str = "s3cr3t-token-value";
const LAST_MODIFIED: &str = "Wed, 21 Oct 2026 07:28:00 GMT";

/// One request the server saw.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
}

/// A loopback HTTP/1.1 server answering from a fixed route table.
struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(ip: Ipv4Addr) -> Server {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, log.clone(), addr));
            }
        });
        Server { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

/// The original most routes serve.
fn image() -> Vec<u8> {
    (0..100u8).collect()
}

async fn serve(mut stream: TcpStream, log: Arc<Mutex<Vec<Seen>>>, me: SocketAddr) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let seen = Seen { path, headers };
    let count = {
        let mut log = log.lock().unwrap();
        log.push(seen.clone());
        log.iter().filter(|s| s.path == seen.path).count()
    };
    respond(&mut stream, &seen, count, me).await;
    let _ = stream.shutdown().await;
}

/// Writes a response head (with `Connection: close`).
async fn head(stream: &mut TcpStream, status: &str, headers: &[(&str, String)]) {
    let mut text = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    let _ = stream.write_all(text.as_bytes()).await;
}

async fn full(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut headers = headers.to_vec();
    headers.push(("Content-Length", body.len().to_string()));
    head(stream, status, &headers).await;
    let _ = stream.write_all(body).await;
}

async fn redirect(stream: &mut TcpStream, location: String) {
    full(stream, "302 Found", &[("Location", location)], b"").await;
}

async fn respond(stream: &mut TcpStream, req: &Seen, count: usize, me: SocketAddr) {
    let h = |name: &str| req.headers.get(name).map(String::as_str);
    let path = req.path.as_str();
    let etag = ("ETag", "\"abc123\"".to_string());
    let lm = ("Last-Modified", LAST_MODIFIED.to_string());
    match path {
        "/img/a.jpg" => {
            let cc = ("Cache-Control", "public, max-age=60".to_string());
            if h("if-none-match") == Some("\"abc123\"") {
                return full(stream, "304 Not Modified", &[etag, cc], b"").await;
            }
            let ct = ("Content-Type", "image/jpeg".to_string());
            full(stream, "200 OK", &[etag, lm, cc, ct], &image()).await
        }
        "/img/weak.jpg" => {
            if h("if-none-match") == Some("\"w1\"") {
                return full(stream, "304 Not Modified", &[], b"").await;
            }
            full(stream, "200 OK", &[("ETag", "W/\"w1\"".into())], &image()).await
        }
        "/img/lm.jpg" => {
            if h("if-modified-since") == Some(LAST_MODIFIED) {
                return full(stream, "304 Not Modified", &[], b"").await;
            }
            full(stream, "200 OK", &[lm], &image()).await
        }
        "/img/noid.jpg" => full(stream, "200 OK", &[], &image()).await,
        "/img/slow-body.jpg" => {
            head(stream, "200 OK", &[("Content-Length", "100".into())]).await;
            for _ in 0..10 {
                let _ = stream.write_all(&[7u8; 10]).await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }
        "/img/slow-head.jpg" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            full(stream, "200 OK", &[], &image()).await
        }
        "/img/truncated.jpg" => {
            head(stream, "200 OK", &[("Content-Length", "100".into())]).await;
            let _ = stream.write_all(&[1u8; 50]).await;
        }
        "/img/big-stated.jpg" => {
            head(stream, "200 OK", &[("Content-Length", "5000".into())]).await;
            let _ = stream.write_all(&[1u8; 5000]).await;
        }
        "/img/big-unstated.jpg" => {
            head(stream, "200 OK", &[]).await;
            let _ = stream.write_all(&[1u8; 5000]).await;
        }
        "/img/big-chunked.jpg" => {
            head(stream, "200 OK", &[("Transfer-Encoding", "chunked".into())]).await;
            for _ in 0..10 {
                let _ = stream.write_all(b"1f4\r\n").await;
                let _ = stream.write_all(&[1u8; 500]).await;
                let _ = stream.write_all(b"\r\n").await;
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        }
        "/img/500.jpg" => full(stream, "500 Internal Server Error", &[], b"no").await,
        "/img/flaky.jpg" if count == 1 => full(stream, "503 Service Unavailable", &[], b"").await,
        "/img/flaky.jpg" => full(stream, "200 OK", &[etag], &image()).await,
        "/img/reset.jpg" if count == 1 => {} // closed without an answer
        "/img/reset.jpg" => full(stream, "200 OK", &[etag], &image()).await,
        "/img/429.jpg" => full(stream, "429 Too Many Requests", &[], b"").await,
        "/img/missing.jpg" => full(stream, "404 Not Found", &[], b"").await,
        "/img/gone.jpg" => full(stream, "410 Gone", &[], b"").await,
        "/img/forbidden.jpg" => full(stream, "403 Forbidden", &[], b"").await,
        "/img/teapot.jpg" => full(stream, "418 I'm a teapot", &[], b"").await,
        "/img/304.jpg" => full(stream, "304 Not Modified", &[], b"").await,
        "/img/relative.jpg" => redirect(stream, "a.jpg".into()).await,
        "/img/absolute.jpg" => redirect(stream, format!("http://{me}/img/a.jpg")).await,
        "/img/to-ftp.jpg" => redirect(stream, format!("ftp://{me}/img/a.jpg")).await,
        "/img/no-location.jpg" => full(stream, "302 Found", &[], b"").await,
        _ => {
            if let Some(n) = path
                .strip_prefix("/img/hops/")
                .and_then(|p| p.strip_suffix(".jpg"))
                .and_then(|n| n.parse::<u32>().ok())
            {
                return match n {
                    0 => full(stream, "200 OK", &[etag], &image()).await,
                    n => redirect(stream, format!("/img/hops/{}.jpg", n - 1)).await,
                };
            }
            // /img/to/<authority>/<rest>: a redirect to http://<authority>/<rest>
            // (the key's ':' and '[' arrive encoded)
            let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
            let path = decoded.as_ref();
            if let Some(rest) = path.strip_prefix("/img/to/") {
                return redirect(stream, format!("http://{rest}")).await;
            }
            if let Some(rest) = path.strip_prefix("/img/to-https/") {
                return redirect(stream, format!("https://{rest}")).await;
            }
            if path.starts_with("/img/echo/") {
                return full(stream, "200 OK", &[], b"echo").await;
            }
            full(stream, "404 Not Found", &[], b"").await
        }
    }
}

/// The addresses the gate saw (every one the guard let through).
type Attempts = Arc<Mutex<Vec<IpAddr>>>;

fn settings(base: &str) -> HttpSettings {
    HttpSettings {
        base: Url::parse(base).unwrap(),
        headers: vec![(
            HeaderName::from_static("x-origin-auth"),
            HeaderValue::from_static(SECRET),
        )],
        allow_private: false,
        max_bytes: 1000,
        pass_cache_control: true,
        timeouts: HttpTimeouts {
            connect: Duration::from_secs(1),
            answer: Duration::from_millis(800),
            total: Duration::from_secs(3),
            max_attempts: 3,
        },
        ca_pem: None,
    }
}

/// An origin whose gate records every address and refuses all but loopback
/// (by std's own test, not the guard's).
fn gated(settings: HttpSettings, exempt: Option<IpAddr>) -> (HttpOrigin, Attempts) {
    let attempts: Attempts = Arc::default();
    let seen = attempts.clone();
    let gate: Gate = Arc::new(move |ip: IpAddr| {
        seen.lock().unwrap().push(ip);
        ip.is_loopback()
    });
    (
        HttpOrigin::with_hooks(settings, exempt, gate).unwrap(),
        attempts,
    )
}

/// The origin for `server`'s `/img/` with the server's address exempt from
/// the guard (so the guard, not allowed private, judges every other hop).
fn origin_for(server: &Server) -> (HttpOrigin, Attempts) {
    gated(settings(&server.url("/img/")), Some(server.addr.ip()))
}

fn src(key: &str) -> Source {
    Source {
        bucket: None,
        key: key.to_string(),
    }
}

/// Every reservation made.
#[derive(Default)]
struct Recorder(Mutex<Vec<u64>>);

impl Reserve for Recorder {
    fn reserve<'a>(&'a self, _key: &'a str, bytes: u64) -> crate::budget::ReserveFuture<'a> {
        self.0.lock().unwrap().push(bytes);
        Box::pin(async { Ok(()) })
    }
}

fn full_original(fetched: Result<Fetched>) -> Original {
    match fetched {
        Ok(Fetched::Full(original)) => original,
        other => panic!("a full fetch, got {other:?}"),
    }
}

/// No error, log detail or debug output carries the secret header value.
fn assert_no_secret(e: &Error) {
    for text in [
        e.to_string(),
        format!("{e:?}"),
        e.detail().unwrap_or("").to_string(),
    ] {
        assert!(!text.contains(SECRET), "the secret leaked: {text}");
    }
}

#[tokio::test]
async fn fetches_with_etag_revalidates_with_304_and_passes_cache_control() {
    let server = Server::start(Ipv4Addr::LOCALHOST).await;
    let (origin, attempts) = origin_for(&server);
    let reserve = Recorder::default();
    let got = full_original(
        origin
            .fetch_reserving(Ask {
                source: &src("a.jpg"),
                known: None,
                reserve: &reserve,
            })
            .await,
    );
    assert_eq!(&got.bytes[..], &image()[..]);
    assert_eq!(got.meta.identity, "abc123");
    assert_eq!(got.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(
        got.meta.cache_control.as_deref(),
        Some("public, max-age=60")
    );
    assert_eq!(
        got.meta.last_modified,
        httpdate::parse_http_date(LAST_MODIFIED).ok()
    );
    assert_eq!(
        *reserve.0.lock().unwrap(),
        vec![100],
        "Content-Length reserved first"
    );
    // the identity the client holds goes back as If-None-Match: 304, nothing reserved
    let reserve = Recorder::default();
    match origin
        .fetch_reserving(Ask {
            source: &src("a.jpg"),
            known: Some("abc123"),
            reserve: &reserve,
        })
        .await
    {
        Ok(Fetched::Unchanged(meta)) => {
            assert_eq!(meta.identity, "abc123");
            assert_eq!(meta.cache_control.as_deref(), Some("public, max-age=60"));
        }
        other => panic!("304 expected: {other:?}"),
    }
    assert!(reserve.0.lock().unwrap().is_empty());
    // another identity: the full original again
    full_original(origin.fetch(&src("a.jpg"), Some("old")).await);
    let seen = server.seen();
    assert_eq!(
        seen[1].headers.get("if-none-match").map(String::as_str),
        Some("\"abc123\"")
    );
    assert!(
        seen.iter()
            .all(|s| s.headers.get("x-origin-auth").map(String::as_str) == Some(SECRET))
    );
    assert!(attempts.lock().unwrap().iter().all(IpAddr::is_loopback));
    // without cache_control "pass", the origin's Cache-Control is not kept
    let mut s = settings(&server.url("/img/"));
    s.pass_cache_control = false;
    let (plain, _) = gated(s, Some(server.addr.ip()));
    let got = full_original(plain.fetch(&src("a.jpg"), None).await);
    assert_eq!(got.meta.cache_control, None);
    assert!(!format!("{plain:?}").contains(SECRET));
}

#[tokio::test]
async fn weak_etags_last_modified_and_bare_bodies_have_identities() {
    let server = Server::start(Ipv4Addr::LOCALHOST).await;
    let (origin, _) = origin_for(&server);
    let weak = full_original(origin.fetch(&src("weak.jpg"), None).await);
    assert_eq!(weak.meta.identity, "w1");
    assert!(matches!(
        origin.fetch(&src("weak.jpg"), Some("w1")).await,
        Ok(Fetched::Unchanged(_))
    ));
    let lm = full_original(origin.fetch(&src("lm.jpg"), None).await);
    assert!(lm.meta.identity.starts_with("lm-"), "{}", lm.meta.identity);
    assert!(matches!(
        origin.fetch(&src("lm.jpg"), Some(&lm.meta.identity)).await,
        Ok(Fetched::Unchanged(m)) if m.identity == lm.meta.identity
    ));
    let bare = full_original(origin.fetch(&src("noid.jpg"), None).await);
    assert_eq!(bare.meta.identity.len(), 25);
    assert_eq!(
        bare.meta.identity,
        super::super::identity_token(&bare.meta.identity)
    );
    // same bytes: unchanged (the transform is skipped, the transfer was not)
    assert!(matches!(
        origin
            .fetch(&src("noid.jpg"), Some(&bare.meta.identity))
            .await,
        Ok(Fetched::Unchanged(_))
    ));
    let seen = server.seen();
    let last_noid = seen.iter().rfind(|s| s.path == "/img/noid.jpg").unwrap();
    assert!(!last_noid.headers.contains_key("if-none-match"));
    // a 304 to an unconditional request is the origin's fault
    assert!(matches!(
        origin.fetch(&src("304.jpg"), None).await,
        Err(Error::Origin { .. })
    ));
}

#[tokio::test]
async fn status_mapping_and_bounded_retries() {
    let server = Server::start(Ipv4Addr::LOCALHOST).await;
    let (origin, _) = origin_for(&server);
    for key in ["missing.jpg", "gone.jpg", "forbidden.jpg"] {
        let e = origin.fetch(&src(key), None).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{key}: {e:?}");
        assert_eq!(e.code(), "NoSuchKey");
        assert_eq!(
            server.count(&format!("/img/{key}")),
            1,
            "{key} is not retried"
        );
    }
    let e = origin.fetch(&src("500.jpg"), None).await.unwrap_err();
    assert_eq!((e.status().as_u16(), e.code()), (502, "OriginError"));
    assert_eq!(server.count("/img/500.jpg"), 3, "three attempts in all");
    assert_no_secret(&e);
    let e = origin.fetch(&src("429.jpg"), None).await.unwrap_err();
    assert_eq!((e.status().as_u16(), e.code()), (503, "OriginUnavailable"));
    let e = origin.fetch(&src("teapot.jpg"), None).await.unwrap_err();
    assert_eq!(e.status().as_u16(), 502);
    assert_eq!(server.count("/img/teapot.jpg"), 1);
    // a 503, then the image; a connection closed unanswered, then the image
    full_original(origin.fetch(&src("flaky.jpg"), None).await);
    assert_eq!(server.count("/img/flaky.jpg"), 2);
    full_original(origin.fetch(&src("reset.jpg"), None).await);
    assert_eq!(server.count("/img/reset.jpg"), 2);
    // a body cut short is retried, then 502
    let e = origin.fetch(&src("truncated.jpg"), None).await.unwrap_err();
    assert_eq!(e.status().as_u16(), 502, "{e:?}");
    assert_eq!(server.count("/img/truncated.jpg"), 3);
    // a bucket means nothing to an HTTP origin
    let with_bucket = Source {
        bucket: Some("b".into()),
        key: "a.jpg".into(),
    };
    assert!(matches!(
        origin.fetch(&with_bucket, None).await,
        Err(Error::BucketNotAllowed(_))
    ));
}

#[tokio::test]
async fn a_refused_connection_is_502_and_timeouts_are_504() {
    // a port nobody listens on
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let (origin, _) = gated(settings(&format!("http://{addr}/")), Some(addr.ip()));
    let e = origin.fetch(&src("a.jpg"), None).await.unwrap_err();
    assert_eq!(e.status().as_u16(), 502, "{e:?}");

    let server = Server::start(Ipv4Addr::LOCALHOST).await;
    let (origin, _) = origin_for(&server);
    let started = std::time::Instant::now();
    let e = origin.fetch(&src("slow-head.jpg"), None).await.unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (504, "OriginTimeout"),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(3500));
    let started = std::time::Instant::now();
    let e = origin.fetch(&src("slow-body.jpg"), None).await.unwrap_err();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (504, "OriginTimeout"),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "the total bound holds"
    );
}

#[tokio::test]
async fn oversized_bodies_are_413_with_and_without_content_length() {
    let server = Server::start(Ipv4Addr::LOCALHOST).await;
    let (origin, _) = origin_for(&server);
    let reserve = Recorder::default();
    let e = origin
        .fetch_reserving(Ask {
            source: &src("big-stated.jpg"),
            known: None,
            reserve: &reserve,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::SourceTooLarge {
                size: 5000,
                limit: 1000,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        reserve.0.lock().unwrap().is_empty(),
        "refused before reserving"
    );
    for key in ["big-unstated.jpg", "big-chunked.jpg"] {
        let reserve = Recorder::default();
        let e = origin
            .fetch_reserving(Ask {
                source: &src(key),
                known: None,
                reserve: &reserve,
            })
            .await
            .unwrap_err();
        match e {
            Error::SourceTooLarge { size, limit, .. } => {
                assert_eq!(limit, 1000);
                assert!(size > 1000 && size <= 1000 + 5000, "{key}: {size}");
            }
            e => panic!("{key}: {e:?}"),
        }
        assert_eq!(e_status(&origin, key).await, 413);
        assert_eq!(
            *reserve.0.lock().unwrap(),
            vec![1000],
            "{key}: the limit is reserved"
        );
        assert_eq!(
            server.count(&format!("/img/{key}")),
            2,
            "{key}: not retried"
        );
    }
}

async fn e_status(origin: &HttpOrigin, key: &str) -> u16 {
    origin
        .fetch(&src(key), None)
        .await
        .unwrap_err()
        .status()
        .as_u16()
}

#[tokio::test]
async fn redirects_are_followed_at_most_three_times() {
    let server = Server::start(Ipv4Addr::LOCALHOST).await;
    let (origin, _) = origin_for(&server);
    full_original(origin.fetch(&src("relative.jpg"), None).await);
    full_original(origin.fetch(&src("absolute.jpg"), None).await);
    full_original(origin.fetch(&src("hops/3.jpg"), None).await);
    let e = origin.fetch(&src("hops/4.jpg"), None).await.unwrap_err();
    assert_eq!(e.status().as_u16(), 502);
    assert!(
        e.detail().unwrap().contains("more than 3 redirects"),
        "{e:?}"
    );
    assert_eq!(
        server.count("/img/hops/0.jpg"),
        1,
        "the 4th hop was not followed"
    );
    for key in ["to-ftp.jpg", "no-location.jpg"] {
        let e = origin.fetch(&src(key), None).await.unwrap_err();
        assert_eq!(e.status().as_u16(), 502, "{key}");
    }
}

#[tokio::test]
async fn secret_headers_go_only_to_the_base_origin() {
    let base = Server::start(Ipv4Addr::LOCALHOST).await;
    let other = Server::start(Ipv4Addr::LOCALHOST).await;
    let (origin, _) = origin_for(&base);
    let key = format!("to/{}/img/a.jpg", other.addr);
    full_original(origin.fetch(&src(&key), None).await);
    let first = &base.seen()[0];
    assert_eq!(
        first.headers.get("x-origin-auth").map(String::as_str),
        Some(SECRET)
    );
    let hop = &other.seen()[0];
    assert_eq!(hop.path, "/img/a.jpg");
    assert!(!hop.headers.contains_key("x-origin-auth"), "{hop:?}");
}

/// Redirects from the (exempt) loopback test server to addresses the guard
/// must refuse: refused before any connection is attempted.
#[tokio::test]
async fn redirects_to_refused_addresses_are_refused_before_connecting() {
    let server = Server::start(Ipv4Addr::LOCALHOST).await;
    let port = server.addr.port();
    let cases: Vec<(String, &str)> = vec![
        ("10.0.0.1".into(), "private"),
        ("169.254.169.254".into(), "link-local"),
        ("0251.0376.0251.0376".into(), "link-local"), // octal 169.254.169.254
        ("2852039166".into(), "link-local"),          // decimal 169.254.169.254
        (
            "[::ffff:169.254.169.254]".into(),
            "link-local (IPv4-mapped IPv6)",
        ),
        (
            "[::ffff:a00:1]".into(),
            "private RFC 1918 (IPv4-mapped IPv6)",
        ),
        ("[64:ff9b::a9fe:a9fe]".into(), "NAT64"),
        ("[::169.254.169.254]".into(), "IPv4-compatible"),
        ("[2002:a9fe:a9fe::1]".into(), "6to4"),
        ("100.64.0.1".into(), "CGNAT"),
        ("192.168.0.1".into(), "private"),
        ("172.16.0.1".into(), "private"),
        ("[fd00:ec2::254]".into(), "unique-local"),
        ("[fe80::1]".into(), "link-local"),
        ("0.0.0.0".into(), "this-network"),
        ("224.0.0.1".into(), "multicast"),
        ("255.255.255.255".into(), "broadcast"),
        ("240.0.0.1".into(), "reserved"),
        (format!("127.0.0.2:{port}"), "loopback"),
        (format!("0x7f.0.0.2:{port}"), "loopback"),
        (format!("[::1]:{port}"), "loopback"),
        (format!("localhost:{port}"), "loopback"), // a name: the resolver's check (base too)
    ];
    for (target, class) in cases {
        // localhost resolves to the exempt 127.0.0.1: judge it without exemption
        let (origin, attempts) = if target.starts_with("localhost") {
            let mut s = settings(&server.url("/img/"));
            s.base = Url::parse(&format!("http://localhost:{port}/img/")).unwrap();
            gated(s, None)
        } else {
            origin_for(&server)
        };
        let key = format!("to/{target}/latest/meta-data.jpg");
        let e = origin.fetch(&src(&key), None).await.unwrap_err();
        assert!(
            matches!(&e, Error::OriginRefused { class: c, .. } if c.contains(class)),
            "{target}: {e:?}"
        );
        assert_eq!((e.status().as_u16(), e.code()), (502, "OriginRefused"));
        assert!(
            e.to_string().contains(class),
            "{target}: the message names the class: {e}"
        );
        assert_no_secret(&e);
        let tried = attempts.lock().unwrap().clone();
        assert!(
            tried.iter().all(|ip| *ip == server.addr.ip()),
            "{target}: only the test server was let through: {tried:?}"
        );
    }
    // https redirects are judged the same way
    let (origin, attempts) = origin_for(&server);
    let e = origin
        .fetch(&src("to-https/169.254.169.254/x.jpg"), None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "OriginRefused", "{e:?}");
    assert!(
        attempts
            .lock()
            .unwrap()
            .iter()
            .all(|ip| *ip == server.addr.ip())
    );
}

/// Fetching from `base` without `allow_private` is refused as loopback, before connecting.
async fn refused_as_loopback(base: &str) {
    let (origin, attempts) = gated(settings(base), None);
    let e = origin.fetch(&src("a.jpg"), None).await.unwrap_err();
    assert!(
        matches!(&e, Error::OriginRefused { class, .. } if class.starts_with("loopback")),
        "{base}: {e:?}"
    );
    assert!(
        attempts.lock().unwrap().is_empty(),
        "{base}: refused before connecting"
    );
}

#[tokio::test]
async fn loopback_is_refused_without_allow_private_and_fetched_with_it() {
    let one = Server::start(Ipv4Addr::LOCALHOST).await;
    let two = Server::start(Ipv4Addr::new(127, 0, 0, 2)).await;
    // refused only: std's gate does not call ::ffff:127.0.0.1 loopback
    for base in [
        format!("http://[::ffff:127.0.0.1]:{}/img/", one.addr.port()),
        format!("http://[::1]:{}/img/", one.addr.port()),
        format!("http://2130706433:{}/img/", one.addr.port()),
    ] {
        refused_as_loopback(&base).await;
    }
    let bases = [
        two.url("/img/"),
        format!("http://localhost:{}/img/", one.addr.port()),
    ];
    for base in &bases {
        refused_as_loopback(base).await;
        let mut s = settings(base);
        s.allow_private = true;
        let (origin, attempts) = gated(s, None);
        let got = full_original(origin.fetch(&src("a.jpg"), None).await);
        assert_eq!(&got.bytes[..], &image()[..], "{base}");
        assert!(!attempts.lock().unwrap().is_empty());
    }
    assert_eq!(one.count("/img/a.jpg"), 1);
    assert_eq!(two.count("/img/a.jpg"), 1);
    // even allowed private networks, no server lives at 0.0.0.0
    let mut s = settings(&format!("http://0.0.0.0:{}/img/", one.addr.port()));
    s.allow_private = true;
    let (origin, attempts) = gated(s, None);
    let e = origin.fetch(&src("a.jpg"), None).await.unwrap_err();
    assert_eq!(e.code(), "OriginRefused", "{e:?}");
    assert!(attempts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn keys_reach_the_server_as_encoded_path_segments() {
    let server = Server::start(Ipv4Addr::LOCALHOST).await;
    let (origin, _) = origin_for(&server);
    for (key, path) in [
        ("echo/a b.jpg", "/img/echo/a%20b.jpg"),
        ("echo/猫.png", "/img/echo/%E7%8C%AB.png"),
        ("echo/a?b=1#c.jpg", "/img/echo/a%3Fb%3D1%23c.jpg"),
        (
            "echo/user@evil.com:80/x.jpg",
            "/img/echo/user%40evil.com%3A80/x.jpg",
        ),
        ("echo/%2e%2e.jpg", "/img/echo/%252e%252e.jpg"),
        ("echo/...", "/img/echo/..."),
    ] {
        full_original(origin.fetch(&src(key), None).await);
        assert_eq!(server.seen().last().unwrap().path, path, "{key}");
    }
}

/// What a name resolves to is filtered, not trusted: a rebinding answer
/// that mixes public and refused addresses keeps only the public ones, and
/// one with none left is refused naming the first class. (Pure: the
/// addresses are given, nothing is resolved or connected to.)
#[test]
fn resolved_addresses_are_filtered_by_the_guard() {
    let resolver = GuardedResolver {
        allow_private: false,
        hooks: Hooks::default(),
    };
    let addr = |s: &str| SocketAddr::new(s.parse().unwrap(), 0);
    let mixed = [
        addr("10.0.0.1"),
        addr("93.184.215.14"),
        addr("::ffff:169.254.169.254"),
        addr("2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
        addr("127.0.0.1"),
        addr("fd00:ec2::254"),
    ];
    assert_eq!(
        resolver.filter("rebind.example", mixed).unwrap(),
        vec![
            addr("93.184.215.14"),
            addr("2606:2800:21f:cb07:6820:80da:af6b:8b2c")
        ]
    );
    let e = resolver
        .filter("rebind.example", [addr("169.254.169.254"), addr("::1")])
        .unwrap_err();
    let refused = e.downcast_ref::<Refused>().expect("a Refused");
    assert_eq!(refused.verdict.class, guard::Class::LinkLocal);
    assert!(
        e.to_string()
            .contains("rebind.example resolves to 169.254.169.254, link-local"),
        "{e}"
    );
    assert!(resolver.filter("empty.example", []).is_err());
    // allowed private networks keep loopback, never the unspecified address
    let open = GuardedResolver {
        allow_private: true,
        hooks: Hooks::default(),
    };
    assert_eq!(
        open.filter(
            "dev.example",
            [addr("0.0.0.0"), addr("127.0.0.1"), addr("ff02::1")]
        )
        .unwrap(),
        vec![addr("127.0.0.1")]
    );
}

#[test]
fn base_urls_are_checked() {
    for bad in [
        "ftp://example.com/",
        "file:///etc/",
        "https://user:pass@example.com/",
        "https://example.com/?a=1",
        "https://example.com/#x",
        "data:text/plain,hi",
    ] {
        assert!(checked_base(&Url::parse(bad).unwrap()).is_err(), "{bad}");
    }
    let base = checked_base(&Url::parse("https://img.example.com/assets").unwrap()).unwrap();
    assert_eq!(base.as_str(), "https://img.example.com/assets/");
}

/// A generated attack on the key: every key is refused or stays below the
/// base, and its segments decode back to the key's.
#[test]
fn hostile_keys_never_leave_the_base() {
    const PIECES: &[&str] = &[
        "..",
        ".",
        "%2e",
        "%2E",
        "%2e%2e",
        "%2f",
        "%2F",
        "%5c",
        "/",
        "//",
        "\\",
        "@",
        "?",
        "#",
        ":",
        "http:",
        "//evil.com",
        "evil.com",
        "a",
        "é",
        "\u{0}",
        "\n",
        "\r",
        "\t",
        "%",
        " ",
        "[",
        "]",
        "%00",
        ";",
        "~",
        "..%2f",
        "\u{202e}",
        "\u{7f}",
        "%u002e",
        "．．",
        "\u{ff0f}",
        "x.jpg",
        "&",
        "=",
        "+",
        "'",
        "\"",
        "<",
        ">",
        "|",
        "`",
        "^",
        "{",
        "}",
    ];
    let bases = [
        "http://127.0.0.1:9/assets/",
        "https://img.example.com/a/b/",
        "https://img.example.com",
        "http://[::1]:8080/x/",
    ];
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accepted = 0;
    for base in bases {
        let base = checked_base(&Url::parse(base).unwrap()).unwrap();
        for _ in 0..20_000 {
            let n = 1 + next() % 6;
            let key: String = (0..n)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            match key_url(&base, &key) {
                Err(Error::InvalidKey { .. }) => {}
                Err(e) => panic!("{key:?}: {e:?}"),
                Ok(url) => {
                    accepted += 1;
                    let again = Url::parse(url.as_str()).unwrap();
                    assert_eq!(again, url, "{key:?}: stable");
                    assert_eq!(url.scheme(), base.scheme(), "{key:?}");
                    assert_eq!(url.host(), base.host(), "{key:?}");
                    assert_eq!(url.port(), base.port(), "{key:?}");
                    assert!(url.query().is_none() && url.fragment().is_none(), "{key:?}");
                    let rest = url
                        .path()
                        .strip_prefix(base.path())
                        .expect("below the base");
                    let segments: Vec<String> = rest
                        .split('/')
                        .map(|s| {
                            percent_encoding::percent_decode_str(s)
                                .decode_utf8()
                                .unwrap()
                                .to_string()
                        })
                        .collect();
                    assert_eq!(segments.join("/"), key, "{key:?}: segments round-trip");
                    for s in rest.split('/') {
                        assert!(s != "." && s != ".." && !s.is_empty(), "{key:?}: {url}");
                        assert!(!s.contains(['\\', '?', '#', '@', ':']), "{key:?}: {url}");
                    }
                }
            }
        }
    }
    assert!(
        accepted > 10_000,
        "the generator must produce usable keys too: {accepted}"
    );
    for refused in [
        "",
        "/a.jpg",
        "a//b.jpg",
        "../a.jpg",
        "a/./b",
        "%2e%2e/a",
        "a/%2E",
        "a\\b",
        "a\u{0}b",
        "a\nb",
        "a%2fb/.jpg",
    ] {
        assert!(
            matches!(
                key_url(&bases_first(), refused),
                Err(Error::InvalidKey { .. })
            ),
            "{refused:?}"
        );
    }
}

fn bases_first() -> Url {
    checked_base(&Url::parse("https://img.example.com/assets/").unwrap()).unwrap()
}
