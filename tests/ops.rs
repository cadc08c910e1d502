//! Operations tooling against real APIs on loopback: `image-handler
//! invalidate` (the real binary) against moto's CloudFront and
//! CloudFormation, with a fault-injecting proxy in front of moto for
//! CloudFront's in-progress limits, failures and slow completion; S3 event
//! notifications through the Lambda dispatch (in process) and through
//! cargo-lambda's runtime emulator; warming on upload, from moto's S3
//! notifying an SQS queue to a loopback stand-in for the distribution that
//! records the warm requests and answers them with the real handler, with the
//! proxy recording that the warm waits for the invalidation; and golden
//! outputs of `url` and `srcset`, whose signed URLs must verify and be served
//! by a running server.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_cloudfront::types::{
    CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin, OriginProtocolPolicy,
    Origins, ViewerProtocolPolicy,
};
use base64::Engine;
use common::*;
use image_handler::lambda::{self, Function, FunctionError};
use image_handler::ops::events::ChangeInvalidator;
use image_handler::ops::invalidate::{Invalidator, UrlStyles};
use image_handler::origin::{EmbeddedOrigin, S3Origin, S3Settings};
use image_handler::signature::{Keyring, SigningKey};
use image_handler::{Config, Handler};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

/// What a run of the binary printed, and how it exited.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs the real binary with test AWS credentials (and nothing from the
/// caller's environment that would change its behaviour).
async fn cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_image-handler"));
        cmd.args(&args);
        for var in [
            "DISTRIBUTION_ID",
            "INVALIDATE_URL_STYLES",
            "IMAGE_BASE_URL",
            "IMAGE_ORIGIN",
            "SIGNATURE_KEYS",
            "SIGNATURE_SECRET",
            "AWS_PROFILE",
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_ENDPOINT_URL",
            "MAX_OUTPUT_WIDTH",
            "MAX_OUTPUT_HEIGHT",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run image-handler");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("binary task")
}

fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "ih-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

async fn cloudfront() -> aws_sdk_cloudfront::Client {
    aws_sdk_cloudfront::Client::new(&moto().sdk_config().await)
}

/// Creates a CloudFront distribution in moto and returns its id.
async fn distribution() -> String {
    let origin = Origin::builder()
        .id("images")
        .domain_name("images.example.com")
        .custom_origin_config(
            CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(unique("dist"))
        .comment("image-handler tests")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("images")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                // CloudFront's managed CachingOptimized policy
                .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let created = cloudfront()
        .await
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("create distribution in moto");
    created.distribution().unwrap().id().to_string()
}

/// One invalidation as CloudFront (moto) stored it.
#[derive(Debug, Clone)]
struct Stored {
    id: String,
    reference: String,
    paths: Vec<String>,
}

/// Every invalidation of a distribution, oldest first, with its paths.
async fn stored(distribution: &str) -> Vec<Stored> {
    let cf = cloudfront().await;
    let list = cf
        .list_invalidations()
        .distribution_id(distribution)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for summary in list
        .invalidation_list()
        .map(|l| l.items())
        .unwrap_or_default()
    {
        let got = cf
            .get_invalidation()
            .distribution_id(distribution)
            .id(summary.id())
            .send()
            .await
            .unwrap();
        let inv = got.invalidation().unwrap();
        let batch = inv.invalidation_batch().unwrap();
        out.push(Stored {
            id: inv.id().to_string(),
            reference: batch.caller_reference().to_string(),
            paths: batch
                .paths()
                .map(|p| p.items().to_vec())
                .unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| a.reference.cmp(&b.reference));
    out
}

fn aws(endpoint: &str) -> [(&'static str, String); 1] {
    [("AWS_ENDPOINT_URL", endpoint.to_string())]
}

fn env_refs<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

// ---------------------------------------------------------------- fault-injecting proxy

/// Faults a proxy in front of moto injects into CloudFront's answers.
#[derive(Default)]
struct Faults {
    /// This many CreateInvalidation calls are answered TooManyInvalidationsInProgress.
    too_many: AtomicUsize,
    /// These CreateInvalidation calls (1-based) are answered InvalidArgument.
    fail_creates: Vec<usize>,
    /// Each invalidation reads InProgress for this many GetInvalidation calls.
    in_progress_polls: usize,
    /// CreateInvalidation calls seen.
    creates: AtomicUsize,
    /// GetInvalidation calls seen, per invalidation.
    polls: Mutex<HashMap<String, usize>>,
    /// CloudFront calls in the order they were answered (`CreateInvalidation`,
    /// `GetInvalidation InProgress`, ...), shared with a stand-in distribution.
    timeline: Arc<Mutex<Vec<String>>>,
}

fn cloudfront_error(code: &str, message: &str) -> axum::response::Response {
    let body = format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>b8b7f1a2-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    );
    axum::response::Response::builder()
        .status(400)
        .header("content-type", "text/xml")
        .body(axum::body::Body::from(body))
        .unwrap()
}

async fn proxy(
    faults: Arc<Faults>,
    client: reqwest::Client,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path().to_string();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let create = parts.method == http::Method::POST && path.ends_with("/invalidation");
    let poll = (parts.method == http::Method::GET)
        .then(|| {
            path.split_once("/invalidation/")
                .map(|(_, id)| id.to_string())
        })
        .flatten();
    if create {
        let n = faults.creates.fetch_add(1, Ordering::SeqCst) + 1;
        if faults
            .too_many
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
            .is_ok()
        {
            return cloudfront_error(
                "TooManyInvalidationsInProgress",
                "Processing your request will cause you to exceed the maximum number of in-progress wildcard invalidations.",
            );
        }
        if faults.fail_creates.contains(&n) {
            return cloudfront_error(
                "InvalidArgument",
                "Your request contains one or more invalid invalidation paths.",
            );
        }
    }
    let mut forward = client
        .request(parts.method.clone(), format!("{}{target}", moto().endpoint))
        .body(body.to_vec());
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.expect("moto answers");
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut text = String::from_utf8(answer.bytes().await.unwrap().to_vec()).unwrap();
    let polled = poll.is_some();
    let in_progress = match poll {
        Some(id) => {
            let mut polls = faults.polls.lock().unwrap();
            let seen = polls.entry(id).or_insert(0);
            *seen += 1;
            *seen <= faults.in_progress_polls
        }
        None => create && faults.in_progress_polls > 0,
    };
    if in_progress {
        assert!(text.contains("<Status>COMPLETED</Status>"), "{text}");
        text = text.replace("<Status>COMPLETED</Status>", "<Status>InProgress</Status>");
    }
    if create || polled {
        let call = if create {
            "CreateInvalidation"
        } else {
            "GetInvalidation"
        };
        let status = if in_progress {
            "InProgress"
        } else {
            "Completed"
        };
        faults
            .timeline
            .lock()
            .unwrap()
            .push(format!("{call} {status}"));
    }
    let mut response = axum::response::Response::builder().status(status.as_u16());
    for (name, value) in &headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    response.body(axum::body::Body::from(text)).unwrap()
}

/// A proxy in front of moto on a free loopback port; returns its endpoint.
async fn faulty_cloudfront(faults: Arc<Faults>) -> String {
    moto();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (faults, client) = (faults.clone(), client.clone());
        async move { proxy(faults, client, request).await }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

// ---------------------------------------------------------------- invalidate

#[tokio::test(flavor = "multi_thread")]
async fn invalidates_keys_prefixes_and_files_with_exact_paths() {
    let dist = distribution().await;
    let dir = TempDir::new("ops-keys");
    let keys = dir.write(
        "keys.txt",
        "# originals replaced today\nphotos/cat.jpg\n\ndir/café au lait.jpg\r\nodd*name.jpg\n/leading-slash.png\nruntime~main.png\nphotos/cat.jpg\n"
            .as_bytes(),
    );
    let env = aws(&moto().endpoint);
    let run = cli(
        &[
            "invalidate",
            "--distribution-id",
            &dist,
            "photos/dog.jpg",
            "--prefix",
            "photos/2024/",
            "--from-file",
            keys.to_str().unwrap(),
            "--json",
        ],
        &env_refs(&env),
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let expected = [
        "/photos/dog.jpg*",
        "/photos/cat.jpg*",
        "/dir/caf%C3%A9%20au%20lait.jpg*",
        "/odd%2Aname.jpg*",
        "/leading-slash.png*",
        "/runtime%7Emain.png*",
        "/photos/2024/*",
    ];
    let doc = run.json();
    assert_eq!(doc["outcome"], "success");
    assert_eq!(doc["distribution_id"], dist.as_str());
    assert_eq!(doc["paths"], json!(expected));
    // keys whose characters pages may spell two ways are pointed out
    let warnings: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("odd*name.jpg") && warnings[0].contains("--prefix \"odd\""));
    assert!(run.stderr.contains("warning: "), "{}", run.stderr);
    let invalidations = doc["invalidations"].as_array().unwrap();
    assert_eq!(invalidations.len(), 1);
    assert_eq!(invalidations[0]["status"], "completed");

    // what CloudFront holds is exactly that: one invalidation, these paths, in order
    let held = stored(&dist).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].paths, expected);
    assert_eq!(invalidations[0]["id"], held[0].id.as_str());
    assert_eq!(
        invalidations[0]["caller_reference"],
        held[0].reference.as_str()
    );

    // the human form says what was created
    let run = cli(
        &["invalidate", "photos/cat.jpg"],
        &[
            ("AWS_ENDPOINT_URL", moto().endpoint.as_str()),
            ("DISTRIBUTION_ID", dist.as_str()),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let held = stored(&dist).await;
    assert_eq!(held.len(), 2);
    let second = held
        .iter()
        .find(|s| s.paths == ["/photos/cat.jpg*"])
        .unwrap();
    assert!(
        run.stdout
            .contains(&format!("invalidation {}: 1 path(s), completed", second.id)),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!(
        "1 of 1 invalidation(s) created on distribution {dist}"
    )));
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_stay_within_cloudfront_limits() {
    let dist = distribution().await;
    let dir = TempDir::new("ops-batches");
    let keys: Vec<String> = (0..20).map(|i| format!("batch/k{i:02}.jpg")).collect();
    let exact: Vec<String> = (0..2990)
        .map(|i| format!("https://d111111abcdef8.cloudfront.net/fit-in/{i}x0/a b.jpg"))
        .collect();
    dir.write("keys.txt", keys.join("\n").as_bytes());
    let paths_file = dir.write("paths.txt", exact.join("\n").as_bytes());
    let env = aws(&moto().endpoint);
    let run = cli(
        &[
            "invalidate",
            "--distribution-id",
            &dist,
            "--from-file",
            dir.join("keys.txt").to_str().unwrap(),
            "--paths-from-file",
            paths_file.to_str().unwrap(),
            "--json",
        ],
        &env_refs(&env),
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let held = stored(&dist).await;
    assert_eq!(held.len(), 2, "two invalidations");
    let wild = |s: &Stored| s.paths.iter().filter(|p| p.ends_with('*')).count();
    // first: 15 wildcards (the in-progress limit) and exact paths up to 3000
    assert_eq!((held[0].paths.len(), wild(&held[0])), (3000, 15));
    assert_eq!((held[1].paths.len(), wild(&held[1])), (10, 5));
    assert_eq!(held[0].paths[0], "/batch/k00.jpg*");
    assert_eq!(held[0].paths[15], "/fit-in/0x0/a%20b.jpg");
    assert_eq!(held[1].paths[0], "/batch/k15.jpg*");
    assert_eq!(held[1].paths[9], "/fit-in/2989x0/a%20b.jpg");
    // one run, one caller reference per batch
    let (a, b) = (&held[0].reference, &held[1].reference);
    assert_eq!(a.strip_suffix("-1"), b.strip_suffix("-2"));
    let all: std::collections::HashSet<&String> = held.iter().flat_map(|s| &s.paths).collect();
    assert_eq!(all.len(), 3010);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_paths_and_sends_nothing() {
    let dist = distribution().await;
    let env = aws(&moto().endpoint);
    let run = cli(
        &[
            "invalidate",
            "--dry-run",
            "--distribution-id",
            &dist,
            "a.jpg",
            "b c.jpg",
            "--path",
            "/fit-in/100x100/a.jpg",
        ],
        &env_refs(&env),
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "/a.jpg*\n/b%20c.jpg*\n/fit-in/100x100/a.jpg\n");
    assert!(
        run.stderr
            .contains("dry run: 3 path(s) in 1 invalidation(s)"),
        "{}",
        run.stderr
    );
    // no distribution needed to see the plan; JSON shows the planned batches
    let run = cli(
        &[
            "invalidate",
            "--dry-run",
            "--json",
            "--url-styles",
            "query,thumbor",
            "a.jpg",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["paths"], json!(["/*"]));
    assert_eq!(doc["invalidations"][0]["status"], "planned");
    assert!(doc["warnings"][0].as_str().unwrap().contains("thumbor"));
    assert!(stored(&dist).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_distribution_comes_from_the_stack_outputs() {
    let dist = distribution().await;
    let cfn = aws_sdk_cloudformation::Client::new(&moto().sdk_config().await);
    let stack = unique("stack");
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"DistributionIdValue": {"Type": "String"}},
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "DistributionId": {"Value": {"Ref": "DistributionIdValue"}},
            "DomainName": {"Value": "d111111abcdef8.cloudfront.net"}
        }
    });
    cfn.create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("DistributionIdValue")
                .parameter_value(&dist)
                .build(),
        )
        .send()
        .await
        .expect("create stack in moto");
    let env = aws(&moto().endpoint);
    let run = cli(
        &["invalidate", "--stack", &stack, "photos/cat.jpg", "--json"],
        &env_refs(&env),
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["distribution_id"], dist.as_str());
    assert_eq!(stored(&dist).await[0].paths, ["/photos/cat.jpg*"]);

    let missing = cli(
        &["invalidate", "--stack", "no-such-stack", "a.jpg"],
        &env_refs(&env),
    )
    .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains("no-such-stack"),
        "{}",
        missing.stderr
    );
    let wrong_output = cli(
        &[
            "invalidate",
            "--stack",
            &stack,
            "--stack-output",
            "CdnId",
            "a.jpg",
            "--json",
        ],
        &env_refs(&env),
    )
    .await;
    assert_eq!(wrong_output.code, 1);
    let error = wrong_output.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("CdnId") && error.contains("DistributionId, DomainName"),
        "{error}"
    );
    assert_eq!(stored(&dist).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_progress_limits_are_waited_out_and_completion_is_awaited() {
    let dist = distribution().await;
    let faults = Arc::new(Faults {
        too_many: AtomicUsize::new(2),
        in_progress_polls: 2,
        ..Faults::default()
    });
    let endpoint = faulty_cloudfront(faults.clone()).await;
    let started = Instant::now();
    let run = cli(
        &[
            "invalidate",
            "--distribution-id",
            &dist,
            "a.jpg",
            "--wait",
            "--poll-interval",
            "100ms",
            "--json",
        ],
        &[("AWS_ENDPOINT_URL", endpoint.as_str())],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["outcome"], "success");
    assert_eq!(doc["invalidations"][0]["status"], "completed");
    // refused twice, created on the third try after backing off 100 ms then 200 ms
    assert_eq!(faults.creates.load(Ordering::SeqCst), 3);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // polled until CloudFront said Completed (InProgress twice, then Completed)
    let id = doc["invalidations"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(faults.polls.lock().unwrap().get(&id), Some(&3));
    assert_eq!(stored(&dist).await.len(), 1);

    // without --wait, the same throttled start reports the invalidation as in progress
    let faults = Arc::new(Faults {
        in_progress_polls: 5,
        ..Faults::default()
    });
    let endpoint = faulty_cloudfront(faults.clone()).await;
    let run = cli(
        &["invalidate", "--distribution-id", &dist, "b.jpg", "--json"],
        &[("AWS_ENDPOINT_URL", endpoint.as_str())],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["invalidations"][0]["status"], "in_progress");
    assert!(faults.polls.lock().unwrap().is_empty());

    // --wait that runs out of time: created but not confirmed is a partial result
    let faults = Arc::new(Faults {
        in_progress_polls: 1000,
        ..Faults::default()
    });
    let endpoint = faulty_cloudfront(faults).await;
    let run = cli(
        &[
            "invalidate",
            "--distribution-id",
            &dist,
            "c.jpg",
            "--wait",
            "--poll-interval",
            "100ms",
            "--timeout",
            "1s",
        ],
        &[("AWS_ENDPOINT_URL", endpoint.as_str())],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains("1 path(s), in progress"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_and_total_failures_have_their_exit_codes() {
    let dist = distribution().await;
    let keys: Vec<String> = (0..20).map(|i| format!("part/{i:02}.jpg")).collect();
    let mut args = vec!["invalidate", "--distribution-id", dist.as_str(), "--json"];
    args.extend(keys.iter().map(String::as_str));

    // the second batch is refused: exit 2, and the paths not invalidated are listed
    let faults = Arc::new(Faults {
        fail_creates: vec![2],
        ..Faults::default()
    });
    let endpoint = faulty_cloudfront(faults).await;
    let run = cli(&args, &[("AWS_ENDPOINT_URL", endpoint.as_str())]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["outcome"], "partial");
    let batches = doc["invalidations"].as_array().unwrap();
    assert_eq!(batches[0]["status"], "completed");
    assert_eq!(batches[1]["status"], "failed");
    assert!(batches[1]["id"].is_null());
    assert!(
        batches[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("InvalidArgument: ")
    );
    assert_eq!(batches[1]["paths"][0], "/part/15.jpg*");
    let held = stored(&dist).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].paths.len(), 15);

    // in human form the failed paths are printed for a rerun
    let faults = Arc::new(Faults {
        fail_creates: vec![2],
        ..Faults::default()
    });
    let endpoint = faulty_cloudfront(faults).await;
    let human: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let run = cli(&human, &[("AWS_ENDPOINT_URL", endpoint.as_str())]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stdout
            .contains("not created: 5 path(s): InvalidArgument"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\n  /part/19.jpg*\n"), "{}", run.stdout);

    // no such distribution: nothing is created and later batches are not even sent
    let faults = Arc::new(Faults::default());
    let endpoint = faulty_cloudfront(faults.clone()).await;
    let mut missing = args.clone();
    missing[2] = "E0000000000000";
    let run = cli(&missing, &[("AWS_ENDPOINT_URL", endpoint.as_str())]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let doc = run.json();
    assert_eq!(doc["outcome"], "failed");
    assert!(
        doc["invalidations"][1]["error"]
            .as_str()
            .unwrap()
            .starts_with("not sent: ")
    );
    assert_eq!(faults.creates.load(Ordering::SeqCst), 1);

    // still too many in progress when the timeout comes: failed, saying why
    let faults = Arc::new(Faults {
        too_many: AtomicUsize::new(1000),
        ..Faults::default()
    });
    let endpoint = faulty_cloudfront(faults).await;
    let run = cli(
        &[
            "invalidate",
            "--distribution-id",
            &dist,
            "x.jpg",
            "--poll-interval",
            "100ms",
            "--timeout",
            "1s",
        ],
        &[("AWS_ENDPOINT_URL", endpoint.as_str())],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("TooManyInvalidationsInProgress"),
        "{}",
        run.stdout
    );
    assert_eq!(stored(&dist).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_an_error_before_anything_is_sent() {
    let dist = distribution().await;
    let dist = dist.as_str();
    let env = aws(&moto().endpoint);
    for (args, message) in [
        (
            vec!["invalidate", "--distribution-id", dist, "a/../b.jpg"],
            "'..'",
        ),
        (vec!["invalidate", "a.jpg"], "--distribution-id"),
        (
            vec!["invalidate", "--distribution-id", dist],
            "nothing to invalidate",
        ),
        (
            vec![
                "invalidate",
                "--distribution-id",
                "d111.cloudfront.net",
                "a.jpg",
            ],
            "distribution id",
        ),
        (
            vec![
                "invalidate",
                "--distribution-id",
                dist,
                "--url-styles",
                "imgix",
                "a.jpg",
            ],
            "imgix",
        ),
        (
            vec![
                "invalidate",
                "--distribution-id",
                dist,
                "--path",
                "no-slash.jpg",
            ],
            "no-slash",
        ),
        (
            vec![
                "invalidate",
                "--distribution-id",
                dist,
                "--from-file",
                "/nonexistent/keys.txt",
            ],
            "/nonexistent",
        ),
    ] {
        let run = cli(&args, &env_refs(&env)).await;
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
    assert!(stored(dist).await.is_empty());
}

// ---------------------------------------------------------------- S3 events through Lambda

fn fixture(name: &str, bucket: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text.replace("image-handler-originals", bucket)).unwrap()
}

async fn s3_origin(bucket: &str) -> Arc<S3Origin> {
    let settings = S3Settings {
        buckets: vec![bucket.to_string()],
        force_path_style: true,
        max_bytes: 50 << 20,
        ..S3Settings::default()
    };
    Arc::new(S3Origin::new(&moto().sdk_config().await, settings).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_notifications_invalidate_through_the_lambda_dispatch() {
    let dist = distribution().await;
    let bucket = unique("events");
    moto()
        .bucket(&bucket, &[("photos/dune.jpg", sample("dune.jpg"), None)])
        .await;
    let config = Config {
        source_buckets: vec![bucket.clone()],
        ..Config::default()
    };
    let handler = Handler::new(config, s3_origin(&bucket).await).unwrap();
    let shared = moto().sdk_config().await;
    let changes = ChangeInvalidator::new(
        Invalidator::new(&shared, &dist).unwrap(),
        vec![bucket.clone()],
        UrlStyles::QUERY,
    );
    let function = Function::new(handler.clone()).with_change_invalidation(changes);
    let invoke = |payload: Value| LambdaEvent::new(payload, Context::default());

    // put, delete and put again of one key, plus another key: two paths, one invalidation
    let report = lambda::dispatch(
        &function,
        invoke(fixture("s3-event-put-delete.json", &bucket)),
    )
    .await
    .expect("invalidated");
    let expected = [
        "/photos/red%20flower.jpg*",
        "/photos/caf%C3%A9%20au%20lait+1.jpg*",
    ];
    assert_eq!(report["changes"], 3);
    assert_eq!(report["paths"], json!(expected));
    let held = stored(&dist).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].paths, expected);
    assert_eq!(report["invalidations"], json!([held[0].id]));
    assert!(held[0].reference.starts_with("image-handler-s3-"));

    // the same change through SNS
    let report = lambda::dispatch(&function, invoke(fixture("s3-event-sns.json", &bucket)))
        .await
        .unwrap();
    assert_eq!(report["paths"], json!(["/photos/red%20flower.jpg*"]));
    assert_eq!(stored(&dist).await.len(), 2);

    // the HTTP path is unchanged: an API Gateway event still gets its image
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/apigw-rest.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let response = lambda::dispatch(&function, invoke(serde_json::from_str(&text).unwrap()))
        .await
        .unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(response["isBase64Encoded"], true);
    let body = base64::engine::general_purpose::STANDARD
        .decode(response["body"].as_str().unwrap())
        .unwrap();
    assert!(is_webp(&body));
    assert_size(&decode(&body), 120, 75);

    // without invalidation configured, S3 events fail (so Lambda retries and dead-letters them)
    let plain = Function::new(handler);
    let refused =
        lambda::dispatch(&plain, invoke(fixture("s3-event-put-delete.json", &bucket))).await;
    assert!(
        matches!(refused, Err(FunctionError::InvalidationOff)),
        "{refused:?}"
    );
    // S3's test event (sent when a notification is set up) is acknowledged either way
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket});
    let acknowledged = lambda::dispatch(&plain, invoke(test_event)).await.unwrap();
    assert_eq!(acknowledged["changes"], 0);
    // neither HTTP nor S3
    let unknown = lambda::dispatch(&plain, invoke(json!({"hello": "world"}))).await;
    assert!(
        matches!(unknown, Err(FunctionError::UnknownEvent(_))),
        "{unknown:?}"
    );
    assert_eq!(stored(&dist).await.len(), 2);

    // CloudFront refusing the invalidation is an error, so Lambda retries the event
    let broken = ChangeInvalidator::new(
        Invalidator::new(&shared, "E0000000000000").unwrap(),
        vec![bucket.clone()],
        UrlStyles::QUERY,
    );
    let failing = Function::new(Handler::new(Config::default(), Arc::new(EmbeddedOrigin)).unwrap())
        .with_change_invalidation(broken);
    let error = lambda::dispatch(&failing, invoke(fixture("s3-event-sns.json", &bucket)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("NoSuchDistribution"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_invalidates_on_s3_events_under_the_lambda_runtime() {
    let dist = distribution().await;
    let bucket = unique("runtime-events");
    moto()
        .bucket(&bucket, &[("photos/dune.jpg", sample("dune.jpg"), None)])
        .await;
    let runtime = LambdaRuntime::start(&[
        ("SOURCE_BUCKETS", bucket.clone()),
        ("S3_FORCE_PATH_STYLE", "Yes".to_string()),
        ("INVALIDATE_ON_CHANGE", "Yes".to_string()),
        ("DISTRIBUTION_ID", dist.clone()),
    ]);
    let runtime = std::sync::Arc::new(runtime);

    let event = fixture("s3-event-put-delete.json", &bucket);
    let r = runtime.clone();
    let response = tokio::task::spawn_blocking(move || r.invoke(&event))
        .await
        .unwrap();
    assert_eq!(
        response["paths"],
        json!([
            "/photos/red%20flower.jpg*",
            "/photos/caf%C3%A9%20au%20lait+1.jpg*"
        ]),
        "{response}"
    );
    let held = stored(&dist).await;
    assert_eq!(held.len(), 1);
    assert_eq!(response["invalidations"], json!([held[0].id]));

    // and the same process still serves images
    let http_event: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/apigw-http.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let r = runtime.clone();
    let response = tokio::task::spawn_blocking(move || r.invoke(&http_event))
        .await
        .unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(response["isBase64Encoded"], true);
}

// ---------------------------------------------------------------- warming on upload

const WARM_SECRET: &str = "warm-secret";
const WARM_PRESETS: &str =
    r#"{"thumb":"width=64","card":{"width":160,"height":100,"fit":"cover"}}"#;

/// One request the stand-in distribution received.
#[derive(Debug, Clone)]
struct Received {
    /// Path and query as sent.
    target: String,
    /// The `Accept` header.
    accept: String,
    /// What the real handler answered.
    status: u16,
    content_type: String,
}

/// A stand-in for the CloudFront distribution on loopback: it records each
/// request (also as `GET <target>` on `timeline`, after the CloudFront calls
/// the proxy records there) and answers it with the real handler, which
/// verifies the signature and renders the preset. Returns its base URL.
async fn distribution_stand_in(
    handler: Handler,
    received: Arc<Mutex<Vec<Received>>>,
    timeline: Arc<Mutex<Vec<String>>>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (handler, received, timeline) = (handler.clone(), received.clone(), timeline.clone());
        async move {
            let target = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default();
            let accept = request
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            timeline.lock().unwrap().push(format!("GET {target}"));
            let forwarded = http::Request::builder()
                .method(request.method())
                .uri(&target)
                .header(http::header::ACCEPT, &accept)
                .body(())
                .unwrap();
            let answer = handler.handle(&forwarded).await;
            received.lock().unwrap().push(Received {
                target,
                accept,
                status: answer.status().as_u16(),
                content_type: answer
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
            });
            let (parts, body) = answer.into_parts();
            axum::response::Response::from_parts(parts, axum::body::Body::from(body))
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The service behind the distribution: the bucket through moto, signing on, the presets.
async fn warm_service(bucket: &str) -> (Config, Handler) {
    let config = Config {
        source_buckets: vec![bucket.to_string()],
        signing: Some(Keyring::new(vec![SigningKey::new("k", WARM_SECRET, None)]).unwrap()),
        presets: image_handler::request::Presets::from_json(WARM_PRESETS, &Default::default())
            .unwrap(),
        ..Config::default()
    };
    let handler = Handler::new(config.clone(), s3_origin(bucket).await).unwrap();
    (config, handler)
}

/// One call to moto's SQS (JSON protocol; moto reads the service from the credential scope).
async fn sqs(action: &str, body: Value) -> Value {
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/", moto().endpoint))
        .header("x-amz-target", format!("AmazonSQS.{action}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers SQS");
    let status = answer.status();
    let text = answer.text().await.unwrap();
    assert!(status.is_success(), "SQS {action}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A bucket whose `ObjectCreated` notifications moto's S3 sends to a new SQS
/// queue (as a stack's notification wiring sends them to the function);
/// returns the queue URL.
async fn bucket_notifying_a_queue(bucket: &str) -> String {
    moto().bucket(bucket, &[]).await;
    let queue = unique("uploads");
    let url = sqs("CreateQueue", json!({"QueueName": queue})).await["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    moto()
        .s3()
        .await
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(format!("arn:aws:sqs:us-east-1:123456789012:{queue}"))
                        .events(Event::S3ObjectCreated)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("notification configuration");
    url
}

/// Uploads `key` and returns the Lambda event SQS would deliver for what
/// moto's S3 notified: every message waiting in the queue (S3's test event
/// too, the first time), as one batch.
async fn upload_and_receive(bucket: &str, queue_url: &str, key: &str, bytes: Vec<u8>) -> Value {
    moto()
        .s3()
        .await
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .expect("put object");
    let received = sqs(
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "VisibilityTimeout": 3600}),
    )
    .await;
    let records: Vec<Value> = received["Messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            json!({
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads"
            })
        })
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["body"].as_str().unwrap().contains("ObjectCreated")),
        "moto's S3 notified the upload: {received}"
    );
    json!({ "Records": records })
}

/// A distribution in moto, a bucket notifying a queue, and the service over
/// that bucket: (distribution id, bucket, queue URL, handler).
async fn warm_setting(name: &str) -> (String, String, String, Handler) {
    let dist = distribution().await;
    let bucket = unique(name);
    let queue = bucket_notifying_a_queue(&bucket).await;
    let (_, handler) = warm_service(&bucket).await;
    (dist, bucket, queue, handler)
}

/// The query of a warm request without its signature, and whether the signature is there.
fn unsigned(target: &str) -> (String, bool) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut signed = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let sig = p.strip_prefix("signature=");
            signed |=
                sig.is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
            sig.is_none()
        })
        .collect();
    (format!("{path}?{}", kept.join("&")), signed)
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_are_warmed_through_the_distribution_under_the_lambda_runtime() {
    let (dist, bucket, queue, handler) = warm_setting("warm").await;
    let received = Arc::new(Mutex::new(Vec::new()));
    let base = distribution_stand_in(handler, received.clone(), Arc::default()).await;
    let runtime = Arc::new(LambdaRuntime::start(&[
        ("SOURCE_BUCKETS", bucket.clone()),
        ("S3_FORCE_PATH_STYLE", "Yes".to_string()),
        ("INVALIDATE_ON_CHANGE", "Yes".to_string()),
        ("DISTRIBUTION_ID", dist.clone()),
        ("DISTRIBUTION_DOMAIN", base.clone()),
        ("PRESETS", WARM_PRESETS.to_string()),
        ("WARM_PRESETS", "thumb,card".to_string()),
        ("ENABLE_SIGNATURE", "Yes".to_string()),
        ("SIGNATURE_SECRET", WARM_SECRET.to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ]));

    let event =
        upload_and_receive(&bucket, &queue, "photos/new upload.jpg", sample("dune.jpg")).await;
    let r = runtime.clone();
    let answer = tokio::task::spawn_blocking(move || r.invoke(&event))
        .await
        .unwrap();
    assert_eq!(
        answer["paths"],
        json!(["/photos/new%20upload.jpg*"]),
        "{answer}"
    );
    let held = stored(&dist).await;
    assert_eq!(held.len(), 1);
    let warm = &answer["warm"];
    assert_eq!(warm["waited_for"], json!([held[0].id]), "{answer}");
    assert_eq!(
        (warm["warmed"].as_u64(), warm["failed"].as_u64()),
        (Some(6), Some(0)),
        "{answer}"
    );

    // two presets in the three Accept classes the viewer-request function keeps,
    // signed (the service verified each), each answered in its class's format
    let mut seen: Vec<(String, String, String)> = received
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let (target, signed) = unsigned(&r.target);
            assert!(signed, "{r:?}");
            assert_eq!(r.status, 200, "{r:?}");
            (target, r.accept.clone(), r.content_type.clone())
        })
        .collect();
    seen.sort();
    let expected = |preset: &str| {
        let target = format!("/photos/new%20upload.jpg?preset={preset}");
        [
            (target.clone(), "*/*".to_string(), "image/jpeg".to_string()),
            (
                target.clone(),
                "image/avif".to_string(),
                "image/avif".to_string(),
            ),
            (target, "image/webp".to_string(), "image/webp".to_string()),
        ]
    };
    let mut want: Vec<_> = expected("card")
        .into_iter()
        .chain(expected("thumb"))
        .collect();
    want.sort();
    assert_eq!(seen, want);
}

/// The function as the binary builds it, in process, with its CloudFront
/// calls going to `cloudfront` (moto, or the proxy in front of it).
async fn warming_function(
    bucket: &str,
    base: &str,
    cloudfront: &str,
    dist: &str,
    wait: Duration,
) -> Function {
    use image_handler::keys::Keys;
    use image_handler::ops::urls::UrlWriter;
    use image_handler::ops::warm::{AcceptClass, WarmSettings, Warmer};
    let (config, handler) = warm_service(bucket).await;
    let shared = moto()
        .sdk_config()
        .await
        .into_builder()
        .endpoint_url(cloudfront)
        .build();
    let invalidator = Invalidator::new(&shared, dist).unwrap();
    let settings = WarmSettings {
        base: base.to_string(),
        presets: vec!["thumb".into()],
        classes: vec![AcceptClass::Avif, AcceptClass::Webp, AcceptClass::Other],
        concurrency: 2,
        wait,
    };
    let writer = UrlWriter::new(Some(base), config.limits)
        .unwrap()
        .configured(&config.assembly());
    let keys = Keys::Static(config.signing.clone().unwrap());
    let warmer = Warmer::new(
        settings,
        invalidator.clone(),
        bucket,
        writer,
        Some(keys),
        false,
    )
    .unwrap();
    Function::new(handler)
        .with_change_invalidation(ChangeInvalidator::new(
            invalidator,
            vec![bucket.to_string()],
            UrlStyles::QUERY,
        ))
        .with_warming(warmer)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overwrite_is_warmed_only_once_its_invalidation_has_completed() {
    let (dist, bucket, queue, handler) = warm_setting("overwrite").await;
    let invoke = |payload: Value| LambdaEvent::new(payload, Context::default());

    // the invalidation reads InProgress twice, then Completed
    let faults = Arc::new(Faults {
        in_progress_polls: 2,
        ..Faults::default()
    });
    let cloudfront = faulty_cloudfront(faults.clone()).await;
    let received = Arc::new(Mutex::new(Vec::new()));
    let base =
        distribution_stand_in(handler.clone(), received.clone(), faults.timeline.clone()).await;
    let function =
        warming_function(&bucket, &base, &cloudfront, &dist, Duration::from_secs(60)).await;
    // the first upload (S3's test event rides along in the same batch)
    let event = upload_and_receive(&bucket, &queue, "cat.jpg", sample("dune.jpg")).await;
    let answer = lambda::dispatch(&function, invoke(event)).await.unwrap();
    assert_eq!(answer["warm"]["warmed"], 3, "{answer}");
    faults.timeline.lock().unwrap().clear();
    received.lock().unwrap().clear();
    // the overwrite: S3's event does not tell it from a first upload, and both wait alike
    let event = upload_and_receive(&bucket, &queue, "cat.jpg", jpeg(&halves(), 90)).await;
    let answer = lambda::dispatch(&function, invoke(event)).await.unwrap();
    assert_eq!(answer["warm"]["warmed"], 3, "{answer}");
    let timeline = faults.timeline.lock().unwrap().clone();
    let first_get = timeline
        .iter()
        .position(|t| t.starts_with("GET "))
        .expect("warmed");
    assert_eq!(
        timeline[..first_get],
        [
            "CreateInvalidation InProgress",
            "GetInvalidation InProgress",
            "GetInvalidation InProgress",
            "GetInvalidation Completed",
        ],
        "{timeline:?}"
    );
    assert_eq!(timeline.len(), first_get + 3, "{timeline:?}");
    assert!(received.lock().unwrap().iter().all(|r| r.status == 200));

    // an invalidation that stays in progress past WARM_WAIT: nothing is warmed, and the answer says why
    let faults = Arc::new(Faults {
        in_progress_polls: 1000,
        ..Faults::default()
    });
    let cloudfront = faulty_cloudfront(faults.clone()).await;
    let received = Arc::new(Mutex::new(Vec::new()));
    let base = distribution_stand_in(handler, received.clone(), faults.timeline.clone()).await;
    let function =
        warming_function(&bucket, &base, &cloudfront, &dist, Duration::from_secs(1)).await;
    let event = upload_and_receive(&bucket, &queue, "cat.jpg", sample("dune.jpg")).await;
    let answer = lambda::dispatch(&function, invoke(event)).await.unwrap();
    let warm = &answer["warm"];
    assert_eq!(
        (warm["warmed"].as_u64(), warm["skipped"].as_u64()),
        (Some(0), Some(3)),
        "{answer}"
    );
    let reason = warm["results"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("still in progress after WARM_WAIT"),
        "{reason}"
    );
    assert!(received.lock().unwrap().is_empty());
    let timeline = faults.timeline.lock().unwrap().clone();
    assert!(
        timeline.iter().all(|t| !t.starts_with("GET ")),
        "{timeline:?}"
    );
    assert!(
        timeline
            .iter()
            .filter(|t| t.starts_with("GetInvalidation"))
            .count()
            >= 2,
        "{timeline:?}"
    );
}

// ---------------------------------------------------------------- url and srcset

#[tokio::test(flavor = "multi_thread")]
async fn url_prints_the_recommended_style() {
    let run = cli(
        &[
            "url",
            "dir/café au lait.jpg",
            "--width",
            "300",
            "--format",
            "webp",
            "--position",
            "right top",
            "--grayscale",
            "--base",
            "https://d111111abcdef8.cloudfront.net/",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "https://d111111abcdef8.cloudfront.net/dir/caf%C3%A9%20au%20lait.jpg?format=webp&grayscale=true&position=right+top&width=300\n"
    );
    // a path without --base; IMAGE_BASE_URL works too
    let run = cli(&["url", "/a.png"], &[]).await;
    assert_eq!(run.stdout, "/a.png\n");
    let run = cli(
        &["url", "a.png", "--param", "blur=2"],
        &[("IMAGE_BASE_URL", "http://127.0.0.1:8080")],
    )
    .await;
    assert_eq!(run.stdout, "http://127.0.0.1:8080/a.png?blur=2\n");
    // presets of the service's configuration are checked like the server checks them
    let presets = [("PRESETS", r#"{"thumb":"width=100&format=webp"}"#)];
    let run = cli(&["url", "dune.jpg", "--param", "preset=thumb"], &presets).await;
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "/dune.jpg?preset=thumb\n"),
        "{run:?}"
    );
    let run = cli(&["url", "dune.jpg", "--param", "preset=huge"], &presets).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("huge"), "{}", run.stderr);
    let only = [presets[0], ("PRESETS_ONLY", "Yes")];
    let run = cli(&["url", "dune.jpg", "--width", "3"], &only).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("PRESETS_ONLY"), "{}", run.stderr);
    // invalid edits are refused with the server's own message
    for (args, message) in [
        (
            vec!["url", "a.jpg", "--width", "-1"],
            "width=\"-1\" must not be negative",
        ),
        (
            vec!["url", "a.jpg", "--param", "zoom=2"],
            "\"zoom\" is not a query parameter",
        ),
        (vec!["url", "a.jpg", "--sign"], "SIGNATURE_SECRET"),
        (vec!["url", "a.jpg", "--base", "cdn.example.net"], "--base"),
        // the service would read this path as thumbor options, not as this key
        (
            vec!["url", "300x200/cat.jpg"],
            "would not read /300x200/cat.jpg",
        ),
        // usage errors exit with 1 too (2 means a partial failure)
        (vec!["url", "a.jpg", "--expires", "1h"], "--sign"),
        (
            vec![
                "invalidate",
                "--stack",
                "s",
                "--distribution-id",
                "E1",
                "a.jpg",
            ],
            "cannot be used with",
        ),
    ] {
        let run = cli(&args, &[]).await;
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_urls_verify_and_are_served() {
    let keys = Keyring::new(vec![
        SigningKey::new("current", "s3cr3t", None),
        SigningKey::new("tenant", "t3n4nt", Some("users/alice/")),
    ])
    .unwrap();
    let keys_json = r#"[{"id":"current","secret":"s3cr3t"},{"id":"tenant","secret":"t3n4nt","prefix":"users/alice/"}]"#;
    let env = [("SIGNATURE_KEYS", keys_json)];
    let run = cli(
        &[
            "url",
            "dune.jpg",
            "--width",
            "300",
            "--format",
            "webp",
            "--sign",
            "--expires",
            "20300101T000000Z",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let url = run.stdout.trim().to_string();
    // golden: SIH v7's HMAC-SHA256("s3cr3t", "/dune.jpg?expires=20300101T000000Z&format=webp&width=300"),
    // computed independently (Python's hmac module)
    assert_eq!(
        url,
        "/dune.jpg?format=webp&width=300&expires=20300101T000000Z&signature=448277c6a60129f1bd8e720cfd4e117beafcc4920dedebfa571f177dfec3e50b"
    );
    let (path, query) = url.split_once('?').unwrap();
    let grant = keys
        .verify(
            &image_handler::request::target::Target::parse(path, Some(query)).unwrap(),
            SystemTime::now(),
        )
        .unwrap();
    assert!(grant.expires.is_some());

    let config = Config {
        signing: Some(keys.clone()),
        ..Config::default()
    };
    let server = Server::start(config, Arc::new(EmbeddedOrigin)).await;
    let served = server.get(&url).await;
    assert_size(&served.image("image/webp"), 300, 188);
    // tampering is refused by the same server
    assert_eq!(
        server
            .get(&url.replace("width=300", "width=301"))
            .await
            .status,
        403
    );

    // every candidate of a signed srcset is served, at the width its descriptor says
    let run = cli(
        &[
            "srcset", "dune.jpg", "--widths", "320,640", "--sign", "--key-id", "current",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    for (candidate, width) in srcset_candidates(&run.stdout) {
        let reply = server.get(&candidate).await;
        assert_eq!(reply.status, 200, "{candidate}: {}", reply.text());
        assert_eq!(decode(&reply.body).get_width(), width as i32, "{candidate}");
    }
    // a tenant key signs only under its prefix
    let run = cli(
        &["url", "users/alice/a.jpg", "--sign", "--key-id", "tenant"],
        &env,
    )
    .await;
    let (path, query) = run.stdout.trim().split_once('?').unwrap();
    let grant = keys
        .verify(
            &image_handler::request::target::Target::parse(path, Some(query)).unwrap(),
            SystemTime::now(),
        )
        .unwrap();
    assert_eq!(grant.prefix.as_deref(), Some("users/alice/"));
}

/// The URLs and widths of the first `srcset` attribute in `html`, with `&amp;` unescaped.
fn srcset_candidates(html: &str) -> Vec<(String, u32)> {
    let start = html.find("srcset=\"").expect("srcset") + "srcset=\"".len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .split(',')
        .map(|c| {
            let (url, w) = c.trim().rsplit_once(' ').unwrap();
            (
                url.replace("&amp;", "&"),
                w.trim_end_matches('w').parse().unwrap(),
            )
        })
        .collect()
}

fn attr(html: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = html.rfind(&needle)? + needle.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn srcset_golden_markup() {
    // dimensions from the original (the built-in samples: dune.jpg is 1600x1000)
    let run = cli(
        &[
            "srcset",
            "dune.jpg",
            "--widths",
            "320,640,1024,1600,2400",
            "--sizes",
            "(max-width: 600px) 100vw, 50vw",
            "--alt",
            "Dunes at dusk",
            "--quality",
            "70",
            "--base",
            "https://d111111abcdef8.cloudfront.net",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        r#"<img
  src="https://d111111abcdef8.cloudfront.net/dune.jpg?quality=70&amp;width=1024"
  srcset="https://d111111abcdef8.cloudfront.net/dune.jpg?quality=70&amp;width=320 320w,
    https://d111111abcdef8.cloudfront.net/dune.jpg?quality=70&amp;width=640 640w,
    https://d111111abcdef8.cloudfront.net/dune.jpg?quality=70&amp;width=1024 1024w,
    https://d111111abcdef8.cloudfront.net/dune.jpg?quality=70&amp;width=1600 1600w"
  sizes="(max-width: 600px) 100vw, 50vw"
  width="1024"
  height="640"
  alt="Dunes at dusk"
  loading="lazy"
  decoding="async">
"#
    );
    assert!(
        run.stderr.contains("fills at most 1600 px"),
        "{}",
        run.stderr
    );

    // <picture> with a fixed aspect ratio, without reading the original
    let run = cli(
        &[
            "srcset",
            "photos/cat.jpg",
            "--widths",
            "400,800",
            "--aspect",
            "1:1",
            "--picture",
            "--original-size",
            "1200x900",
            "--loading",
            "eager",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        r#"<picture>
  <source
    type="image/avif"
    srcset="/photos/cat.jpg?fit=cover&amp;format=avif&amp;height=400&amp;width=400 400w,
      /photos/cat.jpg?fit=cover&amp;format=avif&amp;height=800&amp;width=800 800w"
    sizes="100vw">
  <source
    type="image/webp"
    srcset="/photos/cat.jpg?fit=cover&amp;format=webp&amp;height=400&amp;width=400 400w,
      /photos/cat.jpg?fit=cover&amp;format=webp&amp;height=800&amp;width=800 800w"
    sizes="100vw">
  <img
    src="/photos/cat.jpg?fit=cover&amp;format=jpeg&amp;height=800&amp;width=800"
    srcset="/photos/cat.jpg?fit=cover&amp;format=jpeg&amp;height=400&amp;width=400 400w,
      /photos/cat.jpg?fit=cover&amp;format=jpeg&amp;height=800&amp;width=800 800w"
    sizes="100vw"
    width="800"
    height="800"
    alt=""
    loading="eager"
    decoding="async">
</picture>
"#
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn srcset_sizes_match_what_the_server_serves() {
    let dir = TempDir::new("ops-srcset");
    dir.write("rgba.png", &quadrant_rgba_png());
    dir.write("exif6.jpg", &exif_rotated_jpeg());
    let origin = dir.path.to_str().unwrap().to_string();
    let server = Server::fs(Config::default(), &dir).await;

    // EXIF orientation 6: stored 100x200, shown 200x100; widths above 200 are capped
    let run = cli(
        &[
            "srcset",
            "exif6.jpg",
            "--widths",
            "50,120,400",
            "--rotate",
            "90",
            "--origin",
            &origin,
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let candidates = srcset_candidates(&run.stdout);
    assert_eq!(
        candidates.iter().map(|c| c.1).collect::<Vec<_>>(),
        [50, 100]
    );
    for (url, width) in &candidates {
        let image = server.get(url).await.image("image/jpeg");
        assert_eq!(image.get_width(), *width as i32, "{url}");
    }
    // width/height are the src candidate's real size (rotated: portrait)
    let src = attr(&run.stdout, "src").unwrap();
    let served = server.get(&src).await.image("image/jpeg");
    assert_eq!(
        (attr(&run.stdout, "width"), attr(&run.stdout, "height")),
        (
            Some(served.get_width().to_string()),
            Some(served.get_height().to_string())
        )
    );
    assert_eq!((served.get_width(), served.get_height()), (100, 200));

    // a transparent original falls back to PNG in <picture>, through IMAGE_ORIGIN
    let run = cli(
        &["srcset", "rgba.png", "--widths", "100", "--picture"],
        &[("IMAGE_ORIGIN", origin.as_str())],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let src = attr(&run.stdout, "src").unwrap().replace("&amp;", "&");
    assert!(src.contains("format=png"), "{src}");
    assert_size(&server.get(&src).await.image("image/png"), 100, 50);

    // an origin that cannot be read: still markup, without width and height, and a note
    let port = free_port();
    let run = cli(
        &[
            "srcset",
            "a.jpg",
            "--widths",
            "100",
            "--origin",
            "s3://nowhere",
        ],
        &[("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{port}"))],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(attr(&run.stdout, "height").is_none(), "{}", run.stdout);
    assert!(
        run.stderr.contains("cannot read \"a.jpg\""),
        "{}",
        run.stderr
    );
    // srcset owns the width
    let run = cli(
        &["srcset", "dune.jpg", "--widths", "100", "--width", "5"],
        &[],
    )
    .await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--widths"), "{}", run.stderr);
}
