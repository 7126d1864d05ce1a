//! A builder for DynamoDB update and condition expressions that aliases every attribute name
//! and value, so reserved words and arbitrary map keys (cluster names, ARNs) are always safe.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// The longest update or condition expression DynamoDB accepts, in bytes (its 4 KB limit).
pub const MAX_EXPRESSION_BYTES: usize = 4096;

/// The most operators and functions DynamoDB accepts in one expression. Its quotas page states
/// it of update expressions; it is reported of condition expressions too (AWS's own example
/// counts them in a filter), so both are held to it.
pub const MAX_EXPRESSION_OPERATORS: usize = 300;

/// What [`operators`] counts in a condition: comparators, logical operators and functions. An
/// update's `=` assigns, and is not one.
const OPERATORS: [&str; 21] = [
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
    "if_not_exists",
    "list_append",
];

#[derive(Debug, Default)]
pub struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    conditions: Vec<String>,
}

impl Expr {
    /// The alias of an attribute name (or map key), created once per distinct name.
    pub fn name(&mut self, attr: &str) -> String {
        if let Some((alias, _)) = self.names.iter().find(|(_, v)| v.as_str() == attr) {
            return alias.clone();
        }
        let alias = format!("#n{}", self.names.len());
        self.names.insert(alias.clone(), attr.to_owned());
        alias
    }

    /// `#a.#b` for a key inside a top-level map attribute.
    pub fn path(&mut self, attr: &str, key: &str) -> String {
        format!("{}.{}", self.name(attr), self.name(key))
    }

    /// The placeholder of a value; each call adds a new one.
    pub fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub fn s(&mut self, v: impl Into<String>) -> String {
        self.value(AttributeValue::S(v.into()))
    }

    pub fn n(&mut self, v: impl ToString) -> String {
        self.value(AttributeValue::N(v.to_string()))
    }

    pub fn set(&mut self, clause: String) {
        self.set.push(clause);
    }

    pub fn add(&mut self, clause: String) {
        self.add.push(clause);
    }

    pub fn remove(&mut self, path: String) {
        self.remove.push(path);
    }

    pub fn condition(&mut self, clause: String) {
        self.conditions.push(clause);
    }

    pub fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.add.is_empty() {
            parts.push(format!("ADD {}", self.add.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        parts.join(" ")
    }

    /// All conditions joined by AND, or `None` when there is none.
    pub fn condition_expression(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    /// Whether DynamoDB accepts the update and the condition: each within
    /// [`MAX_EXPRESSION_BYTES`] and [`MAX_EXPRESSION_OPERATORS`]. A write that does not fit is
    /// refused on every retry.
    pub fn fits(&self) -> bool {
        let update = self.update_expression();
        update.len() <= MAX_EXPRESSION_BYTES
            && operators(&update, false) <= MAX_EXPRESSION_OPERATORS
            && self
                .condition_expression()
                .is_none_or(|c| c.len() <= MAX_EXPRESSION_BYTES && operators(&c, true) <= MAX_EXPRESSION_OPERATORS)
    }

    /// `text` (an expression of this builder) with every alias replaced by what it stands for:
    /// `#n3` by `#` and the attribute name, `:v7` by the value (`"s"`, `5`, `{k: v}`, `[a, b]`).
    /// For reading a plan in tests and logs; DynamoDB is sent the aliased form.
    pub fn render(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Longest aliases first, so that `#n1` never replaces the start of `#n12`.
        let mut names: Vec<(&String, &String)> = self.names.iter().collect();
        names.sort_by_key(|(alias, _)| std::cmp::Reverse(alias.len()));
        for (alias, name) in names {
            out = out.replace(alias.as_str(), &format!("#{name}"));
        }
        let mut values: Vec<(&String, &AttributeValue)> = self.values.iter().collect();
        values.sort_by_key(|(placeholder, _)| std::cmp::Reverse(placeholder.len()));
        for (placeholder, value) in values {
            out = out.replace(placeholder.as_str(), &shown(value));
        }
        out
    }

    pub fn into_parts(self) -> (HashMap<String, String>, HashMap<String, AttributeValue>) {
        (self.names, self.values)
    }
}

/// The operators and functions of `text`, an expression of this builder (every name and value
/// aliased, so no word of it is data); `=` only in a condition. An upper bound: the `AND` of a
/// `BETWEEN` counts too.
fn operators(text: &str, condition: bool) -> usize {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ','))
        .filter(|t| OPERATORS.contains(t) && (condition || *t != "="))
        .count()
}

/// A request that takes an update expression with its condition, names and values.
pub trait Expressed: Sized {
    /// The request carrying `e`'s update, condition (when there is one), names and values.
    fn expressed(self, e: Expr) -> Self;
}

/// The same four setters exist on both request builders that take an update.
macro_rules! expressed {
    ($($builder:ty),*) => {$(
        impl Expressed for $builder {
            fn expressed(self, e: Expr) -> Self {
                let (update, condition) = (e.update_expression(), e.condition_expression());
                let (names, values) = e.into_parts();
                self.update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
            }
        }
    )*};
}

expressed!(
    aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    aws_sdk_dynamodb::types::builders::UpdateBuilder
);

/// A value as [`Expr::render`] shows it; map keys in order.
fn shown(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => format!("{s:?}"),
        AttributeValue::N(n) => n.clone(),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::L(l) => format!("[{}]", l.iter().map(shown).collect::<Vec<_>>().join(", ")),
        AttributeValue::M(m) => {
            let mut entries: Vec<(&String, &AttributeValue)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            format!("{{{}}}", entries.iter().map(|(k, v)| format!("{k}: {}", shown(v))).collect::<Vec<_>>().join(", "))
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_aliased_and_render_back_longest_alias_first() {
        let mut e = Expr::default();
        let names: Vec<String> = (0..12).map(|n| e.name(&format!("a{n}"))).collect();
        assert_eq!(e.name("a1"), "#n1", "one alias per distinct name");
        let v = e.n(7);
        let path = e.path("clusters", "prod:east");
        e.set(format!("{path} = {v}"));
        let x = e.s("x");
        e.condition(format!("{} = {x}", names[11]));
        e.condition(format!("attribute_exists({})", names[1]));
        assert_eq!(e.update_expression(), "SET #n12.#n13 = :v0");
        assert_eq!(e.condition_expression().as_deref(), Some("#n11 = :v1 AND attribute_exists(#n1)"));
        assert_eq!(e.render(&e.update_expression()), "SET #clusters.#prod:east = 7");
        assert_eq!(e.render("#n11 = :v1 AND attribute_exists(#n1)"), r#"#a11 = "x" AND attribute_exists(#a1)"#);
    }

    #[test]
    fn operators_are_counted_as_dynamodb_counts_them_assignments_aside() {
        let condition = r#"#n0 <= :v0 AND NOT (#n1.#n2 > :v1) AND (size(#n1) <= :v2 OR (attribute_exists(#n1.#n2)))"#;
        // <=, AND, NOT, >, AND, size, <=, OR, attribute_exists
        assert_eq!(operators(condition, true), 9);
        let update = "SET #n0 = :v0, #n1.#n2 = if_not_exists(#n1.#n2, :v1) + :v2 ADD #n3 :v3 REMOVE #n4";
        // if_not_exists, +
        assert_eq!(operators(update, false), 2);
    }

    /// 150 conditions of one function each are 299 operators with their ANDs; 151 are 301, and
    /// DynamoDB refuses such a write whatever its bytes (here about 3 KB).
    #[test]
    fn a_write_past_300_operators_does_not_fit_though_within_4_kb() {
        let with = |n: usize| {
            let mut e = Expr::default();
            let name = e.name("a");
            let one = e.n(1);
            e.set(format!("{name} = {one}"));
            for _ in 0..n {
                e.condition(format!("attribute_exists({name})"));
            }
            e
        };
        assert!(with(150).fits());
        let past = with(151);
        assert!(past.condition_expression().unwrap().len() < MAX_EXPRESSION_BYTES);
        assert!(!past.fits());
    }
}
