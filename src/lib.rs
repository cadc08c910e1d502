//! image-handler: an on-the-fly image service on libvips.
//!
//! A request flows one way through modules named after what they do:
//! [`request`] (parse any URL style into one validated [`request::ImageRequest`])
//! → [`origin`] (fetch the original) → [`transform`] (the libvips plan, then
//! encode) → [`response`] (headers, caching, errors). [`handler`] ties them
//! together behind one `http::Request → http::Response` function, and the entry
//! points ([`serve`], [`lambda`], [`cli`]) are thin adapters around it. The pipeline knows
//! nothing of HTTP; the adapters hold no image logic. [`playground`] is the
//! page `serve` shows at `/`. [`ops`] holds what runs
//! beside the service: CDN invalidation and the URLs web pages embed.

pub mod budget;
pub mod cli;
pub mod config;
pub mod duration;
pub mod error;
pub mod fallback;
pub mod handler;
pub mod keys;
pub mod lambda;
pub mod observe;
pub mod ops;
pub mod origin;
pub mod playground;
pub mod request;
pub mod response;
pub mod serve;
pub mod signature;
pub mod transform;

pub use config::Config;
pub use error::Error;
pub use handler::Handler;
