//! What goes over the wire to S3: request bodies unsigned by default (the manifest's SHA-256
//! covers every byte, so the signer need not hash it again), signed when `unsigned_payload=false`,
//! and either way the capture round-trips through the real test server with its checksum verified.
//! A recording TCP proxy in front of the server shows each request's `x-amz-content-sha256`.
#![allow(clippy::print_stderr)] // tests report skips on stderr

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use heimdall_core::testkit::{test_capture_info, test_recorded, test_summary};
use heimdall_core::{
    CaptureChunk, Complex32, IqArchive, IqSink, SampleBlock, SampleFormat, SessionId, SessionReport, SessionStatus,
};
use heimdall_storage::object_store::ObjectStoreExt;
use heimdall_storage::object_store::path::Path;
use heimdall_storage::{ArchiveBuilder, ArchiveFormat, MIN_PART_SIZE};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy to `upstream` (host:port) that records every byte the client sends.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut server_rx, mut server_tx) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_rx.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                        if server_tx.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = server_tx.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
                    let _ = client_tx.shutdown().await;
                };
                futures::future::join(up, down).await;
            });
        }
    });
    (endpoint, sent)
}

/// The `x-amz-content-sha256` values of every request in `sent`.
fn content_sha256_headers(sent: &[u8]) -> Vec<String> {
    const NAME: &[u8] = b"x-amz-content-sha256:";
    sent.split(|b| *b == b'\n')
        .filter(|line| line.len() >= NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME))
        .map(|line| String::from_utf8_lossy(&line[NAME.len()..]).trim().to_owned())
        .collect()
}

fn block(start: usize, n: usize) -> SampleBlock {
    SampleBlock::Complex(
        (start..start + n)
            .map(|k| Complex32::new(k as f32, -((k % 4099) as f32)))
            .collect(),
    )
}

/// Streams a 12 MiB capture (three 5 MiB parts) through the sink, commits it, reads it back,
/// verifies the session and returns what the client sent.
async fn round_trip(base: &str, upstream: &str, options: &[(&str, &str)]) -> Vec<String> {
    let (endpoint, sent) = recording_proxy(upstream.to_owned()).await;
    let sink = ArchiveBuilder::from_url(format!("{base}/{}", common::fresh_prefix("unsigned")))
        .with_format(ArchiveFormat::Both)
        .with_part_size(MIN_PART_SIZE)
        .with_max_concurrency(2)
        .with_option("endpoint", endpoint)
        .with_options(options.iter().copied())
        .build()
        .unwrap();
    let n: usize = 12 * 1024 * 1024 / 8 + 333;
    let session = SessionId::new();
    let attempt = common::attempt(session);
    let info = test_capture_info("rx", SampleFormat::ComplexF32, n as u64);
    let mut w = sink.begin_capture(&attempt, &info).await.unwrap();
    let mut k = 0;
    while k < n {
        let m = 131_072.min(n - k);
        w.write(CaptureChunk::Samples(block(k, m))).await.unwrap();
        k += m;
    }
    let objects = w.finish(&test_summary(&info, n as u64), None).await.unwrap();
    let npy = objects.iter().find(|o| o.key.ends_with(".npy")).unwrap().clone();
    let report = SessionReport {
        errors: Vec::new(),
        session_id: session,
        request: heimdall_core::AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
        status: SessionStatus::Success,
        started_at: chrono::Utc::now(),
        finished_at: chrono::Utc::now(),
        receivers: vec![test_recorded(&info, n as u64, objects)],
        committed: false,
    };
    sink.commit_session(&attempt, &report).await.unwrap();
    // The stored bytes are the ones hashed while streaming, and every read verifies them.
    let stored = sink.store().get(&Path::from(npy.key.as_str())).await.unwrap();
    let stored = stored.bytes().await.unwrap();
    assert_eq!(stored.len() as u64, npy.size);
    assert_eq!(hex::encode(Sha256::digest(&stored)), npy.sha256, "{options:?}");
    let back = sink.read_capture(session, &info.receiver.id).await.unwrap();
    assert!(back.samples == block(0, n), "{options:?}: samples differ");
    sink.verify_session(session).await.unwrap();
    for key in sink.list_objects(session).await.unwrap() {
        sink.store().delete(&Path::from(key.as_str())).await.unwrap();
    }
    let sent = sent.lock().unwrap();
    content_sha256_headers(&sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_payloads_are_unsigned_by_default_and_signed_on_request() {
    let Some(base) = common::s3_base("s3_payloads_unsigned") else {
        return;
    };
    let endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT from scripts/s3.sh env");
    let upstream = url::Url::parse(&endpoint).unwrap();
    let upstream = format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port_or_known_default().unwrap()
    );

    // Default: no request body is hashed for the signature.
    let headers = round_trip(&base, &upstream, &[]).await;
    assert!(headers.len() >= 6, "parts, puts, reads: {headers:?}");
    assert!(headers.iter().all(|h| h == "UNSIGNED-PAYLOAD"), "{headers:?}");

    // `unsigned_payload=false`: each body's SHA-256 is signed, and the server accepts it.
    let headers = round_trip(&base, &upstream, &[("unsigned_payload", "false")]).await;
    assert!(
        headers
            .iter()
            .all(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())),
        "{headers:?}"
    );
    let empty = hex::encode(Sha256::digest(b""));
    let mut bodies: Vec<&String> = headers.iter().filter(|h| **h != empty).collect();
    bodies.sort();
    bodies.dedup();
    assert!(bodies.len() >= 3, "three parts and the metadata files: {headers:?}");

    // The object_store spelling works too.
    let headers = round_trip(&base, &upstream, &[("aws_unsigned_payload", "false")]).await;
    assert!(!headers.iter().any(|h| h == "UNSIGNED-PAYLOAD"), "{headers:?}");
}
