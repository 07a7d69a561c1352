//! URL and option parsers and the one redaction rule: `heimdall_core::redact`, the receiver URL
//! check (`registry::parse_url` under each backend's `UrlRule`, `http_base`) and the archive builder's URL and options
//! (`ArchiveBuilder::build` on `memory://` and `s3://` URLs; never a local path, which would
//! create directories; with the `storage` feature).
//!
//! Checks beyond "no panic": a password planted in a URL's user info, or as the value of a
//! secret-named query parameter or option, never comes out of `redact_url`, `redact_option`,
//! `redact_json`, an error of `parse_url`, or the archive builder's `Debug` output and errors;
//! redaction leaves text without `=`, `@` and `://` alone; an accepted receiver URL has a host
//! and no password.
#![no_main]

use heimdall_core::ReceiverKind;
use heimdall_core::redact;
#[cfg(feature = "storage")]
use heimdall_storage::ArchiveBuilder;
use heimdall_websdr::registry::{self, UrlRule};
use libfuzzer_sys::fuzz_target;

/// Every backend's URL rule (the fuzz build has the wire formats only, not every backend: the
/// rules are named here rather than taken from `Registry::with_defaults`).
const KINDS: [(ReceiverKind, UrlRule); 6] = [
    (ReceiverKind::KiwiSdr, heimdall_websdr::kiwisdr::protocol::URL_RULE),
    (ReceiverKind::OpenWebRx, heimdall_websdr::openwebrx::protocol::URL_RULE),
    (ReceiverKind::RtlTcp, heimdall_websdr::rtl_tcp::protocol::URL_RULE),
    (
        ReceiverKind::HttpIq,
        UrlRule {
            schemes: &["http", "https"],
            bare_host: None,
            aliases: &[],
        },
    ),
    (ReceiverKind::Simulated, UrlRule::ANY),
    (ReceiverKind::Recording, heimdall_websdr::recording::protocol::URL_RULE),
];
const SCHEMES: [&str; 8] = ["http", "https", "postgres", "s3", "nats", "ws", "tcp", "rtl_tcp"];
const SECRET_KEYS: [&str; 6] = [
    "password",
    "secret_access_key",
    "token",
    "X-Amz-Signature",
    "api_key",
    "sig",
];

/// Splits the input in `n` text fields at `\x00` bytes.
fn fields(data: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut out: Vec<String> = text.splitn(n, '\0').map(str::to_owned).collect();
    out.resize(n, String::new());
    out
}

/// A secret from `raw`: characters that may appear in a mistyped password, but no `@`, space or
/// quote (which end the user info or the value for any reader), padded to be unmistakable.
fn secret_from(raw: &str) -> String {
    let body: String = raw
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '@' | '"' | '\'' | '&' | ';' | '#' | '\\'))
        .take(16)
        .collect();
    format!("Zq{body}Qz")
}

fuzz_target!(|data: &[u8]| {
    let f = fields(data, 6);
    let (prefix, user, raw_secret, host, suffix, opts) = (&f[0], &f[1], &f[2], &f[3], &f[4], &f[5]);
    let pick = |i: usize| usize::from(data.get(i).copied().unwrap_or(0));
    let secret = secret_from(raw_secret);
    if [prefix, user, host, suffix, opts].iter().any(|s| s.contains("Zq")) {
        return;
    }

    // Free text: never panics; text without `=`, `@` or `://` is left alone.
    let all = String::from_utf8_lossy(data);
    let out = redact::redact_url(&all);
    if !all.contains('=') && !all.contains('@') && !all.contains("://") {
        assert_eq!(out, all);
    }

    // A password in the user info, inside arbitrary text.
    let user: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect();
    let host: String = host.chars().filter(|c| !c.is_whitespace() && *c != '@').collect();
    let scheme = SCHEMES[pick(0) % SCHEMES.len()];
    let url = format!("{scheme}://{user}:{secret}@{host}");
    let text = format!("{prefix}{url}{suffix}");
    let out = redact::redact_url(&text);
    assert!(!out.contains(&secret), "{text:?} -> {out:?}");
    assert!(!format!("{}", redact::Redacted(&text)).contains(&secret));
    let json = serde_json::json!({ "url": text, "nested": [{ "password": secret.clone() }] });
    assert!(!redact::redact_json(&json).to_string().contains(&secret));

    // A secret-named query parameter or option.
    let key = SECRET_KEYS[pick(1) % SECRET_KEYS.len()];
    let query = format!("{prefix} https://h/p?a=1&{key}={secret}&b=2 {suffix}");
    let out = redact::redact_url(&query);
    assert!(!out.contains(&secret), "{query:?} -> {out:?}");
    assert_eq!(redact::redact_option(key, &secret), redact::MASK);
    assert!(!redact::redact_option("endpoint", &text).contains(&secret));

    // Receiver URLs: accepted ones have a host and no password; errors never echo one.
    for (kind, rule) in &KINDS {
        for raw in [url.as_str(), text.as_str()] {
            match registry::parse_url(*kind, rule, raw) {
                Ok(u) => {
                    assert!(u.password().is_none());
                    if !rule.schemes.is_empty() {
                        assert!(u.host_str().is_some_and(|h| !h.is_empty()));
                    }
                    let _ = registry::http_base(&u);
                }
                Err(why) => assert!(!why.contains(&secret), "{raw:?}: {why}"),
            }
        }
    }

    #[cfg(feature = "storage")]
    archive_builder(&user, &host, &secret, opts, pick(2), pick(3));
});

/// The archive builder: a URL from the input, options `key=value` per line of the input, and a
/// secret option (or a secret in the endpoint's user info).
#[cfg(feature = "storage")]
fn archive_builder(user: &str, host: &str, secret: &str, opts: &str, url_choice: usize, secret_choice: usize) {
    let base = match url_choice % 3 {
        0 => format!("memory://{host}"),
        1 => format!("s3://{host}"),
        _ => format!("s3://{user}:{secret}@{host}"),
    };
    let mut options: Vec<(String, String)> = opts
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !redact::is_secret_key(k))
        .take(8)
        .collect();
    match secret_choice % 3 {
        0 => options.push(("secret_access_key".into(), secret.to_owned())),
        1 => options.push(("endpoint".into(), format!("http://{user}:{secret}@{host}"))),
        _ => options.push(("token".into(), secret.to_owned())),
    }
    let builder = ArchiveBuilder::from_url_opts(base.clone(), options).with_env(false);
    let shown = format!("{builder:?}");
    assert!(!shown.contains(&secret), "{shown}");
    match builder.build() {
        Ok(sink) => {
            let shown = format!("{sink} {sink:?}");
            assert!(!shown.contains(&secret), "{base:?}: {shown}");
        }
        Err(e) => {
            let mut shown = format!("{e} {e:?}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                shown.push_str(&format!(" {s}"));
                source = s.source();
            }
            assert!(!shown.contains(&secret), "{base:?}: {shown}");
        }
    }
}
