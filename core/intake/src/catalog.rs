//! A short-lived cache of jurisdictions and services in front of the store.
//!
//! Entries live one second, so a plugin installed by another process (or
//! another replica) shows up within a second without any coordination,
//! while the intake hot path does not read the catalog from the database on
//! every submission.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use townhall_domain::service::ServiceDefinition;
use townhall_store::{Jurisdiction, Store, StoreError};

use crate::error::IntakeError;

/// (jurisdiction id, service code).
type ServiceKey = (String, String);

const TTL: Duration = Duration::from_secs(1);

type Entry<T> = (Instant, T);

pub struct Catalog {
    store: Store,
    jurisdictions: RwLock<Option<Entry<Arc<Vec<Jurisdiction>>>>>,
    services: RwLock<HashMap<ServiceKey, Entry<Option<Arc<ServiceDefinition>>>>>,
}

impl Catalog {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            jurisdictions: RwLock::new(None),
            services: RwLock::new(HashMap::new()),
        }
    }

    /// Forgets everything cached (after a local catalog change).
    pub fn invalidate(&self) {
        if let Ok(mut j) = self.jurisdictions.write() {
            *j = None;
        }
        if let Ok(mut s) = self.services.write() {
            s.clear();
        }
    }

    async fn all_jurisdictions(&self) -> Result<Arc<Vec<Jurisdiction>>, IntakeError> {
        if let Ok(guard) = self.jurisdictions.read()
            && let Some((at, list)) = guard.as_ref()
            && at.elapsed() < TTL
        {
            return Ok(list.clone());
        }
        let list = Arc::new(self.store.jurisdictions().await?);
        if let Ok(mut guard) = self.jurisdictions.write() {
            *guard = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }

    /// Resolves a client's `jurisdiction_id`: absent or empty means the
    /// default (or the only) jurisdiction.
    pub async fn jurisdiction(&self, requested: Option<&str>) -> Result<Jurisdiction, IntakeError> {
        let all = self.all_jurisdictions().await?;
        match requested.map(str::trim).filter(|s| !s.is_empty()) {
            Some(id) => all
                .iter()
                .find(|j| j.id == id)
                .cloned()
                .ok_or_else(|| IntakeError::UnknownJurisdiction(id.chars().take(64).collect())),
            None => all
                .iter()
                .find(|j| j.is_default)
                .or_else(|| if all.len() == 1 { all.first() } else { None })
                .cloned()
                .ok_or(IntakeError::JurisdictionRequired),
        }
    }

    /// An active service, or `UnknownService`.
    pub async fn service(&self, jurisdiction_id: &str, code: &str) -> Result<Arc<ServiceDefinition>, IntakeError> {
        let key = (jurisdiction_id.to_owned(), code.to_owned());
        let cached = self
            .services
            .read()
            .ok()
            .and_then(|g| g.get(&key).filter(|(at, _)| at.elapsed() < TTL).map(|(_, s)| s.clone()));
        let found = match cached {
            Some(s) => s,
            None => {
                let fresh = match self.store.service(jurisdiction_id, code).await {
                    Ok(s) => Some(Arc::new(s)),
                    Err(StoreError::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                };
                if let Ok(mut g) = self.services.write() {
                    g.insert(key, (Instant::now(), fresh.clone()));
                }
                fresh
            }
        };
        found
            .filter(|s| s.active)
            .ok_or_else(|| IntakeError::UnknownService(code.chars().take(64).collect()))
    }
}
