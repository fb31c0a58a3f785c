//! sea-orm entities of the Open311 tables (only this crate sees them).

pub mod submission {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "open311_submissions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token: String,
        pub jurisdiction_id: String,
        pub payload: Json,
        pub photo: Option<Vec<u8>>,
        pub photo_type: Option<String>,
        pub state: String,
        pub request_id: Option<Uuid>,
        pub tracking_number: Option<String>,
        pub errors: Option<Json>,
        pub attempts: i32,
        pub available_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
