//! Plugin installs: which component (by sha256) runs for which plugin in
//! which jurisdiction, with what grants, configuration, secrets and limits;
//! the component bytes themselves; each install's private key-value store;
//! a log of its faults; and one revision counter that every change bumps so
//! servers sharing the database notice within a second.

use sea_orm_migration::{prelude::*, schema::*};

use crate::util::{drop, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("plugin_components")
                    .if_not_exists()
                    // Lower-case hex sha256 of the component bytes.
                    .col(string_len("sha256", 64).primary_key())
                    .col(big_integer("byte_size"))
                    .col(blob("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("plugin_installs")
                    .if_not_exists()
                    .col(string_len("jurisdiction_id", 64))
                    .col(string_len("plugin_id", 128))
                    .col(string_len("name", 200))
                    .col(string_len("version", 64))
                    // The WIT interface version it was built for, e.g. `0.1.0`.
                    .col(string_len("interface_version", 32))
                    // `department` or `integration`.
                    .col(string_len("kind", 32))
                    .col(string_len("sha256", 64))
                    // Capabilities the manifest asks for, and those an administrator granted.
                    .col(json_binary("requested"))
                    .col(json_binary("grants"))
                    .col(json_binary("config"))
                    // Name -> value. Never shown back; listed by name only.
                    .col(json_binary("secrets"))
                    // Per-install limits (CPU ms, memory, output, host-call timeout).
                    .col(json_binary("limits"))
                    // Service codes it owns in the catalog.
                    .col(json_binary("services"))
                    .col(boolean("enabled").default(true))
                    .col(text_null("disabled_reason"))
                    .col(big_integer("fault_count").default(0))
                    .col(timestamp_with_time_zone_null("last_fault_at"))
                    .col(text_null("last_fault"))
                    // The value of `plugin_revision.revision` at its last change.
                    .col(big_integer("revision"))
                    .col(timestamp_with_time_zone("installed_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("jurisdiction_id").col("plugin_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_plugin_installs_jurisdiction")
                            .from("plugin_installs", "jurisdiction_id")
                            .to("jurisdictions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_plugin_installs_component")
                            .from("plugin_installs", "sha256")
                            .to("plugin_components", "sha256"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("plugin_kv")
                    .if_not_exists()
                    .col(string_len("jurisdiction_id", 64))
                    .col(string_len("plugin_id", 128))
                    .col(string_len("key", 256))
                    .col(blob("value"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("jurisdiction_id").col("plugin_id").col("key"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("plugin_faults")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("jurisdiction_id", 64))
                    .col(string_len("plugin_id", 128))
                    // PluginFault kind, e.g. `timeout`.
                    .col(string_len("kind", 32))
                    // validate, route, on_event, manifest.
                    .col(string_len("hook", 32))
                    .col(text("message"))
                    .col(timestamp_with_time_zone("at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "plugin_faults",
                "ix_plugin_faults_plugin",
                &["jurisdiction_id", "plugin_id", "id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("plugin_revision")
                    .if_not_exists()
                    .col(integer("id").primary_key())
                    .col(big_integer("revision"))
                    .to_owned(),
            )
            .await?;
        let insert = Query::insert()
            .into_table("plugin_revision")
            .columns(["id", "revision"])
            .values([1.into(), 0i64.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        manager.exec_stmt(insert).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop("plugin_revision")).await?;
        manager.drop_table(drop("plugin_faults")).await?;
        manager.drop_table(drop("plugin_kv")).await?;
        manager.drop_table(drop("plugin_installs")).await?;
        manager.drop_table(drop("plugin_components")).await
    }
}
