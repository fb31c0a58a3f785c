//! Photos and files attached to requests. Bytes live in the database so
//! every replica can serve them; callers strip metadata before storing.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Store;
use crate::entities::attachment;
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: Uuid,
    pub request_id: Uuid,
    pub content_type: String,
    pub byte_size: i64,
    pub sha256: String,
    pub public: bool,
    pub created_at: DateTime<Utc>,
}

fn meta(m: &attachment::Model) -> Attachment {
    Attachment {
        id: m.id,
        request_id: m.request_id,
        content_type: m.content_type.clone(),
        byte_size: m.byte_size,
        sha256: m.sha256.clone(),
        public: m.public,
        created_at: m.created_at,
    }
}

impl Store {
    #[allow(clippy::too_many_arguments)]
    pub async fn add_attachment(
        &self,
        jurisdiction_id: &str,
        request_id: Uuid,
        content_type: &str,
        sha256: &str,
        public: bool,
        data: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<Attachment> {
        let id = Uuid::now_v7();
        let byte_size = i64::try_from(data.len()).unwrap_or(i64::MAX);
        attachment::Entity::insert(attachment::ActiveModel {
            id: Set(id),
            request_id: Set(request_id),
            jurisdiction_id: Set(jurisdiction_id.to_owned()),
            content_type: Set(content_type.to_owned()),
            byte_size: Set(byte_size),
            sha256: Set(sha256.to_owned()),
            public: Set(public),
            data: Set(data),
            created_at: Set(now),
        })
        .exec_without_returning(self.write())
        .await?;
        Ok(Attachment {
            id,
            request_id,
            content_type: content_type.to_owned(),
            byte_size,
            sha256: sha256.to_owned(),
            public,
            created_at: now,
        })
    }

    /// An attachment with its bytes.
    pub async fn attachment(&self, jurisdiction_id: &str, id: Uuid) -> Result<(Attachment, Vec<u8>)> {
        let m = attachment::Entity::find_by_id(id)
            .filter(attachment::Column::JurisdictionId.eq(jurisdiction_id))
            .one(self.read())
            .await?
            .ok_or_else(|| StoreError::not_found("attachment", id))?;
        let a = meta(&m);
        Ok((a, m.data))
    }

    /// A request's attachments, without their bytes.
    #[allow(clippy::type_complexity)] // the selected columns, in order
    pub async fn attachments_for(&self, request_id: Uuid) -> Result<Vec<Attachment>> {
        use attachment::Column as C;
        let rows: Vec<(Uuid, Uuid, String, i64, String, bool, DateTime<Utc>)> = attachment::Entity::find()
            .select_only()
            .columns([
                C::Id,
                C::RequestId,
                C::ContentType,
                C::ByteSize,
                C::Sha256,
                C::Public,
                C::CreatedAt,
            ])
            .filter(C::RequestId.eq(request_id))
            .order_by_asc(C::Id)
            .into_tuple()
            .all(self.read())
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, request_id, content_type, byte_size, sha256, public, created_at)| Attachment {
                    id,
                    request_id,
                    content_type,
                    byte_size,
                    sha256,
                    public,
                    created_at,
                },
            )
            .collect())
    }
}
