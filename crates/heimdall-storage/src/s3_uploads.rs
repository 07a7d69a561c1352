//! Listing the incomplete multipart uploads of an S3 bucket, which `object_store` cannot: a
//! `ListMultipartUploads` request signed with AWS Signature V4 from the sink's own static
//! credentials. Aborting them goes through `object_store`.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use object_store::aws::AmazonS3;
use sha2::{Digest, Sha256};

use heimdall_core::{Error, Result};

/// How to list the incomplete multipart uploads of the sink's bucket.
pub(crate) struct S3Uploads {
    pub(crate) store: Arc<AmazonS3>,
    pub(crate) client: reqwest::Client,
    /// `scheme://host[:port]` of the bucket's endpoint.
    pub(crate) endpoint: url::Url,
    /// Path-style (`/{bucket}/`) or virtual-hosted (`{bucket}.host`) addressing.
    pub(crate) path_style: bool,
    pub(crate) bucket: String,
    pub(crate) region: String,
    pub(crate) key_id: Option<String>,
    pub(crate) secret: Option<String>,
    pub(crate) token: Option<String>,
}

impl fmt::Debug for S3Uploads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Uploads")
            .field("endpoint", &self.endpoint.as_str())
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// One incomplete upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingUpload {
    pub(crate) key: String,
    pub(crate) upload_id: String,
    pub(crate) initiated: DateTime<Utc>,
}

impl S3Uploads {
    /// Every incomplete upload whose key starts with `prefix`.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<PendingUpload>> {
        let (Some(key_id), Some(secret)) = (&self.key_id, &self.secret) else {
            return Err(Error::config(
                "listing incomplete multipart uploads needs static S3 credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
            ));
        };
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        for _page in 0..10_000 {
            let mut query = vec![("prefix", prefix.to_owned()), ("uploads", String::new())];
            if !key_marker.is_empty() {
                query.push(("key-marker", key_marker.clone()));
                query.push(("upload-id-marker", id_marker.clone()));
            }
            let body = self.signed_get(&query, key_id, secret).await?;
            let page = parse_uploads(&body).map_err(|reason| Error::Malformed {
                backend: "s3",
                origin: format!("ListMultipartUploads of s3://{}", self.bucket),
                reason,
            })?;
            out.extend(page.uploads);
            match page.next {
                Some((k, i)) if !k.is_empty() => {
                    key_marker = k;
                    id_marker = i;
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn signed_get(&self, query: &[(&str, String)], key_id: &str, secret: &str) -> Result<String> {
        let mut url = self.endpoint.clone();
        let host_port = |u: &url::Url| match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_owned(),
        };
        let canonical_uri = if self.path_style {
            format!("/{}/", self.bucket)
        } else {
            let host = format!("{}.{}", self.bucket, self.endpoint.host_str().unwrap_or_default());
            url.set_host(Some(&host))
                .map_err(|e| Error::config(format!("bad S3 host {host:?}: {e}")))?;
            "/".to_owned()
        };
        url.set_path(&canonical_uri);
        let mut q: Vec<(String, String)> = query.iter().map(|(k, v)| (enc(k), enc(v))).collect();
        q.sort();
        let canonical_query = q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        url.set_query(Some(&canonical_query));
        let host = host_port(&url);
        let now = Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let date = now.format("%Y%m%d").to_string();
        let payload = hex::encode(Sha256::digest(b""));
        let mut headers = vec![
            ("host", host.clone()),
            ("x-amz-content-sha256", payload.clone()),
            ("x-amz-date", amz_date.clone()),
        ];
        if let Some(t) = &self.token {
            headers.push(("x-amz-security-token", t.clone()));
        }
        let signed_headers = headers.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(";");
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{}\n", v.trim())).collect();
        let canonical_request =
            format!("GET\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload}");
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, b"s3");
        let k_signing = hmac(&k_service, b"aws4_request");
        let signature = hex::encode(hmac(&k_signing, to_sign.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
        );
        let mut req = self.client.get(url.clone()).header("authorization", auth);
        for (k, v) in &headers {
            if *k != "host" {
                req = req.header(*k, v);
            }
        }
        let unavailable = |e: reqwest::Error| Error::Unavailable {
            backend: "s3",
            target: format!("s3://{}", self.bucket),
            reason: "listing incomplete multipart uploads failed".into(),
            retry_after: None,
            source: Some(Box::new(e)),
        };
        let resp = req.send().await.map_err(unavailable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unavailable)?;
        if !status.is_success() {
            let code = xml_tag(&text, "Code").unwrap_or_default();
            return Err(Error::Storage {
                backend: "s3",
                operation: "list multipart uploads",
                key: format!("s3://{}/{}", self.bucket, query[0].1),
                retryable: status.is_server_error(),
                source: format!("HTTP {status} {code}").into(),
            });
        }
        Ok(text)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// URI-encoding of SigV4 (RFC 3986 unreserved characters kept, everything else `%XX`).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct UploadsPage {
    uploads: Vec<PendingUpload>,
    /// `(NextKeyMarker, NextUploadIdMarker)` when truncated.
    next: Option<(String, String)>,
}

/// The parts of a `ListMultipartUploadsResult` document we use.
fn parse_uploads(xml: &str) -> std::result::Result<UploadsPage, String> {
    if !xml.contains("ListMultipartUploadsResult") {
        return Err("not a ListMultipartUploadsResult document".into());
    }
    let mut uploads = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Upload>") {
        let after = &rest[start + "<Upload>".len()..];
        let end = after.find("</Upload>").ok_or("unterminated <Upload>")?;
        let block = &after[..end];
        let key = xml_tag(block, "Key").ok_or("<Upload> without <Key>")?;
        let upload_id = xml_tag(block, "UploadId").ok_or("<Upload> without <UploadId>")?;
        let initiated = xml_tag(block, "Initiated")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or("<Upload> without a valid <Initiated>")?;
        uploads.push(PendingUpload {
            key,
            upload_id,
            initiated,
        });
        rest = &after[end..];
    }
    let truncated = xml_tag(xml, "IsTruncated").is_some_and(|t| t == "true");
    let next = truncated.then(|| {
        (
            xml_tag(xml, "NextKeyMarker").unwrap_or_default(),
            xml_tag(xml, "NextUploadIdMarker").unwrap_or_default(),
        )
    });
    Ok(UploadsPage { uploads, next })
}

/// The unescaped text of the first `<tag>...</tag>` in `xml`.
fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_list_multipart_uploads_result() {
        // Shape of the AWS S3 API reference example of ListMultipartUploads.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>bucket</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>my-movie.m2ts</NextKeyMarker><NextUploadIdMarker>YW55IGlk</NextUploadIdMarker>
  <MaxUploads>3</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>my-divisor</Key><UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw</UploadId>
    <Initiator><ID>arn</ID><DisplayName>x</DisplayName></Initiator><StorageClass>STANDARD</StorageClass>
    <Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload>
  <Upload><Key>a&amp;b</Key><UploadId>id2</UploadId><Initiated>2010-11-10T20:49:33.000Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
        let page = parse_uploads(xml).unwrap();
        assert_eq!(page.uploads.len(), 2);
        assert_eq!(page.uploads[0].key, "my-divisor");
        assert_eq!(page.uploads[1].key, "a&b");
        assert_eq!(page.uploads[1].initiated.to_rfc3339(), "2010-11-10T20:49:33+00:00");
        assert_eq!(page.next, Some(("my-movie.m2ts".into(), "YW55IGlk".into())));
        assert!(parse_uploads("<Error><Code>AccessDenied</Code></Error>").is_err());
        assert!(parse_uploads("<ListMultipartUploadsResult><Upload><Key>x</Key>").is_err());
    }

    #[test]
    fn sigv4_key_derivation_matches_the_aws_example() {
        // AWS documentation's signing key example ("Examples of how to derive a signing key"):
        // secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
        let k_date = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        let k_region = hmac(&k_date, b"us-east-1");
        let k_service = hmac(&k_region, b"iam");
        let k_signing = hmac(&k_service, b"aws4_request");
        assert_eq!(
            hex::encode(k_signing),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
        assert_eq!(enc("a b/c~"), "a%20b%2Fc~");
    }
}
