//! Call accounting and fault injection shared by the two CRM fakes.
//!
//! Every port method of a fake starts with [`CallLog::enter`]: it counts the
//! invocation under the method's name and, when a fault was armed for that
//! method, answers with the armed error instead of running. API calls (what
//! `calls_made` reports) are counted separately, because one port method may
//! stand for several API calls (pages, batches) and the use cases turn that
//! figure into usage entries.

use crm_sync_crm::error::{CrmError, System};
use crm_sync_domain::error::{ErrorCategory, Verdict};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The parts of a [`CrmError`] needed to raise it again (the error itself
/// is not `Clone`: it may carry a boxed source).
#[derive(Debug, Clone)]
struct ErrorTemplate {
    system: System,
    status: u16,
    code: String,
    message: String,
    category: ErrorCategory,
    verdict: Verdict,
}

impl ErrorTemplate {
    fn of(error: &CrmError) -> Self {
        ErrorTemplate {
            system: error.system,
            status: error.status,
            code: error.code.clone(),
            message: error.message.clone(),
            category: error.category,
            verdict: error.verdict,
        }
    }

    fn raise(&self) -> CrmError {
        CrmError {
            system: self.system,
            status: self.status,
            code: self.code.clone(),
            message: self.message.clone(),
            category: self.category,
            verdict: self.verdict,
            source: None,
        }
    }
}

/// A CRM error as a test wants to inject it: retryable ones (rate limits,
/// outages) carry a one-second delay, the others are permanent.
pub fn crm_error(system: System, status: u16, code: &str, retryable: bool) -> CrmError {
    let category = match status {
        429 => ErrorCategory::ApiLimit,
        401 | 403 => ErrorCategory::PermissionsOrAccess,
        400 | 422 => ErrorCategory::PropertyValueOrValidation,
        409 => ErrorCategory::Duplicates,
        _ => ErrorCategory::Other,
    };
    CrmError {
        system,
        status,
        code: code.to_owned(),
        message: format!("injected {code}"),
        category,
        verdict: if retryable { Verdict::Retryable { after: Duration::from_secs(1) } } else { Verdict::Permanent },
        source: None,
    }
}

/// Invocation counts per port method, API calls, and armed faults.
#[derive(Debug, Default)]
pub struct CallLog {
    api_calls: AtomicU64,
    invocations: Mutex<BTreeMap<&'static str, u64>>,
    faults: Mutex<BTreeMap<&'static str, VecDeque<ErrorTemplate>>>,
    stops: Mutex<BTreeMap<&'static str, u64>>,
    stops_after: Mutex<BTreeMap<&'static str, u64>>,
}

impl CallLog {
    /// Counts one invocation of `method` and answers with an armed fault,
    /// if any; a failed invocation still costs one API call, as a refused
    /// HTTP request does.
    pub(crate) fn enter(&self, method: &'static str) -> Result<(), CrmError> {
        *self.invocations.lock().unwrap_or_else(|p| p.into_inner()).entry(method).or_default() += 1;
        let stop = self.stops.lock().unwrap_or_else(|p| p.into_inner()).remove(method).is_some();
        if stop {
            panic!("the worker stopped at {method}");
        }
        let fault = self.faults.lock().unwrap_or_else(|p| p.into_inner()).get_mut(method).and_then(VecDeque::pop_front);
        match fault {
            Some(template) => {
                self.charge(1);
                Err(template.raise())
            }
            None => Ok(()),
        }
    }

    /// Adds API calls to the running total.
    pub(crate) fn charge(&self, calls: u64) {
        self.api_calls.fetch_add(calls, Ordering::SeqCst);
    }

    /// API calls made so far (what `calls_made` reports).
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::SeqCst)
    }

    /// How many times `method` was invoked, failed invocations included.
    pub fn invocations(&self, method: &str) -> u64 {
        self.invocations.lock().unwrap_or_else(|p| p.into_inner()).get(method).copied().unwrap_or(0)
    }

    /// Every method invoked so far with its count, by name.
    pub fn all_invocations(&self) -> BTreeMap<&'static str, u64> {
        self.invocations.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes the next `times` invocations of `method` fail with `error`
    /// (queued after faults already armed for it).
    pub fn fail_next(&self, method: &'static str, times: usize, error: &CrmError) {
        let template = ErrorTemplate::of(error);
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        faults.entry(method).or_default().extend(std::iter::repeat_n(template, times));
    }

    /// Makes the next invocation of `method` stop the worker, as `kill -9`
    /// or a Lambda timeout would: the call panics before it takes effect,
    /// and nothing after it in the attempt runs (run the attempt in a task).
    pub fn stop_worker_at(&self, method: &'static str) {
        self.stops.lock().unwrap_or_else(|p| p.into_inner()).insert(method, 1);
    }

    /// Makes the next invocation of `method` stop the worker once the call
    /// has taken effect, before its answer is read: the CRM holds the
    /// write, the worker knows nothing of it (for the write methods that
    /// support it: `batch_upsert`, `upsert`).
    pub fn stop_worker_after(&self, method: &'static str) {
        self.stops_after.lock().unwrap_or_else(|p| p.into_inner()).insert(method, 1);
    }

    /// Where a write method's effect is done: stops the worker if
    /// [`CallLog::stop_worker_after`] was armed for `method`.
    pub(crate) fn leave(&self, method: &'static str) {
        if self.stops_after.lock().unwrap_or_else(|p| p.into_inner()).remove(method).is_some() {
            panic!("the worker stopped after {method}");
        }
    }

    /// Faults still armed for `method`.
    pub fn pending_faults(&self, method: &str) -> usize {
        self.faults.lock().unwrap_or_else(|p| p.into_inner()).get(method).map_or(0, VecDeque::len)
    }
}

/// API calls for `items` sent `per` call (none for no items: the clients
/// loop over chunks).
pub(crate) fn batches(items: usize, per: usize) -> u64 {
    items.div_ceil(per.max(1)) as u64
}

/// API calls for a listing of `items` served `per` page: at least one, the
/// first page being asked for even when it comes back empty.
pub(crate) fn pages(items: usize, per: usize) -> u64 {
    batches(items, per).max(1)
}
