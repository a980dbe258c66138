//! The few SOQL shapes the use cases send, evaluated over in-memory records.
//!
//! Supported: `SELECT <fields> FROM <object> [WHERE <cond> [AND <cond>]...]
//! [ORDER BY ...] [LIMIT n]` and `SELECT COUNT() FROM ...`, where a
//! condition is `Field <op> literal` (`=`, `!=`, `<`, `<=`, `>`, `>=`,
//! `LIKE` with `%`) or `Field IN ('a', 'b')`. String comparisons ignore case,
//! as Salesforce's do; 15- and 18-character ids compare equal. Anything else
//! (OR, sub-queries, date literals) is refused as `MALFORMED_QUERY`, so a
//! test learns at once that it needs a registered answer instead.

use serde_json::Value;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// Selected fields as written; empty for `COUNT()`.
    pub fields: Vec<String>,
    pub count: bool,
    pub object: String,
    pub conditions: Vec<Condition>,
    pub limit: Option<usize>,
}

/// `field op value(s)`; `IN` holds several values, the others one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    field: String,
    op: Op,
    values: Vec<Literal>,
}

/// The comparison operators understood.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    In,
}

/// A literal as SOQL writes it: quoted text, a number, a boolean, null.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
    Null,
}

/// A lexical token: a bare word, a quoted string (unescaped), or one of
/// `( ) ,` and the comparison symbols.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Symbol(String),
}

/// Splits a query into tokens; fails only on an unterminated string.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('\\') => s.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => s.push(c),
                    None => return Err("unterminated string literal".into()),
                }
            }
            out.push(Token::Text(s));
        } else if "(),".contains(c) {
            chars.next();
            out.push(Token::Symbol(c.to_string()));
        } else if "=!<>".contains(c) {
            chars.next();
            let mut s = c.to_string();
            if chars.peek() == Some(&'=') {
                chars.next();
                s.push('=');
            }
            out.push(Token::Symbol(s));
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || "(),=!<>'".contains(c) {
                    break;
                }
                s.push(c);
                chars.next();
            }
            out.push(Token::Word(s));
        }
    }
    Ok(out)
}

/// Whether a token is the keyword `word`, in any case.
fn keyword(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

/// A value token as a literal; a bare word must be a number or a keyword.
fn literal(token: Option<Token>) -> Result<Literal, String> {
    match token {
        Some(Token::Text(s)) => Ok(Literal::Text(s)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
        Some(Token::Word(w)) => w.parse().map(Literal::Number).map_err(|_| format!("unsupported literal `{w}`")),
        other => Err(format!("expected a literal, found {other:?}")),
    }
}

/// Parses one of the supported shapes.
pub(crate) fn parse(soql: &str) -> Result<Query, String> {
    let mut toks = tokens(soql)?.into_iter().peekable();
    if !keyword(toks.next().as_ref(), "SELECT") {
        return Err("a query starts with SELECT".into());
    }
    let mut fields = Vec::new();
    let mut count = false;
    loop {
        match toks.next() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("FROM") => break,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("COUNT") => {
                let open = toks.next();
                let close = toks.next();
                if open != Some(Token::Symbol("(".into())) || close != Some(Token::Symbol(")".into())) {
                    return Err("only COUNT() is supported".into());
                }
                count = true;
            }
            Some(Token::Word(w)) => fields.push(w),
            Some(Token::Symbol(s)) if s == "," => {}
            other => return Err(format!("unexpected {other:?} in the field list")),
        }
    }
    let Some(Token::Word(object)) = toks.next() else { return Err("FROM names no object".into()) };
    let mut conditions = Vec::new();
    let mut limit = None;
    while let Some(token) = toks.next() {
        match token {
            Token::Word(w) if w.eq_ignore_ascii_case("WHERE") || w.eq_ignore_ascii_case("AND") => {
                let Some(Token::Word(field)) = toks.next() else { return Err("a condition names no field".into()) };
                let op = match toks.next() {
                    Some(Token::Symbol(s)) => match s.as_str() {
                        "=" => Op::Eq,
                        "!=" => Op::Ne,
                        "<" => Op::Lt,
                        "<=" => Op::Le,
                        ">" => Op::Gt,
                        ">=" => Op::Ge,
                        other => return Err(format!("unsupported operator `{other}`")),
                    },
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("LIKE") => Op::Like,
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("IN") => Op::In,
                    other => return Err(format!("unsupported operator {other:?}")),
                };
                let values = if op == Op::In {
                    if toks.next() != Some(Token::Symbol("(".into())) {
                        return Err("IN takes a parenthesised list".into());
                    }
                    let mut values = Vec::new();
                    loop {
                        match toks.peek() {
                            Some(Token::Symbol(s)) if s == ")" => {
                                toks.next();
                                break;
                            }
                            Some(Token::Symbol(s)) if s == "," => {
                                toks.next();
                            }
                            _ => values.push(literal(toks.next())?),
                        }
                    }
                    values
                } else {
                    vec![literal(toks.next())?]
                };
                conditions.push(Condition { field, op, values });
            }
            Token::Word(w) if w.eq_ignore_ascii_case("ORDER") => {
                // Ordering is left to the caller; skip `BY field [ASC|DESC]`.
                while toks.peek().is_some() && !keyword(toks.peek(), "LIMIT") {
                    toks.next();
                }
            }
            Token::Word(w) if w.eq_ignore_ascii_case("LIMIT") => {
                let Some(Token::Word(n)) = toks.next() else { return Err("LIMIT takes a number".into()) };
                limit = Some(n.parse().map_err(|_| format!("`{n}` is not a LIMIT"))?);
            }
            other => return Err(format!("unsupported clause at {other:?}")),
        }
    }
    Ok(Query { fields, count, object, conditions, limit })
}

/// Two texts naming the same Salesforce record in 15 or 18 characters.
fn same_id(a: &str, b: &str) -> bool {
    use crm_sync_domain::SalesforceId;
    matches!((SalesforceId::parse(a), SalesforceId::parse(b)), (Ok(a), Ok(b)) if a == b)
}

/// SOQL `LIKE` with `%` wildcards, ignoring case (`_` is taken literally).
fn like(value: &str, pattern: &str) -> bool {
    let value = value.to_lowercase();
    let parts: Vec<String> = pattern.to_lowercase().split('%').map(str::to_owned).collect();
    let mut rest = value.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(after) = rest.strip_prefix(part.as_str()) else { return false };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part.as_str());
        } else {
            let Some(at) = rest.find(part.as_str()) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

/// Orders a stored value against a literal; `None` when they cannot be
/// compared (then only `!=` holds). Text compares without regard to case.
fn compare(value: &Value, literal: &Literal) -> Option<std::cmp::Ordering> {
    match (value, literal) {
        (Value::Null, Literal::Null) => Some(std::cmp::Ordering::Equal),
        (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (Value::String(a), Literal::Bool(b)) => Some(if a.eq_ignore_ascii_case(&b.to_string()) {
            std::cmp::Ordering::Equal
        } else {
            std::cmp::Ordering::Less
        }),
        (Value::Number(n), Literal::Number(b)) => n.as_f64().and_then(|a| a.partial_cmp(b)),
        (Value::String(a), Literal::Number(b)) => a.parse::<f64>().ok().and_then(|a| a.partial_cmp(b)),
        (Value::String(a), Literal::Text(b)) => {
            if a.eq_ignore_ascii_case(b) || same_id(a, b) {
                Some(std::cmp::Ordering::Equal)
            } else {
                Some(a.to_lowercase().cmp(&b.to_lowercase()))
            }
        }
        _ => None,
    }
}

impl Condition {
    /// Whether a record's fields satisfy the condition; a missing field
    /// reads as null.
    fn holds(&self, fields: &serde_json::Map<String, Value>) -> bool {
        let value = fields.get(&self.field).unwrap_or(&Value::Null);
        let first = self.values.first().unwrap_or(&Literal::Null);
        use std::cmp::Ordering::*;
        match self.op {
            Op::Eq => compare(value, first) == Some(Equal),
            Op::Ne => compare(value, first) != Some(Equal),
            Op::Lt => compare(value, first) == Some(Less),
            Op::Le => matches!(compare(value, first), Some(Less | Equal)),
            Op::Gt => compare(value, first) == Some(Greater),
            Op::Ge => matches!(compare(value, first), Some(Greater | Equal)),
            Op::Like => match (value, first) {
                (Value::String(v), Literal::Text(p)) => like(v, p),
                _ => false,
            },
            Op::In => self.values.iter().any(|l| compare(value, l) == Some(Equal)),
        }
    }
}

impl Query {
    /// Whether a record's fields satisfy every condition.
    pub(crate) fn admits(&self, fields: &serde_json::Map<String, Value>) -> bool {
        self.conditions.iter().all(|c| c.holds(fields))
    }

    /// The selected fields of a record (a relationship field such as
    /// `Campaign.Name` selects the whole `Campaign` value); always its `Id`.
    pub(crate) fn project(&self, fields: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for name in self.fields.iter().map(|f| f.split('.').next().unwrap_or(f)).chain(["Id"]) {
            out.insert(name.to_owned(), fields.get(name).cloned().unwrap_or(Value::Null));
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_select_with_in_and_equality_conditions_parses_and_filters() {
        let q =
            parse("SELECT Id, Email FROM Contact WHERE Email IN ('a@x.com','B@x.com') AND IsDeleted = false").unwrap();
        assert_eq!(q.object, "Contact");
        assert_eq!(q.fields, vec!["Id", "Email"]);
        assert!(q.admits(&fields(json!({"Email": "b@X.com", "IsDeleted": false}))));
        assert!(!q.admits(&fields(json!({"Email": "c@x.com", "IsDeleted": false}))));
    }

    #[test]
    fn count_queries_and_like_patterns_are_understood() {
        let q = parse("SELECT COUNT() FROM Lead WHERE Company LIKE 'ac%e'").unwrap();
        assert!(q.count);
        assert!(q.admits(&fields(json!({"Company": "Acme"}))));
        assert!(!q.admits(&fields(json!({"Company": "Acmes"}))));
    }

    #[test]
    fn an_or_condition_is_refused_rather_than_misread() {
        assert!(parse("SELECT Id FROM Lead WHERE A = 1 OR B = 2").is_err());
    }

    #[test]
    fn escaped_quotes_stay_inside_a_string_literal() {
        let q = parse(r"SELECT Id FROM Contact WHERE LastName = 'O\'Brien'").unwrap();
        assert!(q.admits(&fields(json!({"LastName": "o'brien"}))));
    }
}
