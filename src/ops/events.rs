//! S3 event notifications: which originals changed, and invalidating their variants.
//!
//! This module owns recognising S3 event notifications by their shape (so the
//! Lambda function can tell them from API Gateway and ALB events) and turning
//! them into `/<key>*` invalidations. It reads S3's notification format as S3
//! sends it to Lambda directly, or wrapped by SNS (`Records[].Sns.Message`) or
//! SQS (`Records[].body`, holding the S3 message or an SNS envelope). Keys in
//! these messages are URL-encoded (`red flower.jpg` arrives as
//! `red+flower.jpg`) and are decoded here.
//!
//! `ObjectCreated:*`, `ObjectRemoved:*` and `LifecycleExpiration:*` records
//! count as changes; other records (restores, replication, tagging) and S3's
//! `s3:TestEvent` are acknowledged and ignored. Changes to the same key in one
//! event are invalidated once. A failure is returned as an error, so Lambda
//! retries the event and then hands it to the function's dead-letter
//! destination; the caller reference is derived from the event, so a retried
//! event does not create a second invalidation for batches that succeeded.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::OpsError;
use super::invalidate::{Invalidator, RunOptions, Silent, Target, UrlStyles, plan};
use crate::origin::mapping::Routes;

/// The settings of automatic invalidation when originals change
/// (`INVALIDATE_ON_CHANGE=Yes`; read by the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeInvalidation {
    /// The CloudFront distribution (`DISTRIBUTION_ID`).
    pub distribution_id: String,
    /// The URL styles the site uses (`INVALIDATE_URL_STYLES`, default `query`).
    pub styles: UrlStyles,
}

/// One changed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectChange {
    /// The bucket.
    pub bucket: String,
    /// The object key, decoded.
    pub key: String,
    /// S3's event name, e.g. `ObjectCreated:Put`.
    pub event: String,
    /// S3's `sequencer` (or, lacking one, the event time), which tells one change from another.
    pub sequencer: String,
}

/// Recognises an S3 event notification by its shape. `None` when `payload`
/// is something else (an HTTP event); otherwise the changed objects, or why
/// the notification cannot be read.
pub fn recognise(payload: &Value) -> Option<Result<Vec<ObjectChange>, OpsError>> {
    if payload.get("source").and_then(Value::as_str) == Some("aws.s3")
        && payload.get("detail-type").is_some()
    {
        return Some(Err(OpsError::Input(
            "EventBridge S3 events are not supported: send S3 event notifications to the function \
             (directly, or through SNS or SQS)"
                .into(),
        )));
    }
    if payload.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Some(Ok(Vec::new()));
    }
    let records = payload.get("Records")?.as_array()?;
    Some(read_records(records, 0))
}

fn read_records(records: &[Value], depth: usize) -> Result<Vec<ObjectChange>, OpsError> {
    let mut changes = Vec::new();
    for record in records {
        let source = record
            .get("eventSource")
            .or_else(|| record.get("EventSource"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        match source {
            "aws:s3" => changes.extend(read_s3_record(record)?),
            "aws:sns" => {
                let message = record
                    .pointer("/Sns/Message")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("an SNS record without Sns.Message"))?;
                changes.extend(read_wrapped(message, depth)?);
            }
            "aws:sqs" => {
                let body = record
                    .get("body")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("an SQS record without a body"))?;
                changes.extend(read_wrapped(body, depth)?);
            }
            other => {
                return Err(bad(&format!(
                    "a record from {other:?}; the function reads S3 event notifications (directly, through SNS or SQS) and HTTP events"
                )));
            }
        }
    }
    Ok(changes)
}

/// An S3 notification (or an SNS envelope around one) carried as text by SNS or SQS.
fn read_wrapped(text: &str, depth: usize) -> Result<Vec<ObjectChange>, OpsError> {
    if depth > 2 {
        return Err(bad("notifications nested too deeply"));
    }
    let inner: Value = serde_json::from_str(text)
        .map_err(|e| bad(&format!("a wrapped message that is not JSON ({e})")))?;
    if inner.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    if let Some(message) = inner.get("Message").and_then(Value::as_str)
        && inner.get("Type").and_then(Value::as_str) == Some("Notification")
    {
        return read_wrapped(message, depth + 1);
    }
    match inner.get("Records").and_then(Value::as_array) {
        Some(records) => read_records(records, depth + 1),
        None => Err(bad(
            "a wrapped message that is not an S3 event notification",
        )),
    }
}

fn read_s3_record(record: &Value) -> Result<Option<ObjectChange>, OpsError> {
    let event = record
        .get("eventName")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("an S3 record without eventName"))?;
    // S3 writes `ObjectCreated:Put` to Lambda; accept an `s3:` prefix as some S3-compatible stores send.
    let name = event.strip_prefix("s3:").unwrap_or(event);
    let changes = ["ObjectCreated:", "ObjectRemoved:", "LifecycleExpiration:"];
    if !changes.iter().any(|p| name.starts_with(p)) {
        tracing::debug!(event, "S3 event that changes no original; ignored");
        return Ok(None);
    }
    let bucket = record
        .pointer("/s3/bucket/name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("an S3 record without s3.bucket.name"))?;
    let encoded = record
        .pointer("/s3/object/key")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("an S3 record without s3.object.key"))?;
    let key = decode_event_key(encoded)?;
    let sequencer = record
        .pointer("/s3/object/sequencer")
        .or_else(|| record.get("eventTime"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(Some(ObjectChange {
        bucket: bucket.to_string(),
        key,
        event: name.to_string(),
        sequencer: sequencer.to_string(),
    }))
}

/// S3 notifications URL-encode keys as form values: `+` is a space and `%2B` a plus.
pub fn decode_event_key(encoded: &str) -> Result<String, OpsError> {
    percent_encoding::percent_decode_str(&encoded.replace('+', " "))
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| {
            bad(&format!(
                "the key {encoded:?}, which is not UTF-8 once decoded"
            ))
        })
}

fn bad(what: &str) -> OpsError {
    OpsError::Input(format!("cannot read the S3 event notification: {what}"))
}

/// Which request keys reach a stored object: the one rule that invalidation
/// on change and warming on upload share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// `SOURCE_BUCKETS`: a query-style key names an object of the first
    /// (default) bucket, as it is.
    Buckets(Vec<String>),
    /// `ORIGINS` and `MAPPINGS`: the paths the mappings route to the object
    /// ([`Routes::request_keys`]).
    Routes(Routes),
}

impl Reach {
    /// The request keys (paths without their leading `/`) that read `key`
    /// of `bucket`; empty when no query-style URL reaches it.
    pub fn request_keys(&self, bucket: &str, key: &str) -> Vec<String> {
        match self {
            Reach::Buckets(buckets) if buckets.first().is_some_and(|b| b == bucket) => {
                vec![key.to_string()]
            }
            Reach::Buckets(_) => Vec::new(),
            Reach::Routes(routes) => routes.request_keys(bucket, key),
        }
    }
}

/// Invalidates the variants of changed originals (`INVALIDATE_ON_CHANGE=Yes`).
#[derive(Debug, Clone)]
pub struct ChangeInvalidator {
    invalidator: Invalidator,
    reach: Reach,
    styles: UrlStyles,
}

/// What an event led to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeReport {
    /// The changed objects read from the event.
    pub changes: usize,
    /// The paths invalidated.
    pub paths: Vec<String>,
    /// The invalidations created.
    pub invalidations: Vec<String>,
    /// Changes that need no invalidation, and fallbacks taken.
    pub warnings: Vec<String>,
}

impl ChangeInvalidator {
    /// Invalidates on `invalidator`'s distribution. `buckets` are the
    /// `SOURCE_BUCKETS`; query-style URLs (`/<key>`) address the first one.
    pub fn new(invalidator: Invalidator, buckets: Vec<String>, styles: UrlStyles) -> Self {
        ChangeInvalidator {
            invalidator,
            reach: Reach::Buckets(buckets),
            styles,
        }
    }

    /// The same, for originals served through `ORIGINS` and `MAPPINGS`:
    /// each change invalidates `/<path>*` for every path the mappings route
    /// to the object.
    pub fn with_routes(mut self, routes: Routes) -> Self {
        self.reach = Reach::Routes(routes);
        self
    }

    /// What to invalidate for these changes, and what to log about the rest.
    pub fn targets(&self, changes: &[ObjectChange]) -> (Vec<Target>, Vec<String>) {
        let mut targets = Vec::new();
        let mut warnings = Vec::new();
        let prefixless = self.styles.thumbor || self.styles.base64 || self.styles.rewrite;
        for change in changes {
            let name = format!("s3://{}/{}", change.bucket, change.key);
            let keys = self.reach.request_keys(&change.bucket, &change.key);
            let buckets = match &self.reach {
                Reach::Buckets(buckets) => buckets.as_slice(),
                Reach::Routes(_) => &[],
            };
            if change.key.ends_with('/') {
                warnings.push(format!("{name} is a folder marker; nothing to invalidate"));
            } else if !keys.is_empty() {
                targets.extend(keys.into_iter().map(Target::Key));
            } else if let Reach::Routes(_) = &self.reach {
                warnings.push(format!(
                    "{name}: no rule of MAPPINGS routes a path to it; nothing to invalidate"
                ));
            } else if !buckets.contains(&change.bucket) {
                warnings.push(format!(
                    "{name} is not in SOURCE_BUCKETS, so the service never serves it; nothing to invalidate"
                ));
            } else if prefixless {
                // Only thumbor (`s3:<bucket>/`) and base64 URLs reach other buckets.
                warnings.push(format!(
                    "{name} is reached only through thumbor or base64 URLs, whose key is not a path prefix: invalidating /*"
                ));
                targets.push(Target::Path("/*".into()));
            } else {
                warnings.push(format!(
                    "{name}: query-style URLs reach only the first of SOURCE_BUCKETS ({}); nothing to invalidate",
                    buckets.first().map(String::as_str).unwrap_or("none")
                ));
            }
        }
        (targets, warnings)
    }

    /// Invalidates the variants of every changed original, retrying while
    /// CloudFront has too many invalidations in progress until `deadline`.
    pub async fn handle(
        &self,
        changes: &[ObjectChange],
        deadline: Instant,
    ) -> Result<ChangeReport, OpsError> {
        let (targets, mut warnings) = self.targets(changes);
        let mut invalid = Vec::new();
        let mut valid = Vec::new();
        for target in targets {
            // One bad key must not hold up the others.
            match plan(std::slice::from_ref(&target), self.styles) {
                Ok(_) => valid.push(target),
                Err(e) => invalid.push(e.to_string()),
            }
        }
        warnings.extend(invalid);
        let planned = plan(&valid, self.styles)?;
        warnings.extend(planned.warnings.iter().cloned());
        for warning in &warnings {
            tracing::warn!(%warning, "invalidation on change");
        }
        let mut report = ChangeReport {
            changes: changes.len(),
            paths: planned.paths.clone(),
            invalidations: Vec::new(),
            warnings,
        };
        if planned.paths.is_empty() {
            return Ok(report);
        }
        let options = RunOptions {
            wait: false,
            poll_interval: Duration::from_secs(1),
            deadline,
            reference: event_reference(changes),
        };
        let run = self
            .invalidator
            .run(planned.batches(), &options, &Silent)
            .await;
        report.invalidations = run.batches.iter().filter_map(|b| b.id.clone()).collect();
        let failures: Vec<String> = run
            .batches
            .iter()
            .filter_map(|b| {
                b.error
                    .as_ref()
                    .map(|e| format!("{} paths: {e}", b.paths.len()))
            })
            .collect();
        if !failures.is_empty() {
            tracing::error!(
                distribution = self.invalidator.distribution_id(),
                created = ?report.invalidations,
                failed = ?failures,
                "invalidation on change failed; Lambda will retry the event"
            );
            return Err(OpsError::Aws {
                operation: "CreateInvalidation",
                detail: failures.join("; "),
            });
        }
        tracing::info!(
            distribution = self.invalidator.distribution_id(),
            paths = ?report.paths,
            invalidations = ?report.invalidations,
            "invalidated changed originals"
        );
        Ok(report)
    }
}

/// A caller reference that is the same for the same event: a retried event
/// names the same invalidations, and CloudFront answers with those instead of
/// creating new ones.
pub fn event_reference(changes: &[ObjectChange]) -> String {
    let mut lines: Vec<String> = changes
        .iter()
        .map(|c| format!("{}\n{}\n{}\n{}", c.bucket, c.key, c.event, c.sequencer))
        .collect();
    lines.sort();
    let digest = Sha256::digest(lines.join("\n\n").as_bytes());
    format!("image-handler-s3-{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_record(event: &str, bucket: &str, key: &str, sequencer: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-01-01T00:00:00.000Z", "eventName": event,
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": key, "size": 1, "sequencer": sequencer}}
        })
    }

    #[test]
    fn direct_notifications() {
        let event = json!({"Records": [
            s3_record("ObjectCreated:Put", "b", "photos/red+flower%2B1.jpg", "01"),
            s3_record("ObjectRemoved:Delete", "b", "caf%C3%A9.png", "02"),
            s3_record("ObjectRestore:Completed", "b", "cold.jpg", "03"),
            s3_record("LifecycleExpiration:Delete", "b", "old.jpg", "04"),
        ]});
        let changes = recognise(&event).unwrap().unwrap();
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["photos/red flower+1.jpg", "café.png", "old.jpg"]);
        assert_eq!(changes[1].event, "ObjectRemoved:Delete");
        assert_eq!(changes[0].sequencer, "01");
    }

    #[test]
    fn wrapped_notifications() {
        let s3 = json!({"Records": [s3_record("ObjectCreated:Copy", "b", "a.jpg", "0A")]});
        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": s3.to_string()}}]});
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "body": s3.to_string()}]});
        let envelope = json!({"Type": "Notification", "Message": s3.to_string()});
        let sns_sqs =
            json!({"Records": [{"eventSource": "aws:sqs", "body": envelope.to_string()}]});
        for event in [sns, sqs, sns_sqs] {
            let changes = recognise(&event).unwrap().unwrap();
            assert_eq!(changes.len(), 1, "{event}");
            assert_eq!(changes[0].key, "a.jpg");
        }
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"});
        assert_eq!(recognise(&test).unwrap().unwrap(), []);
        let test_in_sqs =
            json!({"Records": [{"eventSource": "aws:sqs", "body": test.to_string()}]});
        assert_eq!(recognise(&test_in_sqs).unwrap().unwrap(), []);
    }

    #[test]
    fn other_shapes() {
        // HTTP events are not ours
        assert!(recognise(&json!({"httpMethod": "GET", "path": "/a.jpg"})).is_none());
        assert!(recognise(&json!({"version": "2.0", "rawPath": "/a.jpg"})).is_none());
        // records we cannot read are errors, not HTTP events
        let dynamo = json!({"Records": [{"eventSource": "aws:dynamodb"}]});
        assert!(recognise(&dynamo).unwrap().is_err());
        let broken =
            json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]});
        assert!(recognise(&broken).unwrap().is_err());
        let eventbridge =
            json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}});
        assert!(recognise(&eventbridge).unwrap().is_err());
        assert!(decode_event_key("%FF").is_err());
    }

    #[test]
    fn references_follow_the_event() {
        let change = |key: &str, seq: &str| ObjectChange {
            bucket: "b".into(),
            key: key.into(),
            event: "ObjectCreated:Put".into(),
            sequencer: seq.into(),
        };
        let a = [change("a.jpg", "1"), change("b.jpg", "2")];
        let b = [change("b.jpg", "2"), change("a.jpg", "1")];
        assert_eq!(event_reference(&a), event_reference(&b));
        assert_ne!(
            event_reference(&a),
            event_reference(&[change("a.jpg", "3")])
        );
        assert!(event_reference(&a).len() <= 128);
    }

    /// An invalidator that is never run (`targets` only).
    fn invalidator() -> Invalidator {
        let shared = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Invalidator::new(&shared, "E123").unwrap()
    }

    fn change(bucket: &str, key: &str) -> ObjectChange {
        ObjectChange {
            bucket: bucket.into(),
            key: key.into(),
            event: "ObjectCreated:Put".into(),
            sequencer: String::new(),
        }
    }

    #[test]
    fn targets_by_bucket() {
        let invalidator = invalidator();
        let changes = [
            change("main", "a.jpg"),
            change("other", "b.jpg"),
            change("elsewhere", "c.jpg"),
            change("main", "folder/"),
        ];
        let query = ChangeInvalidator::new(
            invalidator.clone(),
            vec!["main".into(), "other".into()],
            UrlStyles::QUERY,
        );
        let (targets, warnings) = query.targets(&changes);
        assert_eq!(targets, [Target::Key("a.jpg".into())]);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        let thumbor = ChangeInvalidator::new(
            invalidator,
            vec!["main".into(), "other".into()],
            UrlStyles::parse("query,thumbor").unwrap(),
        );
        let (targets, _) = thumbor.targets(&changes);
        assert_eq!(
            targets,
            [Target::Key("a.jpg".into()), Target::Path("/*".into())]
        );
    }

    #[test]
    fn targets_by_mapping() {
        let shared = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let invalidator = Invalidator::new(&shared, "E123").unwrap();
        let routes = Routes::parse(
            r#"{"photos": {"s3": "pics", "prefix": "public/"}, "site": {"http": "https://example.com/"}}"#,
            Some(r#"[{"path": "/p/", "origin": "photos", "strip_prefix": true}, {"path": "/", "origin": "site"}]"#),
        )
        .unwrap();
        let change = |bucket: &str, key: &str| ObjectChange {
            bucket: bucket.into(),
            key: key.into(),
            event: "ObjectCreated:Put".into(),
            sequencer: String::new(),
        };
        let changes = [
            change("pics", "public/a b.jpg"),
            change("pics", "private/c.jpg"),
            change("main", "a.jpg"),
        ];
        let routed = ChangeInvalidator::new(invalidator, vec![], UrlStyles::QUERY)
            .with_routes(routes.clone());
        let (targets, warnings) = routed.targets(&changes);
        assert_eq!(targets, [Target::Key("p/a b.jpg".into())]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings.iter().all(|w| w.contains("MAPPINGS")),
            "{warnings:?}"
        );
        let reach = Reach::Routes(routes);
        assert_eq!(reach.request_keys("pics", "public/x.png"), ["p/x.png"]);
        assert_eq!(
            Reach::Buckets(vec!["main".into(), "b".into()]).request_keys("b", "x.png"),
            Vec::<String>::new()
        );
    }
}
