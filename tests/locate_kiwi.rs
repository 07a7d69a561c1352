//! Localization on real KiwiSDR recordings with GNSS timestamps (kiwirecorder IQ WAVs) and a
//! stations.json holding the truth. The recordings are not part of the repository: the folder
//! comes from `HEIMDALL_KIWI_WAV_DIR` (set by scripts/test.sh when it exists). Under CI=true
//! with the variable set, every recording set there must meet the targets.

#![allow(clippy::print_stderr)]

mod common;

use heimdall::kiwi_locate::captures_from_stations;
use heimdall::locate::{ClockSource, LocateError, LocateOptions, Method, geo::geodesic_distance, locate};

#[test]
fn real_recordings_locate_the_transmitter_with_an_ellipse_that_holds_the_truth() {
    let Some(dir) = common::real_recordings_dir() else {
        return;
    };
    let (stations, captures) = captures_from_stations(&dir.join("stations.json")).unwrap();
    let truth = stations.transmitter.expect("stations.json has the truth");
    let truth = heimdall::locate::GeoPoint::new(truth.latitude, truth.longitude);
    let fix = locate(&captures, &LocateOptions::default()).unwrap();
    let err = geodesic_distance(&truth, &fix.position());
    eprintln!("{}", serde_json::to_string_pretty(&fix).unwrap());
    eprintln!(
        "error {err:.0} m, 95% ellipse {:.0} x {:.0} m",
        fix.error_ellipse_m.semi_major, fix.error_ellipse_m.semi_minor
    );
    assert_eq!(fix.method, Method::Tdoa);
    // The target: 1 km, and a 95% ellipse that contains the truth (measured 459 m, see the README).
    assert!(err <= 1_000.0, "error {err:.0} m");
    assert!(fix.ellipse_contains(&truth), "truth outside the 95% ellipse");
    // Every clock fitted near 12001 Hz, the stale first blocks dropped.
    for c in &fix.clocks {
        let r = c.fitted_rate_hz.unwrap();
        assert!((r - 12_001.0).abs() < 0.5, "{c:?}");
        assert!(c.marks_dropped >= 1, "{c:?}");
    }
}

#[test]
fn real_recordings_refusals_are_typed() {
    let Some(dir) = common::real_recordings_dir() else {
        return;
    };
    let (_, captures) = captures_from_stations(&dir.join("stations.json")).unwrap();
    // Two receivers: TDoA impossible, RSSI needs three.
    let e = locate(&captures[..2], &LocateOptions::default()).unwrap_err();
    assert!(matches!(e, LocateError::TooFewReceivers { .. }), "{e}");
    // Host clocks: TDoA refused with its reason, RSSI answers loosely.
    let mut host = captures.clone();
    host.iter_mut().for_each(|c| c.clock = ClockSource::Host);
    let fix = locate(&host, &LocateOptions::default()).unwrap();
    assert_eq!(fix.method, Method::Rssi);
    assert!(fix.notes.iter().any(|n| n.contains("TDoA needs 3")));
    // All timestamps stale.
    let mut stale = captures.clone();
    stale
        .iter_mut()
        .for_each(|c| c.marks.iter_mut().for_each(|m| m.fix_age_s = Some(255)));
    let e = locate(&stale, &LocateOptions::default()).unwrap_err();
    assert!(matches!(e, LocateError::AllTimestampsStale { .. }), "{e}");
    // Too short.
    let mut short = captures.clone();
    short.iter_mut().for_each(|c| c.samples.truncate(12_000));
    let e = locate(&short, &LocateOptions::default()).unwrap_err();
    assert!(matches!(e, LocateError::CaptureTooShort { .. }), "{e}");
}
