//! Discovery: directory parsing (testdata), /status parsers, HTTP checks against the mock.

use std::path::PathBuf;
use std::time::Duration;

use heimdall_core::{Error, ReceiverKind};
use heimdall_websdr::discovery::{
    KiwiStatus, OpenWebRxStatus, check_http_liveness, fetch_kiwisdr_status, fetch_openwebrx_status,
    load_kiwisdr_directory, parse_kiwisdr_directory, parse_kiwisdr_directory_entries, probe_health,
};
use heimdall_websdr::openwebrx::mock::{MockConfig, MockOpenWebRx};
use proptest::prelude::*;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/receivers")
        .join(name)
}

#[test]
fn kiwisdr_public_html() {
    let list = load_kiwisdr_directory(testdata("kiwisdr_public.html")).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let a = &list[0];
    assert_eq!(a.name, "KiwiSDR Torino, JN35 & friends");
    assert_eq!(a.id.as_str(), "kiwisdr-torino-jn35-friends");
    assert_eq!(a.kind, ReceiverKind::KiwiSdr);
    assert_eq!(a.url, "http://kiwi-torino.example.org:8073");
    let p = a.position.unwrap();
    assert_eq!((p.latitude, p.longitude, p.altitude_m), (45.044, 7.672, Some(250.0)));
    // Same name: a unique id; (0, 0) GPS: no position.
    assert_eq!(list[1].id.as_str(), "kiwisdr-torino-jn35-friends-2");
    assert_eq!(list[1].url, "http://kiwi-2.example.org:8074/");
    assert!(list[1].position.is_none());
    let entries =
        parse_kiwisdr_directory_entries(&std::fs::read_to_string(testdata("kiwisdr_public.html")).unwrap()).unwrap();
    let h = entries[0].health();
    assert!(h.available);
    assert_eq!((h.users, h.users_max, h.gps_locked), (Some(1), Some(4), Some(true)));
    assert!(!entries[1].health().available, "offline=yes");
}

#[test]
fn kiwisdr_com_js() {
    let list = load_kiwisdr_directory(testdata("kiwisdr_com.js")).unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0].id.as_str(), "genova-kiwisdr");
    let p = list[0].position.unwrap();
    assert_eq!((p.latitude, p.longitude, p.altitude_m), (44.395, 8.956, Some(100.0)));
    assert!(list[1].position.is_none(), "out-of-range gps is dropped");
    // No name: the host names it.
    assert_eq!(list[2].name, "10.1.2.3");
    assert_eq!(list[2].id.as_str(), "10-1-2-3");
    let entries =
        parse_kiwisdr_directory_entries(&std::fs::read_to_string(testdata("kiwisdr_com.js")).unwrap()).unwrap();
    assert_eq!(entries[0].health().gps_locked, Some(false));
    assert!(!entries[1].health().available, "full");
}

#[test]
fn directory_errors_are_clear() {
    let e = parse_kiwisdr_directory("<html>nothing</html>").unwrap_err();
    assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains("cl-info"), "{e}");
    let e = parse_kiwisdr_directory("var kiwisdr_com = [ {\"name\": ] ;").unwrap_err();
    assert!(e.to_string().contains("not a JSON array"), "{e}");
    let e = load_kiwisdr_directory(testdata("does-not-exist.js")).unwrap_err();
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
}

#[tokio::test]
async fn openwebrx_status_and_liveness_against_mock() {
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let client = reqwest::Client::new();
    let t = Duration::from_secs(2);
    let s = fetch_openwebrx_status(&client, &mock.url(), t).await.unwrap();
    assert_eq!(s.receiver.name.as_deref(), Some("Mock"));
    assert_eq!(s.sdrs[0].profiles.len(), 2);
    assert_eq!(s.position().unwrap().latitude, 45.0);
    let h = check_http_liveness(&client, &mock.url(), t).await.unwrap();
    assert!(h.available);
    assert!(h.detail.starts_with("HEAD"), "{}", h.detail);
    assert_eq!(mock.http_requests().iter().filter(|r| r.starts_with("HEAD")).count(), 1);

    // HEAD refused: falls back to GET.
    let mock = MockOpenWebRx::start(MockConfig {
        refuse_head: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let h = check_http_liveness(&client, &mock.url(), t).await.unwrap();
    assert!(h.available, "{h:?}");
    let reqs = mock.http_requests();
    assert!(
        reqs[0].starts_with("HEAD /") && reqs[1].starts_with("GET /"),
        "{reqs:?}"
    );
    // An error page after HEAD and GET: reachable but not available.
    let h = check_http_liveness(&client, &format!("{}missing", mock.url()), t)
        .await
        .unwrap();
    assert!(!h.available);
    assert!(h.detail.contains("404"), "{}", h.detail);
    // Not an OpenWebRX: /status.json 404 is a clear refusal.
    let e = fetch_kiwisdr_status(&client, &mock.url(), t).await.unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e:?}");
}

#[tokio::test]
async fn liveness_of_a_dead_host_is_unavailable() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let e = check_http_liveness(&reqwest::Client::new(), &url, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }) && e.is_retryable(), "{e:?}");
}

#[test]
fn kiwi_status_page() {
    let s = KiwiStatus::parse("status=active\nusers=4\nusers_max=4\nauth=password\nname=K\n");
    let h = s.to_health(false);
    assert!(!h.available);
    assert!(s.auth_required());
    assert_eq!(s.name(), Some("K"));
}

proptest! {
    #[test]
    fn parsers_never_panic(text in ".{0,400}") {
        let _ = parse_kiwisdr_directory(&text);
        let _ = parse_kiwisdr_directory(&format!("var x = [{text}];"));
        let _ = parse_kiwisdr_directory(&format!("<div class='cl-info'><!-- {text} --> <a href={text}"));
        let s = KiwiStatus::parse(&text);
        let _ = (s.to_health(false), s.position());
        if let Ok(o) = OpenWebRxStatus::parse(&text) {
            let _ = (o.to_health(), o.position());
        }
    }
}

/// A one-route HTTP server answering `GET /status` like a KiwiSDR.
async fn kiwi_status_server(body: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let resp = if req.starts_with("GET /status ") {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
            };
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn kiwisdr_status_over_http_and_probe_by_kind() {
    let base = kiwi_status_server(
        "status=active\noffline=no\nusers=1\nusers_max=4\nfixes_min=3\ngps=(45.0, 7.0)\nsw_version=KiwiSDR_v1.711\n",
    )
    .await;
    let client = reqwest::Client::new();
    let t = Duration::from_secs(2);
    let s = fetch_kiwisdr_status(&client, &base, t).await.unwrap();
    assert_eq!(s.users(), Some(1));
    assert_eq!(s.position().unwrap().latitude, 45.0);
    let info = heimdall_core::ReceiverInfo::new(
        heimdall_core::ReceiverId::new("k").unwrap(),
        "K",
        ReceiverKind::KiwiSdr,
        base.clone(),
    );
    let h = probe_health(&client, &info, t).await.unwrap();
    assert!(h.available);
    assert_eq!(h.gps_locked, Some(true));
    assert_eq!(h.version.as_deref(), Some("KiwiSDR_v1.711"));

    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let mut info = info.clone();
    info.kind = ReceiverKind::OpenWebRx;
    info.url = mock.url().replacen("http://", "ws://", 1) + "ws/";
    let h = probe_health(&client, &info, t).await.unwrap();
    assert_eq!(h.users_max, Some(20));
    info.kind = ReceiverKind::HttpIq;
    info.url = mock.url();
    assert!(probe_health(&client, &info, t).await.unwrap().available);
    info.kind = ReceiverKind::RtlTcp;
    info.url = "tcp://127.0.0.1:1234".into();
    let e = probe_health(&client, &info, t).await.unwrap_err();
    assert!(matches!(e, Error::NotImplemented { .. }), "{e:?}");
}
