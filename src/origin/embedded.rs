//! The embedded origin: sample photographs compiled into the binary.
//!
//! `image-handler serve` with no origin serves these, so a new user sees the
//! service work without preparing anything. Their sources and licences are in
//! `src/samples/README.md`.

use bytes::Bytes;

use super::{Ask, FetchFuture, Fetched, Meta, Origin, Original};
use crate::error::Error;

/// The samples: key and bytes.
pub const SAMPLES: &[(&str, &[u8])] = &[
    ("dune.jpg", include_bytes!("../samples/dune.jpg")),
    ("ladybird.jpg", include_bytes!("../samples/ladybird.jpg")),
    ("flower.jpg", include_bytes!("../samples/flower.jpg")),
    (
        "orientation.jpg",
        include_bytes!("../samples/orientation.jpg"),
    ),
    ("alpha.png", include_bytes!("../samples/alpha.png")),
    ("animated.gif", include_bytes!("../samples/animated.gif")),
];

/// Serves [`SAMPLES`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbeddedOrigin;

impl Origin for EmbeddedOrigin {
    fn fetch_reserving<'a>(&'a self, ask: Ask<'a>) -> FetchFuture<'a> {
        let (source, known, reserve) = (ask.source, ask.known, ask.reserve);
        Box::pin(async move {
            let (_, bytes) = SAMPLES
                .iter()
                .find(|(k, _)| *k == source.key)
                .ok_or_else(|| Error::NotFound {
                    key: source.key.clone(),
                })?;
            // The samples change only with the binary.
            let meta = Meta {
                identity: super::identity_token(
                    &format!("v{}-{:x}", env!("CARGO_PKG_VERSION"), bytes.len()).replace('.', "_"),
                ),
                ..Meta::default()
            };
            if known == Some(meta.identity.as_str()) {
                return Ok(Fetched::Unchanged(meta));
            }
            reserve.reserve(&source.key, bytes.len() as u64).await?;
            Ok(Fetched::Full(Original {
                bytes: Bytes::from_static(bytes),
                content_type: None,
                meta,
            }))
        })
    }

    fn examples(&self) -> Vec<String> {
        SAMPLES.iter().map(|(k, _)| k.to_string()).collect()
    }
}
