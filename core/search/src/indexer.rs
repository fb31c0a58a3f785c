//! Keeping the index current from the outbox.
//!
//! Every change to a request enqueues an outbox row for [`OUTBOX_CONSUMER`]
//! naming the request (`aggregate_id`). The handler ignores the payload's
//! details and re-reads the request, its history, its service and its
//! reporter from the store, so the index always converges on the current
//! state whatever order rows arrive in.
//!
//! **Must never:** block or fail the change that enqueued the row (it
//! runs after commit), or index anything but what the store says now.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use uuid::Uuid;

use townhall_intake::outbox::{HandlerError, OutboxHandler};
use townhall_store::{OutboxItem, Store, StoreError};

use crate::SearchIndex;
use crate::document::SearchDocument;
use crate::error::SearchError;

/// The outbox consumer name search registers under.
pub const OUTBOX_CONSUMER: &str = "search";

/// Reads what the index needs about one request; `None` if it no longer
/// exists.
pub async fn load_document(
    store: &Store,
    jurisdiction_id: &str,
    id: Uuid,
) -> Result<Option<SearchDocument>, SearchError> {
    let request = match store.request(jurisdiction_id, id).await {
        Ok(r) => r,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let service = match store.service(jurisdiction_id, &request.service_code).await {
        Ok(s) => Some(s),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let history = store.history(id, true).await?;
    let contact = match request.reporter_id {
        Some(cid) => match store.contact(cid).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    Ok(Some(SearchDocument::build(
        &request,
        service.as_ref(),
        &history,
        contact.as_ref(),
    )))
}

/// The outbox handler for [`OUTBOX_CONSUMER`].
#[derive(Clone)]
pub struct SearchIndexer {
    store: Store,
    index: SearchIndex,
}

impl SearchIndexer {
    pub fn new(store: Store, index: SearchIndex) -> Self {
        Self { store, index }
    }

    /// Re-indexes one request from the store (or removes it).
    pub async fn refresh(&self, jurisdiction_id: &str, id: Uuid) -> Result<(), SearchError> {
        self.refresh_many(&[(jurisdiction_id.to_owned(), id)]).await
    }
}

fn request_id(item: &OutboxItem) -> Option<Uuid> {
    item.aggregate_id.or_else(|| {
        item.payload
            .get("request_id")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
    })
}

fn handler_error(e: &SearchError) -> HandlerError {
    if e.is_transient() {
        HandlerError::retry(e.to_string())
    } else {
        HandlerError::permanent(e.to_string())
    }
}

impl SearchIndexer {
    /// Re-indexes several requests from the store with a few queries in
    /// all (requests, histories, contacts; services once per code), and
    /// sends the index one batch.
    pub async fn refresh_many(&self, wanted: &[(String, Uuid)]) -> Result<(), SearchError> {
        let mut ids: Vec<Uuid> = wanted.iter().map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let requests = self.store.requests_by_ids(&ids).await?;
        let mut histories = self.store.histories(&ids, true).await?;
        let contact_ids: Vec<Uuid> = requests.iter().filter_map(|r| r.reporter_id).collect();
        let contacts = self.store.contacts(&contact_ids).await?;
        let mut services = HashMap::new();
        let mut docs = Vec::with_capacity(requests.len());
        let mut found = HashSet::new();
        for r in &requests {
            // An id under another jurisdiction than the row says is no match.
            if !wanted.iter().any(|(j, id)| *id == r.id && *j == r.jurisdiction_id) {
                continue;
            }
            let key = (r.jurisdiction_id.clone(), r.service_code.clone());
            if !services.contains_key(&key) {
                let s = match self.store.service(&r.jurisdiction_id, &r.service_code).await {
                    Ok(s) => Some(s),
                    Err(StoreError::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                };
                services.insert(key.clone(), s);
            }
            let service = services.get(&key).and_then(Option::as_ref);
            let history = histories.remove(&r.id).unwrap_or_default();
            let contact = r.reporter_id.and_then(|c| contacts.get(&c));
            docs.push(SearchDocument::build(r, service, &history, contact));
            found.insert(r.id);
        }
        let gone: Vec<Uuid> = ids.into_iter().filter(|id| !found.contains(id)).collect();
        if !docs.is_empty() {
            self.index.index_documents(docs).await?;
        }
        if !gone.is_empty() {
            self.index.remove(&gone).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl OutboxHandler for SearchIndexer {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandlerError> {
        let Some(id) = request_id(item) else {
            return Err(HandlerError::permanent("the outbox row names no request"));
        };
        self.refresh(&item.jurisdiction_id, id).await.map_err(|e| {
            tracing::warn!(request_id = %id, code = e.code(), error = %e, "could not index request");
            handler_error(&e)
        })
    }

    /// One load and one index write for the whole batch; if that fails,
    /// every item gets the error (and is retried).
    async fn handle_batch(&self, items: &[&OutboxItem]) -> Vec<Result<(), HandlerError>> {
        let wanted: Vec<(String, Uuid)> = items
            .iter()
            .filter_map(|i| request_id(i).map(|id| (i.jurisdiction_id.clone(), id)))
            .collect();
        let shared = self.refresh_many(&wanted).await.map_err(|e| {
            tracing::warn!(requests = wanted.len(), code = e.code(), error = %e, "could not index requests");
            handler_error(&e)
        });
        items
            .iter()
            .map(|i| match (request_id(i), &shared) {
                (None, _) => Err(HandlerError::permanent("the outbox row names no request")),
                (Some(_), Ok(())) => Ok(()),
                (Some(_), Err(e)) => Err(e.clone()),
            })
            .collect()
    }
}
