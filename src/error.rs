//! The one error type of the request path, and what each error means to a client.
//!
//! Every failure a request can meet is a variant here with an HTTP status, a
//! stable machine-readable `code` and a message that names what was wrong. The
//! `response` module turns it into the JSON body `{"status","code","message"}`.

use http::StatusCode;

/// Everything that can go wrong while answering one image request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter or edit has a value outside its documented range.
    #[error("{message}")]
    InvalidParameter {
        /// The parameter's name, as the client wrote it.
        param: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// The URL has no single canonical reading (see `request::target`): a
    /// path or query that does not decode to UTF-8, or a query pair hiding
    /// an encoded delimiter.
    #[error("The URL is malformed: {0}")]
    MalformedUrl(String),
    /// A resize asks for a size of zero or less (SIH's `InvalidResizeException`).
    #[error("The image size is invalid.")]
    InvalidResize,
    /// The path is no known request style (SIH's `RequestTypeError`).
    #[error(
        "The type of request you are making could not be processed. Please ensure that your original image is of a supported file type (jpg/jpeg, png, tiff/tif, webp, svg, gif, avif, heic/heif, jxl) and that your image request is provided in the correct syntax. Refer to the documentation for additional guidance on forming image requests."
    )]
    RequestType,
    /// A base64 default request is not a valid request object.
    #[error("The request could not be decoded: {0}")]
    DecodeRequest(String),
    /// The edit exists but this service does not carry it out yet.
    #[error("The edit {0} is not supported.")]
    UnsupportedEdit(String),
    /// The request names a bucket outside `SOURCE_BUCKETS`.
    #[error("Access to the bucket {0} is not allowed.")]
    BucketNotAllowed(String),
    /// Signing is on and the URL has no `signature`.
    #[error("Query-string requires the signature parameter.")]
    SignatureMissing,
    /// The signature does not match any active key.
    #[error("Signature does not match.")]
    SignatureMismatch,
    /// `expires` is not `YYYYMMDDTHHmmssZ`.
    #[error("The expires parameter {0:?} is not a date of the form YYYYMMDDTHHmmssZ (UTC).")]
    ExpiryFormat(String),
    /// `expires` is in the past.
    #[error("The request has expired.")]
    Expired,
    /// The signing key is bound to a prefix that the source is outside of.
    #[error("The key {key} is outside the prefix {prefix} that this signature may read.")]
    OutsidePrefix {
        /// The requested key.
        key: String,
        /// The signing key's prefix.
        prefix: String,
    },
    /// An overlay is larger than the image it is drawn on (SIH's message).
    #[error("Image to overlay must have same dimensions or smaller")]
    OverlayTooLarge,
    /// The request names no image key.
    #[error("The request names no image: use /<key>?width=...")]
    MissingKey,
    /// The key is not acceptable to the origin (e.g. `..` segments).
    #[error("The image key {key:?} is not valid: {reason}")]
    InvalidKey {
        /// The offending key.
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The original does not exist.
    #[error("The image {key} does not exist or the request may not be base64 encoded properly.")]
    NotFound {
        /// The key that was looked up.
        key: String,
    },
    /// The original is larger than the configured source limit.
    #[error("The image {key} is {size} bytes, above the limit of {limit} bytes.")]
    SourceTooLarge {
        /// The key that was looked up.
        key: String,
        /// The original's size in bytes.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The original has more pixels than the configured input limit.
    #[error("The image is {width}x{height} ({pixels} pixels), above the limit of {limit} pixels.")]
    TooManyPixels {
        /// Width from the image header.
        width: u64,
        /// Height from the image header (all frames).
        height: u64,
        /// `width * height`.
        pixels: u64,
        /// The configured limit.
        limit: u64,
    },
    /// An animation to be kept has more frames than the configured limit.
    #[error(
        "The animation has {frames} frames, above the limit of {limit}; ask for animated=false to get its first frame."
    )]
    TooManyFrames {
        /// Frames in the original.
        frames: u64,
        /// The configured limit (`MAX_FRAMES`).
        limit: u32,
    },
    /// The original is not in a format this service reads.
    #[error(
        "The image is not in a supported format ({detail}); supported: jpeg, png, webp, avif, heic, gif, tiff, svg, jxl."
    )]
    UnsupportedFormat {
        /// What was found instead.
        detail: String,
    },
    /// An original in a format whose decoder this build left out (HEIC
    /// without the `heic` feature).
    #[error("This build of the service has no {format} decoder: {hint}.")]
    DecoderNotBuilt {
        /// The format, as users name it.
        format: &'static str,
        /// How to get a build that has it.
        hint: &'static str,
    },
    /// An SVG original that the sanitiser refuses (see `transform::svg`).
    #[error("The SVG was refused: {reason}.")]
    InvalidSvg {
        /// What is wrong with it.
        reason: String,
    },
    /// libvips could not decode the original.
    #[error("The image could not be decoded: it is corrupt, truncated or not an image.")]
    InvalidImage {
        /// libvips' own words, for the log.
        detail: String,
    },
    /// The HTTP method is not GET or HEAD.
    #[error("Method {0} is not allowed: use GET or HEAD.")]
    MethodNotAllowed(String),
    /// The origin failed for a reason that is not the client's fault.
    #[error("The image could not be fetched from the origin.")]
    Origin {
        /// The underlying cause, for the log.
        detail: String,
    },
    /// The origin is throttling or briefly unavailable.
    #[error("The image origin is busy; try again shortly.")]
    OriginUnavailable {
        /// The underlying cause, for the log.
        detail: String,
    },
    /// The origin did not answer in time.
    #[error("The image origin did not answer in time.")]
    OriginTimeout {
        /// The underlying cause, for the log.
        detail: String,
    },
    /// The SSRF guard refused the address an HTTP origin (or one of its
    /// redirects) leads to (`origin::guard`).
    #[error("The image origin's address is not allowed ({class}).")]
    OriginRefused {
        /// The address class, e.g. `loopback` or `link-local (IPv4-mapped IPv6)`.
        class: String,
        /// The URL, host and address, for the log (never a request header).
        detail: String,
    },
    /// The signing keys could not be read (SIH's `SignatureValidationFailure`); fails closed.
    #[error("Signature validation failed.")]
    SignatureValidation {
        /// The underlying cause, for the log.
        detail: String,
    },
    /// The output does not fit the response size cap even when reduced (SIH's 413).
    #[error("The converted image is too large to return.")]
    TooLargeImage,
    /// The request has more edits than `MAX_EDITS` allows.
    #[error("The request has {count} edits, above the limit of {limit} (MAX_EDITS).")]
    TooManyEdits {
        /// Edits in the request, after presets and query parameters.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Every transform slot and queue place is taken (`TRANSFORM_QUEUE_SIZE`).
    #[error(
        "The service is busy: {running} transforms are running and {queued} are waiting; try again shortly."
    )]
    Overloaded {
        /// Transforms allowed to run at once.
        running: usize,
        /// Requests allowed to wait beyond those.
        queued: usize,
    },
    /// The request did not finish within `REQUEST_TIMEOUT`.
    #[error("The request did not finish within its deadline of {limit_ms} ms (REQUEST_TIMEOUT).")]
    DeadlineExceeded {
        /// The deadline, in milliseconds.
        limit_ms: u64,
    },
    /// The transform failed for a reason that is not the client's input.
    #[error("Image processing failed.")]
    Processing {
        /// libvips' own words, for the log.
        detail: String,
    },
}

impl Error {
    /// Builds an [`Error::InvalidParameter`] for `param`.
    pub fn param(param: &str, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            param: param.to_string(),
            message: message.into(),
        }
    }

    /// Builds an [`Error::MalformedUrl`].
    pub fn malformed(message: impl Into<String>) -> Self {
        Error::MalformedUrl(message.into())
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidParameter { .. }
            | Error::MalformedUrl(_)
            | Error::OverlayTooLarge
            | Error::InvalidResize
            | Error::RequestType
            | Error::DecodeRequest(_)
            | Error::UnsupportedEdit(_)
            | Error::SignatureMissing
            | Error::ExpiryFormat(_)
            | Error::Expired
            | Error::MissingKey
            | Error::InvalidKey { .. }
            | Error::UnsupportedFormat { .. }
            | Error::DecoderNotBuilt { .. }
            | Error::InvalidSvg { .. }
            | Error::TooManyEdits { .. }
            | Error::InvalidImage { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::BucketNotAllowed(_) | Error::SignatureMismatch | Error::OutsidePrefix { .. } => {
                StatusCode::FORBIDDEN
            }
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::SourceTooLarge { .. }
            | Error::TooManyPixels { .. }
            | Error::TooManyFrames { .. }
            | Error::TooLargeImage => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Origin { .. } | Error::OriginRefused { .. } => StatusCode::BAD_GATEWAY,
            Error::OriginUnavailable { .. } | Error::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::OriginTimeout { .. } | Error::DeadlineExceeded { .. } => {
                StatusCode::GATEWAY_TIMEOUT
            }
            Error::SignatureValidation { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Processing { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `code` of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidParameter { .. } => "InvalidParameter",
            Error::MalformedUrl(_) => "MalformedUrl",
            Error::InvalidResize => "InvalidResizeException",
            Error::OverlayTooLarge => "BadRequest",
            Error::RequestType => "RequestTypeError",
            Error::DecodeRequest(_) => "DecodeRequest::CannotDecodeRequest",
            Error::UnsupportedEdit(_) => "UnsupportedEdit",
            Error::BucketNotAllowed(_) => "ImageBucket::CannotAccessBucket",
            Error::SignatureMissing => "AuthorizationQueryParametersError",
            Error::SignatureMismatch => "SignatureDoesNotMatch",
            Error::ExpiryFormat(_) => "ImageRequestExpiryFormat",
            Error::Expired => "ImageRequestExpired",
            Error::OutsidePrefix { .. } => "KeyOutsidePrefix",
            Error::MissingKey => "MissingKey",
            Error::InvalidKey { .. } => "InvalidKey",
            Error::NotFound { .. } => "NoSuchKey",
            Error::SourceTooLarge { .. } => "SourceTooLarge",
            Error::TooManyPixels { .. } => "TooManyPixels",
            Error::TooManyFrames { .. } => "TooManyFrames",
            Error::UnsupportedFormat { .. } | Error::DecoderNotBuilt { .. } => {
                "UnsupportedImageFormat"
            }
            Error::InvalidImage { .. } | Error::InvalidSvg { .. } => "InvalidImage",
            Error::MethodNotAllowed(_) => "MethodNotAllowed",
            Error::Origin { .. } => "OriginError",
            Error::TooLargeImage => "TooLargeImageException",
            Error::OriginUnavailable { .. } => "OriginUnavailable",
            Error::OriginTimeout { .. } => "OriginTimeout",
            Error::OriginRefused { .. } => "OriginRefused",
            Error::SignatureValidation { .. } => "SignatureValidationFailure",
            Error::TooManyEdits { .. } => "TooManyEdits",
            Error::Overloaded { .. } => "Overloaded",
            Error::DeadlineExceeded { .. } => "DeadlineExceeded",
            Error::Processing { .. } => "ProcessingFailure",
        }
    }

    /// Whether the origin failed to give the original: it errored, was
    /// busy, did not answer in time, or its address was refused. A missing
    /// key is the origin's answer, not its failure.
    pub fn is_origin_failure(&self) -> bool {
        matches!(
            self,
            Error::Origin { .. }
                | Error::OriginUnavailable { .. }
                | Error::OriginTimeout { .. }
                | Error::OriginRefused { .. }
        )
    }

    /// Seconds a client should wait before retrying (`Retry-After`), for
    /// errors that say "busy", not "broken".
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Error::Overloaded { .. } | Error::OriginUnavailable { .. } => Some(1),
            _ => None,
        }
    }

    /// Detail for the log that the client does not see, if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::InvalidImage { detail }
            | Error::Origin { detail }
            | Error::OriginUnavailable { detail }
            | Error::OriginTimeout { detail }
            | Error::OriginRefused { detail, .. }
            | Error::SignatureValidation { detail }
            | Error::Processing { detail } => Some(detail),
            _ => None,
        }
    }
}

/// Result alias for the request path.
pub type Result<T, E = Error> = std::result::Result<T, E>;
