//! Stage 4: the special fields of SPEC sections 4 and 5, as far as they need
//! IO.
//!
//! Each module reads what the planner needs from outside the batch's records
//! (before planning) or carries a synced record's consequence to other
//! records (after the writes). The rules themselves live in the domain
//! (`crm_sync_domain::special`, the planner); these modules only read,
//! write and report. A failure here never undoes a record's own sync.
//!
//! - [`company`]: SPEC section 5, whether a HubSpot company creates an account.
//! - [`campaigns`]: the "Salesforce Campaigns" contact property.
//! - [`owners`]: the owner directory (exact owner <-> user matches).
//! - [`segment`]: members of the HubSpot list used as inclusion segment.
//! - [`associations`]: deal accounts before, company associations after.
//! - [`lifecycle`]: a contact's lifecycle stage carried to its companies.

pub(super) mod associations;
pub(super) mod campaigns;
pub(super) mod company;
pub(super) mod lifecycle;
pub(crate) mod owners;
pub(super) mod segment;
