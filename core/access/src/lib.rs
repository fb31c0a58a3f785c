//! Who may do what.
//!
//! A [`Principal`] is whoever is calling: anonymous, a signed-in user with
//! roles per department, or an API client with scopes. Authorization is
//! RBAC with domains in casbin: the domain is a department code (or `*` for
//! jurisdiction-wide roles such as administrator). Policies live in the
//! database, administrators edit them, and every server reloads them within
//! a second of a change.
//!
//! **Must never:** know HTTP types (the API turns headers into tokens and
//! calls in here); let a caller act on a department it has no role in;
//! reveal in an error whether an account exists.

pub mod authz;
pub mod oidc;
pub mod principal;
pub mod service;

pub use authz::{Action, Authorizer, DEFAULT_POLICY, PolicyLine, SCOPES};
pub use oidc::{Oidc, OidcError, OidcLogin, OidcProvider};
pub use principal::{Principal, PrincipalKind, Role, RoleGrant};
pub use service::{AccessConfig, AccessService, ActiveSession, AuthError, Mailer, NewSession, actor};
