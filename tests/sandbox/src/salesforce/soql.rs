//! The SOQL subset the product and users' import filters send: SELECT fields
//! (one-level parent lookups like `Account.Name`) or `COUNT()`, FROM, WHERE with
//! AND/OR/NOT and parentheses, `= != <> < <= > >=`, IN / NOT IN, LIKE, NULL,
//! date/datetime literals and `TODAY`/`LAST_N_DAYS:n`-style literals, ORDER BY,
//! LIMIT and OFFSET. Parsing is separate from running over [`Org`].

use super::data::{Org, Record, SfError, Value, parse_date, parse_datetime};
use super::ids::SfId;
use super::schema::Ty;
use chrono::Utc;
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Date(i32),
    DateTime(i64),
    Sym(&'static str),
}

fn malformed(msg: impl Into<String>) -> SfError {
    SfError::new(400, "MALFORMED_QUERY", msg)
}

fn lex(src: &str) -> Result<Vec<Tok>, SfError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(malformed("unterminated string literal")),
                    Some('\\') => {
                        let e = chars.get(i + 1).copied().unwrap_or('\\');
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], ':' | '.' | '+' | '-')) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.len() >= 10 && word.as_bytes()[4] == b'-' {
                if word.len() == 10 {
                    out.push(Tok::Date(
                        parse_date(&word).ok_or_else(|| malformed(format!("bad date literal {word}")))?,
                    ));
                } else {
                    out.push(Tok::DateTime(
                        parse_datetime(&word).ok_or_else(|| malformed(format!("bad datetime literal {word}")))?,
                    ));
                }
            } else {
                out.push(Tok::Num(word.parse().map_err(|_| malformed(format!("unexpected token: {word}")))?));
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.' | ':')) {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = match two.as_str() {
                "!=" => "!=",
                "<>" => "!=",
                "<=" => "<=",
                ">=" => ">=",
                _ => match c {
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    _ => return Err(malformed(format!("unexpected character '{c}'"))),
                },
            };
            // "<>" is read as "!=": both are two characters long.
            i += sym.len();
            out.push(Tok::Sym(sym));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    Date(i32),
    DateTime(i64),
    /// A relative date literal as `[start, end)` in Unix ms.
    Range(i64, i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Cmp(String, CmpOp, Lit),
    In(String, bool, Vec<Lit>),
    Like(String, bool, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub count: bool,
    pub fields: Vec<String>,
    pub object: String,
    pub filter: Option<Cond>,
    pub order: Vec<(String, bool, bool)>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SfError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(malformed(format!("expecting {kw}, unexpected token: {}", self.here())))
        }
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        let yes = matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn here(&self) -> String {
        match self.peek() {
            None => "end of query".into(),
            Some(Tok::Ident(w)) => format!("'{w}'"),
            Some(Tok::Sym(s)) => format!("'{s}'"),
            Some(t) => format!("{t:?}"),
        }
    }

    fn ident(&mut self) -> Result<String, SfError> {
        match self.next() {
            Some(Tok::Ident(w)) => Ok(w),
            _ => {
                self.pos -= 1;
                Err(malformed(format!("unexpected token: {}", self.here())))
            }
        }
    }

    fn number(&mut self) -> Result<usize, SfError> {
        match self.next() {
            Some(Tok::Num(n)) if n >= 0.0 => Ok(n as usize),
            _ => Err(malformed("expecting a non-negative number")),
        }
    }

    fn query(&mut self) -> Result<Query, SfError> {
        self.expect_kw("SELECT")?;
        let mut count = false;
        let mut fields = Vec::new();
        if self.is_kw("COUNT") && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("("))) {
            self.pos += 2;
            if !self.eat_sym(")") {
                return Err(malformed("only COUNT() is supported"));
            }
            count = true;
        } else {
            loop {
                fields.push(self.ident()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.expect_kw("FROM")?;
        let object = self.ident()?;
        let filter = if self.eat_kw("WHERE") { Some(self.or()?) } else { None };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let field = self.ident()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                let mut nulls_last = desc;
                if self.eat_kw("NULLS") {
                    nulls_last = if self.eat_kw("LAST") {
                        true
                    } else {
                        self.expect_kw("FIRST")?;
                        false
                    };
                }
                order.push((field, desc, nulls_last));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") { Some(self.number()?) } else { None };
        let offset = if self.eat_kw("OFFSET") { Some(self.number()?) } else { None };
        if self.peek().is_some() {
            return Err(malformed(format!("unexpected token: {}", self.here())));
        }
        Ok(Query { count, fields, object, filter, order, limit, offset })
    }

    fn or(&mut self) -> Result<Cond, SfError> {
        let mut left = self.and()?;
        while self.eat_kw("OR") {
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, SfError> {
        let mut left = self.not()?;
        while self.eat_kw("AND") {
            left = Cond::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, SfError> {
        if self.eat_kw("NOT") {
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        if self.eat_sym("(") {
            let inner = self.or()?;
            if !self.eat_sym(")") {
                return Err(malformed(format!("expecting ')', unexpected token: {}", self.here())));
            }
            return Ok(inner);
        }
        let field = self.ident()?;
        if self.eat_kw("LIKE") {
            return match self.next() {
                Some(Tok::Str(p)) => Ok(Cond::Like(field, false, p.to_lowercase())),
                _ => Err(malformed("LIKE needs a string")),
            };
        }
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            if !self.eat_sym("(") {
                return Err(malformed("expecting '(' after IN"));
            }
            let mut values = Vec::new();
            loop {
                values.push(self.literal()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
            if !self.eat_sym(")") {
                return Err(malformed("expecting ')' to close IN"));
            }
            return Ok(Cond::In(field, negated, values));
        }
        if negated {
            if self.eat_kw("LIKE") {
                return match self.next() {
                    Some(Tok::Str(p)) => Ok(Cond::Like(field, true, p.to_lowercase())),
                    _ => Err(malformed("LIKE needs a string")),
                };
            }
            return Err(malformed(format!("unexpected token: {}", self.here())));
        }
        let op = match self.next() {
            Some(Tok::Sym("=")) => CmpOp::Eq,
            Some(Tok::Sym("!=")) => CmpOp::Ne,
            Some(Tok::Sym("<")) => CmpOp::Lt,
            Some(Tok::Sym("<=")) => CmpOp::Le,
            Some(Tok::Sym(">")) => CmpOp::Gt,
            Some(Tok::Sym(">=")) => CmpOp::Ge,
            _ => {
                self.pos -= 1;
                return Err(malformed(format!("unexpected token: {}", self.here())));
            }
        };
        Ok(Cond::Cmp(field, op, self.literal()?))
    }

    fn literal(&mut self) -> Result<Lit, SfError> {
        Ok(match self.next() {
            Some(Tok::Str(s)) => Lit::Str(s),
            Some(Tok::Num(n)) => Lit::Num(n),
            Some(Tok::Date(d)) => Lit::Date(d),
            Some(Tok::DateTime(d)) => Lit::DateTime(d),
            Some(Tok::Ident(w)) => relative_literal(&w)?,
            _ => return Err(malformed("expecting a value")),
        })
    }
}

fn relative_literal(word: &str) -> Result<Lit, SfError> {
    let upper = word.to_ascii_uppercase();
    let day = 86_400_000i64;
    let today = Utc::now().date_naive().to_epoch_days() as i64 * day;
    let (name, n) = match upper.split_once(':') {
        Some((name, n)) => {
            (name.to_owned(), n.parse::<i64>().map_err(|_| malformed(format!("bad date literal {word}")))?)
        }
        None => (upper.clone(), 0),
    };
    Ok(match name.as_str() {
        "NULL" => Lit::Null,
        "TRUE" => Lit::Bool(true),
        "FALSE" => Lit::Bool(false),
        "TODAY" => Lit::Range(today, today + day),
        "YESTERDAY" => Lit::Range(today - day, today),
        "TOMORROW" => Lit::Range(today + day, today + 2 * day),
        "LAST_N_DAYS" => Lit::Range(today - n * day, today + day),
        "NEXT_N_DAYS" => Lit::Range(today + day, today + (n + 1) * day),
        "N_DAYS_AGO" => Lit::Range(today - n * day, today - (n - 1) * day),
        _ => return Err(malformed(format!("unexpected token: '{word}'"))),
    })
}

pub fn parse(src: &str) -> Result<Query, SfError> {
    let mut p = Parser { toks: lex(src)?, pos: 0 };
    p.query()
}

/// A field of the queried object, or of its parent through a lookup.
#[derive(Debug, Clone)]
pub enum Path {
    Direct(usize),
    Parent { reference: &'static str, object: usize, field: usize },
}

/// A query checked against the schema, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub object: usize,
    pub count: bool,
    /// Selected columns: their names as written, and paths.
    pub columns: Vec<(String, Path)>,
    filter: Option<Cond>,
    order: Vec<(Path, bool, bool)>,
    limit: Option<usize>,
    offset: Option<usize>,
    paths: Vec<(String, Path)>,
}

fn resolve(org: &Org, object: usize, name: &str) -> Result<Path, SfError> {
    let def = &org.objects[object];
    let invalid = || {
        SfError::new(
            400,
            "INVALID_FIELD",
            format!(
                "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name.",
                def.name
            ),
        )
    };
    match name.split_once('.') {
        None => def.visible_field_index(name).map(Path::Direct).ok_or_else(invalid),
        Some((rel, rest)) => {
            if rel.eq_ignore_ascii_case(def.name) && !rest.contains('.') {
                return def.visible_field_index(rest).map(Path::Direct).ok_or_else(invalid);
            }
            let reference = def.relationship(rel).ok_or_else(invalid)?;
            let target = reference.reference_to.and_then(|t| org.object_index(t)).ok_or_else(invalid)?;
            let field = org.objects[target].visible_field_index(rest).ok_or_else(invalid)?;
            Ok(Path::Parent { reference: reference.name, object: target, field })
        }
    }
}

fn collect_fields(cond: &Cond, out: &mut Vec<String>) {
    match cond {
        Cond::And(a, b) | Cond::Or(a, b) => {
            collect_fields(a, out);
            collect_fields(b, out);
        }
        Cond::Not(a) => collect_fields(a, out),
        Cond::Cmp(f, _, _) | Cond::In(f, _, _) | Cond::Like(f, _, _) => out.push(f.clone()),
    }
}

impl Plan {
    pub fn new(org: &Org, query: Query) -> Result<Plan, SfError> {
        let object = org.object_index(&query.object).ok_or_else(|| {
            SfError::new(400, "INVALID_TYPE", format!("sObject type '{}' is not supported.", query.object))
        })?;
        let columns = query
            .fields
            .iter()
            .map(|f| resolve(org, object, f).map(|p| (f.clone(), p)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut names = Vec::new();
        if let Some(c) = &query.filter {
            collect_fields(c, &mut names);
        }
        let paths = names
            .iter()
            .map(|f| resolve(org, object, f).map(|p| (f.to_ascii_lowercase(), p)))
            .collect::<Result<Vec<_>, _>>()?;
        let order = query
            .order
            .iter()
            .map(|(f, d, n)| resolve(org, object, f).map(|p| (p, *d, *n)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut plan = Plan {
            object,
            count: query.count,
            columns,
            filter: None,
            order,
            limit: query.limit,
            offset: query.offset,
            paths,
        };
        if let Some(mut filter) = query.filter {
            plan.normalize_ids(org, &mut filter);
            plan.filter = Some(filter);
        }
        Ok(plan)
    }

    pub fn value<'a>(&self, org: &'a Org, record: &'a Record, path: &Path) -> (Cow<'a, Value>, Ty) {
        match path {
            Path::Direct(f) => (org.value_cow(self.object, record, *f), org.objects[self.object].fields[*f].ty),
            Path::Parent { reference, object, field } => {
                let ty = org.objects[*object].fields[*field].ty;
                match org.parent(self.object, record, reference) {
                    Some((o, parent)) => (org.value_cow(o, parent, *field), ty),
                    None => (Cow::Owned(Value::Null), ty),
                }
            }
        }
    }

    fn path_type(&self, org: &Org, name: &str) -> Option<Ty> {
        match self.path_of(name)? {
            Path::Direct(f) => Some(org.objects[self.object].fields[*f].ty),
            Path::Parent { object, field, .. } => Some(org.objects[*object].fields[*field].ty),
        }
    }

    /// Id literals in their 18-character form, once, not per record.
    fn normalize_ids(&self, org: &Org, cond: &mut Cond) {
        let fix = |lit: &mut Lit| {
            if let Lit::Str(s) = lit
                && let Some(id) = SfId::parse(s)
            {
                *s = id.to_string();
            }
        };
        match cond {
            Cond::And(a, b) | Cond::Or(a, b) => {
                self.normalize_ids(org, a);
                self.normalize_ids(org, b);
            }
            Cond::Not(a) => self.normalize_ids(org, a),
            Cond::Cmp(f, _, lit) if matches!(self.path_type(org, f), Some(Ty::Id | Ty::Reference)) => fix(lit),
            Cond::In(f, _, lits) if matches!(self.path_type(org, f), Some(Ty::Id | Ty::Reference)) => {
                lits.iter_mut().for_each(fix)
            }
            _ => {}
        }
    }

    fn path_of(&self, name: &str) -> Option<&Path> {
        let lower = name.to_ascii_lowercase();
        self.paths.iter().find(|(n, _)| *n == lower).map(|(_, p)| p)
    }

    fn eval(&self, org: &Org, record: &Record, cond: &Cond) -> bool {
        match cond {
            Cond::And(a, b) => self.eval(org, record, a) && self.eval(org, record, b),
            Cond::Or(a, b) => self.eval(org, record, a) || self.eval(org, record, b),
            Cond::Not(a) => !self.eval(org, record, a),
            Cond::Cmp(f, op, lit) => {
                let Some(path) = self.path_of(f) else { return false };
                let (v, _) = self.value(org, record, path);
                compare(&v, *op, lit)
            }
            Cond::In(f, negated, lits) => {
                let Some(path) = self.path_of(f) else { return false };
                let (v, _) = self.value(org, record, path);
                let hit = lits.iter().any(|l| compare(&v, CmpOp::Eq, l));
                if *negated { !hit && !v.is_null() } else { hit }
            }
            Cond::Like(f, negated, pattern) => {
                let Some(path) = self.path_of(f) else { return false };
                let (v, _) = self.value(org, record, path);
                let hit = match &*v {
                    Value::Str(s) => like(s, pattern),
                    _ => false,
                };
                hit != *negated
            }
        }
    }

    /// Ids of the matching records, sorted and limited; `all` includes deleted ones.
    pub fn run(&self, org: &Org, all: bool) -> Vec<SfId> {
        let table = &org.tables[self.object];
        // `Id = ...` / `Id IN (...)` reads those records directly, as the
        // real org's primary-key index does, instead of scanning the table.
        // So does `Email = ...` / `Email IN (...)`, through the email index
        // of leads and contacts.
        let pinned = self.filter.as_ref().and_then(|f| {
            id_keys(f).or_else(|| {
                let emails = email_keys(f)?;
                Some(emails.iter().flat_map(|e| table.with_email(e)).copied().collect())
            })
        });
        let candidates: Box<dyn Iterator<Item = &Record>> = match pinned {
            Some(ids) => Box::new(ids.into_iter().filter_map(|id| table.records.get(&id))),
            None => Box::new(table.records.values()),
        };
        let matches = candidates
            .filter(|r| all || r.deleted.is_none())
            .filter(|r| self.filter.as_ref().is_none_or(|c| self.eval(org, r, c)));
        let mut ids: Vec<SfId> = if self.order.is_empty() {
            let skip = self.offset.unwrap_or(0);
            let take = self.limit.unwrap_or(usize::MAX);
            return matches.skip(skip).take(take).map(|r| r.id).collect();
        } else {
            let mut keyed: Vec<(Vec<(Value, Ty)>, SfId)> = matches
                .map(|r| {
                    let key = self.order.iter().map(|(p, _, _)| {
                        let (v, ty) = self.value(org, r, p);
                        (v.into_owned(), ty)
                    });
                    (key.collect(), r.id)
                })
                .collect();
            keyed.sort_by(|(a, ia), (b, ib)| {
                for (i, (_, desc, nulls_last)) in self.order.iter().enumerate() {
                    let ord = order_values(&a[i].0, &b[i].0, *nulls_last);
                    let ord = if *desc && !(a[i].0.is_null() || b[i].0.is_null()) { ord.reverse() } else { ord };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                ia.cmp(ib)
            });
            keyed.into_iter().map(|(_, id)| id).collect()
        };
        let skip = self.offset.unwrap_or(0).min(ids.len());
        ids.drain(..skip);
        if let Some(l) = self.limit {
            ids.truncate(l);
        }
        ids
    }
}

/// The ids a filter is limited to, when it pins `Id` with `=` or `IN`
/// (alone or as one side of an `AND`), in table order.
fn id_keys(cond: &Cond) -> Option<std::collections::BTreeSet<SfId>> {
    let id = |lit: &Lit| match lit {
        Lit::Str(s) => SfId::parse(s),
        _ => None,
    };
    match cond {
        Cond::Cmp(f, CmpOp::Eq, lit) if f.eq_ignore_ascii_case("id") => Some(id(lit).into_iter().collect()),
        Cond::In(f, false, lits) if f.eq_ignore_ascii_case("id") => Some(lits.iter().filter_map(id).collect()),
        Cond::And(a, b) => id_keys(a).or_else(|| id_keys(b)),
        _ => None,
    }
}

/// The emails a filter is limited to, when it pins `Email` to text with `=`
/// or `IN` (alone or as one side of an `AND`); `Email = null` scans.
fn email_keys(cond: &Cond) -> Option<Vec<&str>> {
    fn text(lit: &Lit) -> Option<&str> {
        match lit {
            Lit::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }
    match cond {
        Cond::Cmp(f, CmpOp::Eq, lit) if f.eq_ignore_ascii_case("email") => text(lit).map(|t| vec![t]),
        Cond::In(f, false, lits) if f.eq_ignore_ascii_case("email") => lits.iter().map(text).collect(),
        Cond::And(a, b) => email_keys(a).or_else(|| email_keys(b)),
        _ => None,
    }
}

fn order_values(a: &Value, b: &Value, nulls_last: bool) -> Ordering {
    match (a.is_null(), b.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => {
            if nulls_last {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (false, true) => {
            if nulls_last {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        _ => cmp_values(a, b).unwrap_or(Ordering::Equal),
    }
}

fn cmp_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(cmp_ci(x, y)),
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(y)),
        (Value::DateTime(x), Value::DateTime(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn millis(v: &Value) -> Option<i64> {
    match v {
        Value::Date(d) => Some(i64::from(*d) * 86_400_000),
        Value::DateTime(ms) => Some(*ms),
        _ => None,
    }
}

fn apply(op: CmpOp, ord: Ordering) -> bool {
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    }
}

fn compare(v: &Value, op: CmpOp, lit: &Lit) -> bool {
    if matches!(lit, Lit::Null) {
        return match op {
            CmpOp::Eq => v.is_null(),
            CmpOp::Ne => !v.is_null(),
            _ => false,
        };
    }
    if v.is_null() {
        return op == CmpOp::Ne;
    }
    if let (Value::Str(s), Lit::Str(l), CmpOp::Eq | CmpOp::Ne) = (v, lit, op)
        && s.is_ascii()
        && l.is_ascii()
    {
        return s.eq_ignore_ascii_case(l) == (op == CmpOp::Eq);
    }
    let ord = match (v, lit) {
        (Value::Str(s), Lit::Str(l)) => Some(cmp_ci(s, l)),
        (Value::Num(n), Lit::Num(l)) => n.partial_cmp(l),
        (Value::Bool(b), Lit::Bool(l)) => Some(b.cmp(l)),
        (Value::Date(d), Lit::Date(l)) => Some(d.cmp(l)),
        (_, Lit::DateTime(l)) => millis(v).map(|m| m.cmp(l)),
        (Value::DateTime(m), Lit::Date(l)) => Some(m.cmp(&(i64::from(*l) * 86_400_000))),
        (_, Lit::Range(start, end)) => {
            let Some(m) = millis(v) else { return false };
            return match op {
                CmpOp::Eq => m >= *start && m < *end,
                CmpOp::Ne => m < *start || m >= *end,
                CmpOp::Lt => m < *start,
                CmpOp::Le => m < *end,
                CmpOp::Gt => m >= *end,
                CmpOp::Ge => m >= *start,
            };
        }
        _ => None,
    };
    ord.is_some_and(|o| apply(op, o))
}

/// Case-insensitive ordering without allocating (ASCII fast path).
fn cmp_ci(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()));
    }
    a.chars().flat_map(char::to_lowercase).cmp(b.chars().flat_map(char::to_lowercase))
}

/// SOQL LIKE, case-insensitive: `%` any run, `_` one character; `pattern`
/// is already lower-cased.
fn like(text: &str, pattern: &str) -> bool {
    // The common filters `abc%`, `%abc` and `%abc%`, without allocating.
    let plain = |p: &str| !p.contains(['%', '_']);
    if text.is_ascii() && pattern.is_ascii() {
        let t = text.as_bytes();
        if let Some(prefix) = pattern.strip_suffix('%').filter(|p| plain(p)) {
            return t.len() >= prefix.len() && t[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes());
        }
        if let Some(suffix) = pattern.strip_prefix('%').filter(|p| plain(p)) {
            return t.len() >= suffix.len() && t[t.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes());
        }
        if plain(pattern) {
            return t.eq_ignore_ascii_case(pattern.as_bytes());
        }
    }
    if text.is_ascii() && pattern.is_ascii() {
        let t: Vec<u8> = text.bytes().map(|c| c.to_ascii_lowercase()).collect();
        return like_units(&t, pattern.as_bytes(), b'%', b'_');
    }
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let p: Vec<char> = pattern.chars().collect();
    like_units(&t, &p, '%', '_')
}

fn like_units<T: PartialEq + Copy>(t: &[T], p: &[T], any: T, one: T) -> bool {
    let (mut ti, mut pi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == one || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == any {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_where_clause_with_and_or_not_and_parentheses_parses_by_precedence() {
        let q = parse("SELECT Id FROM Contact WHERE NOT (Email = null) AND (LastName LIKE 'Lo%' OR Title IN ('CEO','CTO')) ORDER BY LastName DESC LIMIT 5").ok();
        let q = q.filter(|q| q.limit == Some(5) && q.order.len() == 1);
        assert!(matches!(q.and_then(|q| q.filter), Some(Cond::And(_, _))));
    }

    #[test]
    fn a_filter_pinning_id_reads_those_records_and_any_other_filter_scans() {
        let a = SfId::generate("003", 1);
        let b = SfId::generate("003", 2);
        let keys = |soql: &str| parse(soql).ok().and_then(|q| q.filter).and_then(|f| id_keys(&f));
        let both = format!(
            "SELECT Id FROM Contact WHERE Id IN ('{}', '{}') AND LastName = 'X'",
            a.as_str(),
            &b.as_str()[..15]
        );
        assert_eq!(keys(&both), Some([a, b].into_iter().collect()));
        assert_eq!(
            keys(&format!("SELECT Id FROM Contact WHERE Email = null AND Id = '{}'", b.as_str())),
            Some([b].into_iter().collect())
        );
        assert_eq!(keys("SELECT Id FROM Contact WHERE Id = 'not-an-id'"), Some(std::collections::BTreeSet::new()));
        assert_eq!(keys(&format!("SELECT Id FROM Contact WHERE Id = '{}' OR LastName = 'X'", a.as_str())), None);
        assert_eq!(keys(&format!("SELECT Id FROM Contact WHERE Id NOT IN ('{}')", a.as_str())), None);
        assert_eq!(keys("SELECT Id FROM Contact WHERE LastName = 'X'"), None);
    }

    #[test]
    fn a_filter_pinning_email_to_text_reads_the_email_index_and_null_or_or_scans() {
        let keys = |soql: &str| parse(soql).ok().and_then(|q| q.filter).and_then(|f| email_keys(&f).map(|k| k.len()));
        assert_eq!(keys("SELECT Id FROM Contact WHERE Email IN ('a@x.com', 'B@x.com')"), Some(2));
        assert_eq!(keys("SELECT Id FROM Lead WHERE LastName = 'X' AND Email = 'a@x.com'"), Some(1));
        assert_eq!(keys("SELECT Id FROM Contact WHERE Email = null"), None);
        assert_eq!(keys("SELECT Id FROM Contact WHERE Email = 'a@x.com' OR LastName = 'X'"), None);
        assert_eq!(keys("SELECT Id FROM Contact WHERE Email NOT IN ('a@x.com')"), None);
    }

    #[test]
    fn like_matches_percent_and_underscore_wildcards() {
        assert!(like("Lovelace", "lo%"));
        assert!(like("lovelace", "%lac_"));
        assert!(!like("lovelace", "lo_"));
        assert!(like("Ünïcode", "ün%"));
        assert!(like("ada@Example.com", "%@example.com"));
        assert!(like("ada@example.com", "%example%"));
        assert!(!like("ada@example.org", "%@example.com"));
        assert!(like("ADA", "ada"));
    }

    #[test]
    fn malformed_soql_is_rejected_with_malformed_query() {
        assert_eq!(parse("SELECT FROM").err().map(|e| e.code), Some("MALFORMED_QUERY"));
        assert_eq!(parse("SELECT Id FROM Lead WHERE").err().map(|e| e.code), Some("MALFORMED_QUERY"));
    }
}
