//! The DSP core against the truth vectors in `testdata/dsp` (scipy's exact Welch output and
//! the true SNR / tone frequency of each synthetic capture).
#![allow(clippy::print_stderr)] // the tests report their accuracy figures

use std::path::PathBuf;

use heimdall_core::dsp::{Analyzer, AnalyzerConfig, Welch, analyze_npy, metrics_json};
use heimdall_core::{Complex32, SampleBlock};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dsp")
}

struct Vector {
    name: String,
    truth: serde_json::Value,
    x: Vec<Complex32>,
}

fn vectors() -> Vec<Vector> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "expected the 5 truth vectors, found {names:?}");
    names
        .into_iter()
        .map(|name| {
            let truth: serde_json::Value = serde_json::from_slice(&std::fs::read(dir().join(&name)).unwrap()).unwrap();
            let npy = std::fs::read(dir().join(truth["file"].as_str().unwrap())).unwrap();
            let SampleBlock::Complex(x) = heimdall_core::npy::decode(&npy).unwrap() else {
                panic!("{name}: not complex");
            };
            assert_eq!(x.len() as u64, truth["samples"].as_u64().unwrap());
            Vector { name, truth, x }
        })
        .collect()
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn welch_matches_scipy_within_0_01_db_on_every_bin() {
    let mut worst = 0.0f64;
    for v in vectors() {
        let fs = v.truth["sample_rate_hz"].as_f64().unwrap();
        let nperseg = v.truth["welch"]["nperseg"].as_u64().unwrap() as usize;
        let f_ref = floats(&v.truth["welch"]["frequencies_hz"]);
        let p_ref = floats(&v.truth["welch"]["psd_per_hz"]);
        let mut w = Welch::new(fs, nperseg).unwrap();
        w.push(&v.x);
        let from_welch = w.finish().unwrap();
        let mut a = Analyzer::new(AnalyzerConfig::new(fs).with_segment_len(nperseg)).unwrap();
        a.push_complex(&v.x).unwrap();
        let from_analyzer = a.finish().unwrap().psd;
        for psd in [&from_welch, &from_analyzer] {
            assert_eq!(psd.frequencies_hz, f_ref, "{}: frequencies", v.name);
            for (k, (&p, &r)) in psd.density.iter().zip(&p_ref).enumerate() {
                let err = (10.0 * (p / r).log10()).abs();
                worst = worst.max(err);
                assert!(err < 0.01, "{} bin {k}: {p} vs scipy {r} ({err} dB)", v.name);
            }
        }
    }
    eprintln!("max Welch error vs scipy: {worst:.2e} dB");
}

#[test]
fn metrics_match_truth() {
    for v in vectors() {
        let fs = v.truth["sample_rate_hz"].as_f64().unwrap();
        let mut a = Analyzer::new(AnalyzerConfig::new(fs)).unwrap();
        a.push_complex(&v.x).unwrap();
        let m = a.finish().unwrap().metrics;
        eprintln!("{}: {m:?}", v.name);
        match v.truth["snr_db"].as_f64() {
            None => {
                assert_eq!(m.snr_db, None, "{}: noise only must report no SNR", v.name);
                assert_eq!(m.frequency_offset_hz, None);
                let noise = v.truth["noise_power"].as_f64().unwrap();
                let err = m.noise_power_dbfs.unwrap() - 10.0 * noise.log10();
                assert!(err.abs() < 0.2, "{}: noise power off by {err} dB", v.name);
            }
            Some(snr) => {
                let got = m.snr_db.unwrap_or_else(|| panic!("{}: no SNR", v.name));
                assert!((got - snr).abs() < 0.5, "{}: SNR {got} vs truth {snr}", v.name);
                let f_true = v.truth["tone_frequency_hz"].as_f64().unwrap();
                let f = m.frequency_offset_hz.unwrap();
                let tol = if fs > 1e6 { 1.0 } else { 0.05 };
                assert!((f - f_true).abs() < tol, "{}: f {f} vs {f_true}", v.name);
                assert_eq!(m.peak_frequency_hz, Some(f));
                let tone = 10.0 * v.truth["tone_power"].as_f64().unwrap().log10();
                let sp = m.signal_power_dbfs.unwrap();
                assert!((sp - tone).abs() < 0.5, "{}: signal power {sp} vs {tone}", v.name);
                let noise = 10.0 * v.truth["noise_power"].as_f64().unwrap().log10();
                let np = m.noise_power_dbfs.unwrap();
                assert!((np - noise).abs() < 0.5, "{}: noise power {np} vs {noise}", v.name);
                eprintln!("{}: snr err {:+.3} dB, f err {:+.4} Hz", v.name, got - snr, f - f_true);
            }
        }
        let dc = v.name.contains("_dc");
        assert_eq!(m.dc_power_dbfs.is_some(), dc, "{}: dc {:?}", v.name, m.dc_power_dbfs);
        assert!(m.clipped_fraction < 1e-3);
        assert!(m.total_power_dbfs.is_some());
    }
}

#[test]
fn npy_streaming_reader_matches_in_memory_analysis() {
    for v in vectors() {
        let fs = v.truth["sample_rate_hz"].as_f64().unwrap();
        let path = dir().join(v.truth["file"].as_str().unwrap());
        let f = std::fs::File::open(&path).unwrap();
        let from_file = analyze_npy(std::io::BufReader::new(f), "vector", AnalyzerConfig::new(fs)).unwrap();
        let mut a = Analyzer::new(AnalyzerConfig::new(fs)).unwrap();
        a.push_complex(&v.x).unwrap();
        assert_eq!(from_file, a.finish().unwrap());
        let json = metrics_json(&from_file);
        for key in [
            "snr_db",
            "frequency_offset_hz",
            "signal_power_dbfs",
            "noise_power_dbfs",
            "noise_floor_dbfs_per_hz",
            "peak_frequency_hz",
            "samples",
            "sample_rate_hz",
        ] {
            assert!(json.get(key).is_some(), "{key} missing from {json}");
        }
        assert_eq!(json["samples"], v.x.len() as u64);
    }
}

#[test]
fn npy_reader_rejects_other_dtypes_and_truncation() {
    let npy = dir().join("../npy");
    for (file, needle) in [
        ("c16_len3.npy", "complex128"),
        ("i16_len4.npy", "int16"),
        ("c8_big_endian_len3.npy", "big-endian"),
        ("c8_2d_fortran.npy", "Fortran"),
    ] {
        let bytes = std::fs::read(npy.join(file)).unwrap();
        let err = analyze_npy(&bytes[..], file, AnalyzerConfig::new(1000.0)).unwrap_err();
        assert!(err.to_string().contains(needle), "{file}: {err}");
        assert!(err.to_string().contains(file), "{file}: {err}");
    }
    let empty = std::fs::read(npy.join("c8_len0.npy")).unwrap();
    let err = analyze_npy(&empty[..], "empty", AnalyzerConfig::new(1000.0)).unwrap_err();
    assert!(err.to_string().contains("empty capture"), "{err}");
    let short = std::fs::read(npy.join("c8_len5.npy")).unwrap();
    let err = analyze_npy(&short[..short.len() - 3], "cut", AnalyzerConfig::new(1000.0)).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = analyze_npy(&short[..], "short", AnalyzerConfig::new(1000.0)).unwrap_err();
    assert!(err.to_string().contains("shorter than one Welch segment"), "{err}");
    assert!(analyze_npy(&b"garbage"[..], "g", AnalyzerConfig::new(1000.0)).is_err());
}
