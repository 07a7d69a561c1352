//! API tokens: parsed from a file or a list, kept as SHA-256 digests, checked in constant time
//! (used by [`crate::auth`]).

use std::path::Path;

use sha2::{Digest, Sha256};

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
}
