//! Staff single sign-on with OpenID Connect: the authorization-code flow
//! with PKCE, `state` and `nonce` checked, and the ID token's signature and
//! claims (issuer, audience, expiry, nonce) verified against the issuer's
//! published keys. Roles come from a configured claim (e.g. `groups`)
//! through a per-provider map; a group removed at the provider removes the
//! role it granted at the next sign-in.
//!
//! **Must never:** follow redirects when talking to a provider (SSRF);
//! accept an ID token it did not verify; link a provider identity to an
//! existing account by an email address the provider has not verified.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use tokio::sync::RwLock;
use townhall_domain::clock::Clock;
use townhall_store::{Store, StoreError, User};

use crate::principal::RoleGrant;
use crate::service::AccessService;

/// One configured provider.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    /// Used in URLs: `/auth/oidc/<name>/login`.
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    /// The claim with group/role names.
    pub groups_claim: String,
    /// Group → roles.
    pub role_map: BTreeMap<String, Vec<RoleGrant>>,
    /// Allowed email domains (empty: any).
    pub allowed_domains: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("no sign-in provider named `{0}`")]
    UnknownProvider(String),
    #[error("the sign-in provider cannot be reached; try again later")]
    ProviderUnavailable(String),
    #[error("this sign-in attempt is unknown or expired; start again")]
    StateMismatch,
    #[error("the provider refused the sign-in: {0}")]
    Denied(String),
    #[error("the provider's answer could not be used: {0}")]
    ExchangeFailed(String),
    #[error("the ID token's nonce does not match this sign-in")]
    NonceMismatch,
    #[error("the ID token has expired")]
    TokenExpired,
    #[error("the ID token was issued for another application")]
    WrongAudience,
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    #[error("the provider did not give a verified email address")]
    EmailUnverified,
    #[error("accounts from this email domain may not sign in here")]
    DomainNotAllowed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OidcError {
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::UnknownProvider(_) => "OIDC_UNKNOWN_PROVIDER",
            OidcError::ProviderUnavailable(_) => "OIDC_PROVIDER_UNAVAILABLE",
            OidcError::StateMismatch => "OIDC_STATE_MISMATCH",
            OidcError::Denied(_) => "OIDC_DENIED",
            OidcError::ExchangeFailed(_) => "OIDC_EXCHANGE_FAILED",
            OidcError::NonceMismatch => "OIDC_NONCE_MISMATCH",
            OidcError::TokenExpired => "OIDC_TOKEN_EXPIRED",
            OidcError::WrongAudience => "OIDC_WRONG_AUDIENCE",
            OidcError::InvalidToken(_) => "OIDC_INVALID_TOKEN",
            OidcError::EmailUnverified => "OIDC_EMAIL_UNVERIFIED",
            OidcError::DomainNotAllowed => "OIDC_DOMAIN_NOT_ALLOWED",
            OidcError::Store(StoreError::Unavailable(_)) => "UNAVAILABLE",
            OidcError::Store(_) => "INTERNAL",
        }
    }
}

/// A completed sign-in.
#[derive(Debug, Clone)]
pub struct OidcLogin {
    pub user: User,
    pub roles: Vec<RoleGrant>,
    /// A relative path to send the browser to.
    pub return_to: String,
}

struct ProviderState {
    cfg: OidcProvider,
    metadata: RwLock<Option<(Instant, CoreProviderMetadata)>>,
}

/// The OpenID Connect relying party for every configured provider.
pub struct Oidc {
    providers: HashMap<String, ProviderState>,
    http: openidconnect::reqwest::Client,
    store: Store,
    clock: Arc<dyn Clock>,
    public_url: String,
}

const METADATA_TTL: StdDuration = StdDuration::from_secs(3600);
const LOGIN_MAX_AGE_MINUTES: i64 = 15;

/// Only same-site relative paths are followed after sign-in.
fn safe_return_to(r: Option<&str>) -> Option<String> {
    let r = r?.trim();
    let ok = r.starts_with('/')
        && !r.starts_with("//")
        && !r.contains('\\')
        && r.len() <= 500
        && !r.chars().any(char::is_control);
    ok.then(|| r.to_owned())
}

impl Oidc {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        public_url: &str,
        providers: Vec<OidcProvider>,
    ) -> Result<Self, OidcError> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(StdDuration::from_secs(10))
            .build()
            .map_err(|e| OidcError::ProviderUnavailable(e.to_string()))?;
        Ok(Self {
            providers: providers
                .into_iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        ProviderState {
                            cfg: p,
                            metadata: RwLock::new(None),
                        },
                    )
                })
                .collect(),
            http,
            store,
            clock,
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    pub fn provider_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.providers.keys().cloned().collect();
        v.sort();
        v
    }

    fn provider(&self, name: &str) -> Result<&ProviderState, OidcError> {
        self.providers
            .get(name)
            .ok_or_else(|| OidcError::UnknownProvider(name.chars().take(64).collect()))
    }

    async fn metadata(&self, p: &ProviderState) -> Result<CoreProviderMetadata, OidcError> {
        if let Some((at, m)) = p.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(p.cfg.issuer.clone()).map_err(|e| OidcError::ProviderUnavailable(e.to_string()))?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::ProviderUnavailable(e.to_string()))?;
        *p.metadata.write().await = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    fn redirect_uri(&self, name: &str) -> Result<RedirectUrl, OidcError> {
        RedirectUrl::new(format!("{}/auth/oidc/{name}/callback", self.public_url))
            .map_err(|e| OidcError::ExchangeFailed(e.to_string()))
    }

    /// Starts a sign-in: returns the provider URL to send the browser to.
    pub async fn begin(&self, name: &str, return_to: Option<&str>) -> Result<String, OidcError> {
        let p = self.provider(name)?;
        let metadata = self.metadata(p).await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(p.cfg.client_id.clone()),
            Some(ClientSecret::new(p.cfg.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_uri(name)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in &p.cfg.scopes {
            if s != "openid" {
                req = req.add_scope(Scope::new(s.clone()));
            }
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        self.store
            .create_oidc_login(
                state.secret(),
                name,
                nonce.secret(),
                verifier.secret(),
                safe_return_to(return_to),
                self.clock.now(),
            )
            .await?;
        Ok(url.to_string())
    }

    /// Finishes a sign-in from the provider's redirect: checks the state,
    /// exchanges the code (with the PKCE verifier), verifies the ID token,
    /// finds or creates the account, and syncs its mapped roles.
    pub async fn complete(
        &self,
        name: &str,
        code: &str,
        state: &str,
        access: &AccessService,
    ) -> Result<OidcLogin, OidcError> {
        let p = self.provider(name)?;
        let now = self.clock.now();
        let (provider, nonce, verifier, return_to) = self
            .store
            .take_oidc_login(state, Duration::minutes(LOGIN_MAX_AGE_MINUTES), now)
            .await?
            .ok_or(OidcError::StateMismatch)?;
        if provider != name {
            return Err(OidcError::StateMismatch);
        }
        let metadata = self.metadata(p).await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(p.cfg.client_id.clone()),
            Some(ClientSecret::new(p.cfg.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect_uri(name)?);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::ExchangeFailed(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::ExchangeFailed(e.to_string()))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::ExchangeFailed("no ID token in the answer".into()))?;
        let clock = self.clock.clone();
        let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
        let claims = id_token.claims(&verifier, &Nonce::new(nonce)).map_err(|e| match e {
            ClaimsVerificationError::Expired(_) => OidcError::TokenExpired,
            ClaimsVerificationError::InvalidAudience(_) => OidcError::WrongAudience,
            ClaimsVerificationError::InvalidNonce(_) => OidcError::NonceMismatch,
            other => OidcError::InvalidToken(other.to_string()),
        })?;
        let subject = claims.subject().as_str().to_owned();
        let email = claims
            .email()
            .map(|e| e.as_str().trim().to_lowercase())
            .filter(|e| e.contains('@'))
            .ok_or(OidcError::EmailUnverified)?;
        let verified = claims.email_verified().unwrap_or(false);
        if !p.cfg.allowed_domains.is_empty() {
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if !p.cfg.allowed_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                return Err(OidcError::DomainNotAllowed);
            }
        }
        // The verified token's payload, for the configured groups claim.
        let groups = groups_from(&id_token.to_string(), &p.cfg.groups_claim);

        let issuer = p.cfg.issuer.clone();
        let user = match self.store.oidc_user(&issuer, &subject).await? {
            Some(id) => self.store.user(id).await?,
            None => {
                let user = match self.store.user_by_email(&email).await? {
                    Some(u) if !verified => {
                        tracing::warn!(user_id = %u.id, "refused to link an unverified provider email to an account");
                        return Err(OidcError::EmailUnverified);
                    }
                    Some(u) => u,
                    None => {
                        let name = claims
                            .name()
                            .and_then(|n| n.get(None))
                            .map(|n| n.as_str().to_owned())
                            .unwrap_or_default();
                        let u = self.store.create_user(&email, &name, None, now).await?;
                        if verified {
                            self.store.mark_email_verified(u.id, now).await?;
                        }
                        u
                    }
                };
                self.store.link_oidc(&issuer, &subject, user.id, now).await?;
                user
            }
        };
        if user.disabled {
            return Err(OidcError::Denied("this account is disabled".into()));
        }

        // Roles: grant what the groups map to, revoke what they no longer map to.
        let mut mapped: Vec<RoleGrant> = Vec::new();
        for g in &groups {
            for r in p.cfg.role_map.get(g).into_iter().flatten() {
                if !mapped.contains(r) {
                    mapped.push(r.clone());
                }
            }
        }
        let before: Vec<RoleGrant> = self
            .store
            .oidc_roles(&issuer, &subject)
            .await?
            .iter()
            .filter_map(|r| RoleGrant::parse(r).ok())
            .collect();
        for old in before.iter().filter(|r| !mapped.contains(r)) {
            access
                .revoke_role(user.id, old)
                .await
                .map_err(|e| OidcError::ExchangeFailed(e.to_string()))?;
        }
        for new in &mapped {
            access
                .grant_role(user.id, new)
                .await
                .map_err(|e| OidcError::ExchangeFailed(e.to_string()))?;
        }
        let names: Vec<String> = mapped.iter().map(ToString::to_string).collect();
        self.store.set_oidc_roles(&issuer, &subject, &names).await?;
        tracing::info!(user_id = %user.id, provider = name, roles = ?names, "signed in with OpenID Connect");
        Ok(OidcLogin {
            user,
            roles: mapped,
            return_to: return_to.unwrap_or_else(|| "/".to_owned()),
        })
    }
}

/// Reads a string or list-of-strings claim from a JWT's payload.
fn groups_from(jwt: &str, claim: &str) -> Vec<String> {
    let Some(payload) = jwt.split('.').nth(1) else {
        return vec![];
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return vec![];
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return vec![];
    };
    match v.get(claim) {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_paths_are_followed() {
        assert_eq!(safe_return_to(Some("/staff/queue")), Some("/staff/queue".into()));
        for bad in ["https://evil.example", "//evil.example", "/\\evil", "staff", ""] {
            assert_eq!(safe_return_to(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn reads_group_claims() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"groups":["pw-crew","admins"],"roles":"a b"}"#);
        let jwt = format!("h.{payload}.s");
        assert_eq!(groups_from(&jwt, "groups"), vec!["pw-crew", "admins"]);
        assert_eq!(groups_from(&jwt, "roles"), vec!["a", "b"]);
        assert!(groups_from(&jwt, "missing").is_empty());
        assert!(groups_from("garbage", "groups").is_empty());
    }
}
