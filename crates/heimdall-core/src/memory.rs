//! In-memory reference backends.
