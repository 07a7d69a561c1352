//! The URL schemes each receiver kind accepts: the one table the receivers file, the KiwiSDR
//! and rtl_tcp builders and the health probe consult.

use heimdall_core::ReceiverKind;
use heimdall_core::redact::{Redacted, is_secret_key};

/// The schemes `kind` accepts; `None`: any URL (simulated receivers, e.g. `sim://id`).
///
/// KiwiSDR: `http`, `ws`, `kiwisdr`, `kiwi` and `tcp` all name plain HTTP/WebSocket on
/// `host:port` (KiwiSDRs do not use TLS). rtl_tcp: `rtl_tcp` (read as `rtltcp`: `_` is not
/// allowed in a URL scheme) and `tcp`.
pub fn url_schemes(kind: ReceiverKind) -> Option<&'static [&'static str]> {
    match kind {
        ReceiverKind::OpenWebRx => Some(&["http", "https", "ws", "wss"]),
        ReceiverKind::KiwiSdr => Some(&["http", "ws", "kiwisdr", "kiwi", "tcp"]),
        ReceiverKind::RtlTcp => Some(&["rtl_tcp", "rtltcp", "tcp"]),
        ReceiverKind::HttpIq => Some(&["http", "https"]),
        _ => None,
    }
}

/// Parses a receiver URL for `kind`: one of its schemes (a bare `host[:port]` is accepted for
/// KiwiSDR, as `http://`, and rtl_tcp, as `tcp://`), a host, no password. The error is the
/// reason, for the caller to locate.
pub fn parse_url(kind: ReceiverKind, raw: &str) -> Result<url::Url, String> {
    let normalized = match kind {
        ReceiverKind::KiwiSdr if !raw.contains("://") => format!("http://{raw}"),
        ReceiverKind::RtlTcp if !raw.contains("://") => format!("tcp://{raw}"),
        ReceiverKind::RtlTcp => raw.replacen("rtl_tcp://", "rtltcp://", 1),
        _ => raw.to_owned(),
    };
    let u = url::Url::parse(&normalized).map_err(|e| format!("{:?} is not a URL: {e}", Redacted(raw)))?;
    if u.password().is_some() {
        return Err("must not contain a password; use the `password` field".into());
    }
    // A secret in the query (`?password=`, `?token=`) would be shown wherever the URL is: in
    // logs, errors and the receiver list. Name the parameter, never its value.
    if let Some((key, _)) = u.query_pairs().find(|(k, _)| is_secret_key(k)) {
        // A "key" without `=` is the whole parameter: named only when it is a plain name.
        let plain = key.len() <= 40 && key.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        let which = if plain {
            format!("query parameter {key:?}")
        } else {
            "a query parameter".to_owned()
        };
        return Err(format!("must not contain a secret ({which}); use the `password` field"));
    }
    let Some(allowed) = url_schemes(kind) else {
        return Ok(u);
    };
    if !allowed.contains(&u.scheme()) {
        return Err(format!(
            "{:?}: scheme {:?} is not usable for kind {kind} (use {})",
            Redacted(raw),
            u.scheme(),
            allowed.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(", ")
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{:?} has no host", Redacted(raw)));
    }
    Ok(u)
}

/// The HTTP base URL of a receiver's status pages (KiwiSDR `/status`, OpenWebRX
/// `/status.json`): WebSocket and protocol schemes become `http`/`https`, and an OpenWebRX
/// `/ws/` suffix is dropped.
pub fn http_base(kind: ReceiverKind, raw: &str) -> Result<String, String> {
    let u = parse_url(kind, raw)?;
    let scheme = match u.scheme() {
        "https" | "wss" => "https",
        _ => "http",
    };
    let mut base = format!("{scheme}://{}", u.host_str().unwrap_or_default());
    if let Some(p) = u.port() {
        base.push_str(&format!(":{p}"));
    }
    let path = match u.path() {
        "" => "/",
        p => p.strip_suffix("ws/").unwrap_or(p),
    };
    base.push_str(path);
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kiwisdr_scheme_is_accepted_and_tls_is_refused() {
        for u in ["http://k:8074", "ws://k", "kiwisdr://k", "kiwi://k", "tcp://k:1", "k:1"] {
            assert!(parse_url(ReceiverKind::KiwiSdr, u).is_ok(), "{u}");
        }
        assert!(parse_url(ReceiverKind::KiwiSdr, "https://k").is_err());
        assert!(parse_url(ReceiverKind::KiwiSdr, "http://u:pw@k").is_err());
        assert!(parse_url(ReceiverKind::RtlTcp, "rtl_tcp://h:1234").is_ok());
        assert!(parse_url(ReceiverKind::RtlTcp, "http://h").is_err());
    }

    /// Found by the `receivers_file` fuzz target: `url = "http://h:8073/?password=..."` was
    /// accepted and the password shown in the receiver list, errors and `Debug` output.
    #[test]
    fn secret_query_parameters_are_refused_without_echoing_them() {
        for u in [
            "http://h:8073/?password=Pl4nt",
            "h:8073/?x=1&token=Pl4nt",
            "https://h/?X-Amz-Signature=Pl4nt",
            // Found by the url_options fuzz target: a parameter without `=` is all key.
            "http://h/? postgres://secret:Pl4nt@",
        ] {
            for kind in [ReceiverKind::KiwiSdr, ReceiverKind::OpenWebRx, ReceiverKind::HttpIq] {
                if let Err(why) = parse_url(kind, u) {
                    assert!(!why.contains("Pl4nt"), "{why}");
                    continue;
                }
                panic!("{u} accepted for {kind}");
            }
        }
        assert!(parse_url(ReceiverKind::KiwiSdr, "http://h:8073/?freq=7100&mode=iq").is_ok());
    }

    #[test]
    fn status_bases() {
        assert_eq!(
            http_base(ReceiverKind::KiwiSdr, "kiwi://k:8073").unwrap(),
            "http://k:8073/"
        );
        assert_eq!(
            http_base(ReceiverKind::OpenWebRx, "wss://o.example/sdr/ws/").unwrap(),
            "https://o.example/sdr/"
        );
    }
}
