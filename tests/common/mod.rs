//! Helpers for the HTTP integration tests: a real server on an ephemeral
//! loopback port, a temporary directory of generated fixtures, a raw HTTP/1.1
//! client for request targets that `reqwest` would normalise, and decoding of
//! responses with libvips.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

pub mod score;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use image_handler::origin::{FsOrigin, Origin};
use image_handler::{Config, Handler};
use reqwest::header::HeaderMap;
use rs_vips::VipsImage;
use rs_vips::enums::{Angle, BandFormat};
use rs_vips::voption::{Setter, VOption};

pub const RED: [f64; 3] = [255.0, 0.0, 0.0];
pub const GREEN: [f64; 3] = [0.0, 255.0, 0.0];
pub const BLUE: [f64; 3] = [0.0, 0.0, 255.0];
pub const WHITE: [f64; 3] = [255.0, 255.0, 255.0];

/// Starts libvips (idempotent) so fixtures can be built before any handler exists.
pub fn init_vips() {
    image_handler::transform::init_vips().expect("libvips starts");
}

// ---------------------------------------------------------------- temp dirs

/// A per-test directory under the system temp dir, removed on drop (also when the test panics).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    /// `<tmp>/image-handler-http-<pid>-<name>`, emptied first.
    pub fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("image-handler-http-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// Writes `bytes` to `relative` (creating parent directories).
    pub fn write(&self, relative: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create fixture dir");
        }
        std::fs::write(&path, bytes).expect("write fixture");
        path
    }

    pub fn join(&self, relative: &str) -> PathBuf {
        self.path.join(relative)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------- fixtures

/// An opaque 8-bit sRGB image of `w`x`h` filled with `fill`, with each
/// `(colour, left, top, width, height)` rectangle painted over it.
pub fn canvas(
    w: i32,
    h: i32,
    fill: [f64; 3],
    rects: &[([f64; 3], i32, i32, i32, i32)],
) -> VipsImage {
    init_vips();
    let black = VipsImage::black(w, h).expect("black");
    let base = VipsImage::new_from_image(&black, &fill).expect("constant image");
    let mut image = base
        .cast(BandFormat::Uchar)
        .expect("cast")
        .copy_with_opts(VOption::new().set("interpretation", "srgb"))
        .expect("srgb");
    for (colour, left, top, width, height) in rects {
        image
            .draw_rect_with_opts(
                colour,
                *left,
                *top,
                *width,
                *height,
                VOption::new().set("fill", true),
            )
            .expect("draw_rect");
    }
    image
}

/// 200x100: the top-left 100x50 quadrant red, the rest blue.
pub fn quadrant() -> VipsImage {
    canvas(200, 100, BLUE, &[(RED, 0, 0, 100, 50)])
}

/// 100x200: the top half red, the bottom half blue.
pub fn halves() -> VipsImage {
    canvas(100, 200, BLUE, &[(RED, 0, 0, 100, 100)])
}

pub fn png(image: &VipsImage) -> Vec<u8> {
    image.pngsave_buffer().expect("pngsave")
}

pub fn jpeg(image: &VipsImage, quality: i32) -> Vec<u8> {
    image
        .jpegsave_buffer_with_opts(VOption::new().set("Q", quality))
        .expect("jpegsave")
}

/// The quadrant image with a fully opaque alpha band (4 bands, RGBA PNG).
pub fn quadrant_rgba_png() -> Vec<u8> {
    let rgba = quadrant().bandjoin_const(&[255.0]).expect("bandjoin");
    png(&rgba)
}

/// The quadrant image stored rotated 270° (portrait, red at the bottom left)
/// with EXIF orientation 6, so it displays upright with red at the top left.
pub fn exif_rotated_jpeg() -> Vec<u8> {
    let mut stored = quadrant().rot(Angle::D270).expect("rot");
    stored.set_int("orientation", 6).expect("set orientation");
    let bytes = jpeg(&stored, 95);
    // The fixture must really carry the rotation in EXIF, or the test proves nothing.
    let check = decode(&bytes);
    assert_eq!((check.get_width(), check.get_height()), (100, 200));
    assert_eq!(check.get_int("orientation").expect("orientation"), 6);
    assert_ne!(check.get_typeof("exif-data").expect("typeof"), 0);
    assert_rgb(&check, 10, 190, RED, 40.0);
    bytes
}

/// Writes the fixtures most tests use into `dir`.
pub fn standard_fixtures(dir: &TempDir) {
    dir.write("quad.png", &png(&quadrant()));
    dir.write("quad.jpg", &jpeg(&quadrant(), 95));
    dir.write("halves.png", &png(&halves()));
    dir.write("rgba.png", &quadrant_rgba_png());
    dir.write("exif6.jpg", &exif_rotated_jpeg());
}

/// A sample photograph shipped with the crate (also served by `EmbeddedOrigin`).
pub fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/samples")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------- decoding

pub fn decode(bytes: &[u8]) -> VipsImage {
    init_vips();
    VipsImage::new_from_buffer(bytes, "").unwrap_or_else(|e| {
        panic!(
            "response body does not decode ({} bytes, starts {:02x?}): {e}",
            bytes.len(),
            &bytes[..bytes.len().min(16)]
        )
    })
}

/// The colour at (x, y) as RGB (a grey pixel is repeated into three channels).
pub fn rgb(image: &VipsImage, x: i32, y: i32) -> [f64; 3] {
    let p = image.getpoint(x, y).expect("getpoint");
    if image.get_bands() <= 2 {
        [p[0], p[0], p[0]]
    } else {
        [p[0], p[1], p[2]]
    }
}

/// The alpha at (x, y), if the image has an alpha band.
pub fn alpha(image: &VipsImage, x: i32, y: i32) -> Option<f64> {
    let p = image.getpoint(x, y).expect("getpoint");
    match image.get_bands() {
        2 => Some(p[1]),
        4 => Some(p[3]),
        _ => None,
    }
}

#[track_caller]
pub fn assert_rgb(image: &VipsImage, x: i32, y: i32, expected: [f64; 3], tolerance: f64) {
    let got = rgb(image, x, y);
    let close = got
        .iter()
        .zip(expected)
        .all(|(g, e)| (g - e).abs() <= tolerance);
    assert!(
        close,
        "pixel ({x},{y}) of a {}x{} image is {got:?}, expected {expected:?} ± {tolerance}",
        image.get_width(),
        image.get_height()
    );
}

#[track_caller]
pub fn assert_size(image: &VipsImage, width: i32, height: i32) {
    assert_eq!(
        (image.get_width(), image.get_height()),
        (width, height),
        "output size"
    );
}

// ---------------------------------------------------------------- magic bytes

pub fn is_jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
}
pub fn is_png(b: &[u8]) -> bool {
    b.starts_with(b"\x89PNG\r\n\x1a\n")
}
pub fn is_webp(b: &[u8]) -> bool {
    b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP"
}
pub fn is_avif(b: &[u8]) -> bool {
    b.len() >= 12 && &b[4..8] == b"ftyp" && &b[8..12] == b"avif"
}
pub fn is_gif(b: &[u8]) -> bool {
    b.starts_with(b"GIF89a") || b.starts_with(b"GIF87a")
}
pub fn is_tiff(b: &[u8]) -> bool {
    b.starts_with(b"II*\0") || b.starts_with(b"MM\0*")
}

// ---------------------------------------------------------------- server

/// A running server and a client for it.
pub struct Server {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
}

/// One HTTP response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header as text (`None` when absent).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is text"))
    }

    /// All values of a header, joined by ", ".
    pub fn header_all(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("header is text"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether `Vary` lists `token` (case-insensitive).
    pub fn varies_on(&self, token: &str) -> bool {
        self.header_all("vary")
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
            )
        })
    }

    /// Asserts a 200 image of `mime` and decodes it.
    #[track_caller]
    pub fn image(&self, mime: &str) -> VipsImage {
        assert_eq!(self.status, 200, "status; body: {}", self.text());
        assert_eq!(self.header("content-type"), Some(mime), "content-type");
        decode(&self.body)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into_owned()
    }
}

impl Server {
    /// Binds `127.0.0.1:0` and serves `origin` with `config` on the current runtime.
    pub async fn start(config: Config, origin: Arc<dyn Origin>) -> Server {
        Server::start_handler(Handler::new(config, origin).expect("handler")).await
    }

    /// Serves a ready handler on `127.0.0.1:0`.
    pub async fn start_handler(handler: Handler) -> Server {
        let listener = image_handler::serve::bind("127.0.0.1:0".parse().unwrap())
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(image_handler::serve::run(
            listener,
            handler,
            std::future::pending(),
        ));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Server { addr, client }
    }

    /// A server over a directory.
    pub async fn fs(config: Config, dir: &TempDir) -> Server {
        let origin = FsOrigin::new(&dir.path, config.max_source_bytes).expect("fs origin");
        Server::start(config, Arc::new(origin)).await
    }

    /// A server over a directory that answers errors with `fallback`, a key in it.
    pub async fn fs_with_fallback(config: Config, dir: &TempDir, fallback: &str) -> Server {
        let origin =
            Arc::new(FsOrigin::new(&dir.path, config.max_source_bytes).expect("fs origin"));
        let source = image_handler::request::Source {
            bucket: None,
            key: fallback.into(),
        };
        let handler = Handler::new(config, origin.clone())
            .expect("handler")
            .with_fallback(origin, source);
        Server::start_handler(handler).await
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        self.request(reqwest::Method::GET, path_and_query, &[])
            .await
    }

    pub async fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(reqwest::Method::GET, path_and_query, headers)
            .await
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path_and_query));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request is answered");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.bytes().await.expect("body").to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Sends `GET <target>` exactly as written (no URL normalisation), with
    /// only `Host` and `Connection: close` plus `headers`.
    pub async fn raw_get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        let addr = self.addr;
        let mut head = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        // A blocking socket off the runtime, so the server keeps running on this thread.
        tokio::task::spawn_blocking(move || {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(head.as_bytes()).expect("send");
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).expect("read");
            parse_raw_response(&raw)
        })
        .await
        .expect("raw request task")
    }
}

fn parse_raw_response(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of response head");
    let head = std::str::from_utf8(&raw[..end]).expect("head is text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (k, v) = line.split_once(':').expect("header line");
        headers.append(
            reqwest::header::HeaderName::from_bytes(k.trim().as_bytes()).expect("header name"),
            v.trim().parse().expect("header value"),
        );
    }
    let mut body = raw[end + 4..].to_vec();
    if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
    {
        body.truncate(len);
    }
    assert!(
        headers.get("transfer-encoding").is_none(),
        "raw client does not handle chunked responses"
    );
    Reply {
        status,
        headers,
        body,
    }
}

// ---------------------------------------------------------------- moto (S3, Secrets Manager)

/// A moto server (`pip install "moto[server]"`) on a free loopback port, one
/// per test binary. A watchdog shell stops it when the test process exits.
pub struct Moto {
    pub endpoint: String,
    /// The watchdog shell; it exits with the test process.
    _watchdog: std::sync::Mutex<std::process::Child>,
}

static MOTO: std::sync::OnceLock<Moto> = std::sync::OnceLock::new();

/// Starts moto once for this test binary (fails the test if moto is missing:
/// `.ci/run` installs it).
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(Moto::start)
}

impl Moto {
    /// Starts another moto server, for tests that need two S3 endpoints.
    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let log = std::env::temp_dir().join(format!(
            "image-handler-moto-{}-{port}.log",
            std::process::id()
        ));
        let script = format!(
            "moto_server -H 127.0.0.1 -p {port} >{log} 2>&1 & m=$!; \
             while kill -0 {pid} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.3; done; kill $m 2>/dev/null",
            log = log.display(),
            pid = std::process::id()
        );
        let watchdog = std::process::Command::new("bash")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("bash runs moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not start on port {port} (is moto[server] installed? see {})",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint,
            _watchdog: std::sync::Mutex::new(watchdog),
        }
    }

    /// An AWS configuration pointing at this moto server with test credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await
    }

    /// An S3 client for setting up fixtures.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::new(&self.sdk_config().await)
    }

    /// Creates `bucket` (unique per test) and puts `objects` (key, bytes, cache-control).
    pub async fn bucket(&self, bucket: &str, objects: &[(&str, Vec<u8>, Option<&str>)]) {
        let s3 = self.s3().await;
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
        for (key, bytes, cache_control) in objects {
            s3.put_object()
                .bucket(bucket)
                .key(*key)
                .body(bytes.clone().into())
                .set_cache_control(cache_control.map(str::to_string))
                .send()
                .await
                .expect("put object");
        }
    }
}

// ---------------------------------------------------------------- Lambda runtime emulator

/// Kills a child process when dropped, also when a test fails.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a child process writes to `out` (its stdout), read on a thread
/// so that a test can wait for one with `recv_timeout`.
pub fn lines(out: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// The real binary under cargo-lambda's runtime emulator (`pip install
/// cargo-lambda`), talking to moto with test credentials.
pub struct LambdaRuntime {
    /// The emulator's invoke port.
    pub port: u16,
    _function: ChildGuard,
    _emulator: ChildGuard,
}

impl LambdaRuntime {
    /// Starts the emulator, waits for it, then starts the function with `settings`.
    pub fn start(settings: &[(&str, String)]) -> LambdaRuntime {
        use std::process::{Command, Stdio};
        let port = free_port();
        let emulator = Command::new("cargo-lambda")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo-lambda is installed (pip install cargo-lambda)");
        let emulator = ChildGuard(emulator);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the runtime emulator did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let function = Command::new(env!("CARGO_BIN_EXE_image-handler"))
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_ENDPOINT_URL", &moto().endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run the function");
        LambdaRuntime {
            port,
            _function: ChildGuard(function),
            _emulator: emulator,
        }
    }

    /// Sends one event with `cargo lambda invoke` and returns the function's answer.
    pub fn invoke(&self, event: &serde_json::Value) -> serde_json::Value {
        let file = std::env::temp_dir().join(format!(
            "image-handler-event-{}-{}.json",
            std::process::id(),
            self.port
        ));
        std::fs::write(&file, event.to_string()).expect("write event");
        let out = std::process::Command::new("cargo-lambda")
            .args([
                "lambda",
                "invoke",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(&file)
            .arg("_")
            .output()
            .expect("cargo-lambda is installed (pip install cargo-lambda)");
        let _ = std::fs::remove_file(&file);
        assert!(
            out.status.success(),
            "invoke failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

// ---------------------------------------------------------------- errors

/// Asserts a JSON error `{"status","code","message"}` with this status and
/// code, and returns the message.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: &str) -> String {
    assert_error_for("", reply, status, code)
}

/// Asserts a JSON error `{"status","code","message"}` and returns the message.
#[track_caller]
pub fn assert_error_for(what: &str, reply: &Reply, status: u16, code: &str) -> String {
    assert_eq!(
        reply.status,
        status,
        "{what}: status; content-type {:?}, body: {}",
        reply.header("content-type"),
        reply.text()
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    let json = reply.json();
    let object = json.as_object().expect("error body is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "message", "status"],
        "{what}: error body keys"
    );
    assert_eq!(json["status"], u64::from(status), "{what}");
    assert_eq!(json["code"], code, "{what}: error code; body: {json}");
    json["message"]
        .as_str()
        .expect("message is a string")
        .to_string()
}

/// The `code` of a JSON error body ("" when there is none).
pub fn error_code(reply: &Reply) -> String {
    reply.json()["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `path` signed as SIH v7 does, with one key `k` of `secret`.
pub fn signed(secret: &str, path: &str) -> String {
    use image_handler::signature::{Keyring, SigningKey, sign_url};
    sign_url(
        &Keyring::new(vec![SigningKey::new("k", secret, None)]).expect("keyring"),
        path,
        None,
        None,
    )
    .expect("signs")
}

// ---------------------------------------------------------------- named origins

/// The origins of `routes` built as the service builds them, without AWS
/// (directory and HTTP origins only): a missing AWS configuration would
/// fail an S3 origin's first fetch, never this.
pub async fn build_router(
    routes: &image_handler::origin::mapping::Routes,
) -> Result<image_handler::origin::Router, String> {
    image_handler::origin::Router::build(
        routes,
        &aws_config::SdkConfig::builder().build(),
        1 << 24,
        &image_handler::origin::S3Settings::default(),
    )
    .await
}
