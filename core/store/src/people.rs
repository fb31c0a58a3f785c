//! Accounts. (Sessions, roles and API keys build on these.)

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Store;
use crate::entities::user;
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub disabled: bool,
    pub email_verified: bool,
}

fn user(m: user::Model) -> User {
    User {
        id: m.id,
        email: m.email,
        display_name: m.display_name,
        disabled: m.disabled,
        email_verified: m.email_verified_at.is_some(),
    }
}

impl Store {
    pub async fn create_user(
        &self,
        email: &str,
        display_name: &str,
        password_hash: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let m = user::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(email.trim().to_lowercase()),
            display_name: Set(display_name.to_owned()),
            password_hash: Set(password_hash),
            email_verified_at: Set(None),
            disabled: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(None),
        };
        let model = user::Entity::insert(m).exec_with_returning(self.write()).await?;
        Ok(user(model))
    }

    pub async fn user(&self, id: Uuid) -> Result<User> {
        user::Entity::find_by_id(id)
            .one(self.read())
            .await?
            .map(user)
            .ok_or_else(|| StoreError::not_found("user", id))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        Ok(user::Entity::find()
            .filter(user::Column::Email.eq(email.trim().to_lowercase()))
            .one(self.read())
            .await?
            .map(user))
    }
}
