//! Accounts (users) and reporters' contact records (contacts).
//!
//! A contact is the private "who reported it" of a request: names, email and
//! phone live here and nowhere else, so anonymizing a person is one update.

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
                    .table("users")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    // Stored lower-cased; unique across the install.
                    .col(string_len_uniq("email", 254))
                    .col(string_len("display_name", 200).default(""))
                    .col(text_null("password_hash"))
                    .col(timestamp_with_time_zone_null("email_verified_at"))
                    .col(boolean("disabled").default(false))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("last_login_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("contacts")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(string_len("jurisdiction_id", 64))
                    .col(uuid_null("user_id"))
                    .col(string_len_null("first_name", 100))
                    .col(string_len_null("last_name", 100))
                    .col(string_len_null("email", 254))
                    .col(string_len_null("phone", 40))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("anonymized_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contacts_jurisdiction")
                            .from("contacts", "jurisdiction_id")
                            .to("jurisdictions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_contacts_user")
                            .from("contacts", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("contacts", "ix_contacts_user", &["user_id"]))
            .await?;
        manager
            .create_index(index("contacts", "ix_contacts_email", &["email"]))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop("contacts")).await?;
        manager.drop_table(drop("users")).await
    }
}
