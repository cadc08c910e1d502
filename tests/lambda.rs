//! The binary under a real Lambda runtime API (cargo-lambda's emulator,
//! `pip install cargo-lambda`), reading originals from S3 and its signing
//! secret from Secrets Manager (moto's server), invoked with API Gateway REST,
//! HTTP API and ALB events. Asserts on the JSON envelope the runtime returns:
//! status, headers, `isBase64Encoded` and the decoded image.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use image_handler::signature::SigningKey;

/// Kills a child process when dropped, also when a test fails.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn invoke(port: u16, event: &serde_json::Value) -> serde_json::Value {
    let file = std::env::temp_dir().join(format!(
        "image-handler-event-{}-{port}.json",
        std::process::id()
    ));
    std::fs::write(&file, event.to_string()).unwrap();
    let out = Command::new("cargo-lambda")
        .args([
            "lambda",
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--data-file",
        ])
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

fn fixture(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
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

#[tokio::test]
async fn the_binary_serves_s3_images_under_the_lambda_runtime() {
    let bucket = format!("ih-runtime-{}", std::process::id());
    moto()
        .bucket(&bucket, &[("photos/dune.jpg", sample("dune.jpg"), None)])
        .await;
    let secret_id = format!("image-handler/runtime-{}", std::process::id());
    aws_sdk_secretsmanager::Client::new(&moto().sdk_config().await)
        .create_secret()
        .name(&secret_id)
        .secret_string(r#"{"signatureKey":"lambda-secret"}"#)
        .send()
        .await
        .unwrap();

    let port = free_port();
    let emulator = Command::new("cargo-lambda")
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cargo-lambda is installed (pip install cargo-lambda)");
    let _emulator = Guard(emulator);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
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
        .env("SOURCE_BUCKETS", &bucket)
        .env("AWS_ENDPOINT_URL", &moto().endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("S3_FORCE_PATH_STYLE", "Yes")
        .env("ENABLE_SIGNATURE", "Yes")
        .env("SECRETS_MANAGER", &secret_id)
        .env("SECRET_KEY", "signatureKey")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the function");
    let _function = Guard(function);

    let signature =
        SigningKey::new("k", "lambda-secret", None).sign("/photos/dune.jpg", Some("width=120"));
    for name in ["apigw-rest.json", "apigw-http.json", "alb.json"] {
        let response = invoke(port, &with_signature(fixture(name), &signature));
        assert_eq!(response["statusCode"], 200, "{name}: {response}");
        assert_eq!(response["isBase64Encoded"], true, "{name}");
        let content_type = response["headers"]["content-type"]
            .as_str()
            .or(response["multiValueHeaders"]["content-type"][0].as_str());
        assert_eq!(content_type, Some("image/webp"), "{name}");
        let body = base64::engine::general_purpose::STANDARD
            .decode(response["body"].as_str().unwrap())
            .unwrap();
        assert!(is_webp(&body), "{name}");
        assert_size(&decode(&body), 120, 75);
    }

    // unsigned and tampered events are refused with SIH's JSON errors, as text
    let unsigned = invoke(port, &fixture("apigw-rest.json"));
    assert_eq!(unsigned["statusCode"], 400);
    assert_eq!(unsigned["isBase64Encoded"], false);
    let body: serde_json::Value = serde_json::from_str(unsigned["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["code"], "AuthorizationQueryParametersError");
    let tampered = invoke(
        port,
        &with_signature(fixture("apigw-http.json"), &"0".repeat(64)),
    );
    assert_eq!(tampered["statusCode"], 403);
}
