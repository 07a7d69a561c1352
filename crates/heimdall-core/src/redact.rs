//! The one redaction rule for everything that can carry a secret: URLs (a password in
//! `user:pass@`, a query parameter such as `password=` or `X-Amz-Signature=`), `key=value`
//! option lists (`secret_access_key=...`) and JSON option objects (a receiver's `password`).
//!
//! Errors, logs, `Debug` output and API responses go through these functions, never through a
//! URL parser alone: a URL that does not parse (port `99999999`, a `/` in the password) is
//! scanned by hand, and the scan errs on the side of masking too much.
//!
//! ```
//! use heimdall_core::redact::{redact_option, redact_url};
//! assert_eq!(redact_url("postgres://app:s3cret@db:99999/m"), "postgres://app:***@db:99999/m");
//! assert_eq!(redact_url("https://h/o?X-Amz-Signature=abc&part=1"), "https://h/o?X-Amz-Signature=***&part=1");
//! assert_eq!(redact_url("host=db password=s3cret user=app"), "host=db password=*** user=app");
//! assert_eq!(redact_option("secret_access_key", "s3cret"), "***");
//! assert_eq!(redact_option("endpoint", "http://u:p@minio:9000"), "http://u:***@minio:9000");
//! ```

use std::fmt;

use serde_json::Value;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Whether an option or query key names a secret (case-insensitive, `-` and `.` read as `_`):
/// anything containing `password`, `passwd`, `secret`, `token`, `credential`, `signature`,
/// `auth`, `key` or `cookie`, and the short forms `pass`, `pwd`, `sig`.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .trim()
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let k = k.as_str();
    matches!(k, "pass" | "pwd" | "sig")
        || k.ends_with("_pass")
        || k.ends_with("_pwd")
        || k.ends_with("_sig")
        || [
            "password",
            "passwd",
            "secret",
            "token",
            "credential",
            "signature",
            "auth",
            "key",
            "cookie",
        ]
        .iter()
        .any(|s| k.contains(s))
}

/// `s` with every secret it may hold replaced by [`MASK`]: the password of each
/// `scheme://user:pass@` (the user stays), the value of each `key=value` pair whose key
/// [`is_secret_key`] (URL query parameters and libpq `key=value` strings alike). Works on text
/// that is not a valid URL, and on a message that embeds URLs.
pub fn redact_url(s: &str) -> String {
    redact_pairs(&redact_userinfo(s))
}

/// The value of option `key` as it may be shown: [`MASK`] for a secret key, else the value with
/// any URL credentials masked ([`redact_url`]).
pub fn redact_option(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        MASK.to_owned()
    } else {
        redact_url(value)
    }
}

/// `key=value` options as they may be shown, one `key=value` string each ([`redact_option`]).
pub fn redact_options<K: AsRef<str>, V: AsRef<str>>(options: &[(K, V)]) -> Vec<String> {
    options
        .iter()
        .map(|(k, v)| format!("{}={}", k.as_ref(), redact_option(k.as_ref(), v.as_ref())))
        .collect()
}

/// A JSON value as it may be shown: under a secret key every non-null value becomes
/// [`MASK`]; other strings go through [`redact_url`]; objects and arrays are walked.
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) && !v.is_null() {
                        Value::String(MASK.to_owned())
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        Value::String(s) => Value::String(redact_url(s)),
        v => v.clone(),
    }
}

/// Shows a URL (or any text) through [`redact_url`]: `format!("{}", Redacted(&url))`. `Debug`
/// quotes the redacted text.
#[derive(Clone, Copy)]
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(self.0))
    }
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_url(self.0), f)
    }
}

/// Masks the password of every `scheme://user:pass@host`, and of a leading schemeless
/// `user:pass@host`. The user info normally ends at the last `@` before the first `/`, `?` or
/// `#`; when there is none there, the last `@` before the next whitespace ends it, so that a
/// password holding `/`, `?` or `#` is masked too.
fn redact_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut first = !s.contains("://");
    loop {
        let start = if first {
            first = false;
            // A schemeless `user:pass@host`: only as the first word, and not a `key=value`.
            let word = rest.split(char::is_whitespace).next().unwrap_or_default();
            if word.contains('=') {
                break;
            }
            0
        } else {
            match rest.find("://") {
                Some(i) => i + 3,
                None => break,
            }
        };
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let authority_end = rest[..word_end].find(['/', '?', '#']).unwrap_or(word_end);
        let at = rest[..authority_end].rfind('@').or_else(|| rest[..word_end].rfind('@'));
        if let Some(at) = at
            && let Some(colon) = rest[..at].find(':')
            && colon + 1 < at
        {
            out.push_str(&rest[..=colon]);
            out.push_str(MASK);
            rest = &rest[at..];
        }
    }
    out.push_str(rest);
    out
}

/// Masks the value of every `key=value` whose key [`is_secret_key`]. The key is the run of
/// letters, digits, `_`, `-` and `.` before the `=`; the value runs to the next `&`, `;`, `#`
/// or whitespace, or to its closing quote when it starts with `'` or `"`.
fn redact_pairs(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(eq) = s[i..].find('=').map(|p| p + i) {
        let key_start = s[..eq]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .map_or(0, |(p, c)| p + c.len_utf8());
        let value_start = eq + 1;
        if key_start == eq || !is_secret_key(&s[key_start..eq]) {
            i = value_start;
            continue;
        }
        let value_end = match bytes.get(value_start) {
            Some(&q @ (b'\'' | b'"')) => s[value_start + 1..]
                .find(q as char)
                .map_or(s.len(), |p| value_start + 1 + p + 1),
            _ => s[value_start..]
                .find(|c: char| c.is_whitespace() || matches!(c, '&' | ';' | '#'))
                .map_or(s.len(), |p| value_start + p),
        };
        if value_end > value_start {
            out.push_str(&s[copied..value_start]);
            out.push_str(MASK);
            copied = value_end;
        }
        i = value_end.max(value_start);
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn user_info_password_is_masked_and_the_user_kept() {
        for (url, want) in [
            ("postgres://app:s3cret@db:5432/m", "postgres://app:***@db:5432/m"),
            (
                "http://admin:pw@127.0.0.1:99999999/",
                "http://admin:***@127.0.0.1:99999999/",
            ),
            (
                "postgres://postgres:pw@127.0.0.1:99999/db",
                "postgres://postgres:***@127.0.0.1:99999/db",
            ),
            ("nats://u:p%40ss@h:4222", "nats://u:***@h:4222"),
            ("http://admin:pa/ss?x#y@host/", "http://admin:***@host/"),
            ("http://a:b@c@host/p", "http://a:***@host/p"),
            ("admin:pw@host:8073", "admin:***@host:8073"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://u:@h/db", "postgres://u:@h/db"),
            ("http://host:8073/", "http://host:8073/"),
            ("s3://bucket/prefix", "s3://bucket/prefix"),
            ("data/heimdall.db", "data/heimdall.db"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn urls_inside_a_message_are_masked() {
        let msg = "\"http://admin:pw@h:99999999/\" is not a URL; s3://b at http://k:v@minio:9000 failed";
        assert_eq!(
            redact_url(msg),
            "\"http://admin:***@h:99999999/\" is not a URL; s3://b at http://k:***@minio:9000 failed"
        );
    }

    #[test]
    fn secret_query_parameters_and_key_values_are_masked() {
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=disable&password=x&PassWord=y#t"),
            "postgres://u@h/db?sslmode=disable&password=***&PassWord=***#t"
        );
        assert_eq!(
            redact_url("https://b.s3/o?X-Amz-Credential=AK%2F1&X-Amz-Signature=abc&X-Amz-Security-Token=t&n=1"),
            "https://b.s3/o?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***&n=1"
        );
        assert_eq!(
            redact_url("https://h/?sig=a&api_key=b&auth=c"),
            "https://h/?sig=***&api_key=***&auth=***"
        );
        assert_eq!(
            redact_url("host=db password='a b' user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(redact_url("password=x host=h"), "password=*** host=h");
        assert_eq!(
            redact_url("option retry_timeout=\"abc\""),
            "option retry_timeout=\"abc\""
        );
        assert_eq!(redact_url("a=b==c&token=="), "a=b==c&token=***");
    }

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "PASSWD",
            "pass",
            "pwd",
            "secret",
            "token",
            "key",
            "access_key",
            "aws_secret_access_key",
            "session_token",
            "signature",
            "sig",
            "auth",
            "Authorization",
            "api_key",
            "api-key",
            "credential",
            "time_limit_password",
            "sse_customer_key_base64",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "mode",
            "gain_db",
            "endpoint",
            "region",
            "retry_timeout",
            "sslmode",
            "user",
            "bucket",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn options_and_json() {
        assert_eq!(
            redact_options(&[
                ("secret_access_key", "s"),
                ("region", "eu"),
                ("endpoint", "http://a:b@h")
            ]),
            ["secret_access_key=***", "region=eu", "endpoint=http://a:***@h"]
        );
        let v = json!({"password": "pw", "mode": "iq", "nested": [{"token": 1}], "time_limit_password": null,
                       "url": "http://u:p@h/"});
        assert_eq!(
            redact_json(&v),
            json!({"password": "***", "mode": "iq", "nested": [{"token": "***"}], "time_limit_password": null,
                   "url": "http://u:***@h/"})
        );
        assert_eq!(format!("{}", Redacted("http://u:p@h")), "http://u:***@h");
        assert_eq!(format!("{:?}", Redacted("http://u:p@h")), "\"http://u:***@h\"");
    }

    fn secret() -> impl Strategy<Value = String> {
        // Long enough not to occur by chance; may hold URL delimiters, as a mistyped one would.
        "[A-Za-z0-9]{6}[A-Za-z0-9/?#:;%+=._~!$-]{0,10}[A-Za-z0-9]{4}"
    }

    proptest! {
        /// A password planted in the user info of any URL shape never comes out.
        #[test]
        fn planted_password_never_appears(
            scheme in "(http|https|postgres|postgresql|s3|nats|ws|tcp|kiwi)",
            user in "[A-Za-z0-9_.-]{0,8}",
            pw in secret(),
            host in "[a-z0-9.-]{0,12}",
            port in proptest::option::of("[0-9]{1,9}"),
            path in "(/[A-Za-z0-9_.@-]{0,8}){0,3}",
            query in proptest::option::of("[a-z]{1,6}=[A-Za-z0-9@]{0,6}(&[a-z]{1,6}=[a-z0-9]{0,4}){0,2}"),
            prefix in "(|\"|bad URL |[a-z]{1,5}: )",
            suffix in "(|\"| is not a URL: invalid port number)",
        ) {
            prop_assume!(!pw.contains('@') && !pw.chars().any(char::is_whitespace));
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            let url = format!("{prefix}{scheme}://{user}:{pw}@{host}{port}{path}{query}{suffix}");
            let out = redact_url(&url);
            prop_assert!(!out.contains(&pw), "{url} -> {out}");
        }

        /// A secret planted as a secret-looking query parameter or option never comes out.
        #[test]
        fn planted_parameter_never_appears(
            key in "(password|passwd|pass|secret|token|key|access_key|secret_access_key|session_token|signature|sig|auth|api_key|credential)",
            upper in any::<bool>(),
            pw in "[A-Za-z0-9%+/._~!$-]{10,20}",
            before in "([a-z]{1,6}=[a-z0-9]{0,4}&){0,2}",
            after in "(&[a-z]{1,6}=[a-z0-9]{0,4}){0,2}",
            base in r"(https://h\.example/p\?|postgres://u@db/m\?|host=db |)",
        ) {
            let key = if upper { key.to_ascii_uppercase() } else { key };
            let url = format!("{base}{before}{key}={pw}{after}");
            let out = redact_url(&url);
            prop_assert!(!out.contains(&pw), "{url} -> {out}");
            prop_assert_eq!(redact_option(&key, &pw), MASK);
        }

        /// Redaction never panics and leaves text without secrets alone.
        #[test]
        fn harmless_text_is_unchanged(s in "[A-Za-z0-9 /.,()_-]{0,40}") {
            prop_assert_eq!(redact_url(&s), s);
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = redact_url(&s);
        }
    }
}
