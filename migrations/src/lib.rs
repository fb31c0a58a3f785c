//! Townhall's database schema as an ordered list of sea-orm migrations.
//!
//! Every migration runs inside a transaction on both SQLite and PostgreSQL,
//! has a `down` that undoes it exactly, and is exercised up → down → up by
//! the store's tests on both databases. A released migration never changes;
//! a new shape is a new migration.
//!
//! **Must never:** depend on anything but `sea-orm-migration`; hold data
//! fixes that need domain logic (those belong to the server's commands).

pub use sea_orm_migration::prelude::*;

mod m0001_catalog;
mod m0002_people;
mod m0003_requests;
mod m0004_outbox;
mod m0005_plugins;
mod m0006_access;
mod m0007_open311;
mod m0008_outbox_due;
mod util;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_catalog::Migration),
            Box::new(m0002_people::Migration),
            Box::new(m0003_requests::Migration),
            Box::new(m0004_outbox::Migration),
            Box::new(m0005_plugins::Migration),
            Box::new(m0006_access::Migration),
            Box::new(m0007_open311::Migration),
            Box::new(m0008_outbox_due::Migration),
        ]
    }
}
