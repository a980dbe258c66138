//! The objects and fields the fake org has, and their describe output
//! (crm-api.md A8, A11). Formula fields are computed at read time.

use serde_json::{Value as Json, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Id,
    String,
    Email,
    Phone,
    Url,
    Textarea,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    DateTime,
    Picklist,
    Reference,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Id => "id",
            Ty::String => "string",
            Ty::Email => "email",
            Ty::Phone => "phone",
            Ty::Url => "url",
            Ty::Textarea => "textarea",
            Ty::Boolean => "boolean",
            Ty::Int => "int",
            Ty::Double => "double",
            Ty::Currency => "currency",
            Ty::Percent => "percent",
            Ty::Date => "date",
            Ty::DateTime => "datetime",
            Ty::Picklist => "picklist",
            Ty::Reference => "reference",
        }
    }

    pub fn is_text(self) -> bool {
        matches!(
            self,
            Ty::Id | Ty::String | Ty::Email | Ty::Phone | Ty::Url | Ty::Textarea | Ty::Picklist | Ty::Reference
        )
    }

    /// Longest accepted text.
    pub fn max_length(self) -> usize {
        match self {
            Ty::Textarea => 32_000,
            Ty::Id | Ty::Reference => 18,
            Ty::Phone => 40,
            _ => 255,
        }
    }
}

/// What field-level security lets the integration user do with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Read and write (as far as the field itself is writable).
    #[default]
    Edit,
    /// Read only: describe says neither createable nor updateable, writes
    /// are refused.
    Read,
    /// Not visible: absent from describe, unknown to queries and writes.
    Hidden,
}

impl Access {
    pub fn parse(name: &str) -> Option<Access> {
        match name {
            "edit" => Some(Access::Edit),
            "read" => Some(Access::Read),
            "none" | "hidden" => Some(Access::Hidden),
            _ => None,
        }
    }
}

/// Where a field's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Written by clients.
    Stored,
    /// Stored, but only the platform writes it (e.g. `IsConverted`).
    ReadOnly,
    Id,
    CreatedDate,
    CreatedById,
    LastModifiedDate,
    LastModifiedById,
    SystemModstamp,
    IsDeleted,
    Formula(Formula),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formula {
    /// `FirstName & " " & LastName`
    FullName,
    /// `Amount * Probability / 100`
    ExpectedRevenue,
    /// `Account.Name`: changes when the related Account does, without a write here.
    AccountName,
}

impl Formula {
    fn source(self) -> &'static str {
        match self {
            Formula::FullName => "FirstName & \" \" & LastName",
            Formula::ExpectedRevenue => "Amount * Probability / 100",
            Formula::AccountName => "Account.Name",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub kind: Kind,
    /// Must be given on create (not nillable, not defaulted).
    pub required: bool,
    pub default: Option<&'static str>,
    pub picklist: &'static [&'static str],
    pub reference_to: Option<&'static str>,
    pub external_id: bool,
    /// No two live records of the object may hold the same value.
    pub unique: bool,
    /// The label shown in Salesforce; `None`: derived from the name.
    pub label: Option<&'static str>,
    /// A text field's own maximum length; `None`: its type's.
    pub length: Option<usize>,
    /// The Tooling API `CustomField` id of a custom field made through it
    /// (or seeded as if it had been); `None` for standard fields and formulas.
    pub tooling_id: Option<String>,
    /// The integration user's field-level security on it.
    pub access: Access,
}

impl Field {
    fn new(name: &'static str, ty: Ty) -> Self {
        Field {
            name,
            ty,
            kind: Kind::Stored,
            required: false,
            default: None,
            picklist: &[],
            reference_to: None,
            external_id: false,
            unique: false,
            label: None,
            length: None,
            tooling_id: None,
            access: Access::Edit,
        }
    }

    /// A custom text field as the Tooling API creates it.
    pub fn custom_text(name: &'static str, label: &'static str, length: usize) -> Self {
        let mut field = Field::new(name, Ty::String);
        field.label = Some(label);
        field.length = Some(length);
        field
    }
    fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn picklist(mut self, values: &'static [&'static str], default: Option<&'static str>) -> Self {
        self.picklist = values;
        self.default = default;
        self
    }
    fn reference(mut self, to: &'static str) -> Self {
        self.reference_to = Some(to);
        self
    }
    pub fn external_id(mut self) -> Self {
        self.external_id = true;
        self
    }
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Longest accepted text: the field's own length, else its type's.
    pub fn max_length(&self) -> usize {
        self.length.unwrap_or_else(|| self.ty.max_length())
    }

    /// The label shown in Salesforce.
    pub fn label(&self) -> String {
        self.label.map_or_else(|| self.name.trim_end_matches("__c").replace('_', " "), str::to_owned)
    }

    /// A custom field (`__c`) that is stored, not a formula.
    pub fn is_custom(&self) -> bool {
        self.name.ends_with("__c") && !matches!(self.kind, Kind::Formula(_))
    }

    pub fn createable(&self) -> bool {
        matches!(self.kind, Kind::Stored)
    }

    /// `AccountId` -> `Account`, `OwnerId` -> `Owner`.
    pub fn relationship_name(&self) -> Option<&'static str> {
        self.reference_to.and_then(|_| self.name.strip_suffix("Id"))
    }

    fn describe(&self) -> Json {
        let calculated = matches!(self.kind, Kind::Formula(_));
        let formula = match self.kind {
            Kind::Formula(f) => Json::from(f.source()),
            _ => Json::Null,
        };
        let picklist: Vec<Json> = self
            .picklist
            .iter()
            .map(|v| json!({"value": v, "label": v, "active": true, "defaultValue": Some(*v) == self.default, "validFor": null}))
            .collect();
        json!({
            "name": self.name,
            "label": self.label(),
            "type": self.ty.name(),
            "calculated": calculated,
            "calculatedFormula": formula,
            "autoNumber": false,
            "createable": self.createable() && self.access == Access::Edit,
            "updateable": self.createable() && self.kind != Kind::Id && self.access == Access::Edit,
            "nillable": !self.required && !matches!(self.ty, Ty::Boolean) && self.kind != Kind::Id,
            "defaultedOnCreate": self.default.is_some() || matches!(self.ty, Ty::Boolean) || !matches!(self.kind, Kind::Stored | Kind::Formula(_)),
            "externalId": self.external_id,
            "idLookup": self.external_id || self.kind == Kind::Id || self.ty == Ty::Email,
            "unique": self.unique,
            "custom": self.name.ends_with("__c"),
            "picklistValues": picklist,
            "referenceTo": self.reference_to.map(|r| vec![r]).unwrap_or_default(),
            "relationshipName": self.relationship_name(),
            "length": if self.ty.is_text() { self.max_length() } else { 0 },
        })
    }
}

#[derive(Debug, Clone)]
pub struct Object {
    pub name: &'static str,
    pub prefix: &'static str,
    pub fields: Vec<Field>,
    /// Writable through the API.
    pub createable: bool,
    /// Sends outbound messages on create and update.
    pub outbound: bool,
}

impl Object {
    /// Adds a field after the others (record values are keyed by field
    /// position, so existing records keep theirs); returns its position.
    pub fn add_field(&mut self, field: Field) -> usize {
        self.fields.push(field);
        self.fields.len() - 1
    }

    /// A small number that tells the object apart, for generated ids.
    pub fn prefix_number(&self) -> u64 {
        self.prefix.bytes().fold(0u64, |n, b| n * 256 + u64::from(b))
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// A field the integration user can see, by name.
    pub fn visible_field_index(&self, name: &str) -> Option<usize> {
        self.field_index(name).filter(|i| self.fields[*i].access != Access::Hidden)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The reference field behind a relationship name (`Account` -> `AccountId`).
    pub fn relationship(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.relationship_name().is_some_and(|r| r.eq_ignore_ascii_case(name)))
    }

    pub fn describe(&self, base: &str) -> Json {
        json!({
            "name": self.name,
            "label": self.name,
            "keyPrefix": self.prefix,
            "createable": self.createable,
            "updateable": self.createable,
            "deletable": self.createable,
            "queryable": true,
            "replicateable": true,
            "custom": false,
            "urls": {
                "sobject": format!("{base}/sobjects/{}", self.name),
                "describe": format!("{base}/sobjects/{}/describe", self.name),
                "rowTemplate": format!("{base}/sobjects/{}/{{ID}}", self.name),
            },
            "childRelationships": [],
            "recordTypeInfos": [],
            "fields": self.fields.iter().filter(|f| f.access != Access::Hidden).map(Field::describe).collect::<Vec<_>>(),
        })
    }
}

fn system_fields() -> Vec<Field> {
    vec![
        Field::new("IsDeleted", Ty::Boolean).kind(Kind::IsDeleted),
        Field::new("CreatedDate", Ty::DateTime).kind(Kind::CreatedDate),
        Field::new("CreatedById", Ty::Reference).kind(Kind::CreatedById).reference("User"),
        Field::new("LastModifiedDate", Ty::DateTime).kind(Kind::LastModifiedDate),
        Field::new("LastModifiedById", Ty::Reference).kind(Kind::LastModifiedById).reference("User"),
        Field::new("SystemModstamp", Ty::DateTime).kind(Kind::SystemModstamp),
    ]
}

const LEAD_STATUS: &[&str] =
    &["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"];
const LEAD_SOURCE: &[&str] = &["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"];
const INDUSTRY: &[&str] =
    &["Agriculture", "Banking", "Technology", "Education", "Energy", "Healthcare", "Retail", "Other"];
const SALUTATION: &[&str] = &["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."];
const RATING: &[&str] = &["Hot", "Warm", "Cold"];
const ACCOUNT_TYPE: &[&str] = &["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"];
const STAGE: &[&str] =
    &["Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"];
const MEMBER_STATUS: &[&str] = &["Sent", "Responded"];

/// The External ID field crm-sync upserts by.
pub const HUBSPOT_ID_FIELD: &str = "HubSpot_Id__c";

/// Every object of the fake org. A real org has none of crm-sync's own
/// fields until someone creates them; `crm_sync_fields` seeds them (the
/// `HubSpot_Id__c` External ID, unique, on Lead, Contact, Account and
/// Opportunity) as `crm-sync setup --apply` would create them.
pub fn objects(crm_sync_fields: bool) -> Vec<Object> {
    let mut objects = standard_objects();
    if crm_sync_fields {
        for object in objects.iter_mut().filter(|o| matches!(o.name, "Lead" | "Contact" | "Account" | "Opportunity")) {
            let mut field = hubspot_id_field();
            field.tooling_id = Some(super::ids::SfId::generate("00N", object.prefix_number()).to_string());
            object.add_field(field);
        }
    }
    objects
}

/// `HubSpot_Id__c` as setup creates it: text, External ID, unique.
pub fn hubspot_id_field() -> Field {
    Field::custom_text(HUBSPOT_ID_FIELD, "HubSpot Id", 255).external_id().unique()
}

fn standard_objects() -> Vec<Object> {
    let id = || Field::new("Id", Ty::Id).kind(Kind::Id);
    let owner = || Field::new("OwnerId", Ty::Reference).reference("User");
    let master = || Field::new("MasterRecordId", Ty::Reference).kind(Kind::ReadOnly);
    let with_system = |_name: &'static str, mut fields: Vec<Field>| {
        fields.extend(system_fields());
        fields
    };
    vec![
        Object {
            name: "Lead",
            prefix: "00Q",
            createable: true,
            outbound: true,
            fields: with_system(
                "Lead",
                vec![
                    id(),
                    Field::new("FirstName", Ty::String),
                    Field::new("LastName", Ty::String).required(),
                    Field::new("Company", Ty::String).required(),
                    Field::new("Email", Ty::Email),
                    Field::new("Phone", Ty::Phone),
                    Field::new("Title", Ty::String),
                    Field::new("Status", Ty::Picklist).picklist(LEAD_STATUS, Some("Open - Not Contacted")),
                    Field::new("LeadSource", Ty::Picklist).picklist(LEAD_SOURCE, None),
                    // Standard fields behind the default contact mappings (SPEC 2).
                    Field::new("Salutation", Ty::Picklist).picklist(SALUTATION, None),
                    Field::new("Fax", Ty::Phone),
                    Field::new("Description", Ty::Textarea),
                    Field::new("Street", Ty::Textarea),
                    Field::new("City", Ty::String),
                    Field::new("State", Ty::String),
                    Field::new("PostalCode", Ty::String),
                    Field::new("Country", Ty::String),
                    Field::new("Website", Ty::Url),
                    Field::new("Industry", Ty::Picklist).picklist(INDUSTRY, None),
                    Field::new("Rating", Ty::Picklist).picklist(RATING, None),
                    Field::new("AnnualRevenue", Ty::Currency),
                    Field::new("NumberOfEmployees", Ty::Int),
                    owner(),
                    Field::new("HasOptedOutOfEmail", Ty::Boolean),
                    Field::new("IsConverted", Ty::Boolean).kind(Kind::ReadOnly),
                    Field::new("ConvertedContactId", Ty::Reference).kind(Kind::ReadOnly).reference("Contact"),
                    Field::new("ConvertedAccountId", Ty::Reference).kind(Kind::ReadOnly).reference("Account"),
                    Field::new("ConvertedOpportunityId", Ty::Reference).kind(Kind::ReadOnly).reference("Opportunity"),
                    Field::new("ConvertedDate", Ty::Date).kind(Kind::ReadOnly),
                    master(),
                    Field::new("Full_Name__c", Ty::String).kind(Kind::Formula(Formula::FullName)),
                ],
            ),
        },
        Object {
            name: "Contact",
            prefix: "003",
            createable: true,
            outbound: true,
            fields: with_system(
                "Contact",
                vec![
                    id(),
                    Field::new("AccountId", Ty::Reference).reference("Account"),
                    Field::new("FirstName", Ty::String),
                    Field::new("LastName", Ty::String).required(),
                    Field::new("Email", Ty::Email),
                    Field::new("Phone", Ty::Phone),
                    Field::new("Title", Ty::String),
                    Field::new("LeadSource", Ty::Picklist).picklist(LEAD_SOURCE, None),
                    // Standard fields behind the default contact mappings (SPEC 2).
                    Field::new("Salutation", Ty::Picklist).picklist(SALUTATION, None),
                    Field::new("Fax", Ty::Phone),
                    Field::new("Description", Ty::Textarea),
                    Field::new("MailingStreet", Ty::Textarea),
                    Field::new("MailingCity", Ty::String),
                    Field::new("MailingState", Ty::String),
                    Field::new("MailingPostalCode", Ty::String),
                    Field::new("MailingCountry", Ty::String),
                    owner(),
                    Field::new("HasOptedOutOfEmail", Ty::Boolean),
                    master(),
                    Field::new("Full_Name__c", Ty::String).kind(Kind::Formula(Formula::FullName)),
                    Field::new("Account_Name__c", Ty::String).kind(Kind::Formula(Formula::AccountName)),
                ],
            ),
        },
        Object {
            name: "Account",
            prefix: "001",
            createable: true,
            outbound: true,
            fields: with_system(
                "Account",
                vec![
                    id(),
                    Field::new("Name", Ty::String).required(),
                    Field::new("Website", Ty::Url),
                    Field::new("Phone", Ty::Phone),
                    Field::new("Industry", Ty::Picklist).picklist(INDUSTRY, None),
                    Field::new("Type", Ty::Picklist).picklist(ACCOUNT_TYPE, None),
                    Field::new("NumberOfEmployees", Ty::Int),
                    Field::new("AnnualRevenue", Ty::Currency),
                    Field::new("Description", Ty::Textarea),
                    Field::new("BillingStreet", Ty::Textarea),
                    Field::new("BillingCity", Ty::String),
                    Field::new("BillingState", Ty::String),
                    Field::new("BillingPostalCode", Ty::String),
                    Field::new("BillingCountry", Ty::String),
                    owner(),
                    master(),
                ],
            ),
        },
        Object {
            name: "Opportunity",
            prefix: "006",
            createable: true,
            outbound: true,
            fields: with_system(
                "Opportunity",
                vec![
                    id(),
                    Field::new("Name", Ty::String).required(),
                    Field::new("AccountId", Ty::Reference).reference("Account"),
                    Field::new("StageName", Ty::Picklist).picklist(STAGE, None).required(),
                    Field::new("CloseDate", Ty::Date).required(),
                    Field::new("Amount", Ty::Currency),
                    Field::new("Probability", Ty::Percent),
                    Field::new("Type", Ty::Picklist).picklist(&["New Business", "Existing Business"], None),
                    Field::new("LeadSource", Ty::Picklist).picklist(LEAD_SOURCE, None),
                    Field::new("Description", Ty::Textarea),
                    owner(),
                    Field::new("Expected_Revenue__c", Ty::Currency).kind(Kind::Formula(Formula::ExpectedRevenue)),
                ],
            ),
        },
        Object {
            name: "User",
            prefix: "005",
            createable: false,
            outbound: false,
            fields: with_system(
                "User",
                vec![
                    id(),
                    Field::new("Username", Ty::String).required(),
                    Field::new("Email", Ty::Email).required(),
                    Field::new("FirstName", Ty::String),
                    Field::new("LastName", Ty::String).required(),
                    Field::new("IsActive", Ty::Boolean),
                ],
            ),
        },
        Object {
            name: "Campaign",
            prefix: "701",
            createable: false,
            outbound: false,
            fields: with_system(
                "Campaign",
                vec![id(), Field::new("Name", Ty::String).required(), Field::new("IsActive", Ty::Boolean)],
            ),
        },
        Object {
            name: "CampaignMember",
            prefix: "00v",
            createable: false,
            outbound: false,
            fields: with_system(
                "CampaignMember",
                vec![
                    id(),
                    Field::new("CampaignId", Ty::Reference).reference("Campaign").required(),
                    Field::new("LeadId", Ty::Reference).reference("Lead"),
                    Field::new("ContactId", Ty::Reference).reference("Contact"),
                    Field::new("Status", Ty::Picklist).picklist(MEMBER_STATUS, Some("Sent")),
                ],
            ),
        },
    ]
}
