//! Paths of the guest components built by this crate's build script, for
//! the plugin host's tests and benchmark (like Spin's `test-components`).
//!
//! **Must never:** be a dependency of shipped code.

/// The Public Works plugin (`plugins/public-works`), a well-behaved plugin.
pub const PUBLIC_WORKS: &str = env!("TOWNHALL_FIXTURE_PUBLIC_WORKS");

/// Its demo configuration (four wards around 39.7817, -89.6501).
pub const PUBLIC_WORKS_CONFIG: &str = env!("TOWNHALL_FIXTURE_PUBLIC_WORKS_CONFIG");

/// The hostile guest: each of its services misbehaves in one way (see
/// `guests/hostile/src/lib.rs`).
pub const HOSTILE: &str = env!("TOWNHALL_FIXTURE_HOSTILE");
