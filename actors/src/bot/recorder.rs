//! Appending a running bot's own events to its stream.

use std::sync::Arc;

use keyward_eventlog::{AppendError, Direction, EventLog, ExpectedVersion};
use keyward_events::bot::BotEvent;
use keyward_events::{DomainEvent, Metadata, StreamName};
use uuid::Uuid;

use super::paper::PaperError;
use super::{BotCommandError, BotService, BotState};

/// Appends a bot's events with the version it last saw, and reads the stream again after a
/// version conflict (a pause or stop from the API).
pub(super) struct Recorder {
    pub(super) bot: BotState,
    log: Arc<dyn EventLog>,
    stream: StreamName,
    metadata: Metadata,
    /// `OrderRiskChecked` events recorded or found, counted for fault injection in tests.
    pub(super) checks: u64,
}

impl Recorder {
    pub(super) fn new(
        log: Arc<dyn EventLog>,
        stream: StreamName,
        metadata: Metadata,
        bot: BotState,
    ) -> Self {
        Self {
            bot,
            log,
            stream,
            metadata,
            checks: 0,
        }
    }

    /// Returns the log the events go to.
    pub(super) fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Returns the metadata every event is recorded with.
    pub(super) fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    pub(super) async fn record(
        &mut self,
        event_id: Uuid,
        event: BotEvent,
    ) -> Result<(), PaperError> {
        if matches!(event, BotEvent::OrderRiskChecked(_)) {
            self.checks += 1;
        }
        for _ in 0..3 {
            let new_event = event.to_new_event(event_id, self.metadata.clone());
            let expected = ExpectedVersion::Exact(self.bot.version);
            match self
                .log
                .append(&self.stream, expected, vec![new_event])
                .await
            {
                Ok(appended) => {
                    if appended.last_version > self.bot.version {
                        let state =
                            BotState::evolve(Some(self.bot.clone()), &event, appended.last_version);
                        if let Some(state) = state {
                            self.bot = state;
                        }
                    }
                    return Ok(());
                }
                Err(AppendError::WrongExpectedVersion { .. }) => self.reload().await?,
                Err(err) => return Err(err.into()),
            }
        }
        Err(PaperError::Append(AppendError::WrongExpectedVersion {
            stream: self.stream.as_str().to_owned(),
            expected: ExpectedVersion::Exact(self.bot.version),
            actual: Some(self.bot.version),
        }))
    }

    /// Applies the events appended to the stream by others (a pause or stop from the API)
    /// since the last one this recorder saw.
    pub(super) async fn refresh(&mut self) -> Result<(), PaperError> {
        let from = self.bot.version + 1;
        let records = self
            .log
            .read_stream(&self.stream, from, Direction::Forward, 1000)
            .await
            .map_err(BotCommandError::from)?;
        for record in &records {
            let event = BotEvent::from_recorded(record).map_err(BotCommandError::from)?;
            if let Some(state) = BotState::evolve(Some(self.bot.clone()), &event, record.version) {
                self.bot = state;
            }
        }
        Ok(())
    }

    pub(super) async fn reload(&mut self) -> Result<(), PaperError> {
        let service = BotService::new(Arc::clone(&self.log));
        let bot_id = self.bot.bot_id;
        self.bot = service
            .load(bot_id)
            .await?
            .ok_or(BotCommandError::NotFound(bot_id))?;
        Ok(())
    }
}
