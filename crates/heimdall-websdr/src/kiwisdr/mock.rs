//! An in-process KiwiSDR server (feature `mock-servers`) that speaks the KiwiSDR protocol (as the
//! KiwiSDR server and kiwiclient implement it) byte for byte: binary `MSG` frames, the auth gate (anything but `auth`/`keepalive`/`options` before a
//! successful auth gets the connection kicked), no audio until `mod` with a passband, `agc` and
//! `AR OK` have arrived, 2068-byte IQ `SND` frames (LE seq, BE S-meter, LE GPS fields, BE or LE
//! samples), `GET /status`, and every error message of the tables.
//!
//! Samples are known: sample `n` of a connection (counting from the first sample of seq 1) is
//! [`mock_iq`]`(n)`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::protocol::{self, GpsStamp};

/// The known sample `n` of a mock connection.
pub fn mock_iq(n: u64) -> (i16, i16) {
    let i = (n.wrapping_mul(31) & 0xffff) as u16 as i16;
    let q = (n.wrapping_mul(17).wrapping_add(12345) & 0xffff) as u16 as i16;
    (i, q)
}

/// What the mock does besides the normal session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum KiwiBehavior {
    /// A normal session.
    Normal,
    /// `MSG too_busy=4` on connect, then close.
    TooBusy,
    /// `MSG too_busy=4` after this many frames (the API-client limit), then close.
    TooBusyAfter(u32),
    /// `MSG redirect=<urlenc url>` on connect, then close.
    Redirect(String),
    /// `MSG badp=<code>` in answer to auth (the connection stays open).
    Badp(u8),
    /// `MSG reason_disabled=<urlenc> down=1` on connect, then close.
    Down,
    /// `MSG ip_limit=<urlenc 1440,ip>` in answer to auth, then close.
    IpLimit,
    /// `MSG kiwi_kick=<urlenc 1,msg>` after this many frames, then close.
    KickAfter(u32),
    /// `MSG inactivity_timeout=30` after this many frames, then close.
    InactivityAfter(u32),
    /// Never answers auth; sends `MSG password_timeout` after this delay and closes.
    PasswordTimeout(Duration),
    /// Closes the TCP connection (no Close frame) after this many frames.
    DisconnectAfter(u32),
    /// Authenticates and then never sends a frame.
    StallAfterHandshake,
    /// Accepts TCP and never answers the WebSocket upgrade.
    StallOnConnect,
    /// Sends a frame with an unknown tag after this many frames.
    GarbageAfter(u32),
    /// Sends a truncated `SND` frame (15 bytes) after this many frames.
    TruncatedAfter(u32),
}

/// Configuration of a [`MockKiwi`].
#[derive(Debug, Clone)]
pub struct MockKiwiConfig {
    /// The true sample rate announced in `MSG sample_rate`.
    pub sample_rate: f64,
    /// Nominal `audio_rate`.
    pub audio_rate: u32,
    /// `freq_offset` in kHz.
    pub freq_offset_khz: f64,
    /// Required user password, if any.
    pub password: Option<String>,
    /// UTC time of the first sample of seq 1; `None` sends zero GPS fields.
    pub gps_start: Option<DateTime<Utc>>,
    /// S-meter level sent with every frame, dBm.
    pub smeter_dbm: f64,
    /// Sequence numbers the server skips (simulated lost packets).
    pub skip_seqs: HashSet<u32>,
    /// Send little-endian samples even without `SET little-endian`.
    pub force_little_endian: bool,
    /// Time between frames; `None` sends as fast as the socket takes them.
    pub frame_interval: Option<Duration>,
    /// Send `MSG` as text frames (kiwiclient's simulator) instead of binary (the real server).
    pub text_msgs: bool,
    /// Close connections that send no keepalive for this long after auth (the server's 60 s).
    pub keepalive_timeout: Duration,
    /// Special behaviour.
    pub behavior: KiwiBehavior,
    /// `/status` body.
    pub status_body: String,
}

impl Default for MockKiwiConfig {
    fn default() -> Self {
        MockKiwiConfig {
            sample_rate: 12001.135,
            audio_rate: 12000,
            freq_offset_khz: 0.0,
            password: None,
            gps_start: None,
            smeter_dbm: -73.5,
            skip_seqs: HashSet::new(),
            force_little_endian: false,
            frame_interval: Some(Duration::from_millis(2)),
            text_msgs: false,
            keepalive_timeout: Duration::from_secs(60),
            behavior: KiwiBehavior::Normal,
            status_body: "status=active\noffline=no\nname=Mock Kiwi\nusers=1\nusers_max=4\ngps=(45.0, 7.0)\nfixes=1234\nfixes_min=12\nsw_version=KiwiSDR_v1.711\n".into(),
        }
    }
}

/// One command a client sent.
#[derive(Debug, Clone)]
pub struct RecordedCommand {
    /// Connection number (0-based, in accept order).
    pub conn: usize,
    /// When it arrived.
    pub at: Instant,
    /// The text.
    pub text: String,
}

#[derive(Debug, Default)]
struct Recorded {
    commands: Vec<RecordedCommand>,
    paths: Vec<String>,
    closed: Vec<usize>,
    violations: Vec<String>,
}

/// A running in-process KiwiSDR. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct MockKiwi {
    addr: SocketAddr,
    rec: Arc<Mutex<Recorded>>,
    task: JoinHandle<()>,
}

impl Drop for MockKiwi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockKiwi {
    /// Starts a server on 127.0.0.1 with a free port.
    pub async fn start(cfg: MockKiwiConfig) -> std::io::Result<MockKiwi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let rec = Arc::new(Mutex::new(Recorded::default()));
        let cfg = Arc::new(cfg);
        let r = rec.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                tokio::spawn(handle(sock, n, cfg.clone(), r.clone()));
                n += 1;
            }
        });
        Ok(MockKiwi { addr, rec, task })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Commands received so far.
    pub fn commands(&self) -> Vec<RecordedCommand> {
        self.rec.lock().map(|r| r.commands.clone()).unwrap_or_default()
    }
    /// Request paths of WebSocket connections, in order.
    pub fn paths(&self) -> Vec<String> {
        self.rec.lock().map(|r| r.paths.clone()).unwrap_or_default()
    }
    /// Connections whose client side has gone (Close frame or EOF).
    pub fn closed_connections(&self) -> Vec<usize> {
        self.rec.lock().map(|r| r.closed.clone()).unwrap_or_default()
    }
    /// Protocol violations seen (commands before auth, bad command syntax...).
    pub fn violations(&self) -> Vec<String> {
        self.rec.lock().map(|r| r.violations.clone()).unwrap_or_default()
    }
}

fn record(rec: &Mutex<Recorded>, f: impl FnOnce(&mut Recorded)) {
    if let Ok(mut r) = rec.lock() {
        f(&mut r);
    }
}

/// Reads an HTTP request head (up to `\r\n\r\n`).
async fn read_head(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut b = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut b).await.ok()?;
        if n == 0 || buf.len() > 16 * 1024 {
            return None;
        }
        buf.extend_from_slice(&b[..n]);
    }
    String::from_utf8(buf).ok()
}

async fn handle(mut sock: TcpStream, conn: usize, cfg: Arc<MockKiwiConfig>, rec: Arc<Mutex<Recorded>>) {
    if cfg.behavior == KiwiBehavior::StallOnConnect {
        let mut b = [0u8; 1024];
        while let Ok(n) = sock.read(&mut b).await {
            if n == 0 {
                break;
            }
        }
        return;
    }
    let Some(head) = read_head(&mut sock).await else { return };
    let mut lines = head.split("\r\n");
    let path = lines.next().and_then(|l| l.split(' ').nth(1)).unwrap_or("").to_owned();
    let key = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim().to_owned());
    if path == "/status" {
        let body = &cfg.status_body;
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        return;
    }
    let Some(key) = key else {
        let _ = sock
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
        return;
    };
    record(&rec, |r| r.paths.push(path.clone()));
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if sock.write_all(resp.as_bytes()).await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_raw_socket(sock, Role::Server, None).await;
    session(ws, conn, cfg, rec).await;
}

#[derive(Default)]
struct Flags {
    authed: bool,
    freq: bool,
    agc: bool,
    ar_ok: bool,
    little_endian: bool,
}

enum Ctl {
    Msg(String),
    Close,
    Streaming,
}

async fn session(ws: WebSocketStream<TcpStream>, conn: usize, cfg: Arc<MockKiwiConfig>, rec: Arc<Mutex<Recorded>>) {
    let (mut sink, mut stream) = ws.split();
    let msg = |s: String| {
        if cfg.text_msgs {
            Message::text(s)
        } else {
            Message::binary(s.into_bytes())
        }
    };
    // Rejections that happen before a channel is allocated.
    match &cfg.behavior {
        KiwiBehavior::TooBusy => {
            let _ = sink.send(msg("MSG too_busy=4".into())).await;
            let _ = sink.close().await;
            return;
        }
        KiwiBehavior::Redirect(to) => {
            let _ = sink
                .send(msg(format!("MSG redirect={}", protocol::percent_encode(to))))
                .await;
            let _ = sink.close().await;
            return;
        }
        KiwiBehavior::Down => {
            let _ = sink
                .send(msg(
                    "MSG reason_disabled=Software%20update%20in%20progress down=1".into()
                ))
                .await;
            let _ = sink.close().await;
            return;
        }
        _ => {}
    }
    if sink
        .send(msg(format!("MSG sample_rate={:.6}", cfg.sample_rate)))
        .await
        .is_err()
    {
        return;
    }
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<Ctl>();
    let flags = Arc::new(Mutex::new(Flags::default()));
    // Reader: records commands, enforces the auth gate, answers auth.
    let reader = {
        let cfg = cfg.clone();
        let rec = rec.clone();
        let flags = flags.clone();
        let ctl = ctl_tx.clone();
        tokio::spawn(async move {
            let mut last_keepalive = Instant::now();
            let mut check = tokio::time::interval(Duration::from_millis(50));
            loop {
                let m = tokio::select! {
                    m = stream.next() => m,
                    _ = check.tick() => {
                        let authed = flags.lock().map(|f| f.authed).unwrap_or(false);
                        if authed && last_keepalive.elapsed() > cfg.keepalive_timeout {
                            record(&rec, |r| r.violations.push(format!("conn {conn}: keepalive timeout")));
                            let _ = ctl.send(Ctl::Close);
                            return;
                        }
                        continue;
                    }
                };
                let text = match m {
                    Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        record(&rec, |r| r.closed.push(conn));
                        let _ = ctl.send(Ctl::Close);
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                record(&rec, |r| {
                    r.commands.push(RecordedCommand {
                        conn,
                        at: Instant::now(),
                        text: text.clone(),
                    })
                });
                if text == "SET keepalive" {
                    last_keepalive = Instant::now();
                    continue;
                }
                if let Some(rest) = text.strip_prefix("SET auth t=kiwi p=") {
                    let p = rest.split(' ').next().unwrap_or("");
                    let p = protocol::percent_decode(p);
                    match &cfg.behavior {
                        KiwiBehavior::PasswordTimeout(after) => {
                            let ctl = ctl.clone();
                            let after = *after;
                            tokio::spawn(async move {
                                tokio::time::sleep(after).await;
                                let _ = ctl.send(Ctl::Msg("MSG password_timeout".into()));
                                let _ = ctl.send(Ctl::Close);
                            });
                            continue;
                        }
                        KiwiBehavior::Badp(code) => {
                            let _ = ctl.send(Ctl::Msg("MSG rx_chans=4 chan_no_pwd=0 chan_no_pwd_true=0".into()));
                            let _ = ctl.send(Ctl::Msg(format!("MSG badp={code}")));
                            continue;
                        }
                        KiwiBehavior::IpLimit => {
                            let _ = ctl.send(Ctl::Msg(format!(
                                "MSG ip_limit={}",
                                protocol::percent_encode("1440,127.0.0.1")
                            )));
                            let _ = ctl.send(Ctl::Close);
                            continue;
                        }
                        _ => {}
                    }
                    let ok = match &cfg.password {
                        Some(pw) => p == *pw,
                        None => true,
                    };
                    let _ = ctl.send(Ctl::Msg("MSG rx_chans=4 chan_no_pwd=4 chan_no_pwd_true=4".into()));
                    if !ok {
                        let _ = ctl.send(Ctl::Msg("MSG badp=1".into()));
                        continue;
                    }
                    if let Ok(mut f) = flags.lock() {
                        f.authed = true;
                    }
                    last_keepalive = Instant::now();
                    for m in [
                        "MSG is_local=0,0,0".to_owned(),
                        "MSG max_camp=4".to_owned(),
                        "MSG badp=0".to_owned(),
                        format!(
                            "MSG version_maj=1 version_min=711 debian_ver=11 model=2 platform=0 ext_clk=0 abyy=0 freq_offset={:.3}",
                            cfg.freq_offset_khz
                        ),
                        "MSG center_freq=15000000 bandwidth=30000000 adc_clk_nom=66666600".to_owned(),
                        format!("MSG audio_init=0 audio_rate={}", cfg.audio_rate),
                        "MSG client_public_ip=127.0.0.1".to_owned(),
                    ] {
                        let _ = ctl.send(Ctl::Msg(m));
                    }
                    continue;
                }
                if text.starts_with("SET options=") {
                    continue;
                }
                let mut f = match flags.lock() {
                    Ok(f) => f,
                    Err(_) => return,
                };
                if !f.authed {
                    record(&rec, |r| {
                        r.violations.push(format!("conn {conn}: {text:?} before auth"))
                    });
                    let _ = ctl.send(Ctl::Close);
                    return;
                }
                let was_ready = f.freq && f.agc && f.ar_ok;
                if let Some(rest) = text.strip_prefix("SET mod=") {
                    // SET mod=<mode> low_cut=<Hz> high_cut=<Hz> freq=<kHz>
                    let parts: Vec<&str> = rest.split(' ').collect();
                    let get = |k: &str| parts.iter().find_map(|p| p.strip_prefix(k));
                    let lo = get("low_cut=").and_then(|v| v.parse::<i32>().ok());
                    let hi = get("high_cut=").and_then(|v| v.parse::<i32>().ok());
                    let fr = get("freq=").and_then(|v| v.parse::<f64>().ok());
                    match (lo, hi, fr) {
                        (Some(lo), Some(hi), Some(_)) if !(lo == 0 && hi == 0) => f.freq = true,
                        _ => record(&rec, |r| r.violations.push(format!("conn {conn}: bad mod {text:?}"))),
                    }
                } else if text.starts_with("SET agc=") {
                    let n = text.split(' ').skip(1).filter(|p| p.contains('=')).count();
                    if n == 6 {
                        f.agc = true;
                    } else {
                        record(&rec, |r| r.violations.push(format!("conn {conn}: bad agc {text:?}")));
                    }
                } else if let Some(rest) = text.strip_prefix("SET AR OK ") {
                    let out = rest
                        .split(' ')
                        .find_map(|p| p.strip_prefix("out="))
                        .and_then(|v| v.parse::<u32>().ok());
                    if out.is_some_and(|o| o != 0) {
                        f.ar_ok = true;
                    }
                } else if text == "SET little-endian" {
                    f.little_endian = true;
                }
                if !was_ready && f.freq && f.agc && f.ar_ok {
                    let _ = ctl.send(Ctl::Streaming);
                }
            }
        })
    };

    // Writer: control messages first, then frames.
    let mut streaming = false;
    let mut seq: u32 = 1;
    let mut sent_frames: u32 = 0;
    let mut buf = Vec::with_capacity(2100);
    let mut samples = vec![(0i16, 0i16); protocol::IQ_SAMPLES_PER_FRAME];
    let stall = cfg.behavior == KiwiBehavior::StallAfterHandshake;
    let mut pace = cfg.frame_interval.map(|d| {
        let mut i = tokio::time::interval(d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let smeter = protocol::dbm_to_smeter(cfg.smeter_dbm);
    loop {
        let send_frame = tokio::select! {
            biased;
            c = ctl_rx.recv() => match c {
                Some(Ctl::Msg(m)) => {
                    if sink.send(msg(m)).await.is_err() { break; }
                    false
                }
                Some(Ctl::Streaming) => { streaming = true; false }
                Some(Ctl::Close) | None => { let _ = sink.close().await; break; }
            },
            _ = async {
                match pace.as_mut() {
                    Some(p) => { p.tick().await; }
                    None => tokio::task::yield_now().await,
                }
            }, if streaming && !stall => true,
        };
        if !send_frame {
            continue;
        }
        // Scripted events after N frames.
        let event = match &cfg.behavior {
            KiwiBehavior::TooBusyAfter(n) if sent_frames == *n => Some(("MSG too_busy=4".to_owned(), true)),
            KiwiBehavior::KickAfter(n) if sent_frames == *n => Some((
                format!("MSG kiwi_kick={}", protocol::percent_encode("1,Kicked by the admin")),
                true,
            )),
            KiwiBehavior::InactivityAfter(n) if sent_frames == *n => Some(("MSG inactivity_timeout=30".into(), true)),
            KiwiBehavior::DisconnectAfter(n) if sent_frames == *n => {
                // Drop the TCP connection without a Close frame.
                reader.abort();
                return;
            }
            KiwiBehavior::GarbageAfter(n) if sent_frames == *n => {
                let _ = sink.send(Message::binary(b"\x00\x01garbage frame".to_vec())).await;
                None
            }
            KiwiBehavior::TruncatedAfter(n) if sent_frames == *n => {
                let _ = sink
                    .send(Message::binary(
                        b"SND\x08\x05\0\0\0\x02\x10\x00\x00\x01\x02\x03".to_vec(),
                    ))
                    .await;
                None
            }
            _ => None,
        };
        if let Some((m, close)) = event {
            let _ = sink.send(msg(m)).await;
            if close {
                let _ = sink.close().await;
                break;
            }
        }
        let le = cfg.force_little_endian || flags.lock().map(|f| f.little_endian).unwrap_or(false);
        let base = u64::from(seq - 1) * protocol::IQ_SAMPLES_PER_FRAME as u64;
        for (k, s) in samples.iter_mut().enumerate() {
            *s = mock_iq(base + k as u64);
        }
        let gps = match cfg.gps_start {
            // The very first packet has uninitialised (zero) time stamps.
            Some(start) if seq > 1 => {
                let t = start + TimeDelta::nanoseconds((base as f64 / cfg.sample_rate * 1e9).round() as i64);
                protocol::utc_to_gps(t, (seq % 10) as u8)
            }
            _ => GpsStamp {
                last_gps_solution: 0,
                gpssec: 0,
                gpsnsec: 0,
            },
        };
        if !cfg.skip_seqs.contains(&seq) {
            protocol::encode_iq_snd(0, seq, smeter, gps, &samples, le, &mut buf);
            let frame = std::mem::replace(&mut buf, Vec::with_capacity(2100));
            if sink.send(Message::binary(frame)).await.is_err() {
                break;
            }
        }
        seq = seq.wrapping_add(1);
        sent_frames += 1;
    }
    reader.abort();
}
