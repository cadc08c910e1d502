//! `image-handler serve`: the local HTTP server, a thin adapter over [`Handler`].
//!
//! It owns sockets and graceful shutdown, nothing else: every request goes
//! straight to [`Handler::handle`], except `/` and `/_playground/...`, which
//! go to the [`Playground`] when one is mounted (only this server mounts it).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::Request;
use tokio::net::TcpListener;

use crate::handler::Handler;
use crate::playground::Playground;

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
    run_with(listener, handler, None, shutdown).await
}

/// Serves `handler`, and `playground` at `/` and under `/_playground/`, until `shutdown` completes.
pub async fn run_with(
    listener: TcpListener,
    handler: Handler,
    playground: Option<Playground>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(handle).with_state(App {
        handler,
        playground,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Clone)]
struct App {
    handler: Handler,
    playground: Option<Playground>,
}

async fn handle(State(app): State<App>, req: Request<Body>) -> Response {
    let (parts, _body) = req.into_parts();
    let req = Request::from_parts(parts, ());
    match &app.playground {
        Some(p) if p.owns(req.uri().path()) => p.respond(&req).await.map(Body::from),
        _ => app.handler.handle(&req).await.map(Body::from),
    }
}
