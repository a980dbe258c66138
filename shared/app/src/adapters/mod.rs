//! The CRM ports implemented over the `crm_sync_crm` clients. Shape
//! conversion only: no sync decisions here.

pub mod hubspot;
pub mod salesforce;
