//! Open311: submissions accepted in token mode (kept durably until the
//! intake pipeline has processed them), and an index for Open311's
//! "service and date window" searches.

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
                    .table("open311_submissions")
                    .if_not_exists()
                    // The token handed to the client (random, unguessable).
                    .col(string_len("token", 64).primary_key())
                    .col(string_len("jurisdiction_id", 64))
                    // The submission as received (intake input, channel, actor).
                    .col(json_binary("payload"))
                    // A photo, already stripped of its metadata.
                    .col(blob_null("photo"))
                    .col(string_len_null("photo_type", 100))
                    // `pending`, `done` or `rejected`.
                    .col(string_len("state", 16))
                    .col(uuid_null("request_id"))
                    .col(string_len_null("tracking_number", 24))
                    // Why it was rejected: [{code, description}].
                    .col(json_binary_null("errors"))
                    .col(integer("attempts").default(0))
                    // Due (pending) or leased until (claimed).
                    .col(timestamp_with_time_zone("available_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "open311_submissions",
                "ix_open311_submissions_due",
                &["state", "available_at"],
            ))
            .await?;
        manager
            .create_index(index(
                "service_requests",
                "ix_requests_jur_service_requested",
                &["jurisdiction_id", "service_code", "requested_at"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_requests_jur_service_requested")
                    .table("service_requests")
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager.drop_table(drop("open311_submissions")).await
    }
}
