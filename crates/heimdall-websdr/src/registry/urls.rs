//! The one receiver-URL check: a backend's [`UrlRule`] (its schemes, the scheme a bare
//! `host[:port]` stands for, scheme spellings a URL parser refuses), a host, and no secret.

use heimdall_core::ReceiverKind;
use heimdall_core::redact::{Redacted, is_secret_key};

/// The URLs a backend accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlRule {
    /// Accepted schemes; empty: any URL (simulated receivers, e.g. `sim://id`).
    pub schemes: &'static [&'static str],
    /// The scheme a bare `host[:port]` is read with (KiwiSDR `http`, rtl_tcp `tcp`).
    pub bare_host: Option<&'static str>,
    /// Scheme spellings rewritten before parsing: `rtl_tcp` is read as `rtltcp` (`_` is not
    /// allowed in a URL scheme).
    pub aliases: &'static [(&'static str, &'static str)],
}

impl UrlRule {
    /// Any URL, no host required.
    pub const ANY: UrlRule = UrlRule {
        schemes: &[],
        bare_host: None,
        aliases: &[],
    };
}

/// Parses a receiver URL of `kind` under `rule`: one of its schemes, a host, no password and no
/// secret-named query parameter. The error is the reason, for the caller to locate; it never
/// shows a password.
pub fn parse_url(kind: ReceiverKind, rule: &UrlRule, raw: &str) -> Result<url::Url, String> {
    let normalized = match rule.bare_host {
        Some(scheme) if !raw.contains("://") => format!("{scheme}://{raw}"),
        _ => rule
            .aliases
            .iter()
            .find_map(|(from, to)| {
                raw.strip_prefix(from)
                    .filter(|rest| rest.starts_with("://"))
                    .map(|rest| format!("{to}{rest}"))
            })
            .unwrap_or_else(|| raw.to_owned()),
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
    if rule.schemes.is_empty() {
        return Ok(u);
    }
    if !rule.schemes.contains(&u.scheme()) {
        return Err(format!(
            "{:?}: scheme {:?} is not usable for kind {kind} (use {})",
            Redacted(raw),
            u.scheme(),
            rule.schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // A `file://` URL names a path on this machine: no host.
    if u.scheme() != "file" && u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{:?} has no host", Redacted(raw)));
    }
    Ok(u)
}

/// The HTTP base URL of a receiver's status pages (KiwiSDR `/status`, OpenWebRX
/// `/status.json`) from its parsed URL: WebSocket and protocol schemes become `http`/`https`,
/// and an OpenWebRX `/ws/` suffix is dropped.
pub fn http_base(u: &url::Url) -> String {
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
    base
}
