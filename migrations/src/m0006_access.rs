//! Identity and access: policies (casbin lines), sessions, API keys,
//! one-time tokens, login throttling, OpenID Connect identities, and the
//! audit log of private-data reads and administrative changes.

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
                    .table("access_policies")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    // `p` (role, domain, object, action) or `g` (subject, role, domain).
                    .col(string_len("ptype", 2))
                    .col(string_len("v0", 200))
                    .col(string_len("v1", 200))
                    .col(string_len("v2", 200))
                    .col(string_len("v3", 200).default(""))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        let mut uniq = index(
            "access_policies",
            "ux_access_policies_line",
            &["ptype", "v0", "v1", "v2", "v3"],
        );
        uniq.unique();
        manager.create_index(uniq).await?;

        // Change counters that replicas poll (e.g. `access_policies`).
        manager
            .create_table(
                Table::create()
                    .table("versions")
                    .if_not_exists()
                    .col(string_len("name", 64).primary_key())
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .if_not_exists()
                    // sha256 of the cookie's token: a database leak yields no usable session.
                    .col(string_len("id", 64).primary_key())
                    .col(uuid("user_id"))
                    .col(string_len("csrf_token", 64))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    // `password` or `oidc:<issuer>`.
                    .col(string_len("method", 200))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from("sessions", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("sessions", "ix_sessions_user", &["user_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(string_len("name", 200))
                    // The key's public prefix, used to find it; the rest is secret.
                    .col(string_len_uniq("prefix", 32))
                    .col(string_len("secret_hash", 64))
                    .col(json_binary("scopes"))
                    .col(uuid_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("auth_tokens")
                    .if_not_exists()
                    .col(string_len("id", 64).primary_key())
                    .col(uuid("user_id"))
                    // `verify_email` or `reset_password`.
                    .col(string_len("purpose", 32))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_auth_tokens_user")
                            .from("auth_tokens", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("auth_throttle")
                    .if_not_exists()
                    // `account:<email>` or `ip:<address>`.
                    .col(string_len("key", 300).primary_key())
                    .col(timestamp_with_time_zone("window_start"))
                    .col(integer("failures"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("oidc_identities")
                    .if_not_exists()
                    .col(string_len("issuer", 500))
                    .col(string_len("subject", 255))
                    .col(uuid("user_id"))
                    // Roles the last sign-in mapped from the provider's groups,
                    // so a group removed at the provider removes its role here.
                    .col(json_binary("roles"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("issuer").col("subject"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oidc_user")
                            .from("oidc_identities", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Sign-ins in flight: state, nonce and PKCE verifier, used once.
        manager
            .create_table(
                Table::create()
                    .table("oidc_logins")
                    .if_not_exists()
                    .col(string_len("state", 128).primary_key())
                    .col(string_len("provider", 64))
                    .col(string_len("nonce", 128))
                    .col(string_len("pkce_verifier", 128))
                    .col(string_len_null("return_to", 500))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(string_len("actor_type", 16))
                    .col(string_len_null("actor_id", 128))
                    .col(string_len("action", 64))
                    .col(string_len("target_type", 32))
                    .col(string_len_null("target_id", 128))
                    .col(json_binary_null("details"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("audit_log", "ix_audit_target", &["target_id"]))
            .await?;
        manager
            .create_index(index("audit_log", "ix_audit_created", &["created_at"]))
            .await?;
        raw(
            manager,
            "CREATE TRIGGER audit_log_append_only_u BEFORE UPDATE ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION townhall_append_only();",
        )
        .await?;
        raw(
            manager,
            "CREATE TRIGGER audit_log_append_only_d BEFORE DELETE ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
            "SELECT 1",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "audit_log",
            "oidc_logins",
            "oidc_identities",
            "auth_throttle",
            "auth_tokens",
            "api_keys",
            "sessions",
            "versions",
            "access_policies",
        ] {
            manager.drop_table(drop(t)).await?;
        }
        Ok(())
    }
}
