//! The accept loop's defences (issue 15, item 5): a slow-loris client, an idle TCP
//! connection and an idle keep-alive connection are cut off after
//! `server.header_read_timeout`, and connections are capped per client address. Raw TCP
//! against the real server on port 0.

use std::time::Duration;

use crate::common;
use common::{spawn_app, wait_for, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(20);

/// How long the server waits for a request's headers in these tests.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Reads until the server closes the connection (within the deadline); returns what it
/// sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server closes the connection");
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_cut_off() {
    let TestApp { app, .. } = spawn_app(|config| {
        config.server.header_read_timeout = HEADER_READ_TIMEOUT;
    })
    .await;
    let addr = app.addr();
    // A connection that never sends anything.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    read_to_close(&mut idle).await;
    // One header byte at a time, far slower than a client: cut off before it finishes.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let request = b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut sent = 0;
    for byte in request {
        if slow.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A closed connection shows as a readable end of stream.
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
        {
            break;
        }
    }
    assert!(
        sent < request.len(),
        "the server waited for all {sent} bytes of a slow header"
    );
    // A keep-alive connection is served, then closed once idle.
    let mut keep_alive = TcpStream::connect(addr).await.unwrap();
    keep_alive
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut keep_alive).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_address() {
    let TestApp { app, .. } = spawn_app(|config| {
        config.server.header_read_timeout = Duration::from_secs(30);
        config.server.max_connections_per_ip = 3;
        config.server.ip_limits_exempt = Vec::new();
    })
    .await;
    let addr = app.addr();
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut refused = TcpStream::connect(addr).await.unwrap();
    let answer = read_to_close(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    let body: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_connections");
    // Another address is not affected.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other.connect(addr).await.unwrap();
    other
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut other).await.starts_with("HTTP/1.1 200"));
    // A closed connection frees its place.
    drop(open.pop());
    wait_for("the place to be freed", DEADLINE, async || {
        let mut again = TcpStream::connect(addr).await.unwrap();
        again
            .write_all(
                b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        read_to_close(&mut again).await.starts_with("HTTP/1.1 200")
    })
    .await;
    app.shutdown().await.unwrap();
}
