//! `townhall plugin new NAME`: a plugin crate that builds as-is.
//!
//! **Must never:** overwrite an existing folder.

use std::path::{Path, PathBuf};

use crate::PluginError;

fn valid_name(name: &str) -> bool {
    (2..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Where `cargo build --release --target wasm32-wasip2` puts the component.
pub fn component_path(crate_dir: &Path, name: &str) -> PathBuf {
    crate_dir
        .join("target/wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Writes `dir/NAME/{Cargo.toml,src/lib.rs,config.json}` and returns the
/// crate folder. `sdk_path` points the crate at a local SDK checkout
/// (otherwise it uses the Townhall repository).
pub fn new_plugin(name: &str, dir: &Path, sdk_path: Option<&Path>) -> Result<PathBuf, PluginError> {
    if !valid_name(name) {
        return Err(PluginError::InvalidManifest(format!(
            "`{name}` is not a plugin name: 2-63 lower-case letters, digits or dashes, starting with a letter"
        )));
    }
    let root = dir.join(name);
    if root.exists() {
        return Err(PluginError::Io(format!("{} already exists", root.display())));
    }
    let sdk = match sdk_path {
        Some(p) => format!("{{ path = {} }}", toml_string(&p.display().to_string())),
        None => "{ git = \"https://github.com/townhall-civic/townhall\" }".to_owned(),
    };
    let ident: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let cargo = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

# cdylib: the component; rlib: so `cargo test` can run the logic natively.
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
serde = {{ version = "1", features = ["derive"] }}
townhall-sdk = {sdk}

[dev-dependencies]
serde_json = "1"

[profile.release]
opt-level = "s"
lto = true

# A plugin is its own workspace.
[workspace]
"#
    );
    let lib = format!(
        r#"//! The `{name}` Townhall plugin.

use serde::Deserialize;
use townhall_sdk::*;

/// This install's configuration (`townhall plugin install … --config config.json`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Config {{
    /// The crew (queue) new reports go to.
    crew: Option<String>,
}}

pub struct {ident};

impl Department for {ident} {{
    fn manifest() -> Manifest {{
        let mut service = Service::new("{name}", "{ident}", "public-works", Priority::Medium, Sla::BusinessDays(5));
        service.attributes = vec![
            Attribute::new("urgent", Datatype::Singlevaluelist, "Is it dangerous?")
                .required()
                .values(&[("yes", "Yes"), ("no", "No")]),
        ];
        Manifest {{
            id: "{name}".into(),
            name: "{ident}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: String::new(),
            services: vec![service],
            workflow: vec![],
            capabilities: vec![],
        }}
    }}

    fn validate(intake: &Intake) -> Result<(), Vec<FieldError>> {{
        if intake.location.is_none() {{
            return Err(vec![FieldError::new("lat", "LOCATION_REQUIRED", "Drop a pin on the map.")]);
        }}
        Ok(())
    }}

    fn route(intake: &Intake, mut defaults: Routing) -> Routing {{
        let config: Config = config::get().unwrap_or_default();
        defaults.queue = config.crew;
        if intake.answer("urgent") == Some("yes") {{
            defaults.priority = defaults.priority.raised();
        }}
        defaults
    }}
}}

townhall_sdk::export_department!({ident});

#[cfg(test)]
mod tests {{
    use super::*;
    use townhall_sdk::testing::MockHost;

    #[test]
    fn urgent_reports_go_up_a_priority() {{
        let host = MockHost::new().config(serde_json::json!({{"crew": "day-crew"}}));
        let intake = Intake {{
            service_code: "{name}".into(),
            location: Some(Location {{ lat: 39.78, long: -89.65 }}),
            ..Intake::default()
        }}
        .with_answer("urgent", "yes");
        host.validate::<{ident}>(&intake).unwrap();
        let defaults = Routing {{ department: None, priority: Priority::Medium, queue: None, sla: Sla::BusinessDays(5) }};
        let routed = host.route::<{ident}>(&intake, defaults);
        assert_eq!(routed.priority, Priority::High);
        assert_eq!(routed.queue.as_deref(), Some("day-crew"));
    }}
}}
"#
    );
    let write =
        |p: PathBuf, text: &str| std::fs::write(&p, text).map_err(|e| PluginError::Io(format!("{}: {e}", p.display())));
    std::fs::create_dir_all(root.join("src")).map_err(|e| PluginError::Io(format!("{}: {e}", root.display())))?;
    write(root.join("Cargo.toml"), &cargo)?;
    write(root.join("src/lib.rs"), &lib)?;
    write(root.join("config.json"), "{\n  \"crew\": \"day-crew\"\n}\n")?;
    write(root.join(".gitignore"), "/target\n")?;
    Ok(root)
}
