//! The core conformance kit (`heimdall_core::testkit::metric_store_conformance`) on every backend.
#![cfg(all(feature = "postgres", feature = "sqlite"))]
#![allow(clippy::print_stderr)]

mod common;

#[tokio::test(flavor = "multi_thread")]
async fn core_conformance_kit_on_every_backend() {
    common::on_all_backends("conformance", |db, name| async move {
        eprintln!("conformance on {name}");
        heimdall_core::testkit::metric_store_conformance(db.as_ref(), db.as_ref(), db.as_ref()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn localizations_conform_on_every_backend() {
    common::on_all_backends("localizations", |db, name| async move {
        eprintln!("localizations on {name}");
        heimdall_core::testkit::localization_store_conformance(db.as_ref()).await;
    })
    .await;
}
