//! Faults of the origin and of Secrets Manager, through a fault-injecting
//! proxy in front of moto's real server: 500 and 503 (SlowDown) answers,
//! bodies that trickle in, bodies cut short, stalls and connection resets.
//!
//! What must hold: the client gets 502/503/504 JSON with `Cache-Control:
//! no-store` (never the image's year-long lifetime); a GET is retried where
//! that is safe, so one transient failure still gives the image (the proxy
//! counts the attempts); a truncated original is never answered 200; and a
//! Secrets Manager that fails keeps signed URLs refused (fails closed).

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use image_handler::Config;
use image_handler::keys::{Keys, SecretsManagerKeys};
use image_handler::origin::{S3Origin, S3Settings, S3Timeouts};
use image_handler::request::Source;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------- the proxy

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Forward to moto and return its answer.
    Pass,
    /// Answer this status with an S3 error body: 500 `InternalError`, 503 `SlowDown`.
    Status(u16),
    /// Forward, then send the body in ten pieces spread over this long.
    SlowBody(Duration),
    /// Forward, then send the head (with the full `Content-Length`) and half the body, and close.
    Truncate,
    /// Read the request and answer nothing, until the client gives up.
    Stall,
    /// Read the request, then reset the connection (RST).
    Reset,
}

/// A loopback HTTP/1.1 proxy to moto that misbehaves on request.
struct FaultProxy {
    addr: SocketAddr,
    /// Faults for the next requests, in order; then `otherwise`.
    plan: Arc<Mutex<VecDeque<Fault>>>,
    otherwise: Arc<Mutex<Fault>>,
    requests: Arc<AtomicUsize>,
}

impl FaultProxy {
    async fn start() -> FaultProxy {
        let upstream: SocketAddr = moto()
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("moto address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let proxy = FaultProxy {
            addr: listener.local_addr().unwrap(),
            plan: Arc::default(),
            otherwise: Arc::new(Mutex::new(Fault::Pass)),
            requests: Arc::default(),
        };
        let (plan, otherwise, requests) = (
            proxy.plan.clone(),
            proxy.otherwise.clone(),
            proxy.requests.clone(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (plan, otherwise, requests) =
                    (plan.clone(), otherwise.clone(), requests.clone());
                tokio::spawn(async move {
                    let _ = serve(client, upstream, plan, otherwise, requests).await;
                });
            }
        });
        proxy
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next requests get these faults, then `otherwise` (counts restart at 0).
    fn set(&self, plan: &[Fault], otherwise: Fault) {
        *self.plan.lock().unwrap() = plan.iter().copied().collect();
        *self.otherwise.lock().unwrap() = otherwise;
        self.requests.store(0, Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// One request per connection: read it, apply the fault, close.
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    otherwise: Arc<Mutex<Fault>>,
    requests: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut client).await? else {
        return Ok(());
    };
    requests.fetch_add(1, Ordering::SeqCst);
    let fault = plan
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(*otherwise.lock().unwrap());
    match fault {
        Fault::Status(status) => {
            let (code, reason) = match status {
                503 => ("SlowDown", "Please reduce your request rate."),
                _ => (
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                ),
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{reason}</Message><RequestId>fault</RequestId></Error>"
            );
            let head = format!(
                "HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes()).await?;
            client.write_all(body.as_bytes()).await?;
        }
        Fault::Stall => {
            // Hold the connection until the client closes it (or a minute).
            let mut sink = [0u8; 256];
            let _ = tokio::time::timeout(Duration::from_secs(60), client.read(&mut sink)).await;
        }
        Fault::Reset => {
            // A zero linger makes the close an RST; with zero it does not block.
            #[allow(deprecated)]
            client.set_linger(Some(Duration::ZERO))?;
            drop(client);
        }
        Fault::Pass | Fault::SlowBody(_) | Fault::Truncate => {
            let (head, body) = forward(upstream, &request).await?;
            match fault {
                Fault::Truncate => {
                    assert!(
                        head.to_ascii_lowercase().contains("content-length"),
                        "moto answers with a length"
                    );
                    client.write_all(head.as_bytes()).await?;
                    client.write_all(&body[..body.len() / 2]).await?;
                    client.flush().await?;
                }
                Fault::SlowBody(over) => {
                    client.write_all(head.as_bytes()).await?;
                    let piece = body.len().div_ceil(10).max(1);
                    for chunk in body.chunks(piece) {
                        tokio::time::sleep(over / 10).await;
                        client.write_all(chunk).await?;
                        client.flush().await?;
                    }
                }
                _ => {
                    client.write_all(head.as_bytes()).await?;
                    client.write_all(&body).await?;
                }
            }
        }
    }
    Ok(())
}

/// The request head and body (by `Content-Length`), or `None` if the client went away.
async fn read_request(client: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let length = content_length(&String::from_utf8_lossy(&raw[..end]));
    while raw.len() < end + length {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(&buf[..n]);
    }
    Ok(Some(raw))
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Sends the request to moto with `Connection: close`, returns its response
/// head (with `Connection: close`) and body.
async fn forward(upstream: SocketAddr, request: &[u8]) -> std::io::Result<(String, Vec<u8>)> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&request[..end - 4]).into_owned();
    let mut out: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str("Connection: close\r\n\r\n");
    let mut moto = TcpStream::connect(upstream).await?;
    moto.write_all(out.as_bytes()).await?;
    moto.write_all(&request[end..]).await?;
    let mut response = Vec::new();
    moto.read_to_end(&mut response).await?;
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("moto's response head")
        + 4;
    let head = String::from_utf8_lossy(&response[..end - 4]).into_owned();
    let mut head: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    head.push_str("Connection: close\r\n\r\n");
    Ok((head, response[end..].to_vec()))
}

// ---------------------------------------------------------------- setup

/// Short timeouts so that the timeout cases take seconds: 1 s per attempt,
/// 3 s in all, 3 attempts.
fn timeouts() -> S3Timeouts {
    S3Timeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_secs(1),
        operation: Duration::from_secs(3),
        max_attempts: 3,
    }
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

fn bucket(name: &str) -> String {
    format!("ih-fault-{name}-{}", std::process::id())
}

/// A bucket in moto with `quad.png` (200x100) and `dune.jpg`, served through the proxy.
async fn proxied(name: &str) -> (FaultProxy, Server, String) {
    let b = bucket(name);
    moto()
        .bucket(
            &b,
            &[
                ("quad.png", png(&quadrant()), None),
                ("dune.jpg", sample("dune.jpg"), None),
            ],
        )
        .await;
    let proxy = FaultProxy::start().await;
    let settings = S3Settings {
        buckets: vec![b.clone()],
        force_path_style: true,
        max_bytes: 50 << 20,
        timeouts: timeouts(),
    };
    let origin = S3Origin::new(&sdk_config(&proxy.endpoint()).await, settings).unwrap();
    let config = Config {
        source_buckets: vec![b.clone()],
        ..Config::default()
    };
    let server = Server::start(config, Arc::new(origin)).await;
    (proxy, server, b)
}

/// A 5xx JSON error with `no-store`, never an image.
#[track_caller]
fn assert_gateway_error(what: &str, r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
    assert_eq!(r.json()["code"], code, "{what}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
}

// ---------------------------------------------------------------- S3

#[tokio::test]
async fn one_transient_failure_is_retried_into_the_image() {
    let (proxy, s, _) = proxied("retry").await;
    for fault in [Fault::Status(500), Fault::Status(503), Fault::Reset] {
        proxy.set(&[fault], Fault::Pass);
        let r = s.get("/quad.png?width=50").await;
        assert_size(&r.image("image/png"), 50, 25);
        assert_eq!(
            proxy.requests(),
            2,
            "{fault:?}: one failed attempt, one retry"
        );
        assert!(
            r.header("cache-control")
                .unwrap()
                .contains("max-age=31536000")
        );
    }
    // a stalled attempt times out (1 s) and the retry succeeds
    proxy.set(&[Fault::Stall], Fault::Pass);
    let r = s.get("/quad.png?width=40").await;
    assert_size(&r.image("image/png"), 40, 20);
    assert_eq!(proxy.requests(), 2, "the stalled attempt, then the retry");
}

#[tokio::test]
async fn persistent_failures_are_short_lived_gateway_errors() {
    let (proxy, s, _) = proxied("persistent").await;
    proxy.set(&[], Fault::Status(500));
    let r = s.get("/quad.png?width=50").await;
    assert_gateway_error("500s", &r, 502, "OriginError");
    assert_eq!(proxy.requests(), 3, "S3_MAX_ATTEMPTS attempts, no more");

    proxy.set(&[], Fault::Status(503));
    let r = s.get("/quad.png?width=51").await;
    assert_gateway_error("SlowDown", &r, 503, "OriginUnavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(proxy.requests(), 3);

    proxy.set(&[], Fault::Reset);
    let r = s.get("/quad.png?width=52").await;
    assert_gateway_error("resets", &r, 502, "OriginError");

    // 304s and HEAD take the same path
    proxy.set(&[], Fault::Status(500));
    let r = s
        .request(reqwest::Method::HEAD, "/quad.png?width=53", &[])
        .await;
    assert_eq!(
        (r.status, r.header("cache-control")),
        (502, Some("no-store"))
    );

    // and the origin's recovery is seen at once: nothing bad was cached
    proxy.set(&[], Fault::Pass);
    assert_size(
        &s.get("/quad.png?width=50").await.image("image/png"),
        50,
        25,
    );
}

#[tokio::test]
async fn stalls_time_out_within_s3_timeout() {
    let (proxy, s, _) = proxied("stall").await;
    proxy.set(&[], Fault::Stall);
    let started = Instant::now();
    let r = s.get("/quad.png?width=50").await;
    assert_gateway_error("stalls", &r, 504, "OriginTimeout");
    // S3_TIMEOUT is 3 s here; the request does not hang on the stalled socket
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(proxy.requests() >= 2, "attempts were timed out and retried");
}

#[tokio::test]
async fn slow_bodies_arrive_whole_or_time_out() {
    let (proxy, s, _) = proxied("slow").await;
    // within the timeout: the whole original, correctly transformed
    proxy.set(&[], Fault::SlowBody(Duration::from_millis(1500)));
    let r = s.get("/dune.jpg?width=100&format=png").await;
    let full = decode(&sample("dune.jpg"));
    let expected_h =
        (f64::from(full.get_height()) * 100.0 / f64::from(full.get_width())).round() as i32;
    assert_size(&r.image("image/png"), 100, expected_h);

    // a body still trickling in at S3_TIMEOUT (3 s) is a timeout, not a partial image
    proxy.set(&[], Fault::SlowBody(Duration::from_secs(20)));
    let started = Instant::now();
    let r = s.get("/dune.jpg?width=101&format=png").await;
    assert_gateway_error("trickle", &r, 504, "OriginTimeout");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_cut_short_is_never_a_200() {
    let (proxy, s, _) = proxied("truncate").await;
    for format in ["jpeg", "png", "webp"] {
        proxy.set(&[], Fault::Truncate);
        let r = s.get(&format!("/dune.jpg?width=80&format={format}")).await;
        assert_gateway_error("cut short", &r, 502, "OriginError");
        assert_eq!(
            proxy.requests(),
            3,
            "a failed body is fetched again, within the attempts"
        );
    }
    // one cut-short body, then a whole one: the image
    proxy.set(&[Fault::Truncate], Fault::Pass);
    let r = s.get("/quad.png?width=60").await;
    assert_size(&r.image("image/png"), 60, 30);
    assert_eq!(proxy.requests(), 2);
}

/// Failures of the head (5xx) and of the body (cut short) share one budget
/// of `S3_MAX_ATTEMPTS` GETs: the SDK's retries do not multiply with the
/// body retries (up to 9 GETs for 3 attempts before).
#[tokio::test]
async fn head_and_body_failures_share_one_retry_budget() {
    let (proxy, s, _) = proxied("budget").await;
    let round = [Fault::Status(500), Fault::Status(500), Fault::Truncate];
    proxy.set(&round.repeat(3), Fault::Truncate);
    let r = s.get("/dune.jpg?width=80&format=jpeg").await;
    assert_gateway_error("head then body failures", &r, 502, "OriginError");
    assert_eq!(proxy.requests(), 3, "S3_MAX_ATTEMPTS GETs in all");
    // each kind alone: the same budget
    for fault in [Fault::Status(500), Fault::Reset, Fault::Truncate] {
        proxy.set(&[], fault);
        let r = s.get("/dune.jpg?width=81&format=jpeg").await;
        assert_eq!(r.status, 502, "{fault:?}: {}", r.text());
        assert_eq!(
            proxy.requests(),
            3,
            "{fault:?}: S3_MAX_ATTEMPTS GETs in all"
        );
    }
    // within the budget, a body failure after a head failure still gives the image
    proxy.set(&[Fault::Status(500), Fault::Truncate], Fault::Pass);
    let r = s.get("/quad.png?width=60").await;
    assert_size(&r.image("image/png"), 60, 30);
    assert_eq!(proxy.requests(), 3);
}

#[tokio::test]
async fn a_fallback_image_for_an_origin_failure_is_not_cached() {
    let (main, fallback) = (bucket("fb-main"), bucket("fb-images"));
    moto()
        .bucket(&main, &[("quad.png", png(&quadrant()), None)])
        .await;
    moto()
        .bucket(
            &fallback,
            &[(
                "missing.png",
                png(&halves()),
                Some("public, max-age=31536000"),
            )],
        )
        .await;
    let proxy = FaultProxy::start().await;
    proxy.set(&[], Fault::Status(503));
    let origin = S3Origin::new(
        &sdk_config(&proxy.endpoint()).await,
        S3Settings {
            buckets: vec![main.clone()],
            force_path_style: true,
            max_bytes: 50 << 20,
            timeouts: timeouts(),
        },
    )
    .unwrap();
    let fallback_origin = S3Origin::new(
        &moto().sdk_config().await,
        S3Settings {
            buckets: vec![fallback.clone()],
            force_path_style: true,
            max_bytes: 50 << 20,
            ..S3Settings::default()
        },
    )
    .unwrap();
    let config = Config {
        source_buckets: vec![main.clone()],
        ..Config::default()
    };
    let handler = image_handler::Handler::new(config, Arc::new(origin))
        .unwrap()
        .with_fallback(
            Arc::new(fallback_origin),
            Source {
                bucket: Some(fallback),
                key: "missing.png".into(),
            },
        );
    let s = Server::start_handler(handler).await;
    let r = s.get("/quad.png").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-error-code"), Some("OriginUnavailable"));
    assert_size(&decode(&r.body), 100, 200);
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "the fallback's own year-long Cache-Control would keep the outage in caches"
    );
}

/// The fallback image is held in memory: a flood of errors, at once and one
/// after another, costs at most the one load at start-up (and a refresh),
/// counted at a proxy in front of its S3 bucket.
#[tokio::test]
async fn a_flood_of_errors_does_not_fetch_the_fallback_image_again() {
    let (main, fallback) = (bucket("fbc-main"), bucket("fbc-images"));
    moto()
        .bucket(&main, &[("quad.png", png(&quadrant()), None)])
        .await;
    moto()
        .bucket(&fallback, &[("missing.png", png(&halves()), None)])
        .await;
    let proxy = FaultProxy::start().await;
    let settings = |bucket: &str| S3Settings {
        buckets: vec![bucket.to_string()],
        force_path_style: true,
        max_bytes: 50 << 20,
        ..S3Settings::default()
    };
    let origin = S3Origin::new(&moto().sdk_config().await, settings(&main)).unwrap();
    let fallback_origin =
        S3Origin::new(&sdk_config(&proxy.endpoint()).await, settings(&fallback)).unwrap();
    let config = Config {
        source_buckets: vec![main.clone()],
        // room for the whole burst: none is shed with 503
        transform_queue: 64,
        ..Config::default()
    };
    let handler = image_handler::Handler::new(config, Arc::new(origin))
        .unwrap()
        .with_fallback(
            Arc::new(fallback_origin),
            Source {
                bucket: Some(fallback),
                key: "missing.png".into(),
            },
        );
    let s = Server::start_handler(handler).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (client, url) = (client.clone(), s.url(&format!("/nope-{i}.png")));
        burst.spawn(async move {
            let r = client.get(url).send().await.expect("answered");
            let code = r.headers().get("x-error-code").cloned();
            (r.status().as_u16(), code)
        });
    }
    while let Some(answer) = burst.join_next().await {
        let (status, code) = answer.unwrap();
        assert_eq!(status, 404);
        assert_eq!(
            code.as_ref().and_then(|c| c.to_str().ok()),
            Some("NoSuchKey")
        );
    }
    for i in 0..16 {
        let url = if i % 2 == 0 {
            format!("/gone-{i}.png")
        } else {
            "/quad.png?width=-1".to_string()
        };
        let r = s.get(&url).await;
        assert!(r.status == 404 || r.status == 400, "{url}: {}", r.status);
        assert_eq!(r.header("content-type"), Some("image/png"), "{url}");
        assert_size(&decode(&r.body), 100, 200);
    }
    assert!(
        (1..=2).contains(&proxy.requests()),
        "{} fetches of the fallback image for 40 errors",
        proxy.requests()
    );
}

// ---------------------------------------------------------------- Secrets Manager

#[tokio::test]
async fn secrets_manager_faults_fail_closed() {
    let b = bucket("sm");
    moto()
        .bucket(&b, &[("quad.png", png(&quadrant()), None)])
        .await;
    let sm = aws_sdk_secretsmanager::Client::new(&moto().sdk_config().await);
    let id = format!("image-handler/faults-{}", std::process::id());
    sm.create_secret()
        .name(&id)
        .secret_string(r#"{"signatureKey":"right"}"#)
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start().await;
    let keys = SecretsManagerKeys::new(&sdk_config(&proxy.endpoint()).await, &id, "signatureKey")
        .with_refresh_interval(Duration::from_millis(1));
    let s3 = S3Origin::new(
        &moto().sdk_config().await,
        S3Settings {
            buckets: vec![b.clone()],
            force_path_style: true,
            max_bytes: 50 << 20,
            ..S3Settings::default()
        },
    )
    .unwrap();
    let config = Config {
        source_buckets: vec![b.clone()],
        request_timeout: Duration::from_secs(3),
        ..Config::default()
    };
    let handler = image_handler::Handler::new(config, Arc::new(s3))
        .unwrap()
        .with_keys(Keys::SecretsManager(keys));
    let s = Server::start_handler(handler).await;

    for (fault, status, code) in [
        (Fault::Status(500), 500, "SignatureValidationFailure"),
        (Fault::Status(503), 500, "SignatureValidationFailure"),
        (Fault::Reset, 500, "SignatureValidationFailure"),
        // no answer at all: the request's deadline ends it, still without an image
        (Fault::Stall, 504, "DeadlineExceeded"),
    ] {
        proxy.set(&[], fault);
        let r = s.get(&signed("right", "/quad.png?width=20")).await;
        assert_eq!(r.status, status, "{fault:?}: {}", r.text());
        assert_eq!(r.json()["code"], code, "{fault:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{fault:?}");
        assert!(
            proxy.requests() >= 1,
            "{fault:?}: Secrets Manager was asked"
        );
    }
    // once Secrets Manager answers, the same signed URL gets its image
    proxy.set(&[], Fault::Pass);
    assert_size(
        &s.get(&signed("right", "/quad.png?width=20"))
            .await
            .image("image/png"),
        20,
        10,
    );
}
