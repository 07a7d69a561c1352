//! Golden protocol frames (testdata/protocol, written byte by byte from the published layouts
//! by make_frames.py, never by our encoders) decoded by our parsers and compared with the
//! values the generator computed independently: header layouts and byte orders, the S-meter
//! formulas, the GPS epoch and leap seconds, IMA ADPCM with and without sync blocks.

use chrono::{DateTime, Utc};
use heimdall_websdr::kiwisdr::protocol as kiwi;
use heimdall_websdr::openwebrx::adpcm::{ImaAdpcmDecoder, SyncAdpcmDecoder, decode_fft_frame};
use heimdall_websdr::openwebrx::protocol as owrx;
use heimdall_websdr::rtl_tcp::protocol as rtl;
use serde_json::Value;

fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/protocol")
}

fn frame(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.bin"))).unwrap_or_else(|e| panic!("{name}.bin: {e}"))
}

fn truth(name: &str) -> Value {
    let all: Value = serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap();
    all.get(name).cloned().unwrap_or_else(|| panic!("no truth for {name}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn kiwisdr_snd_iq_frames_decode_to_the_layout_values() {
    for name in ["kiwi_snd_iq_be", "kiwi_snd_iq_le"] {
        let (bytes, t) = (frame(name), truth(name));
        assert_eq!(kiwi::frame_tag(&bytes).unwrap(), kiwi::FrameTag::Snd);
        let snd = kiwi::parse_snd(&bytes).unwrap();
        assert_eq!(u64::from(snd.flags), t["flags"].as_u64().unwrap(), "{name}");
        assert_eq!(
            u64::from(snd.seq),
            t["seq"].as_u64().unwrap(),
            "{name}: seq is little-endian"
        );
        assert_eq!(
            u64::from(snd.smeter_raw),
            t["smeter_raw"].as_u64().unwrap(),
            "{name}: S-meter is big-endian"
        );
        assert!(
            close(snd.rssi_dbm(), f(&t["rssi_dbm"]), 1e-9),
            "{name}: dBm = raw/10 - 127"
        );
        assert!(snd.is_iq());
        assert_eq!(snd.little_endian(), name.ends_with("_le"));
        let gps = snd.gps.unwrap();
        assert_eq!(
            u64::from(gps.last_gps_solution),
            t["last_gps_solution"].as_u64().unwrap()
        );
        assert_eq!(
            u64::from(gps.gpssec),
            t["gpssec"].as_u64().unwrap(),
            "{name}: gpssec little-endian"
        );
        assert_eq!(
            u64::from(gps.gpsnsec),
            t["gpsnsec"].as_u64().unwrap(),
            "{name}: gpsnsec little-endian"
        );
        // GPS epoch 1980-01-06, week from the wall clock, 18 leap seconds.
        let now: DateTime<Utc> = t["now"].as_str().unwrap().parse().unwrap();
        let utc: DateTime<Utc> = t["utc"].as_str().unwrap().parse().unwrap();
        assert_eq!(kiwi::gps_to_utc(&gps, now), Some(utc), "{name}");
        let mut iq = Vec::new();
        let n = kiwi::decode_iq_i16(snd.payload, snd.little_endian(), &mut iq);
        let want = t["iq"].as_array().unwrap();
        assert_eq!(n, want.len());
        for (got, w) in iq.iter().zip(want) {
            assert!(
                close(f64::from(got.re), f(&w[0]), 1e-7) && close(f64::from(got.im), f(&w[1]), 1e-7),
                "{name}: {got} vs {w}"
            );
        }
    }
}

/// The in-process KiwiSDR server builds its frames with `encode_iq_snd`, `utc_to_gps` and
/// `dbm_to_smeter`: from the golden truth (time, dBm, samples) they must give the golden bytes,
/// so the frames the mock serves are the layout's, not merely what our decoder expects.
#[test]
fn kiwisdr_encoders_the_mock_uses_reproduce_the_golden_frames() {
    for name in ["kiwi_snd_iq_be", "kiwi_snd_iq_le"] {
        let (bytes, t) = (frame(name), truth(name));
        let utc: DateTime<Utc> = t["utc"].as_str().unwrap().parse().unwrap();
        let last = u8::try_from(t["last_gps_solution"].as_u64().unwrap()).unwrap();
        let gps = kiwi::utc_to_gps(utc, last);
        assert_eq!(
            u64::from(gps.gpssec),
            t["gpssec"].as_u64().unwrap(),
            "{name}: GPS seconds of week"
        );
        assert_eq!(u64::from(gps.gpsnsec), t["gpsnsec"].as_u64().unwrap(), "{name}");
        let smeter = kiwi::dbm_to_smeter(f(&t["rssi_dbm"]));
        assert_eq!(
            u64::from(smeter),
            t["smeter_raw"].as_u64().unwrap(),
            "{name}: S-meter formula"
        );
        let samples: Vec<(i16, i16)> = t["iq"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                let q = |v: f64| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
                (q(f(&w[0])), q(f(&w[1])))
            })
            .collect();
        let seq = u32::try_from(t["seq"].as_u64().unwrap()).unwrap();
        let mut out = Vec::new();
        kiwi::encode_iq_snd(0, seq, smeter, gps, &samples, name.ends_with("_le"), &mut out);
        assert_eq!(out.len(), bytes.len(), "{name}");
        // Byte 11 is unused by the layout (the server sends 0; so do we).
        assert_eq!(out[..11], bytes[..11], "{name}: header");
        assert_eq!(out[12..], bytes[12..], "{name}: GPS fields and samples");
    }
}

#[test]
fn kiwisdr_first_packet_has_no_time_stamp_and_truncated_headers_are_errors() {
    let bytes = frame("kiwi_snd_iq_first");
    let snd = kiwi::parse_snd(&bytes).unwrap();
    let t = truth("kiwi_snd_iq_first");
    assert_eq!(snd.seq, 1);
    assert!(close(snd.rssi_dbm(), f(&t["rssi_dbm"]), 1e-9));
    let gps = snd.gps.unwrap();
    assert!(!gps.is_valid(), "all-zero GPS fields are 'no time stamp'");
    assert_eq!(kiwi::gps_to_utc(&gps, Utc::now()), None);
    assert!(matches!(
        kiwi::parse_snd(&frame("kiwi_snd_truncated")),
        Err(kiwi::FrameError::Truncated { .. })
    ));
}

#[test]
fn kiwisdr_msg_frames_split_and_classify() {
    for name in [
        "kiwi_msg_sample_rate",
        "kiwi_msg_too_busy",
        "kiwi_msg_badp",
        "kiwi_msg_redirect",
        "kiwi_msg_down",
        "kiwi_msg_ip_limit",
        "kiwi_msg_flag",
    ] {
        let (bytes, t) = (frame(name), truth(name));
        assert_eq!(kiwi::frame_tag(&bytes).unwrap(), kiwi::FrameTag::Msg);
        let pairs = kiwi::parse_msg(&bytes).unwrap();
        let want: Vec<(String, Option<String>)> = t["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().map(str::to_owned)))
            .collect();
        let got: Vec<(String, Option<String>)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect();
        assert_eq!(got, want, "{name}");
        let classified: Vec<kiwi::KiwiMsg> = pairs.iter().map(|(k, v)| kiwi::classify(k, *v)).collect();
        match t.get("kind").and_then(Value::as_str) {
            Some("too_busy") => assert_eq!(classified, vec![kiwi::KiwiMsg::TooBusy(Some(4))]),
            Some("badp") => assert_eq!(classified, vec![kiwi::KiwiMsg::Badp(1)]),
            Some("redirect") => {
                assert_eq!(
                    classified,
                    vec![kiwi::KiwiMsg::Redirect(t["decoded"].as_str().unwrap().into())]
                );
            }
            Some("down") => assert_eq!(
                classified,
                vec![
                    kiwi::KiwiMsg::ReasonDisabled(t["decoded"].as_str().unwrap().into()),
                    kiwi::KiwiMsg::Down
                ]
            ),
            Some("ip_limit") => {
                assert_eq!(
                    classified,
                    vec![kiwi::KiwiMsg::IpLimit(t["decoded"].as_str().unwrap().into())]
                );
            }
            _ => {}
        }
        if let Some(rate) = t.get("sample_rate") {
            assert!(
                classified.contains(&kiwi::KiwiMsg::SampleRate(f(rate))),
                "{classified:?}"
            );
            assert!(classified.contains(&kiwi::KiwiMsg::AudioRate(12_000)));
        }
    }
}

#[test]
fn openwebrx_binary_frames_decode_to_the_layout_values() {
    let bytes = frame("owrx_audio_s16");
    let owrx::ServerFrame::Audio(p) = owrx::parse_server_frame(&bytes).unwrap() else {
        panic!("type byte 0x02 is audio")
    };
    let mut carry = None;
    let mut audio = Vec::new();
    owrx::decode_s16le(&mut carry, p, &mut audio);
    let want: Vec<f32> = truth("owrx_audio_s16")["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| f(v) as f32)
        .collect();
    assert_eq!(audio, want, "int16 little-endian / 32768");
    assert_eq!(carry, None);

    let bytes = frame("owrx_fft_f32");
    let owrx::ServerFrame::Fft(p) = owrx::parse_server_frame(&bytes).unwrap() else {
        panic!("type byte 0x01 is FFT")
    };
    let mut bins = Vec::new();
    owrx::decode_f32le(p, &mut bins);
    let want: Vec<f32> = truth("owrx_fft_f32")["fft_db"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| f(v) as f32)
        .collect();
    assert_eq!(bins, want);
}

fn pcm(name: &str) -> Vec<i16> {
    truth(name)["pcm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| i16::try_from(v.as_i64().unwrap()).unwrap())
        .collect()
}

#[test]
fn openwebrx_adpcm_audio_plain_and_synced_match_an_independent_ima_decoder() {
    let bytes = frame("owrx_audio_adpcm_plain");
    let mut out = Vec::new();
    ImaAdpcmDecoder::new().decode_into(&bytes[1..], &mut out);
    assert_eq!(out, pcm("owrx_audio_adpcm_plain"));

    let bytes = frame("owrx_audio_adpcm_sync");
    let mut d = SyncAdpcmDecoder::new();
    let mut out = Vec::new();
    d.decode_into(&bytes[1..], &mut out);
    assert_eq!(
        out,
        pcm("owrx_audio_adpcm_sync"),
        "decoding starts from the SYNC block's index and predictor"
    );
    assert_eq!((d.syncs(), d.skipped_bytes()), (1, 0));
    // The same bytes split anywhere (sync blocks are not aligned to frames) decode the same.
    for cut in 1..bytes.len() - 1 {
        let mut d = SyncAdpcmDecoder::new();
        let mut out = Vec::new();
        d.decode_into(&bytes[1..cut], &mut out);
        d.decode_into(&bytes[cut..], &mut out);
        assert_eq!(out, pcm("owrx_audio_adpcm_sync"), "cut at {cut}");
    }
}

#[test]
fn openwebrx_adpcm_fft_frame_matches_an_independent_decoder() {
    let bytes = frame("owrx_fft_adpcm");
    let owrx::ServerFrame::Fft(p) = owrx::parse_server_frame(&bytes).unwrap() else {
        panic!("FFT")
    };
    let mut bins = Vec::new();
    decode_fft_frame(p, &mut bins);
    let want: Vec<f64> = truth("owrx_fft_adpcm")["fft_db"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    assert!(bins.len() >= want.len());
    for (k, (got, w)) in bins.iter().zip(&want).enumerate() {
        assert!(close(f64::from(*got), *w, 1e-4), "bin {k}: {got} vs {w}");
    }
}

#[test]
fn openwebrx_text_frames_smeter_config_backoff_and_hello() {
    for name in ["owrx_smeter", "owrx_smeter_small"] {
        let text = String::from_utf8(frame(name)).unwrap();
        let owrx::ServerText::Smeter(linear) = owrx::parse_server_text(&text).unwrap() else {
            panic!("{name}: smeter")
        };
        let dbfs = owrx::smeter_to_dbfs(linear).unwrap();
        assert!(
            close(dbfs, f(&truth(name)["dbfs"]), 1e-9),
            "{name}: dBFS = 10 log10(linear), got {dbfs}"
        );
    }
    let text = String::from_utf8(frame("owrx_config")).unwrap();
    let owrx::ServerText::Config(map) = owrx::parse_server_text(&text).unwrap() else {
        panic!("config")
    };
    let mut state = owrx::ConfigState::default();
    state.merge(map);
    let t = truth("owrx_config");
    assert_eq!(state.center_freq(), Some(f(&t["center_freq"])));
    assert_eq!(state.samp_rate(), Some(f(&t["samp_rate"])));
    assert_eq!(state.audio_compression(), Some("adpcm"));
    let text = String::from_utf8(frame("owrx_backoff")).unwrap();
    assert_eq!(
        owrx::parse_server_text(&text).unwrap(),
        owrx::ServerText::Backoff(truth("owrx_backoff")["reason"].as_str().unwrap().into()),
        "backoff carries `reason`, not `value`"
    );
    for name in ["owrx_hello", "owrx_hello_old"] {
        let text = String::from_utf8(frame(name)).unwrap();
        let h = owrx::ServerHello::parse(&text).unwrap();
        let t = truth(name);
        let v = t["version"].as_array().unwrap();
        assert_eq!(
            h.version_tuple(),
            Some((v[0].as_u64().unwrap() as u32, v[1].as_u64().unwrap() as u32))
        );
        assert_eq!(h.uses_sync_adpcm(), t["sync_adpcm"].as_bool(), "{name}");
    }
}

#[test]
fn rtl_tcp_header_samples_and_commands_match_the_layout() {
    let h = rtl::parse_header(&frame("rtl_header_r820t")).unwrap();
    let t = truth("rtl_header_r820t");
    assert_eq!(
        u64::from(h.tuner),
        t["tuner"].as_u64().unwrap(),
        "tuner type is big-endian"
    );
    assert_eq!(u64::from(h.gain_count), t["gains"].as_u64().unwrap());
    assert_eq!(h.tuner_name(), t["tuner_name"].as_str().unwrap());
    assert!(matches!(
        rtl::parse_header(&frame("rtl_header_bad_magic")),
        Err(rtl::HeaderError::BadMagic(_))
    ));
    let mut iq = Vec::new();
    rtl::decode_u8_iq(&frame("rtl_samples"), &mut iq);
    let want = truth("rtl_samples")["iq"].as_array().unwrap().clone();
    assert_eq!(iq.len(), want.len());
    for (got, w) in iq.iter().zip(&want) {
        assert!(
            close(f64::from(got.re), f(&w[0]), 1e-6) && close(f64::from(got.im), f(&w[1]), 1e-6),
            "{got} vs {w}"
        );
    }
    for name in ["rtl_cmd_freq", "rtl_cmd_rate", "rtl_cmd_ppm"] {
        let (bytes, t) = (frame(name), truth(name));
        let id = u8::try_from(t["id"].as_u64().unwrap()).unwrap();
        let param = u32::try_from(t["param"].as_u64().unwrap()).unwrap();
        assert_eq!(rtl::parse_command(&bytes), Some((id, param)), "{name}");
        assert_eq!(
            &rtl::encode_command(id, param)[..],
            &bytes[..],
            "{name}: id then big-endian parameter"
        );
    }
}

/// The rtl_tcp source end to end against a server that speaks only golden bytes: the golden
/// R820T header, then the golden sample bytes over and over. The commands the client sends must
/// be the golden command frames, and every sample it delivers one of the golden values, in order.
#[cfg(feature = "rtl_tcp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtl_tcp_source_against_a_server_of_golden_bytes() {
    use futures::StreamExt;
    use heimdall_core::{
        CaptureChunk, CaptureRequest, ReceiverId, ReceiverInfo, ReceiverKind, ReceiverSource, SampleBlock, SessionId,
    };
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (header, samples) = (frame("rtl_header_r820t"), frame("rtl_samples"));
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (mut rd, mut wr) = sock.into_split();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let _ = rd.read_to_end(&mut got).await;
            got
        });
        wr.write_all(&header).await.unwrap();
        // Whole repetitions only, until the client hangs up.
        let block: Vec<u8> = samples.iter().copied().cycle().take(samples.len() * 4096).collect();
        while wr.write_all(&block).await.is_ok() {}
        reader.await.unwrap()
    });

    let info = ReceiverInfo::new(
        ReceiverId::new("golden-rtl").unwrap(),
        "golden",
        ReceiverKind::RtlTcp,
        format!("tcp://{addr}"),
    );
    let src = heimdall_websdr::rtl_tcp::RtlTcpBuilder::new(info)
        .with_ppm(-3)
        .with_settle(Duration::ZERO)
        .build()
        .unwrap();
    let req = CaptureRequest {
        session_id: SessionId::new(),
        frequency_hz: 145_500_000.0,
        duration: Duration::from_millis(10),
        sample_rate_hz: Some(2_048_000.0),
        passband: None,
        start_at: None,
    };
    let stream = src
        .open(&req, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    let mut chunks = stream.chunks;
    let mut iq = Vec::new();
    while let Some(c) = chunks.next().await {
        if let CaptureChunk::Samples(SampleBlock::Complex(v)) = c.unwrap() {
            iq.extend(v);
        }
    }
    drop(chunks);
    assert_eq!(iq.len(), 20_480, "10 ms at 2.048 MS/s");
    let want: Vec<(f64, f64)> = truth("rtl_samples")["iq"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (f(&w[0]), f(&w[1])))
        .collect();
    let is = |c: &heimdall_core::Complex32, w: (f64, f64)| {
        close(f64::from(c.re), w.0, 1e-6) && close(f64::from(c.im), w.1, 1e-6)
    };
    let phase = want
        .iter()
        .position(|w| is(&iq[0], *w))
        .unwrap_or_else(|| panic!("first sample {} is not a golden value", iq[0]));
    for (k, c) in iq.iter().enumerate() {
        let w = want[(phase + k) % want.len()];
        assert!(is(c, w), "sample {k}: {c} vs {w:?}");
    }

    let sent = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.len() % 5, 0, "commands are 5 bytes each: {sent:02x?}");
    let commands: Vec<&[u8]> = sent.chunks(5).collect();
    for name in ["rtl_cmd_rate", "rtl_cmd_freq", "rtl_cmd_ppm"] {
        let golden = frame(name);
        assert!(
            commands.contains(&golden.as_slice()),
            "{name} {golden:02x?} not among the commands sent {commands:02x?}"
        );
    }
}
