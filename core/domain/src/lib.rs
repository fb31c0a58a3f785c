//! Townhall's domain: the rules of a service request, free of every framework.
//!
//! This crate decides what a valid intake is, which status changes are
//! allowed, how a status maps onto Open311's `open`/`closed`, when a request
//! is due under its service-level target, and what a tracking number looks
//! like. It performs no I/O and never reads the wall clock itself: time comes
//! in through [`clock::Clock`] so that tests can move it.
//!
//! **Must never:** depend on axum, async-graphql, sea-orm, sqlx, wasmtime,
//! tantivy or tokio (checked in CI with `cargo tree -i`).

pub mod attributes;
pub mod clock;
pub mod error;
pub mod event;
pub mod ids;
pub mod intake;
pub mod priority;
pub mod routing;
pub mod service;
pub mod sla;
pub mod status;
pub mod tracking;

pub use error::{DomainError, FieldError};
pub use event::EventKind;
pub use priority::Priority;
pub use status::{Open311Status, Status};
