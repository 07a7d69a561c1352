//! An in-process rtl_tcp server (feature `mock-servers`): the 12-byte header, then an endless
//! u8 IQ stream of known bytes ([`mock_u8_pair`]), recording every 5-byte command.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::protocol::{self, RtlHeader};

/// The known IQ pair `n` of a connection's stream (counting from the first byte after the header).
pub fn mock_u8_pair(n: u64) -> (u8, u8) {
    (
        (n.wrapping_mul(7) & 0xff) as u8,
        (n.wrapping_mul(13).wrapping_add(100) & 0xff) as u8,
    )
}

/// What the mock does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtlBehavior {
    /// Header, then samples.
    Normal,
    /// Sends 12 bytes that are not `RTL0…`.
    BadMagic,
    /// Sends 6 header bytes and closes.
    TruncatedHeader,
    /// Never sends anything.
    StallOnConnect,
    /// Sends the header, then nothing.
    StallAfterHeader,
    /// Closes after this many IQ pairs.
    DisconnectAfter(u64),
}

/// Configuration of a [`MockRtlTcp`].
#[derive(Debug, Clone)]
pub struct MockRtlTcpConfig {
    /// Header.
    pub header: RtlHeader,
    /// Pace the stream at this many pairs per second; `None` sends as fast as possible.
    pub rate: Option<f64>,
    /// Behaviour.
    pub behavior: RtlBehavior,
    /// Bytes per write.
    pub write_size: usize,
}

impl Default for MockRtlTcpConfig {
    fn default() -> Self {
        MockRtlTcpConfig {
            header: RtlHeader {
                tuner: 5,
                gain_count: 29,
            },
            rate: None,
            behavior: RtlBehavior::Normal,
            write_size: 16 * 1024 + 1,
        }
    }
}

/// A command the client sent.
#[derive(Debug, Clone, Copy)]
pub struct RtlCommand {
    /// Connection number.
    pub conn: usize,
    /// Arrival time.
    pub at: Instant,
    /// Command id.
    pub id: u8,
    /// Parameter.
    pub param: u32,
}

#[derive(Debug, Default)]
struct Rec {
    commands: Vec<RtlCommand>,
    connections: usize,
    closed: Vec<usize>,
}

/// A running in-process rtl_tcp server. Dropping it stops accepting.
#[derive(Debug)]
pub struct MockRtlTcp {
    addr: SocketAddr,
    rec: Arc<Mutex<Rec>>,
    task: JoinHandle<()>,
}

impl Drop for MockRtlTcp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockRtlTcp {
    /// Starts on 127.0.0.1 with a free port.
    pub async fn start(cfg: MockRtlTcpConfig) -> std::io::Result<MockRtlTcp> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let rec = Arc::new(Mutex::new(Rec::default()));
        let r = rec.clone();
        let task = tokio::spawn(async move {
            let mut n = 0;
            while let Ok((sock, _)) = listener.accept().await {
                if let Ok(mut g) = r.lock() {
                    g.connections += 1;
                }
                tokio::spawn(handle(sock, n, cfg.clone(), r.clone()));
                n += 1;
            }
        });
        Ok(MockRtlTcp { addr, rec, task })
    }
    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `rtl_tcp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("rtl_tcp://{}", self.addr)
    }
    /// Commands received so far.
    pub fn commands(&self) -> Vec<RtlCommand> {
        self.rec.lock().map(|r| r.commands.clone()).unwrap_or_default()
    }
    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.rec.lock().map(|r| r.connections).unwrap_or(0)
    }
    /// Connections the client has closed.
    pub fn closed_connections(&self) -> Vec<usize> {
        self.rec.lock().map(|r| r.closed.clone()).unwrap_or_default()
    }
}

async fn handle(sock: TcpStream, conn: usize, cfg: MockRtlTcpConfig, rec: Arc<Mutex<Rec>>) {
    let (mut rd, mut wr) = sock.into_split();
    // Reader: 5-byte commands.
    let r2 = rec.clone();
    let reader = tokio::spawn(async move {
        let mut b = [0u8; protocol::COMMAND_LEN];
        while rd.read_exact(&mut b).await.is_ok() {
            if let (Some((id, param)), Ok(mut g)) = (protocol::parse_command(&b), r2.lock()) {
                g.commands.push(RtlCommand {
                    conn,
                    at: Instant::now(),
                    id,
                    param,
                });
            }
        }
        if let Ok(mut g) = r2.lock() {
            g.closed.push(conn);
        }
    });
    let header = match cfg.behavior {
        RtlBehavior::StallOnConnect => {
            let _ = reader.await;
            return;
        }
        RtlBehavior::BadMagic => *b"HTTP/1.0 400",
        _ => cfg.header.encode(),
    };
    let hlen = if cfg.behavior == RtlBehavior::TruncatedHeader {
        6
    } else {
        12
    };
    if wr.write_all(&header[..hlen]).await.is_err() || hlen < 12 {
        return;
    }
    if cfg.behavior == RtlBehavior::StallAfterHeader {
        let _ = reader.await;
        return;
    }
    let limit = match cfg.behavior {
        RtlBehavior::DisconnectAfter(n) => Some(n),
        _ => None,
    };
    let ws = cfg.write_size.max(2);
    let mut buf = vec![0u8; ws + 1];
    let mut byte: u64 = 0; // next stream byte index
    // The pattern repeats every 256 pairs.
    let mut table = [0u8; 512];
    for (p, t) in table.chunks_exact_mut(2).enumerate() {
        let (iv, qv) = mock_u8_pair(p as u64);
        t[0] = iv;
        t[1] = qv;
    }
    let started = Instant::now();
    loop {
        let mut len = ws;
        if let Some(l) = limit {
            let left = (l * 2).saturating_sub(byte);
            if left == 0 {
                break;
            }
            len = len.min(left as usize);
        }
        for (k, b) in buf[..len].iter_mut().enumerate() {
            *b = table[((byte + k as u64) & 511) as usize];
        }
        if wr.write_all(&buf[..len]).await.is_err() {
            break;
        }
        byte += len as u64;
        if let Some(rate) = cfg.rate {
            let due = started + Duration::from_secs_f64(byte as f64 / 2.0 / rate);
            tokio::time::sleep_until(due).await;
        }
    }
    // Closing the write half ends the stream; the reader ends when the client closes.
    drop(wr);
    let _ = reader.await;
}
