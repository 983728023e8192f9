//! Catch-up-then-live subscriptions, built once over any backend.
//!
//! A subscription reads stored events in pages after its cursor; when it reaches the head it
//! waits on the head watch and reads again. It never buffers more than one page, so a
//! subscriber slower than the writers simply reads from storage when it gets to it: no gap, no
//! duplicate, bounded memory.

use std::collections::VecDeque;
use std::sync::Arc;

use keyward_events::{Category, RecordedEvent};
use tokio::sync::watch;

use crate::{EventLog, ReadError};

/// Which events a subscription delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionFilter {
    All,
    Category(Category),
}

impl SubscriptionFilter {
    fn matches(self, event: &RecordedEvent) -> bool {
        match self {
            SubscriptionFilter::All => true,
            SubscriptionFilter::Category(category) => {
                let prefix = category.as_str();
                let name = event.stream.as_str();
                name.len() > prefix.len()
                    && name.starts_with(prefix)
                    && name.as_bytes()[prefix.len()] == b'-'
            }
        }
    }
}

/// Delivers stored events after a position, then live ones, in position order.
pub struct Subscription {
    log: Arc<dyn EventLog>,
    filter: SubscriptionFilter,
    cursor: u64,
    head: watch::Receiver<u64>,
    buffer: VecDeque<RecordedEvent>,
}

impl Subscription {
    /// Events read from storage at once. A subscription never buffers more than one page.
    pub const PAGE: usize = 512;

    /// Subscribes to events with positions greater than `after`.
    pub fn new(log: Arc<dyn EventLog>, after: u64, filter: SubscriptionFilter) -> Self {
        let head = log.head();
        Subscription {
            log,
            filter,
            cursor: after,
            head,
            buffer: VecDeque::new(),
        }
    }

    /// The position of the last event read from storage (delivered or filtered out).
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Events read from storage and not yet delivered.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Waits for the next matching event.
    ///
    /// # Errors
    /// Fails when storage cannot be read or the log shuts down.
    pub async fn next(&mut self) -> Result<RecordedEvent, ReadError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(event);
            }
            let head = *self.head.borrow_and_update();
            if head > self.cursor {
                self.fill().await?;
                continue;
            }
            if self.head.changed().await.is_err() {
                return Err(ReadError::Closed);
            }
        }
    }

    /// Returns the next matching event if one is stored, without waiting for new appends.
    ///
    /// # Errors
    /// Fails when storage cannot be read.
    pub async fn try_next(&mut self) -> Result<Option<RecordedEvent>, ReadError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(Some(event));
            }
            let head = *self.head.borrow_and_update();
            if head <= self.cursor {
                return Ok(None);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), ReadError> {
        let page = self.log.read_all(self.cursor, Self::PAGE).await?;
        if page.is_empty() {
            // The head moved but nothing is readable yet; wait for the next change.
            return match self.head.changed().await {
                Ok(()) => Ok(()),
                Err(_) => Err(ReadError::Closed),
            };
        }
        for event in page {
            self.cursor = event.position;
            if self.filter.matches(&event) {
                self.buffer.push_back(event);
            }
        }
        Ok(())
    }
}
