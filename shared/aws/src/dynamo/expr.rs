//! A builder for DynamoDB update and condition expressions that aliases every attribute name
//! and value, so reserved words and arbitrary map keys (cluster names, ARNs) are always safe.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

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

    pub fn into_parts(self) -> (HashMap<String, String>, HashMap<String, AttributeValue>) {
        (self.names, self.values)
    }
}
