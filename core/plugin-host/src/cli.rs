//! The `townhall plugin …` commands, for the server binary to dispatch.
//! Each takes the opened [`Store`] and the same data directory and
//! `[plugins]` configuration as `serve`, and writes what it did to `out`.
//! A server already running on the same database picks the change up on
//! its next sync (within `sync_interval_ms`).
//!
//! **Must never:** print secret values.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use townhall_domain::clock::SystemClock;
use townhall_store::Store;

use crate::{HostConfig, InstallRequest, PluginError, PluginHost};

/// `townhall plugin install FILE [--grant CAP]… [--config FILE.json]
/// [--secret NAME=VALUE]… [--signature FILE.sig] [--jurisdiction ID] [--upgrade]`
#[derive(Debug, Clone, Default)]
pub struct InstallArgs {
    pub file: PathBuf,
    pub grants: Vec<String>,
    /// A JSON file with the install's configuration.
    pub config_file: Option<PathBuf>,
    /// `NAME=VALUE` pairs.
    pub secrets: Vec<String>,
    /// Detached signature; defaults to `FILE.sig` when that exists.
    pub signature: Option<PathBuf>,
    pub jurisdiction: Option<String>,
    /// Replace an installed version instead of refusing.
    pub upgrade: bool,
}

fn io(path: &Path, e: std::io::Error) -> PluginError {
    PluginError::Io(format!("{}: {e}", path.display()))
}

fn w(out: &mut dyn Write, line: impl AsRef<str>) -> Result<(), PluginError> {
    writeln!(out, "{}", line.as_ref()).map_err(|e| PluginError::Io(e.to_string()))
}

/// Opens a plugin host on `store` for one command.
pub async fn host(store: Store, data_dir: &Path, config: &HostConfig) -> Result<PluginHost, PluginError> {
    PluginHost::new(store, Some(data_dir), Arc::new(SystemClock), config.clone()).await
}

fn sig_path(file: &Path) -> PathBuf {
    let mut p = file.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

/// `townhall plugin install`.
pub async fn install(
    store: Store,
    data_dir: &Path,
    config: &HostConfig,
    args: &InstallArgs,
    out: &mut dyn Write,
) -> Result<(), PluginError> {
    let component = std::fs::read(&args.file).map_err(|e| io(&args.file, e))?;
    let sig_file = args
        .signature
        .clone()
        .or_else(|| Some(sig_path(&args.file)).filter(|p| p.is_file()));
    let signature = match &sig_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| io(p, e))?;
            Some(crate::signing::decode(&text).ok_or(PluginError::BadSignature)?)
        }
        None => None,
    };
    let plugin_config = match &args.config_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| io(p, e))?;
            Some(serde_json::from_str(&text).map_err(|e| PluginError::Io(format!("{}: not JSON: {e}", p.display())))?)
        }
        None => None,
    };
    let mut secrets = BTreeMap::new();
    for s in &args.secrets {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            PluginError::Io(format!(
                "--secret takes NAME=VALUE, got `{}`",
                s.split('=').next().unwrap_or("")
            ))
        })?;
        secrets.insert(k.to_owned(), v.to_owned());
    }
    let host = host(store, data_dir, config).await?;
    let inspection = host.inspect(&component, signature.as_deref()).await?;
    w(
        out,
        format!(
            "{} {} ({}), interface {}",
            inspection.plugin_id, inspection.version, inspection.name, inspection.interface_version
        ),
    )?;
    w(out, format!("  sha256: {}", inspection.sha256))?;
    w(out, format!("  services: {}", inspection.services.join(", ")))?;
    if inspection.capabilities.is_empty() {
        w(out, "  asks for no capabilities")?;
    } else {
        w(out, "  asks for:")?;
        for c in &inspection.capabilities {
            let mark = if args.grants.contains(c) {
                "granted"
            } else {
                "NOT granted (add --grant to allow)"
            };
            w(out, format!("    {c}: {mark}"))?;
        }
    }
    let req = InstallRequest {
        jurisdiction_id: args.jurisdiction.clone(),
        component,
        signature,
        grants: args.grants.clone(),
        config: plugin_config,
        secrets,
        limits: None,
    };
    let report = if args.upgrade {
        host.install_or_upgrade(req).await?
    } else {
        host.install(req).await?
    };
    match &report.previous_version {
        Some(v) => w(
            out,
            format!(
                "upgraded {} from {v} to {}",
                report.install.plugin_id, report.install.version
            ),
        )?,
        None => w(
            out,
            format!("installed {} {}", report.install.plugin_id, report.install.version),
        )?,
    }
    if !report.retired_services.is_empty() {
        w(
            out,
            format!("  services leaving the catalog: {}", report.retired_services.join(", ")),
        )?;
    }
    if !report.not_granted.is_empty() {
        w(
            out,
            format!(
                "  not granted: {} (calls using them fail with PLUGIN_CAPABILITY_DENIED)",
                report.not_granted.join(", ")
            ),
        )?;
    }
    Ok(())
}

/// `townhall plugin list`.
pub async fn list(store: Store, jurisdiction: Option<&str>, out: &mut dyn Write) -> Result<(), PluginError> {
    let installs = store.plugin_installs(jurisdiction).await?;
    if installs.is_empty() {
        return w(out, "no plugins installed");
    }
    w(out, "JURISDICTION\tPLUGIN\tVERSION\tSTATE\tFAULTS\tSERVICES\tGRANTS")?;
    for i in installs {
        let state = if i.enabled {
            "enabled".to_owned()
        } else {
            format!(
                "disabled ({})",
                i.disabled_reason.as_deref().unwrap_or("by an administrator")
            )
        };
        w(
            out,
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                i.jurisdiction_id,
                i.plugin_id,
                i.version,
                state,
                i.fault_count,
                i.services.join(","),
                if i.grants.is_empty() {
                    "-".to_owned()
                } else {
                    i.grants.join(",")
                }
            ),
        )?;
    }
    Ok(())
}

/// `townhall plugin uninstall PLUGIN_ID`.
pub async fn uninstall(
    store: Store,
    data_dir: &Path,
    config: &HostConfig,
    jurisdiction: Option<&str>,
    plugin_id: &str,
    out: &mut dyn Write,
) -> Result<(), PluginError> {
    let host = host(store, data_dir, config).await?;
    let retired = host.uninstall(jurisdiction, plugin_id).await?;
    w(
        out,
        format!(
            "uninstalled {plugin_id}; services left the catalog: {}",
            retired.join(", ")
        ),
    )
}

/// `townhall plugin new NAME [--dir DIR] [--sdk-path PATH]`: scaffolds a
/// plugin crate in `dir/NAME`.
pub fn new_plugin(
    name: &str,
    dir: &Path,
    sdk_path: Option<&Path>,
    out: &mut dyn Write,
) -> Result<PathBuf, PluginError> {
    let path = crate::scaffold::new_plugin(name, dir, sdk_path)?;
    w(out, format!("created {}", path.display()))?;
    w(
        out,
        format!(
            "build it:   cd {} && cargo build --release --target wasm32-wasip2",
            path.display()
        ),
    )?;
    w(
        out,
        format!(
            "install it: townhall plugin install {}",
            crate::scaffold::component_path(&path, name).display()
        ),
    )?;
    Ok(path)
}
