//! Host bindings for the worlds of `townhall:plugin@0.1.0` (the frozen WIT
//! in `sdk/wit/v0.1.0/`). A future interface version gets its own module
//! here, and the host keeps every version it lists in
//! [`crate::SUPPORTED_INTERFACE_VERSIONS`].

#![allow(missing_docs, clippy::all)]

pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/v0.1.0",
        world: "department-plugin",
        imports: { default: trappable },
    });
}
