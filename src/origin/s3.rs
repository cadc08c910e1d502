//! The S3 origin: originals are objects in an allow-list of buckets.
//!
//! Works with AWS S3 and S3-compatible stores (MinIO, Ceph, R2, moto) through
//! `AWS_ENDPOINT_URL` and path-style addressing. A request's `If-None-Match`
//! identity is forwarded to `GetObject`, so an unchanged original costs S3's
//! 304 and no transfer. Failures map to client-safe errors:
//!
//! | S3 answer | our answer |
//! |---|---|
//! | `NoSuchKey` | 404 `NoSuchKey` |
//! | `AccessDenied`, `NoSuchBucket` | 404 `NoSuchKey`, with the real cause logged (as SIH: it does not tell missing from forbidden) |
//! | `SlowDown`, 503, throttling | 503 `OriginUnavailable` |
//! | other 5xx, connection failures | 502 `OriginError` |
//! | timeouts | 504 `OriginTimeout` |
//!
//! Retries: one budget of `S3_MAX_ATTEMPTS` GETs in all, counted here (the
//! SDK's own retry is off, so its attempts do not multiply with ours). A GET
//! is safe to repeat, and it is repeated, with exponential backoff and
//! jitter, after a 5xx, throttling, a connection failure, an attempt timeout
//! or a body that fails part-way (cut short, reset). The whole fetch, body
//! included, is bounded by `S3_TIMEOUT`: the SDK's own operation timeout
//! stops at the response head, so a body that trickles in would otherwise
//! hold the request.
//!
//! Memory: the object's `Content-Length` is reserved in the memory budget
//! ([`super::Reserve`]) before its body is read (`MAX_SOURCE_BYTES` when S3
//! does not state it), and the body is held to it.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use bytes::{Bytes, BytesMut};

use super::retry::{Failure, Reserved, retrying};
use super::{Ask, FetchFuture, Fetched, Meta, Origin, Original, Reserve};
use crate::error::{Error, Result};

/// How to reach S3.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Allowed buckets; the first is the default.
    pub buckets: Vec<String>,
    /// Path-style addressing (`S3_FORCE_PATH_STYLE`), for stores without virtual hosts.
    pub force_path_style: bool,
    /// Largest original fetched, in bytes.
    pub max_bytes: u64,
    /// Timeouts and attempts.
    pub timeouts: S3Timeouts,
}

/// How long S3 may take, and how often a GET is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Timeouts {
    /// To open a connection (`S3_CONNECT_TIMEOUT`, 3 s).
    pub connect: Duration,
    /// For one attempt's response head (`S3_ATTEMPT_TIMEOUT`, 10 s).
    pub attempt: Duration,
    /// For the whole fetch, retries and body included (`S3_TIMEOUT`, 20 s).
    pub operation: Duration,
    /// Attempts in all, the first included (`S3_MAX_ATTEMPTS`, 3).
    pub max_attempts: u32,
}

impl Default for S3Timeouts {
    /// Fits API Gateway's 29 s: 3 s to connect, 10 s per attempt, 20 s in all.
    fn default() -> Self {
        S3Timeouts {
            connect: Duration::from_secs(3),
            attempt: Duration::from_secs(10),
            operation: Duration::from_secs(20),
            max_attempts: 3,
        }
    }
}

/// Whether an error mapped from S3's answer is worth another GET: a 5xx,
/// throttling, a connection failure or a timeout.
fn transient(e: Error) -> Failure {
    match e {
        Error::Origin { .. } | Error::OriginUnavailable { .. } | Error::OriginTimeout { .. } => {
            Failure::Transient(e)
        }
        other => Failure::Final(other),
    }
}

/// Serves originals from S3.
#[derive(Debug, Clone)]
pub struct S3Origin {
    client: aws_sdk_s3::Client,
    settings: S3Settings,
}

impl S3Origin {
    /// An origin using the AWS configuration from the environment
    /// (credentials, region, `AWS_ENDPOINT_URL`).
    pub async fn from_env(settings: S3Settings) -> std::result::Result<S3Origin, String> {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        S3Origin::new(&shared, settings)
    }

    /// An origin using an explicit AWS configuration, with the timeouts and
    /// attempts of `settings.timeouts`.
    pub fn new(
        shared: &aws_config::SdkConfig,
        settings: S3Settings,
    ) -> std::result::Result<S3Origin, String> {
        if settings.buckets.is_empty() {
            return Err("the S3 origin needs at least one bucket (SOURCE_BUCKETS)".into());
        }
        let t = settings.timeouts;
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(t.connect)
            .operation_attempt_timeout(t.attempt)
            .operation_timeout(t.operation)
            .build();
        // One retry budget, counted in `get`: the SDK makes one attempt per GET.
        let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(1);
        let config = aws_sdk_s3::config::Builder::from(shared)
            .timeout_config(timeouts)
            .retry_config(retry)
            .force_path_style(settings.force_path_style)
            .build();
        Ok(S3Origin {
            client: aws_sdk_s3::Client::from_conf(config),
            settings,
        })
    }

    /// The allowed buckets.
    pub fn buckets(&self) -> &[String] {
        &self.settings.buckets
    }

    async fn get(&self, ask: Ask<'_>) -> Result<Fetched> {
        let (source, known, reserve) = (ask.source, ask.known, ask.reserve);
        let bucket = match &source.bucket {
            Some(b) if self.settings.buckets.contains(b) => b.as_str(),
            Some(b) => return Err(Error::BucketNotAllowed(b.clone())),
            None => self
                .settings
                .buckets
                .first()
                .map(String::as_str)
                .unwrap_or_default(),
        };
        let key = source.key.as_str();
        let t = self.settings.timeouts;
        let started = Instant::now();
        let reserved = Reserved::default();
        let attempts = retrying(t.max_attempts, "S3", &key, || {
            self.get_once(bucket, key, known, reserve, &reserved)
        });
        let left = t.operation.saturating_sub(started.elapsed());
        tokio::time::timeout(left, attempts)
            .await
            .unwrap_or_else(|_| {
                Err(Error::OriginTimeout {
                    detail: format!(
                        "s3://{bucket}/{key}: not complete within {:?} (S3_TIMEOUT)",
                        t.operation
                    ),
                })
            })
    }

    async fn get_once(
        &self,
        bucket: &str,
        key: &str,
        known: Option<&str>,
        reserve: &dyn Reserve,
        reserved: &Reserved,
    ) -> std::result::Result<Fetched, Failure> {
        let mut request = self.client.get_object().bucket(bucket).key(key);
        if let Some(known) = known {
            request = request.if_none_match(format!("\"{known}\""));
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(e) => return s3_error(e, bucket, key, known).map_err(transient),
        };
        let declared = output.content_length().is_some();
        let size = output.content_length().unwrap_or(0).max(0) as u64;
        if size > self.settings.max_bytes {
            return Err(Failure::Final(Error::SourceTooLarge {
                key: key.to_string(),
                size,
                limit: self.settings.max_bytes,
            }));
        }
        // Memory for the body before it is read (all it may be, if unstated);
        // a retry reserves only what a larger object needs beyond the first.
        let needed = if declared {
            size
        } else {
            self.settings.max_bytes
        };
        reserved.up_to(reserve, key, needed).await?;
        let meta = Meta {
            identity: output
                .e_tag()
                .map(super::identity_token)
                .unwrap_or_default(),
            last_modified: output
                .last_modified()
                .and_then(|t| SystemTime::try_from(*t).ok()),
            cache_control: output.cache_control().map(str::to_string),
            expires: output.expires_string().map(str::to_string),
        };
        let content_type = output.content_type().map(str::to_string);
        let mut body = output.body;
        let mut bytes = BytesMut::with_capacity(size as usize);
        loop {
            let chunk = match body.try_next().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    return Err(Failure::Transient(Error::Origin {
                        detail: format!("s3://{bucket}/{key}: the body failed: {e}"),
                    }));
                }
            };
            if (bytes.len() + chunk.len()) as u64 > needed {
                if declared {
                    return Err(Failure::Transient(Error::Origin {
                        detail: format!("s3://{bucket}/{key}: more than the {size} bytes stated"),
                    }));
                }
                let size = (bytes.len() + chunk.len()) as u64;
                return Err(Failure::Final(Error::SourceTooLarge {
                    key: key.to_string(),
                    size,
                    limit: self.settings.max_bytes,
                }));
            }
            bytes.extend_from_slice(&chunk);
        }
        // The HTTP client checks Content-Length; this is the same check, stated.
        if declared && bytes.len() as u64 != size {
            return Err(Failure::Transient(Error::Origin {
                detail: format!(
                    "s3://{bucket}/{key}: {} of {size} bytes arrived",
                    bytes.len()
                ),
            }));
        }
        Ok(Fetched::Full(Original {
            bytes: Bytes::from(bytes),
            content_type,
            meta,
        }))
    }
}

fn s3_error(
    e: SdkError<GetObjectError>,
    bucket: &str,
    key: &str,
    known: Option<&str>,
) -> Result<Fetched> {
    let detail = format!(
        "s3://{bucket}/{key}: {}",
        aws_sdk_s3::error::DisplayErrorContext(&e)
    );
    let status = e.raw_response().map(|r| r.status().as_u16());
    if status == Some(304) {
        let header = |name: &str| {
            e.raw_response()
                .and_then(|r| r.headers().get(name))
                .map(str::to_string)
        };
        return Ok(Fetched::Unchanged(Meta {
            identity: known.unwrap_or_default().to_string(),
            last_modified: header("last-modified").and_then(|d| httpdate::parse_http_date(&d).ok()),
            cache_control: header("cache-control"),
            expires: header("expires"),
        }));
    }
    let not_found = || Error::NotFound {
        key: key.to_string(),
    };
    match &e {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            match (code, status) {
                ("NoSuchKey", _) | (_, Some(404)) => Err(not_found()),
                ("AccessDenied", _) | ("NoSuchBucket", _) | (_, Some(403)) => {
                    tracing::warn!(%detail, "S3 refused the object; answering 404");
                    Err(not_found())
                }
                ("SlowDown", _)
                | ("Throttling", _)
                | ("ThrottlingException", _)
                | (_, Some(503))
                | (_, Some(429)) => Err(Error::OriginUnavailable { detail }),
                _ => Err(Error::Origin { detail }),
            }
        }
        SdkError::TimeoutError(_) => Err(Error::OriginTimeout { detail }),
        SdkError::DispatchFailure(d) if d.is_timeout() => Err(Error::OriginTimeout { detail }),
        _ => Err(Error::Origin { detail }),
    }
}

impl Origin for S3Origin {
    fn fetch_reserving<'a>(&'a self, ask: Ask<'a>) -> FetchFuture<'a> {
        Box::pin(self.get(ask))
    }
}
