//! Deal stages: HubSpot's default pipeline stage ids and the standard
//! Salesforce Opportunity stage labels they stand for.
//!
//! Both sides are compared in HubSpot's ids (the Salesforce snapshot is
//! translated on read) and written back to Salesforce as labels, so that a
//! stage that did not change never looks changed. Stages the table does not
//! know (custom stages) pass through unchanged in both directions.

/// The Opportunity's stage field.
pub const STAGE_FIELD: &str = "StageName";

/// HubSpot's default pipeline stage ids and the standard Salesforce
/// Opportunity stages they correspond to.
const DEAL_STAGES: &[(&str, &str)] = &[
    ("appointmentscheduled", "Prospecting"),
    ("qualifiedtobuy", "Qualification"),
    ("presentationscheduled", "Proposal/Price Quote"),
    ("decisionmakerboughtin", "Id. Decision Makers"),
    ("contractsent", "Negotiation/Review"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
];

/// Standard Salesforce stages with no HubSpot stage of their own: each reads
/// as its nearest HubSpot stage (and so is written back as that stage's
/// label only when HubSpot changes it).
const SALESFORCE_ONLY_STAGES: &[(&str, &str)] = &[
    ("Needs Analysis", "qualifiedtobuy"),
    ("Value Proposition", "presentationscheduled"),
    ("Perception Analysis", "decisionmakerboughtin"),
];

/// A Salesforce stage label in HubSpot's stage ids; unknown labels (custom
/// stages) pass through unchanged.
pub fn stage_to_hubspot(label: &str) -> &str {
    DEAL_STAGES
        .iter()
        .map(|(id, l)| (*l, *id))
        .chain(SALESFORCE_ONLY_STAGES.iter().copied())
        .find(|(l, _)| l.eq_ignore_ascii_case(label))
        .map_or(label, |(_, id)| id)
}

/// A HubSpot stage id as a Salesforce stage label; unknown ids pass through.
pub fn stage_to_salesforce(id: &str) -> &str {
    DEAL_STAGES.iter().find(|(i, _)| i.eq_ignore_ascii_case(id)).map_or(id, |(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deal_stages_translate_between_hubspot_ids_and_salesforce_labels() {
        assert_eq!(stage_to_salesforce("closedwon"), "Closed Won");
        assert_eq!(stage_to_hubspot("Closed Won"), "closedwon");
        assert_eq!(stage_to_hubspot("Needs Analysis"), "qualifiedtobuy");
        assert_eq!(stage_to_salesforce(stage_to_hubspot("Proposal/Price Quote")), "Proposal/Price Quote");
        assert_eq!(stage_to_hubspot("Custom Stage"), "Custom Stage", "custom stages pass unchanged");
        assert_eq!(stage_to_salesforce("1234567"), "1234567");
    }
}
