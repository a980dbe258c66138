//! A local stand-in for the Salesforce and HubSpot APIs, for tests, the demo
//! and benchmarks.
//!
//! Layout:
//! - [`sandbox`]: [`Sandbox::start`] binds both listeners (HTTP or HTTPS).
//! - [`control`]: call counting, injected faults, latency, `/__sandbox/` API.
//! - [`salesforce`]: the fake Salesforce (OAuth, REST, SOQL, Bulk 2.0,
//!   outbound messages).
//! - [`hubspot`]: the fake HubSpot CRM v3 API and webhook sender.
//! - [`tls`], [`seed`]: the generated certificate, deterministic seeding.
//! - [`serve`]: the `crm-sandbox` server (options, `KEY=VALUE` lines), also
//!   run by `crm-sync bench --sandbox-process`.

pub mod control;
pub mod hubspot;
pub mod salesforce;
pub mod sandbox;
pub mod seed;
pub mod serve;
pub mod tls;
pub mod tripwire;

pub use control::{CallCounts, Control, Fault};
pub use sandbox::{Sandbox, SandboxOptions};
pub use tripwire::{Cut, Tripwire};
