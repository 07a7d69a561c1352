//! What every request passes before a handler: token authentication and the JSON-only rule.
//!
//! - **Tokens**: with [`AppState::set_tokens`] every route but `/health`, `/ready` and the
//!   OpenAPI document needs `Authorization: Bearer TOKEN` with one of the tokens (`401` with
//!   `WWW-Authenticate: Bearer` otherwise). Tokens are kept as SHA-256 digests and compared in
//!   constant time; no answer or log line ever contains one. The binary requires tokens
//!   (`--token-file`, `HEIMDALL_API_TOKENS`) unless started with `--no-auth`.
//! - **JSON only**: a `POST`, `PUT` or `PATCH` with a body must say `Content-Type: application/json` (or a
//!   `+json` type), else `415`. A web page can send `text/plain` or form bodies cross-site
//!   without a preflight; it cannot send `application/json`, so no page can start acquisitions
//!   in a user's name. No CORS header is ever sent: cross-site reads stay blocked by browsers.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Shortest token accepted: 128 bits as hex.
pub const MIN_TOKEN_LEN: usize = 32;

/// The accepted API tokens (as SHA-256 digests).
#[derive(Clone)]
pub struct Tokens(Vec<[u8; 32]>);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens({} tokens)", self.0.len())
    }
}

/// Why a token list was refused (never contains a token).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read the token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A token is too short or has characters a header cannot carry.
    #[error(
        "{origin}, token {index}: tokens must be at least {MIN_TOKEN_LEN} characters of visible ASCII (e.g. `openssl rand -hex 32`)"
    )]
    Weak {
        /// Where it came from.
        origin: String,
        /// Its 1-based position.
        index: usize,
    },
    /// No token at all.
    #[error("{origin} holds no token")]
    Empty {
        /// Where from.
        origin: String,
    },
}

impl Tokens {
    /// Tokens from text: one per line (or comma-separated), `#` starts a comment.
    pub fn parse(text: &str, origin: &str) -> Result<Self, TokenError> {
        let mut out = Vec::new();
        for (i, t) in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .enumerate()
        {
            if t.len() < MIN_TOKEN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(TokenError::Weak {
                    origin: origin.to_owned(),
                    index: i + 1,
                });
            }
            out.push(Sha256::digest(t.as_bytes()).into());
        }
        if out.is_empty() {
            return Err(TokenError::Empty {
                origin: origin.to_owned(),
            });
        }
        Ok(Tokens(out))
    }

    /// Tokens from a file (see [`Tokens::parse`]).
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Whether `presented` is one of the tokens (constant time per token).
    pub fn accepts(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0.iter().fold(false, |found, t| {
            found | (t.iter().zip(&d).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
        })
    }
}

/// Routes anyone may call: liveness, readiness and the API description.
fn is_open(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/api/v1/openapi.json")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether the request carries a body (a length above 0, or a chunked one).
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The middleware: authentication, then the JSON-only rule (for requests with a body).
pub(crate) async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(tokens) = app.tokens()
        && !is_open(req.uri().path())
    {
        let ok = bearer(req.headers()).is_some_and(|t| tokens.accepts(t));
        if !ok {
            let detail = if req.headers().contains_key(header::AUTHORIZATION) {
                "the API token is not valid"
            } else {
                "an API token is required: send `Authorization: Bearer TOKEN`"
            };
            let mut r = ApiError::Status(StatusCode::UNAUTHORIZED, detail.into()).into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    if matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH)
        && has_body(req.headers())
        && !is_json(req.headers())
    {
        return ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request bodies must be JSON: send `Content-Type: application/json`".into(),
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_are_checked_and_never_shown() {
        let t = Tokens::parse(
            &format!("# ops\n{T1}\n\n other-token-of-at-least-32-chars!! # ci\n"),
            "env",
        )
        .unwrap();
        assert!(t.accepts(T1));
        assert!(t.accepts("other-token-of-at-least-32-chars!!"));
        assert!(!t.accepts("0123456789abcdef0123456789abcdeX"));
        assert!(!t.accepts(""));
        assert!(!format!("{t:?}").contains(T1));
        assert!(matches!(
            Tokens::parse("short", "env"),
            Err(TokenError::Weak { index: 1, .. })
        ));
        let e = Tokens::parse(&format!("{T1},tooshort-secret"), "env").unwrap_err();
        assert!(!e.to_string().contains("tooshort-secret"), "{e}");
        assert!(matches!(
            Tokens::parse("# nothing\n", "f"),
            Err(TokenError::Empty { .. })
        ));
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (ct, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("multipart/form-data; boundary=x", false),
        ] {
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(is_json(&h), ok, "{ct}");
        }
    }
}
