//! sea-orm entities, one module per table. Only this crate sees them; the
//! rest of the server works with the record types in [`crate::records`].

#![allow(clippy::upper_case_acronyms)]

pub mod jurisdiction {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "jurisdictions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub timezone: String,
        pub bounds: Option<Json>,
        pub holidays: Json,
        pub is_default: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod department {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "departments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jurisdiction_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
        pub description: String,
        pub email: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod service {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_definitions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jurisdiction_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub name: String,
        pub description: String,
        pub group_name: Option<String>,
        pub keywords: Json,
        pub attributes: Json,
        pub default_priority: String,
        pub sla_amount: i32,
        pub sla_unit: String,
        pub department_code: Option<String>,
        pub plugin_id: Option<String>,
        pub active: bool,
        pub public: bool,
        pub address_sensitive: bool,
        pub anonymous_allowed: bool,
        pub answers_with_token: bool,
        pub sort_order: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub display_name: String,
        pub password_hash: Option<String>,
        pub email_verified_at: Option<DateTimeUtc>,
        pub disabled: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub last_login_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod contact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "contacts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub jurisdiction_id: String,
        pub user_id: Option<Uuid>,
        pub first_name: Option<String>,
        pub last_name: Option<String>,
        pub email: Option<String>,
        pub phone: Option<String>,
        pub created_at: DateTimeUtc,
        pub anonymized_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub jurisdiction_id: String,
        pub tracking_number: String,
        pub service_code: String,
        pub description: Option<String>,
        pub status: String,
        pub priority: String,
        pub lat: Option<f64>,
        pub long: Option<f64>,
        pub address: Option<String>,
        pub address_id: Option<String>,
        pub zipcode: Option<String>,
        pub department_code: Option<String>,
        pub queue: Option<String>,
        pub assignee_id: Option<Uuid>,
        pub requested_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub expected_at: Option<DateTimeUtc>,
        pub closed_at: Option<DateTimeUtc>,
        pub channel: String,
        pub reporter_id: Option<Uuid>,
        pub attributes: Json,
        pub media_url: Option<String>,
        pub device_id: Option<String>,
        pub merged_into: Option<Uuid>,
        pub public: bool,
        pub version: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "request_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub request_id: Uuid,
        pub jurisdiction_id: String,
        pub kind: String,
        pub actor_type: String,
        pub actor_id: Option<String>,
        pub from_status: Option<String>,
        pub to_status: Option<String>,
        pub body: Option<String>,
        pub data: Option<Json>,
        pub public: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod attachment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "attachments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub request_id: Uuid,
        pub jurisdiction_id: String,
        pub content_type: String,
        pub byte_size: i64,
        pub sha256: String,
        pub public: bool,
        pub data: Vec<u8>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub jurisdiction_id: String,
        pub consumer: String,
        pub topic: String,
        pub aggregate_id: Option<Uuid>,
        pub payload: Json,
        pub created_at: DateTimeUtc,
        pub available_at: DateTimeUtc,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub locked_by: Option<String>,
        pub locked_until: Option<DateTimeUtc>,
        pub done_at: Option<DateTimeUtc>,
        pub dead_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod plugin_component {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_components")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub sha256: String,
        pub byte_size: i64,
        pub data: Vec<u8>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod plugin_install {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_installs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jurisdiction_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub plugin_id: String,
        pub name: String,
        pub version: String,
        pub interface_version: String,
        pub kind: String,
        pub sha256: String,
        pub requested: Json,
        pub grants: Json,
        pub config: Json,
        pub secrets: Json,
        pub limits: Json,
        pub services: Json,
        pub enabled: bool,
        pub disabled_reason: Option<String>,
        pub fault_count: i64,
        pub last_fault_at: Option<DateTimeUtc>,
        pub last_fault: Option<String>,
        pub revision: i64,
        pub installed_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod plugin_kv {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_kv")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jurisdiction_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub plugin_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: Vec<u8>,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod plugin_fault {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_faults")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub jurisdiction_id: String,
        pub plugin_id: String,
        pub kind: String,
        pub hook: String,
        pub message: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod plugin_revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "plugin_revision")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
