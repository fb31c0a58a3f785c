//! Small helpers shared by the migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// A named index on `table(cols…)`.
pub fn index(table: &'static str, name: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(table).if_not_exists();
    for c in cols {
        idx.col(*c);
    }
    idx.to_owned()
}

pub fn drop(table: &'static str) -> TableDropStatement {
    Table::drop().table(table).if_exists().to_owned()
}

/// Runs one raw SQL statement per backend (triggers and other things the
/// query builder does not express).
pub async fn raw(manager: &SchemaManager<'_>, sqlite: &str, postgres: &str) -> Result<(), DbErr> {
    let sql = match manager.get_database_backend() {
        DbBackend::Sqlite => sqlite,
        _ => postgres,
    };
    manager.get_connection().execute_unprepared(sql).await.map(|_| ())
}
