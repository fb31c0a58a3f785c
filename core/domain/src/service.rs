//! Service definitions: what a resident can report, the form it asks for,
//! who handles it and how fast.

use serde::{Deserialize, Serialize};

use crate::priority::Priority;
use crate::sla::SlaTarget;

/// Open311 attribute datatypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    Singlevaluelist,
    Multivaluelist,
}

impl Datatype {
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Number => "number",
            Datatype::Datetime => "datetime",
            Datatype::Text => "text",
            Datatype::Singlevaluelist => "singlevaluelist",
            Datatype::Multivaluelist => "multivaluelist",
        }
    }

    pub fn is_list(self) -> bool {
        matches!(self, Datatype::Singlevaluelist | Datatype::Multivaluelist)
    }
}

/// One allowed value of a list attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValueDef {
    pub key: String,
    pub name: String,
}

/// One field of a service's intake form (Open311 `attribute`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDef {
    pub code: String,
    /// `false` for an informational attribute that takes no input.
    #[serde(default = "yes")]
    pub variable: bool,
    pub datatype: Datatype,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub datatype_description: Option<String>,
    #[serde(default)]
    pub order: i32,
    /// The question asked of the resident.
    pub description: String,
    #[serde(default)]
    pub values: Vec<AttributeValueDef>,
}

fn yes() -> bool {
    true
}

/// A service a jurisdiction offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDefinition {
    pub jurisdiction_id: String,
    pub code: String,
    pub name: String,
    pub description: String,
    pub group: Option<String>,
    pub keywords: Vec<String>,
    pub attributes: Vec<AttributeDef>,
    pub default_priority: Priority,
    pub sla: SlaTarget,
    pub department_id: Option<String>,
    /// The plugin that owns this service; `None` for services defined in the core catalog.
    pub plugin_id: Option<String>,
    pub active: bool,
    /// Requests of this service appear on public surfaces (Open311, public search).
    pub public: bool,
    /// The exact address of requests of this service is private (e.g. a home address).
    pub address_sensitive: bool,
    /// Whether anonymous (not signed-in) residents may report it.
    pub anonymous_allowed: bool,
    /// Open311 POST answers with a token instead of an id.
    pub answers_with_token: bool,
}

impl ServiceDefinition {
    /// Open311 `metadata`: whether the service has a form beyond the basics.
    pub fn has_metadata(&self) -> bool {
        !self.attributes.is_empty()
    }

    pub fn attribute(&self, code: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|a| a.code == code)
    }
}
