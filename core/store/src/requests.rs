//! Service requests: committing a new one, changing one (or two, when
//! merging) atomically, reading and listing them, and their history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, OnceLock, Weak};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use serde_json::Value;
use townhall_domain::tracking::TrackingNumber;
use townhall_domain::{DomainError, EventKind};
use uuid::Uuid;

use crate::entities::{contact, event, outbox, request};
use crate::error::{Result, StoreError};
use crate::records::*;
use crate::{Backend, Inner, Store, convert};

fn sequence_name(jurisdiction_id: &str, year: i32) -> String {
    format!("tracking_seq_{:016x}_{year}", fnv64(jurisdiction_id))
}

/// FNV-1a: a stable short name for a PostgreSQL sequence per jurisdiction.
fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// At most this many submissions per group commit (SQLite allows 32,766
/// bound values per statement; a request row has 27).
const MAX_GROUP: usize = 128;

/// Every live store's group-commit queue.
type Registry = Vec<(Weak<Inner>, Arc<Combiner>)>;

/// A submission waiting for the writer.
struct Pending {
    new: NewRequest,
    created: NewEvent,
    outbox: Vec<OutboxSpec>,
    now: DateTime<Utc>,
    reply: tokio::sync::oneshot::Sender<Result<(RequestRecord, EventRecord)>>,
}

/// How many group commits may be in flight at once on PostgreSQL. SQLite
/// has one writer connection, so one; PostgreSQL commits concurrent
/// transactions side by side (and flushes their WAL together), so a group
/// does not have to wait for the one before it to finish. Two: while one
/// group is in PostgreSQL the next gathers, and the groups stay large.
/// More committers make smaller groups, and a group's fixed work (commit,
/// planning, the foreign-key checks) then costs more per submission: with
/// four, PostgreSQL spent about a quarter more CPU per submission and the
/// p99 was higher (docs/open311.md, tenth run).
const PG_COMMITTERS: usize = 2;

/// The group-commit queue of one store: submissions wait in `queue`; a
/// holder of one of the `turns` commits what is there.
struct Combiner {
    queue: StdMutex<Vec<Pending>>,
    turns: Arc<tokio::sync::Semaphore>,
}

impl Combiner {
    /// The next group: up to [`MAX_GROUP`] of the waiting submissions,
    /// oldest first (empty when none wait).
    fn take_group(&self) -> Vec<Pending> {
        let mut q = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = q.len().min(MAX_GROUP);
        q.drain(..n).collect()
    }
}

fn event_model(request_id: Uuid, jurisdiction_id: &str, e: &NewEvent, now: DateTime<Utc>) -> event::ActiveModel {
    event::ActiveModel {
        id: Set(e.id),
        request_id: Set(request_id),
        jurisdiction_id: Set(jurisdiction_id.to_owned()),
        kind: Set(e.kind.as_str().to_owned()),
        actor_type: Set(e.actor.kind.as_str().to_owned()),
        actor_id: Set(e.actor.id.clone()),
        from_status: Set(e.from_status.map(|s| s.as_str().to_owned())),
        to_status: Set(e.to_status.map(|s| s.as_str().to_owned())),
        body: Set(e.body.clone()),
        data: Set(e.data.clone()),
        public: Set(e.kind.is_public()),
        created_at: Set(now),
    }
}

fn outbox_model(
    jurisdiction_id: &str,
    aggregate: Option<Uuid>,
    o: &OutboxSpec,
    now: DateTime<Utc>,
) -> outbox::ActiveModel {
    outbox::ActiveModel {
        jurisdiction_id: Set(jurisdiction_id.to_owned()),
        consumer: Set(o.consumer.clone()),
        topic: Set(o.topic.clone()),
        aggregate_id: Set(aggregate),
        payload: Set(o.payload.clone()),
        created_at: Set(now),
        available_at: Set(now),
        attempts: Set(0),
        ..Default::default()
    }
}

async fn insert_events_and_outbox(
    txn: &DatabaseTransaction,
    request_id: Uuid,
    jurisdiction_id: &str,
    events: &[NewEvent],
    outbox_rows: &[OutboxSpec],
    now: DateTime<Utc>,
) -> Result<Vec<EventRecord>> {
    let mut records = Vec::with_capacity(events.len());
    if !events.is_empty() {
        let mut models = Vec::with_capacity(events.len());
        for e in events {
            let m = event_model(request_id, jurisdiction_id, e, now);
            records.push(EventRecord {
                id: *m.id.as_ref(),
                request_id,
                kind: e.kind,
                actor: e.actor.clone(),
                from_status: e.from_status,
                to_status: e.to_status,
                body: e.body.clone(),
                data: e.data.clone(),
                public: e.kind.is_public(),
                created_at: now,
            });
            models.push(m);
        }
        event::Entity::insert_many(models).exec_without_returning(txn).await?;
    }
    if !outbox_rows.is_empty() {
        let models = outbox_rows
            .iter()
            .map(|o| outbox_model(jurisdiction_id, Some(request_id), o, now));
        outbox::Entity::insert_many(models).exec_without_returning(txn).await?;
    }
    Ok(records)
}

impl Store {
    /// Creates the PostgreSQL tracking sequence for a jurisdiction and year
    /// if needed. Runs outside any transaction, on its own connection.
    async fn ensure_sequence(&self, jurisdiction_id: &str, year: i32) -> Result<()> {
        let name = &sequence_name(jurisdiction_id, year);
        let mut known = self.inner.sequences.lock().await;
        if known.contains(name) {
            return Ok(());
        }
        let db = self.write();
        let create = db
            .execute_unprepared(&format!("CREATE SEQUENCE IF NOT EXISTS {name} START WITH 1"))
            .await;
        if let Err(e) = create {
            // Another replica may have created it at the same instant.
            let exists = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT 1 AS one FROM pg_class WHERE relname = $1",
                    [name.into()],
                ))
                .await?
                .is_some();
            if !exists {
                return Err(e.into());
            }
        }
        // Never hand out a number already used (e.g. after a restore).
        let prefix = format!("{year:04}-%");
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT setval('{name}', GREATEST((SELECT last_value FROM {name}), \
                 COALESCE((SELECT MAX(CAST(SUBSTRING(tracking_number FROM 6) AS BIGINT)) FROM service_requests \
                 WHERE jurisdiction_id = $1 AND tracking_number LIKE $2), 0), 1), \
                 (SELECT is_called FROM {name}) OR EXISTS (SELECT 1 FROM service_requests \
                 WHERE jurisdiction_id = $1 AND tracking_number LIKE $2))"
            ),
            [jurisdiction_id.into(), prefix.into()],
        ))
        .await?;
        known.insert(name.to_owned());
        Ok(())
    }

    /// Commits a new request with its first history entry and outbox rows.
    ///
    /// Concurrent submissions are committed together (group commit): the
    /// submitter whose turn it is takes every submission waiting at that
    /// moment (up to [`MAX_GROUP`]) and commits them in one transaction,
    /// with one multi-row insert per table — on SQLite through the one
    /// writer connection, one group at a time; on PostgreSQL with one
    /// commit (one WAL flush) per group, up to [`PG_COMMITTERS`] groups at
    /// once. The turn's holder keeps committing what queued meanwhile until
    /// nothing waits, then gives the turn back. A submission waits for at
    /// most the transactions in progress plus its own. If a group fails,
    /// its submissions are committed one by one, so each gets its own
    /// answer.
    pub async fn submit(
        &self,
        new: NewRequest,
        created: NewEvent,
        outbox_rows: Vec<OutboxSpec>,
        now: DateTime<Utc>,
    ) -> Result<(RequestRecord, EventRecord)> {
        if self.backend() == Backend::Postgres {
            self.ensure_sequence(&new.jurisdiction_id, new.tracking_year).await?;
        }
        let combiner = self.combiner();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        combiner
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Pending {
                new,
                created,
                outbox: outbox_rows,
                now,
                reply: tx,
            });
        let dropped = || StoreError::Corrupt("a group commit dropped a submission".into());
        // Whichever comes first: the answer (another submitter's group
        // took this submission) or a turn to commit what is queued. A
        // submitter already answered must not wait for a turn behind
        // the commits in progress just to learn it.
        let turn = tokio::select! {
            biased;
            answer = &mut rx => return answer.map_err(|_| dropped())?,
            turn = combiner.turns.clone().acquire_owned() => {
                turn.map_err(|_| StoreError::Corrupt("the group-commit queue closed".into()))?
            }
        };
        match rx.try_recv() {
            Ok(result) => return result,
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return Err(dropped()),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
        }
        // Committed from its own task, so a submitter that goes away
        // (client disconnect) cannot roll back the others' requests.
        // The task keeps its turn while submissions are waiting and
        // commits them next, so the writer does not sit idle while a
        // waiting submitter is woken to take the turn over. (Nothing
        // queued means this submission is in a group another turn is
        // committing right now; the turn goes straight back.) Either way
        // this submitter's answer comes through `rx` like anyone's; should
        // the task panic, the replies it holds are dropped and their
        // submitters get an error, not a hang.
        let (store, queue) = (self.clone(), combiner.clone());
        tokio::spawn(async move {
            let mut batch = queue.take_group();
            while !batch.is_empty() {
                store.commit_group(batch).await;
                batch = queue.take_group();
            }
            drop(turn);
        });
        rx.await.map_err(|_| dropped())?
    }

    /// This store's group-commit queue.
    fn combiner(&self) -> Arc<Combiner> {
        static ALL: OnceLock<StdMutex<Registry>> = OnceLock::new();
        let mut all = ALL
            .get_or_init(|| StdMutex::new(Vec::new()))
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.retain(|(w, _)| w.strong_count() > 0);
        let me = Arc::as_ptr(&self.inner);
        if let Some((_, c)) = all.iter().find(|(w, _)| std::ptr::eq(w.as_ptr(), me)) {
            return c.clone();
        }
        let committers = match self.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => PG_COMMITTERS,
        };
        let c = Arc::new(Combiner {
            queue: StdMutex::new(Vec::new()),
            turns: Arc::new(tokio::sync::Semaphore::new(committers)),
        });
        all.push((Arc::downgrade(&self.inner), c.clone()));
        c
    }

    /// Commits `batch` in one transaction and answers each submitter; if
    /// that fails, commits them one at a time.
    async fn commit_group(&self, batch: Vec<Pending>) {
        let Some(now) = batch.iter().map(|p| p.now).max() else {
            return;
        };
        let started = std::time::Instant::now();
        metrics::histogram!("townhall_store_group_size").record(batch.len() as f64);
        let (inputs, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|p| ((p.new, p.created, p.outbox), (p.reply, p.now)))
            .unzip();
        if inputs.len() > 1 {
            match self.submit_batch(&inputs, now).await {
                Ok(results) => {
                    metrics::histogram!("townhall_store_group_commit_seconds").record(started.elapsed().as_secs_f64());
                    for ((reply, _), r) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(r));
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, size = inputs.len(), "group commit failed; committing one by one")
                }
            }
        }
        for (input, (reply, at)) in inputs.into_iter().zip(replies) {
            let r = self
                .submit_batch(std::slice::from_ref(&input), at)
                .await
                .and_then(|mut v| {
                    v.pop()
                        .ok_or_else(|| StoreError::Corrupt("submit lost its request".into()))
                });
            let _ = reply.send(r);
        }
    }

    /// SQLite's tracking counters for `count` new requests of one
    /// jurisdiction and year, in one statement, in the insert's transaction.
    /// (PostgreSQL draws from a sequence in the insert itself: `pg_group`.)
    async fn next_tracking_seqs(
        &self,
        txn: &impl ConnectionTrait,
        jurisdiction_id: &str,
        year: i32,
        count: usize,
    ) -> Result<Vec<i64>> {
        let k = i64::try_from(count).unwrap_or(i64::MAX);
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO tracking_counters (jurisdiction_id, year, last_seq) VALUES (?, ?, ?) \
                 ON CONFLICT (jurisdiction_id, year) DO UPDATE SET last_seq = last_seq + excluded.last_seq \
                 RETURNING last_seq",
                [jurisdiction_id.into(), year.into(), k.into()],
            ))
            .await?
            .ok_or_else(|| StoreError::Corrupt("tracking counter upsert returned nothing".into()))?;
        let last = row.try_get::<i64>("", "last_seq")?;
        Ok((last - k + 1..=last).collect())
    }

    /// Commits several new requests (with their first history entries and
    /// outbox rows) in one transaction, with one multi-row insert per table.
    async fn submit_batch(
        &self,
        batch: &[(NewRequest, NewEvent, Vec<OutboxSpec>)],
        now: DateTime<Utc>,
    ) -> Result<Vec<(RequestRecord, EventRecord)>> {
        // SQLite's counters are rows, taken in the insert's transaction;
        // PostgreSQL's are sequences, and its rows go in as one statement.
        let txn = match self.backend() {
            Backend::Sqlite => Some(self.write().begin().await?),
            Backend::Postgres => None,
        };
        // Tracking numbers, per jurisdiction and year, in submission order:
        // on SQLite drawn here; on PostgreSQL drawn by the insert itself
        // from each row's sequence (filled in below).
        let mut numbers: Vec<Option<String>> = vec![None; batch.len()];
        if let Some(txn) = &txn {
            let mut groups: Vec<((String, i32), Vec<usize>)> = Vec::new();
            for (i, (new, ..)) in batch.iter().enumerate() {
                let key = (new.jurisdiction_id.clone(), new.tracking_year);
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => v.push(i),
                    None => groups.push((key, vec![i])),
                }
            }
            for ((jurisdiction_id, year), idx) in &groups {
                let seqs = self.next_tracking_seqs(txn, jurisdiction_id, *year, idx.len()).await?;
                for (i, seq) in idx.iter().zip(seqs) {
                    numbers[*i] = Some(TrackingNumber::new(*year, u64::try_from(seq).unwrap_or(0)).to_string());
                }
            }
        } else {
            numbers.fill(Some(String::new()));
        }
        let mut tracking = Vec::with_capacity(if txn.is_none() { batch.len() } else { 0 });

        let mut contacts = Vec::new();
        let mut requests = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        let mut outboxes = Vec::new();
        let mut out = Vec::with_capacity(batch.len());
        for ((new, created, outbox_rows), number) in batch.iter().zip(numbers) {
            let tracking_number = number.ok_or_else(|| StoreError::Corrupt("no tracking number".into()))?;
            let intake = &new.intake;
            let reporter_id = if intake.reporter.is_empty() {
                None
            } else {
                let cid = Uuid::now_v7();
                contacts.push(contact::ActiveModel {
                    id: Set(cid),
                    jurisdiction_id: Set(new.jurisdiction_id.clone()),
                    user_id: Set(intake.reporter.user_id),
                    first_name: Set(intake.reporter.first_name.clone()),
                    last_name: Set(intake.reporter.last_name.clone()),
                    email: Set(intake.reporter.email.clone()),
                    phone: Set(intake.reporter.phone.clone()),
                    created_at: Set(now),
                    anonymized_at: Set(None),
                });
                Some(cid)
            };
            let record = RequestRecord {
                id: new.id,
                jurisdiction_id: new.jurisdiction_id.clone(),
                tracking_number,
                service_code: intake.service_code.clone(),
                description: intake.description.clone(),
                status: new.status,
                priority: new.priority,
                lat: intake.lat,
                long: intake.long,
                address: intake.address.clone(),
                address_id: intake.address_id.clone(),
                zipcode: intake.zipcode.clone(),
                department_code: new.department_code.clone(),
                queue: new.queue.clone(),
                assignee_id: None,
                requested_at: new.requested_at,
                updated_at: new.requested_at,
                expected_at: new.expected_at,
                closed_at: if new.status.is_closed() {
                    Some(new.requested_at)
                } else {
                    None
                },
                channel: new.channel,
                reporter_id,
                attributes: Value::Object(intake.attributes.clone()),
                media_url: intake.media_url.clone(),
                device_id: intake.device_id.clone(),
                merged_into: None,
                public: new.public,
                version: 1,
            };
            requests.push(request_model(&record));
            if txn.is_none() {
                tracking.push(crate::pg_group::Tracking {
                    sequence: sequence_name(&record.jurisdiction_id, new.tracking_year),
                    year: new.tracking_year,
                });
            }
            events.push(event_model(
                record.id,
                &record.jurisdiction_id,
                created,
                new.requested_at,
            ));
            outboxes.extend(
                outbox_rows
                    .iter()
                    .map(|o| outbox_model(&record.jurisdiction_id, Some(record.id), o, new.requested_at)),
            );
            let event = EventRecord {
                id: created.id,
                request_id: record.id,
                kind: created.kind,
                actor: created.actor.clone(),
                from_status: created.from_status,
                to_status: created.to_status,
                body: created.body.clone(),
                data: created.data.clone(),
                public: created.kind.is_public(),
                created_at: new.requested_at,
            };
            out.push((record, event));
        }
        let Some(txn) = txn else {
            let numbers =
                crate::pg_group::insert_group(self.write(), contacts, requests, tracking, events, outboxes).await?;
            let numbers: HashMap<Uuid, String> = numbers.into_iter().collect();
            for (record, _) in &mut out {
                record.tracking_number = numbers
                    .get(&record.id)
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt("a group insert lost a request's tracking number".into()))?;
            }
            return Ok(out);
        };
        if !contacts.is_empty() {
            contact::Entity::insert_many(contacts)
                .exec_without_returning(&txn)
                .await?;
        }
        request::Entity::insert_many(requests)
            .exec_without_returning(&txn)
            .await?;
        event::Entity::insert_many(events).exec_without_returning(&txn).await?;
        if !outboxes.is_empty() {
            outbox::Entity::insert_many(outboxes)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(out)
    }

    /// Changes one request atomically: `decide` sees the current row (locked
    /// for the transaction) and returns the change, or refuses it.
    pub async fn update_request<F>(
        &self,
        jurisdiction_id: &str,
        id: Uuid,
        now: DateTime<Utc>,
        decide: F,
    ) -> Result<(RequestRecord, Vec<EventRecord>)>
    where
        F: FnOnce(&RequestRecord) -> std::result::Result<Change, DomainError> + Send,
    {
        let mut out = self
            .update_requests(jurisdiction_id, &[id], now, |rows| {
                let row = rows.first().ok_or_else(|| DomainError::MalformedId(id.to_string()))?;
                decide(row).map(|c| vec![c])
            })
            .await?;
        out.pop().ok_or_else(|| StoreError::not_found("request", id))
    }

    /// Changes several requests in one transaction (merging touches two).
    /// `decide` receives the rows in the order of `ids` and returns one
    /// change per row, in the same order.
    pub async fn update_requests<F>(
        &self,
        jurisdiction_id: &str,
        ids: &[Uuid],
        now: DateTime<Utc>,
        decide: F,
    ) -> Result<Vec<(RequestRecord, Vec<EventRecord>)>>
    where
        F: FnOnce(&[RequestRecord]) -> std::result::Result<Vec<Change>, DomainError> + Send,
    {
        let txn = self.write().begin().await?;
        // Take the write lock (SQLite) / row locks (PostgreSQL) first, so the
        // rows cannot change between reading and writing them.
        let mut sorted = ids.to_vec();
        sorted.sort();
        request::Entity::update_many()
            .col_expr(request::Column::Version, Expr::col(request::Column::Version))
            .filter(request::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(request::Column::Id.is_in(sorted.clone()))
            .exec(&txn)
            .await?;
        let mut by_id: HashMap<Uuid, request::Model> = request::Entity::find()
            .filter(request::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(request::Column::Id.is_in(sorted))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let mut models = Vec::with_capacity(ids.len());
        for id in ids {
            models.push(by_id.remove(id).ok_or_else(|| StoreError::not_found("request", id))?);
        }
        let records: Vec<RequestRecord> = models.iter().cloned().map(convert::request).collect::<Result<_>>()?;
        let changes = decide(&records)?;
        if changes.len() != records.len() {
            return Err(StoreError::Corrupt(
                "a workflow returned the wrong number of changes".into(),
            ));
        }

        let mut out = Vec::with_capacity(records.len());
        for ((model, record), change) in models.into_iter().zip(records).zip(changes) {
            let mut record = record;
            if !change.patch.is_empty() {
                let p = &change.patch;
                let mut am = model.into_active_model();
                if let Some(s) = p.status {
                    am.status = Set(s.as_str().to_owned());
                    record.status = s;
                }
                if let Some(pr) = p.priority {
                    am.priority = Set(pr.as_str().to_owned());
                    record.priority = pr;
                }
                if let Some(d) = &p.department_code {
                    am.department_code = Set(d.clone());
                    record.department_code = d.clone();
                }
                if let Some(q) = &p.queue {
                    am.queue = Set(q.clone());
                    record.queue = q.clone();
                }
                if let Some(a) = p.assignee_id {
                    am.assignee_id = Set(a);
                    record.assignee_id = a;
                }
                if let Some(e) = p.expected_at {
                    am.expected_at = Set(e);
                    record.expected_at = e;
                }
                if let Some(c) = p.closed_at {
                    am.closed_at = Set(c);
                    record.closed_at = c;
                }
                if let Some(m) = p.merged_into {
                    am.merged_into = Set(m);
                    record.merged_into = m;
                }
                if let Some(pb) = p.public {
                    am.public = Set(pb);
                    record.public = pb;
                }
                record.version += 1;
                record.updated_at = now;
                am.version = Set(record.version);
                am.updated_at = Set(now);
                am.update(&txn).await?;
            } else if !change.events.is_empty() {
                // A note alone still makes the request "updated".
                record.updated_at = now;
                request::Entity::update_many()
                    .col_expr(request::Column::UpdatedAt, Expr::value(now))
                    .filter(request::Column::Id.eq(record.id))
                    .exec(&txn)
                    .await?;
            }
            let events =
                insert_events_and_outbox(&txn, record.id, jurisdiction_id, &change.events, &change.outbox, now).await?;
            out.push((record, events));
        }
        txn.commit().await?;
        Ok(out)
    }

    pub async fn request(&self, jurisdiction_id: &str, id: Uuid) -> Result<RequestRecord> {
        request::Entity::find_by_id(id)
            .filter(request::Column::JurisdictionId.eq(jurisdiction_id))
            .one(self.read())
            .await?
            .map(convert::request)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("request", id))
    }

    pub async fn request_by_tracking(&self, jurisdiction_id: &str, tracking: &str) -> Result<RequestRecord> {
        request::Entity::find()
            .filter(request::Column::JurisdictionId.eq(jurisdiction_id))
            .filter(request::Column::TrackingNumber.eq(tracking))
            .one(self.read())
            .await?
            .map(convert::request)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("request", tracking))
    }

    fn request_condition(q: &RequestQuery) -> Condition {
        use request::Column as C;
        let mut c = Condition::all().add(C::JurisdictionId.eq(q.jurisdiction_id.clone()));
        if !q.ids.is_empty() {
            c = c.add(C::Id.is_in(q.ids.clone()));
        }
        if !q.tracking_numbers.is_empty() {
            c = c.add(C::TrackingNumber.is_in(q.tracking_numbers.clone()));
        }
        if !q.statuses.is_empty() {
            c = c.add(C::Status.is_in(q.statuses.iter().map(|s| s.as_str())));
        }
        if !q.service_codes.is_empty() {
            c = c.add(C::ServiceCode.is_in(q.service_codes.clone()));
        }
        if !q.department_codes.is_empty() {
            c = c.add(C::DepartmentCode.is_in(q.department_codes.clone()));
        }
        if let Some(t) = q.requested_from {
            c = c.add(C::RequestedAt.gte(t));
        }
        if let Some(t) = q.requested_to {
            c = c.add(C::RequestedAt.lte(t));
        }
        if let Some(t) = q.updated_from {
            c = c.add(C::UpdatedAt.gte(t));
        }
        if let Some(t) = q.updated_to {
            c = c.add(C::UpdatedAt.lte(t));
        }
        if let Some(b) = q.bbox {
            c = c
                .add(C::Lat.between(b.min_lat, b.max_lat))
                .add(C::Long.between(b.min_long, b.max_long));
        }
        if q.public_only {
            if q.also_private_in.is_empty() {
                c = c.add(C::Public.eq(true));
            } else {
                c = c.add(
                    Condition::any()
                        .add(C::Public.eq(true))
                        .add(C::DepartmentCode.is_in(q.also_private_in.clone())),
                );
            }
        }
        if let Some(user) = q.reporter_user_id {
            let sub = sea_orm::sea_query::Query::select()
                .column(contact::Column::Id)
                .from(contact::Entity)
                .and_where(Expr::col(contact::Column::UserId).eq(user))
                .to_owned();
            c = c.add(C::ReporterId.in_subquery(sub));
        }
        c
    }

    /// Lists requests matching `q`, newest first by default.
    pub async fn list_requests(&self, q: &RequestQuery) -> Result<Vec<RequestRecord>> {
        use request::Column as C;
        let mut cond = Self::request_condition(q);
        if let Some(after) = q.after {
            cond = cond.add(match q.order {
                Order::NewestFirst => C::Id.lt(after),
                Order::OldestFirst => C::Id.gt(after),
            });
        }
        let mut select = request::Entity::find().filter(cond);
        select = match q.order {
            Order::NewestFirst => select.order_by_desc(C::Id),
            Order::OldestFirst => select.order_by_asc(C::Id),
        };
        select
            .offset(q.offset)
            .limit(std::cmp::max(q.limit, 1))
            .all(self.read())
            .await?
            .into_iter()
            .map(convert::request)
            .collect()
    }

    /// How many requests match `q` (ignoring its cursor and limit).
    pub async fn count_requests(&self, q: &RequestQuery) -> Result<u64> {
        Ok(request::Entity::find()
            .filter(Self::request_condition(q))
            .count(self.read())
            .await?)
    }

    /// A request's history, oldest first. Internal entries only when asked.
    pub async fn history(&self, request_id: Uuid, include_internal: bool) -> Result<Vec<EventRecord>> {
        let mut q = event::Entity::find().filter(event::Column::RequestId.eq(request_id));
        if !include_internal {
            q = q.filter(event::Column::Public.eq(true));
        }
        q.order_by_asc(event::Column::Id)
            .all(self.read())
            .await?
            .into_iter()
            .map(convert::event)
            .collect()
    }

    /// History entries of a jurisdiction in a time window (update feeds).
    pub async fn events_between(
        &self,
        jurisdiction_id: &str,
        kinds: &[EventKind],
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        public_only: bool,
        limit: u64,
    ) -> Result<Vec<EventRecord>> {
        let mut q = event::Entity::find().filter(event::Column::JurisdictionId.eq(jurisdiction_id));
        if !kinds.is_empty() {
            q = q.filter(event::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
        }
        if let Some(f) = from {
            q = q.filter(event::Column::CreatedAt.gte(f));
        }
        if let Some(t) = to {
            q = q.filter(event::Column::CreatedAt.lte(t));
        }
        if public_only {
            q = q.filter(event::Column::Public.eq(true));
        }
        q.order_by_asc(event::Column::CreatedAt)
            .order_by_asc(event::Column::Id)
            .limit(limit)
            .all(self.read())
            .await?
            .into_iter()
            .map(convert::event)
            .collect()
    }

    /// Several requests by id, any jurisdiction (ids that do not exist are
    /// simply absent), in chunks of 500 ids per query.
    pub async fn requests_by_ids(&self, ids: &[Uuid]) -> Result<Vec<RequestRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let q = request::Entity::find();
            let rows = match self.backend() {
                Backend::Postgres => {
                    q.from_raw_sql(pg_by_ids("service_requests", chunk))
                        .all(self.read())
                        .await?
                }
                Backend::Sqlite => {
                    q.filter(request::Column::Id.is_in(chunk.iter().copied()))
                        .all(self.read())
                        .await?
                }
            };
            for m in rows {
                out.push(convert::request(m)?);
            }
        }
        Ok(out)
    }

    /// The histories of several requests, each oldest first, in one query
    /// per 500 ids. Internal entries only when asked.
    pub async fn histories(&self, ids: &[Uuid], include_internal: bool) -> Result<HashMap<Uuid, Vec<EventRecord>>> {
        let mut out: HashMap<Uuid, Vec<EventRecord>> = HashMap::new();
        for chunk in ids.chunks(500) {
            let rows = match self.backend() {
                Backend::Postgres => {
                    // One index walk per request, whatever the statistics say:
                    // with `request_id IN (…)` and a table not analyzed yet,
                    // the planner guesses a large share of the table and
                    // reads all of it.
                    let public = if include_internal { "" } else { " AND public" };
                    let sql = format!(
                        "SELECT e.* FROM unnest(string_to_array($1, ',')::uuid[]) AS k(id) \
                         CROSS JOIN LATERAL (SELECT * FROM request_events \
                         WHERE request_id = k.id{public} ORDER BY id) AS e"
                    );
                    event::Entity::find()
                        .from_raw_sql(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            sql,
                            [uuid_list(chunk)],
                        ))
                        .all(self.read())
                        .await?
                }
                Backend::Sqlite => {
                    let mut q = event::Entity::find().filter(event::Column::RequestId.is_in(chunk.iter().copied()));
                    if !include_internal {
                        q = q.filter(event::Column::Public.eq(true));
                    }
                    q.order_by_asc(event::Column::Id).all(self.read()).await?
                }
            };
            for m in rows {
                let e = convert::event(m)?;
                out.entry(e.request_id).or_default().push(e);
            }
        }
        Ok(out)
    }

    /// Several private contacts by id (missing ones are absent).
    pub async fn contacts(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Contact>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let q = contact::Entity::find();
            let rows = match self.backend() {
                Backend::Postgres => q.from_raw_sql(pg_by_ids("contacts", chunk)).all(self.read()).await?,
                Backend::Sqlite => {
                    q.filter(contact::Column::Id.is_in(chunk.iter().copied()))
                        .all(self.read())
                        .await?
                }
            };
            for m in rows {
                let c = convert::contact(m);
                out.insert(c.id, c);
            }
        }
        Ok(out)
    }

    /// The private contact behind a request's reporter.
    pub async fn contact(&self, id: Uuid) -> Result<Contact> {
        contact::Entity::find_by_id(id)
            .one(self.read())
            .await?
            .map(convert::contact)
            .ok_or_else(|| StoreError::not_found("contact", id))
    }

    /// Whether a jurisdiction has any request at all.
    pub async fn has_requests(&self, jurisdiction_id: &str) -> Result<bool> {
        Ok(request::Entity::find()
            .filter(request::Column::JurisdictionId.eq(jurisdiction_id))
            .limit(1)
            .one(self.read())
            .await?
            .is_some())
    }
}

/// Ids as one text parameter that PostgreSQL turns into a `uuid[]`: one
/// prepared statement whatever the number of ids (an `IN (…)` list is a
/// new statement for every length).
fn uuid_list(ids: &[Uuid]) -> sea_orm::Value {
    ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(",").into()
}

/// The rows of `table` whose primary key `id` is one of `ids`, for
/// PostgreSQL: one primary-key probe per id. (`id = ANY(array)` with the
/// array bound as a parameter got a generic plan that read the whole table.)
fn pg_by_ids(table: &str, ids: &[Uuid]) -> Statement {
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "SELECT t.* FROM unnest(string_to_array($1, ',')::uuid[]) AS k(id) \
             CROSS JOIN LATERAL (SELECT * FROM {table} WHERE id = k.id LIMIT 1) AS t"
        ),
        [uuid_list(ids)],
    )
}

fn request_model(r: &RequestRecord) -> request::ActiveModel {
    request::ActiveModel {
        id: Set(r.id),
        jurisdiction_id: Set(r.jurisdiction_id.clone()),
        tracking_number: Set(r.tracking_number.clone()),
        service_code: Set(r.service_code.clone()),
        description: Set(r.description.clone()),
        status: Set(r.status.as_str().to_owned()),
        priority: Set(r.priority.as_str().to_owned()),
        lat: Set(r.lat),
        long: Set(r.long),
        address: Set(r.address.clone()),
        address_id: Set(r.address_id.clone()),
        zipcode: Set(r.zipcode.clone()),
        department_code: Set(r.department_code.clone()),
        queue: Set(r.queue.clone()),
        assignee_id: Set(r.assignee_id),
        requested_at: Set(r.requested_at),
        updated_at: Set(r.updated_at),
        expected_at: Set(r.expected_at),
        closed_at: Set(r.closed_at),
        channel: Set(r.channel.as_str().to_owned()),
        reporter_id: Set(r.reporter_id),
        attributes: Set(r.attributes.clone()),
        media_url: Set(r.media_url.clone()),
        device_id: Set(r.device_id.clone()),
        merged_into: Set(r.merged_into),
        public: Set(r.public),
        version: Set(r.version),
    }
}
