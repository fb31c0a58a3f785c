//! GraphQL object, input and enum types, and the visibility rules applied
//! when a request is shown: private fields resolve to `null` unless the
//! caller may read private data in the request's department, and every
//! private read is written to the audit log.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use townhall_access::Action;
use townhall_domain::service::{AttributeDef, ServiceDefinition};
use townhall_store::{EventRecord, RequestRecord};

use super::ctx;
use crate::error::GqlResultExt;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "townhall_domain::Status", name = "RequestStatus")]
pub enum StatusGql {
    Open,
    Acknowledged,
    Investigating,
    InProgress,
    ActionScheduled,
    Reopened,
    Fixed,
    Closed,
    Duplicate,
    NotResponsible,
    NoFurtherAction,
    InternalReferral,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "townhall_domain::Open311Status", name = "Open311Status")]
pub enum Open311StatusGql {
    Open,
    Closed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "townhall_domain::Priority", name = "Priority")]
pub enum PriorityGql {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "townhall_domain::intake::Channel", name = "Channel")]
pub enum ChannelGql {
    Web,
    Mobile,
    Api,
    Open311,
    Email,
    Sms,
    Phone,
    Staff,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "townhall_domain::EventKind", name = "EventKind")]
pub enum EventKindGql {
    Created,
    StatusChanged,
    PublicNote,
    InternalNote,
    Assigned,
    Merged,
    Rerouted,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "townhall_domain::service::Datatype", name = "AttributeDatatype")]
pub enum DatatypeGql {
    String,
    Number,
    Datetime,
    Text,
    Singlevaluelist,
    Multivaluelist,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "townhall_domain::sla::SlaUnit", name = "SlaUnit")]
pub enum SlaUnitGql {
    Hours,
    BusinessDays,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum NoteVisibility {
    /// Everyone who can see the request, the reporter included.
    #[default]
    Public,
    /// Staff of the responsible department and administrators only.
    Internal,
}

#[derive(SimpleObject)]
pub struct JurisdictionGql {
    pub id: String,
    pub name: String,
    pub timezone: String,
    pub is_default: bool,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "Department")]
pub struct DepartmentGql {
    pub code: String,
    pub name: String,
    pub description: String,
}

impl From<townhall_store::Department> for DepartmentGql {
    fn from(d: townhall_store::Department) -> Self {
        Self {
            code: d.code,
            name: d.name,
            description: d.description,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Sla")]
pub struct SlaGql {
    pub amount: u32,
    pub unit: SlaUnitGql,
}

#[derive(SimpleObject)]
#[graphql(name = "AttributeValue")]
pub struct AttributeValueGql {
    pub key: String,
    pub name: String,
}

pub struct AttributeGql(pub AttributeDef);

/// One field of a service's form (Open311 attribute).
#[Object(name = "Attribute")]
impl AttributeGql {
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// `false` for informational text that takes no answer.
    async fn variable(&self) -> bool {
        self.0.variable
    }
    async fn datatype(&self) -> DatatypeGql {
        self.0.datatype.into()
    }
    async fn required(&self) -> bool {
        self.0.required
    }
    async fn datatype_description(&self) -> Option<&str> {
        self.0.datatype_description.as_deref()
    }
    async fn order(&self) -> i32 {
        self.0.order
    }
    /// The question asked.
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn values(&self) -> Vec<AttributeValueGql> {
        self.0
            .values
            .iter()
            .map(|v| AttributeValueGql {
                key: v.key.clone(),
                name: v.name.clone(),
            })
            .collect()
    }
}

pub struct ServiceDefinitionGql(pub Arc<ServiceDefinition>);

#[Object(name = "ServiceDefinition")]
impl ServiceDefinitionGql {
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn group(&self) -> Option<&str> {
        self.0.group.as_deref()
    }
    async fn keywords(&self) -> &[String] {
        &self.0.keywords
    }
    /// Whether the service has a form (Open311 `metadata`).
    async fn metadata(&self) -> bool {
        self.0.has_metadata()
    }
    async fn attributes(&self) -> Vec<AttributeGql> {
        let mut attrs: Vec<_> = self.0.attributes.iter().cloned().map(AttributeGql).collect();
        attrs.sort_by_key(|a| a.0.order);
        attrs
    }
    async fn default_priority(&self) -> PriorityGql {
        self.0.default_priority.into()
    }
    /// The service-level target in hours (a business day counts 24).
    async fn sla_hours(&self) -> u32 {
        self.0.sla.nominal_hours()
    }
    async fn sla(&self) -> SlaGql {
        SlaGql {
            amount: self.0.sla.amount,
            unit: self.0.sla.unit.into(),
        }
    }
    async fn department(&self, c: &Context<'_>) -> async_graphql::Result<Option<DepartmentGql>> {
        let Some(code) = &self.0.department_id else {
            return Ok(None);
        };
        let cx = ctx(c)?;
        match cx.state.store().department(&self.0.jurisdiction_id, code).await {
            Ok(d) => Ok(Some(d.into())),
            Err(townhall_store::StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).gql(),
        }
    }
    /// The plugin that owns the service, if any.
    async fn plugin_id(&self) -> Option<&str> {
        self.0.plugin_id.as_deref()
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn anonymous_allowed(&self) -> bool {
        self.0.anonymous_allowed
    }
    async fn address_sensitive(&self) -> bool {
        self.0.address_sensitive
    }
}

/// A reporter's contact details (private).
#[derive(SimpleObject)]
#[graphql(name = "Reporter")]
pub struct ReporterGql {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The reporter deleted their account; their details are gone.
    pub anonymized: bool,
}

/// A service request as the caller may see it.
pub struct ServiceRequestGql {
    pub record: RequestRecord,
    pub service: Option<Arc<ServiceDefinition>>,
    /// Whether the caller may read private fields.
    pub private: bool,
}

impl ServiceRequestGql {
    fn address_hidden(&self) -> bool {
        !self.private && self.service.as_ref().is_some_and(|s| s.address_sensitive)
    }
}

#[Object(name = "ServiceRequest")]
impl ServiceRequestGql {
    async fn id(&self) -> ID {
        ID(self.record.id.to_string())
    }
    /// The number residents quote, e.g. `2026-000123`.
    async fn tracking_number(&self) -> &str {
        &self.record.tracking_number
    }
    async fn service_code(&self) -> &str {
        &self.record.service_code
    }
    async fn service(&self) -> Option<ServiceDefinitionGql> {
        self.service.clone().map(ServiceDefinitionGql)
    }
    async fn description(&self) -> Option<&str> {
        self.record.description.as_deref()
    }
    async fn status(&self) -> StatusGql {
        self.record.status.into()
    }
    /// The Open311 status: `OPEN` or `CLOSED`.
    async fn open311_status(&self) -> Open311StatusGql {
        self.record.status.open311().into()
    }
    async fn priority(&self) -> PriorityGql {
        self.record.priority.into()
    }
    async fn lat(&self) -> Option<f64> {
        if self.address_hidden() { None } else { self.record.lat }
    }
    async fn long(&self) -> Option<f64> {
        if self.address_hidden() { None } else { self.record.long }
    }
    async fn address(&self) -> Option<&str> {
        if self.address_hidden() {
            None
        } else {
            self.record.address.as_deref()
        }
    }
    async fn address_id(&self) -> Option<&str> {
        if self.address_hidden() {
            None
        } else {
            self.record.address_id.as_deref()
        }
    }
    async fn zipcode(&self) -> Option<&str> {
        self.record.zipcode.as_deref()
    }
    async fn department(&self, c: &Context<'_>) -> async_graphql::Result<Option<DepartmentGql>> {
        let Some(code) = &self.record.department_code else {
            return Ok(None);
        };
        let cx = ctx(c)?;
        match cx.state.store().department(&self.record.jurisdiction_id, code).await {
            Ok(d) => Ok(Some(d.into())),
            Err(townhall_store::StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).gql(),
        }
    }
    /// The crew or work queue it was routed to.
    async fn queue(&self) -> Option<&str> {
        self.record.queue.as_deref()
    }
    /// The staff member assigned (private).
    async fn assignee_id(&self) -> Option<ID> {
        if self.private {
            self.record.assignee_id.map(|a| ID(a.to_string()))
        } else {
            None
        }
    }
    async fn requested_at(&self) -> DateTime<Utc> {
        self.record.requested_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.record.updated_at
    }
    /// When the service-level target says it should be resolved.
    async fn expected_at(&self) -> Option<DateTime<Utc>> {
        self.record.expected_at
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.record.closed_at
    }
    async fn channel(&self) -> ChannelGql {
        self.record.channel.into()
    }
    /// Answers to the service's form, by attribute code.
    async fn attributes(&self) -> Json<serde_json::Value> {
        Json(self.record.attributes.clone())
    }
    async fn media_url(&self) -> Option<&str> {
        self.record.media_url.as_deref()
    }
    /// The request this one was merged into, when it is a duplicate.
    async fn merged_into(&self) -> Option<ID> {
        self.record.merged_into.map(|m| ID(m.to_string()))
    }
    /// Whether the request appears on public surfaces.
    async fn public(&self) -> bool {
        self.record.public
    }
    /// Who reported it. Private: only staff of the responsible department
    /// and administrators (and the reporter) see it; each read is audited.
    async fn reporter(&self, c: &Context<'_>) -> async_graphql::Result<Option<ReporterGql>> {
        let Some(contact_id) = self.record.reporter_id else {
            return Ok(None);
        };
        let cx = ctx(c)?;
        let contact = cx.state.store().contact(contact_id).await.gql()?;
        let own = contact.user_id.is_some() && contact.user_id == cx.who().user_id();
        if !self.private && !own {
            return Ok(None);
        }
        if !own {
            cx.state
                .access
                .audit(
                    cx.who(),
                    "read_private",
                    "request",
                    Some(self.record.id.to_string()),
                    Some(serde_json::json!({ "fields": ["reporter"], "tracking_number": self.record.tracking_number })),
                )
                .await
                .gql()?;
        }
        Ok(Some(ReporterGql {
            first_name: contact.first_name,
            last_name: contact.last_name,
            email: contact.email,
            phone: contact.phone,
            anonymized: contact.anonymized,
        }))
    }
    /// The history, oldest first. Internal entries only for callers who may
    /// read private data (such reads are audited).
    async fn history(&self, c: &Context<'_>) -> async_graphql::Result<Vec<RequestEventGql>> {
        load_history(&ctx(c)?, &self.record, self.private).await
    }
}

/// A request's history, oldest first. Internal entries only when `private`
/// (the caller may read private data), and such reads are audited.
pub async fn load_history(
    cx: &super::Ctx<'_>,
    record: &RequestRecord,
    private: bool,
) -> async_graphql::Result<Vec<RequestEventGql>> {
    let events = cx.state.store().history(record.id, private).await.gql()?;
    if private && events.iter().any(|e| !e.public) {
        cx.state
            .access
            .audit(
                cx.who(),
                "read_private",
                "request",
                Some(record.id.to_string()),
                Some(serde_json::json!({ "fields": ["internal_notes"], "tracking_number": record.tracking_number })),
            )
            .await
            .gql()?;
    }
    Ok(events
        .into_iter()
        .map(|e| RequestEventGql { record: e, private })
        .collect())
}

/// One entry of a request's history.
pub struct RequestEventGql {
    pub record: EventRecord,
    pub private: bool,
}

#[Object(name = "RequestEvent")]
impl RequestEventGql {
    async fn id(&self) -> ID {
        ID(self.record.id.to_string())
    }
    async fn kind(&self) -> EventKindGql {
        self.record.kind.into()
    }
    async fn at(&self) -> DateTime<Utc> {
        self.record.created_at
    }
    async fn from_status(&self) -> Option<StatusGql> {
        self.record.from_status.map(Into::into)
    }
    async fn to_status(&self) -> Option<StatusGql> {
        self.record.to_status.map(Into::into)
    }
    /// The note's text (public notes; internal ones for staff).
    async fn body(&self) -> Option<&str> {
        self.record.body.as_deref()
    }
    async fn public(&self) -> bool {
        self.record.public
    }
    /// `user`, `reporter`, `plugin`, `system` or `api_client`.
    async fn actor_type(&self) -> &str {
        self.record.actor.kind.as_str()
    }
    /// Who exactly (staff only: a user or key id, or a plugin id).
    async fn actor_id(&self) -> Option<&str> {
        if self.private || self.record.actor.kind == townhall_store::ActorKind::Plugin {
            self.record.actor.id.as_deref()
        } else {
            None
        }
    }
    /// Structured details (routing decision, merge target, assignment).
    async fn data(&self) -> Option<Json<serde_json::Value>> {
        let data = self.record.data.clone()?;
        if self.private || self.record.kind != townhall_domain::EventKind::Assigned {
            Some(Json(data))
        } else {
            None
        }
    }
}

#[derive(InputObject, Clone, Copy)]
pub struct BoundingBoxInput {
    pub min_lat: f64,
    pub min_long: f64,
    pub max_lat: f64,
    pub max_long: f64,
}

#[derive(InputObject, Default)]
pub struct RequestFilter {
    pub statuses: Option<Vec<StatusGql>>,
    /// `OPEN` or `CLOSED` (every internal status maps to one).
    pub open311_status: Option<Open311StatusGql>,
    pub service_codes: Option<Vec<String>>,
    pub department_codes: Option<Vec<String>>,
    pub requested_from: Option<DateTime<Utc>>,
    pub requested_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    pub bbox: Option<BoundingBoxInput>,
    /// Only requests the signed-in caller reported.
    pub mine: Option<bool>,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(name = "ServiceRequestEdge")]
pub struct ServiceRequestEdgeGql {
    pub cursor: String,
    pub node: ServiceRequestGql,
}

/// A page of requests.
#[derive(SimpleObject)]
#[graphql(name = "ServiceRequestConnection", complex)]
pub struct ServiceRequestConnectionGql {
    pub edges: Vec<ServiceRequestEdgeGql>,
    pub page_info: PageInfo,
    /// `None` when the filter can match nothing.
    #[graphql(skip)]
    pub count_query: Option<townhall_store::RequestQuery>,
}

#[ComplexObject]
impl ServiceRequestConnectionGql {
    /// How many requests match the filter in all (counted only when asked).
    async fn total_count(&self, c: &Context<'_>) -> async_graphql::Result<u64> {
        match &self.count_query {
            Some(q) => ctx(c)?.state.store().count_requests(q).await.gql(),
            None => Ok(0),
        }
    }
    /// The requests of this page, without cursors.
    async fn nodes(&self) -> Vec<&ServiceRequestGql> {
        self.edges.iter().map(|e| &e.node).collect()
    }
}

/// The reporter contact a submitter gives (kept private).
#[derive(InputObject, Default)]
pub struct ReporterInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(InputObject)]
pub struct SubmitRequestInput {
    pub service_code: String,
    pub description: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    /// Answers to the service's form: an object `{CODE: "value", LIST: ["a", "b"]}`
    /// or a list `[{code: "CODE", value: "v"}, {code: "LIST", values: ["a"]}]`.
    pub attributes: Option<Json<serde_json::Value>>,
    pub media_url: Option<String>,
    pub reporter: Option<ReporterInput>,
    /// `WEB` (default) or `MOBILE`; other channels have their own endpoints.
    pub channel: Option<ChannelGql>,
    pub device_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct MergeResult {
    pub duplicate: ServiceRequestGql,
    pub into: ServiceRequestGql,
}

/// Whether a caller may read private fields of `record`.
pub fn may_read_private(cx: &super::Ctx<'_>, record: &RequestRecord) -> bool {
    cx.can(Action::ReadPrivate, record.department_code.as_deref())
}
