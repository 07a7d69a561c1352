use std::sync::Arc;

use crate::sink::IqSink;
use crate::store::MetricStore;

use super::localization::localization_store_conformance;
use super::metric_store::metric_store_conformance;
use super::sink::sink_conformance;
use crate::memory::{MemorySink, MemoryStore};

#[tokio::test(flavor = "multi_thread")]
async fn memory_sink_conforms() {
    let sink = MemorySink::new();
    sink_conformance(&sink, &sink).await;
    // Through Arc<dyn> and Box<dyn> as well.
    let arc: Arc<dyn IqSink> = Arc::new(sink.clone());
    sink_conformance(&arc, &sink).await;
    let boxed: Box<dyn IqSink> = Box::new(sink.clone());
    sink_conformance(&boxed, &sink).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_conforms() {
    let store = MemoryStore::new();
    metric_store_conformance(&store, &store, &store).await;
    let q = MemoryStore::new();
    let arc: Arc<dyn MetricStore> = Arc::new(q.clone());
    metric_store_conformance(&arc, &q, &q).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_keeps_localizations() {
    let store = MemoryStore::new();
    localization_store_conformance(&store).await;
    let arc: Arc<dyn crate::LocalizationStore> = Arc::new(MemoryStore::new());
    localization_store_conformance(&arc).await;
}
