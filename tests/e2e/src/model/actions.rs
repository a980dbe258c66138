//! What users and the world do in a sequence, and the generator that picks
//! it from a seed.

use super::oracle::{Field, Sys, Val};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt;

/// The kinds of action, switchable with `MODEL_ACTIONS` (a comma-separated
/// list of these names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    CreateHubSpot,
    CreateSalesforce,
    EditHubSpot,
    EditSalesforce,
    OptOut,
    Segment,
    Deliver,
    Sweep,
    Resync,
    Owner,
    DeleteHubSpot,
    DeleteSalesforce,
    Import,
    ResyncSegment,
    ConvertLead,
    MergeSalesforce,
    CreateDuplicate,
    EditDuplicate,
    DeleteDuplicate,
    MergeHubSpot,
}

impl Kind {
    pub const ALL: [Kind; 20] = [
        Kind::CreateHubSpot,
        Kind::CreateSalesforce,
        Kind::EditHubSpot,
        Kind::EditSalesforce,
        Kind::OptOut,
        Kind::Segment,
        Kind::Deliver,
        Kind::Sweep,
        Kind::Resync,
        Kind::Owner,
        Kind::DeleteHubSpot,
        Kind::DeleteSalesforce,
        Kind::Import,
        Kind::ResyncSegment,
        Kind::ConvertLead,
        Kind::MergeSalesforce,
        Kind::CreateDuplicate,
        Kind::EditDuplicate,
        Kind::DeleteDuplicate,
        Kind::MergeHubSpot,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::CreateHubSpot => "create_hubspot",
            Kind::CreateSalesforce => "create_salesforce",
            Kind::EditHubSpot => "edit_hubspot",
            Kind::EditSalesforce => "edit_salesforce",
            Kind::OptOut => "opt_out",
            Kind::Segment => "segment",
            Kind::Deliver => "deliver",
            Kind::Sweep => "sweep",
            Kind::Resync => "resync",
            Kind::Owner => "owner",
            Kind::DeleteHubSpot => "delete_hubspot",
            Kind::DeleteSalesforce => "delete_salesforce",
            Kind::Import => "import",
            Kind::ResyncSegment => "resync_segment",
            Kind::ConvertLead => "convert_lead",
            Kind::MergeSalesforce => "merge_salesforce",
            Kind::CreateDuplicate => "create_duplicate",
            Kind::EditDuplicate => "edit_duplicate",
            Kind::DeleteDuplicate => "delete_duplicate",
            Kind::MergeHubSpot => "merge_hubspot",
        }
    }

    /// The kinds named in `list` (comma-separated); unknown names are an error.
    pub fn parse_list(list: &str) -> Result<Vec<Kind>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| {
                Kind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| format!("unknown action {name}"))
            })
            .collect()
    }
}

/// One step of a sequence. People are numbered; person `n` has the email
/// `person{n}@example.com` on every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A HubSpot user creates the person's contact, in the segment list or not.
    CreateHubSpot { person: usize, values: Vec<(Field, Val)>, in_segment: bool },
    /// A Salesforce user creates a Lead (or a Contact) for the person.
    CreateSalesforce { person: usize, contact: bool, values: Vec<(Field, Val)> },
    /// A user sets (or blanks) one field of the person's record on one side;
    /// for the opt-out, opts out or back in.
    Edit { sys: Sys, person: usize, field: Field, value: Val },
    /// A HubSpot user adds the contact to the segment list or takes it out.
    Segment { person: usize, member: bool },
    /// Every webhook delivery and outbound message made so far is delivered
    /// 0, 1 or 2 times, in an order shuffled by `seed`; then the runtime
    /// works until idle.
    Deliver { seed: u64 },
    /// A sweep, then the runtime works until idle.
    Sweep,
    /// A manual resync of the person's record on one side.
    Resync { sys: Sys, person: usize },
    /// A user deletes the person's record on one side.
    Delete { sys: Sys, person: usize },
    /// An import of Salesforce leads and contacts, optionally adding them
    /// to the segment list; the runtime works until idle.
    Import { add_to_segment: bool },
    /// A manual resync of the segment of every linked contact.
    ResyncSegment,
    /// A Salesforce user converts the person's linked Lead into a Contact.
    ConvertLead { person: usize },
    /// A Salesforce user merges the loser's linked record into the
    /// survivor's linked record of the same object.
    MergeSalesforce { survivor: usize, loser: usize },
    /// A Salesforce user creates another Lead (or Contact) with the email
    /// of a person who has a Salesforce record already.
    CreateDuplicate { person: usize, contact: bool, values: Vec<(Field, Val)> },
    /// A Salesforce user sets (or blanks) one field of one of the person's
    /// Salesforce records other than its main one (the `nth`, modulo).
    EditDuplicate { person: usize, nth: usize, field: Field, value: Val },
    /// A Salesforce user deletes one of the person's Salesforce records
    /// other than its main one (the `nth`, modulo).
    DeleteDuplicate { person: usize, nth: usize },
    /// A HubSpot user merges the loser's contact into the survivor's.
    MergeHubSpot { survivor: usize, loser: usize },
}

fn show(v: &Val) -> &str {
    v.as_deref().unwrap_or("<blank>")
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = |vs: &[(Field, Val)]| vs.iter().map(|(k, v)| format!("{k:?}={}", show(v))).collect::<Vec<_>>();
        match self {
            Action::CreateHubSpot { person, values: vs, in_segment } => {
                write!(f, "HubSpot user creates contact of person{person} {:?} in_segment={in_segment}", values(vs))
            }
            Action::CreateSalesforce { person, contact, values: vs } => {
                let object = if *contact { "Contact" } else { "Lead" };
                write!(f, "Salesforce user creates {object} of person{person} {:?}", values(vs))
            }
            Action::Edit { sys, person, field, value } => {
                write!(f, "{sys:?} user sets {field:?} of person{person} to {}", show(value))
            }
            Action::Segment { person, member } => {
                write!(f, "person{person} {} the segment list", if *member { "joins" } else { "leaves" })
            }
            Action::Deliver { seed } => write!(f, "deliver pending webhooks/outbound messages (shuffle seed {seed})"),
            Action::Sweep => write!(f, "sweep"),
            Action::Resync { sys, person } => write!(f, "resync person{person} from {sys:?}"),
            Action::Delete { sys, person } => write!(f, "{sys:?} user deletes the record of person{person}"),
            Action::Import { add_to_segment } => {
                write!(f, "import leads and contacts (add to the segment: {add_to_segment})")
            }
            Action::ResyncSegment => write!(f, "resync the segment of linked contacts"),
            Action::ConvertLead { person } => write!(f, "Salesforce user converts the Lead of person{person}"),
            Action::MergeSalesforce { survivor, loser } => {
                write!(f, "Salesforce user merges the record of person{loser} into that of person{survivor}")
            }
            Action::CreateDuplicate { person, contact, values: vs } => {
                let object = if *contact { "Contact" } else { "Lead" };
                write!(f, "Salesforce user creates another {object} with the email of person{person} {:?}", values(vs))
            }
            Action::EditDuplicate { person, nth, field, value } => {
                write!(f, "Salesforce user sets {field:?} of other record {nth} of person{person} to {}", show(value))
            }
            Action::DeleteDuplicate { person, nth } => {
                write!(f, "Salesforce user deletes other record {nth} of person{person}")
            }
            Action::MergeHubSpot { survivor, loser } => {
                write!(f, "HubSpot user merges the contact of person{loser} into that of person{survivor}")
            }
        }
    }
}

/// A random value a user of `sys` gives a field: blank one time in four
/// (never an owner: a Salesforce record always has one, and un-assigning a
/// HubSpot owner is not modelled).
fn value(rng: &mut ChaCha8Rng, sys: Sys, field: Field) -> Val {
    if field == Field::OptOut {
        return rng.random_bool(0.5).then(|| "true".to_owned());
    }
    if field != Field::Owner && rng.random_bool(0.25) {
        return None;
    }
    let choices = field.values(sys);
    Some(choices[rng.random_range(0..choices.len())].to_owned())
}

/// A new record's values; with `owners`, its owner too.
fn values(rng: &mut ChaCha8Rng, sys: Sys, owners: bool) -> Vec<(Field, Val)> {
    let owner = owners.then_some(Field::Owner);
    Field::TEXT.into_iter().chain(owner).map(|f| (f, value(rng, sys, f))).filter(|(_, v)| v.is_some()).collect()
}

/// A sequence: how many people, and what happens.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub people: usize,
    pub actions: Vec<Action>,
}

/// The sequence of one seed, using only `kinds`.
pub fn generate(seed: u64, kinds: &[Kind]) -> Sequence {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let people = rng.random_range(2..=5);
    let mut actions = Vec::new();
    let has = |k: Kind| kinds.contains(&k);
    // Everyone starts on one side or both.
    for person in 0..people {
        let (hubspot, salesforce) = match rng.random_range(0..3) {
            0 => (true, false),
            1 => (false, true),
            _ => (true, true),
        };
        if (hubspot || !has(Kind::CreateSalesforce)) && has(Kind::CreateHubSpot) {
            let values = values(&mut rng, Sys::HubSpot, has(Kind::Owner));
            actions.push(Action::CreateHubSpot { person, values, in_segment: rng.random_bool(0.7) });
        }
        if (salesforce || !has(Kind::CreateHubSpot)) && has(Kind::CreateSalesforce) {
            let contact = rng.random_bool(0.3);
            actions.push(Action::CreateSalesforce {
                person,
                contact,
                values: values(&mut rng, Sys::Salesforce, has(Kind::Owner)),
            });
        }
    }
    actions.shuffle(&mut rng);
    let steps = rng.random_range(8..=24);
    let weighted: Vec<Kind> = kinds
        .iter()
        .flat_map(|&k| {
            let weight = match k {
                Kind::EditHubSpot | Kind::EditSalesforce | Kind::Deliver => 4,
                Kind::EditDuplicate => 2,
                Kind::CreateHubSpot | Kind::CreateSalesforce => 0,
                _ => 1,
            };
            std::iter::repeat_n(k, weight)
        })
        .collect();
    if weighted.is_empty() {
        return Sequence { people, actions };
    }
    for _ in 0..steps {
        let person = rng.random_range(0..people);
        let sys = if rng.random_bool(0.5) { Sys::HubSpot } else { Sys::Salesforce };
        let action = match weighted[rng.random_range(0..weighted.len())] {
            Kind::EditHubSpot | Kind::EditSalesforce => {
                let sys = if weighted.contains(&Kind::EditHubSpot) && weighted.contains(&Kind::EditSalesforce) {
                    sys
                } else if weighted.contains(&Kind::EditHubSpot) {
                    Sys::HubSpot
                } else {
                    Sys::Salesforce
                };
                let field = Field::TEXT[rng.random_range(0..Field::TEXT.len())];
                Action::Edit { sys, person, field, value: value(&mut rng, sys, field) }
            }
            Kind::OptOut => {
                Action::Edit { sys, person, field: Field::OptOut, value: value(&mut rng, sys, Field::OptOut) }
            }
            Kind::Owner => Action::Edit { sys, person, field: Field::Owner, value: value(&mut rng, sys, Field::Owner) },
            Kind::DeleteHubSpot => Action::Delete { sys: Sys::HubSpot, person },
            Kind::DeleteSalesforce => Action::Delete { sys: Sys::Salesforce, person },
            Kind::Import => Action::Import { add_to_segment: rng.random_bool(0.5) },
            Kind::ResyncSegment => Action::ResyncSegment,
            Kind::ConvertLead => Action::ConvertLead { person },
            Kind::MergeSalesforce => Action::MergeSalesforce { survivor: person, loser: rng.random_range(0..people) },
            Kind::CreateDuplicate => Action::CreateDuplicate {
                person,
                contact: rng.random_bool(0.5),
                values: values(&mut rng, Sys::Salesforce, has(Kind::Owner)),
            },
            Kind::EditDuplicate => {
                let nth = rng.random_range(0..4);
                let field = Field::TEXT[rng.random_range(0..Field::TEXT.len())];
                let field = if rng.random_bool(0.2) { Field::OptOut } else { field };
                Action::EditDuplicate { person, nth, field, value: value(&mut rng, Sys::Salesforce, field) }
            }
            Kind::DeleteDuplicate => Action::DeleteDuplicate { person, nth: rng.random_range(0..4) },
            Kind::MergeHubSpot => Action::MergeHubSpot { survivor: person, loser: rng.random_range(0..people) },
            Kind::Segment => Action::Segment { person, member: rng.random_bool(0.5) },
            Kind::Deliver => Action::Deliver { seed: rng.random() },
            Kind::Sweep => Action::Sweep,
            Kind::Resync => Action::Resync { sys, person },
            Kind::CreateHubSpot | Kind::CreateSalesforce => continue,
        };
        actions.push(action);
    }
    Sequence { people, actions }
}
