//! Who is calling.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A role. Staff and supervisors hold theirs per department; administrators
/// jurisdiction-wide; everyone is `public`; signed-in people are `resident`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Public,
    Resident,
    Staff,
    Supervisor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Public, Role::Resident, Role::Staff, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Resident => "resident",
            Role::Staff => "staff",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// Whether the role is held per department (`staff@public-works`).
    pub fn is_departmental(self) -> bool {
        matches!(self, Role::Staff | Role::Supervisor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| format!("`{s}` is not a role; expected public, resident, staff, supervisor or admin"))
    }
}

/// A role held in a domain: a department code, or `*` for everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoleGrant {
    pub role: Role,
    pub domain: String,
}

impl RoleGrant {
    /// Parses `ROLE` or `ROLE@DEPARTMENT` (as `townhall user add --role` takes it).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (role, domain) = match s.split_once('@') {
            Some((r, d)) => (r, d.trim()),
            None => (s, "*"),
        };
        let role: Role = role.parse()?;
        if role.is_departmental() && domain == "*" {
            return Err(format!("`{role}` is held per department: write {role}@DEPARTMENT"));
        }
        if !role.is_departmental() && domain != "*" {
            return Err(format!("`{role}` is not held per department: write just `{role}`"));
        }
        if domain.is_empty()
            || domain.len() > 64
            || !domain
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '*')
        {
            return Err(format!("`{domain}` is not a department code"));
        }
        Ok(RoleGrant {
            role,
            domain: domain.to_owned(),
        })
    }
}

impl fmt::Display for RoleGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.domain == "*" {
            write!(f, "{}", self.role)
        } else {
            write!(f, "{}@{}", self.role, self.domain)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Anonymous,
    User,
    ApiClient,
}

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The account (users) or key (API clients).
    pub id: Option<Uuid>,
    /// For logs and history: an email or key name. Never shown publicly.
    pub label: String,
    /// The casbin subject: `user:<id>`, `key:<id>` or `anonymous`.
    pub subject: String,
    /// API-key scopes (empty for people).
    pub scopes: Vec<String>,
}

impl Principal {
    pub fn anonymous() -> Self {
        Self {
            kind: PrincipalKind::Anonymous,
            id: None,
            label: "anonymous".into(),
            subject: "anonymous".into(),
            scopes: vec![],
        }
    }

    pub fn user(id: Uuid, email: &str) -> Self {
        Self {
            kind: PrincipalKind::User,
            id: Some(id),
            label: email.to_owned(),
            subject: format!("user:{id}"),
            scopes: vec![],
        }
    }

    pub fn api_client(id: Uuid, name: &str, scopes: Vec<String>) -> Self {
        Self {
            kind: PrincipalKind::ApiClient,
            id: Some(id),
            label: name.to_owned(),
            subject: format!("key:{id}"),
            scopes,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.kind == PrincipalKind::Anonymous
    }

    pub fn user_id(&self) -> Option<Uuid> {
        if self.kind == PrincipalKind::User {
            self.id
        } else {
            None
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_role_grants() {
        assert_eq!(
            RoleGrant::parse("staff@public-works").unwrap(),
            RoleGrant {
                role: Role::Staff,
                domain: "public-works".into()
            }
        );
        assert_eq!(RoleGrant::parse("admin").unwrap().domain, "*");
        assert!(RoleGrant::parse("staff").is_err());
        assert!(RoleGrant::parse("admin@parks").is_err());
        assert!(RoleGrant::parse("mayor").is_err());
        assert!(RoleGrant::parse("staff@Public Works").is_err());
        assert_eq!(
            RoleGrant::parse("supervisor@parks").unwrap().to_string(),
            "supervisor@parks"
        );
    }
}
