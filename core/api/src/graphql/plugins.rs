//! Plugin administration for administrators: inspect a component's
//! requested capabilities, install or upgrade it with grants, grant and
//! revoke, enable and disable, configure, uninstall, and read its faults.
//! Every change is audited.

use std::collections::BTreeMap;

use async_graphql::{Context, InputObject, Json, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};
use townhall_access::Action;
use townhall_plugin_host::{InstallRequest, PluginHost};
use townhall_store::PluginInstall;

use super::{Can, Ctx, ctx};
use crate::error::{ApiError, GqlResultExt};

#[derive(Default)]
pub struct PluginQuery;

#[derive(Default)]
pub struct PluginMutation;

/// An installed plugin.
#[derive(SimpleObject)]
pub struct Plugin {
    pub id: String,
    pub name: String,
    pub version: String,
    /// The WIT interface version it was built for.
    pub interface_version: String,
    /// `department` or `integration`.
    pub kind: String,
    pub sha256: String,
    /// Capabilities its manifest asks for.
    pub requested_capabilities: Vec<String>,
    /// Capabilities an administrator granted.
    pub grants: Vec<String>,
    /// Service codes it owns.
    pub services: Vec<String>,
    pub enabled: bool,
    /// Why it is disabled (by an administrator, or after repeated faults).
    pub disabled_reason: Option<String>,
    pub fault_count: i64,
    pub last_fault: Option<String>,
    pub last_fault_at: Option<DateTime<Utc>>,
    pub config: Json<serde_json::Value>,
    /// Names of its secrets (never their values).
    pub secret_names: Vec<String>,
    pub installed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PluginInstall> for Plugin {
    fn from(p: PluginInstall) -> Self {
        Self {
            secret_names: p.secrets.names(),
            id: p.plugin_id,
            name: p.name,
            version: p.version,
            interface_version: p.interface_version,
            kind: p.kind,
            sha256: p.sha256,
            requested_capabilities: p.requested,
            grants: p.grants,
            services: p.services,
            enabled: p.enabled,
            disabled_reason: p.disabled_reason,
            fault_count: p.fault_count,
            last_fault: p.last_fault,
            last_fault_at: p.last_fault_at,
            config: Json(p.config),
            installed_at: p.installed_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct PluginInspection {
    pub id: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub interface_version: String,
    pub sha256: String,
    pub services: Vec<String>,
    /// What it would be able to do once granted.
    pub capabilities: Vec<String>,
    pub signed_by_trusted_key: bool,
}

#[derive(SimpleObject)]
pub struct PluginInstallResult {
    pub plugin: Plugin,
    pub previous_version: Option<String>,
    /// Asked for but not granted: calls using them fail until granted.
    pub not_granted: Vec<String>,
    /// Services an upgrade took out of the catalog.
    pub retired_services: Vec<String>,
}

#[derive(SimpleObject)]
pub struct PluginFaultGql {
    pub kind: String,
    pub code: String,
    pub message: String,
    pub hook: String,
    pub at: DateTime<Utc>,
}

#[derive(InputObject)]
pub struct SecretInput {
    pub name: String,
    pub value: String,
}

fn host<'a>(cx: &'a Ctx<'_>) -> async_graphql::Result<&'a PluginHost> {
    cx.state
        .plugins
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("PLUGIN_HOST_DISABLED", "this server runs no plugin host").into_graphql())
}

fn read_upload(c: &Context<'_>, upload: &Upload) -> async_graphql::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    upload
        .value(c)
        .map_err(|e| ApiError::bad_request("INVALID_UPLOAD", e.to_string()).into_graphql())?
        .into_read()
        .read_to_end(&mut bytes)
        .map_err(|e| ApiError::bad_request("INVALID_UPLOAD", e.to_string()).into_graphql())?;
    Ok(bytes)
}

async fn audit(cx: &Ctx<'_>, action: &str, plugin: &str, details: serde_json::Value) -> async_graphql::Result<()> {
    cx.state
        .access
        .audit(cx.who(), action, "plugin", Some(plugin.to_owned()), Some(details))
        .await
        .gql()
}

#[Object]
impl PluginQuery {
    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn plugins(&self, c: &Context<'_>, jurisdiction_id: Option<String>) -> async_graphql::Result<Vec<Plugin>> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        Ok(host(&cx)?
            .list(Some(&j.id))
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn plugin_faults(
        &self,
        c: &Context<'_>,
        id: String,
        #[graphql(default = 50)] first: i32,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Vec<PluginFaultGql>> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let first = u64::try_from(first.clamp(1, 500)).unwrap_or(50);
        Ok(host(&cx)?
            .faults(Some(&j.id), &id, first)
            .await
            .gql()?
            .into_iter()
            .map(|f| PluginFaultGql {
                code: serde_json::from_value::<townhall_intake::FaultKind>(serde_json::json!(f.kind))
                    .map_or_else(|_| "PLUGIN_FAULT".to_owned(), |k| k.code().to_owned()),
                kind: f.kind,
                message: f.message,
                hook: f.hook,
                at: f.at,
            })
            .collect())
    }
}

#[Object]
impl PluginMutation {
    /// Reads what a component is and asks for, without installing it.
    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn inspect_plugin(
        &self,
        c: &Context<'_>,
        component: Upload,
        signature: Option<Upload>,
    ) -> async_graphql::Result<PluginInspection> {
        let cx = ctx(c)?;
        let bytes = read_upload(c, &component)?;
        let sig = signature.map(|s| read_upload(c, &s)).transpose()?;
        let i = host(&cx)?.inspect(&bytes, sig.as_deref()).await.gql()?;
        Ok(PluginInspection {
            id: i.plugin_id,
            name: i.name,
            version: i.version,
            description: i.description,
            interface_version: i.interface_version,
            sha256: i.sha256,
            services: i.services,
            capabilities: i.capabilities,
            signed_by_trusted_key: i.signed_by_trusted_key,
        })
    }

    /// Installs a component (or, with `upgrade`, replaces the installed
    /// version atomically) with the capabilities granted here.
    #[graphql(guard = "Can(Action::ManagePlugins)")]
    #[allow(clippy::too_many_arguments)]
    async fn install_plugin(
        &self,
        c: &Context<'_>,
        component: Upload,
        signature: Option<Upload>,
        #[graphql(default)] grants: Vec<String>,
        config: Option<Json<serde_json::Value>>,
        #[graphql(default)] secrets: Vec<SecretInput>,
        #[graphql(default = false)] upgrade: bool,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<PluginInstallResult> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let req = InstallRequest {
            jurisdiction_id: Some(j.id.clone()),
            component: read_upload(c, &component)?,
            signature: signature.map(|s| read_upload(c, &s)).transpose()?,
            grants,
            config: config.map(|j| j.0),
            secrets: secrets
                .into_iter()
                .map(|s| (s.name, s.value))
                .collect::<BTreeMap<_, _>>(),
            limits: None,
        };
        let h = host(&cx)?;
        let report = if upgrade {
            h.install_or_upgrade(req).await
        } else {
            h.install(req).await
        }
        .gql()?;
        cx.state.intake.catalog().invalidate();
        audit(
            &cx,
            if report.previous_version.is_some() { "upgrade_plugin" } else { "install_plugin" },
            &report.install.plugin_id,
            serde_json::json!({ "version": report.install.version, "sha256": report.install.sha256, "grants": report.install.grants }),
        )
        .await?;
        Ok(PluginInstallResult {
            previous_version: report.previous_version,
            not_granted: report.not_granted,
            retired_services: report.retired_services,
            plugin: report.install.into(),
        })
    }

    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn grant_plugin_capabilities(
        &self,
        c: &Context<'_>,
        id: String,
        capabilities: Vec<String>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Plugin> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let p = host(&cx)?.grant(Some(&j.id), &id, &capabilities).await.gql()?;
        audit(
            &cx,
            "grant_plugin",
            &id,
            serde_json::json!({ "capabilities": capabilities }),
        )
        .await?;
        Ok(p.into())
    }

    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn revoke_plugin_capabilities(
        &self,
        c: &Context<'_>,
        id: String,
        capabilities: Vec<String>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Plugin> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let p = host(&cx)?.revoke(Some(&j.id), &id, &capabilities).await.gql()?;
        audit(
            &cx,
            "revoke_plugin",
            &id,
            serde_json::json!({ "capabilities": capabilities }),
        )
        .await?;
        Ok(p.into())
    }

    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn enable_plugin(
        &self,
        c: &Context<'_>,
        id: String,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Plugin> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let p = host(&cx)?.enable(Some(&j.id), &id).await.gql()?;
        audit(&cx, "enable_plugin", &id, serde_json::json!({})).await?;
        Ok(p.into())
    }

    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn disable_plugin(
        &self,
        c: &Context<'_>,
        id: String,
        reason: String,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Plugin> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let p = host(&cx)?.disable(Some(&j.id), &id, &reason).await.gql()?;
        audit(&cx, "disable_plugin", &id, serde_json::json!({ "reason": reason })).await?;
        Ok(p.into())
    }

    /// Replaces a plugin's configuration and/or merges secrets.
    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn configure_plugin(
        &self,
        c: &Context<'_>,
        id: String,
        config: Option<Json<serde_json::Value>>,
        secrets: Option<Vec<SecretInput>>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Plugin> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let names: Vec<String> = secrets.iter().flatten().map(|s| s.name.clone()).collect();
        let secrets = secrets.map(|v| v.into_iter().map(|s| (s.name, s.value)).collect::<BTreeMap<_, _>>());
        let p = host(&cx)?
            .configure(Some(&j.id), &id, config.map(|j| j.0), secrets, None)
            .await
            .gql()?;
        audit(&cx, "configure_plugin", &id, serde_json::json!({ "secrets": names })).await?;
        Ok(p.into())
    }

    /// Removes a plugin: its services leave the catalog; their requests and
    /// histories stay. Returns the retired service codes.
    #[graphql(guard = "Can(Action::ManagePlugins)")]
    async fn uninstall_plugin(
        &self,
        c: &Context<'_>,
        id: String,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Vec<String>> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let retired = host(&cx)?.uninstall(Some(&j.id), &id).await.gql()?;
        cx.state.intake.catalog().invalidate();
        audit(
            &cx,
            "uninstall_plugin",
            &id,
            serde_json::json!({ "retired_services": retired }),
        )
        .await?;
        Ok(retired)
    }
}
