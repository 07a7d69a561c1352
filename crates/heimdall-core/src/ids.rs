//! Identifiers: receiver slugs that are safe inside object keys, and time-ordered session ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Maximum length of a [`ReceiverId`].
pub const MAX_RECEIVER_ID_LEN: usize = 64;

/// A receiver's identifier: a slug of ASCII letters, digits, `-` and `_`, 1 to 64 characters,
/// starting with a letter or digit.
///
/// It is used verbatim in object keys (`sessions/{session}/{receiver}.npy`) and database rows,
/// so it can never contain `/`, `.` or anything else that would let a key escape its prefix.
///
/// ```
/// use heimdall_core::ReceiverId;
/// let id: ReceiverId = "websdr_1".parse().unwrap();
/// assert_eq!(id.as_str(), "websdr_1");
/// assert!("../etc".parse::<ReceiverId>().is_err());
/// assert_eq!(ReceiverId::slugify("Milano - Baggio").as_str(), "milano-baggio");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ReceiverId(String);

impl ReceiverId {
    /// Validates `id` and wraps it.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        validate_slug(&id)?;
        Ok(ReceiverId(id))
    }

    /// Builds a valid id from any display name: lower-cases it, maps runs of other characters
    /// to a single `-` and trims. Returns `"receiver"` for a name with no usable character.
    pub fn slugify(name: &str) -> Self {
        let mut out = String::with_capacity(name.len());
        let mut dash = false;
        for c in name.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                if dash && !out.is_empty() {
                    out.push('-');
                }
                dash = false;
                out.push(c.to_ascii_lowercase());
            } else {
                dash = true;
            }
            if out.len() >= MAX_RECEIVER_ID_LEN {
                break;
            }
        }
        out.truncate(MAX_RECEIVER_ID_LEN);
        let out = out.trim_matches(|c| c == '-' || c == '_').to_owned();
        if out.is_empty() {
            ReceiverId("receiver".into())
        } else {
            ReceiverId(out)
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate_slug(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_RECEIVER_ID_LEN {
        return Err(Error::invalid(
            "receiver id",
            format!("{id:?} must be 1 to {MAX_RECEIVER_ID_LEN} characters long"),
        ));
    }
    let first = id.as_bytes()[0];
    if !first.is_ascii_alphanumeric() {
        return Err(Error::invalid(
            "receiver id",
            format!("{id:?} must start with a letter or digit"),
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(Error::invalid(
            "receiver id",
            format!("{id:?} contains {bad:?}; only ASCII letters, digits, '-' and '_' are allowed"),
        ));
    }
    Ok(())
}

impl fmt::Display for ReceiverId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ReceiverId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ReceiverId::new(s)
    }
}

impl TryFrom<String> for ReceiverId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        ReceiverId::new(s)
    }
}

impl<'de> Deserialize<'de> for ReceiverId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ReceiverId::new(s).map_err(serde::de::Error::custom)
    }
}

impl AsRef<str> for ReceiverId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A session id: a UUID v7, so that ids sort by creation time (object listings, database keys).
///
/// ```
/// use heimdall_core::SessionId;
/// let a = SessionId::new();
/// let b = SessionId::new();
/// assert!(a <= b);
/// assert_eq!(a.to_string().parse::<SessionId>().unwrap(), a);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(uuid::Uuid);

impl SessionId {
    /// A new time-ordered (v7) id for now.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        SessionId(uuid::Uuid::now_v7())
    }

    /// Wraps an existing UUID (any version, as long as it is not nil).
    pub fn from_uuid(u: uuid::Uuid) -> Result<Self> {
        if u.is_nil() {
            return Err(Error::invalid("session id", "the nil UUID is not a session id"));
        }
        Ok(SessionId(u))
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }

    /// The creation time encoded in a v7 id, if it is one.
    pub fn timestamp(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let ts = self.0.get_timestamp()?;
        let (s, ns) = ts.to_unix();
        chrono::DateTime::from_timestamp(s as i64, ns)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hyphenated lower-case form: safe in object keys.
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for SessionId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let u =
            uuid::Uuid::parse_str(s).map_err(|e| Error::invalid("session id", format!("{s:?} is not a UUID: {e}")))?;
        SessionId::from_uuid(u)
    }
}

/// One attempt at running a session: a random token that scopes every object the attempt
/// writes, so that two attempts of the same session (a redelivered job while the first worker
/// still runs, a re-run after a crash) never write the same key. At most one attempt commits
/// (the manifest is created only if absent); what it lists is what that attempt wrote.
///
/// ```
/// use heimdall_core::{AttemptId, SessionAttempt, SessionId};
/// let a = SessionAttempt::new(SessionId::new());
/// assert_eq!(a.attempt.as_str().len(), 16);
/// assert_eq!(a.attempt.as_str().parse::<AttemptId>().unwrap(), a.attempt);
/// assert!("../x".parse::<AttemptId>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AttemptId(String);

impl AttemptId {
    /// Length of an attempt id: 16 lower-case hex digits (64 random bits).
    pub const LEN: usize = 16;

    /// A new random attempt id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let u = uuid::Uuid::new_v4();
        AttemptId(u.simple().to_string()[..Self::LEN].to_owned())
    }

    /// The id as written in object keys.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AttemptId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.len() == Self::LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(AttemptId(s.to_owned()))
        } else {
            Err(Error::invalid(
                "attempt id",
                format!("{s:?} is not {} lower-case hex digits", Self::LEN),
            ))
        }
    }
}

impl<'de> Deserialize<'de> for AttemptId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A session and the attempt running it (see [`AttemptId`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionAttempt {
    /// The session.
    pub session: SessionId,
    /// This attempt.
    pub attempt: AttemptId,
}

impl SessionAttempt {
    /// A new attempt at `session`.
    pub fn new(session: SessionId) -> Self {
        SessionAttempt {
            session,
            attempt: AttemptId::new(),
        }
    }
}

impl fmt::Display for SessionAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.session, self.attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_ids_reject_escapes() {
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b", "é", "a.b", &"x".repeat(65)] {
            assert!(ReceiverId::new(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "websdr_1", "Kiwi-07", &"x".repeat(64)] {
            assert!(ReceiverId::new(good).is_ok(), "{good:?} rejected");
        }
        let e = ReceiverId::new("a/b").unwrap_err().to_string();
        assert!(e.contains("'/'"), "{e}");
    }

    #[test]
    fn slugify_always_valid() {
        for name in [
            "Aquila di Giaveno",
            "  ",
            "Milano - Baggio",
            "éé",
            "a/b/../c",
            &"Z".repeat(200),
        ] {
            let s = ReceiverId::slugify(name);
            assert!(ReceiverId::new(s.as_str()).is_ok(), "{name:?} -> {s}");
        }
        assert_eq!(ReceiverId::slugify("Aquila di Giaveno").as_str(), "aquila-di-giaveno");
    }

    #[test]
    fn session_ids_are_v7_and_round_trip() {
        let s = SessionId::new();
        assert_eq!(s.as_uuid().get_version_num(), 7);
        assert!(s.timestamp().is_some());
        assert!("not-a-uuid".parse::<SessionId>().is_err());
        assert!("00000000-0000-0000-0000-000000000000".parse::<SessionId>().is_err());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), s);
    }
}
