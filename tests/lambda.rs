//! The binary under a real Lambda runtime API (cargo-lambda's emulator,
//! `pip install cargo-lambda`), reading originals from S3 and its signing
//! secret from Secrets Manager (moto's server), invoked with API Gateway REST,
//! HTTP API and ALB events. Asserts on the JSON envelope the runtime returns:
//! status, headers, `isBase64Encoded` and the decoded image, and that every
//! output format comes out of the envelope byte for byte as the HTTP server
//! sends it (`lambda_http` sends a body as UTF-8 text when its `Content-Type`
//! is missing or text-like, which would turn every byte >= 0x80 of an image
//! into U+FFFD).

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::*;
use image_handler::config::LAMBDA_RESPONSE_BYTES;
use image_handler::keys::{Keys, SecretsManagerKeys};
use image_handler::origin::{S3Origin, S3Settings};
use image_handler::signature::SigningKey;
use image_handler::{Config, Handler};

fn fixture(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Replaces an event's query parameters (all three shapes) with `pairs`.
fn with_query(mut event: serde_json::Value, pairs: &[(&str, &str)]) -> serde_json::Value {
    let single: serde_json::Map<_, _> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let multi: serde_json::Map<_, _> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!([v])))
        .collect();
    if event.get("queryStringParameters").is_some() {
        event["queryStringParameters"] = single.into();
    }
    if event.get("multiValueQueryStringParameters").is_some() {
        event["multiValueQueryStringParameters"] = multi.into();
    }
    if event.get("rawQueryString").is_some() {
        let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        event["rawQueryString"] = raw.join("&").into();
    }
    event
}

/// Sets an event's HTTP method (all three shapes).
fn with_method(mut event: serde_json::Value, method: &str) -> serde_json::Value {
    if event.get("httpMethod").is_some() {
        event["httpMethod"] = method.into();
    }
    if let Some(http) = event.pointer_mut("/requestContext/http") {
        http["method"] = method.into();
    }
    if let Some(context) = event.pointer_mut("/requestContext/httpMethod") {
        *context = method.into();
    }
    event
}

/// Adds `signature` to an event's query parameters (all three shapes).
fn with_signature(mut event: serde_json::Value, signature: &str) -> serde_json::Value {
    if let Some(q) = event
        .get_mut("queryStringParameters")
        .and_then(|q| q.as_object_mut())
    {
        q.insert("signature".into(), signature.into());
    }
    if let Some(q) = event
        .get_mut("multiValueQueryStringParameters")
        .and_then(|q| q.as_object_mut())
    {
        q.insert("signature".into(), serde_json::json!([signature]));
    }
    if let Some(raw) = event
        .get("rawQueryString")
        .and_then(|r| r.as_str())
        .map(str::to_string)
    {
        event["rawQueryString"] = format!("{raw}&signature={signature}").into();
    }
    event
}

/// The three event shapes, each a fixture asking for `/photos/dune.jpg`.
const SHAPES: [&str; 3] = ["apigw-rest.json", "apigw-http.json", "alb.json"];

/// The `Accept` header of the fixtures, sent to the HTTP server too.
const ACCEPT: &str = "image/avif;q=0,image/webp,*/*";

/// Recognises a format by its magic bytes.
type Sniff = fn(&[u8]) -> bool;

/// Every output format: the `format=` value, its `Content-Type` and its magic bytes.
const FORMATS: [(&str, &str, Sniff); 6] = [
    ("jpeg", "image/jpeg", is_jpeg),
    ("png", "image/png", is_png),
    ("webp", "image/webp", is_webp),
    ("avif", "image/avif", is_avif),
    ("gif", "image/gif", is_gif),
    ("tiff", "image/tiff", is_tiff),
];

/// The signing secret, stored in Secrets Manager under [`SECRET_FIELD`].
const SECRET: &str = "lambda-secret";
const SECRET_FIELD: &str = "signatureKey";

/// Signs `path` with `query` (without `signature`) as SIH does.
fn sign(path: &str, query: Option<&str>) -> String {
    SigningKey::new("k", SECRET, None)
        .sign(path, query)
        .expect("a well-formed URL")
}

/// A response header from the envelope (`headers`, else `multiValueHeaders`).
fn envelope_header<'a>(response: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    response["headers"][name]
        .as_str()
        .or(response["multiValueHeaders"][name][0].as_str())
}

/// The envelope with its body cut to 100 characters, for failure messages.
fn summary(response: &serde_json::Value) -> serde_json::Value {
    let mut short = response.clone();
    if let Some(body) = response["body"].as_str() {
        short["body"] = body.chars().take(100).collect::<String>().into();
    }
    short
}

/// The envelope's body, which must be base64 (`isBase64Encoded: true`), decoded.
#[track_caller]
fn binary_body(response: &serde_json::Value, what: &str) -> Vec<u8> {
    assert_eq!(
        response["isBase64Encoded"],
        true,
        "{what}: the body must be base64, not text: {}",
        summary(response)
    );
    let body = response["body"].as_str().unwrap_or("");
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap_or_else(|e| panic!("{what}: body is not base64 ({e})"))
}

/// The function binary running under cargo-lambda's runtime emulator, with a
/// bucket holding `photos/dune.jpg` and a signing secret of its own.
struct Function {
    port: u16,
    /// The service's settings, as environment variables (without the Lambda
    /// and AWS client ones).
    settings: Vec<(&'static str, String)>,
    runtime: LambdaRuntime,
}

impl Function {
    /// Sets up the bucket and secret (unique per `name`) and starts the emulator and the function.
    async fn start(name: &str) -> Function {
        Function::start_with(name, &[]).await
    }

    /// The same with extra settings.
    async fn start_with(name: &str, extra: &[(&'static str, &str)]) -> Function {
        let bucket = format!("ih-runtime-{name}-{}", std::process::id());
        moto()
            .bucket(&bucket, &[("photos/dune.jpg", sample("dune.jpg"), None)])
            .await;
        let secret_id = format!("image-handler/runtime-{name}-{}", std::process::id());
        aws_sdk_secretsmanager::Client::new(&moto().sdk_config().await)
            .create_secret()
            .name(&secret_id)
            .secret_string(serde_json::json!({ SECRET_FIELD: SECRET }).to_string())
            .send()
            .await
            .unwrap();
        let settings = vec![
            ("SOURCE_BUCKETS", bucket),
            ("S3_FORCE_PATH_STYLE", "Yes".to_string()),
            ("ENABLE_SIGNATURE", "Yes".to_string()),
            ("SECRETS_MANAGER", secret_id),
            ("SECRET_KEY", SECRET_FIELD.to_string()),
        ];
        let settings: Vec<(&'static str, String)> = settings
            .into_iter()
            .chain(extra.iter().map(|(k, v)| (*k, v.to_string())))
            .collect();

        let runtime = LambdaRuntime::start(&settings);
        Function {
            port: runtime.port,
            settings,
            runtime,
        }
    }

    /// Sends one event through the runtime emulator and returns the envelope.
    fn invoke(&self, event: &serde_json::Value) -> serde_json::Value {
        self.runtime.invoke(event)
    }

    /// The plain HTTP server over the same bucket, settings and secret, set
    /// up as the binary's Lambda mode sets up its handler.
    async fn http_server(&self) -> Server {
        let settings = &self.settings;
        let mut config = Config::from_lookup(|var| {
            settings
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| v.clone())
        })
        .expect("config");
        config.max_response_bytes = Some(LAMBDA_RESPONSE_BYTES);
        let secret = config.secrets_manager.clone().expect("SECRETS_MANAGER");
        let shared = moto().sdk_config().await;
        let origin = S3Origin::new(
            &shared,
            S3Settings {
                buckets: config.source_buckets.clone(),
                force_path_style: true,
                max_bytes: config.max_source_bytes,
                ..S3Settings::default()
            },
        )
        .expect("s3 origin");
        let handler = Handler::new(config, Arc::new(origin))
            .expect("handler")
            .with_keys(Keys::SecretsManager(SecretsManagerKeys::new(
                &shared,
                &secret.secret_id,
                &secret.field,
            )));
        Server::start_handler(handler).await
    }
}

#[tokio::test]
async fn the_binary_serves_s3_images_under_the_lambda_runtime() {
    let function = Function::start("shapes").await;

    let signature = sign("/photos/dune.jpg", Some("width=120"));
    for name in SHAPES {
        let response = function.invoke(&with_signature(fixture(name), &signature));
        assert_eq!(
            response["statusCode"],
            200,
            "{name}: {}",
            summary(&response)
        );
        assert_eq!(
            envelope_header(&response, "content-type"),
            Some("image/webp"),
            "{name}"
        );
        let body = binary_body(&response, name);
        assert!(is_webp(&body), "{name}");
        assert_size(&decode(&body), 120, 75);
    }

    // unsigned and tampered events are refused with SIH's JSON errors, as text
    let unsigned = function.invoke(&fixture("apigw-rest.json"));
    assert_eq!(unsigned["statusCode"], 400);
    assert_eq!(unsigned["isBase64Encoded"], false);
    let body: serde_json::Value = serde_json::from_str(unsigned["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["code"], "AuthorizationQueryParametersError");
    let tampered = function.invoke(&with_signature(fixture("apigw-http.json"), &"0".repeat(64)));
    assert_eq!(tampered["statusCode"], 403);
}

/// Every output format, through every event shape, comes out of the runtime
/// envelope as base64 that decodes to exactly the bytes the HTTP server sends
/// for the same signed request; errors come out as JSON text.
#[tokio::test(flavor = "multi_thread")]
async fn every_output_format_is_byte_identical_to_the_http_server() {
    let function = Function::start("formats").await;
    let server = function.http_server().await;
    for (format, mime, is_format) in FORMATS {
        let query = format!("width=120&format={format}");
        let signature = sign("/photos/dune.jpg", Some(&query));
        let target = format!("/photos/dune.jpg?{query}&signature={signature}");
        let expected = server.get_with(&target, &[("accept", ACCEPT)]).await;
        assert_size(&expected.image(mime), 120, 75);
        assert!(is_format(&expected.body), "{format} from the HTTP server");
        // The byte comparison below is only meaningful if the encoder gives
        // the same bytes every time; all six do (checked here, every run).
        let again = server.get_with(&target, &[("accept", ACCEPT)]).await;
        assert!(
            again.body == expected.body,
            "the {format} encoder is not deterministic: compare pixels for it instead"
        );

        let pairs = [
            ("width", "120"),
            ("format", format),
            ("signature", signature.as_str()),
        ];
        for shape in SHAPES {
            let what = format!("{format} via {shape}");
            let response = function.invoke(&with_query(fixture(shape), &pairs));
            assert_eq!(
                response["statusCode"],
                200,
                "{what}: {}",
                summary(&response)
            );
            assert_eq!(
                envelope_header(&response, "content-type"),
                Some(mime),
                "{what}"
            );
            let body = binary_body(&response, &what);
            assert!(
                body == expected.body,
                "{what}: {} bytes through the envelope, {} from the HTTP server{}",
                body.len(),
                expected.body.len(),
                match body.iter().zip(&expected.body).position(|(a, b)| a != b) {
                    Some(at) => format!(", first difference at byte {at}"),
                    None => String::new(),
                }
            );
        }
    }

    // HEAD: no body in the envelope, the GET's length in Content-Length
    let query = "width=120&format=webp";
    let signature = sign("/photos/dune.jpg", Some(query));
    let target = format!("/photos/dune.jpg?{query}&signature={signature}");
    let head = server
        .request(reqwest::Method::HEAD, &target, &[("accept", ACCEPT)])
        .await;
    assert_eq!(head.status, 200);
    let length = head.header("content-length").expect("content-length");
    assert_ne!(length, "0");
    let pairs = [
        ("width", "120"),
        ("format", "webp"),
        ("signature", signature.as_str()),
    ];
    for shape in SHAPES {
        let response = function.invoke(&with_method(with_query(fixture(shape), &pairs), "HEAD"));
        assert_eq!(
            response["statusCode"],
            200,
            "HEAD via {shape}: {}",
            summary(&response)
        );
        assert_eq!(
            envelope_header(&response, "content-type"),
            Some("image/webp"),
            "HEAD via {shape}"
        );
        assert_eq!(
            envelope_header(&response, "content-length"),
            Some(length),
            "HEAD via {shape}"
        );
        assert!(
            response["body"].as_str().unwrap_or("").is_empty(),
            "HEAD via {shape}: {}",
            summary(&response)
        );
    }

    // a missing key: the HTTP server's JSON error, as text
    let query = "width=120&format=webp";
    let signature = sign("/photos/missing.jpg", Some(query));
    let target = format!("/photos/missing.jpg?{query}&signature={signature}");
    let expected = server.get_with(&target, &[("accept", ACCEPT)]).await;
    assert_eq!(expected.status, 404, "{}", expected.text());
    assert_eq!(expected.header("content-type"), Some("application/json"));
    let expected_json = expected.json();
    let pairs = [
        ("width", "120"),
        ("format", "webp"),
        ("signature", signature.as_str()),
    ];
    for shape in SHAPES {
        let mut event = with_query(fixture(shape), &pairs);
        for field in ["/path", "/rawPath", "/requestContext/http/path"] {
            if let Some(path) = event.pointer_mut(field) {
                *path = "/photos/missing.jpg".into();
            }
        }
        if let Some(path) = event.pointer_mut("/pathParameters/proxy") {
            *path = "photos/missing.jpg".into();
        }
        if let Some(path) = event.pointer_mut("/requestContext/path") {
            *path = "/prod/photos/missing.jpg".into();
        }
        let response = function.invoke(&event);
        let what = format!("missing key via {shape}");
        assert_eq!(
            response["statusCode"],
            404,
            "{what}: {}",
            summary(&response)
        );
        assert_eq!(
            response["isBase64Encoded"],
            false,
            "{what}: {}",
            summary(&response)
        );
        assert_eq!(
            envelope_header(&response, "content-type"),
            Some("application/json"),
            "{what}"
        );
        let text = response["body"].as_str().expect("a text body");
        let json: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
        let fields: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, ["status", "code", "message"], "{what}");
        assert_eq!(json["status"], 404, "{what}");
        assert_eq!(json["code"], "NoSuchKey", "{what}");
        assert!(json["message"].is_string(), "{what}");
        assert_eq!(json, expected_json, "{what}");
    }
}

/// `lambda_http` also sends a body as text when the response has the header
/// `x-lambda-http-content-encoding: text`, and a default request's `headers`
/// may set it (it is not on the deny list), so the image comes out as UTF-8
/// text with every byte >= 0x80 turned into U+FFFD. Fails until the header
/// is refused (or stripped by the Lambda adapter).
#[tokio::test(flavor = "multi_thread")]
async fn request_headers_cannot_turn_an_image_into_text() {
    let function = Function::start("text-header").await;
    let server = function.http_server().await;
    let request = serde_json::json!({
        "key": "photos/dune.jpg",
        "outputFormat": "webp",
        "edits": { "resize": { "width": 120 } },
        "headers": { "x-lambda-http-content-encoding": "text" },
    });
    let path = format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(request.to_string())
    );
    let signature = sign(&path, None);
    let expected = server
        .get_with(
            &format!("{path}?signature={signature}"),
            &[("accept", ACCEPT)],
        )
        .await;
    assert_size(&expected.image("image/webp"), 120, 75);
    for shape in SHAPES {
        let mut event = with_query(fixture(shape), &[("signature", signature.as_str())]);
        for field in ["/path", "/rawPath", "/requestContext/http/path"] {
            if let Some(p) = event.pointer_mut(field) {
                *p = path.clone().into();
            }
        }
        let response = function.invoke(&event);
        assert_eq!(
            response["statusCode"],
            200,
            "{shape}: {}",
            summary(&response)
        );
        let body = binary_body(&response, shape);
        assert!(body == expected.body, "{shape}: the image differs");
    }
}

/// Behind a Lambda Function URL in RESPONSE_STREAM mode the binary streams
/// the response (no envelope, no 6 MB cap): through the emulator's Function
/// URL endpoint the client gets a plain HTTP response with the image.
#[tokio::test]
async fn function_url_streaming_mode() {
    let function =
        Function::start_with("stream", &[("LAMBDA_INVOKE_MODE", "RESPONSE_STREAM")]).await;
    let signature = sign("/photos/dune.jpg", Some("width=120"));
    let url = format!(
        "http://127.0.0.1:{}/lambda-url/_/photos/dune.jpg?width=120&signature={signature}",
        function.port
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut response = None;
    for _ in 0..50 {
        match client.get(&url).header("accept", "image/webp").send().await {
            Ok(r) => {
                response = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let response = response.expect("the emulator's Function URL answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/webp");
    let body = response.bytes().await.unwrap();
    assert!(is_webp(&body));
    assert_size(&decode(&body), 120, 75);
    // unsigned: the JSON error, streamed as is
    let unsigned = client
        .get(format!(
            "http://127.0.0.1:{}/lambda-url/_/photos/dune.jpg?width=120",
            function.port
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 400);
    let json: serde_json::Value = serde_json::from_slice(&unsigned.bytes().await.unwrap()).unwrap();
    assert_eq!(json["code"], "AuthorizationQueryParametersError");
}
