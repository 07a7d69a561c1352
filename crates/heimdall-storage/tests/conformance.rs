//! The core conformance kit against memory, local disk and the S3 test server, in every format.
#![allow(clippy::print_stderr)] // tests report skips and error texts on stderr

mod common;

use std::sync::Arc;

use heimdall_core::{DynIqSink, IqArchive, testkit};
use heimdall_storage::ArchiveFormat;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_all_backends_all_formats() {
    for format in [ArchiveFormat::Npy, ArchiveFormat::Sigmf, ArchiveFormat::Both] {
        for b in common::backends(&format!("conformance-{format}"), format) {
            eprintln!("conformance: {} ({format}) at {}", b.name, b.sink);
            testkit::sink_conformance(&b.sink, &b.sink).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_arc_and_box() {
    let b = common::backends("conformance-dyn", ArchiveFormat::Both).remove(0);
    let arc: Arc<DynIqSink> = Arc::new(b.sink.clone());
    let archive: Arc<dyn IqArchive> = Arc::new(b.sink.clone());
    testkit::sink_conformance(&arc, archive.as_ref()).await;
    let boxed: Box<DynIqSink> = Box::new(b.sink.clone());
    testkit::sink_conformance(&boxed, &b.sink).await;
}
