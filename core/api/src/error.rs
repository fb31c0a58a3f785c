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
                        m.insert(async_graphql::Name::new("field"), async_graphql::Value::from(f.field.clone()));
                        m.insert(async_graphql::Name::new("code"), async_graphql::Value::from(f.code));
                        m.insert(async_graphql::Name::new("message"), async_graphql::Value::from(f.message.clone()));
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
                ApiError::new(StatusCode::CONFLICT, code, "the request changed at the same time; try again")
            }
            IntakeError::Unavailable(m) => {
                tracing::warn!(detail = %m, "storage unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, "the service is busy; try again shortly")
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
            P::AlreadyInstalled(_) | P::ServiceConflict { .. } => ApiError::new(StatusCode::CONFLICT, code, e.to_string()),
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        (status, axum::Json(serde_json::json!({ "errors": [self] }))).into_response()
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
