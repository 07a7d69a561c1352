//! The buffer of one part of an upload: an anonymous memory mapping of the part size.
//!
//! A writer's chunks are copied into the part, which is handed to the store as one [`Bytes`];
//! when the part has been uploaded the mapping is unmapped and its memory is back with the
//! system at once. With chunk-sized heap allocations freed on other threads than the ones that
//! made them, the allocator kept about 20 MiB more resident at the peak of 7 concurrent 32 MiB
//! uploads (`storage_bench large`: 72 MiB above baseline, 48 MiB with glibc's arenas limited).
//! Pages are only resident once written, so a small object costs what it holds.

use bytes::Bytes;
use memmap2::MmapMut;

/// Bytes being collected for one part (or one small object).
#[derive(Debug)]
pub(crate) struct PartBuffer {
    backing: Backing,
    len: usize,
    capacity: usize,
}

#[derive(Debug)]
enum Backing {
    Map(MmapMut),
    /// When the system refuses a mapping: an ordinary allocation.
    Heap(Vec<u8>),
}

/// A filled buffer, the owner behind the [`Bytes`] handed to the store.
struct Frozen(PartBuffer);

impl AsRef<[u8]> for Frozen {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl PartBuffer {
    /// An empty buffer for up to `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        let backing = match MmapMut::map_anon(capacity.max(1)) {
            Ok(map) => Backing::Map(map),
            Err(e) => {
                tracing::debug!(error = %e, capacity, "anonymous mapping refused; part buffer on the heap");
                Backing::Heap(Vec::with_capacity(capacity))
            }
        };
        PartBuffer {
            backing,
            len: 0,
            capacity,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes that can still be appended.
    pub(crate) fn room(&self) -> usize {
        self.capacity - self.len
    }

    /// Appends `bytes`, at most [`room`](Self::room) of them; returns how many were taken.
    pub(crate) fn extend(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.room());
        let (head, _) = bytes.split_at(n);
        match &mut self.backing {
            Backing::Map(m) => {
                if let Some(dst) = m.get_mut(self.len..self.len + n) {
                    dst.copy_from_slice(head);
                }
            }
            Backing::Heap(v) => v.extend_from_slice(head),
        }
        self.len += n;
        n
    }

    fn as_slice(&self) -> &[u8] {
        match &self.backing {
            Backing::Map(m) => m.get(..self.len).unwrap_or_default(),
            Backing::Heap(v) => v.as_slice(),
        }
    }

    /// The collected bytes, without a copy; the memory is released when the last clone drops.
    pub(crate) fn freeze(self) -> Bytes {
        Bytes::from_owner(Frozen(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_up_to_its_capacity_and_freezes_without_copy() {
        let mut p = PartBuffer::new(10);
        assert!(p.is_empty());
        assert_eq!(p.extend(b"hello"), 5);
        assert_eq!(p.extend(b" world!"), 5, "only the room left is taken");
        assert_eq!(p.room(), 0);
        assert_eq!(p.extend(b"x"), 0);
        let b = p.freeze();
        assert_eq!(&b[..], b"hello worl");
        assert_eq!(&b.slice(6..)[..], b"worl");
    }

    #[test]
    fn an_empty_buffer_freezes_to_nothing() {
        let mut zero = PartBuffer::new(0);
        assert_eq!(zero.extend(b"x"), 0);
        assert!(zero.freeze().is_empty());
        assert!(PartBuffer::new(1 << 20).freeze().is_empty());
    }
}
