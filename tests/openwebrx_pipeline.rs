//! One acquisition through a real protocol end to end: an OpenWebRX receiver behind a TLS
//! reverse proxy (in-process), the engine, the object-store archive and the metric store.
//! The samples, the receiver's S-meter and its spectra all land, and read back as sent.

use std::sync::Arc;
use std::time::Duration;

use heimdall_core::dev::prelude::*;
use heimdall_core::engine::Engine;
use heimdall_core::memory::MemoryStore;
use heimdall_storage::ArchiveBuilder;
use heimdall_websdr::mock_tls::TEST_CA_PEM;
use heimdall_websdr::openwebrx::OpenWebRxBuilder;
use heimdall_websdr::openwebrx::mock::{MockConfig, MockOpenWebRx};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openwebrx_over_tls_is_archived_with_its_spectra() {
    let cfg = MockConfig::default();
    let mock = MockOpenWebRx::start_tls(cfg.clone()).await.unwrap();
    let info = ReceiverInfo::new(
        ReceiverId::new("owrx-tls").unwrap(),
        "Behind a proxy",
        ReceiverKind::OpenWebRx,
        mock.url(),
    )
    .with_position(GeoPosition::new(45.0, 7.6, None).unwrap());
    let source = OpenWebRxBuilder::new(info)
        .with_root_certificates_pem(TEST_CA_PEM)
        .with_politeness_interval(Duration::from_millis(1))
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(ArchiveBuilder::from_url(dir.path().to_str().unwrap()).build().unwrap());
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .source(Arc::new(source))
        .sink(sink.clone())
        .store(store.clone())
        .build()
        .unwrap();

    let report = engine
        .acquire(AcquisitionRequest::new(145.1e6, Duration::from_millis(500)))
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Success, "{report:#?}");
    let r = &report.receivers[0];
    let capture = r.capture.as_ref().unwrap();
    assert_eq!(capture.samples, 6000);
    assert!(capture.spectra > 0);
    let rssi = capture.rssi.as_ref().unwrap();
    assert!((rssi.mean - -50.0).abs() < 1e-6, "{rssi:?}");

    // Samples as the mock sent them.
    let back = sink.read_capture(report.session_id, &r.receiver.id).await.unwrap();
    let expect: Vec<f32> = (0..6000)
        .map(|i| f32::from(cfg.audio_samples[i % cfg.audio_samples.len()]) / 32768.0)
        .collect();
    assert_eq!(back.samples, SampleBlock::Real(expect));
    // Every spectrum frame the engine counted, archived with the mock's bins.
    let (index, frames) = sink
        .read_spectra(report.session_id, &r.receiver.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frames.len() as u64, capture.spectra);
    assert_eq!(index.unit, PowerUnit::Dbfs);
    assert!(frames.iter().all(|f| f.bins == cfg.fft_bins && f.span_hz == 2.4e6));
    assert!(frames.windows(2).all(|w| w[0].sample_index <= w[1].sample_index));
    // One row, with the spectra file among the capture's objects in the manifest.
    let manifest = sink.read_manifest(report.session_id).await.unwrap();
    assert!(
        manifest.receivers[0]
            .objects
            .iter()
            .any(|o| o.key.ends_with("owrx-tls_spectra.npy"))
    );
    let rows = store
        .measurements(&MeasurementQuery {
            session: Some(report.session_id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].rssi_unit, Some(PowerUnit::Dbfs));
    assert!(rows[0].rssi.is_some_and(|v| (v + 50.0).abs() < 1e-6));
}
