//! Jurisdictions, departments and service definitions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use townhall_domain::service::ServiceDefinition;

use crate::entities::{department, jurisdiction, service};
use crate::error::{Result, StoreError};
use crate::records::{Department, Jurisdiction};
use crate::{Store, convert};

impl Store {
    pub async fn jurisdictions(&self) -> Result<Vec<Jurisdiction>> {
        jurisdiction::Entity::find()
            .order_by_asc(jurisdiction::Column::Id)
            .all(self.read())
            .await?
            .into_iter()
            .map(convert::jurisdiction)
            .collect()
    }

    pub async fn jurisdiction(&self, id: &str) -> Result<Jurisdiction> {
        jurisdiction::Entity::find_by_id(id.to_owned())
            .one(self.read())
            .await?
            .map(convert::jurisdiction)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("jurisdiction", id))
    }

    /// The jurisdiction used when a caller names none: the one flagged
    /// default, else the only one.
    pub async fn default_jurisdiction(&self) -> Result<Option<Jurisdiction>> {
        let all = self.jurisdictions().await?;
        if let Some(j) = all.iter().find(|j| j.is_default) {
            return Ok(Some(j.clone()));
        }
        Ok(if all.len() == 1 { all.into_iter().next() } else { None })
    }

    /// Creates or updates a jurisdiction. Making one the default clears the
    /// flag on the others.
    pub async fn upsert_jurisdiction(&self, j: &Jurisdiction, now: DateTime<Utc>) -> Result<()> {
        if j.is_default {
            jurisdiction::Entity::update_many()
                .col_expr(jurisdiction::Column::IsDefault, false.into())
                .filter(jurisdiction::Column::Id.ne(j.id.clone()))
                .exec(self.write())
                .await?;
        }
        let model = jurisdiction::ActiveModel {
            id: Set(j.id.clone()),
            name: Set(j.name.clone()),
            timezone: Set(j.timezone.name().to_owned()),
            bounds: Set(j.bounds.map(|b| json!(b))),
            holidays: Set(json!(j.holidays)),
            is_default: Set(j.is_default),
            created_at: Set(now),
        };
        jurisdiction::Entity::insert(model)
            .on_conflict(
                OnConflict::column(jurisdiction::Column::Id)
                    .update_columns([
                        jurisdiction::Column::Name,
                        jurisdiction::Column::Timezone,
                        jurisdiction::Column::Bounds,
                        jurisdiction::Column::Holidays,
                        jurisdiction::Column::IsDefault,
                    ])
                    .to_owned(),
            )
            .exec(self.write())
            .await?;
        Ok(())
    }

    pub async fn departments(&self, jurisdiction_id: &str) -> Result<Vec<Department>> {
        Ok(department::Entity::find()
            .filter(department::Column::JurisdictionId.eq(jurisdiction_id))
            .order_by_asc(department::Column::Name)
            .all(self.read())
            .await?
            .into_iter()
            .map(convert::department)
            .collect())
    }

    /// Department codes of every jurisdiction (for "in any department" checks).
    pub async fn all_department_codes(&self) -> Result<Vec<String>> {
        use sea_orm::QuerySelect;
        let mut codes: Vec<String> = department::Entity::find()
            .select_only()
            .column(department::Column::Code)
            .into_tuple()
            .all(self.read())
            .await?;
        codes.sort();
        codes.dedup();
        Ok(codes)
    }

    pub async fn department(&self, jurisdiction_id: &str, code: &str) -> Result<Department> {
        department::Entity::find_by_id((jurisdiction_id.to_owned(), code.to_owned()))
            .one(self.read())
            .await?
            .map(convert::department)
            .ok_or_else(|| StoreError::not_found("department", code))
    }

    pub async fn upsert_department(&self, d: &Department, now: DateTime<Utc>) -> Result<()> {
        let model = department::ActiveModel {
            jurisdiction_id: Set(d.jurisdiction_id.clone()),
            code: Set(d.code.clone()),
            name: Set(d.name.clone()),
            description: Set(d.description.clone()),
            email: Set(d.email.clone()),
            created_at: Set(now),
        };
        department::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([department::Column::JurisdictionId, department::Column::Code])
                    .update_columns([
                        department::Column::Name,
                        department::Column::Description,
                        department::Column::Email,
                    ])
                    .to_owned(),
            )
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// The catalog of one jurisdiction, in display order.
    pub async fn services(&self, jurisdiction_id: &str, include_inactive: bool) -> Result<Vec<ServiceDefinition>> {
        let mut q = service::Entity::find().filter(service::Column::JurisdictionId.eq(jurisdiction_id));
        if !include_inactive {
            q = q.filter(service::Column::Active.eq(true));
        }
        q.order_by_asc(service::Column::SortOrder)
            .order_by_asc(service::Column::Name)
            .all(self.read())
            .await?
            .into_iter()
            .map(convert::service)
            .collect()
    }

    /// One service, active or not.
    pub async fn service(&self, jurisdiction_id: &str, code: &str) -> Result<ServiceDefinition> {
        service::Entity::find_by_id((jurisdiction_id.to_owned(), code.to_owned()))
            .one(self.read())
            .await?
            .map(convert::service)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("service", code))
    }

    /// Creates or replaces a service definition.
    pub async fn upsert_service(&self, s: &ServiceDefinition, sort_order: i32, now: DateTime<Utc>) -> Result<()> {
        let model = service::ActiveModel {
            jurisdiction_id: Set(s.jurisdiction_id.clone()),
            code: Set(s.code.clone()),
            name: Set(s.name.clone()),
            description: Set(s.description.clone()),
            group_name: Set(s.group.clone()),
            keywords: Set(json!(s.keywords)),
            attributes: Set(json!(s.attributes)),
            default_priority: Set(s.default_priority.as_str().to_owned()),
            sla_amount: Set(i32::try_from(s.sla.amount).unwrap_or(i32::MAX)),
            sla_unit: Set(s.sla.unit.as_str().to_owned()),
            department_code: Set(s.department_id.clone()),
            plugin_id: Set(s.plugin_id.clone()),
            active: Set(s.active),
            public: Set(s.public),
            address_sensitive: Set(s.address_sensitive),
            anonymous_allowed: Set(s.anonymous_allowed),
            answers_with_token: Set(s.answers_with_token),
            sort_order: Set(sort_order),
            created_at: Set(now),
            updated_at: Set(now),
        };
        use service::Column as C;
        service::Entity::insert(model)
            .on_conflict(
                OnConflict::columns([C::JurisdictionId, C::Code])
                    .update_columns([
                        C::Name,
                        C::Description,
                        C::GroupName,
                        C::Keywords,
                        C::Attributes,
                        C::DefaultPriority,
                        C::SlaAmount,
                        C::SlaUnit,
                        C::DepartmentCode,
                        C::PluginId,
                        C::Active,
                        C::Public,
                        C::AddressSensitive,
                        C::AnonymousAllowed,
                        C::AnswersWithToken,
                        C::SortOrder,
                        C::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// Takes a service in or out of the catalog without losing its requests.
    pub async fn set_service_active(
        &self,
        jurisdiction_id: &str,
        code: &str,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let res = service::Entity::update_many()
            .col_expr(service::Column::Active, active.into())
            .col_expr(service::Column::UpdatedAt, now.into())
            .filter(service::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(service::Column::Code.eq(code))
            .exec(self.write())
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::not_found("service", code));
        }
        Ok(())
    }
}
