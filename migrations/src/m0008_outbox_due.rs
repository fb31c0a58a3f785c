//! The outbox's "due work" index: a partial index over the ids of rows not
//! yet done or dead, replacing `ix_outbox_pending`.
//!
//! A worker claims the oldest due rows (`ORDER BY id LIMIT n`). Through
//! `(done_at, dead_at, available_at)` that meant reading and sorting every
//! pending row on each claim, so a backlog made each claim slower (on
//! SQLite, holding the one writer connection meanwhile); through the ids
//! of pending rows only, a claim reads about as many rows as it takes,
//! and done rows never enter the index.

use sea_orm_migration::prelude::*;

use crate::util::{index, raw};

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &str =
    "CREATE INDEX IF NOT EXISTS ix_outbox_due ON outbox (id) WHERE done_at IS NULL AND dead_at IS NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        raw(manager, CREATE, CREATE).await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_outbox_pending")
                    .table("outbox")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(
                "outbox",
                "ix_outbox_pending",
                &["done_at", "dead_at", "available_at"],
            ))
            .await?;
        let drop = "DROP INDEX IF EXISTS ix_outbox_due";
        raw(manager, drop, drop).await
    }
}
