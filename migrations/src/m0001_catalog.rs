//! Jurisdictions, departments and the service catalog.

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
                    .table("jurisdictions")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(string_len("name", 200))
                    .col(string_len("timezone", 64))
                    // Optional WGS 84 box: {min_lat, min_long, max_lat, max_long}.
                    .col(json_binary_null("bounds"))
                    // Dates (YYYY-MM-DD) that are not business days.
                    .col(json_binary("holidays"))
                    .col(boolean("is_default").default(false))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("departments")
                    .if_not_exists()
                    .col(string_len("jurisdiction_id", 64))
                    .col(string_len("code", 64))
                    .col(string_len("name", 200))
                    .col(text("description").default(""))
                    .col(string_len_null("email", 254))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("jurisdiction_id").col("code"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_departments_jurisdiction")
                            .from("departments", "jurisdiction_id")
                            .to("jurisdictions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("service_definitions")
                    .if_not_exists()
                    .col(string_len("jurisdiction_id", 64))
                    .col(string_len("code", 64))
                    .col(string_len("name", 200))
                    .col(text("description").default(""))
                    .col(string_len_null("group_name", 200))
                    .col(json_binary("keywords"))
                    .col(json_binary("attributes"))
                    .col(string_len("default_priority", 16))
                    .col(integer("sla_amount"))
                    .col(string_len("sla_unit", 16))
                    .col(string_len_null("department_code", 64))
                    .col(string_len_null("plugin_id", 128))
                    .col(boolean("active").default(true))
                    .col(boolean("public").default(true))
                    .col(boolean("address_sensitive").default(false))
                    .col(boolean("anonymous_allowed").default(true))
                    .col(boolean("answers_with_token").default(false))
                    .col(integer("sort_order").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("jurisdiction_id").col("code"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_services_jurisdiction")
                            .from("service_definitions", "jurisdiction_id")
                            .to("jurisdictions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_services_department")
                            .from("service_definitions", ("jurisdiction_id", "department_code"))
                            .to("departments", ("jurisdiction_id", "code")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("service_definitions", "ix_services_plugin", &["plugin_id"]))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop("service_definitions")).await?;
        manager.drop_table(drop("departments")).await?;
        manager.drop_table(drop("jurisdictions")).await
    }
}
