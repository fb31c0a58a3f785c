//! The transactional outbox: after-commit work (search indexing, plugin
//! `on-event`, notifications) written in the same transaction as the change
//! that caused it, then claimed by workers (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL) and retried with backoff until done.

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
                    .table("outbox")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_len("jurisdiction_id", 64))
                    // Which worker handles it, e.g. `search`, `plugin:public-works`.
                    .col(string_len("consumer", 128))
                    // What happened, e.g. `request.created`.
                    .col(string_len("topic", 64))
                    .col(uuid_null("aggregate_id"))
                    .col(json_binary("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("available_at"))
                    .col(integer("attempts").default(0))
                    .col(text_null("last_error"))
                    .col(string_len_null("locked_by", 128))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(timestamp_with_time_zone_null("done_at"))
                    // Set when it gave up after the last retry.
                    .col(timestamp_with_time_zone_null("dead_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "outbox",
                "ix_outbox_pending",
                &["done_at", "dead_at", "available_at"],
            ))
            .await?;
        manager
            .create_index(index("outbox", "ix_outbox_consumer", &["consumer", "done_at"]))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop("outbox")).await
    }
}
