//! A TLS-terminating front for the in-process mock servers (feature `mock-servers`): what
//! nginx or Caddy is in front of a public receiver. Test use only: the server key is public.
//!
//! The front listens on `127.0.0.1`, presents a certificate for `localhost` and `127.0.0.1`
//! issued by [`TEST_CA_PEM`], and relays each connection to the plain server behind it.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The test CA that issued the certificate of every [`TlsFront`] (`testdata/tls/ca.pem`).
pub const TEST_CA_PEM: &[u8] = include_bytes!("../testdata/tls/ca.pem");
/// A CA unrelated to [`TEST_CA_PEM`], for "certificate not trusted" tests.
pub const OTHER_CA_PEM: &[u8] = include_bytes!("../testdata/tls/other-ca.pem");
const SERVER_CERT_PEM: &[u8] = include_bytes!("../testdata/tls/server.pem");
const SERVER_KEY_PEM: &[u8] = include_bytes!("../testdata/tls/server.key");

/// A running TLS front; stops when dropped.
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsFront {
    /// Starts a front on a random `127.0.0.1` port relaying to `backend`.
    pub async fn start(backend: SocketAddr) -> std::io::Result<TlsFront> {
        let certs = CertificateDer::pem_slice_iter(SERVER_CERT_PEM)
            .collect::<Result<Vec<_>, _>>()
            .map_err(std::io::Error::other)?;
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM).map_err(std::io::Error::other)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(std::io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A failed handshake (a client that does not trust us) ends just this connection.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Ok(TlsFront { addr, task })
    }

    /// The front's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://localhost:port` (no trailing slash): the name the certificate is issued for.
    pub fn origin(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}
