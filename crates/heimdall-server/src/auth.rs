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

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

pub use crate::tokens::{MIN_TOKEN_LEN, TokenError, Tokens};

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
