//! TLS for receivers served over `https://` / `wss://` (usually behind a reverse proxy such as
//! nginx or Caddy): OpenWebRX and HTTP IQ.
//!
//! Trust: the Mozilla root store (`webpki-roots`, the same roots reqwest uses) plus any PEM
//! certificates given to a builder's `with_root_certificates_pem` (a private CA, or a
//! self-signed receiver). The crypto provider is `ring`, chosen explicitly: with several
//! providers compiled into one program rustls cannot pick one by itself.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A client config trusting the Mozilla roots and the certificates in `extra_pem`.
#[cfg_attr(not(feature = "openwebrx"), allow(dead_code))]
pub(crate) fn client_config(extra_pem: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in extra_pem {
        for cert in parse_certificates(pem)? {
            roots
                .add(cert)
                .map_err(|e| format!("a root certificate is not usable as a trust anchor: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Every `CERTIFICATE` block of a PEM text; at least one, or an error saying what was found.
pub(crate) fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("root certificate PEM does not parse: {e}"))?;
    if certs.is_empty() {
        return Err("root certificate PEM holds no `BEGIN CERTIFICATE` block".to_owned());
    }
    Ok(certs)
}

/// `builder` also trusting the certificates of every PEM text in `pems` (each must hold at
/// least one), for the reqwest clients of the HTTP parts.
pub(crate) fn add_roots(
    mut builder: reqwest::ClientBuilder,
    pems: &[Vec<u8>],
) -> Result<reqwest::ClientBuilder, String> {
    for pem in pems {
        parse_certificates(pem)?;
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("root certificate PEM does not parse: {e}"))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

/// Plain words for a failed TLS handshake, when `err` (or its source chain) is one; `None`
/// for any other failure. A TLS failure does not heal by retrying: certificates, names and
/// protocol versions stay what they are.
pub(crate) fn describe_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            let hint = match tls {
                rustls::Error::InvalidCertificate(_) => {
                    "; if the receiver uses a private CA or a self-signed certificate, trust it with \
                     `ca_file` in the receivers file (the builder's with_root_certificates_pem)"
                }
                _ => "",
            };
            return Some(format!("TLS handshake failed: {tls}{hint}"));
        }
        // io::Error keeps its payload behind get_ref, not source().
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(found) = describe_failure(inner)
        {
            return Some(found);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &[u8] = include_bytes!("../testdata/tls/ca.pem");

    #[test]
    fn parses_and_builds() {
        assert_eq!(parse_certificates(CA).unwrap().len(), 1);
        assert!(client_config(&[CA.to_vec()]).is_ok());
        assert!(client_config(&[]).is_ok());
    }

    #[test]
    fn rejects_non_certificates() {
        let err = parse_certificates(b"hello").unwrap_err();
        assert!(err.contains("no `BEGIN CERTIFICATE`"), "{err}");
        let err =
            client_config(&[b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_vec()]).unwrap_err();
        assert!(err.contains("PEM") || err.contains("trust anchor"), "{err}");
    }

    #[test]
    fn describes_tls_errors_through_io() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let msg = describe_failure(&io).unwrap();
        assert!(msg.starts_with("TLS handshake failed"), "{msg}");
        assert!(msg.contains("ca_file"), "{msg}");
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(describe_failure(&plain).is_none());
    }
}
