//! The receivers file: parsing, located errors, the shipped example, building sources.

use std::path::PathBuf;

use heimdall_core::{Error, ReceiverKind};
use heimdall_websdr::receivers_file::{ReceiversFile, ReceiversFileError};

fn example_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../receivers.example.toml")
}

/// The located error behind a Config error.
fn located(e: &Error) -> &ReceiversFileError {
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<ReceiversFileError>())
        .unwrap_or_else(|| panic!("no located source in {e:?}"))
}

const GOOD: &str = r#"# test
[[receiver]]
id = "torino"
name = "Torino"
kind = "openwebrx"
url = "http://vst-aero.it:8073/"
latitude = 45.044
longitude = 7.672
altitude_m = 250
mode = "usb"
passband_low_hz = 300
passband_high_hz = 2700
allow_profile_switch = true

[[receiver]]
id = "kiwi_1"
kind = "kiwisdr"
url = "http://kiwi.example.org:8073/"
latitude = -33.5
longitude = 151
password = "s3cret"
gain_db = 50
enabled = false
"#;

#[test]
fn parses_entries() {
    let f = ReceiversFile::parse(GOOD).unwrap();
    let r = f.receivers();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].info.id.as_str(), "torino");
    assert_eq!(r[0].info.kind, ReceiverKind::OpenWebRx);
    assert_eq!(r[0].line, 2);
    let p = r[0].info.position.unwrap();
    assert_eq!((p.latitude, p.longitude, p.altitude_m), (45.044, 7.672, Some(250.0)));
    assert_eq!(r[0].options.mode.as_deref(), Some("usb"));
    assert_eq!(r[0].options.passband.unwrap().width_hz(), 2400.0);
    assert_eq!(r[0].options.allow_profile_switch, Some(true));
    assert!(r[0].enabled);
    assert_eq!(r[1].info.name, "kiwi_1", "name defaults to the id");
    assert_eq!(r[1].options.password.as_deref(), Some("s3cret"));
    assert_eq!(r[1].options.gain_db, Some(50.0));
    assert!(!r[1].enabled);
    assert_eq!(f.enabled().count(), 1);
    // Passwords never show in Debug output.
    assert!(!format!("{f:?}").contains("s3cret"));
}

#[test]
fn example_file_has_the_reference_network() {
    let f = ReceiversFile::load(example_path()).unwrap();
    let ids: Vec<_> = f.receivers().iter().map(|r| r.info.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "aquila-di-giaveno",
            "montanaro",
            "torino",
            "coazze",
            "passo-del-giovi",
            "genova",
            "milano-baggio"
        ]
    );
    assert!(
        f.receivers()
            .iter()
            .all(|r| r.info.kind == ReceiverKind::OpenWebRx && r.enabled)
    );
    let genova = &f.receivers()[5];
    assert_eq!(genova.info.url, "http://iq1zw.ddns.net:42154/");
    let p = genova.info.position.unwrap();
    assert_eq!((p.latitude, p.longitude, p.altitude_m), (44.395, 8.956, Some(100.0)));
    assert_eq!(f.receivers()[6].info.name, "Milano - Baggio");
    // Every id is the slug of its name.
    for r in f.receivers() {
        assert_eq!(heimdall_core::ReceiverId::slugify(&r.info.name), r.info.id);
    }
    let sources = f.build_sources().unwrap();
    assert_eq!(sources.len(), 7);
    assert_eq!(sources[2].info().id.as_str(), "torino");
}

fn entry(body: &str) -> String {
    format!("[[receiver]]\n{body}")
}

const BASE: &str = "id = \"a\"\nkind = \"openwebrx\"\nurl = \"http://h:8073/\"\nlatitude = 45\nlongitude = 7\n";

fn err_of(text: &str) -> ReceiversFileError {
    let e = ReceiversFile::parse(text).unwrap_err();
    located(&e).clone()
}

#[test]
fn errors_name_line_and_field() {
    // (file, line, field, message fragment)
    let cases: Vec<(String, usize, &str, &str)> = vec![
        (
            entry(&BASE.replace("latitude = 45", "latitude = 95")),
            5,
            "latitude",
            "-90..=90",
        ),
        (
            entry(&BASE.replace("longitude = 7", "longitude = -200")),
            6,
            "longitude",
            "-180..=180",
        ),
        (
            entry(&BASE.replace("kind = \"openwebrx\"", "kind = \"radio\"")),
            3,
            "kind",
            "radio",
        ),
        (entry(&BASE.replace("id = \"a\"", "id = \"../etc\"")), 2, "id", "../etc"),
        (
            entry(&BASE.replace("http://h:8073/", "not a url")),
            4,
            "url",
            "not a URL",
        ),
        (
            entry(&BASE.replace("http://h:8073/", "http://u:pw@h:8073/")),
            4,
            "url",
            "password",
        ),
        (
            entry(&BASE.replace("latitude = 45", "latitude = \"north\"")),
            5,
            "latitude",
            "invalid type",
        ),
        (
            entry(&format!("{BASE}altitude_m = 1e9\n")),
            7,
            "altitude_m",
            "-500..=100000",
        ),
        (
            entry(&format!("{BASE}colour = \"red\"\n")),
            7,
            "colour",
            "unknown field",
        ),
        (entry(&format!("{BASE}mode = \"USB\"\n")), 7, "mode", "a-z0-9"),
        (
            entry(&format!("{BASE}passband_low_hz = 10\npassband_high_hz = -10\n")),
            7,
            "passband_low_hz",
            "below",
        ),
        (
            entry(&format!("{BASE}passband_low_hz = 10\n")),
            7,
            "passband_high_hz",
            "both",
        ),
        (entry(&format!("{BASE}gain_db = 1000\n")), 7, "gain_db", "dB"),
        (
            entry(&format!("{BASE}enabled = \"yes\"\n")),
            7,
            "enabled",
            "invalid type",
        ),
        (
            format!("{}\n{}", entry(BASE), entry(BASE)),
            8,
            "id",
            "already used by the receiver at line 1",
        ),
    ];
    for (text, line, field, needle) in cases {
        let e = err_of(&text);
        assert_eq!(e.line, line, "{field}: {e}\n{text}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}\n{text}");
        assert!(e.message.contains(needle), "{field}: {e}");
        let shown = ReceiversFile::parse(&text).unwrap_err().to_string();
        assert!(
            shown.contains(&format!("line {line}")) && shown.contains(field),
            "{shown}"
        );
    }
}

#[test]
fn errors_never_show_a_planted_secret() {
    const SECRET: &str = "Pl4ntedS3cretXq";
    for (text, field) in [
        // Refused by the URL parser (port out of range): the manual scan still masks it.
        (
            entry(&BASE.replace("http://h:8073/", &format!("http://admin:{SECRET}@127.0.0.1:99999999/"))),
            "url",
        ),
        (
            entry(&BASE.replace("http://h:8073/", &format!("http://admin:{SECRET}@h:8073/"))),
            "url",
        ),
        (
            entry(&BASE.replace("http://h:8073/", &format!("ftp://admin:{SECRET}@h/"))),
            "url",
        ),
        // A password of the wrong type is quoted by the TOML parser.
        (entry(&format!("{BASE}password = 98765432123\n")), "password"),
        (
            entry(&format!("{BASE}time_limit_password = [\"{SECRET}\"]\n")),
            "time_limit_password",
        ),
    ] {
        let e = ReceiversFile::parse(&text).unwrap_err();
        let shown = format!("{e} {e:?} {}", e.chain());
        assert!(!shown.contains(SECRET) && !shown.contains("98765432123"), "{shown}");
        assert_eq!(located(&e).field.as_deref(), Some(field), "{shown}");
    }
    // The masked form still says what is wrong.
    let e = err_of(&entry(
        &BASE.replace("http://h:8073/", &format!("http://admin:{SECRET}@127.0.0.1:99999999/")),
    ));
    assert!(e.message.contains("admin:***@127.0.0.1:99999999"), "{e}");
}

#[test]
fn missing_field_and_syntax_errors() {
    let e = err_of(&entry(
        "id = \"a\"\nkind = \"openwebrx\"\nlatitude = 1\nlongitude = 2\n",
    ));
    assert_eq!(e.field.as_deref(), Some("url"), "{e}");
    assert!(e.message.contains("missing field"), "{e}");
    assert!(e.line <= 2, "{e}");
    let e = err_of("[[receiver]]\nid = \"a\nkind = 1\n");
    assert_eq!(e.line, 2, "{e}");
    let e = err_of("[[receiver]]\nid = \"a\"\n\n\nkind = = 3\n");
    assert_eq!(e.line, 5, "{e}");
    let e = err_of("colour = 1\n");
    assert_eq!(e.field.as_deref(), Some("colour"), "{e}");
}

#[test]
fn load_reports_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.toml");
    std::fs::write(&p, entry(&BASE.replace("latitude = 45", "latitude = 95"))).unwrap();
    let e = ReceiversFile::load(&p).unwrap_err();
    let l = located(&e);
    assert_eq!(l.path.as_deref(), Some(p.as_path()));
    assert!(e.to_string().contains("r.toml"), "{e}");
    let e = ReceiversFile::load(dir.path().join("missing.toml")).unwrap_err();
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    assert!(e.to_string().contains("missing.toml"), "{e}");
}

#[test]
fn empty_file_is_empty() {
    assert!(ReceiversFile::parse("").unwrap().receivers().is_empty());
    assert!(
        ReceiversFile::parse("# nothing\n")
            .unwrap()
            .build_sources()
            .unwrap()
            .is_empty()
    );
}

const ALL_KINDS: &str = r#"
[simulation]
seed = 7
latitude = 45.1
longitude = 7.6
altitude_m = 300
frequency_hz = 145500000
modulation = "fm_tone"

[[receiver]]
id = "owrx"
kind = "openwebrx"
url = "http://127.0.0.1:8073/"
latitude = 45
longitude = 7

[[receiver]]
id = "kiwi"
kind = "kiwisdr"
url = "http://127.0.0.1:8073/"
latitude = 45
longitude = 7
password = "pw"
gain_db = 40
passband_low_hz = -3000
passband_high_hz = 3000

[[receiver]]
id = "rtl"
kind = "rtl_tcp"
url = "rtl_tcp://127.0.0.1:1234"
latitude = 45
longitude = 7
sample_rate_hz = 2048000
gain_db = 29.7
ppm = 1

[[receiver]]
id = "http"
kind = "http_iq"
url = "http://127.0.0.1:8080/"
latitude = 45
longitude = 7
sample_rate_hz = 48000

[[receiver]]
id = "sim"
name = "Sim One"
kind = "simulated"
url = "sim://sim"
latitude = 45.05
longitude = 7.65
sample_rate_hz = 24000
"#;

#[tokio::test]
async fn builds_every_kind() {
    let f = ReceiversFile::parse(ALL_KINDS).unwrap();
    let sim = f.simulation().unwrap();
    assert_eq!(
        (sim.seed, sim.frequency_hz, sim.modulation.as_str()),
        (7, 145.5e6, "fm_tone")
    );
    let sources = f.build_sources().unwrap();
    let kinds: Vec<_> = sources.iter().map(|s| s.info().kind).collect();
    assert_eq!(
        kinds,
        [
            ReceiverKind::OpenWebRx,
            ReceiverKind::KiwiSdr,
            ReceiverKind::RtlTcp,
            ReceiverKind::HttpIq,
            ReceiverKind::Simulated
        ]
    );
    // The simulated source keeps the file's identity and options and works offline.
    let s = &sources[4];
    assert_eq!(s.info().id.as_str(), "sim");
    assert_eq!(s.info().name, "Sim One");
    let req = heimdall_core::CaptureRequest::from_request(
        heimdall_core::SessionId::new(),
        &heimdall_core::AcquisitionRequest::new(145.5e6, std::time::Duration::from_millis(100)),
    );
    let c = heimdall_core::ReceiverSourceExt::open_uncancellable(s.as_ref(), &req)
        .await
        .unwrap();
    assert_eq!(c.info.sample_rate_hz, 24_000.0);
    assert_eq!(c.info.expected_samples, Some(2400));
}

#[test]
fn kind_specific_url_and_simulation_errors() {
    let e = err_of(&entry(&BASE.replace("http://h:8073/", "tcp://h:1234")));
    assert_eq!((e.line, e.field.as_deref()), (4, Some("url")), "{e}");
    assert!(e.message.contains("not usable for kind openwebrx"), "{e}");
    let e = err_of(&entry(&BASE.replace("openwebrx", "simulated")));
    assert_eq!((e.line, e.field.as_deref()), (1, Some("kind")), "{e}");
    assert!(e.message.contains("[simulation]"), "{e}");
    let e = err_of("[simulation]\nlatitude = 45\nlongitude = 7\nfrequency_hz = -1\n");
    assert_eq!((e.line, e.field.as_deref()), (4, Some("frequency_hz")), "{e}");
    let e = err_of("[simulation]\nlatitude = 45\nlongitude = 700\nfrequency_hz = 1e6\n");
    assert_eq!((e.line, e.field.as_deref()), (3, Some("longitude")), "{e}");
    let e = err_of("[simulation]\nlatitude = 45\nlongitude = 7\nfrequency_hz = 1e6\nmodulation = \"am\"\n");
    assert_eq!((e.line, e.field.as_deref()), (5, Some("modulation")), "{e}");
}

#[test]
fn builder_errors_name_the_entry_line() {
    let text = ALL_KINDS.replace("sample_rate_hz = 2048000", "sample_rate_hz = 5000000");
    let f = ReceiversFile::parse(&text).unwrap();
    let e = f.build_sources().unwrap_err();
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    let shown = e.to_string();
    assert!(
        shown.contains("\"rtl\"") && shown.contains("line 28") && shown.contains("sample rate"),
        "{shown}"
    );
}

/// OpenWebRX entries built from one file share one host limiter: two receivers on one host are
/// never connected to within the interval.
#[tokio::test]
async fn openwebrx_entries_share_the_host_limiter() {
    use heimdall_websdr::openwebrx::HostLimiter;
    use heimdall_websdr::openwebrx::mock::{MockConfig, MockOpenWebRx};
    use std::sync::Arc;
    use std::time::Duration;
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let url = mock.url();
    let text = format!(
        "[[receiver]]\nid = \"a\"\nkind = \"openwebrx\"\nurl = \"{url}\"\nlatitude = 45\nlongitude = 7\n\n\
         [[receiver]]\nid = \"b\"\nkind = \"openwebrx\"\nurl = \"{url}\"\nlatitude = 45\nlongitude = 7\n"
    );
    let f = ReceiversFile::parse(&text).unwrap();
    let sources = f
        .build_sources_with_limiter(Arc::new(HostLimiter::new(Duration::from_millis(300))))
        .unwrap();
    let req = heimdall_core::CaptureRequest::from_request(
        heimdall_core::SessionId::new(),
        &heimdall_core::AcquisitionRequest::new(145e6, Duration::from_millis(50)),
    );
    let (x, y) = tokio::join!(
        heimdall_core::ReceiverSourceExt::open_uncancellable(sources[0].as_ref(), &req),
        heimdall_core::ReceiverSourceExt::open_uncancellable(sources[1].as_ref(), &req)
    );
    x.unwrap();
    y.unwrap();
    let c = mock.connections();
    assert_eq!(c.len(), 2);
    let gap = if c[1].at > c[0].at {
        c[1].at - c[0].at
    } else {
        c[0].at - c[1].at
    };
    assert!(gap >= Duration::from_millis(280), "{gap:?}");
}

/// `ca_file` is read relative to the receivers file and makes an https:// OpenWebRX behind a
/// private CA usable; errors name the line and field.
#[tokio::test]
async fn ca_file_trusts_a_private_ca_for_tls_receivers() {
    use heimdall_websdr::mock_tls::TEST_CA_PEM;
    use heimdall_websdr::openwebrx::mock::{MockConfig, MockOpenWebRx};
    use std::time::Duration;
    let mock = MockOpenWebRx::start_tls(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::write(dir.path().join("certs/ca.pem"), TEST_CA_PEM).unwrap();
    let url = mock.url();
    let write = |extra: &str| {
        let p = dir.path().join("r.toml");
        std::fs::write(
            &p,
            format!(
                "[[receiver]]\nid = \"tls\"\nkind = \"openwebrx\"\nurl = \"{url}\"\nlatitude = 45\nlongitude = 7\n{extra}"
            ),
        )
        .unwrap();
        p
    };
    let f = ReceiversFile::load(write("ca_file = \"certs/ca.pem\"\n")).unwrap();
    assert_eq!(
        f.receivers()[0].options.ca_certificates_pem.as_deref(),
        Some(TEST_CA_PEM)
    );
    let sources = f.build_sources().unwrap();
    let req = heimdall_core::CaptureRequest::from_request(
        heimdall_core::SessionId::new(),
        &heimdall_core::AcquisitionRequest::new(145e6, Duration::from_millis(50)),
    );
    heimdall_core::ReceiverSourceExt::open_uncancellable(sources[0].as_ref(), &req)
        .await
        .unwrap();
    assert_eq!(mock.connections().len(), 1);

    // Without it the same file is refused at the TLS handshake, naming the fix.
    let f = ReceiversFile::load(write("")).unwrap();
    let sources = f.build_sources().unwrap();
    let e = heimdall_core::ReceiverSourceExt::open_uncancellable(sources[0].as_ref(), &req)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ca_file"), "{e}");

    for (extra, says) in [
        ("ca_file = \"certs/missing.pem\"\n", "cannot read"),
        ("ca_file = \"r.toml\"\n", "holds no PEM certificate"),
    ] {
        let e = ReceiversFile::load(write(extra)).unwrap_err();
        let l = located(&e);
        assert_eq!((l.line, l.field.as_deref()), (7, Some("ca_file")), "{e}");
        assert!(l.message.contains(says), "{e}");
    }
    let e = err_of(&entry(&format!(
        "{}ca_file = \"x.pem\"\n",
        BASE.replace("openwebrx", "kiwisdr")
    )));
    assert_eq!((e.line, e.field.as_deref()), (7, Some("ca_file")), "{e}");
    assert!(e.message.contains("only openwebrx and http_iq"), "{e}");
}

/// Each kind's options struct refuses the options of other kinds, located at the option.
#[test]
fn an_option_of_another_kind_is_refused_where_it_is() {
    let e = err_of(&entry(&format!("{BASE}gain_db = 20\n")));
    assert_eq!((e.line, e.field.as_deref()), (7, Some("gain_db")), "{e}");
    assert!(e.message.contains("not an option of kind openwebrx"), "{e}");
    let kiwi = BASE.replace("openwebrx", "kiwisdr");
    let e = err_of(&entry(&format!("{kiwi}ppm = 3\n")));
    assert_eq!((e.line, e.field.as_deref()), (1, Some("ppm")), "{e}");
    // The registry a file is parsed with decides which kinds exist.
    let reg = heimdall_websdr::registry::Registry::new();
    let e = ReceiversFile::parse_with(&reg, &entry(BASE)).unwrap_err();
    let l = located(&e);
    assert_eq!((l.line, l.field.as_deref()), (3, Some("kind")), "{e}");
    assert!(l.message.contains("not compiled in"), "{e}");
}
