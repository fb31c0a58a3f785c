//! Authorization: casbin RBAC with domains (domain = department code).
//!
//! Every permission check in Townhall names an [`Action`] and, for actions
//! on a request, the department responsible for it. A user may act when one
//! of their roles, held in that department or jurisdiction-wide (`*`),
//! grants the action. Everyone holds `public`; signed-in people also hold
//! `resident`. API clients act through the scopes of their key.

use std::fmt;
use std::sync::RwLock;

use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter};

use crate::principal::{Principal, PrincipalKind, Role};

/// Everything that is checked. `obj:act` strings are what policies name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the service catalog.
    ReadCatalog,
    /// Submit a request.
    Submit,
    /// Read a request's public fields and public history.
    ReadPublic,
    /// Read private fields: reporter contact, internal notes, exact
    /// sensitive addresses, assignee.
    ReadPrivate,
    ChangeStatus,
    AddPublicNote,
    AddInternalNote,
    Assign,
    Merge,
    /// Install, configure, disable and remove plugins.
    ManagePlugins,
    /// Edit access policies and role assignments.
    ManagePolicies,
    ManageApiKeys,
    ManageUsers,
    ReadAudit,
}

impl Action {
    pub const ALL: [Action; 14] = [
        Action::ReadCatalog,
        Action::Submit,
        Action::ReadPublic,
        Action::ReadPrivate,
        Action::ChangeStatus,
        Action::AddPublicNote,
        Action::AddInternalNote,
        Action::Assign,
        Action::Merge,
        Action::ManagePlugins,
        Action::ManagePolicies,
        Action::ManageApiKeys,
        Action::ManageUsers,
        Action::ReadAudit,
    ];

    /// `(object, action)` as policies name them.
    pub fn parts(self) -> (&'static str, &'static str) {
        match self {
            Action::ReadCatalog => ("catalog", "read"),
            Action::Submit => ("request", "submit"),
            Action::ReadPublic => ("request", "read"),
            Action::ReadPrivate => ("request", "read_private"),
            Action::ChangeStatus => ("request", "change_status"),
            Action::AddPublicNote => ("request", "note_public"),
            Action::AddInternalNote => ("request", "note_internal"),
            Action::Assign => ("request", "assign"),
            Action::Merge => ("request", "merge"),
            Action::ManagePlugins => ("plugin", "manage"),
            Action::ManagePolicies => ("policy", "manage"),
            Action::ManageApiKeys => ("apikey", "manage"),
            Action::ManageUsers => ("user", "manage"),
            Action::ReadAudit => ("audit", "read"),
        }
    }

    /// Actions on a request are scoped to its department.
    pub fn is_departmental(self) -> bool {
        self.parts().0 == "request" && !matches!(self, Action::Submit | Action::ReadPublic)
    }

    /// The API-key scope that grants this action, if any.
    pub fn scope(self) -> Option<&'static str> {
        match self {
            Action::ReadCatalog | Action::ReadPublic => Some("*"),
            Action::Submit => Some("open311:write"),
            Action::ChangeStatus | Action::AddPublicNote => Some("requests:update"),
            Action::ReadPrivate => Some("requests:read_private"),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (o, a) = self.parts();
        write!(f, "{o}:{a}")
    }
}

/// Scopes an administrator may give an API key.
pub const SCOPES: [(&str, &str); 3] = [
    ("open311:write", "submit requests (Open311 POST requests)"),
    (
        "requests:update",
        "change status and add public notes (Open311 POST servicerequestupdates)",
    ),
    (
        "requests:read_private",
        "read reporters' contact details and internal notes",
    ),
];

const MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (r.sub == p.sub || g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*")) && (p.dom == "*" || p.dom == r.dom) && (p.obj == "*" || p.obj == r.obj) && (p.act == "*" || p.act == r.act)
"#;

/// The policy a new install starts with (`p, role, domain, object, action`).
pub const DEFAULT_POLICY: &[[&str; 4]] = &[
    ["public", "*", "catalog", "read"],
    ["public", "*", "request", "read"],
    ["public", "*", "request", "submit"],
    ["resident", "*", "request", "submit"],
    ["staff", "*", "request", "read_private"],
    ["staff", "*", "request", "change_status"],
    ["staff", "*", "request", "note_public"],
    ["staff", "*", "request", "note_internal"],
    ["supervisor", "*", "request", "*"],
    ["admin", "*", "*", "*"],
];

/// One stored policy line: `p` (permission) or `g` (role assignment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PolicyLine {
    pub ptype: String,
    pub values: Vec<String>,
}

pub struct Authorizer {
    enforcer: RwLock<Enforcer>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid access policy: {0}")]
pub struct PolicyError(pub String);

fn csv_field(s: &str) -> Result<&str, PolicyError> {
    if s.is_empty() || s.contains([',', '\n', '\r', '"']) {
        return Err(PolicyError(format!("`{s}` cannot appear in a policy")));
    }
    Ok(s)
}

async fn build(lines: &[PolicyLine]) -> Result<Enforcer, PolicyError> {
    let mut text = String::new();
    for l in lines {
        let expected = match l.ptype.as_str() {
            "p" => 4,
            "g" => 3,
            other => return Err(PolicyError(format!("unknown policy type `{other}`"))),
        };
        if l.values.len() != expected {
            return Err(PolicyError(format!(
                "a `{}` line has {} fields, not {}",
                l.ptype,
                expected,
                l.values.len()
            )));
        }
        text.push_str(&l.ptype);
        for v in &l.values {
            text.push_str(", ");
            text.push_str(csv_field(v)?);
        }
        text.push('\n');
    }
    let model = DefaultModel::from_str(MODEL)
        .await
        .map_err(|e| PolicyError(e.to_string()))?;
    Enforcer::new(model, StringAdapter::new(text))
        .await
        .map_err(|e| PolicyError(e.to_string()))
}

impl Authorizer {
    /// An authorizer over the given policy lines.
    pub async fn new(lines: &[PolicyLine]) -> Result<Self, PolicyError> {
        Ok(Self {
            enforcer: RwLock::new(build(lines).await?),
        })
    }

    /// The default policy as lines (what a new install stores).
    pub fn default_lines() -> Vec<PolicyLine> {
        DEFAULT_POLICY
            .iter()
            .map(|p| PolicyLine {
                ptype: "p".into(),
                values: p.iter().map(|s| (*s).to_owned()).collect(),
            })
            .collect()
    }

    /// Replaces the policy (after an administrator's change, or when
    /// another replica changed it).
    pub async fn reload(&self, lines: &[PolicyLine]) -> Result<(), PolicyError> {
        let fresh = build(lines).await?;
        if let Ok(mut e) = self.enforcer.write() {
            *e = fresh;
        }
        Ok(())
    }

    fn enforce(&self, sub: &str, dom: &str, action: Action) -> bool {
        let (obj, act) = action.parts();
        self.enforcer
            .read()
            .ok()
            .and_then(|e| e.enforce((sub, dom, obj, act)).ok())
            .unwrap_or(false)
    }

    /// Whether `who` may do `action` in `department` (`None` for actions not
    /// tied to a department, which then need a jurisdiction-wide grant or a
    /// role in any department for departmental actions — see `can_somewhere`).
    pub fn can(&self, who: &Principal, action: Action, department: Option<&str>) -> bool {
        let dom = department.unwrap_or("*");
        match who.kind {
            PrincipalKind::ApiClient => match action.scope() {
                Some("*") => true,
                Some(scope) => who.has_scope(scope),
                None => false,
            },
            PrincipalKind::Anonymous => self.enforce(Role::Public.as_str(), dom, action),
            PrincipalKind::User => {
                self.enforce(Role::Public.as_str(), dom, action)
                    || self.enforce(Role::Resident.as_str(), dom, action)
                    || self.enforce(&who.subject, dom, action)
            }
        }
    }

    /// The departments in which `who` may do `action` (`["*"]` when
    /// everywhere). Used to scope queries (e.g. private search fields).
    pub fn departments_for(&self, who: &Principal, action: Action, all_departments: &[String]) -> Vec<String> {
        if self.can(who, action, Some("*")) {
            return vec!["*".into()];
        }
        all_departments
            .iter()
            .filter(|d| self.can(who, action, Some(d)))
            .cloned()
            .collect()
    }

    /// Whether `who` may do `action` in at least one department.
    pub fn can_somewhere(&self, who: &Principal, action: Action, all_departments: &[String]) -> bool {
        !self.departments_for(who, action, all_departments).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn g(user: &Principal, role: &str, dom: &str) -> PolicyLine {
        PolicyLine {
            ptype: "g".into(),
            values: vec![user.subject.clone(), role.into(), dom.into()],
        }
    }

    #[tokio::test]
    async fn roles_are_scoped_to_departments() {
        let parks = Principal::user(Uuid::now_v7(), "p@x.org");
        let boss = Principal::user(Uuid::now_v7(), "b@x.org");
        let admin = Principal::user(Uuid::now_v7(), "a@x.org");
        let mut lines = Authorizer::default_lines();
        lines.push(g(&parks, "staff", "parks"));
        lines.push(g(&boss, "supervisor", "public-works"));
        lines.push(g(&admin, "admin", "*"));
        let a = Authorizer::new(&lines).await.unwrap();

        assert!(a.can(&parks, Action::ChangeStatus, Some("parks")));
        assert!(!a.can(&parks, Action::ChangeStatus, Some("public-works")));
        assert!(!a.can(&parks, Action::ReadPrivate, Some("public-works")));
        assert!(!a.can(&parks, Action::Assign, Some("parks")));
        assert!(a.can(&parks, Action::Submit, None));
        assert!(a.can(&boss, Action::Merge, Some("public-works")));
        assert!(!a.can(&boss, Action::ManagePlugins, None));
        assert!(a.can(&admin, Action::ManagePlugins, None));
        assert!(a.can(&admin, Action::ReadPrivate, Some("parks")));

        let anon = Principal::anonymous();
        assert!(a.can(&anon, Action::ReadPublic, Some("parks")));
        assert!(!a.can(&anon, Action::ReadPrivate, Some("parks")));
        assert!(!a.can(&anon, Action::ManagePolicies, None));

        let all = vec!["parks".to_owned(), "public-works".to_owned()];
        assert_eq!(
            a.departments_for(&parks, Action::ReadPrivate, &all),
            vec!["parks".to_owned()]
        );
        assert_eq!(
            a.departments_for(&admin, Action::ReadPrivate, &all),
            vec!["*".to_owned()]
        );
    }

    #[tokio::test]
    async fn api_keys_act_through_scopes_only() {
        let a = Authorizer::new(&Authorizer::default_lines()).await.unwrap();
        let key = Principal::api_client(Uuid::now_v7(), "fms", vec!["open311:write".into()]);
        assert!(a.can(&key, Action::Submit, None));
        assert!(!a.can(&key, Action::ChangeStatus, Some("parks")));
        assert!(!a.can(&key, Action::ManageApiKeys, None));
    }

    #[tokio::test]
    async fn reload_replaces_the_policy_and_bad_lines_are_refused() {
        let user = Principal::user(Uuid::now_v7(), "u@x.org");
        let a = Authorizer::new(&Authorizer::default_lines()).await.unwrap();
        assert!(!a.can(&user, Action::ChangeStatus, Some("parks")));
        let mut lines = Authorizer::default_lines();
        lines.push(g(&user, "staff", "parks"));
        a.reload(&lines).await.unwrap();
        assert!(a.can(&user, Action::ChangeStatus, Some("parks")));
        let bad = vec![PolicyLine {
            ptype: "p".into(),
            values: vec!["a, b".into(), "*".into(), "x".into(), "y".into()],
        }];
        assert!(Authorizer::new(&bad).await.is_err());
    }
}
