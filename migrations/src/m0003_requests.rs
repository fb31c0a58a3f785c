//! Service requests, their append-only history, attachments, and the
//! per-jurisdiction, per-year tracking-number counters.

use sea_orm_migration::{prelude::*, schema::*};

use crate::util::{drop, index, raw};

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
                    .table("service_requests")
                    .if_not_exists()
                    // UUIDv7: ordering by id is ordering by time received.
                    .col(uuid("id").primary_key())
                    .col(string_len("jurisdiction_id", 64))
                    .col(string_len("tracking_number", 24))
                    .col(string_len("service_code", 64))
                    .col(text_null("description"))
                    .col(string_len("status", 32))
                    .col(string_len("priority", 16))
                    .col(double_null("lat"))
                    .col(double_null("long"))
                    .col(string_len_null("address", 500))
                    .col(string_len_null("address_id", 100))
                    .col(string_len_null("zipcode", 20))
                    .col(string_len_null("department_code", 64))
                    .col(string_len_null("queue", 100))
                    .col(uuid_null("assignee_id"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("expected_at"))
                    .col(timestamp_with_time_zone_null("closed_at"))
                    .col(string_len("channel", 16))
                    .col(uuid_null("reporter_id"))
                    .col(json_binary("attributes"))
                    .col(string_len_null("media_url", 2000))
                    .col(string_len_null("device_id", 200))
                    .col(uuid_null("merged_into"))
                    .col(boolean("public").default(true))
                    .col(integer("version").default(1))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_requests_service")
                            .from("service_requests", ("jurisdiction_id", "service_code"))
                            .to("service_definitions", ("jurisdiction_id", "code")),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_requests_reporter")
                            .from("service_requests", "reporter_id")
                            .to("contacts", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_requests_assignee")
                            .from("service_requests", "assignee_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_requests_merged_into")
                            .from("service_requests", "merged_into")
                            .to("service_requests", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        let mut uniq = index(
            "service_requests",
            "ux_requests_tracking",
            &["jurisdiction_id", "tracking_number"],
        );
        uniq.unique();
        manager.create_index(uniq).await?;
        for (name, cols) in [
            ("ix_requests_jur_id", &["jurisdiction_id", "id"][..]),
            ("ix_requests_jur_status", &["jurisdiction_id", "status", "id"][..]),
            (
                "ix_requests_jur_service",
                &["jurisdiction_id", "service_code", "id"][..],
            ),
            (
                "ix_requests_jur_department",
                &["jurisdiction_id", "department_code", "id"][..],
            ),
            ("ix_requests_jur_requested", &["jurisdiction_id", "requested_at"][..]),
            ("ix_requests_jur_updated", &["jurisdiction_id", "updated_at"][..]),
            ("ix_requests_lat_long", &["lat", "long"][..]),
            ("ix_requests_reporter", &["reporter_id"][..]),
            ("ix_requests_assignee", &["assignee_id"][..]),
        ] {
            manager.create_index(index("service_requests", name, cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("request_events")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("request_id"))
                    .col(string_len("jurisdiction_id", 64))
                    .col(string_len("kind", 32))
                    // who: user | reporter | plugin | system
                    .col(string_len("actor_type", 16))
                    .col(string_len_null("actor_id", 128))
                    .col(string_len_null("from_status", 32))
                    .col(string_len_null("to_status", 32))
                    .col(text_null("body"))
                    .col(json_binary_null("data"))
                    .col(boolean("public"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_events_request")
                            .from("request_events", "request_id")
                            .to("service_requests", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("request_events", "ix_events_request", &["request_id", "id"]))
            .await?;
        manager
            .create_index(index(
                "request_events",
                "ix_events_jur_created",
                &["jurisdiction_id", "created_at"],
            ))
            .await?;
        // The history is the audit trail: rows are added, never changed.
        raw(
            manager,
            "CREATE TRIGGER request_events_append_only_u BEFORE UPDATE ON request_events \
             BEGIN SELECT RAISE(ABORT, 'request_events is append-only'); END;",
            "CREATE OR REPLACE FUNCTION townhall_append_only() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql;",
        )
        .await?;
        raw(
            manager,
            "CREATE TRIGGER request_events_append_only_d BEFORE DELETE ON request_events \
             BEGIN SELECT RAISE(ABORT, 'request_events is append-only'); END;",
            "CREATE TRIGGER request_events_append_only BEFORE UPDATE OR DELETE ON request_events \
             FOR EACH ROW EXECUTE FUNCTION townhall_append_only();",
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table("attachments")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("request_id"))
                    .col(string_len("jurisdiction_id", 64))
                    .col(string_len("content_type", 100))
                    .col(big_integer("byte_size"))
                    .col(string_len("sha256", 64))
                    .col(boolean("public").default(true))
                    .col(blob("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_attachments_request")
                            .from("attachments", "request_id")
                            .to("service_requests", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("attachments", "ix_attachments_request", &["request_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("tracking_counters")
                    .if_not_exists()
                    .col(string_len("jurisdiction_id", 64))
                    .col(integer("year"))
                    .col(big_integer("last_seq"))
                    .primary_key(Index::create().col("jurisdiction_id").col("year"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop("tracking_counters")).await?;
        manager.drop_table(drop("attachments")).await?;
        manager.drop_table(drop("request_events")).await?;
        raw(manager, "SELECT 1", "DROP FUNCTION IF EXISTS townhall_append_only()").await?;
        manager.drop_table(drop("service_requests")).await
    }
}
