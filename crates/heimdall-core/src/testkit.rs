//! Conformance test-kit.
