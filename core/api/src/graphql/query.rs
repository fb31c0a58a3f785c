//! Read-only queries over the catalog and requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use townhall_access::Action;
use townhall_domain::ids::RequestRef;
use townhall_domain::intake::BoundingBox;
use townhall_domain::service::ServiceDefinition;
use townhall_domain::{Open311Status, Status};
use townhall_store::{RequestQuery as StoreQuery, RequestRecord, StoreError};
use uuid::Uuid;

use super::types::*;
use super::{Can, Ctx, ctx};
use crate::error::{ApiError, GqlResultExt};

pub const MAX_PAGE: i32 = 100;

#[derive(Default)]
pub struct RequestQuery;

pub(crate) fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub(crate) fn decode_cursor(s: &str) -> Result<Uuid, ApiError> {
    URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| ApiError::bad_request("INVALID_CURSOR", "`after` is not a cursor this API returned"))
}

/// Loads a request by id or tracking number, hiding it (as not found) from
/// callers who may not see it.
pub(crate) async fn load_visible(
    cx: &Ctx<'_>,
    jurisdiction_id: &str,
    reference: &str,
) -> async_graphql::Result<Option<ServiceRequestGql>> {
    let r = match reference.parse::<RequestRef>().gql()? {
        RequestRef::Id(id) => cx.state.store().request(jurisdiction_id, id).await,
        RequestRef::Tracking(t) => {
            cx.state
                .store()
                .request_by_tracking(jurisdiction_id, &t.to_string())
                .await
        }
    };
    let record = match r {
        Ok(r) => r,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e).gql(),
    };
    view(cx, record).await
}

/// Wraps a record for display, or `None` if the caller may not see it.
pub(crate) async fn view(cx: &Ctx<'_>, record: RequestRecord) -> async_graphql::Result<Option<ServiceRequestGql>> {
    let private = may_read_private(cx, &record);
    if !record.public && !private {
        return Ok(None);
    }
    let service = cx
        .state
        .store()
        .service(&record.jurisdiction_id, &record.service_code)
        .await
        .ok()
        .map(Arc::new);
    Ok(Some(ServiceRequestGql {
        record,
        service,
        private,
    }))
}

#[Object]
impl RequestQuery {
    /// Jurisdictions served here (most installs have one).
    async fn jurisdictions(&self, c: &Context<'_>) -> async_graphql::Result<Vec<JurisdictionGql>> {
        let cx = ctx(c)?;
        Ok(cx
            .state
            .store()
            .jurisdictions()
            .await
            .gql()?
            .into_iter()
            .map(|j| JurisdictionGql {
                id: j.id,
                name: j.name,
                timezone: j.timezone.name().to_owned(),
                is_default: j.is_default,
            })
            .collect())
    }

    async fn departments(
        &self,
        c: &Context<'_>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Vec<DepartmentGql>> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        Ok(cx
            .state
            .store()
            .departments(&j.id)
            .await
            .gql()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The services residents can report, in display order. Inactive ones
    /// only for administrators.
    #[graphql(guard = "Can(Action::ReadCatalog)")]
    async fn service_definitions(
        &self,
        c: &Context<'_>,
        jurisdiction_id: Option<String>,
        #[graphql(default = false)] include_inactive: bool,
    ) -> async_graphql::Result<Vec<ServiceDefinitionGql>> {
        let cx = ctx(c)?;
        if include_inactive {
            cx.require(Action::ManagePlugins, None)?;
        }
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        Ok(cx
            .state
            .store()
            .services(&j.id, include_inactive)
            .await
            .gql()?
            .into_iter()
            .map(|s| ServiceDefinitionGql(Arc::new(s)))
            .collect())
    }

    #[graphql(guard = "Can(Action::ReadCatalog)")]
    async fn service_definition(
        &self,
        c: &Context<'_>,
        code: String,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Option<ServiceDefinitionGql>> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        match cx.state.intake.catalog().service(&j.id, &code).await {
            Ok(s) => Ok(Some(ServiceDefinitionGql(s))),
            Err(townhall_intake::IntakeError::UnknownService(_)) => Ok(None),
            Err(e) => Err(e).gql(),
        }
    }

    /// One request by `id` (UUID) or `trackingNumber`; `null` when there is
    /// none the caller may see.
    #[graphql(guard = "Can(Action::ReadPublic)")]
    async fn service_request(
        &self,
        c: &Context<'_>,
        id: Option<ID>,
        tracking_number: Option<String>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Option<ServiceRequestGql>> {
        let cx = ctx(c)?;
        let reference = match (id, tracking_number) {
            (Some(id), None) => id.0,
            (None, Some(t)) => t,
            _ => {
                return Err(
                    ApiError::bad_request("INVALID_ARGUMENT", "give exactly one of `id` and `trackingNumber`")
                        .into_graphql(),
                );
            }
        };
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        load_visible(&cx, &j.id, &reference).await
    }

    /// Requests matching `filter`, newest first, `first` at a time (at most 100).
    #[graphql(guard = "Can(Action::ReadPublic)")]
    async fn service_requests(
        &self,
        c: &Context<'_>,
        filter: Option<RequestFilter>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<ServiceRequestConnectionGql> {
        let cx = ctx(c)?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(
                ApiError::bad_request("INVALID_ARGUMENT", format!("`first` must be between 1 and {MAX_PAGE}"))
                    .into_graphql(),
            );
        }
        let after = after
            .map(|a| decode_cursor(&a))
            .transpose()
            .map_err(ApiError::into_graphql)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let f = filter.unwrap_or_default();
        let mut statuses: Vec<Status> = f.statuses.unwrap_or_default().into_iter().map(Into::into).collect();
        let mut nothing_matches = false;
        if let Some(o) = f.open311_status {
            let want: Open311Status = o.into();
            let group: Vec<Status> = Status::ALL.into_iter().filter(|s| s.open311() == want).collect();
            statuses = if statuses.is_empty() {
                group
            } else {
                statuses.into_iter().filter(|s| group.contains(s)).collect()
            };
            nothing_matches = statuses.is_empty();
        }
        let bbox = f.bbox.map(|b| BoundingBox {
            min_lat: b.min_lat,
            min_long: b.min_long,
            max_lat: b.max_lat,
            max_long: b.max_long,
        });
        if let Some(b) = &bbox {
            b.check("filter.bbox").gql()?;
        }
        for (from, to, name) in [
            (f.requested_from, f.requested_to, "requested"),
            (f.updated_from, f.updated_to, "updated"),
        ] {
            if let (Some(a), Some(b)) = (from, to)
                && a > b
            {
                return Err(
                    ApiError::bad_request("INVALID_DATE_RANGE", format!("`{name}From` is after `{name}To`"))
                        .into_graphql(),
                );
            }
        }
        let reporter_user_id = if f.mine.unwrap_or(false) {
            Some(
                cx.who()
                    .user_id()
                    .ok_or_else(|| ApiError::unauthenticated().into_graphql())?,
            )
        } else {
            None
        };
        let private_in = cx.departments_for(Action::ReadPrivate, &j.id).await?;
        let everywhere = private_in.iter().any(|d| d == "*");
        let q = StoreQuery {
            jurisdiction_id: j.id.clone(),
            statuses,
            service_codes: f.service_codes.unwrap_or_default(),
            department_codes: f.department_codes.unwrap_or_default(),
            requested_from: f.requested_from,
            requested_to: f.requested_to,
            updated_from: f.updated_from,
            updated_to: f.updated_to,
            bbox,
            public_only: !everywhere,
            also_private_in: if everywhere { vec![] } else { private_in },
            reporter_user_id,
            after,
            limit: u64::try_from(first).unwrap_or(20) + 1,
            ..Default::default()
        };
        let mut rows = if nothing_matches {
            vec![]
        } else {
            cx.state.store().list_requests(&q).await.gql()?
        };
        let has_next = rows.len() > usize::try_from(first).unwrap_or(20);
        rows.truncate(usize::try_from(first).unwrap_or(20));

        let mut services: BTreeMap<String, Option<Arc<ServiceDefinition>>> = BTreeMap::new();
        let mut edges = Vec::with_capacity(rows.len());
        for record in rows {
            let service = match services.get(&record.service_code) {
                Some(s) => s.clone(),
                None => {
                    let s = cx
                        .state
                        .store()
                        .service(&j.id, &record.service_code)
                        .await
                        .ok()
                        .map(Arc::new);
                    services.insert(record.service_code.clone(), s.clone());
                    s
                }
            };
            let private = may_read_private(&cx, &record);
            edges.push(ServiceRequestEdgeGql {
                cursor: encode_cursor(record.id),
                node: ServiceRequestGql {
                    record,
                    service,
                    private,
                },
            });
        }
        let end_cursor = edges.last().map(|e| e.cursor.clone());
        let mut count_query = q;
        count_query.after = None;
        Ok(ServiceRequestConnectionGql {
            edges,
            page_info: PageInfo {
                has_next_page: has_next,
                end_cursor,
            },
            count_query: (!nothing_matches).then_some(count_query),
        })
    }

    /// A request's history (also available as `ServiceRequest.history`).
    #[graphql(guard = "Can(Action::ReadPublic)")]
    async fn request_history(
        &self,
        c: &Context<'_>,
        id: ID,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<Vec<RequestEventGql>> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let Some(r) = load_visible(&cx, &j.id, &id.0).await? else {
            return Err(ApiError::not_found("request").into_graphql());
        };
        load_history(&cx, &r.record, r.private).await
    }
}
