//! Identities: password accounts, sessions, one-time tokens, API keys, and
//! the policy store behind the [`Authorizer`].
//!
//! Secrets never touch the database in the clear: session cookies, one-time
//! tokens and API keys are stored as SHA-256 digests (they are long random
//! strings), passwords as argon2id hashes. Every failure a client can see is
//! one of a few codes that never tell whether an account exists.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use chrono::Duration;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use townhall_domain::clock::Clock;
use townhall_store::{Actor, ApiKeyRow, PolicyRow, Store, StoreError, User};
use uuid::Uuid;

use crate::authz::{Action, Authorizer, PolicyLine, SCOPES};
use crate::principal::{Principal, Role, RoleGrant};

/// What a client may be told when authentication or an account operation
/// fails. Deliberately coarse.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong email or password (or no such account: indistinguishable).
    #[error("the email or password is wrong")]
    InvalidCredentials,
    /// Too many failures for this account or address; try later.
    #[error("too many attempts; try again in a few minutes")]
    TooManyAttempts,
    /// The session cookie is unknown, expired, revoked or tampered with.
    #[error("your session has ended; sign in again")]
    InvalidSession,
    /// The API key is malformed or unknown.
    #[error("the API key is not valid")]
    InvalidApiKey,
    /// The API key was revoked.
    #[error("the API key was revoked")]
    RevokedApiKey,
    /// A one-time token (verification, reset) is unknown, used or expired.
    #[error("this link is invalid or has expired")]
    InvalidToken,
    /// A password that breaks the rules.
    #[error("{0}")]
    WeakPassword(String),
    /// Input that breaks a rule (email syntax, role name, …).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "INVALID_CREDENTIALS",
            AuthError::TooManyAttempts => "TOO_MANY_ATTEMPTS",
            AuthError::InvalidSession => "INVALID_SESSION",
            AuthError::InvalidApiKey => "INVALID_API_KEY",
            AuthError::RevokedApiKey => "API_KEY_REVOKED",
            AuthError::InvalidToken => "INVALID_TOKEN",
            AuthError::WeakPassword(_) => "WEAK_PASSWORD",
            AuthError::Invalid(_) => "INVALID_INPUT",
            AuthError::Store(StoreError::Conflict(_)) => "CONFLICT",
            AuthError::Store(StoreError::NotFound { .. }) => "NOT_FOUND",
            AuthError::Store(StoreError::Unavailable(_)) => "UNAVAILABLE",
            AuthError::Store(_) | AuthError::Internal(_) => "INTERNAL",
        }
    }
}

/// Sends account emails (verification, password reset). The server plugs
/// in SMTP; tests plug in a real SMTP server too.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String>;
}

#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// Sessions end after this long without use.
    pub session_idle: Duration,
    /// Failures per account per window before sign-in is refused.
    pub max_failures_per_account: i32,
    /// Failures per client address per window.
    pub max_failures_per_ip: i32,
    pub throttle_window: Duration,
    pub min_password_len: usize,
    pub verify_ttl: Duration,
    pub reset_ttl: Duration,
    /// Public base URL, for links in emails (e.g. `https://311.example.gov`).
    pub public_url: String,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            session_idle: Duration::hours(12),
            max_failures_per_account: 5,
            max_failures_per_ip: 30,
            throttle_window: Duration::minutes(15),
            min_password_len: 10,
            verify_ttl: Duration::hours(48),
            reset_ttl: Duration::hours(1),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// A new session: the cookie value and the CSRF token the client must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub principal: Principal,
}

/// An authenticated session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub principal: Principal,
    pub csrf_token: String,
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id (blocking: call from a blocking thread).
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Internal(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A hash of nothing anyone knows, verified against when an account does not
/// exist so that both cases take as long.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password(&random_token(16)).unwrap_or_default())
        .clone()
}

pub fn check_email(email: &str) -> Result<String, AuthError> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e)
    } else {
        Err(AuthError::Invalid("that is not an email address".into()))
    }
}

pub struct AccessService {
    store: Store,
    clock: Arc<dyn Clock>,
    authz: Authorizer,
    seen_version: AtomicI64,
    config: AccessConfig,
    mailer: Arc<dyn Mailer>,
}

impl AccessService {
    /// Loads the stored policy (seeding the default one on a new install).
    pub async fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: AccessConfig,
        mailer: Arc<dyn Mailer>,
    ) -> Result<Self, AuthError> {
        let now = clock.now();
        let defaults: Vec<PolicyRow> = Authorizer::default_lines()
            .into_iter()
            .map(|l| PolicyRow {
                ptype: l.ptype,
                values: l.values,
            })
            .collect();
        store.seed_policy(&defaults, now).await?;
        let version = store.version("access_policies").await?;
        let lines = Self::lines(&store).await?;
        let authz = Authorizer::new(&lines)
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(Self {
            store,
            clock,
            authz,
            seen_version: AtomicI64::new(version),
            config,
            mailer,
        })
    }

    async fn lines(store: &Store) -> Result<Vec<PolicyLine>, AuthError> {
        Ok(store
            .policy_rows()
            .await?
            .into_iter()
            .map(|r| PolicyLine {
                ptype: r.ptype,
                values: r.values,
            })
            .collect())
    }

    pub fn authorizer(&self) -> &Authorizer {
        &self.authz
    }

    pub fn config(&self) -> &AccessConfig {
        &self.config
    }

    /// Reloads the policy if it changed in the database (polled every
    /// second by the server; called right after local changes).
    pub async fn refresh(&self) -> Result<bool, AuthError> {
        let v = self.store.version("access_policies").await?;
        if v == self.seen_version.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let lines = Self::lines(&self.store).await?;
        self.authz
            .reload(&lines)
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        self.seen_version.store(v, Ordering::SeqCst);
        tracing::info!(version = v, "access policy reloaded");
        Ok(true)
    }

    pub fn can(&self, who: &Principal, action: Action, department: Option<&str>) -> bool {
        self.authz.can(who, action, department)
    }

    // ---- sessions ---------------------------------------------------------

    /// The principal behind a session cookie.
    pub async fn session(&self, token: &str) -> Result<ActiveSession, AuthError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::InvalidSession);
        }
        let id = sha256_hex(token);
        let now = self.clock.now();
        let s = self.store.session(&id, now).await?.ok_or(AuthError::InvalidSession)?;
        if now - s.last_seen_at > Duration::minutes(5) {
            self.store
                .touch_session(&id, now + self.config.session_idle, now)
                .await?;
        }
        Ok(ActiveSession {
            principal: Principal::user(s.user.id, &s.user.email),
            csrf_token: s.csrf_token,
        })
    }

    async fn open_session(&self, user: &User, method: &str) -> Result<NewSession, AuthError> {
        let now = self.clock.now();
        let token = random_token(32);
        let csrf = random_token(32);
        self.store
            .create_session(
                &sha256_hex(&token),
                user.id,
                &csrf,
                method,
                self.config.session_idle,
                now,
            )
            .await?;
        self.store.record_login(user.id, now).await?;
        Ok(NewSession {
            token,
            csrf_token: csrf,
            principal: Principal::user(user.id, &user.email),
        })
    }

    /// Opens a session for a user who proved who they are elsewhere (OIDC).
    pub async fn session_for(&self, user: &User, method: &str) -> Result<NewSession, AuthError> {
        self.open_session(user, method).await
    }

    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        self.store.revoke_session(&sha256_hex(token), self.clock.now()).await?;
        Ok(())
    }

    /// Signs in with email and password, throttled per account and per
    /// client address.
    pub async fn login(&self, email: &str, password: &str, client_ip: &str) -> Result<NewSession, AuthError> {
        let now = self.clock.now();
        let email = email.trim().to_lowercase();
        let account_key = format!("account:{}", email.chars().take(254).collect::<String>());
        let ip_key = format!("ip:{}", client_ip.chars().take(64).collect::<String>());
        let window = self.config.throttle_window;
        if self.store.throttle_failures(&account_key, window, now).await? >= self.config.max_failures_per_account
            || self.store.throttle_failures(&ip_key, window, now).await? >= self.config.max_failures_per_ip
        {
            return Err(AuthError::TooManyAttempts);
        }
        let creds = self.store.user_credentials(&email).await?;
        let hash = creds
            .as_ref()
            .and_then(|(u, h)| if u.disabled { None } else { h.clone() });
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash.unwrap_or_else(dummy_hash)))
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        match creds {
            Some((user, Some(_))) if ok && !user.disabled => {
                self.store.throttle_reset(&account_key).await?;
                tracing::info!(user_id = %user.id, "signed in with password");
                self.open_session(&user, "password").await
            }
            _ => {
                self.store.throttle_fail(&account_key, window, now).await?;
                self.store.throttle_fail(&ip_key, window, now).await?;
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    fn check_password(&self, password: &str) -> Result<(), AuthError> {
        let n = password.chars().count();
        if n < self.config.min_password_len {
            return Err(AuthError::WeakPassword(format!(
                "a password needs at least {} characters",
                self.config.min_password_len
            )));
        }
        if n > 256 {
            return Err(AuthError::WeakPassword(
                "a password may have at most 256 characters".into(),
            ));
        }
        Ok(())
    }

    async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let pw = password.to_owned();
        tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?
    }

    async fn issue_token(&self, user_id: Uuid, purpose: &str, ttl: Duration) -> Result<String, AuthError> {
        let token = random_token(32);
        self.store
            .create_auth_token(&sha256_hex(&token), user_id, purpose, ttl, self.clock.now())
            .await?;
        Ok(token)
    }

    async fn mail(&self, to: &str, subject: &str, body: &str) {
        if let Err(e) = self.mailer.send(to, subject, body).await {
            tracing::warn!(error = %e, "could not send account email");
        }
    }

    /// Creates a resident account and emails a verification link. When the
    /// address is taken, the owner gets an email saying so and the caller
    /// sees the same answer: nothing reveals who has an account.
    pub async fn sign_up(&self, email: &str, password: &str, display_name: &str) -> Result<(), AuthError> {
        let email = check_email(email)?;
        self.check_password(password)?;
        let name: String = display_name.trim().chars().take(200).collect();
        if name.chars().any(char::is_control) {
            return Err(AuthError::Invalid("the name contains a control character".into()));
        }
        let hash = self.hash(password).await?;
        match self
            .store
            .create_user(&email, &name, Some(hash), self.clock.now())
            .await
        {
            Ok(user) => {
                let token = self
                    .issue_token(user.id, "verify_email", self.config.verify_ttl)
                    .await?;
                let link = format!("{}/account/verify?token={token}", self.config.public_url);
                self.mail(
                    &email,
                    "Confirm your email address",
                    &format!("Welcome to Townhall.\n\nConfirm your address by opening this link:\n{link}\n\nVerification token: {token}\n"),
                )
                .await;
                Ok(())
            }
            Err(StoreError::Conflict(_)) => {
                self.mail(
                    &email,
                    "Someone tried to sign up with your address",
                    "Someone (maybe you) tried to create a Townhall account with this address, which already has one.\nIf it was you, sign in or reset your password. Otherwise, ignore this email.\n",
                )
                .await;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn verify_email(&self, token: &str) -> Result<(), AuthError> {
        let now = self.clock.now();
        let user = self
            .store
            .consume_auth_token(&sha256_hex(token.trim()), "verify_email", now)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        self.store.mark_email_verified(user, now).await?;
        Ok(())
    }

    /// Emails a reset link if the account exists; answers the same either way.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), AuthError> {
        let Ok(email) = check_email(email) else {
            return Ok(());
        };
        if let Some((user, _)) = self.store.user_credentials(&email).await?
            && !user.disabled
        {
            let token = self
                .issue_token(user.id, "reset_password", self.config.reset_ttl)
                .await?;
            let link = format!("{}/account/reset?token={token}", self.config.public_url);
            self.mail(
                &email,
                "Reset your Townhall password",
                &format!("Open this link within the hour to choose a new password:\n{link}\n\nReset token: {token}\n\nIf you did not ask for this, ignore this email.\n"),
            )
            .await;
        }
        Ok(())
    }

    /// Sets a new password with a reset token; ends every session of the account.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> Result<(), AuthError> {
        self.check_password(new_password)?;
        let now = self.clock.now();
        let user = self
            .store
            .consume_auth_token(&sha256_hex(token.trim()), "reset_password", now)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let hash = self.hash(new_password).await?;
        self.store.set_password_hash(user, &hash, now).await?;
        self.store.revoke_user_sessions(user, now).await?;
        Ok(())
    }

    // ---- accounts managed by administrators ---------------------------------

    /// Creates (or updates the password and roles of) an account — what
    /// `townhall user add` does.
    pub async fn add_user(&self, email: &str, password: &str, roles: &[RoleGrant]) -> Result<User, AuthError> {
        let email = check_email(email)?;
        self.check_password(password)?;
        let hash = self.hash(password).await?;
        let now = self.clock.now();
        let user = match self.store.user_by_email(&email).await? {
            Some(u) => {
                self.store.set_password_hash(u.id, &hash, now).await?;
                u
            }
            None => self.store.create_user(&email, "", Some(hash), now).await?,
        };
        self.store.mark_email_verified(user.id, now).await?;
        for g in roles {
            self.grant_role(user.id, g).await?;
        }
        Ok(user)
    }

    pub async fn grant_role(&self, user_id: Uuid, grant: &RoleGrant) -> Result<(), AuthError> {
        if matches!(grant.role, Role::Public | Role::Resident) {
            return Err(AuthError::Invalid(format!(
                "`{}` is implicit and cannot be granted",
                grant.role
            )));
        }
        self.store.user(user_id).await?;
        let line = PolicyRow {
            ptype: "g".into(),
            values: vec![
                format!("user:{user_id}"),
                grant.role.as_str().into(),
                grant.domain.clone(),
            ],
        };
        self.store.add_policy_row(&line, self.clock.now()).await?;
        self.refresh().await?;
        Ok(())
    }

    pub async fn revoke_role(&self, user_id: Uuid, grant: &RoleGrant) -> Result<bool, AuthError> {
        let line = PolicyRow {
            ptype: "g".into(),
            values: vec![
                format!("user:{user_id}"),
                grant.role.as_str().into(),
                grant.domain.clone(),
            ],
        };
        let removed = self.store.remove_policy_row(&line, self.clock.now()).await?;
        self.refresh().await?;
        Ok(removed)
    }

    pub async fn roles(&self, user_id: Uuid) -> Result<Vec<RoleGrant>, AuthError> {
        Ok(self
            .store
            .roles_of(&format!("user:{user_id}"))
            .await?
            .into_iter()
            .filter_map(|(role, domain)| role.parse().ok().map(|role| RoleGrant { role, domain }))
            .collect())
    }

    /// Adds a permission line (`p, role, domain, object, action`).
    pub async fn add_policy(&self, line: PolicyLine) -> Result<(), AuthError> {
        // Validate it builds before storing it.
        let mut lines = Self::lines(&self.store).await?;
        lines.push(line.clone());
        Authorizer::new(&lines)
            .await
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        self.store
            .add_policy_row(
                &PolicyRow {
                    ptype: line.ptype,
                    values: line.values,
                },
                self.clock.now(),
            )
            .await?;
        self.refresh().await?;
        Ok(())
    }

    pub async fn remove_policy(&self, line: PolicyLine) -> Result<bool, AuthError> {
        let removed = self
            .store
            .remove_policy_row(
                &PolicyRow {
                    ptype: line.ptype,
                    values: line.values,
                },
                self.clock.now(),
            )
            .await?;
        self.refresh().await?;
        Ok(removed)
    }

    pub async fn policy(&self) -> Result<Vec<PolicyLine>, AuthError> {
        Self::lines(&self.store).await
    }

    // ---- API keys -------------------------------------------------------------

    /// Creates a key. The returned string is the only time it is ever shown.
    pub async fn create_api_key(
        &self,
        name: &str,
        scopes: &[String],
        created_by: Option<Uuid>,
    ) -> Result<(ApiKeyRow, String), AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(AuthError::Invalid(
                "an API key needs a name of 1 to 200 plain characters".into(),
            ));
        }
        for s in scopes {
            if !SCOPES.iter().any(|(known, _)| known == s) {
                let known: Vec<&str> = SCOPES.iter().map(|(k, _)| *k).collect();
                return Err(AuthError::Invalid(format!(
                    "unknown scope `{s}`; scopes are {}",
                    known.join(", ")
                )));
            }
        }
        let prefix = random_token(6);
        let secret = random_token(24);
        let row = self
            .store
            .create_api_key(
                name,
                &prefix,
                &sha256_hex(&secret),
                scopes,
                created_by,
                self.clock.now(),
            )
            .await?;
        Ok((row, format!("th_{prefix}_{secret}")))
    }

    /// The API client behind a key.
    pub async fn api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let mut parts = key.trim().splitn(3, '_');
        let (Some("th"), Some(prefix), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AuthError::InvalidApiKey);
        };
        if prefix.len() != 12
            || secret.len() != 48
            || !prefix.bytes().chain(secret.bytes()).all(|b| b.is_ascii_hexdigit())
        {
            return Err(AuthError::InvalidApiKey);
        }
        let row = self
            .store
            .api_key_by_prefix(prefix)
            .await?
            .ok_or(AuthError::InvalidApiKey)?;
        let matches: bool = sha256_hex(secret).as_bytes().ct_eq(row.secret_hash.as_bytes()).into();
        if !matches {
            return Err(AuthError::InvalidApiKey);
        }
        if row.revoked_at.is_some() {
            return Err(AuthError::RevokedApiKey);
        }
        // "Last used" is kept to the minute: most requests see a recent
        // mark on the row just read and write nothing.
        let now = self.clock.now();
        if row.last_used_at.is_none_or(|t| t < now - chrono::Duration::minutes(1)) {
            self.store.touch_api_key(row.id, now).await?;
        }
        Ok(Principal::api_client(row.id, &row.name, row.scopes))
    }

    pub async fn revoke_api_key(&self, id: Uuid) -> Result<(), AuthError> {
        self.store.revoke_api_key(id, self.clock.now()).await?;
        Ok(())
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, AuthError> {
        Ok(self.store.api_keys().await?)
    }

    // ---- audit -------------------------------------------------------------------

    /// Records that `who` read private fields of a request, or changed
    /// something administrative.
    pub async fn audit(
        &self,
        who: &Principal,
        action: &str,
        target_type: &str,
        target_id: Option<String>,
        details: Option<serde_json::Value>,
    ) -> Result<(), AuthError> {
        self.store
            .audit(&actor(who), action, target_type, target_id, details, self.clock.now())
            .await?;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

/// The history/audit actor for a principal.
pub fn actor(who: &Principal) -> Actor {
    match (who.kind, who.id) {
        (crate::PrincipalKind::User, Some(id)) => Actor::user(id),
        (crate::PrincipalKind::ApiClient, Some(id)) => Actor {
            kind: townhall_store::ActorKind::ApiClient,
            id: Some(id.to_string()),
        },
        _ => Actor::reporter(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        let dummy = dummy_hash();
        assert!(PasswordHash::new(&dummy).is_ok());
        assert!(!verify_password("anything", &dummy));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(check_email(" Ana@Example.ORG ").unwrap(), "ana@example.org");
        for bad in ["", "ana", "ana@", "@x.org", "a b@x.org", "ana@x"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
