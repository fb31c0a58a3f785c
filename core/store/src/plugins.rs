//! Plugin installs, their components, their private key-value stores and
//! their fault log.
//!
//! Every change to an install bumps one revision counter (the single row of
//! `plugin_revision`) in the same transaction, and stamps the install with
//! it: a server polling [`Store::plugin_revision`] sees any change made by
//! another process (the CLI, another replica) on its next poll. Installing
//! and upgrading write the install, its component bytes and its services in
//! the catalog in one transaction; uninstalling takes its services out of
//! the catalog (their requests and history stay) in one transaction.
//!
//! **Must never:** run, compile or interpret a component (the plugin host
//! does); hand out secret values except through [`PluginInstall::secrets`],
//! whose `Debug` shows names only.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use townhall_domain::service::ServiceDefinition;

use crate::Store;
use crate::entities::{plugin_component, plugin_fault, plugin_install, plugin_kv, plugin_revision, service};
use crate::error::{Result, StoreError};

/// Secret values of one install, by name. `Debug` prints the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(pub BTreeMap<String, String>);

impl Secrets {
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.0.keys().map(|k| (k, "<redacted>"))).finish()
    }
}

/// One installed plugin in one jurisdiction.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginInstall {
    pub jurisdiction_id: String,
    pub plugin_id: String,
    pub name: String,
    pub version: String,
    /// The WIT interface version it was built for, e.g. `0.1.0`.
    pub interface_version: String,
    /// `department` or `integration`.
    pub kind: String,
    /// Lower-case hex sha256 of the component.
    pub sha256: String,
    /// Capabilities its manifest asks for.
    pub requested: Vec<String>,
    /// Capabilities an administrator granted.
    pub grants: Vec<String>,
    pub config: Value,
    pub secrets: Secrets,
    /// The host's per-install limits, as JSON (the host owns their shape).
    pub limits: Value,
    /// Service codes it owns in the catalog.
    pub services: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub fault_count: i64,
    pub last_fault_at: Option<DateTime<Utc>>,
    pub last_fault: Option<String>,
    /// The revision of its last change.
    pub revision: i64,
    pub installed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change to an install's settings. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginUpdate {
    pub grants: Option<Vec<String>>,
    pub config: Option<Value>,
    pub secrets: Option<Secrets>,
    pub limits: Option<Value>,
    /// `(enabled, reason)`; the reason is kept only when disabling.
    pub enabled: Option<(bool, Option<String>)>,
}

/// One recorded fault.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginFaultRecord {
    pub id: i64,
    pub jurisdiction_id: String,
    pub plugin_id: String,
    pub kind: String,
    pub hook: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

fn from_model(m: plugin_install::Model) -> PluginInstall {
    let secrets: BTreeMap<String, String> = serde_json::from_value(m.secrets).unwrap_or_default();
    PluginInstall {
        requested: strings(&m.requested),
        grants: strings(&m.grants),
        services: strings(&m.services),
        jurisdiction_id: m.jurisdiction_id,
        plugin_id: m.plugin_id,
        name: m.name,
        version: m.version,
        interface_version: m.interface_version,
        kind: m.kind,
        sha256: m.sha256,
        config: m.config,
        secrets: Secrets(secrets),
        limits: m.limits,
        enabled: m.enabled,
        disabled_reason: m.disabled_reason,
        fault_count: m.fault_count,
        last_fault_at: m.last_fault_at,
        last_fault: m.last_fault,
        revision: m.revision,
        installed_at: m.installed_at,
        updated_at: m.updated_at,
    }
}

async fn bump_revision(txn: &DatabaseTransaction) -> Result<i64> {
    plugin_revision::Entity::update_many()
        .col_expr(
            plugin_revision::Column::Revision,
            Expr::col(plugin_revision::Column::Revision).add(1),
        )
        .filter(plugin_revision::Column::Id.eq(1))
        .exec(txn)
        .await?;
    plugin_revision::Entity::find_by_id(1)
        .one(txn)
        .await?
        .map(|r| r.revision)
        .ok_or_else(|| StoreError::Corrupt("plugin_revision has no row".to_owned()))
}

async fn upsert_service(
    txn: &DatabaseTransaction,
    s: &ServiceDefinition,
    sort_order: i32,
    now: DateTime<Utc>,
) -> Result<()> {
    use service::Column as C;
    let model = service::ActiveModel {
        jurisdiction_id: Set(s.jurisdiction_id.clone()),
        code: Set(s.code.clone()),
        name: Set(s.name.clone()),
        description: Set(s.description.clone()),
        group_name: Set(s.group.clone()),
        keywords: Set(json!(s.keywords)),
        attributes: Set(json!(s.attributes)),
        default_priority: Set(s.default_priority.as_str().to_owned()),
        sla_amount: Set(i32::try_from(s.sla.amount).unwrap_or(i32::MAX)),
        sla_unit: Set(s.sla.unit.as_str().to_owned()),
        department_code: Set(s.department_id.clone()),
        plugin_id: Set(s.plugin_id.clone()),
        active: Set(s.active),
        public: Set(s.public),
        address_sensitive: Set(s.address_sensitive),
        anonymous_allowed: Set(s.anonymous_allowed),
        answers_with_token: Set(s.answers_with_token),
        sort_order: Set(sort_order),
        created_at: Set(now),
        updated_at: Set(now),
    };
    service::Entity::insert(model)
        .on_conflict(
            OnConflict::columns([C::JurisdictionId, C::Code])
                .update_columns([
                    C::Name,
                    C::Description,
                    C::GroupName,
                    C::Keywords,
                    C::Attributes,
                    C::DefaultPriority,
                    C::SlaAmount,
                    C::SlaUnit,
                    C::DepartmentCode,
                    C::PluginId,
                    C::Active,
                    C::Public,
                    C::AddressSensitive,
                    C::AnonymousAllowed,
                    C::AnswersWithToken,
                    C::SortOrder,
                    C::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

async fn deactivate_services(
    txn: &DatabaseTransaction,
    jurisdiction_id: &str,
    plugin_id: &str,
    codes: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    if codes.is_empty() {
        return Ok(());
    }
    service::Entity::update_many()
        .col_expr(service::Column::Active, false.into())
        .col_expr(service::Column::UpdatedAt, now.into())
        .filter(service::Column::JurisdictionId.eq(jurisdiction_id))
        .filter(service::Column::PluginId.eq(plugin_id))
        .filter(service::Column::Code.is_in(codes.iter().cloned()))
        .exec(txn)
        .await?;
    Ok(())
}

async fn drop_unused_component(txn: &DatabaseTransaction, sha256: &str) -> Result<()> {
    let users = plugin_install::Entity::find()
        .filter(plugin_install::Column::Sha256.eq(sha256))
        .count(txn)
        .await?;
    if users == 0 {
        plugin_component::Entity::delete_by_id(sha256.to_owned())
            .exec(txn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// The revision counter every plugin change bumps.
    pub async fn plugin_revision(&self) -> Result<i64> {
        Ok(plugin_revision::Entity::find_by_id(1)
            .one(self.read())
            .await?
            .map_or(0, |r| r.revision))
    }

    /// Installs, in one jurisdiction or all, ordered by jurisdiction and id.
    pub async fn plugin_installs(&self, jurisdiction_id: Option<&str>) -> Result<Vec<PluginInstall>> {
        let mut q = plugin_install::Entity::find();
        if let Some(j) = jurisdiction_id {
            q = q.filter(plugin_install::Column::JurisdictionId.eq(j));
        }
        Ok(q.order_by_asc(plugin_install::Column::JurisdictionId)
            .order_by_asc(plugin_install::Column::PluginId)
            .all(self.read())
            .await?
            .into_iter()
            .map(from_model)
            .collect())
    }

    pub async fn plugin_install(&self, jurisdiction_id: &str, plugin_id: &str) -> Result<PluginInstall> {
        plugin_install::Entity::find_by_id((jurisdiction_id.to_owned(), plugin_id.to_owned()))
            .one(self.read())
            .await?
            .map(from_model)
            .ok_or_else(|| StoreError::not_found("plugin", plugin_id))
    }

    /// The bytes of a stored component.
    pub async fn plugin_component(&self, sha256: &str) -> Result<Vec<u8>> {
        plugin_component::Entity::find_by_id(sha256.to_owned())
            .one(self.read())
            .await?
            .map(|c| c.data)
            .ok_or_else(|| StoreError::not_found("plugin component", sha256))
    }

    /// Installs or upgrades: stores the component (if not already stored),
    /// writes the install, upserts `services` into the catalog owned by the
    /// plugin, takes `retired` service codes out of the catalog, and bumps
    /// the revision — all in one transaction. Returns the new revision.
    ///
    /// On SQLite, a write that loses to another process (a command run
    /// against a live server) is retried.
    pub async fn save_plugin_install(
        &self,
        install: &PluginInstall,
        component: &[u8],
        services: &[ServiceDefinition],
        retired: &[String],
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.retry_busy(|| self.save_plugin_install_once(install, component, services, retired, now))
            .await
    }

    /// Installs or upgrades: stores the component (if not already stored),
    /// writes the install, upserts `services` into the catalog owned by the
    /// plugin, takes `retired` service codes out of the catalog, and bumps
    /// the revision — all in one transaction. Returns the new revision.
    async fn save_plugin_install_once(
        &self,
        install: &PluginInstall,
        component: &[u8],
        services: &[ServiceDefinition],
        retired: &[String],
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let txn = self.write().begin().await?;
        let previous = plugin_install::Entity::find_by_id((install.jurisdiction_id.clone(), install.plugin_id.clone()))
            .one(&txn)
            .await?;
        plugin_component::Entity::insert(plugin_component::ActiveModel {
            sha256: Set(install.sha256.clone()),
            byte_size: Set(i64::try_from(component.len()).unwrap_or(i64::MAX)),
            data: Set(component.to_vec()),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(plugin_component::Column::Sha256)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        let revision = bump_revision(&txn).await?;
        let model = plugin_install::ActiveModel {
            jurisdiction_id: Set(install.jurisdiction_id.clone()),
            plugin_id: Set(install.plugin_id.clone()),
            name: Set(install.name.clone()),
            version: Set(install.version.clone()),
            interface_version: Set(install.interface_version.clone()),
            kind: Set(install.kind.clone()),
            sha256: Set(install.sha256.clone()),
            requested: Set(json!(install.requested)),
            grants: Set(json!(install.grants)),
            config: Set(install.config.clone()),
            secrets: Set(json!(install.secrets.0)),
            limits: Set(install.limits.clone()),
            services: Set(json!(install.services)),
            enabled: Set(install.enabled),
            disabled_reason: Set(install.disabled_reason.clone()),
            fault_count: Set(previous.as_ref().map_or(0, |p| p.fault_count)),
            last_fault_at: Set(previous.as_ref().and_then(|p| p.last_fault_at)),
            last_fault: Set(previous.as_ref().and_then(|p| p.last_fault.clone())),
            revision: Set(revision),
            installed_at: Set(previous.as_ref().map_or(now, |p| p.installed_at)),
            updated_at: Set(now),
        };
        use plugin_install::Column as C;
        plugin_install::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([C::JurisdictionId, C::PluginId])
                    .update_columns([
                        C::Name,
                        C::Version,
                        C::InterfaceVersion,
                        C::Kind,
                        C::Sha256,
                        C::Requested,
                        C::Grants,
                        C::Config,
                        C::Secrets,
                        C::Limits,
                        C::Services,
                        C::Enabled,
                        C::DisabledReason,
                        C::Revision,
                        C::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        for (i, s) in services.iter().enumerate() {
            upsert_service(&txn, s, i32::try_from(i).unwrap_or(i32::MAX), now).await?;
        }
        deactivate_services(&txn, &install.jurisdiction_id, &install.plugin_id, retired, now).await?;
        if let Some(p) = previous
            && p.sha256 != install.sha256
        {
            drop_unused_component(&txn, &p.sha256).await?;
        }
        txn.commit().await?;
        Ok(revision)
    }

    /// Changes an install's grants, configuration, secrets, limits or
    /// enabled state, bumping the revision. Returns the updated install.
    ///
    /// On SQLite, a write that loses to another process (a command run
    /// against a live server) is retried.
    pub async fn update_plugin_install(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        update: &PluginUpdate,
        now: DateTime<Utc>,
    ) -> Result<PluginInstall> {
        self.retry_busy(|| self.update_plugin_install_once(jurisdiction_id, plugin_id, update, now))
            .await
    }

    /// Changes an install's grants, configuration, secrets, limits or
    /// enabled state, bumping the revision. Returns the updated install.
    async fn update_plugin_install_once(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        update: &PluginUpdate,
        now: DateTime<Utc>,
    ) -> Result<PluginInstall> {
        let txn = self.write().begin().await?;
        let key = (jurisdiction_id.to_owned(), plugin_id.to_owned());
        if plugin_install::Entity::find_by_id(key.clone())
            .one(&txn)
            .await?
            .is_none()
        {
            return Err(StoreError::not_found("plugin", plugin_id));
        }
        let revision = bump_revision(&txn).await?;
        let mut q = plugin_install::Entity::update_many()
            .col_expr(plugin_install::Column::Revision, revision.into())
            .col_expr(plugin_install::Column::UpdatedAt, now.into());
        if let Some(g) = &update.grants {
            q = q.col_expr(plugin_install::Column::Grants, json!(g).into());
        }
        if let Some(c) = &update.config {
            q = q.col_expr(plugin_install::Column::Config, c.clone().into());
        }
        if let Some(s) = &update.secrets {
            q = q.col_expr(plugin_install::Column::Secrets, json!(s.0).into());
        }
        if let Some(l) = &update.limits {
            q = q.col_expr(plugin_install::Column::Limits, l.clone().into());
        }
        if let Some((enabled, reason)) = &update.enabled {
            let reason = if *enabled { None } else { reason.clone() };
            q = q
                .col_expr(plugin_install::Column::Enabled, (*enabled).into())
                .col_expr(plugin_install::Column::DisabledReason, reason.into());
        }
        q.filter(plugin_install::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(plugin_install::Column::PluginId.eq(plugin_id))
            .exec(&txn)
            .await?;
        let updated = plugin_install::Entity::find_by_id(key)
            .one(&txn)
            .await?
            .map(from_model)
            .ok_or_else(|| StoreError::not_found("plugin", plugin_id))?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Uninstalls: its services leave the catalog (requests and history
    /// stay), its install row, key-value data and (if unused) component go.
    /// Returns the service codes taken out of the catalog.
    ///
    /// On SQLite, a write that loses to another process (a command run
    /// against a live server) is retried.
    pub async fn delete_plugin_install(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        self.retry_busy(|| self.delete_plugin_install_once(jurisdiction_id, plugin_id, now))
            .await
    }

    /// Uninstalls: its services leave the catalog (requests and history
    /// stay), its install row, key-value data and (if unused) component go.
    /// Returns the service codes taken out of the catalog.
    async fn delete_plugin_install_once(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let txn = self.write().begin().await?;
        let Some(m) = plugin_install::Entity::find_by_id((jurisdiction_id.to_owned(), plugin_id.to_owned()))
            .one(&txn)
            .await?
        else {
            return Err(StoreError::not_found("plugin", plugin_id));
        };
        let install = from_model(m);
        deactivate_services(&txn, jurisdiction_id, plugin_id, &install.services, now).await?;
        plugin_install::Entity::delete_by_id((jurisdiction_id.to_owned(), plugin_id.to_owned()))
            .exec(&txn)
            .await?;
        plugin_kv::Entity::delete_many()
            .filter(plugin_kv::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(plugin_kv::Column::PluginId.eq(plugin_id))
            .exec(&txn)
            .await?;
        drop_unused_component(&txn, &install.sha256).await?;
        bump_revision(&txn).await?;
        txn.commit().await?;
        Ok(install.services)
    }

    /// Appends to the fault log and counts the fault on the install.
    pub async fn record_plugin_fault(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        kind: &str,
        hook: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let message: String = message.chars().take(2_000).collect();
        let txn = self.write().begin().await?;
        plugin_fault::Entity::insert(plugin_fault::ActiveModel {
            jurisdiction_id: Set(jurisdiction_id.to_owned()),
            plugin_id: Set(plugin_id.to_owned()),
            kind: Set(kind.to_owned()),
            hook: Set(hook.to_owned()),
            message: Set(message.clone()),
            at: Set(now),
            ..Default::default()
        })
        .exec_without_returning(&txn)
        .await?;
        plugin_install::Entity::update_many()
            .col_expr(
                plugin_install::Column::FaultCount,
                Expr::col(plugin_install::Column::FaultCount).add(1),
            )
            .col_expr(plugin_install::Column::LastFaultAt, Some(now).into())
            .col_expr(
                plugin_install::Column::LastFault,
                Some(format!("{kind}: {message}")).into(),
            )
            .filter(plugin_install::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(plugin_install::Column::PluginId.eq(plugin_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The most recent faults of one install, newest first.
    pub async fn plugin_faults(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        limit: u64,
    ) -> Result<Vec<PluginFaultRecord>> {
        Ok(plugin_fault::Entity::find()
            .filter(plugin_fault::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(plugin_fault::Column::PluginId.eq(plugin_id))
            .order_by_desc(plugin_fault::Column::Id)
            .limit(limit)
            .all(self.read())
            .await?
            .into_iter()
            .map(|m| PluginFaultRecord {
                id: m.id,
                jurisdiction_id: m.jurisdiction_id,
                plugin_id: m.plugin_id,
                kind: m.kind,
                hook: m.hook,
                message: m.message,
                at: m.at,
            })
            .collect())
    }

    pub async fn plugin_kv_get(&self, jurisdiction_id: &str, plugin_id: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            plugin_kv::Entity::find_by_id((jurisdiction_id.to_owned(), plugin_id.to_owned(), key.to_owned()))
                .one(self.read())
                .await?
                .map(|m| m.value),
        )
    }

    pub async fn plugin_kv_set(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        key: &str,
        value: &[u8],
        now: DateTime<Utc>,
    ) -> Result<()> {
        plugin_kv::Entity::insert(plugin_kv::ActiveModel {
            jurisdiction_id: Set(jurisdiction_id.to_owned()),
            plugin_id: Set(plugin_id.to_owned()),
            key: Set(key.to_owned()),
            value: Set(value.to_vec()),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                plugin_kv::Column::JurisdictionId,
                plugin_kv::Column::PluginId,
                plugin_kv::Column::Key,
            ])
            .update_columns([plugin_kv::Column::Value, plugin_kv::Column::UpdatedAt])
            .to_owned(),
        )
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    pub async fn plugin_kv_delete(&self, jurisdiction_id: &str, plugin_id: &str, key: &str) -> Result<()> {
        plugin_kv::Entity::delete_by_id((jurisdiction_id.to_owned(), plugin_id.to_owned(), key.to_owned()))
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// Keys starting with `prefix`, sorted, at most `limit`.
    pub async fn plugin_kv_keys(
        &self,
        jurisdiction_id: &str,
        plugin_id: &str,
        prefix: &str,
        limit: u64,
    ) -> Result<Vec<String>> {
        Ok(plugin_kv::Entity::find()
            .filter(plugin_kv::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(plugin_kv::Column::PluginId.eq(plugin_id))
            .filter(plugin_kv::Column::Key.starts_with(prefix))
            .order_by_asc(plugin_kv::Column::Key)
            .limit(limit)
            .all(self.read())
            .await?
            .into_iter()
            .map(|m| m.key)
            .collect())
    }
}
