//! `image-handler serve`: the local HTTP server, a thin adapter over [`Handler`].
//!
//! It owns sockets and graceful shutdown, nothing else: every request goes
//! straight to [`Handler::handle`].

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::Request;
use tokio::net::TcpListener;

use crate::handler::Handler;

/// Binds `addr` and returns the listener (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `handler` on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    handler: Handler,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(handle).with_state(handler);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn handle(State(handler): State<Handler>, req: Request<Body>) -> Response {
    let (parts, _body) = req.into_parts();
    handler
        .handle(&Request::from_parts(parts, ()))
        .await
        .map(Body::from)
}
