//! The AWS Lambda entry point, a thin adapter over [`Handler`].
//!
//! `lambda_http` turns API Gateway REST (v1), HTTP API (v2) and ALB events
//! into `http::Request`s; this adapter hands them to the one handler with the
//! path as the event carried it (without an API Gateway stage, as SIH signs
//! it) and returns the response. `lambda_http` then decides from the response
//! headers whether a body goes out as base64 (`isBase64Encoded`, as API
//! Gateway with `binaryMediaTypes */*` expects) or as text: images are sent
//! as binary because every image response has an `image/*` `Content-Type`
//! and never `x-lambda-http-content-encoding`; JSON errors go as text.

use std::convert::Infallible;

use http::uri::PathAndQuery;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::handler::Handler;
use crate::observe::RequestId;

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

/// Runs the Lambda runtime loop until the runtime stops it.
pub async fn run(handler: Handler) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |event: Request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handle(&handler, event).await) }
    }))
    .await
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
