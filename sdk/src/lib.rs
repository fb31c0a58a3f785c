//! Write Townhall plugins in Rust: one type, one macro.
//!
//! ```text
//! use townhall_sdk::*;
//!
//! pub struct Graffiti;
//!
//! impl Department for Graffiti {
//!     fn manifest() -> Manifest { /* services, capabilities */ }
//!     fn validate(intake: &Intake) -> Result<(), Vec<FieldError>> { Ok(()) }
//!     fn route(intake: &Intake, defaults: Routing) -> Routing { defaults }
//!     fn on_event(event: &Event) -> Vec<Action> { vec![] }
//! }
//!
//! townhall_sdk::export_department!(Graffiti);
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` turns the crate (with
//! `crate-type = ["cdylib", "rlib"]`) into a component implementing the
//! `department-plugin` world of `townhall:plugin@0.1.0` (see `wit/`), and
//! `cargo test` runs the same code natively against
//! [`testing::MockHost`]. The guide is `docs/plugins.md`.
//!
//! **Must never:** expose the generated bindings as the authoring API (the
//! plain types in [`types`] are the API, so the WIT can stay frozen while
//! the SDK improves), or give a plugin a way around its grants.

extern crate self as townhall_sdk;

pub mod capability;
pub mod host;
pub mod testing;
pub mod types;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use host::{HttpError, HttpRequest, HttpResponse, KvError, Level, clock, config, http, kv, log};
pub use types::*;

/// The interface version this SDK builds plugins for.
pub const INTERFACE_VERSION: &str = "0.1.0";

/// A department plugin: the services it owns and its hooks. Every call runs
/// in a fresh instance, so keep no state in statics between calls; use the
/// key-value store ([`kv`]) from `on_event` instead.
pub trait Department {
    /// The plugin's id, version, services and requested capabilities.
    fn manifest() -> Manifest;

    /// May reject an intake with per-field errors. Runs before the request
    /// is stored; the key-value store is read-only here.
    fn validate(intake: &Intake) -> Result<(), Vec<FieldError>> {
        let _ = intake;
        Ok(())
    }

    /// Chooses department, priority, queue and SLA, starting from the
    /// catalog's `defaults`. The key-value store is read-only here.
    fn route(intake: &Intake, defaults: Routing) -> Routing {
        let _ = intake;
        defaults
    }

    /// Reacts after a change to one of its requests was committed. The
    /// returned actions are applied by the host on the plugin's behalf.
    fn on_event(event: &Event) -> Vec<Action> {
        let _ = event;
        Vec::new()
    }
}

#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::wasm::*;
}

/// Exports a [`Department`] implementation as the plugin component's entry
/// points. Use once, at the crate root. On native targets it expands to
/// nothing, so `cargo test` needs no wasm toolchain.
#[macro_export]
macro_rules! export_department {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        mod __townhall_department_export {
            use super::*;
            use $crate::__private as __th;

            struct Export;

            impl __th::DepartmentGuest for Export {
                fn manifest() -> __th::WitManifest {
                    __th::manifest::<$ty>()
                }
                fn validate(intake: __th::WitIntake) -> ::core::result::Result<(), ::std::vec::Vec<__th::WitFieldError>> {
                    __th::validate::<$ty>(intake)
                }
                fn route(intake: __th::WitIntake, defaults: __th::WitRouting) -> __th::WitRouting {
                    __th::route::<$ty>(intake, defaults)
                }
                fn on_event(event: __th::WitEvent) -> ::std::vec::Vec<__th::WitAction> {
                    __th::on_event::<$ty>(event)
                }
            }

            $crate::__private::bindings::__export_department_plugin!(Export with_types_in $crate::__private::bindings);
        }
    };
}
