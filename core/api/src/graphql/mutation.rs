//! Mutations on requests: submit (through the one intake pipeline), change
//! status, add notes, assign, merge.

use std::collections::BTreeMap;

use async_graphql::{Context, ID, Object};
use serde_json::Value;
use townhall_access::{Action, actor};
use townhall_domain::intake::{Channel, IntakeInput, Reporter};
use townhall_domain::{DomainError, attributes::AttributeInput};
use townhall_intake::StatusChange;

use super::query::view;
use super::types::*;
use super::{Can, Ctx, ctx};
use crate::error::{ApiError, GqlResultExt};

#[derive(Default)]
pub struct RequestMutation;

/// Accepts `{CODE: "v", LIST: ["a","b"], N: 3}` or
/// `[{code: "CODE", value: "v"}, {code: "LIST", values: ["a"]}]`.
pub(crate) fn parse_attributes(v: Option<Value>) -> Result<BTreeMap<String, AttributeInput>, DomainError> {
    let bad = |msg: &str| DomainError::field("attributes", "INVALID_ATTRIBUTES", msg.to_owned());
    let scalar = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let one = |v: &Value| -> Result<AttributeInput, DomainError> {
        match v {
            Value::Array(items) => items
                .iter()
                .map(|i| scalar(i).ok_or_else(|| bad("a list answer holds strings or numbers")))
                .collect::<Result<Vec<_>, _>>()
                .map(AttributeInput::Many),
            other => scalar(other)
                .map(AttributeInput::One)
                .ok_or_else(|| bad("an answer is a string, number, boolean or list of them")),
        }
    };
    let mut out = BTreeMap::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in &m {
                out.insert(k.clone(), one(v)?);
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                let Value::Object(m) = item else {
                    return Err(bad("each attribute is an object {code, value} or {code, values}"));
                };
                let code = m
                    .get("code")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("an attribute needs a `code`"))?;
                let answer = m
                    .get("values")
                    .or_else(|| m.get("value"))
                    .ok_or_else(|| bad("an attribute needs a `value` or `values`"))?;
                out.insert(code.to_owned(), one(answer)?);
            }
        }
        Some(_) => return Err(bad("`attributes` is an object or a list")),
    }
    Ok(out)
}

/// Loads a request the caller may act on, resolving ids and tracking numbers.
async fn target(
    cx: &Ctx<'_>,
    jurisdiction_id: &str,
    reference: &str,
) -> async_graphql::Result<townhall_store::RequestRecord> {
    cx.state.intake.resolve(jurisdiction_id, reference).await.gql()
}

#[Object]
impl RequestMutation {
    /// Submits a request through the same pipeline as every other channel.
    #[graphql(guard = "Can(Action::Submit)")]
    async fn submit_request(
        &self,
        c: &Context<'_>,
        input: SubmitRequestInput,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<ServiceRequestGql> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let service = cx
            .state
            .intake
            .catalog()
            .service(&j.id, input.service_code.trim())
            .await
            .gql()?;
        if !service.anonymous_allowed && cx.who().is_anonymous() {
            return Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "SIGN_IN_REQUIRED",
                format!("sign in to report `{}`", service.name),
            )
            .into_graphql());
        }
        let channel = match input.channel {
            None => Channel::Web,
            Some(ch) => match Channel::from(ch) {
                c @ (Channel::Web | Channel::Mobile) => c,
                Channel::Staff if cx.can(Action::ChangeStatus, service.department_id.as_deref()) => Channel::Staff,
                other => {
                    return Err(ApiError::bad_request(
                        "INVALID_CHANNEL",
                        format!("`{other}` submissions come through their own endpoint"),
                    )
                    .into_graphql());
                }
            },
        };
        let reporter_in = input.reporter.unwrap_or_default();
        let intake = IntakeInput {
            service_code: input.service_code,
            description: input.description,
            lat: input.lat,
            long: input.long,
            address: input.address,
            address_id: input.address_id,
            zipcode: input.zipcode,
            attributes: parse_attributes(input.attributes.map(|j| j.0)).gql()?,
            media_url: input.media_url,
            reporter: Reporter {
                first_name: reporter_in.first_name,
                last_name: reporter_in.last_name,
                email: reporter_in.email,
                phone: reporter_in.phone,
                user_id: cx.who().user_id(),
            },
            device_id: input.device_id,
        };
        let submitted = cx
            .state
            .intake
            .submit(Some(&j.id), intake, channel, actor(cx.who()))
            .await
            .gql()?;
        let private = may_read_private(&cx, &submitted.request);
        Ok(ServiceRequestGql {
            record: submitted.request,
            service: Some(submitted.service),
            private,
        })
    }

    /// Moves a request to another status, with optional public and internal
    /// notes. Closing a closed request is refused: reopen it first.
    #[graphql(guard = "Can(Action::ChangeStatus)")]
    async fn change_status(
        &self,
        c: &Context<'_>,
        id: ID,
        status: StatusGql,
        public_note: Option<String>,
        internal_note: Option<String>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<ServiceRequestGql> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let r = target(&cx, &j.id, &id.0).await?;
        cx.require(Action::ChangeStatus, r.department_code.as_deref())?;
        if public_note.is_some() {
            cx.require(Action::AddPublicNote, r.department_code.as_deref())?;
        }
        if internal_note.is_some() {
            cx.require(Action::AddInternalNote, r.department_code.as_deref())?;
        }
        let (record, _) = cx
            .state
            .intake
            .change_status(
                &j.id,
                r.id,
                StatusChange {
                    to: status.into(),
                    public_note,
                    internal_note,
                },
                actor(cx.who()),
            )
            .await
            .gql()?;
        shown(&cx, record).await
    }

    /// Adds a note: `PUBLIC` (everyone sees it) or `INTERNAL` (staff only).
    #[graphql(guard = "Can(Action::AddPublicNote).or(Can(Action::AddInternalNote))")]
    async fn add_note(
        &self,
        c: &Context<'_>,
        id: ID,
        body: String,
        #[graphql(default)] visibility: NoteVisibility,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<RequestEventGql> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let r = target(&cx, &j.id, &id.0).await?;
        let public = visibility == NoteVisibility::Public;
        let action = if public {
            Action::AddPublicNote
        } else {
            Action::AddInternalNote
        };
        cx.require(action, r.department_code.as_deref())?;
        let (_, event) = cx
            .state
            .intake
            .add_note(&j.id, r.id, &body, public, actor(cx.who()))
            .await
            .gql()?;
        Ok(RequestEventGql {
            record: event,
            private: true,
        })
    }

    /// Assigns a request to a staff member and/or a crew queue; both `null`
    /// unassigns it.
    #[graphql(guard = "Can(Action::Assign)")]
    async fn assign(
        &self,
        c: &Context<'_>,
        id: ID,
        assignee_id: Option<ID>,
        queue: Option<String>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<ServiceRequestGql> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let r = target(&cx, &j.id, &id.0).await?;
        cx.require(Action::Assign, r.department_code.as_deref())?;
        let assignee = assignee_id
            .map(|a| {
                uuid::Uuid::parse_str(a.0.trim())
                    .map_err(|_| DomainError::field("assigneeId", "MALFORMED_ID", "`assigneeId` is not a user id"))
            })
            .transpose()
            .gql()?;
        let (record, _) = cx
            .state
            .intake
            .assign(&j.id, r.id, assignee, queue, actor(cx.who()))
            .await
            .gql()?;
        shown(&cx, record).await
    }

    /// Merges a duplicate into the request that stays open. Both must be in
    /// departments where the caller may merge.
    #[graphql(guard = "Can(Action::Merge)")]
    async fn merge_requests(
        &self,
        c: &Context<'_>,
        duplicate_id: ID,
        into_id: ID,
        public_note: Option<String>,
        jurisdiction_id: Option<String>,
    ) -> async_graphql::Result<MergeResult> {
        let cx = ctx(c)?;
        let j = cx.jurisdiction(jurisdiction_id.as_deref()).await?;
        let dup = target(&cx, &j.id, &duplicate_id.0).await?;
        let into = target(&cx, &j.id, &into_id.0).await?;
        cx.require(Action::Merge, dup.department_code.as_deref())?;
        cx.require(Action::Merge, into.department_code.as_deref())?;
        let (d, i) = cx
            .state
            .intake
            .merge(&j.id, dup.id, into.id, public_note, actor(cx.who()))
            .await
            .gql()?;
        Ok(MergeResult {
            duplicate: shown(&cx, d).await?,
            into: shown(&cx, i).await?,
        })
    }
}

/// A request just changed by a caller who was allowed to change it.
async fn shown(cx: &Ctx<'_>, record: townhall_store::RequestRecord) -> async_graphql::Result<ServiceRequestGql> {
    view(cx, record)
        .await?
        .ok_or_else(|| ApiError::not_found("request").into_graphql())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_in_both_shapes() {
        let a = parse_attributes(Some(json!({"SIZE": "large", "N": 3, "L": ["a", "b"]}))).unwrap();
        assert_eq!(a["SIZE"], AttributeInput::One("large".into()));
        assert_eq!(a["N"], AttributeInput::One("3".into()));
        assert_eq!(a["L"], AttributeInput::Many(vec!["a".into(), "b".into()]));
        let b = parse_attributes(Some(
            json!([{"code": "SIZE", "value": "large"}, {"code": "L", "values": ["a"]}]),
        ))
        .unwrap();
        assert_eq!(b["L"], AttributeInput::Many(vec!["a".into()]));
        assert_eq!(
            parse_attributes(Some(json!("x"))).unwrap_err().code(),
            "INVALID_ATTRIBUTES"
        );
        assert_eq!(
            parse_attributes(Some(json!([{"value": "x"}]))).unwrap_err().code(),
            "INVALID_ATTRIBUTES"
        );
        assert_eq!(
            parse_attributes(Some(json!({"A": {"nested": 1}}))).unwrap_err().code(),
            "INVALID_ATTRIBUTES"
        );
    }
}
