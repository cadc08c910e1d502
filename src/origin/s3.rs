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

use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use bytes::{Bytes, BytesMut};

use super::{FetchFuture, Fetched, Meta, Origin, Original};
use crate::error::{Error, Result};
use crate::request::Source;

/// How to reach S3.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Allowed buckets; the first is the default.
    pub buckets: Vec<String>,
    /// Path-style addressing (`S3_FORCE_PATH_STYLE`), for stores without virtual hosts.
    pub force_path_style: bool,
    /// Largest original fetched, in bytes.
    pub max_bytes: u64,
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

    /// An origin using an explicit AWS configuration. Timeouts are set to fit
    /// API Gateway's 29 s: 3 s to connect, 10 s per attempt, 20 s in all.
    pub fn new(
        shared: &aws_config::SdkConfig,
        settings: S3Settings,
    ) -> std::result::Result<S3Origin, String> {
        if settings.buckets.is_empty() {
            return Err("the S3 origin needs at least one bucket (SOURCE_BUCKETS)".into());
        }
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(20))
            .build();
        let config = aws_sdk_s3::config::Builder::from(shared)
            .timeout_config(timeouts)
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

    async fn get(&self, source: &Source, known: Option<&str>) -> Result<Fetched> {
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
        let mut request = self.client.get_object().bucket(bucket).key(key);
        if let Some(known) = known {
            request = request.if_none_match(format!("\"{known}\""));
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(e) => return s3_error(e, bucket, key, known),
        };
        let size = output.content_length().unwrap_or(0).max(0) as u64;
        if size > self.settings.max_bytes {
            return Err(Error::SourceTooLarge {
                key: key.to_string(),
                size,
                limit: self.settings.max_bytes,
            });
        }
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
        while let Some(chunk) = body.try_next().await.map_err(|e| Error::Origin {
            detail: format!("s3://{bucket}/{key}: {e}"),
        })? {
            if (bytes.len() + chunk.len()) as u64 > self.settings.max_bytes {
                let size = (bytes.len() + chunk.len()) as u64;
                return Err(Error::SourceTooLarge {
                    key: key.to_string(),
                    size,
                    limit: self.settings.max_bytes,
                });
            }
            bytes.extend_from_slice(&chunk);
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
    fn fetch<'a>(&'a self, source: &'a Source, known: Option<&'a str>) -> FetchFuture<'a> {
        Box::pin(self.get(source, known))
    }
}
