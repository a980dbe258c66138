//! A gate every request of a client passes before it is sent: the hook
//! through which the product holds a client to its API cap.
//!
//! The client knows nothing of caps or of where calls are counted; it asks
//! the gate, when one is installed, before each HTTP request (token requests
//! included, as they count against the org's allocation too). A refusal is a
//! classified [`CrmError`] and the request is not sent.

use crate::error::{CrmError, System};
use crm_sync_domain::error::{ErrorCategory, Verdict};
use futures::future::BoxFuture;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The code of the error a gate answers with when the cap is reached.
pub const CAP_REACHED: &str = "API_CAP_REACHED";

/// Decides whether one more request may be sent now.
pub trait CallGate: Send + Sync {
    /// `Ok` to send one request (it is then counted as sent); an error to
    /// refuse it, usually [`cap_reached`].
    fn admit(&self) -> BoxFuture<'_, Result<(), CrmError>>;
}

/// The refusal of a gate whose cap is spent: an API limit, to be tried
/// again after `retry_after`.
pub fn cap_reached(system: System, message: String, retry_after: Duration) -> CrmError {
    CrmError {
        system,
        status: 0,
        code: CAP_REACHED.to_owned(),
        message,
        category: ErrorCategory::ApiLimit,
        verdict: Verdict::Retryable { after: retry_after },
        source: None,
    }
}

/// The gate slot of a client: empty (every request goes) or one gate, which
/// a later install replaces.
#[derive(Default)]
pub(crate) struct GateSlot(RwLock<Option<Arc<dyn CallGate>>>);

impl GateSlot {
    pub(crate) fn install(&self, gate: Arc<dyn CallGate>) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(gate);
    }

    /// Asks the installed gate, if any.
    pub(crate) async fn admit(&self) -> Result<(), CrmError> {
        let gate = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        match gate {
            Some(gate) => gate.admit().await,
            None => Ok(()),
        }
    }
}
