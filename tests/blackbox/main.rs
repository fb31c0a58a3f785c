//! Black-box tests: the real server, started on port 0 against a fresh
//! database, driven over HTTP. Every test runs on SQLite and on PostgreSQL
//! (`TOWNHALL_TEST_POSTGRES_URL`, default the local server).
//!
//! One test binary for the whole suite (every binary links the whole
//! world): add modules here, not files under `tests/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod access;
mod accounts;
mod catalog;
mod cli;
mod docs;
mod durability;
mod oidc;
mod open311;
mod ops;
mod plugins;
mod privacy;
mod requests;
mod search;
mod workflow;
