//! The public KiwiSDR directory (every public Kiwi's `/status` fields), in either of its two published forms:
//!
//! - the kiwisdr.com/public HTML page: one `<div class='cl-info'>` per receiver holding
//!   `<!-- key=value -->` lines followed by an `<a href='…'>` with the receiver URL;
//! - the rx.linkfanel.net republication `var kiwisdr_com = [ {"name":"…", …, "url":"…"}, … ];`
//!   (all values strings, `gps` as `"(lat, lon)"`).
//!
//! Parsing needs no network: pass the page text or a file path.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use heimdall_core::{Error, ReceiverHealth, ReceiverId, ReceiverInfo, ReceiverKind, Result};

use super::kiwisdr_status::KiwiStatus;

const BACKEND: &str = "discovery";

/// One directory entry: the receiver URL and its `/status`-style fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryEntry {
    /// Receiver URL as listed.
    pub url: String,
    /// The fields (`name`, `users`, `users_max`, `gps`, `asl`, `loc`, `sw_version`...).
    pub status: KiwiStatus,
}

impl DirectoryEntry {
    /// Health as listed (may be minutes old), for a listener without a password.
    pub fn health(&self) -> ReceiverHealth {
        self.status.to_health(false)
    }
}

/// Parses either directory form into entries with a URL (entries without one are skipped).
pub fn parse_kiwisdr_directory_entries(text: &str) -> Result<Vec<DirectoryEntry>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with("var ") || trimmed.starts_with('[') {
        parse_js(trimmed)
    } else if text.contains("cl-info") {
        Ok(parse_html(text))
    } else {
        Err(Error::Malformed {
            backend: BACKEND,
            origin: "KiwiSDR directory".into(),
            reason: "neither the kiwisdr.com/public HTML (no 'cl-info' block) nor the \
                     'var kiwisdr_com = [...]' list"
                .into(),
        })
    }
}

/// Parses either directory form into [`ReceiverInfo`]s of kind `kiwisdr`, with positions when
/// listed and unique slug ids built from the names (`-2`, `-3`... appended to repeats).
pub fn parse_kiwisdr_directory(text: &str) -> Result<Vec<ReceiverInfo>> {
    Ok(entries_to_infos(&parse_kiwisdr_directory_entries(text)?))
}

/// [`parse_kiwisdr_directory`] on a file.
pub fn load_kiwisdr_directory(path: impl AsRef<Path>) -> Result<Vec<ReceiverInfo>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        reason: format!("cannot read KiwiSDR directory file {}", path.display()),
        source: Some(Box::new(e)),
    })?;
    parse_kiwisdr_directory(&text)
}

/// Turns entries into receiver descriptions with unique slug ids.
pub fn entries_to_infos(entries: &[DirectoryEntry]) -> Vec<ReceiverInfo> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let name = e
            .status
            .name()
            .map(str::to_owned)
            .unwrap_or_else(|| host_of(&e.url).unwrap_or_else(|| e.url.clone()));
        let base = ReceiverId::slugify(&name);
        let mut id = base.clone();
        let mut n = 2;
        while !seen.insert(id.clone()) {
            let suffix = format!("-{n}");
            let mut b = base.as_str().to_owned();
            b.truncate(heimdall_core::ids::MAX_RECEIVER_ID_LEN - suffix.len());
            id = ReceiverId::slugify(&format!("{b}{suffix}"));
            n += 1;
        }
        let mut info = ReceiverInfo::new(id, name, ReceiverKind::KiwiSdr, e.url.clone());
        info.position = e.status.position();
        out.push(info);
    }
    out
}

fn host_of(url: &str) -> Option<String> {
    url::Url::parse(url).ok()?.host_str().map(str::to_owned)
}

fn parse_html(text: &str) -> Vec<DirectoryEntry> {
    let mut out = Vec::new();
    // Each block runs from one 'cl-info' to the next.
    for block in text.split("cl-info").skip(1) {
        let mut fields = BTreeMap::new();
        let mut url = None;
        let mut rest = block;
        while let Some(start) = rest.find("<!--") {
            let after = &rest[start + 4..];
            let Some(end) = after.find("-->") else { break };
            let inner = after[..end].trim();
            if let Some((k, v)) = inner.split_once('=') {
                let k = k.trim();
                if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    fields.insert(k.to_owned(), html_unescape(v.trim()));
                }
            }
            rest = &after[end + 3..];
        }
        if let Some(pos) = block.find("href=") {
            let after = &block[pos + 5..];
            let (quote, body) = match after.chars().next() {
                Some(q @ ('\'' | '"')) => (q, &after[1..]),
                _ => (' ', after),
            };
            let end = body.find([quote, '>']).unwrap_or(body.len());
            let u = body[..end].trim();
            if !u.is_empty() {
                url = Some(html_unescape(u));
            }
        }
        if url.is_none() {
            url = fields.get("url").cloned();
        }
        if let Some(url) = url {
            out.push(DirectoryEntry {
                url,
                status: KiwiStatus::from_fields(fields),
            });
        }
    }
    out
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

fn parse_js(text: &str) -> Result<Vec<DirectoryEntry>> {
    let malformed = |reason: String| Error::Malformed {
        backend: BACKEND,
        origin: "KiwiSDR directory (kiwisdr_com.js)".into(),
        reason,
    };
    let start = text.find('[').ok_or_else(|| malformed("no '[' found".into()))?;
    let end = text
        .rfind(']')
        .ok_or_else(|| malformed("no closing ']' found".into()))?;
    if end < start {
        return Err(malformed("']' before '['".into()));
    }
    let body = strip_trailing_commas(&text[start..=end]);
    let items: Vec<serde_json::Value> =
        serde_json::from_str(&body).map_err(|e| malformed(format!("not a JSON array: {e}")))?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(obj) = item.as_object() else { continue };
        let mut fields = BTreeMap::new();
        for (k, v) in obj {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            fields.insert(k.clone(), s);
        }
        if let Some(url) = fields.get("url").filter(|u| !u.is_empty()).cloned() {
            out.push(DirectoryEntry {
                url,
                status: KiwiStatus::from_fields(fields),
            });
        }
    }
    Ok(out)
}

/// Removes `,` directly before `]` or `}` outside strings (JavaScript allows them, JSON does not).
fn strip_trailing_commas(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            out.push(c);
            continue;
        }
        if c == '"' {
            in_str = true;
        } else if c == ',' {
            let next = bytes[i + 1..].iter().find(|b| !b.is_ascii_whitespace());
            if matches!(next, Some(b']') | Some(b'}')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_commas() {
        assert_eq!(strip_trailing_commas(r#"[{"a":"x,]",},]"#), r#"[{"a":"x,]"}]"#);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_kiwisdr_directory("hello").is_err());
        assert!(parse_kiwisdr_directory("var x = [ {").is_err());
        assert!(parse_kiwisdr_directory("var x = ] [").is_err());
        assert_eq!(
            parse_kiwisdr_directory("<div class='cl-info'> no url").unwrap().len(),
            0
        );
    }
}
