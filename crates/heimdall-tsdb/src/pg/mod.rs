//! PostgreSQL backend: `AsyncPgConnection` through a lazily created bb8 pool.
//!
//! Batches are written with one `INSERT ... SELECT FROM UNNEST($1::text[], ...)` statement per
//! chunk: 25 array parameters whatever the row count, so PostgreSQL's 65 535 bind-parameter limit
//! never applies, and a whole session's rows travel in one round trip.

mod localizations;
mod read;
mod receivers;
mod store;
mod write;

pub use store::MIGRATIONS;
pub(crate) use store::{BACKEND, MAX_BIND_PARAMS, PgStore};
