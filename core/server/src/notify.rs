//! The `notifications` outbox consumer: emails that plugins ask for
//! (`notify` actions) go to the reporter or the responsible department.
//! A request with no address to write to is completed without sending.

use std::sync::Arc;

use async_trait::async_trait;
use townhall_access::Mailer;
use townhall_intake::outbox::{HandlerError, OutboxHandler};
use townhall_store::{OutboxItem, Store, StoreError};
use uuid::Uuid;

pub struct Notifications {
    store: Store,
    mailer: Arc<dyn Mailer>,
}

impl Notifications {
    pub fn new(store: Store, mailer: Arc<dyn Mailer>) -> Self {
        Self { store, mailer }
    }
}

fn transient(e: StoreError) -> HandlerError {
    HandlerError::retry(e.to_string())
}

#[async_trait]
impl OutboxHandler for Notifications {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandlerError> {
        let p = &item.payload;
        let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let request_id = Uuid::parse_str(&field("request_id")).map_err(|_| HandlerError::permanent("no request id"))?;
        let request = match self.store.request(&item.jurisdiction_id, request_id).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Err(HandlerError::permanent("the request no longer exists")),
            Err(e) => return Err(transient(e)),
        };
        let to = match field("recipient").as_str() {
            "reporter" => match request.reporter_id {
                Some(c) => self.store.contact(c).await.map_err(transient)?.email,
                None => None,
            },
            "department" => match &request.department_code {
                Some(d) => {
                    self.store
                        .department(&item.jurisdiction_id, d)
                        .await
                        .map_err(transient)?
                        .email
                }
                None => None,
            },
            other => return Err(HandlerError::permanent(format!("unknown recipient `{other}`"))),
        };
        let Some(to) = to else {
            tracing::info!(request_id = %request_id, "notification has no address to go to; skipped");
            return Ok(());
        };
        let subject = format!("[{}] {}", request.tracking_number, field("subject"));
        let body = format!(
            "{}\n\nRequest {} — track it at any time with this number.\n",
            field("body"),
            request.tracking_number
        );
        self.mailer
            .send(&to, &subject, &body)
            .await
            .map_err(HandlerError::retry)
    }
}
