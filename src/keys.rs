//! Where signing keys come from: the environment, or AWS Secrets Manager.
//!
//! As in SIH, `SECRETS_MANAGER` names a secret whose JSON value holds the
//! signing secret under the field named by `SECRET_KEY`. Both the current
//! and the previous version of the secret (`AWSCURRENT`, `AWSPREVIOUS`) are
//! active, so a rotation never breaks URLs signed just before it. The keys
//! are fetched on first use and cached for [`SECRET_TTL`]; after a signature
//! mismatch they are refetched at most once per [`REFRESH_INTERVAL`], so a
//! rotated secret works without a redeploy while bad signatures cannot drive
//! Secrets Manager traffic. Any failure to read the secret fails closed with
//! 500 `SignatureValidationFailure`.

use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::request::target::Target;
use crate::signature::{Grant, Keyring, SigningKey};

/// How long fetched keys are used before they are fetched again.
pub const SECRET_TTL: Duration = Duration::from_secs(300);
/// The shortest time between two refetches caused by a signature mismatch:
/// a rotated secret is picked up within this time even while bad signatures
/// keep arriving, which cost at most one `GetSecretValue` per interval.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// The signing keys in force.
#[derive(Debug)]
pub enum Keys {
    /// Keys from the environment (`SIGNATURE_KEYS`, `SIGNATURE_SECRET`).
    Static(Keyring),
    /// Keys read from AWS Secrets Manager.
    SecretsManager(SecretsManagerKeys),
}

impl Keys {
    /// Verifies a request's signature; see [`Keyring::verify`].
    pub async fn verify(&self, target: &Target) -> Result<Grant> {
        match self {
            Keys::Static(ring) => ring.verify(target, SystemTime::now()),
            Keys::SecretsManager(sm) => sm.verify(target).await,
        }
    }

    /// The active keys, to sign with (the first is the current one:
    /// `AWSCURRENT` for Secrets Manager).
    pub async fn keyring(&self) -> Result<Keyring> {
        match self {
            Keys::Static(ring) => Ok(ring.clone()),
            Keys::SecretsManager(sm) => sm.keys(false).await,
        }
    }
}

/// A secret in AWS Secrets Manager, cached.
#[derive(Debug)]
pub struct SecretsManagerKeys {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    field: String,
    refresh_interval: Duration,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    keys: Option<(Keyring, Instant)>,
    last_forced: Option<Instant>,
}

impl SecretsManagerKeys {
    /// Reads `field` of the JSON secret `secret_id`, with the AWS configuration
    /// from the environment (credentials, region, `AWS_ENDPOINT_URL`).
    pub async fn from_env(secret_id: &str, field: &str) -> SecretsManagerKeys {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        SecretsManagerKeys::new(&shared, secret_id, field)
    }

    /// The same with an explicit AWS configuration.
    pub fn new(shared: &aws_config::SdkConfig, secret_id: &str, field: &str) -> SecretsManagerKeys {
        SecretsManagerKeys {
            client: aws_sdk_secretsmanager::Client::new(shared),
            secret_id: secret_id.to_string(),
            field: field.to_string(),
            refresh_interval: REFRESH_INTERVAL,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Changes the shortest time between mismatch-driven refetches.
    pub fn with_refresh_interval(mut self, interval: Duration) -> SecretsManagerKeys {
        self.refresh_interval = interval;
        self
    }

    async fn verify(&self, target: &Target) -> Result<Grant> {
        let ring = self.keys(false).await?;
        match ring.verify(target, SystemTime::now()) {
            Err(Error::SignatureMismatch) => match self.keys(true).await {
                Ok(fresh) => fresh.verify(target, SystemTime::now()),
                Err(e) => Err(e),
            },
            other => other,
        }
    }

    /// The cached keys, fetched when missing or stale; `force` refetches
    /// (rate-limited) after a mismatch.
    async fn keys(&self, force: bool) -> Result<Keyring> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let fresh = cache
            .keys
            .as_ref()
            .filter(|(_, at)| now.duration_since(*at) < SECRET_TTL);
        let may_force = cache
            .last_forced
            .is_none_or(|t| now.duration_since(t) >= self.refresh_interval);
        match (fresh, force && may_force) {
            (Some((ring, _)), false) => return Ok(ring.clone()),
            (_, true) => cache.last_forced = Some(now),
            _ => {}
        }
        let ring = self.fetch().await?;
        cache.keys = Some((ring.clone(), now));
        Ok(ring)
    }

    async fn fetch(&self) -> Result<Keyring> {
        let current =
            self.read_stage("AWSCURRENT")
                .await?
                .ok_or_else(|| Error::SignatureValidation {
                    detail: format!("secret {} has no AWSCURRENT version", self.secret_id),
                })?;
        let mut keys = vec![SigningKey::new("AWSCURRENT", &current, None)];
        // The previous version stays valid through a rotation; its absence is normal.
        if let Ok(Some(previous)) = self.read_stage("AWSPREVIOUS").await
            && previous != current
        {
            keys.push(SigningKey::new("AWSPREVIOUS", &previous, None));
        }
        Keyring::new(keys).map_err(|detail| Error::SignatureValidation { detail })
    }

    /// The signing secret in one version stage, `None` when that stage does not exist.
    async fn read_stage(&self, stage: &str) -> Result<Option<String>> {
        let fail = |detail: String| Error::SignatureValidation { detail };
        let out = match self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
                if stage != "AWSCURRENT" && e.code() == Some("ResourceNotFoundException") {
                    return Ok(None);
                }
                return Err(fail(format!(
                    "GetSecretValue {} ({stage}): {}",
                    self.secret_id,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )));
            }
        };
        let text = out
            .secret_string()
            .ok_or_else(|| fail(format!("secret {} has no SecretString", self.secret_id)))?;
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|_| fail(format!("secret {} is not JSON", self.secret_id)))?;
        match json.get(&self.field).and_then(|v| v.as_str()) {
            Some(secret) if !secret.is_empty() => Ok(Some(secret.to_string())),
            _ => Err(fail(format!(
                "secret {} has no string field {:?}",
                self.secret_id, self.field
            ))),
        }
    }
}
