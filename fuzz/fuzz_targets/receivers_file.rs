//! The receivers file (`ReceiversFile::parse_located`) and its URL checks, on arbitrary text.
//!
//! Two documents per input:
//! - the input itself: when it parses, every entry's URL passes `Registry::parse_url` for its
//!   kind, positions are within range, ids are unique and lines are inside the file;
//! - a receiver entry with a secret planted in the URL's user info or query, or in the
//!   `password` / `time_limit_password` fields (as a string or a value of the wrong type),
//!   followed by the input as more TOML: the secret never appears in the error message, nor
//!   in the `Debug` output of a file that parses.
#![no_main]

use std::collections::HashSet;

use heimdall_websdr::receivers_file::ReceiversFile;
use heimdall_websdr::registry::Registry;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "Pl4nt3dS3cr3t";

const KINDS: [&str; 5] = ["kiwisdr", "openwebrx", "rtl_tcp", "http_iq", "simulated"];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_parsed(&text);

    if text.contains(SECRET) || text.contains(&SECRET[..6]) {
        return;
    }
    let pick = |i: usize| usize::from(data.get(i).copied().unwrap_or(0));
    let kind = KINDS[pick(0) % KINDS.len()];
    let (url, field) = match pick(1) % 8 {
        0 => (format!("http://admin:{SECRET}@127.0.0.1:8073/"), ""),
        1 => (format!("http://admin:{SECRET}@127.0.0.1:99999999/"), ""),
        2 => (format!("tcp://u:{SECRET}@h:1234"), ""),
        3 => (format!("admin:{SECRET}@host:8073"), ""),
        4 => (format!("http://h:8073/?password={SECRET}"), ""),
        5 => ("http://h:8073/".to_owned(), "password"),
        6 => ("ws://h:8073/".to_owned(), "time_limit_password"),
        _ => (format!("wss://u:{SECRET}@[::1/"), ""),
    };
    let value = match pick(2) % 4 {
        0 => format!("\"{SECRET}\""),
        1 => SECRET.to_owned(),
        2 => format!("'{SECRET}"),
        _ => format!("[\"{SECRET}\", 1]"),
    };
    let secret_line = if field.is_empty() {
        String::new()
    } else {
        format!("{field} = {value}\n")
    };
    let doc = format!(
        "[[receiver]]\nid = \"r1\"\nkind = \"{kind}\"\nurl = \"{url}\"\nlatitude = 45\nlongitude = 7\n{secret_line}{text}"
    );
    match ReceiversFile::parse_located(&doc, None) {
        Ok(file) => {
            let shown = format!("{file:?}");
            assert!(!shown.contains(SECRET), "secret in Debug output: {shown}");
        }
        Err(e) => {
            let shown = format!("{e} {e:?} {}", heimdall_core::Error::from(e.clone()));
            assert!(!shown.contains(SECRET), "secret in the error: {shown}");
        }
    }
});

fn check_parsed(text: &str) {
    let Ok(file) = ReceiversFile::parse_located(text, None) else {
        return;
    };
    let lines = text.lines().count().max(1);
    let mut ids = HashSet::new();
    let registry = Registry::with_defaults();
    for e in file.receivers() {
        assert!(ids.insert(e.info.id.clone()), "duplicate id {:?}", e.info.id);
        assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
        if let Err(why) = registry.parse_url(e.info.kind, &e.info.url) {
            panic!("accepted URL {:?} fails its kind's check: {why}", e.info.url);
        }
        if let Some(p) = &e.info.position {
            assert!((-90.0..=90.0).contains(&p.latitude) && (-180.0..=180.0).contains(&p.longitude));
        }
    }
}
