use std::collections::VecDeque;
use std::time::Instant;

use crate::{Input, Now, Output, RoomConfig};

/// Counts for metrics, the admin API and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    pub sessions: usize,
    pub rooms: usize,
    pub participants: usize,
    pub publishers: usize,
    pub players: usize,
}

/// The whole signaling state of one server.
pub struct Hub {
    config: RoomConfig,
    outputs: VecDeque<Output>,
}

impl Hub {
    pub fn new(config: RoomConfig) -> Self {
        Self {
            config,
            outputs: VecDeque::new(),
        }
    }

    pub fn handle_input(&mut self, _now: Now, _input: Input) {
        let _ = &self.config;
    }

    pub fn handle_timeout(&mut self, _now: Now) {}

    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn stats(&self) -> HubStats {
        HubStats::default()
    }
}
