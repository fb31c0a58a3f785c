//! Every error a client can see, in one place.
//!
//! Lower layers raise their own errors; this module turns each into a
//! stable `code`, an HTTP status and a message with one exhaustive `match`
//! per layer. The codes are documented in `docs/errors.md`. Internal
//! failures are logged with the request id and shown only as "something went
//! wrong" plus that id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use townhall_access::AuthError;
use townhall_domain::{DomainError, FieldError};
use townhall_intake::IntakeError;
use townhall_store::StoreError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: vec![],
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("{what} not found"))
    }

    /// Not signed in (or not with enough to do this).
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "sign in to do this")
    }

    /// Signed in, but not allowed.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", "you are not allowed to do this")
    }

    /// A failure whose cause must not reach the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let id = uuid::Uuid::now_v7();
        tracing::error!(error_id = %id, cause = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            format!("something went wrong (error id {id})"),
        )
    }

    /// The GraphQL form: `extensions.code`, and `extensions.fields` for
    /// validation failures.
    pub fn into_graphql(self) -> async_graphql::Error {
        use async_graphql::ErrorExtensions;
        let mut e = async_graphql::Error::new(self.message);
        let code = self.code;
        let fields = self.fields;
        e = e.extend_with(|_, ext| {
            ext.set("code", code);
            if !fields.is_empty() {
                let list: Vec<async_graphql::Value> = fields
                    .iter()
                    .map(|f| {
                        let mut m = async_graphql::indexmap::IndexMap::new();
                        m.insert(
                            async_graphql::Name::new("field"),
                            async_graphql::Value::from(f.field.clone()),
                        );
                        m.insert(async_graphql::Name::new("code"), async_graphql::Value::from(f.code));
                        m.insert(
                            async_graphql::Name::new("message"),
                            async_graphql::Value::from(f.message.clone()),
                        );
                        async_graphql::Value::Object(m)
                    })
                    .collect();
                ext.set("fields", async_graphql::Value::List(list));
            }
        });
        e
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let status = match &e {
            DomainError::Invalid(_) | DomainError::MalformedId(_) => StatusCode::BAD_REQUEST,
            DomainError::InvalidTransition { .. } => StatusCode::CONFLICT,
        };
        ApiError {
            status,
            code: e.code(),
            message: e.to_string(),
            fields: e.field_errors().to_vec(),
        }
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        let code = e.code();
        match e {
            IntakeError::UnknownJurisdiction(_) | IntakeError::UnknownService(_) => {
                ApiError::new(StatusCode::NOT_FOUND, code, e.to_string())
            }
            IntakeError::JurisdictionRequired => ApiError::bad_request(code, e.to_string()),
            IntakeError::Invalid(d) => d.into(),
            IntakeError::NotFound { what, .. } => ApiError::not_found(what),
            IntakeError::Plugin(f) => {
                tracing::warn!(plugin = %f.plugin_id, kind = f.kind.code(), message = %f.message, "plugin fault");
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, f.to_string())
            }
            IntakeError::Conflict(m) => {
                tracing::info!(detail = %m, "conflict");
                ApiError::new(
                    StatusCode::CONFLICT,
                    code,
                    "the request changed at the same time; try again",
                )
            }
            IntakeError::Unavailable(m) => {
                tracing::warn!(detail = %m, "storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code,
                    "the service is busy; try again shortly",
                )
            }
            IntakeError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        IntakeError::from(e).into()
    }
}

impl From<townhall_search::SearchError> for ApiError {
    fn from(e: townhall_search::SearchError) -> Self {
        use townhall_search::SearchError as S;
        let code = e.code();
        match e {
            S::InvalidQuery { field, code, message } => ApiError {
                status: StatusCode::BAD_REQUEST,
                code,
                message: message.clone(),
                fields: vec![FieldError::new(field, code, message)],
            },
            S::Unavailable(m) => {
                tracing::warn!(detail = %m, "search unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code,
                    "search is unavailable; try again shortly",
                )
            }
            S::Engine(m) => {
                let id = uuid::Uuid::now_v7();
                tracing::error!(error_id = %id, cause = %m, "search engine failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    code,
                    format!("search failed (error id {id})"),
                )
            }
            S::Store(s) => s.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let code = e.code();
        match e {
            AuthError::InvalidCredentials
            | AuthError::InvalidSession
            | AuthError::InvalidApiKey
            | AuthError::RevokedApiKey => ApiError::new(StatusCode::UNAUTHORIZED, code, e.to_string()),
            AuthError::TooManyAttempts => ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, e.to_string()),
            AuthError::InvalidToken | AuthError::WeakPassword(_) | AuthError::Invalid(_) => {
                ApiError::bad_request(code, e.to_string())
            }
            AuthError::Store(s) => s.into(),
            AuthError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl ApiError {
    /// For contexts that need a concrete `Response` (e.g. the panic handler).
    pub fn into_response_owned(self) -> Response {
        self.into_response()
    }
}

impl From<townhall_plugin_host::PluginError> for ApiError {
    fn from(e: townhall_plugin_host::PluginError) -> Self {
        use townhall_plugin_host::PluginError as P;
        let code = e.code();
        match e {
            P::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, code, e.to_string()),
            P::AlreadyInstalled(_) | P::ServiceConflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, code, e.to_string())
            }
            P::UnsupportedInterface { .. }
            | P::InvalidComponent(_)
            | P::SignatureRequired
            | P::BadSignature
            | P::InvalidManifest(_)
            | P::WrongPlugin { .. }
            | P::UnknownDepartment { .. }
            | P::InvalidGrant(_)
            | P::NoJurisdiction => ApiError::bad_request(code, e.to_string()),
            P::Fault(f) => IntakeError::Plugin(f).into(),
            P::Io(m) => ApiError::internal(m),
            P::Store(s) => s.into(),
        }
    }
}

impl From<townhall_access::OidcError> for ApiError {
    fn from(e: townhall_access::OidcError) -> Self {
        use townhall_access::OidcError as O;
        let code = e.code();
        let status = match &e {
            O::UnknownProvider(_) => StatusCode::NOT_FOUND,
            O::StateMismatch | O::ExchangeFailed(_) => StatusCode::BAD_REQUEST,
            O::NonceMismatch | O::TokenExpired | O::WrongAudience | O::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            O::Denied(_) | O::EmailUnverified | O::DomainNotAllowed => StatusCode::FORBIDDEN,
            O::ProviderUnavailable(m) => {
                tracing::warn!(detail = %m, "OpenID provider unavailable");
                StatusCode::BAD_GATEWAY
            }
            O::Store(_) => return ApiError::internal(e.to_string()),
        };
        if matches!(e, O::ExchangeFailed(_) | O::InvalidToken(_)) {
            tracing::warn!(error = %e, "OpenID Connect sign-in refused");
        }
        let message = match &e {
            // Never echo provider internals.
            O::ExchangeFailed(_) => "the sign-in could not be completed; start again".to_owned(),
            O::InvalidToken(_) => "the ID token is not valid".to_owned(),
            _ => e.to_string(),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    /// `{"errors": [{"code", "message", "extensions": {"code"}}]}`: the
    /// same shape GraphQL clients read, so a refusal before GraphQL runs
    /// (bad session, CSRF) parses like any other error.
    fn into_response(self) -> Response {
        let status = self.status;
        let mut e = serde_json::json!(self);
        e["extensions"] = serde_json::json!({ "code": self.code });
        (status, axum::Json(serde_json::json!({ "errors": [e] }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `?` inside resolvers: any layer's error becomes a GraphQL error with a code.
pub trait GqlResultExt<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> GqlResultExt<T> for Result<T, E> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().into_graphql())
    }
}

/// Failures only the Open311 surface (`/open311/v2/`) raises. The codes are
/// listed in `docs/open311.md`; Open311 answers them as `{code,
/// description}` lists with the statuses the specification names (404
/// unknown things, 403 key problems, 400 the rest).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Open311Error {
    /// A call that needs an API key came without one.
    #[error("this call needs an `api_key` (form field, query parameter or `Authorization: Bearer` header)")]
    ApiKeyRequired,
    /// The key is good but its scopes do not allow the call.
    #[error("this API key may not {0}: it needs the `{1}` scope")]
    KeyScope(&'static str, &'static str),
    /// The URL's suffix is neither `.xml` nor `.json`.
    #[error("`{0}` is not a format this server speaks: use .xml or .json")]
    UnsupportedFormat(String),
    /// A parameter that does not parse or is out of range.
    #[error("{1}")]
    InvalidParameter(String, String),
    /// A date-time that is not ISO 8601.
    #[error("`{0}` must be an ISO 8601 date and time, e.g. 2026-05-01T14:30:00-05:00")]
    InvalidDate(String),
    /// The POST body is neither form-urlencoded nor multipart.
    #[error("send the request as application/x-www-form-urlencoded or multipart/form-data")]
    UnsupportedContentType,
    /// The body (or an upload) is larger than allowed.
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The multipart body does not parse.
    #[error("the multipart body is malformed")]
    MalformedMultipart,
    /// A photo larger than the limit.
    #[error("the photo is larger than {0} bytes")]
    PhotoTooLarge(usize),
    /// A photo that is neither JPEG nor PNG (by its bytes).
    #[error("the photo must be a JPEG or PNG image")]
    PhotoUnsupported,
    /// A HEIC/HEIF photo: there is no HEVC decoder in this server.
    #[error("HEIC/HEIF photos are not accepted: send a JPEG (most phones can share one)")]
    PhotoHeic,
    /// A JPEG or PNG that does not parse.
    #[error("the photo is damaged: {0}")]
    PhotoInvalid(String),
    /// Both a photo and a `media_url`.
    #[error("give either a photo or a `media_url`, not both")]
    PhotoAndMediaUrl,
    /// A token-mode submission that the pipeline refused.
    #[error("the submission behind this token was refused")]
    SubmissionRejected,
}

impl From<Open311Error> for ApiError {
    fn from(e: Open311Error) -> Self {
        use Open311Error as E;
        let (status, code) = match &e {
            E::ApiKeyRequired => (StatusCode::FORBIDDEN, "API_KEY_REQUIRED"),
            E::KeyScope(..) => (StatusCode::FORBIDDEN, "API_KEY_SCOPE"),
            E::UnsupportedFormat(_) => (StatusCode::NOT_FOUND, "UNSUPPORTED_FORMAT"),
            E::InvalidParameter(..) => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER"),
            E::InvalidDate(_) => (StatusCode::BAD_REQUEST, "INVALID_DATE"),
            E::UnsupportedContentType => (StatusCode::BAD_REQUEST, "UNSUPPORTED_CONTENT_TYPE"),
            E::BodyTooLarge(_) => (StatusCode::BAD_REQUEST, "BODY_TOO_LARGE"),
            E::MalformedMultipart => (StatusCode::BAD_REQUEST, "MALFORMED_MULTIPART"),
            E::PhotoTooLarge(_) => (StatusCode::BAD_REQUEST, "PHOTO_TOO_LARGE"),
            E::PhotoUnsupported => (StatusCode::BAD_REQUEST, "PHOTO_UNSUPPORTED"),
            E::PhotoHeic => (StatusCode::BAD_REQUEST, "PHOTO_HEIC_UNSUPPORTED"),
            E::PhotoInvalid(_) => (StatusCode::BAD_REQUEST, "PHOTO_INVALID"),
            E::PhotoAndMediaUrl => (StatusCode::BAD_REQUEST, "PHOTO_AND_MEDIA_URL"),
            E::SubmissionRejected => (StatusCode::BAD_REQUEST, "SUBMISSION_REJECTED"),
        };
        let fields = match &e {
            E::InvalidParameter(field, msg) => vec![FieldError::new(field.clone(), "INVALID_PARAMETER", msg.clone())],
            E::InvalidDate(field) => vec![FieldError::new(field.clone(), "INVALID_DATE", e.to_string())],
            _ => vec![],
        };
        ApiError {
            status,
            code,
            message: e.to_string(),
            fields,
        }
    }
}

impl ApiError {
    /// An API-key failure as Open311 reports it: 403, whatever the cause
    /// (the specification's status for a missing or bad `api_key`).
    pub fn open311_key(e: AuthError) -> Self {
        let mut a = ApiError::from(e);
        if a.status == StatusCode::UNAUTHORIZED {
            a.status = StatusCode::FORBIDDEN;
        }
        a
    }

    /// The `{code, description}` items of an Open311 error list: one per
    /// field problem when there are several, else the error itself.
    pub fn open311_items(&self) -> Vec<(&'static str, String)> {
        if self.fields.is_empty() {
            vec![(self.code, self.message.clone())]
        } else {
            self.fields.iter().map(|f| (f.code, f.message.clone())).collect()
        }
    }
}
