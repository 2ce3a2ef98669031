//! The baseline for benches/load.sh: the smallest axum server on the same stack (tokio
//! multi-thread runtime, axum 0.8, one GET route), so forward auth is compared with what the
//! framework itself costs on this machine.
//!   cargo run --release --example hello_world -- 127.0.0.1:18090

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let app = Router::new().route("/", get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
