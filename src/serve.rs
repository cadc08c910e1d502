//! `image-handler serve`: the local HTTP server, a thin adapter over [`Handler`].
//!
//! It owns sockets and graceful shutdown, nothing else: every request goes
//! straight to [`Handler::handle`], except `/` and `/_playground/...`, which
//! go to the [`Playground`] when one is mounted (only this server mounts it).
//! With `METRICS_LISTEN`, a second listener answers `/metrics` alone
//! ([`run_metrics`]), apart from the images' address.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode, header};
use tokio::net::TcpListener;

use crate::handler::Handler;
use crate::observe::Prometheus;
use crate::playground::Playground;

/// The one path of the metrics listener.
pub const METRICS_PATH: &str = "/metrics";

/// The content type of Prometheus' text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often the recorder's histograms are drained between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

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

/// Reads `METRICS_LISTEN` (`value`, from `--metrics-listen` or the
/// environment): unset or empty is off; otherwise a socket address that does
/// not take the images' address `listen` (the same port on the same or an
/// unspecified address). Errors name the value.
pub fn metrics_addr(value: Option<&str>, listen: SocketAddr) -> Result<Option<SocketAddr>, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let metrics: SocketAddr = value.parse().map_err(|_| {
        format!(
            "configuration: METRICS_LISTEN={value:?} is not an address and port, \
             e.g. 0.0.0.0:9090 or [::1]:9090"
        )
    })?;
    let overlaps = listen.ip() == metrics.ip()
        || listen.ip().is_unspecified()
        || metrics.ip().is_unspecified();
    if metrics.port() != 0 && metrics.port() == listen.port() && overlaps {
        return Err(format!(
            "configuration: METRICS_LISTEN={value:?} would take the images' address \
             {listen} (LISTEN_ADDR): give the metrics their own port"
        ));
    }
    Ok(Some(metrics))
}

/// Serves `prometheus` at [`METRICS_PATH`] on `listener` until `shutdown`
/// completes, with the gauges of in-flight work read from `handler` at each
/// scrape; every other path is 404. Nothing of the image path is served here.
pub async fn run_metrics(
    listener: TcpListener,
    prometheus: Prometheus,
    handler: Handler,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let upkeep = {
        let prometheus = prometheus.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP);
            loop {
                every.tick().await;
                prometheus.upkeep();
            }
        })
    };
    let app = axum::Router::new()
        .route(METRICS_PATH, axum::routing::get(scrape))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: metrics are at /metrics\n",
            )
        })
        .with_state(Metrics {
            prometheus,
            handler,
        });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    served
}

#[derive(Clone)]
struct Metrics {
    prometheus: Prometheus,
    handler: Handler,
}

async fn scrape(State(metrics): State<Metrics>) -> Response {
    let text = metrics.prometheus.render(metrics.handler.load());
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_address_is_read_and_may_not_take_the_images_address() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let images = addr("127.0.0.1:8080");
        assert_eq!(metrics_addr(None, images), Ok(None));
        assert_eq!(metrics_addr(Some(" "), images), Ok(None));
        assert_eq!(
            metrics_addr(Some(" 0.0.0.0:9090 "), images),
            Ok(Some(addr("0.0.0.0:9090")))
        );
        for bad in ["nonsense", "9090", "localhost:9090", "127.0.0.1"] {
            let e = metrics_addr(Some(bad), images).unwrap_err();
            assert!(e.contains(&format!("METRICS_LISTEN={bad:?}")), "{e}");
        }
        for (listen, metrics) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("127.0.0.1:8080", "0.0.0.0:8080"),
            ("[::]:8080", "127.0.0.1:8080"),
        ] {
            let e = metrics_addr(Some(metrics), addr(listen)).unwrap_err();
            assert!(e.contains(metrics) && e.contains(listen), "{e}");
        }
        for (listen, metrics) in [
            ("127.0.0.1:8080", "127.0.0.1:9090"),
            ("127.0.0.1:8080", "127.0.0.2:8080"),
            ("127.0.0.1:0", "127.0.0.1:0"),
        ] {
            let read = metrics_addr(Some(metrics), addr(listen));
            assert_eq!(read, Ok(Some(addr(metrics))), "{listen} {metrics}");
        }
    }
}
