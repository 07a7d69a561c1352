//! Host and port of a KiwiSDR URL, shared by the builder and the client (redirects).

use heimdall_core::{Error, ReceiverKind, Result};

/// Default KiwiSDR HTTP/WebSocket port.
pub const DEFAULT_PORT: u16 = 8073;

/// Host and port of a Kiwi URL (the schemes of [`crate::schemes::url_schemes`], or a bare
/// `host[:port]`).
pub(crate) fn parse_endpoint(raw: &str) -> Result<(String, u16)> {
    let u = crate::schemes::parse_url(ReceiverKind::KiwiSdr, raw)
        .map_err(|reason| Error::config(format!("kiwisdr url: {reason} (KiwiSDRs do not use TLS)")))?;
    let host = u.host_str().unwrap_or_default();
    Ok((host.to_owned(), u.port().unwrap_or(DEFAULT_PORT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("http://k.example:8074").unwrap(),
            ("k.example".into(), 8074)
        );
        assert_eq!(parse_endpoint("ws://k.example").unwrap(), ("k.example".into(), 8073));
        assert_eq!(parse_endpoint("k.example:1").unwrap(), ("k.example".into(), 1));
        assert_eq!(
            parse_endpoint("kiwisdr://10.0.0.1:8073/").unwrap(),
            ("10.0.0.1".into(), 8073)
        );
        assert!(parse_endpoint("https://k.example").is_err());
        assert!(parse_endpoint("::").is_err());
    }
}
