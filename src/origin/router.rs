//! The origins a handler serves from, and the choice of one per request:
//! either one origin for every key (`SOURCE_BUCKETS`, `serve --origin`, the
//! embedded samples), or the named origins of `ORIGINS` chosen by the rules
//! of `MAPPINGS` ([`super::mapping`] holds that contract and its choice).
//!
//! [`Router::pick`] turns a request's [`Source`] and `Host` into the origin
//! and the source to ask it for: the mapping's key (its prefix stripped when
//! the rule says so), an S3 origin's own `prefix` put before it and its
//! bucket named. A request that names a bucket (SIH's JSON `bucket`,
//! thumbor's `s3:` tag) is served only when the chosen origin is that S3
//! bucket. [`Router::build`] makes the origins from their specs at start-up,
//! reading each secret header value from Secrets Manager once.
//!
//! The router is an [`Origin`] too, choosing as a request without a `Host`
//! would: tools and the playground read originals through it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::mapping::{HeaderSource, Mappings, OriginSpec, Routes};
use super::{Ask, FetchFuture, FsOrigin, HttpOrigin, Origin, S3Origin, S3Settings};
use crate::error::{Error, Result};
use crate::request::Source;

/// One origin of the router, by name.
struct Named {
    name: String,
    origin: Arc<dyn Origin>,
    /// For an S3 origin of `ORIGINS`: its bucket and key prefix.
    s3: Option<(String, String)>,
}

/// The origin chosen for one request.
pub struct Picked<'a> {
    /// The origin's name in `ORIGINS` (`default` for a single origin).
    pub name: &'a str,
    /// The origin.
    pub origin: &'a dyn Origin,
    /// What to ask it for.
    pub source: Source,
}

/// Chooses the origin of each request.
pub struct Router {
    origins: Vec<Named>,
    mappings: Option<Mappings>,
}

/// The name a single origin is logged under.
pub const SINGLE: &str = "default";

impl Router {
    /// One origin for every request, keys unchanged.
    pub fn single(origin: Arc<dyn Origin>) -> Router {
        Router {
            origins: vec![Named {
                name: SINGLE.into(),
                origin,
                s3: None,
            }],
            mappings: None,
        }
    }

    /// The origins of `routes` built, with S3 and Secrets Manager clients
    /// made from `shared` (its credentials, region and endpoint, which an S3
    /// origin's own `endpoint` and `region` override). Fails with a message
    /// naming the origin.
    pub async fn build(
        routes: &Routes,
        shared: &aws_config::SdkConfig,
        max_bytes: u64,
        s3: &S3Settings,
    ) -> std::result::Result<Router, String> {
        let secrets = read_secrets(routes, shared).await?;
        let mut origins = Vec::with_capacity(routes.origins.entries.len());
        for (name, spec) in &routes.origins.entries {
            let fail = |e: String| format!("ORIGINS.{name}: {e}");
            let (origin, place): (Arc<dyn Origin>, _) = match spec {
                OriginSpec::S3(spec) => {
                    let settings = S3Settings {
                        buckets: vec![spec.bucket.clone()],
                        // S3-compatible stores at an endpoint of their own
                        // are addressed by path (MinIO, Ceph need it; R2 and
                        // GCS accept it).
                        force_path_style: s3.force_path_style || spec.endpoint.is_some(),
                        max_bytes,
                        timeouts: s3.timeouts,
                    };
                    let mut own = shared.to_builder();
                    if let Some(endpoint) = &spec.endpoint {
                        own.set_endpoint_url(Some(endpoint.as_str().to_string()));
                    }
                    if let Some(region) = &spec.region {
                        own.set_region(Some(aws_config::Region::new(region.clone())));
                    }
                    if let Some(id) = &spec.credentials {
                        let text = secrets
                            .get(&(id.clone(), None))
                            .ok_or_else(|| fail(format!("the secret {id} was not read")))?;
                        let credentials = s3_credentials(text).map_err(fail)?;
                        own.set_credentials_provider(Some(
                            aws_sdk_s3::config::SharedCredentialsProvider::new(credentials),
                        ));
                    }
                    let origin = S3Origin::new(&own.build(), settings).map_err(fail)?;
                    (
                        Arc::new(origin),
                        Some((spec.bucket.clone(), spec.prefix.clone())),
                    )
                }
                OriginSpec::Http(spec) => {
                    let settings = spec
                        .settings(max_bytes, |source| match source {
                            HeaderSource::Secret { id, field } => secrets
                                .get(&(id.clone(), field.clone()))
                                .cloned()
                                .ok_or_else(|| format!("the secret {id} was not read")),
                            HeaderSource::Literal(v) => Ok(v.clone()),
                        })
                        .map_err(fail)?;
                    (Arc::new(HttpOrigin::new(settings).map_err(fail)?), None)
                }
                OriginSpec::Dir(dir) => {
                    let origin = FsOrigin::new(dir, max_bytes)
                        .map_err(|e| fail(format!("{}: {e}", dir.display())))?;
                    (Arc::new(origin), None)
                }
            };
            origins.push(Named {
                name: name.clone(),
                origin,
                s3: place,
            });
        }
        Ok(Router {
            origins,
            mappings: Some(routes.mappings.clone()),
        })
    }

    /// The origin for `source` asked at `host`, and what to ask it for:
    /// 404 `NoSuchKey` when no mapping matches, 400 `InvalidKey` for a path
    /// the mappings refuse, 403 `BucketNotAllowed` when the request names a
    /// bucket the chosen origin is not.
    pub fn pick(&self, host: Option<&str>, source: &Source) -> Result<Picked<'_>> {
        let Some(mappings) = &self.mappings else {
            let one = self.origins.first().ok_or_else(|| Error::NotFound {
                key: source.key.clone(),
            })?;
            return Ok(Picked {
                name: &one.name,
                origin: one.origin.as_ref(),
                source: source.clone(),
            });
        };
        let route = mappings.route(host, &format!("/{}", source.key))?;
        let named = self
            .origins
            .iter()
            .find(|o| o.name == route.origin)
            .ok_or_else(|| Error::NotFound {
                key: source.key.clone(),
            })?;
        if route.key.is_empty() {
            return Err(Error::NotFound {
                key: source.key.clone(),
            });
        }
        let source = match (&named.s3, &source.bucket) {
            (Some((bucket, _)), Some(asked)) if asked != bucket => {
                return Err(Error::BucketNotAllowed(asked.clone()));
            }
            (None, Some(asked)) => return Err(Error::BucketNotAllowed(asked.clone())),
            (Some((bucket, prefix)), _) => Source {
                bucket: Some(bucket.clone()),
                key: format!("{prefix}{}", route.key),
            },
            (None, None) => Source {
                bucket: None,
                key: route.key,
            },
        };
        Ok(Picked {
            name: &named.name,
            origin: named.origin.as_ref(),
            source,
        })
    }

    /// The origins' names, in order, with the path prefixes that reach each
    /// (`/` for a single origin).
    pub fn describe(&self) -> Vec<(String, Vec<String>)> {
        self.origins
            .iter()
            .map(|o| {
                let paths = match &self.mappings {
                    None => vec!["/".to_string()],
                    Some(m) => m
                        .rules
                        .iter()
                        .filter(|r| r.origin == o.name)
                        .map(|r| {
                            let path = if r.prefix.is_empty() { "/" } else { &r.prefix };
                            match &r.host {
                                Some(host) => format!("{host}{path}"),
                                None => path.to_string(),
                            }
                        })
                        .collect(),
                };
                (o.name.clone(), paths)
            })
            .collect()
    }
}

/// Each secret the origins name (a header's value, or an S3 origin's
/// credentials), read once: `(id, field)` → value (the whole text when no
/// field is named).
async fn read_secrets(
    routes: &Routes,
    shared: &aws_config::SdkConfig,
) -> std::result::Result<BTreeMap<(String, Option<String>), String>, String> {
    let mut named: Vec<(&str, &str, Option<&str>)> = Vec::new();
    for (name, spec) in &routes.origins.entries {
        match spec {
            OriginSpec::Http(h) => {
                for (_, source) in &h.headers {
                    if let HeaderSource::Secret { id, field } = source {
                        named.push((name, id, field.as_deref()));
                    }
                }
            }
            OriginSpec::S3(s3) => {
                if let Some(id) = &s3.credentials {
                    named.push((name, id, None));
                }
            }
            OriginSpec::Dir(_) => {}
        }
    }
    let mut out = BTreeMap::new();
    let mut client = None;
    for (name, id, field) in named {
        let key = (id.to_string(), field.map(str::to_string));
        if out.contains_key(&key) {
            continue;
        }
        let client = client.get_or_insert_with(|| aws_sdk_secretsmanager::Client::new(shared));
        let fail = |why: String| format!("ORIGINS.{name}: the secret {id}: {why}");
        let text = client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| fail(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string()))?
            .secret_string()
            .map(str::to_string)
            .ok_or_else(|| fail("has no SecretString".into()))?;
        let value = match field {
            None => text,
            Some(field) => serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|json| json.get(field)?.as_str().map(str::to_string))
                .ok_or_else(|| {
                    fail(format!(
                        "is not a JSON object with the text field {field:?}"
                    ))
                })?,
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// Static S3 credentials from a secret's text: a JSON object with
/// `access_key_id`, `secret_access_key` and optionally `session_token`.
fn s3_credentials(text: &str) -> std::result::Result<aws_sdk_s3::config::Credentials, String> {
    #[derive(serde::Deserialize)]
    struct Keys {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    }
    let keys: Keys = serde_json::from_str(text).map_err(|_| {
        "the credentials secret is not a JSON object with access_key_id and secret_access_key"
            .to_string()
    })?;
    Ok(aws_sdk_s3::config::Credentials::new(
        keys.access_key_id,
        keys.secret_access_key,
        keys.session_token,
        None,
        "image-handler-origin",
    ))
}

impl Origin for Router {
    fn fetch_reserving<'a>(&'a self, ask: Ask<'a>) -> FetchFuture<'a> {
        Box::pin(async move {
            let picked = self.pick(None, ask.source)?;
            let source = &picked.source;
            picked.origin.fetch_reserving(Ask { source, ..ask }).await
        })
    }

    fn examples(&self) -> Vec<String> {
        let Some(mappings) = &self.mappings else {
            return self
                .origins
                .first()
                .map(|o| o.origin.examples())
                .unwrap_or_default();
        };
        // Keys of a host-less rule's origin, as paths that reach them.
        mappings
            .rules
            .iter()
            .filter(|r| r.host.is_none())
            .find_map(|rule| {
                let named = self.origins.iter().find(|o| o.name == rule.origin)?;
                let keys = named.origin.examples();
                let keys: Vec<String> = keys
                    .into_iter()
                    .map(|key| match (rule.strip_prefix, rule.prefix.as_str()) {
                        (true, prefix) if !prefix.is_empty() => {
                            format!("{}/{key}", prefix.trim_start_matches('/'))
                        }
                        _ => key,
                    })
                    .filter(|key| {
                        self.pick(
                            None,
                            &Source {
                                bucket: None,
                                key: key.clone(),
                            },
                        )
                        .is_ok()
                    })
                    .collect();
                (!keys.is_empty()).then_some(keys)
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
