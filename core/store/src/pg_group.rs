//! A group of new requests as one PostgreSQL statement.
//!
//! Each table's rows travel column by column, as typed arrays in the
//! binary protocol, and `unnest` turns them back into rows:
//!
//! ```sql
//! WITH t0 AS (INSERT INTO contacts (id, …) SELECT * FROM unnest($1::uuid[], …)),
//!      t1 AS (INSERT INTO service_requests (…, tracking_number)
//!             SELECT …, <number from nextval(seq)> FROM (… unnest(…)) …
//!             RETURNING id, tracking_number), …
//! SELECT id, tracking_number FROM t1
//! ```
//!
//! The text is the same for any number of rows, so each connection
//! prepares it once, and a group costs one round trip and one commit:
//! the tracking numbers are drawn from their sequences by the insert and
//! come back as its answer.
//! PostgreSQL reads a uuid, a timestamp or a number from its binary form
//! without parsing text, which is most of what a row costs to read in
//! (the JSON alternative, `json_populate_recordset`, parsed the whole group
//! as JSON and then each field from text). Foreign keys are checked at the
//! end of the statement, so contacts, requests and their events go in
//! together.
//!
//! The columns and their types come from the entities, so a column added
//! to an entity is carried without a change here.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::ColumnType;
use sea_orm::sqlx::postgres::{PgArguments, Postgres};
use sea_orm::sqlx::query::QueryAs;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, RuntimeErr};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::{contact, event, outbox, request};
use crate::error::{Result, StoreError};

/// A group's statement: it answers each request's id and tracking number.
type GroupQuery<'q> = QueryAs<'q, Postgres, (Uuid, String), PgArguments>;

/// One column of a group's rows, in the element type PostgreSQL reads.
enum Column {
    Uuid(Vec<Option<Uuid>>),
    Text(Vec<Option<String>>),
    Time(Vec<Option<DateTime<Utc>>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Int(Vec<Option<i32>>),
    BigInt(Vec<Option<i64>>),
    Json(Vec<Option<Value>>),
}

/// The array type a column of this type travels as, and an empty column.
fn array_type(t: &ColumnType, rows: usize) -> Option<(&'static str, Column)> {
    Some(match t {
        ColumnType::Uuid => ("uuid[]", Column::Uuid(Vec::with_capacity(rows))),
        ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => {
            ("text[]", Column::Text(Vec::with_capacity(rows)))
        }
        ColumnType::TimestampWithTimeZone => ("timestamptz[]", Column::Time(Vec::with_capacity(rows))),
        ColumnType::Double => ("float8[]", Column::Float(Vec::with_capacity(rows))),
        ColumnType::Boolean => ("bool[]", Column::Bool(Vec::with_capacity(rows))),
        ColumnType::Integer => ("int4[]", Column::Int(Vec::with_capacity(rows))),
        ColumnType::BigInteger => ("int8[]", Column::BigInt(Vec::with_capacity(rows))),
        ColumnType::Json | ColumnType::JsonBinary => ("jsonb[]", Column::Json(Vec::with_capacity(rows))),
        _ => return None,
    })
}

impl Column {
    /// Appends one row's value (`None`: the column was left unset, NULL).
    fn push(&mut self, v: Option<sea_orm::Value>) -> Result<()> {
        use sea_orm::Value as V;
        let mismatch = |v: &V| StoreError::Corrupt(format!("the column value {v:?} does not fit its column's type"));
        match (self, v) {
            (Column::Uuid(c), None) => c.push(None),
            (Column::Text(c), None) => c.push(None),
            (Column::Time(c), None) => c.push(None),
            (Column::Float(c), None) => c.push(None),
            (Column::Bool(c), None) => c.push(None),
            (Column::Int(c), None) => c.push(None),
            (Column::BigInt(c), None) => c.push(None),
            (Column::Json(c), None) => c.push(None),
            (Column::Uuid(c), Some(V::Uuid(u))) => c.push(u),
            (Column::Text(c), Some(V::String(s))) => c.push(s),
            (Column::Time(c), Some(V::ChronoDateTimeUtc(t))) => c.push(t),
            (Column::Float(c), Some(V::Double(d))) => c.push(d),
            (Column::Bool(c), Some(V::Bool(b))) => c.push(b),
            (Column::Int(c), Some(V::Int(i))) => c.push(i),
            (Column::BigInt(c), Some(V::BigInt(i))) => c.push(i),
            (Column::Json(c), Some(V::Json(j))) => c.push(j.map(|j| *j)),
            (_, Some(v)) => return Err(mismatch(&v)),
        }
        Ok(())
    }

    fn bind(self, q: GroupQuery<'_>) -> GroupQuery<'_> {
        match self {
            Column::Uuid(c) => q.bind(c),
            Column::Text(c) => q.bind(c),
            Column::Time(c) => q.bind(c),
            Column::Float(c) => q.bind(c),
            Column::Bool(c) => q.bind(c),
            Column::Int(c) => q.bind(c),
            Column::BigInt(c) => q.bind(c),
            Column::Json(c) => q.bind(c),
        }
    }
}

/// The columns of `E` but `skip`, with the array type each travels as.
fn columns<E: EntityTrait>(skip: &[&str]) -> Vec<(E::Column, &'static str)> {
    use sea_orm::{IdenStatic, Iterable};
    E::Column::iter()
        .filter(|c| !skip.contains(&c.as_str()))
        .map(|c| {
            let ty = array_type(c.def().get_column_type(), 0).map_or("", |(t, _)| t);
            (c, ty)
        })
        .collect()
}

/// `INSERT INTO table (columns) SELECT * FROM unnest($n::type[], …)`,
/// numbering parameters from `first`; returns the next free number.
fn insert_sql<E: EntityTrait>(skip: &[&str], first: usize, out: &mut String) -> usize {
    use sea_orm::IdenStatic;
    let cols = columns::<E>(skip);
    let names = cols
        .iter()
        .map(|(c, _)| format!("\"{}\"", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let arrays = cols
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("${}::{ty}", first + i))
        .collect::<Vec<_>>()
        .join(", ");
    out.push_str(&format!(
        "INSERT INTO {} ({names}) SELECT * FROM unnest({arrays})",
        E::default().table_name()
    ));
    first + cols.len()
}

/// The rows of one table, column by column, bound to `q` in column order.
/// The values move out of the rows (a group's text and JSON are not
/// copied again).
fn bind_rows<'q, A: ActiveModelTrait>(rows: &mut [A], skip: &[&str], mut q: GroupQuery<'q>) -> Result<GroupQuery<'q>> {
    for (c, _) in columns::<A::Entity>(skip) {
        let mut column = array_type(c.def().get_column_type(), rows.len())
            .map(|(_, col)| col)
            .ok_or_else(|| StoreError::Corrupt(format!("no array form for the column type of {c:?}")))?;
        for row in rows.iter_mut() {
            column.push(row.take(c).into_value())?;
        }
        q = column.bind(q);
    }
    Ok(q)
}

/// The request column PostgreSQL fills in itself (see [`insert_requests_sql`]).
const REQUEST_SKIP: &[&str] = &["tracking_number"];

/// `INSERT INTO service_requests … RETURNING id, tracking_number` whose
/// tracking numbers PostgreSQL draws while it inserts: each row carries
/// the name of its jurisdiction's and year's sequence and the year, and
/// gets `YYYY-NNNNNN` (at least six digits, as `TrackingNumber` prints).
/// Drawing them in the insert saves the group a round trip. Numbers
/// from the one statement are drawn in row order.
fn insert_requests_sql(first: usize, out: &mut String) -> usize {
    use sea_orm::IdenStatic;
    let cols = columns::<request::Entity>(REQUEST_SKIP);
    let names = cols
        .iter()
        .map(|(c, _)| format!("\"{}\"", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let aliases = (0..cols.len()).map(|i| format!("c{i}")).collect::<Vec<_>>().join(", ");
    let mut arrays = cols
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("${}::{ty}", first + i))
        .collect::<Vec<_>>();
    let seq = first + cols.len();
    arrays.push(format!("${seq}::text[]"));
    arrays.push(format!("${}::int4[]", seq + 1));
    out.push_str(&format!(
        "INSERT INTO service_requests ({names}, \"tracking_number\") \
         SELECT {aliases}, {TRACKING_SQL} \
         FROM (SELECT u.*, nextval(u.seq::regclass) AS n FROM unnest({}) AS u({aliases}, seq, yr)) AS g \
         RETURNING id, tracking_number",
        arrays.join(", ")
    ));
    seq + 2
}

/// A tracking number from a year `yr` and a sequence value `n`, as
/// [`townhall_domain::tracking::TrackingNumber`] prints it.
const TRACKING_SQL: &str = "lpad(yr::text, 4, '0') || '-' || lpad(n::text, greatest(6, length(n::text)), '0')";

/// The outbox id is the table's own serial.
const OUTBOX_SKIP: &[&str] = &["id"];

/// One new request's tracking number: the sequence it is drawn from and
/// the year it is for.
pub(crate) struct Tracking {
    pub sequence: String,
    pub year: i32,
}

/// Inserts a group's rows in one statement (committed on its own), and
/// returns the tracking number PostgreSQL gave each request, by id.
/// `tracking` has one entry per request, in the same order.
pub(crate) async fn insert_group(
    db: &DatabaseConnection,
    mut contacts: Vec<contact::ActiveModel>,
    mut requests: Vec<request::ActiveModel>,
    tracking: Vec<Tracking>,
    mut events: Vec<event::ActiveModel>,
    mut outboxes: Vec<outbox::ActiveModel>,
) -> Result<Vec<(Uuid, String)>> {
    static SQL: OnceLock<String> = OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let mut s = String::from("WITH t0 AS (");
        let next = insert_sql::<contact::Entity>(&[], 1, &mut s);
        s.push_str("), t1 AS (");
        let next = insert_requests_sql(next, &mut s);
        s.push_str("), t2 AS (");
        let next = insert_sql::<event::Entity>(&[], next, &mut s);
        s.push_str("), t3 AS (");
        insert_sql::<outbox::Entity>(OUTBOX_SKIP, next, &mut s);
        s.push_str(") SELECT id, tracking_number FROM t1");
        s
    });
    if tracking.len() != requests.len() {
        return Err(StoreError::Corrupt(
            "a group's tracking sequences do not match its requests".into(),
        ));
    }
    let mut q = sea_orm::sqlx::query_as::<Postgres, (Uuid, String)>(sql.as_str());
    q = bind_rows(&mut contacts, &[], q)?;
    q = bind_rows(&mut requests, REQUEST_SKIP, q)?;
    let (sequences, years): (Vec<String>, Vec<i32>) = tracking.into_iter().map(|t| (t.sequence, t.year)).unzip();
    q = q.bind(sequences).bind(years);
    q = bind_rows(&mut events, &[], q)?;
    q = bind_rows(&mut outboxes, OUTBOX_SKIP, q)?;
    let numbers = q
        .fetch_all(db.get_postgres_connection_pool())
        .await
        .map_err(|e| StoreError::from(sqlx_err(e)))?;
    if numbers.len() != requests.len() {
        return Err(StoreError::Corrupt(
            "a group insert returned the wrong number of requests".into(),
        ));
    }
    Ok(numbers)
}

/// An error of the driver as the rest of the store sees errors (so a
/// constraint violation is a conflict and a lost connection unavailable).
fn sqlx_err(e: sea_orm::sqlx::Error) -> DbErr {
    use sea_orm::sqlx::Error as E;
    match e {
        E::PoolTimedOut => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        E::PoolClosed => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed),
        e @ (E::Io(_) | E::Tls(_)) => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))),
        e => DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of the four tables has an array form, so a column
    /// added with a type this module does not carry fails here, not on the
    /// first submission.
    #[test]
    fn every_column_of_a_group_has_an_array_type() {
        fn typed<E: EntityTrait>(skip: &[&str]) -> usize {
            let cols = columns::<E>(skip);
            for (c, ty) in &cols {
                assert!(!ty.is_empty(), "{c:?} has no array type");
            }
            cols.len()
        }
        let counts = [
            typed::<contact::Entity>(&[]),
            typed::<request::Entity>(&[]),
            typed::<event::Entity>(&[]),
            typed::<outbox::Entity>(OUTBOX_SKIP),
        ];
        assert_eq!(counts, [9, 27, 12, 13]);
    }

    /// PostgreSQL prints a tracking number exactly as `TrackingNumber`
    /// does, past six digits too.
    #[tokio::test]
    async fn postgres_prints_tracking_numbers_as_the_domain_does() {
        use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
        use townhall_domain::tracking::TrackingNumber;
        let db = townhall_testkit::postgres().await;
        let conn = Database::connect(db.url.as_str()).await.unwrap();
        for (yr, n) in [
            (2026, 1_i64),
            (2026, 42),
            (2026, 999_999),
            (2026, 1_000_000),
            (2027, 123_456_789),
            (987, 5),
        ] {
            let row = conn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    format!("SELECT {TRACKING_SQL} AS t FROM (SELECT $1::int4 AS yr, $2::int8 AS n) AS v"),
                    [yr.into(), n.into()],
                ))
                .await
                .unwrap()
                .unwrap();
            let printed: String = row.try_get("", "t").unwrap();
            assert_eq!(printed, TrackingNumber::new(yr, n as u64).to_string(), "{yr} {n}");
        }
    }

    #[test]
    fn the_requests_statement_draws_tracking_numbers_from_each_rows_sequence() {
        let mut sql = String::new();
        let next = insert_requests_sql(10, &mut sql);
        // 26 columns from the rows, then the sequences and the years.
        assert_eq!(next, 10 + 26 + 2);
        assert!(
            !sql.contains("\"tracking_number\", \"") && sql.contains(", \"tracking_number\")"),
            "{sql}"
        );
        assert!(sql.contains("$36::text[], $37::int4[]) AS u(c0, "), "{sql}");
        assert!(sql.contains("nextval(u.seq::regclass)"), "{sql}");
        assert!(sql.ends_with("RETURNING id, tracking_number"), "{sql}");
    }

    #[test]
    fn the_statement_numbers_each_column_once_and_in_order() {
        let mut sql = String::new();
        let next = insert_sql::<event::Entity>(&[], 5, &mut sql);
        assert_eq!(next, 17);
        assert!(
            sql.starts_with("INSERT INTO request_events (\"id\", \"request_id\""),
            "{sql}"
        );
        assert!(sql.contains("unnest($5::uuid[], $6::uuid[], $7::text[]"), "{sql}");
        assert!(sql.ends_with("$16::timestamptz[])"), "{sql}");
        // The outbox's own serial id is left to the table.
        let mut sql = String::new();
        insert_sql::<outbox::Entity>(OUTBOX_SKIP, 1, &mut sql);
        assert!(!sql.contains("(\"id\""), "{sql}");
    }
}
