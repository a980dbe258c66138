//! A crash point for fault tests: the `n`-th API call from now (on either
//! fake CRM, when both share the tripwire, or any other await point a test
//! wraps with [`Tripwire::pass`] and [`Tripwire::die`], such as a store
//! write) never gets its answer, as if the
//! worker that made it died at that moment. Either before the call reaches
//! the fake API (the request is lost) or after it took effect (the answer is
//! lost). The test waits for [`Tripwire::tripped`] and then drops the
//! worker's future, which closes the connection.

use std::sync::Mutex;
use tokio::sync::Notify;

/// When the call dies: before the fake API sees it, or after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    BeforeEffect,
    AfterEffect,
}

#[derive(Debug, Default)]
struct Armed {
    /// Calls to let through before the one that dies.
    remaining: Option<u64>,
    cut: Option<Cut>,
    tripped: bool,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Tripwire {
    armed: Mutex<Armed>,
    notify: Notify,
}

impl Tripwire {
    /// Arms the wire: `calls` more calls pass, the next one dies at `cut`.
    pub fn arm(&self, calls: u64, cut: Cut) {
        *self.lock() = Armed { remaining: Some(calls), cut: Some(cut), tripped: false };
    }

    /// Disarms it (calls pass again) and forgets whether it tripped.
    pub fn disarm(&self) {
        *self.lock() = Armed::default();
    }

    /// Whether a call died since the wire was armed.
    pub fn has_tripped(&self) -> bool {
        self.lock().tripped
    }

    /// Resolves once a call has died.
    pub async fn tripped(&self) {
        loop {
            let notified = self.notify.notified();
            if self.has_tripped() {
                return;
            }
            notified.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Armed> {
        self.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one call; `Some(cut)` when this one dies.
    pub fn pass(&self) -> Option<Cut> {
        let mut armed = self.lock();
        match armed.remaining {
            Some(0) => {
                armed.remaining = None;
                armed.cut
            }
            Some(n) => {
                armed.remaining = Some(n - 1);
                None
            }
            None => None,
        }
    }

    /// Marks the wire tripped and wakes the test; the caller then never
    /// answers.
    pub async fn die(&self) -> ! {
        self.lock().tripped = true;
        self.notify.notify_waiters();
        let never: std::convert::Infallible = std::future::pending().await;
        match never {}
    }
}
