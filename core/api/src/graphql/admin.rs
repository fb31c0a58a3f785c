//! Administration: API keys, users and their roles, the access policy, and
//! the audit log. Every field here is for administrators only, and every
//! change is audited.

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use townhall_access::{Action, PolicyLine, RoleGrant, SCOPES};
use uuid::Uuid;

use super::{Can, ctx};
use crate::error::{ApiError, GqlResultExt};

#[derive(Default)]
pub struct AdminQuery;

#[derive(Default)]
pub struct AdminMutation;

#[derive(SimpleObject)]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    /// The key's public prefix (the first part after `th_`).
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<townhall_store::ApiKeyRow> for ApiKey {
    fn from(r: townhall_store::ApiKeyRow) -> Self {
        Self {
            id: ID(r.id.to_string()),
            name: r.name,
            prefix: r.prefix,
            scopes: r.scopes,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct NewApiKey {
    pub key: ApiKey,
    /// The secret key. Shown only this once; store it now.
    pub secret: String,
}

#[derive(SimpleObject)]
pub struct ScopeInfo {
    pub name: String,
    pub description: String,
}

#[derive(SimpleObject)]
pub struct UserSummary {
    pub id: ID,
    pub email: String,
    pub display_name: String,
    pub disabled: bool,
    pub roles: Vec<String>,
}

#[derive(SimpleObject)]
pub struct PolicyLineGql {
    /// `p` (role, domain, object, action) or `g` (subject, role, domain).
    pub ptype: String,
    pub values: Vec<String>,
}

#[derive(SimpleObject)]
pub struct AuditEntryGql {
    pub id: ID,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub details: Option<Json<serde_json::Value>>,
    pub at: DateTime<Utc>,
}

fn parse_uuid(field: &str, id: &ID) -> async_graphql::Result<Uuid> {
    Uuid::parse_str(id.0.trim())
        .map_err(|_| ApiError::bad_request("MALFORMED_ID", format!("`{field}` is not an id")).into_graphql())
}

fn grant(role: &str) -> async_graphql::Result<RoleGrant> {
    RoleGrant::parse(role).map_err(|m| ApiError::bad_request("INVALID_ROLE", m).into_graphql())
}

#[Object]
impl AdminQuery {
    #[graphql(guard = "Can(Action::ManageApiKeys)")]
    async fn api_keys(&self, c: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let cx = ctx(c)?;
        Ok(cx
            .state
            .access
            .api_keys()
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The scopes an API key may hold.
    async fn api_key_scopes(&self) -> Vec<ScopeInfo> {
        SCOPES
            .iter()
            .map(|(n, d)| ScopeInfo {
                name: (*n).to_owned(),
                description: (*d).to_owned(),
            })
            .collect()
    }

    #[graphql(guard = "Can(Action::ManageUsers)")]
    async fn users(&self, c: &Context<'_>) -> async_graphql::Result<Vec<UserSummary>> {
        let cx = ctx(c)?;
        let mut out = Vec::new();
        for u in cx.state.store().users().await.gql()? {
            let roles = cx.state.access.roles(u.id).await.gql()?;
            out.push(UserSummary {
                id: ID(u.id.to_string()),
                email: u.email,
                display_name: u.display_name,
                disabled: u.disabled,
                roles: roles.iter().map(ToString::to_string).collect(),
            });
        }
        Ok(out)
    }

    /// Every policy line in force.
    #[graphql(guard = "Can(Action::ManagePolicies)")]
    async fn access_policy(&self, c: &Context<'_>) -> async_graphql::Result<Vec<PolicyLineGql>> {
        let cx = ctx(c)?;
        Ok(cx
            .state
            .access
            .policy()
            .await
            .gql()?
            .into_iter()
            .map(|l| PolicyLineGql {
                ptype: l.ptype,
                values: l.values,
            })
            .collect())
    }

    /// Audit entries, newest first (optionally about one target id).
    #[graphql(guard = "Can(Action::ReadAudit)")]
    async fn audit_log(
        &self,
        c: &Context<'_>,
        target_id: Option<String>,
        #[graphql(default = 100)] first: i32,
    ) -> async_graphql::Result<Vec<AuditEntryGql>> {
        let cx = ctx(c)?;
        let first = u64::try_from(first.clamp(1, 1000)).unwrap_or(100);
        Ok(cx
            .state
            .store()
            .audit_entries(target_id.as_deref(), first)
            .await
            .gql()?
            .into_iter()
            .map(|e| AuditEntryGql {
                id: ID(e.id.to_string()),
                actor_type: e.actor.kind.as_str().to_owned(),
                actor_id: e.actor.id,
                action: e.action,
                target_type: e.target_type,
                target_id: e.target_id,
                details: e.details.map(Json),
                at: e.created_at,
            })
            .collect())
    }
}

#[Object]
impl AdminMutation {
    /// Creates an API key. Its secret is in the answer and never again.
    #[graphql(guard = "Can(Action::ManageApiKeys)")]
    async fn create_api_key(
        &self,
        c: &Context<'_>,
        name: String,
        #[graphql(default)] scopes: Vec<String>,
    ) -> async_graphql::Result<NewApiKey> {
        let cx = ctx(c)?;
        let (row, secret) = cx
            .state
            .access
            .create_api_key(&name, &scopes, cx.who().user_id())
            .await
            .gql()?;
        cx.state
            .access
            .audit(
                cx.who(),
                "create_api_key",
                "api_key",
                Some(row.id.to_string()),
                Some(serde_json::json!({ "name": row.name, "scopes": row.scopes })),
            )
            .await
            .gql()?;
        Ok(NewApiKey {
            key: row.into(),
            secret,
        })
    }

    #[graphql(guard = "Can(Action::ManageApiKeys)")]
    async fn revoke_api_key(&self, c: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let cx = ctx(c)?;
        let id = parse_uuid("id", &id)?;
        cx.state.access.revoke_api_key(id).await.gql()?;
        cx.state
            .access
            .audit(cx.who(), "revoke_api_key", "api_key", Some(id.to_string()), None)
            .await
            .gql()?;
        Ok(true)
    }

    /// Gives a user a role: `admin`, or `staff@DEPARTMENT` / `supervisor@DEPARTMENT`.
    #[graphql(guard = "Can(Action::ManagePolicies)")]
    async fn grant_role(&self, c: &Context<'_>, user_id: ID, role: String) -> async_graphql::Result<Vec<String>> {
        let cx = ctx(c)?;
        let uid = parse_uuid("userId", &user_id)?;
        let g = grant(&role)?;
        cx.state.access.grant_role(uid, &g).await.gql()?;
        cx.state
            .access
            .audit(
                cx.who(),
                "grant_role",
                "user",
                Some(uid.to_string()),
                Some(serde_json::json!({ "role": g.to_string() })),
            )
            .await
            .gql()?;
        Ok(cx
            .state
            .access
            .roles(uid)
            .await
            .gql()?
            .iter()
            .map(ToString::to_string)
            .collect())
    }

    #[graphql(guard = "Can(Action::ManagePolicies)")]
    async fn revoke_role(&self, c: &Context<'_>, user_id: ID, role: String) -> async_graphql::Result<Vec<String>> {
        let cx = ctx(c)?;
        let uid = parse_uuid("userId", &user_id)?;
        let g = grant(&role)?;
        cx.state.access.revoke_role(uid, &g).await.gql()?;
        cx.state
            .access
            .audit(
                cx.who(),
                "revoke_role",
                "user",
                Some(uid.to_string()),
                Some(serde_json::json!({ "role": g.to_string() })),
            )
            .await
            .gql()?;
        Ok(cx
            .state
            .access
            .roles(uid)
            .await
            .gql()?
            .iter()
            .map(ToString::to_string)
            .collect())
    }

    /// Adds a permission: `role` may do `action` on `object` in `domain`
    /// (a department code or `*`). Takes effect on every server within a second.
    #[graphql(guard = "Can(Action::ManagePolicies)")]
    async fn add_policy(
        &self,
        c: &Context<'_>,
        role: String,
        domain: String,
        object: String,
        action: String,
    ) -> async_graphql::Result<bool> {
        let cx = ctx(c)?;
        let line = PolicyLine {
            ptype: "p".into(),
            values: vec![role, domain, object, action],
        };
        cx.state.access.add_policy(line.clone()).await.gql()?;
        cx.state
            .access
            .audit(
                cx.who(),
                "add_policy",
                "policy",
                None,
                Some(serde_json::json!(line.values)),
            )
            .await
            .gql()?;
        Ok(true)
    }

    #[graphql(guard = "Can(Action::ManagePolicies)")]
    async fn remove_policy(
        &self,
        c: &Context<'_>,
        role: String,
        domain: String,
        object: String,
        action: String,
    ) -> async_graphql::Result<bool> {
        let cx = ctx(c)?;
        let line = PolicyLine {
            ptype: "p".into(),
            values: vec![role, domain, object, action],
        };
        let removed = cx.state.access.remove_policy(line.clone()).await.gql()?;
        cx.state
            .access
            .audit(
                cx.who(),
                "remove_policy",
                "policy",
                None,
                Some(serde_json::json!(line.values)),
            )
            .await
            .gql()?;
        Ok(removed)
    }
}
