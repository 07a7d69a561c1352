//! An in-process OpenWebRX server for tests and benches (feature `mock-servers`).
//!
//! It speaks OpenWebRX's WebSocket protocol (`owrx/connection.py`) byte for byte: the `SERVER DE CLIENT` / `CLIENT DE SERVER`
//! handshake (hello before the JSON state as in 1.2, or after it as in 1.1), merged `config`,
//! `profiles`, `connectionproperties`, `dspcontrol` (`offset_freq` must be a JSON integer, as
//! the server's validator demands), `selectprofile`, audio frames (int16 LE, raw ADPCM for
//! ≤ 1.1, sync ADPCM for ≥ 1.2 with `SYNC` blocks every 1001 bytes, not frame aligned), `smeter`,
//! FFT frames (float32 or per-frame ADPCM), `backoff`, `sdr_error`, plus faults: mid-stream
//! disconnect, stall, garbage text, empty or truncated frames, another user moving the profile,
//! the legacy binary `CLI` handshake. The same port answers `GET /status.json` and `HEAD`/`GET /`.
//!
//! It records every connection (time, client text messages) so tests can check politeness and
//! what the client sent.
//!
//! [`MockOpenWebRx::start_tls`] puts it behind a TLS-terminating front, as public receivers
//! sit behind nginx or Caddy: `https://localhost:port/`, with a certificate for `localhost` and
//! `127.0.0.1` issued by the test CA [`TEST_CA_PEM`] (see [`crate::mock_tls`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::mock_tls::TlsFront;

use super::adpcm::{ImaAdpcmEncoder, SYNC_INTERVAL_BYTES, SYNC_WORD, encode_fft_frame};

/// One SDR profile served by the mock.
#[derive(Debug, Clone, PartialEq)]
pub struct MockProfile {
    /// SDR id (`rtl`).
    pub sdr_id: String,
    /// SDR display name (`RTL-SDR`).
    pub sdr_name: String,
    /// Profile id (`2m`).
    pub profile_id: String,
    /// Profile display name (`2m band`).
    pub name: String,
    /// Centre frequency, Hz.
    pub center_freq: i64,
    /// Sample rate, Hz.
    pub samp_rate: i64,
}

impl MockProfile {
    /// A profile of SDR `rtl` ("RTL-SDR").
    pub fn new(id: &str, name: &str, center_freq: i64, samp_rate: i64) -> Self {
        MockProfile {
            sdr_id: "rtl".into(),
            sdr_name: "RTL-SDR".into(),
            profile_id: id.into(),
            name: name.into(),
            center_freq,
            samp_rate,
        }
    }
}

/// Audio encoding of the mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockAudio {
    /// `audio_compression: "none"`: int16 LE.
    Int16,
    /// `audio_compression: "adpcm"`: raw stream (version ≤ 1.1) or sync blocks (≥ 1.2), chosen
    /// by [`MockConfig::version`].
    Adpcm,
}

/// A fault to inject once `after_samples` audio samples have been sent.
#[derive(Debug, Clone, PartialEq)]
pub enum MockFault {
    /// Close the TCP connection without a close frame.
    Disconnect,
    /// Send a close frame.
    Close,
    /// Stop sending (keep the socket open).
    Stall,
    /// Stop sending audio and FFT frames but keep sending S-meter readings.
    StallAudio,
    /// Send a text frame that is not JSON.
    GarbageText(String),
    /// Send this binary frame as is (e.g. empty).
    RawBinary(Vec<u8>),
    /// Another user selects profile index `n`.
    MoveProfile(usize),
}

/// What happens right after the handshake.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MockGreeting {
    /// Normal session.
    #[default]
    Normal,
    /// `{"type":"backoff","reason":…}` then close (too many clients, banned).
    Backoff(String),
    /// `{"type":"sdr_error","value":…}` then close.
    SdrError(String),
    /// `{"type":"demodulator_error","value":…}` after `dspcontrol` start.
    DemodulatorError(String),
    /// Answer with the legacy binary `CLIENT DE SERVER openwebrx.py` and nothing else.
    Legacy,
    /// Never answer.
    Silent,
}

/// Mock behaviour.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// `version=` in the handshake (`v1.2.0`, `1.1.0`); `None` omits it.
    pub version: Option<String>,
    /// Send `CLIENT DE SERVER` before the JSON state (1.2) or after it (1.1).
    pub hello_first: bool,
    /// Audio encoding.
    pub audio: MockAudio,
    /// FFT frames ADPCM-compressed (else float32).
    pub fft_adpcm: bool,
    /// Profiles; the first is the initial one.
    pub profiles: Vec<MockProfile>,
    /// Index of the initial profile.
    pub initial_profile: usize,
    /// The audio signal, sent cyclically from the start (`dspcontrol` start).
    pub audio_samples: Vec<i16>,
    /// Samples per audio frame (rounded up to even for ADPCM).
    pub frame_samples: usize,
    /// Interval between audio frames.
    pub frame_interval: Duration,
    /// S-meter values (linear), one per `smeter_every` frames, cycled.
    pub smeter_values: Vec<f64>,
    /// Frames between S-meter readings (0 = never).
    pub smeter_every: usize,
    /// FFT bins in dB.
    pub fft_bins: Vec<f32>,
    /// Frames between FFT frames (0 = never).
    pub fft_every: usize,
    /// Extra bytes appended to every FFT frame (a truncated float after the bins).
    pub fft_trailing_bytes: usize,
    /// What happens after the handshake.
    pub greeting: MockGreeting,
    /// Faults: (after this many samples sent, fault). Applied to every connection.
    pub faults: Vec<(u64, MockFault)>,
    /// Answer `HEAD /` with 405 (so liveness checks must fall back to `GET`).
    pub refuse_head: bool,
    /// Serve `/status.json` (else 404).
    pub serve_status: bool,
    /// Ignore `selectprofile` (a locked profile on OpenWebRX+).
    pub ignore_selectprofile: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            version: Some("v1.2.0".into()),
            hello_first: true,
            audio: MockAudio::Int16,
            fft_adpcm: false,
            profiles: vec![
                MockProfile::new("2m", "2m band", 145_000_000, 2_400_000),
                MockProfile::new("70cm", "70cm band", 433_500_000, 2_400_000),
            ],
            initial_profile: 0,
            audio_samples: (0..4800).map(|i| ((i * 7919) % 65536 - 32768) as i16).collect(),
            frame_samples: 600,
            frame_interval: Duration::from_millis(5),
            smeter_values: vec![1e-5],
            smeter_every: 2,
            fft_bins: (0..64).map(|i| -100.0 + i as f32).collect(),
            fft_every: 3,
            fft_trailing_bytes: 0,
            greeting: MockGreeting::Normal,
            faults: Vec::new(),
            refuse_head: false,
            serve_status: true,
            ignore_selectprofile: false,
        }
    }
}

/// One WebSocket connection as the mock saw it.
#[derive(Debug, Clone)]
pub struct MockConnection {
    /// When it was accepted.
    pub at: Instant,
    /// Client text messages, in order.
    pub messages: Vec<String>,
    /// Audio samples sent.
    pub samples_sent: u64,
}

#[derive(Debug, Default)]
struct Shared {
    connections: Vec<MockConnection>,
    http_requests: Vec<String>,
}

pub use crate::mock_tls::{OTHER_CA_PEM, TEST_CA_PEM};

/// A running mock server; stops when dropped.
#[derive(Debug)]
pub struct MockOpenWebRx {
    addr: std::net::SocketAddr,
    /// The TLS front ([`Self::start_tls`]).
    tls: Option<TlsFront>,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl Drop for MockOpenWebRx {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockOpenWebRx {
    /// Starts a server on 127.0.0.1 (random port).
    pub async fn start(cfg: MockConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let cfg = Arc::new(cfg);
        let sh = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (cfg, sh) = (cfg.clone(), sh.clone());
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, cfg, sh).await {
                        tracing::debug!(error = %e, "mock openwebrx connection ended");
                    }
                });
            }
        });
        Ok(MockOpenWebRx {
            addr,
            tls: None,
            shared,
            task,
        })
    }

    /// Starts a server behind a TLS-terminating front (a reverse proxy in the same process):
    /// [`Self::url`] is `https://localhost:port/`, trusted with [`TEST_CA_PEM`]. The plain
    /// server stays reachable at [`Self::addr`].
    pub async fn start_tls(cfg: MockConfig) -> std::io::Result<Self> {
        let mut mock = Self::start(cfg).await?;
        mock.tls = Some(TlsFront::start(mock.addr).await?);
        Ok(mock)
    }

    /// `http://127.0.0.1:port/`, or `https://localhost:port/` for [`Self::start_tls`].
    pub fn url(&self) -> String {
        match &self.tls {
            Some(front) => format!("{}/", front.origin()),
            None => format!("http://{}/", self.addr),
        }
    }

    /// The socket address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Every WebSocket connection so far.
    pub fn connections(&self) -> Vec<MockConnection> {
        self.shared.lock().map(|s| s.connections.clone()).unwrap_or_default()
    }

    /// Request lines of every plain HTTP request so far (`HEAD / HTTP/1.1`...).
    pub fn http_requests(&self) -> Vec<String> {
        self.shared.lock().map(|s| s.http_requests.clone()).unwrap_or_default()
    }
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

async fn serve(stream: TcpStream, cfg: Arc<MockConfig>, shared: Arc<Mutex<Shared>>) -> Result<(), BoxErr> {
    // Peek the request head to route WebSocket vs plain HTTP.
    let mut buf = vec![0u8; 4096];
    let head = loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if text.contains("\r\n\r\n") || n == buf.len() {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let first = head.lines().next().unwrap_or_default().to_owned();
    if head.to_ascii_lowercase().contains("upgrade: websocket") {
        serve_ws(stream, cfg, shared).await
    } else {
        if let Ok(mut s) = shared.lock() {
            s.http_requests.push(first.clone());
        }
        serve_http(stream, &first, &cfg).await
    }
}

fn status_json(cfg: &MockConfig) -> String {
    let mut sdrs: Vec<Value> = Vec::new();
    for p in &cfg.profiles {
        let prof = json!({"name": p.name, "center_freq": p.center_freq, "sample_rate": p.samp_rate});
        if let Some(s) = sdrs.iter_mut().find(|s| s["name"] == p.sdr_name.as_str()) {
            if let Some(a) = s["profiles"].as_array_mut() {
                a.push(prof);
            }
        } else {
            sdrs.push(json!({"name": p.sdr_name, "type": "rtl_sdr", "profiles": [prof]}));
        }
    }
    json!({
        "receiver": {"name": "Mock", "admin": "mock@example.org", "gps": {"lat": 45.0, "lon": 7.5}, "asl": 300, "location": "Mockville"},
        "max_clients": 20,
        "version": cfg.version.clone().unwrap_or_default(),
        "sdrs": sdrs,
    })
    .to_string()
}

async fn serve_http(mut stream: TcpStream, first: &str, cfg: &MockConfig) -> Result<(), BoxErr> {
    // Drain the request head (it was only peeked).
    let mut sink = vec![0u8; 8192];
    let _ = tokio::time::timeout(
        Duration::from_millis(50),
        tokio::io::AsyncReadExt::read(&mut stream, &mut sink),
    )
    .await;
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let (status, body) = match (method, path) {
        ("HEAD", "/") if cfg.refuse_head => ("405 Method Not Allowed", String::new()),
        ("GET", "/status.json") if cfg.serve_status => ("200 OK", status_json(cfg)),
        ("GET" | "HEAD", "/") => ("200 OK", "<html>OpenWebRX mock</html>".to_owned()),
        _ => ("404 Not Found", "not found".to_owned()),
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        resp.push_str(&body);
    }
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

struct AudioEnc {
    mode: MockAudio,
    sync: bool,
    enc: ImaAdpcmEncoder,
    /// ADPCM bytes left before the next sync block (0 = a sync block is due).
    until_sync: usize,
}

impl AudioEnc {
    fn encode(&mut self, samples: &[i16], out: &mut Vec<u8>) {
        match self.mode {
            MockAudio::Int16 => samples.iter().for_each(|s| out.extend_from_slice(&s.to_le_bytes())),
            MockAudio::Adpcm => {
                for pair in samples.chunks(2) {
                    if self.sync && self.until_sync == 0 {
                        let (idx, pred) = self.enc.state();
                        out.extend_from_slice(&SYNC_WORD);
                        out.extend_from_slice(&(idx as i16).to_le_bytes());
                        out.extend_from_slice(&pred.to_le_bytes());
                        self.until_sync = SYNC_INTERVAL_BYTES;
                    }
                    self.enc.encode(pair, out);
                    self.until_sync = self.until_sync.saturating_sub(1);
                }
            }
        }
    }
}

async fn serve_ws(stream: TcpStream, cfg: Arc<MockConfig>, shared: Arc<Mutex<Shared>>) -> Result<(), BoxErr> {
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    let conn_index = {
        let mut s = shared.lock().map_err(|_| "poisoned")?;
        s.connections.push(MockConnection {
            at: Instant::now(),
            messages: Vec::new(),
            samples_sent: 0,
        });
        s.connections.len() - 1
    };
    let record = |m: &str| {
        if let Ok(mut s) = shared.lock()
            && let Some(c) = s.connections.get_mut(conn_index)
        {
            c.messages.push(m.to_owned());
        }
    };
    // Wait for the client's handshake.
    let hello_in = loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                record(t.as_str());
                break t.to_string();
            }
            Some(Ok(_)) => continue,
            _ => return Ok(()),
        }
    };
    if !hello_in.starts_with("SERVER DE CLIENT") {
        ws.close(None).await?;
        return Ok(());
    }
    match &cfg.greeting {
        MockGreeting::Legacy => {
            ws.send(Message::binary(b"CLIENT DE SERVER openwebrx.py".to_vec()))
                .await?;
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    record(t.as_str());
                }
            }
            return Ok(());
        }
        MockGreeting::Silent => {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m {
                    record(t.as_str());
                }
            }
            return Ok(());
        }
        _ => {}
    }
    let hello = match &cfg.version {
        Some(v) => format!("CLIENT DE SERVER server=openwebrx version={v}"),
        None => "CLIENT DE SERVER server=openwebrx".to_owned(),
    };
    if cfg.hello_first {
        ws.send(Message::text(hello.clone())).await?;
    }
    match &cfg.greeting {
        MockGreeting::Backoff(reason) => {
            ws.send(Message::text(json!({"type": "backoff", "reason": reason}).to_string()))
                .await?;
            ws.close(None).await?;
            return Ok(());
        }
        MockGreeting::SdrError(text) => {
            ws.send(Message::text(json!({"type": "sdr_error", "value": text}).to_string()))
                .await?;
            ws.close(None).await?;
            return Ok(());
        }
        _ => {}
    }
    let mut profile = cfg.initial_profile.min(cfg.profiles.len().saturating_sub(1));
    let config_msg = |p: &MockProfile, full: bool| {
        let mut v = json!({
            "samp_rate": p.samp_rate, "center_freq": p.center_freq, "sdr_id": p.sdr_id, "profile_id": p.profile_id,
            "start_mod": "nfm", "start_offset_freq": 0,
        });
        if full && let Some(o) = v.as_object_mut() {
            o.insert("fft_size".into(), json!(cfg.fft_bins.len()));
            o.insert(
                "audio_compression".into(),
                json!(if cfg.audio == MockAudio::Adpcm { "adpcm" } else { "none" }),
            );
            o.insert(
                "fft_compression".into(),
                json!(if cfg.fft_adpcm { "adpcm" } else { "none" }),
            );
            o.insert("max_clients".into(), json!(20));
        }
        json!({"type": "config", "value": v}).to_string()
    };
    let profiles_msg = json!({"type": "profiles", "value": cfg.profiles.iter().map(|p| json!({
        "id": format!("{}|{}", p.sdr_id, p.profile_id), "name": format!("{} {}", p.sdr_name, p.name)})).collect::<Vec<_>>()})
    .to_string();
    ws.send(Message::text(
        json!({"type": "receiver_details", "value": {"receiver_name": "Mock", "receiver_gps": {"lat": 45.0, "lon": 7.5}}})
            .to_string(),
    ))
    .await?;
    if let Some(p) = cfg.profiles.get(profile) {
        ws.send(Message::text(config_msg(p, true))).await?;
    }
    ws.send(Message::text(json!({"type": "features", "value": {}}).to_string()))
        .await?;
    ws.send(Message::text(profiles_msg)).await?;
    ws.send(Message::text(json!({"type": "clients", "value": 3}).to_string()))
        .await?;
    ws.send(Message::text(json!({"type": "cpuusage", "value": 0.25}).to_string()))
        .await?;
    if !cfg.hello_first {
        ws.send(Message::text(hello)).await?;
    }

    let sync = cfg
        .version
        .as_deref()
        .and_then(super::protocol::parse_version)
        .is_some_and(|v| v >= (1, 2));
    let mut enc = AudioEnc {
        mode: cfg.audio,
        sync,
        enc: ImaAdpcmEncoder::new(),
        until_sync: 0,
    };
    let frame_samples = if cfg.audio == MockAudio::Adpcm {
        cfg.frame_samples.max(2).div_ceil(2) * 2
    } else {
        cfg.frame_samples.max(1)
    };
    let mut started = false;
    let mut sent: u64 = 0;
    let mut frames: usize = 0;
    let mut stalled = false;
    let mut audio_stalled = false;
    // HD demodulators (wfm) send audio as type 0x04 at hd_output_rate.
    let mut hd = false;
    let mut faults = cfg.faults.clone();
    let mut tick = tokio::time::interval(cfg.frame_interval.max(Duration::from_micros(100)));
    let mut frame = Vec::with_capacity(frame_samples * 2 + 16);
    let mut chunk = Vec::with_capacity(frame_samples);
    loop {
        tokio::select! {
            m = ws.next() => {
                let Some(Ok(m)) = m else { return Ok(()) };
                let Message::Text(t) = m else { continue };
                record(t.as_str());
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                match v["type"].as_str() {
                    Some("dspcontrol") if v["action"] == "start" => {
                        started = true;
                        if let MockGreeting::DemodulatorError(text) = &cfg.greeting {
                            ws.send(Message::text(json!({"type": "demodulator_error", "value": text}).to_string())).await?;
                        }
                    }
                    Some("dspcontrol") => {
                        if let Some(m) = v["params"].get("mod").and_then(Value::as_str) {
                            hd = m == "wfm";
                        }
                        // The server's validator: offset_freq must be an int.
                        if let Some(o) = v["params"].get("offset_freq") && !o.is_i64() {
                            ws.send(Message::text(json!({"type": "log_message", "value": "offset_freq: not an int"}).to_string())).await?;
                        }
                    }
                    Some("selectprofile") if !cfg.ignore_selectprofile => {
                        let want = v["params"]["profile"].as_str().unwrap_or_default().to_owned();
                        if let Some(i) = cfg.profiles.iter().position(|p| format!("{}|{}", p.sdr_id, p.profile_id) == want) {
                            profile = i;
                            ws.send(Message::text(config_msg(&cfg.profiles[i], false))).await?;
                        }
                    }
                    _ => {}
                }
            }
            _ = tick.tick(), if started && !stalled => {
                // Faults due now.
                let mut i = 0;
                while i < faults.len() {
                    if faults[i].0 <= sent {
                        let (_, f) = faults.remove(i);
                        match f {
                            MockFault::Disconnect => return Ok(()),
                            MockFault::Close => { ws.close(None).await?; return Ok(()); }
                            MockFault::Stall => stalled = true,
                            MockFault::StallAudio => audio_stalled = true,
                            MockFault::GarbageText(t) => ws.send(Message::text(t)).await?,
                            MockFault::RawBinary(b) => ws.send(Message::binary(b)).await?,
                            MockFault::MoveProfile(p) => {
                                if let Some(pr) = cfg.profiles.get(p) {
                                    profile = p;
                                    ws.send(Message::text(config_msg(pr, false))).await?;
                                }
                            }
                        }
                    } else {
                        i += 1;
                    }
                }
                if stalled { continue; }
                if audio_stalled {
                    let v = cfg.smeter_values.first().copied().unwrap_or(1e-5);
                    ws.send(Message::text(json!({"type": "smeter", "value": v}).to_string())).await?;
                    continue;
                }
                let _ = profile;
                chunk.clear();
                let n = cfg.audio_samples.len().max(1);
                for k in 0..frame_samples {
                    chunk.push(cfg.audio_samples.get((sent as usize + k) % n).copied().unwrap_or(0));
                }
                frame.clear();
                frame.push(if hd { 0x04 } else { 0x02 });
                enc.encode(&chunk, &mut frame);
                ws.send(Message::binary(frame.clone())).await?;
                sent += frame_samples as u64;
                frames += 1;
                if let Ok(mut s) = shared.lock() && let Some(c) = s.connections.get_mut(conn_index) {
                    c.samples_sent = sent;
                }
                if cfg.smeter_every > 0 && frames.is_multiple_of(cfg.smeter_every) && !cfg.smeter_values.is_empty() {
                    let v = cfg.smeter_values[(frames / cfg.smeter_every - 1) % cfg.smeter_values.len()];
                    ws.send(Message::text(json!({"type": "smeter", "value": v}).to_string())).await?;
                }
                if cfg.fft_every > 0 && frames.is_multiple_of(cfg.fft_every) {
                    let mut f = vec![0x01u8];
                    if cfg.fft_adpcm {
                        f.extend(encode_fft_frame(&cfg.fft_bins));
                    } else {
                        cfg.fft_bins.iter().for_each(|b| f.extend_from_slice(&b.to_le_bytes()));
                    }
                    f.extend(std::iter::repeat_n(0xAAu8, cfg.fft_trailing_bytes));
                    ws.send(Message::binary(f)).await?;
                }
            }
        }
    }
}
