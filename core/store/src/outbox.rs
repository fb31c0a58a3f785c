//! Claiming, completing and retrying after-commit work.
//!
//! Several workers (in one process or in several replicas) may claim at
//! once: on PostgreSQL `FOR UPDATE SKIP LOCKED` hands each row to one
//! worker; on SQLite the single writer connection serializes claims. A claim
//! is a lease: a worker that dies leaves the row to be claimed again when
//! the lease runs out, so work is done at least once.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, Statement,
};

use crate::entities::outbox;
use crate::error::Result;
use crate::records::{OutboxItem, OutboxSpec};
use crate::{Backend, Store};

/// Counts for `/metrics` and the admin view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    pub pending: u64,
    pub dead: u64,
}

impl Store {
    /// Claims up to `limit` due rows for `worker`, leasing them for `lease`.
    pub async fn claim_outbox(
        &self,
        worker: &str,
        limit: u64,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxItem>> {
        let until = now + lease;
        let (sql, backend) = match self.backend() {
            Backend::Postgres => (
                "UPDATE outbox SET locked_by = $1, locked_until = $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM outbox WHERE done_at IS NULL AND dead_at IS NULL \
                 AND available_at <= $3 AND (locked_until IS NULL OR locked_until < $3) \
                 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *",
                DbBackend::Postgres,
            ),
            Backend::Sqlite => (
                "UPDATE outbox SET locked_by = ?, locked_until = ?, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM outbox WHERE done_at IS NULL AND dead_at IS NULL \
                 AND available_at <= ?3 AND (locked_until IS NULL OR locked_until < ?3) \
                 ORDER BY id LIMIT ?4) RETURNING *",
                DbBackend::Sqlite,
            ),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .write()
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [worker.into(), until.into(), now.into(), limit.into()],
            ))
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            let m = outbox::Model::from_query_result(&row, "")?;
            items.push(OutboxItem {
                id: m.id,
                jurisdiction_id: m.jurisdiction_id,
                consumer: m.consumer,
                topic: m.topic,
                aggregate_id: m.aggregate_id,
                payload: m.payload,
                attempts: m.attempts,
                created_at: m.created_at,
            });
        }
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub async fn complete_outbox(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.complete_outbox_many(&[id], now).await
    }

    /// Marks several rows done in one statement (one commit for a whole
    /// batch instead of one per row).
    pub async fn complete_outbox_many(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        outbox::Entity::update_many()
            .col_expr(outbox::Column::DoneAt, now.into())
            .col_expr(outbox::Column::LockedBy, Option::<String>::None.into())
            .col_expr(outbox::Column::LockedUntil, Option::<DateTime<Utc>>::None.into())
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .exec(self.write())
            .await?;
        Ok(())
    }

    /// Records a failure: retried at `retry_at`, or given up on (dead) when
    /// `retry_at` is `None`.
    pub async fn fail_outbox(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let error: String = error.chars().take(2_000).collect();
        let mut q = outbox::Entity::update_many()
            .col_expr(outbox::Column::LastError, Some(error).into())
            .col_expr(outbox::Column::LockedBy, Option::<String>::None.into())
            .col_expr(outbox::Column::LockedUntil, Option::<DateTime<Utc>>::None.into());
        q = match retry_at {
            Some(at) => q.col_expr(outbox::Column::AvailableAt, at.into()),
            None => q.col_expr(outbox::Column::DeadAt, Some(now).into()),
        };
        q.filter(outbox::Column::Id.eq(id)).exec(self.write()).await?;
        Ok(())
    }

    /// Deletes up to `limit` rows that finished (done) before `before`,
    /// oldest first, and returns how many went. Dead rows stay: they wait
    /// for someone to look at them. Pending and leased rows are never
    /// touched. Run in small batches, so a backlog of finished work goes in
    /// short transactions instead of one long one.
    pub async fn purge_outbox_done(&self, before: DateTime<Utc>, limit: u64) -> Result<u64> {
        let (sql, backend) = match self.backend() {
            Backend::Postgres => (
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE done_at < $1 \
                 ORDER BY id LIMIT $2)",
                DbBackend::Postgres,
            ),
            Backend::Sqlite => (
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE done_at < ?1 \
                 ORDER BY id LIMIT ?2)",
                DbBackend::Sqlite,
            ),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let r = self
            .write()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [before.into(), limit.into()],
            ))
            .await?;
        Ok(r.rows_affected())
    }

    /// Enqueues work not tied to a request change (e.g. a reindex request).
    pub async fn enqueue(&self, jurisdiction_id: &str, spec: &OutboxSpec, now: DateTime<Utc>) -> Result<()> {
        use sea_orm::ActiveValue::Set;
        outbox::Entity::insert(outbox::ActiveModel {
            jurisdiction_id: Set(jurisdiction_id.to_owned()),
            consumer: Set(spec.consumer.clone()),
            topic: Set(spec.topic.clone()),
            aggregate_id: Set(None),
            payload: Set(spec.payload.clone()),
            created_at: Set(now),
            available_at: Set(now),
            attempts: Set(0),
            ..Default::default()
        })
        .exec_without_returning(self.write())
        .await?;
        Ok(())
    }

    pub async fn outbox_stats(&self) -> Result<OutboxStats> {
        let pending = outbox::Entity::find()
            .filter(outbox::Column::DoneAt.is_null())
            .filter(outbox::Column::DeadAt.is_null())
            .count(self.read())
            .await?;
        let dead = outbox::Entity::find()
            .filter(outbox::Column::DeadAt.is_not_null())
            .count(self.read())
            .await?;
        Ok(OutboxStats { pending, dead })
    }
}
