//! Storage for identity and access: policy lines, sessions, API keys,
//! one-time tokens, login throttling, OpenID Connect links, the audit log,
//! and account deletion. Secrets are stored only as hashes computed by the
//! caller.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::{contact, user};
use crate::entities_access::{
    api_key, audit, auth_token, oidc_identity, oidc_login, policy, session, throttle, version,
};
use crate::error::{Result, StoreError};
use crate::records::Actor;
use crate::{Backend, Store, User};

/// A stored policy line (`p` or `g`), its fields in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PolicyRow {
    pub ptype: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: Uuid,
    pub actor: Actor,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub details: Option<Value>,
    pub created_at: DateTime<Utc>,
}

fn row(m: policy::Model) -> PolicyRow {
    let mut values = vec![m.v0, m.v1, m.v2];
    if m.ptype == "p" {
        values.push(m.v3);
    }
    PolicyRow { ptype: m.ptype, values }
}

fn api_key_row(m: api_key::Model) -> ApiKeyRow {
    ApiKeyRow {
        id: m.id,
        name: m.name,
        prefix: m.prefix,
        secret_hash: m.secret_hash,
        scopes: serde_json::from_value(m.scopes).unwrap_or_default(),
        created_at: m.created_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
    }
}

fn user_record(m: user::Model) -> User {
    User {
        id: m.id,
        email: m.email,
        display_name: m.display_name,
        disabled: m.disabled,
        email_verified: m.email_verified_at.is_some(),
    }
}

impl Store {
    // ---- policies ---------------------------------------------------------

    pub async fn policy_rows(&self) -> Result<Vec<PolicyRow>> {
        Ok(policy::Entity::find()
            .order_by_asc(policy::Column::Id)
            .all(self.read())
            .await?
            .into_iter()
            .map(row)
            .collect())
    }

    /// Adds a line; adding one that exists is a no-op. Bumps the version.
    pub async fn add_policy_row(&self, line: &PolicyRow, now: DateTime<Utc>) -> Result<()> {
        let v = |i: usize| line.values.get(i).cloned().unwrap_or_default();
        let txn = self.write().begin().await?;
        policy::Entity::insert(policy::ActiveModel {
            ptype: Set(line.ptype.clone()),
            v0: Set(v(0)),
            v1: Set(v(1)),
            v2: Set(v(2)),
            v3: Set(v(3)),
            created_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([
                policy::Column::Ptype,
                policy::Column::V0,
                policy::Column::V1,
                policy::Column::V2,
                policy::Column::V3,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        bump(&txn, "access_policies", now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Removes a line. Returns whether it existed. Bumps the version.
    pub async fn remove_policy_row(&self, line: &PolicyRow, now: DateTime<Utc>) -> Result<bool> {
        let v = |i: usize| line.values.get(i).cloned().unwrap_or_default();
        let txn = self.write().begin().await?;
        let res = policy::Entity::delete_many()
            .filter(policy::Column::Ptype.eq(line.ptype.clone()))
            .filter(policy::Column::V0.eq(v(0)))
            .filter(policy::Column::V1.eq(v(1)))
            .filter(policy::Column::V2.eq(v(2)))
            .filter(policy::Column::V3.eq(v(3)))
            .exec(&txn)
            .await?;
        bump(&txn, "access_policies", now).await?;
        txn.commit().await?;
        Ok(res.rows_affected > 0)
    }

    /// Stores `lines` if no policy exists yet (a new install). Returns
    /// whether it did.
    pub async fn seed_policy(&self, lines: &[PolicyRow], now: DateTime<Utc>) -> Result<bool> {
        if policy::Entity::find().limit(1).one(self.read()).await?.is_some() {
            return Ok(false);
        }
        for l in lines {
            self.add_policy_row(l, now).await?;
        }
        Ok(true)
    }

    /// A change counter other replicas poll (0 when never changed).
    pub async fn version(&self, name: &str) -> Result<i64> {
        Ok(version::Entity::find_by_id(name.to_owned())
            .one(self.read())
            .await?
            .map_or(0, |v| v.version))
    }

    /// The `g` lines of one subject: `(role, domain)`.
    pub async fn roles_of(&self, subject: &str) -> Result<Vec<(String, String)>> {
        Ok(policy::Entity::find()
            .filter(policy::Column::Ptype.eq("g"))
            .filter(policy::Column::V0.eq(subject))
            .order_by_asc(policy::Column::Id)
            .all(self.read())
            .await?
            .into_iter()
            .map(|m| (m.v1, m.v2))
            .collect())
    }

    // ---- users and passwords ----------------------------------------------

    /// A user and their password hash, by email.
    pub async fn user_credentials(&self, email: &str) -> Result<Option<(User, Option<String>)>> {
        Ok(user::Entity::find()
            .filter(user::Column::Email.eq(email.trim().to_lowercase()))
            .one(self.read())
            .await?
            .map(|m| {
                let hash = m.password_hash.clone();
                (user_record(m), hash)
            }))
    }

    pub async fn set_password_hash(&self, user_id: Uuid, hash: &str, now: DateTime<Utc>) -> Result<()> {
        let res = user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.to_owned()))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id))
            .exec(self.write())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("user", user_id));
        }
        Ok(())
    }

    pub async fn mark_email_verified(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        user::Entity::update_many()
            .col_expr(user::Column::EmailVerifiedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id))
            .filter(user::Column::EmailVerifiedAt.is_null())
            .exec(self.write())
            .await?;
        Ok(())
    }

    pub async fn record_login(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        user::Entity::update_many()
            .col_expr(user::Column::LastLoginAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id))
            .exec(self.write())
            .await?;
        Ok(())
    }

    pub async fn set_user_disabled(&self, user_id: Uuid, disabled: bool, now: DateTime<Utc>) -> Result<()> {
        user::Entity::update_many()
            .col_expr(user::Column::Disabled, Expr::value(disabled))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user_id))
            .exec(self.write())
            .await?;
        Ok(())
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        Ok(user::Entity::find()
            .order_by_asc(user::Column::Email)
            .all(self.read())
            .await?
            .into_iter()
            .map(user_record)
            .collect())
    }

    /// Deletes an account: its contact records are anonymized (the requests
    /// stay, with no personal data), its sessions, tokens, identities and
    /// roles go, and the user row is removed. One transaction.
    pub async fn delete_user(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        let txn = self.write().begin().await?;
        contact::Entity::update_many()
            .col_expr(contact::Column::FirstName, Expr::value(Option::<String>::None))
            .col_expr(contact::Column::LastName, Expr::value(Option::<String>::None))
            .col_expr(contact::Column::Email, Expr::value(Option::<String>::None))
            .col_expr(contact::Column::Phone, Expr::value(Option::<String>::None))
            .col_expr(contact::Column::UserId, Expr::value(Option::<Uuid>::None))
            .col_expr(contact::Column::AnonymizedAt, Expr::value(now))
            .filter(contact::Column::UserId.eq(user_id))
            .exec(&txn)
            .await?;
        policy::Entity::delete_many()
            .filter(policy::Column::Ptype.eq("g"))
            .filter(policy::Column::V0.eq(format!("user:{user_id}")))
            .exec(&txn)
            .await?;
        bump(&txn, "access_policies", now).await?;
        let res = user::Entity::delete_by_id(user_id).exec(&txn).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("user", user_id));
        }
        txn.commit().await?;
        Ok(())
    }

    /// Contacts (reporter records) linked to an account, for data export.
    pub async fn contacts_of_user(&self, user_id: Uuid) -> Result<Vec<crate::Contact>> {
        Ok(contact::Entity::find()
            .filter(contact::Column::UserId.eq(user_id))
            .all(self.read())
            .await?
            .into_iter()
            .map(crate::convert::contact)
            .collect())
    }

    // ---- sessions -----------------------------------------------------------

    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: Uuid,
        csrf_token: &str,
        method: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<()> {
        session::Entity::insert(session::ActiveModel {
            id: Set(id_hash.to_owned()),
            user_id: Set(user_id),
            csrf_token: Set(csrf_token.to_owned()),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            last_seen_at: Set(now),
            revoked_at: Set(None),
            method: Set(method.chars().take(200).collect()),
        })
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    /// A live session (not expired, not revoked, user not disabled).
    pub async fn session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<SessionRow>> {
        let Some(s) = session::Entity::find_by_id(id_hash.to_owned())
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now))
            .one(self.read())
            .await?
        else {
            return Ok(None);
        };
        let Some(u) = user::Entity::find_by_id(s.user_id).one(self.read()).await? else {
            return Ok(None);
        };
        if u.disabled {
            return Ok(None);
        }
        Ok(Some(SessionRow {
            user: user_record(u),
            csrf_token: s.csrf_token,
            expires_at: s.expires_at,
            last_seen_at: s.last_seen_at,
            method: s.method,
        }))
    }

    /// Slides a session's expiry forward.
    pub async fn touch_session(&self, id_hash: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<()> {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .col_expr(session::Column::ExpiresAt, Expr::value(expires_at))
            .filter(session::Column::Id.eq(id_hash))
            .exec(self.write())
            .await?;
        Ok(())
    }

    pub async fn revoke_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<()> {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::Id.eq(id_hash))
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// Ends every session of a user (after a password reset, say).
    pub async fn revoke_user_sessions(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::RevokedAt.is_null())
            .exec(self.write())
            .await?;
        Ok(())
    }

    // ---- API keys -----------------------------------------------------------

    pub async fn create_api_key(
        &self,
        name: &str,
        prefix: &str,
        secret_hash: &str,
        scopes: &[String],
        created_by: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<ApiKeyRow> {
        let m = api_key::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.to_owned()),
            prefix: Set(prefix.to_owned()),
            secret_hash: Set(secret_hash.to_owned()),
            scopes: Set(serde_json::json!(scopes)),
            created_by: Set(created_by),
            created_at: Set(now),
            last_used_at: Set(None),
            revoked_at: Set(None),
        };
        Ok(api_key_row(
            api_key::Entity::insert(m).exec_with_returning(self.write()).await?,
        ))
    }

    pub async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRow>> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::Prefix.eq(prefix))
            .one(self.read())
            .await?
            .map(api_key_row))
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        Ok(api_key::Entity::find()
            .order_by_asc(api_key::Column::CreatedAt)
            .all(self.read())
            .await?
            .into_iter()
            .map(api_key_row)
            .collect())
    }

    /// Records a key's use, at most once a minute per key.
    pub async fn touch_api_key(&self, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(id))
            .filter(
                api_key::Column::LastUsedAt
                    .is_null()
                    .or(api_key::Column::LastUsedAt.lt(now - Duration::minutes(1))),
            )
            .exec(self.write())
            .await?;
        Ok(())
    }

    pub async fn revoke_api_key(&self, id: Uuid, now: DateTime<Utc>) -> Result<()> {
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(id))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(self.write())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("api key", id));
        }
        Ok(())
    }

    // ---- one-time tokens ----------------------------------------------------

    pub async fn create_auth_token(
        &self,
        id_hash: &str,
        user_id: Uuid,
        purpose: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<()> {
        auth_token::Entity::insert(auth_token::ActiveModel {
            id: Set(id_hash.to_owned()),
            user_id: Set(user_id),
            purpose: Set(purpose.to_owned()),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            used_at: Set(None),
        })
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    /// Uses a one-time token: returns its user if it exists, has this
    /// purpose, is unexpired and unused — and marks it used, atomically.
    pub async fn consume_auth_token(&self, id_hash: &str, purpose: &str, now: DateTime<Utc>) -> Result<Option<Uuid>> {
        let res = auth_token::Entity::update_many()
            .col_expr(auth_token::Column::UsedAt, Expr::value(now))
            .filter(auth_token::Column::Id.eq(id_hash))
            .filter(auth_token::Column::Purpose.eq(purpose))
            .filter(auth_token::Column::UsedAt.is_null())
            .filter(auth_token::Column::ExpiresAt.gt(now))
            .exec(self.write())
            .await?;
        if res.rows_affected == 0 {
            return Ok(None);
        }
        Ok(auth_token::Entity::find_by_id(id_hash.to_owned())
            .one(self.write())
            .await?
            .map(|t| t.user_id))
    }

    // ---- throttling -----------------------------------------------------------

    /// Failures recorded for `key` in the current window.
    pub async fn throttle_failures(&self, key: &str, window: Duration, now: DateTime<Utc>) -> Result<i32> {
        Ok(throttle::Entity::find_by_id(key.to_owned())
            .one(self.read())
            .await?
            .filter(|t| t.window_start > now - window)
            .map_or(0, |t| t.failures))
    }

    /// Counts one failure for `key`, starting a new window when the last
    /// one is over. Returns the count in the window.
    pub async fn throttle_fail(&self, key: &str, window: Duration, now: DateTime<Utc>) -> Result<i32> {
        let (sql, backend) = match self.backend() {
            Backend::Postgres => (
                "INSERT INTO auth_throttle (key, window_start, failures) VALUES ($1, $2, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE WHEN auth_throttle.window_start > $3 THEN auth_throttle.failures + 1 ELSE 1 END, \
                 window_start = CASE WHEN auth_throttle.window_start > $3 THEN auth_throttle.window_start ELSE $2 END \
                 RETURNING failures",
                DbBackend::Postgres,
            ),
            Backend::Sqlite => (
                "INSERT INTO auth_throttle (key, window_start, failures) VALUES (?1, ?2, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE WHEN auth_throttle.window_start > ?3 THEN auth_throttle.failures + 1 ELSE 1 END, \
                 window_start = CASE WHEN auth_throttle.window_start > ?3 THEN auth_throttle.window_start ELSE ?2 END \
                 RETURNING failures",
                DbBackend::Sqlite,
            ),
        };
        let row = self
            .write()
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [key.into(), now.into(), (now - window).into()],
            ))
            .await?
            .ok_or_else(|| StoreError::Corrupt("throttle upsert returned nothing".into()))?;
        Ok(row.try_get::<i32>("", "failures")?)
    }

    pub async fn throttle_reset(&self, key: &str) -> Result<()> {
        throttle::Entity::delete_by_id(key.to_owned())
            .exec(self.write())
            .await?;
        Ok(())
    }

    // ---- OpenID Connect ---------------------------------------------------------

    pub async fn oidc_user(&self, issuer: &str, subject: &str) -> Result<Option<Uuid>> {
        Ok(
            oidc_identity::Entity::find_by_id((issuer.to_owned(), subject.to_owned()))
                .one(self.read())
                .await?
                .map(|i| i.user_id),
        )
    }

    /// Links a provider identity to an account (idempotent).
    pub async fn link_oidc(&self, issuer: &str, subject: &str, user_id: Uuid, now: DateTime<Utc>) -> Result<()> {
        oidc_identity::Entity::insert(oidc_identity::ActiveModel {
            issuer: Set(issuer.to_owned()),
            subject: Set(subject.to_owned()),
            user_id: Set(user_id),
            roles: Set(serde_json::json!([])),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([oidc_identity::Column::Issuer, oidc_identity::Column::Subject])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    /// The roles the last sign-in through this identity mapped.
    pub async fn oidc_roles(&self, issuer: &str, subject: &str) -> Result<Vec<String>> {
        Ok(
            oidc_identity::Entity::find_by_id((issuer.to_owned(), subject.to_owned()))
                .one(self.read())
                .await?
                .map(|i| serde_json::from_value(i.roles).unwrap_or_default())
                .unwrap_or_default(),
        )
    }

    pub async fn set_oidc_roles(&self, issuer: &str, subject: &str, roles: &[String]) -> Result<()> {
        oidc_identity::Entity::update_many()
            .col_expr(oidc_identity::Column::Roles, Expr::value(serde_json::json!(roles)))
            .filter(oidc_identity::Column::Issuer.eq(issuer))
            .filter(oidc_identity::Column::Subject.eq(subject))
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// Records a sign-in in flight.
    pub async fn create_oidc_login(
        &self,
        state: &str,
        provider: &str,
        nonce: &str,
        pkce_verifier: &str,
        return_to: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // Forget abandoned sign-ins while we are here.
        oidc_login::Entity::delete_many()
            .filter(oidc_login::Column::CreatedAt.lt(now - Duration::hours(1)))
            .exec(self.write())
            .await?;
        oidc_login::Entity::insert(oidc_login::ActiveModel {
            state: Set(state.to_owned()),
            provider: Set(provider.to_owned()),
            nonce: Set(nonce.to_owned()),
            pkce_verifier: Set(pkce_verifier.to_owned()),
            return_to: Set(return_to),
            created_at: Set(now),
        })
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    /// Takes (and deletes) a sign-in in flight by its state, if it is
    /// younger than `max_age`: `(provider, nonce, pkce_verifier, return_to)`.
    pub async fn take_oidc_login(
        &self,
        state: &str,
        max_age: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<(String, String, String, Option<String>)>> {
        let Some(row) = oidc_login::Entity::find_by_id(state.to_owned())
            .one(self.write())
            .await?
        else {
            return Ok(None);
        };
        let res = oidc_login::Entity::delete_by_id(state.to_owned())
            .exec(self.write())
            .await?;
        if res.rows_affected == 0 || row.created_at < now - max_age {
            return Ok(None);
        }
        Ok(Some((row.provider, row.nonce, row.pkce_verifier, row.return_to)))
    }

    // ---- audit ---------------------------------------------------------------

    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target_type: &str,
        target_id: Option<String>,
        details: Option<Value>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        audit::Entity::insert(audit::ActiveModel {
            id: Set(Uuid::now_v7()),
            actor_type: Set(actor.kind.as_str().to_owned()),
            actor_id: Set(actor.id.clone()),
            action: Set(action.to_owned()),
            target_type: Set(target_type.to_owned()),
            target_id: Set(target_id),
            details: Set(details),
            created_at: Set(now),
        })
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    /// Audit entries, newest first, optionally about one target.
    pub async fn audit_entries(&self, target_id: Option<&str>, limit: u64) -> Result<Vec<AuditEntry>> {
        let mut q = audit::Entity::find();
        if let Some(t) = target_id {
            q = q.filter(audit::Column::TargetId.eq(t));
        }
        q.order_by_desc(audit::Column::Id)
            .limit(limit)
            .all(self.read())
            .await?
            .into_iter()
            .map(|m| {
                Ok(AuditEntry {
                    id: m.id,
                    actor: Actor {
                        kind: crate::records::ActorKind::parse(&m.actor_type)
                            .ok_or_else(|| StoreError::Corrupt(format!("audit_log.actor_type `{}`", m.actor_type)))?,
                        id: m.actor_id,
                    },
                    action: m.action,
                    target_type: m.target_type,
                    target_id: m.target_id,
                    details: m.details,
                    created_at: m.created_at,
                })
            })
            .collect()
    }
}

/// Increments a change counter inside a transaction.
async fn bump<C: ConnectionTrait>(conn: &C, name: &str, now: DateTime<Utc>) -> Result<()> {
    version::Entity::insert(version::ActiveModel {
        name: Set(name.to_owned()),
        version: Set(1),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(version::Column::Name)
            .value(
                version::Column::Version,
                Expr::col((version::Entity, version::Column::Version)).add(1),
            )
            .value(version::Column::UpdatedAt, Expr::value(now))
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
