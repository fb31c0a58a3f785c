//! The `townhall` binary's library: configuration, command line, wiring,
//! demo data. `main.rs` only parses arguments and calls [`cli::run`].
//!
//! **Must never:** hold domain rules or SQL; it connects the layers.

pub mod app;
pub mod cli;
pub mod config;
pub mod mail;
pub mod notify;
pub mod seed;
