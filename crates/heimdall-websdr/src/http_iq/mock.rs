//! An in-process HTTP IQ server (feature `mock-servers`): a tiny hand-written HTTP/1.1
//! responder on a `TcpListener` serving `GET /iq?tune=&rate=` with known int16 LE samples
//! ([`mock_i16_pair`]) in odd-sized writes, and `HEAD`/`GET /` for the liveness check.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The known sample `n` of a response body.
pub fn mock_i16_pair(n: u64) -> (i16, i16) {
    (
        (n.wrapping_mul(101) & 0xffff) as u16 as i16,
        (n.wrapping_mul(57).wrapping_add(999) & 0xffff) as u16 as i16,
    )
}

/// What the mock does on `/iq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpIqBehavior {
    /// 200 and the samples.
    Normal,
    /// Answers with this status (and `Retry-After: 30` for 429/503).
    Status(u16),
    /// Never answers.
    Stall,
    /// Sends the headers and this many samples, then stalls.
    StallAfter(u64),
    /// Sends this many samples and 3 bytes of another, then closes (short body).
    DisconnectAfter(u64),
    /// 200 with `Content-Type: text/html` and an HTML page.
    Html,
}

/// Configuration of a [`MockHttpIq`].
#[derive(Debug, Clone)]
pub struct MockHttpIqConfig {
    /// `/iq` behaviour.
    pub behavior: HttpIqBehavior,
    /// Samples in a normal body (`None`: endless, chunked).
    pub samples: Option<u64>,
    /// Bytes per write (odd values split samples across chunks).
    pub write_size: usize,
    /// Status for `HEAD /`.
    pub head_status: u16,
    /// Status for `GET /`.
    pub get_status: u16,
}

impl Default for MockHttpIqConfig {
    fn default() -> Self {
        MockHttpIqConfig {
            behavior: HttpIqBehavior::Normal,
            samples: None,
            write_size: 1001,
            head_status: 200,
            get_status: 200,
        }
    }
}

/// A request the server received: method and target (path and query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestLine {
    /// `GET`, `HEAD`...
    pub method: String,
    /// Path and query.
    pub target: String,
}

#[derive(Debug, Default)]
struct Rec {
    requests: Vec<HttpRequestLine>,
}

/// A running in-process HTTP IQ server. Dropping it stops accepting.
#[derive(Debug)]
pub struct MockHttpIq {
    addr: SocketAddr,
    tls: Option<crate::mock_tls::TlsFront>,
    rec: Arc<Mutex<Rec>>,
    task: JoinHandle<()>,
}

impl Drop for MockHttpIq {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockHttpIq {
    /// Starts on 127.0.0.1 with a free port.
    pub async fn start(cfg: MockHttpIqConfig) -> std::io::Result<MockHttpIq> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let rec = Arc::new(Mutex::new(Rec::default()));
        let r = rec.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(handle(sock, cfg.clone(), r.clone()));
            }
        });
        Ok(MockHttpIq {
            addr,
            tls: None,
            rec,
            task,
        })
    }
    /// Starts behind a TLS-terminating front: [`Self::url`] is `https://localhost:<port>/sdr`,
    /// trusted with [`crate::mock_tls::TEST_CA_PEM`].
    pub async fn start_tls(cfg: MockHttpIqConfig) -> std::io::Result<MockHttpIq> {
        let mut mock = Self::start(cfg).await?;
        mock.tls = Some(crate::mock_tls::TlsFront::start(mock.addr).await?);
        Ok(mock)
    }
    /// `http://127.0.0.1:<port>/sdr` (the base URL), `https://localhost:<port>/sdr` behind TLS.
    pub fn url(&self) -> String {
        match &self.tls {
            Some(front) => format!("{}/sdr", front.origin()),
            None => format!("http://{}/sdr", self.addr),
        }
    }
    /// Requests received so far.
    pub fn requests(&self) -> Vec<HttpRequestLine> {
        self.rec.lock().map(|r| r.requests.clone()).unwrap_or_default()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn handle(mut sock: TcpStream, cfg: MockHttpIqConfig, rec: Arc<Mutex<Rec>>) {
    // One request per connection (`Connection: close`).
    let mut buf = Vec::with_capacity(1024);
    let mut b = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut b).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
        if buf.len() > 16 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut parts = head.split("\r\n").next().unwrap_or("").split(' ');
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    if let Ok(mut r) = rec.lock() {
        r.requests.push(HttpRequestLine {
            method: method.clone(),
            target: target.clone(),
        });
    }
    let simple = |status: u16, body: &str| {
        format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            reason(status),
            body.len()
        )
    };
    if !target.starts_with("/sdr/iq?") {
        let status = if method == "HEAD" {
            cfg.head_status
        } else {
            cfg.get_status
        };
        let mut resp = simple(status, "receiver\n");
        if method == "HEAD" {
            resp.truncate(resp.len() - "receiver\n".len());
        }
        let _ = sock.write_all(resp.as_bytes()).await;
        return;
    }
    let (count, stall_after) = match cfg.behavior {
        HttpIqBehavior::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        HttpIqBehavior::Status(s) => {
            let mut resp = simple(s, "nope\n");
            if s == 429 || s == 503 {
                resp = resp.replacen("\r\n", "\r\nRetry-After: 30\r\n", 1);
            }
            let _ = sock.write_all(resp.as_bytes()).await;
            return;
        }
        HttpIqBehavior::Html => {
            let body = "<html><body>It works!</body></html>";
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            return;
        }
        HttpIqBehavior::StallAfter(n) => (None, Some(n)),
        HttpIqBehavior::DisconnectAfter(n) => (Some(n), None),
        HttpIqBehavior::Normal => (cfg.samples, None),
        #[allow(unreachable_patterns)]
        _ => (cfg.samples, None),
    };
    let chunked = count.is_none();
    let header = match count {
        Some(n) => {
            // A short body for DisconnectAfter: announce more than is sent.
            let announced = if matches!(cfg.behavior, HttpIqBehavior::DisconnectAfter(_)) { (n + 1000) * 4 } else { n * 4 };
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n")
        }
        None => "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_owned(),
    };
    if sock.write_all(header.as_bytes()).await.is_err() {
        return;
    }
    let limit_bytes = stall_after.or(count).map(|n| n * 4);
    let mut byte: u64 = 0;
    let ws = cfg.write_size.max(1);
    let mut out = Vec::with_capacity(ws + 16);
    loop {
        let mut len = ws as u64;
        if let Some(l) = limit_bytes {
            len = len.min(l - byte);
        }
        if len == 0 {
            break;
        }
        out.clear();
        if chunked {
            out.extend_from_slice(format!("{len:x}\r\n").as_bytes());
        }
        for i in byte..byte + len {
            let (iv, qv) = mock_i16_pair(i / 4);
            let v = if (i / 2) % 2 == 0 { iv } else { qv };
            out.push(v.to_le_bytes()[(i % 2) as usize]);
        }
        if chunked {
            out.extend_from_slice(b"\r\n");
        }
        if sock.write_all(&out).await.is_err() {
            return;
        }
        byte += len;
    }
    match cfg.behavior {
        HttpIqBehavior::StallAfter(_) => tokio::time::sleep(Duration::from_secs(3600)).await,
        HttpIqBehavior::DisconnectAfter(_) => {
            let _ = sock.write_all(&[1, 2, 3]).await;
        }
        _ if chunked => {
            let _ = sock.write_all(b"0\r\n\r\n").await;
        }
        _ => {}
    }
}
