//! Errors of plugin administration (install, upgrade, grant, …). Each has
//! a stable code for the API and CLI.

use townhall_intake::PluginFault;
use townhall_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin `{0}` is not installed")]
    NotFound(String),
    #[error("plugin `{0}` is already installed; use upgrade to replace it")]
    AlreadyInstalled(String),
    #[error(
        "this component was built for Townhall plugin interface {found}; this server supports {}",
        supported.join(", ")
    )]
    UnsupportedInterface { found: String, supported: Vec<String> },
    #[error("not a Townhall plugin component: {0}")]
    InvalidComponent(String),
    #[error("this server only installs signed plugins (plugins.require_signed): give the component's signature")]
    SignatureRequired,
    #[error("the signature does not match the component, or was not made by a trusted key")]
    BadSignature,
    #[error("invalid plugin manifest: {0}")]
    InvalidManifest(String),
    #[error("the upgrade is for plugin `{found}`, not `{expected}`")]
    WrongPlugin { expected: String, found: String },
    #[error(
        "service `{service}` names department `{department}`, which does not exist in jurisdiction `{jurisdiction}`"
    )]
    UnknownDepartment {
        service: String,
        department: String,
        jurisdiction: String,
    },
    #[error("service code `{code}` already belongs to plugin `{owner}`")]
    ServiceConflict { code: String, owner: String },
    #[error("{0}")]
    InvalidGrant(String),
    #[error("no jurisdiction named, and this server has no default jurisdiction")]
    NoJurisdiction,
    #[error("the plugin failed while being inspected: {0}")]
    Fault(#[from] PluginFault),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PluginError {
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::NotFound(_) => "PLUGIN_NOT_FOUND",
            PluginError::AlreadyInstalled(_) => "PLUGIN_ALREADY_INSTALLED",
            PluginError::UnsupportedInterface { .. } => "PLUGIN_UNSUPPORTED_INTERFACE",
            PluginError::InvalidComponent(_) => "PLUGIN_INVALID_COMPONENT",
            PluginError::SignatureRequired => "PLUGIN_SIGNATURE_REQUIRED",
            PluginError::BadSignature => "PLUGIN_BAD_SIGNATURE",
            PluginError::InvalidManifest(_) => "PLUGIN_INVALID_MANIFEST",
            PluginError::WrongPlugin { .. } => "PLUGIN_WRONG_PLUGIN",
            PluginError::UnknownDepartment { .. } => "PLUGIN_UNKNOWN_DEPARTMENT",
            PluginError::ServiceConflict { .. } => "PLUGIN_SERVICE_CONFLICT",
            PluginError::InvalidGrant(_) => "PLUGIN_INVALID_GRANT",
            PluginError::NoJurisdiction => "JURISDICTION_REQUIRED",
            PluginError::Fault(f) => f.kind.code(),
            PluginError::Io(_) => "PLUGIN_IO",
            PluginError::Store(StoreError::NotFound { .. }) => "NOT_FOUND",
            PluginError::Store(_) => "UNAVAILABLE",
        }
    }
}
