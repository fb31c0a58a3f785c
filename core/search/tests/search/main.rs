//! The search crate's one test binary.
//!
//! - `conformance`: the suite both engines must pass (Meilisearch only when
//!   `MEILISEARCH_URL` names a server; otherwise one test says it was skipped);
//! - `embedded`: what only the tantivy engine does (recreating a missing or
//!   corrupt index, committing on its own within a second, one writer);
//! - `pipeline`: the index fed from a real database (SQLite and PostgreSQL):
//!   the outbox handler, `reindex` and `catch_up`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod conformance;
mod embedded;
mod pipeline;
