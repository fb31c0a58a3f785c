//! Residents' accounts: sign up, sign in and out, verify email, reset a
//! password, see and download one's data, delete one's account.
//!
//! Answers never reveal whether an email address has an account.

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use axum::http::header::SET_COOKIE;
use townhall_store::RequestQuery as StoreQuery;

use super::ctx;
use crate::auth::{clear_cookie, session_cookie};
use crate::error::{ApiError, GqlResultExt};

#[derive(Default)]
pub struct AccountQuery;

#[derive(Default)]
pub struct AccountMutation;

/// The signed-in person.
#[derive(SimpleObject)]
pub struct Me {
    pub id: ID,
    pub email: String,
    pub display_name: String,
    pub email_verified: bool,
    /// Roles as `role` or `role@department`.
    pub roles: Vec<String>,
}

#[derive(SimpleObject)]
pub struct SignInResult {
    pub me: Me,
    /// Send this in the `X-CSRF-Token` header with every cookie-signed request
    /// that changes something.
    pub csrf_token: String,
}

/// A neutral acknowledgement (used where details would reveal accounts).
#[derive(SimpleObject)]
pub struct Ack {
    pub ok: bool,
    pub message: String,
}

async fn me(cx: &super::Ctx<'_>, user_id: uuid::Uuid) -> async_graphql::Result<Me> {
    let u = cx.state.store().user(user_id).await.gql()?;
    let roles = cx.state.access.roles(user_id).await.gql()?;
    Ok(Me {
        id: ID(u.id.to_string()),
        email: u.email,
        display_name: u.display_name,
        email_verified: u.email_verified,
        roles: roles.iter().map(ToString::to_string).collect(),
    })
}

#[Object]
impl AccountQuery {
    /// The signed-in caller, or `null`.
    async fn me(&self, c: &Context<'_>) -> async_graphql::Result<Option<Me>> {
        let cx = ctx(c)?;
        match cx.who().user_id() {
            Some(id) => Ok(Some(me(&cx, id).await?)),
            None => Ok(None),
        }
    }

    /// Everything Townhall holds about the signed-in person, as one JSON
    /// document (account, roles, contact records, requests reported).
    async fn my_data(&self, c: &Context<'_>) -> async_graphql::Result<Json<serde_json::Value>> {
        let cx = ctx(c)?;
        let user_id = cx
            .who()
            .user_id()
            .ok_or_else(|| ApiError::unauthenticated().into_graphql())?;
        let user = cx.state.store().user(user_id).await.gql()?;
        let roles = cx.state.access.roles(user_id).await.gql()?;
        let contacts = cx.state.store().contacts_of_user(user_id).await.gql()?;
        let mut requests = Vec::new();
        for j in cx.state.store().jurisdictions().await.gql()? {
            let q = StoreQuery {
                jurisdiction_id: j.id.clone(),
                reporter_user_id: Some(user_id),
                limit: 10_000,
                ..Default::default()
            };
            for r in cx.state.store().list_requests(&q).await.gql()? {
                let history = cx.state.store().history(r.id, false).await.gql()?;
                requests.push(serde_json::json!({ "request": r, "public_history": history }));
            }
        }
        Ok(Json(serde_json::json!({
            "account": user,
            "roles": roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "contacts": contacts,
            "requests": requests,
        })))
    }
}

#[Object]
impl AccountMutation {
    /// Creates a resident account and emails a confirmation link. The
    /// answer is the same whether or not the address already has an account.
    async fn sign_up(
        &self,
        c: &Context<'_>,
        email: String,
        password: String,
        #[graphql(default)] display_name: String,
    ) -> async_graphql::Result<Ack> {
        let cx = ctx(c)?;
        cx.state.access.sign_up(&email, &password, &display_name).await.gql()?;
        Ok(Ack {
            ok: true,
            message: "check your email to confirm your address".into(),
        })
    }

    async fn verify_email(&self, c: &Context<'_>, token: String) -> async_graphql::Result<Ack> {
        let cx = ctx(c)?;
        cx.state.access.verify_email(&token).await.gql()?;
        Ok(Ack {
            ok: true,
            message: "your email address is confirmed".into(),
        })
    }

    /// Signs in with email and password; sets the session cookie.
    async fn login(&self, c: &Context<'_>, email: String, password: String) -> async_graphql::Result<SignInResult> {
        let cx = ctx(c)?;
        let s = cx
            .state
            .access
            .login(&email, &password, &cx.auth.client_ip)
            .await
            .gql()?;
        let max_age = cx.state.access.config().session_idle.num_seconds();
        c.append_http_header(
            SET_COOKIE,
            session_cookie(&s.token, cx.state.config.cookie_secure, max_age),
        );
        let user_id = s
            .principal
            .user_id()
            .ok_or_else(|| ApiError::internal("session without user").into_graphql())?;
        Ok(SignInResult {
            me: me(&cx, user_id).await?,
            csrf_token: s.csrf_token,
        })
    }

    /// Ends the current session and clears the cookie.
    async fn logout(&self, c: &Context<'_>) -> async_graphql::Result<Ack> {
        let cx = ctx(c)?;
        if let Some(token) = &cx.auth.session_token {
            cx.state.access.logout(token).await.gql()?;
        }
        c.append_http_header(SET_COOKIE, clear_cookie(cx.state.config.cookie_secure));
        Ok(Ack {
            ok: true,
            message: "signed out".into(),
        })
    }

    /// Emails a reset link if the address has an account; answers the same either way.
    async fn request_password_reset(&self, c: &Context<'_>, email: String) -> async_graphql::Result<Ack> {
        let cx = ctx(c)?;
        cx.state.access.request_password_reset(&email).await.gql()?;
        Ok(Ack {
            ok: true,
            message: "if that address has an account, a reset link is on its way".into(),
        })
    }

    /// Sets a new password with the token from the reset email; signs out
    /// every session of the account.
    async fn reset_password(&self, c: &Context<'_>, token: String, new_password: String) -> async_graphql::Result<Ack> {
        let cx = ctx(c)?;
        cx.state.access.reset_password(&token, &new_password).await.gql()?;
        Ok(Ack {
            ok: true,
            message: "your password is changed; sign in again".into(),
        })
    }

    /// Deletes the signed-in person's account. Their requests stay, with no
    /// personal data. Confirm by typing the account's email address.
    async fn delete_my_account(&self, c: &Context<'_>, confirm_email: String) -> async_graphql::Result<Ack> {
        let cx = ctx(c)?;
        let user_id = cx
            .who()
            .user_id()
            .ok_or_else(|| ApiError::unauthenticated().into_graphql())?;
        let user = cx.state.store().user(user_id).await.gql()?;
        if confirm_email.trim().to_lowercase() != user.email {
            return Err(
                ApiError::bad_request("CONFIRMATION_MISMATCH", "type your account's email address to confirm")
                    .into_graphql(),
            );
        }
        let now = cx.state.intake.clock().now();
        cx.state.store().delete_user(user_id, now).await.gql()?;
        cx.state.access.refresh().await.gql()?;
        cx.state
            .access
            .audit(cx.who(), "delete_account", "user", Some(user_id.to_string()), None)
            .await
            .gql()?;
        c.append_http_header(SET_COOKIE, clear_cookie(cx.state.config.cookie_secure));
        Ok(Ack {
            ok: true,
            message: "your account is deleted; your reports stay, without your details".into(),
        })
    }
}
