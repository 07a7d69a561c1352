//! Mapping the integer `websdr_id` of the Python service Heimdall replaces (FastAPI + Celery, boto3, SQLAlchemy)
//! to Heimdall receivers.

use std::collections::BTreeMap;

use heimdall_core::{Error, ReceiverId, ReceiverInfo, ReceiverKind, Result};

/// Maps the old Python (FastAPI/Celery) service's integer `websdr_id` to Heimdall receivers.
///
/// The old service numbered the active stations of its database 1, 2, ... in order, so
/// [`WebsdrMap::sequential`] over the same station list reproduces its ids; a mapping file
/// ([`WebsdrMap::parse`]) or registry entries with an integer `websdr_id` option
/// ([`WebsdrMap::insert`]) state them explicitly. An id with no mapping is imported as a
/// placeholder receiver `websdr-{n}` (and reported), so no capture is lost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebsdrMap {
    by_id: BTreeMap<i64, ReceiverInfo>,
}

impl WebsdrMap {
    /// An empty map (every id becomes a placeholder).
    pub fn new() -> Self {
        Self::default()
    }

    /// Ids 1, 2, ... given to `receivers` in order, as the old service numbered its stations.
    pub fn sequential(receivers: impl IntoIterator<Item = ReceiverInfo>) -> Self {
        WebsdrMap {
            by_id: (1..).zip(receivers).collect(),
        }
    }

    /// Maps `websdr_id` to `receiver` (replacing an earlier mapping).
    pub fn insert(&mut self, websdr_id: i64, receiver: ReceiverInfo) {
        self.by_id.insert(websdr_id, receiver);
    }

    /// Adds every mapping of `other`, replacing those of the same ids.
    pub fn extend(&mut self, other: WebsdrMap) {
        self.by_id.extend(other.by_id);
    }

    /// The receiver mapped to `websdr_id`, if any.
    pub fn get(&self, websdr_id: i64) -> Option<&ReceiverInfo> {
        self.by_id.get(&websdr_id)
    }

    /// The old id of `receiver`, if it is mapped.
    pub fn websdr_id_of(&self, receiver: &ReceiverId) -> Option<i64> {
        self.by_id.iter().find(|(_, r)| &r.id == receiver).map(|(n, _)| *n)
    }

    /// Number of mapped ids.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Parses a mapping file: one `N = receiver-id` (or `N receiver-id`) per line, `#` comments.
    /// `lookup` gives the full description of a known receiver (registry, receivers file); an
    /// unknown id is described by its id alone. Errors name the line.
    pub fn parse(text: &str, lookup: impl Fn(&ReceiverId) -> Option<ReceiverInfo>) -> Result<Self> {
        let mut map = WebsdrMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: &str| Error::invalid("websdr mapping", format!("line {}: {line:?}: {why}", i + 1));
            let (n, id) = line
                .split_once('=')
                .or_else(|| line.split_once(char::is_whitespace))
                .ok_or_else(|| bad("expected `N = receiver-id`"))?;
            let n: i64 = n.trim().parse().map_err(|_| bad("the websdr id is not an integer"))?;
            let id: ReceiverId = id
                .trim()
                .trim_matches('"')
                .parse()
                .map_err(|e: Error| bad(&e.to_string()))?;
            if map.by_id.contains_key(&n) {
                return Err(bad("this websdr id is mapped twice"));
            }
            let info = lookup(&id).unwrap_or_else(|| placeholder_info(id.clone(), n));
            map.insert(n, info);
        }
        Ok(map)
    }

    /// The receiver for `websdr_id` and whether it was mapped (else a placeholder).
    pub fn receiver(&self, websdr_id: i64) -> (ReceiverInfo, bool) {
        match self.get(websdr_id) {
            Some(r) => (r.clone(), true),
            None => {
                let id = ReceiverId::new(format!("websdr-{websdr_id}")).expect("digits and a dash form a valid id");
                (placeholder_info(id, websdr_id), false)
            }
        }
    }
}

pub(super) fn placeholder_info(id: ReceiverId, websdr_id: i64) -> ReceiverInfo {
    ReceiverInfo::new(
        id,
        format!("WebSDR {websdr_id} (old service)"),
        ReceiverKind::HttpIq,
        "",
    )
}
