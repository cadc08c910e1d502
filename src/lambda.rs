//! The AWS Lambda entry point, a thin adapter over [`Handler`] (and, for S3
//! event notifications, over [`ChangeInvalidator`] and [`Warmer`]).
//!
//! Each event is recognised by its shape. S3 event notifications (direct, or
//! through SNS or SQS) go to the change invalidator when
//! `INVALIDATE_ON_CHANGE=Yes`, and then, with `WARM_PRESETS`, to the warmer,
//! whose report is added to the answer under `warm` (warming never fails the
//! invocation); everything else is read as an HTTP event.
//! `lambda_http` turns API Gateway REST (v1), HTTP API (v2) and ALB events
//! into `http::Request`s; this adapter hands them to the one handler with the
//! path as the event carried it (without an API Gateway stage, as SIH signs
//! it) and returns the response. `lambda_http` then decides from the response
//! headers whether a body goes out as base64 (`isBase64Encoded`, as API
//! Gateway with `binaryMediaTypes */*` expects) or as text: images are sent
//! as binary because every image response has an `image/*` `Content-Type`
//! and never `x-lambda-http-content-encoding`; JSON errors go as text.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::uri::PathAndQuery;
use lambda_http::lambda_runtime::{Diagnostic, LambdaEvent};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt, Response, Service, service_fn};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::Value;

use crate::handler::Handler;
use crate::observe::RequestId;
use crate::ops::OpsError;
use crate::ops::events::{self, ChangeInvalidator};
use crate::ops::warm::Warmer;

/// Characters that cannot stand in a URI path as they are; `%` is kept, since
/// event paths arrive percent-encoded.
const PATH_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'#')
    .add(b'?')
    .add(b'{')
    .add(b'}');

/// How long before the invocation's deadline retries of an invalidation, and warming, stop.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// The time an invalidation (and warming) may take when the invocation has no deadline (tests).
const DEFAULT_BUDGET: Duration = Duration::from_secs(30);
/// A deadline before this (2001-09-09, in ms since the epoch) is not a time
/// but a duration, as the runtime emulator sends it.
const EPOCH_MS_2001: u64 = 1_000_000_000_000;

/// What the function answers: HTTP events with the image handler, S3 event
/// notifications with the change invalidator (when configured).
#[derive(Clone)]
pub struct Function {
    handler: Handler,
    changes: Option<Arc<ChangeInvalidator>>,
    warmer: Option<Arc<Warmer>>,
}

impl Function {
    /// A function that answers HTTP events; S3 notifications are refused.
    pub fn new(handler: Handler) -> Function {
        Function {
            handler,
            changes: None,
            warmer: None,
        }
    }

    /// Also invalidates the variants of originals named by S3 event notifications.
    pub fn with_change_invalidation(mut self, changes: ChangeInvalidator) -> Function {
        self.changes = Some(Arc::new(changes));
        self
    }

    /// Then warms the presets' variants of the originals the notifications created.
    pub fn with_warming(mut self, warmer: Warmer) -> Function {
        self.warmer = Some(Arc::new(warmer));
        self
    }
}

/// Why an invocation failed; Lambda retries it (S3 invokes asynchronously)
/// and then sends it to the dead-letter destination, if one is configured.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// The payload is neither an S3 notification nor an API Gateway or ALB event.
    #[error("not an S3 event notification, API Gateway or ALB event: {0}")]
    UnknownEvent(String),
    /// An S3 notification arrived but invalidation on change is off.
    #[error(
        "an S3 event notification arrived but INVALIDATE_ON_CHANGE is not Yes (with DISTRIBUTION_ID): remove the notification or turn invalidation on"
    )]
    InvalidationOff,
    /// The notification could not be read, or the invalidation failed.
    #[error(transparent)]
    Invalidation(#[from] OpsError),
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Diagnostic {
        let error_type = match &e {
            FunctionError::UnknownEvent(_) => "ImageHandler::UnknownEvent",
            FunctionError::InvalidationOff => "ImageHandler::InvalidationOff",
            FunctionError::Invalidation(OpsError::Aws { .. }) => "ImageHandler::InvalidationFailed",
            FunctionError::Invalidation(_) => "ImageHandler::InvalidEvent",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// Runs the Lambda runtime loop until the runtime stops it. Behind a Lambda
/// Function URL in `RESPONSE_STREAM` mode (`LAMBDA_INVOKE_MODE`), responses
/// are streamed (no 6 MB cap; S3 events are then not handled by this function).
pub async fn run(function: Function) -> Result<(), lambda_http::Error> {
    if std::env::var("LAMBDA_INVOKE_MODE").as_deref() == Ok("RESPONSE_STREAM") {
        let handler = function.handler.clone();
        return lambda_http::run_with_streaming_response(service_fn(move |request: Request| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handle(&handler, request).await) }
        }))
        .await;
    }
    lambda_http::lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = function.clone();
        async move { dispatch(&function, event).await }
    }))
    .await
}

/// Answers one invocation: an S3 event notification (recognised by its
/// shape) is handed to the change invalidator; anything else is read as an
/// API Gateway or ALB event and answered by [`handle`], exactly as
/// `lambda_http` would.
pub async fn dispatch(
    function: &Function,
    event: LambdaEvent<Value>,
) -> Result<Value, FunctionError> {
    let LambdaEvent { payload, context } = event;
    if let Some(changes) = events::recognise(&payload) {
        let changes = changes?;
        if changes.is_empty() {
            // S3's test event, or records that change no original: nothing to do.
            return Ok(
                serde_json::json!({"changes": 0, "paths": [], "invalidations": [], "warnings": []}),
            );
        }
        let Some(invalidator) = &function.changes else {
            return Err(FunctionError::InvalidationOff);
        };
        let deadline = match context.deadline {
            // Lambda sends milliseconds since the epoch; cargo-lambda's
            // emulator sends the timeout itself (600000), which is no deadline.
            d if d < EPOCH_MS_2001 => Instant::now() + DEFAULT_BUDGET,
            _ => {
                let left = context
                    .deadline()
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                Instant::now() + left.saturating_sub(DEADLINE_MARGIN)
            }
        };
        let report = invalidator.handle(&changes, deadline).await?;
        let warmed = match &function.warmer {
            Some(warmer) => Some(warmer.warm(&changes, &report, deadline).await),
            None => None,
        };
        let unwritable =
            |e: serde_json::Error| FunctionError::Invalidation(OpsError::Input(e.to_string()));
        let mut answer = serde_json::to_value(report).map_err(unwritable)?;
        if let Some(warmed) = warmed {
            answer["warm"] = serde_json::to_value(warmed).map_err(unwritable)?;
        }
        return Ok(answer);
    }
    // `LambdaRequest` tries each HTTP event shape in turn.
    let request: LambdaRequest =
        serde_json::from_value(payload).map_err(|e| FunctionError::UnknownEvent(e.to_string()))?;
    let handler = function.handler.clone();
    let mut adapter = lambda_http::Adapter::from(service_fn(move |request: Request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handle(&handler, request).await) }
    }));
    let response = match adapter.call(LambdaEvent::new(request, context)).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    serde_json::to_value(response).map_err(|e| FunctionError::UnknownEvent(e.to_string()))
}

/// Adapts one event to the handler and back.
pub async fn handle(handler: &Handler, event: Request) -> Response<Body> {
    let path = utf8_percent_encode(event.raw_http_path(), PATH_UNSAFE).to_string();
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let target = match event.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let request_id = event
        .lambda_context_ref()
        .map(|c| RequestId(c.request_id.clone()));
    let (parts, _body) = event.into_parts();
    let mut request = http::Request::new(());
    if let Some(id) = request_id {
        request.extensions_mut().insert(id);
    }
    *request.method_mut() = parts.method;
    *request.headers_mut() = parts.headers;
    *request.uri_mut() = match target.parse::<PathAndQuery>() {
        Ok(pq) => http::Uri::from(pq),
        Err(_) => http::Uri::from_static("/"),
    };
    let response = handler.handle(&request).await;
    let (mut parts, body) = response.into_parts();
    // lambda_http re-decides text or binary from the headers: this one would
    // force text (and corrupt an image); the request deny list drops it too.
    parts.headers.remove("x-lambda-http-content-encoding");
    let body = if body.is_empty() {
        Body::Empty
    } else if parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"))
    {
        Body::Text(String::from_utf8_lossy(&body).into_owned())
    } else {
        Body::Binary(body.to_vec())
    };
    Response::from_parts(parts, body)
}
