//! Builds the guest components with a nested `cargo build --target
//! wasm32-wasip2` into its own target folder (`target/plugin-fixtures`),
//! so it never waits on the lock of the build that runs this script.

use std::path::{Path, PathBuf};
use std::process::Command;

fn build(manifest: &Path, target_dir: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_PRIMARY_PACKAGE")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            println!(
                "cargo:warning=building {} for wasm32-wasip2 failed ({s}); if the target is missing, run `rustup target add wasm32-wasip2` (scripts/test.sh does)",
                manifest.display()
            );
            std::process::exit(1);
        }
        Err(e) => {
            println!("cargo:warning=cannot run cargo: {e}");
            std::process::exit(1);
        }
    }
}

fn main() {
    let here = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = here.join("../../..");
    let target_dir = root.join("target/plugin-fixtures");
    let out = target_dir.join("wasm32-wasip2/release");

    for watched in [
        root.join("sdk/src"),
        root.join("sdk/wit"),
        root.join("sdk/Cargo.toml"),
        root.join("plugins/public-works/src"),
        root.join("plugins/public-works/Cargo.toml"),
        here.join("guests/hostile/src"),
        here.join("guests/hostile/Cargo.toml"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }

    build(&root.join("plugins/public-works/Cargo.toml"), &target_dir);
    build(&here.join("guests/hostile/Cargo.toml"), &target_dir);

    println!(
        "cargo:rustc-env=TOWNHALL_FIXTURE_PUBLIC_WORKS={}",
        out.join("public_works.wasm").display()
    );
    println!(
        "cargo:rustc-env=TOWNHALL_FIXTURE_HOSTILE={}",
        out.join("hostile.wasm").display()
    );
    println!(
        "cargo:rustc-env=TOWNHALL_FIXTURE_PUBLIC_WORKS_CONFIG={}",
        root.join("plugins/public-works/demo-config.json").display()
    );
}
