//! The old service's bucket handling: created only on request (`ensure_bucket`), on the S3 test
//! server (SeaweedFS).

mod common;

use heimdall_storage::ArchiveBuilder;
use object_store::ObjectStore;
use object_store::signer::Signer;

#[tokio::test]
async fn ensure_bucket_creates_a_missing_bucket_once() {
    let Some(base) = common::s3_base("ensure_bucket_creates_a_missing_bucket_once") else {
        return;
    };
    assert!(base.starts_with("s3://"));
    let bucket = format!("heimdall-legacy-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let url = format!("s3://{bucket}/prefix");
    let builder = ArchiveBuilder::from_url(&url);
    let sink = builder.clone().build().unwrap();
    let store = sink.store().clone();
    // Missing: listing fails.
    assert!(
        store.list_with_delimiter(None).await.is_err(),
        "{bucket} exists already"
    );
    assert!(builder.ensure_bucket().await.unwrap(), "created");
    assert!(!builder.ensure_bucket().await.unwrap(), "exists: not created twice");
    let listing = store.list_with_delimiter(None).await.unwrap();
    assert!(listing.objects.is_empty());
    // Non-S3 URLs have no bucket.
    assert!(!ArchiveBuilder::from_url("memory://").ensure_bucket().await.unwrap());

    // Clean up the (empty) bucket: a signed DELETE /{bucket}.
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .build()
        .unwrap();
    let signed = s3
        .signed_url(
            reqwest::Method::DELETE,
            &object_store::path::Path::default(),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .delete(signed.as_str().trim_end_matches('/'))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "delete bucket: {}", r.status());
}
