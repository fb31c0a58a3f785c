//! One module per host capability of `townhall:plugin@0.1.0`, each
//! implementing its generated `Host` trait for [`crate::state::CallState`].
//! Deny by default: a capability that needs a grant checks it on every
//! call, and a call without the grant ends the plugin call with
//! `PLUGIN_CAPABILITY_DENIED`.
//!
//! | capability | grant needed |
//! |---|---|
//! | `log` | none (bounded: 100 lines of 4 KiB per call) |
//! | `clock` | none (the server's `Clock`) |
//! | `config` | none (the install's own configuration and secrets) |
//! | `kv` | `kv` (read-only in validate and route) |
//! | `http` | `http:HOST[:PORT]` per host |

mod clock;
mod config;
mod http;
mod kv;
mod log;

use crate::bindings::v0_1_0::townhall::plugin::types;
use crate::state::CallState;

impl types::Host for CallState {}
