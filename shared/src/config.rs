//! Configuration from the environment, read once at start-up. A bad value stops the function
//! from starting, with a message that names the variable.

use thiserror::Error;

/// Retention after the last occurrence when `RETENTION_DAYS` is unset.
pub const DEFAULT_RETENTION_DAYS: u16 = 4;

/// Why the configuration was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} must be set ({hint})")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var} must be {rule}, got {value:?}")]
    Invalid { var: &'static str, rule: &'static str, value: String },
}

/// Days a group is kept after its last occurrence: 1..=365.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionDays(u16);

impl RetentionDays {
    pub const RULE: &'static str = "a whole number of days from 1 to 365";

    pub fn new(days: u16) -> Option<Self> {
        (1..=365).contains(&days).then_some(Self(days))
    }

    pub fn get(self) -> u16 {
        self.0
    }

    pub fn duration(self) -> time::Duration {
        time::Duration::days(i64::from(self.0))
    }
}

impl Default for RetentionDays {
    fn default() -> Self {
        Self(DEFAULT_RETENTION_DAYS)
    }
}

/// What the ingest function needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    pub table_name: String,
    pub retention: RetentionDays,
}

impl IngestConfig {
    /// Reads `TABLE_NAME` and `RETENTION_DAYS` through `var` (the process environment in
    /// production, a map in tests).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self { table_name: table_name(&var)?, retention: retention(&var)? })
    }
}

pub(crate) fn table_name(var: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    match var("TABLE_NAME") {
        Some(t) if !t.trim().is_empty() => Ok(t),
        _ => Err(ConfigError::Missing { var: "TABLE_NAME", hint: "the DynamoDB table that holds the failure groups" }),
    }
}

fn retention(var: &impl Fn(&str) -> Option<String>) -> Result<RetentionDays, ConfigError> {
    match var("RETENTION_DAYS") {
        None => Ok(RetentionDays::default()),
        Some(raw) => raw
            .trim()
            .parse::<u16>()
            .ok()
            .and_then(RetentionDays::new)
            .ok_or(ConfigError::Invalid { var: "RETENTION_DAYS", rule: RetentionDays::RULE, value: raw }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| pairs.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn retention_defaults_to_four_days() {
        let c = IngestConfig::from_env(env(&[("TABLE_NAME", "t")])).unwrap();
        assert_eq!(c.retention.get(), 4);
    }

    #[test]
    fn retention_outside_1_to_365_stops_start_up_naming_the_variable() {
        for bad in ["0", "400", "abc", "-1", ""] {
            let err = IngestConfig::from_env(env(&[("TABLE_NAME", "t"), ("RETENTION_DAYS", bad)])).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("RETENTION_DAYS must be a whole number of days from 1 to 365, got {bad:?}")
            );
        }
        for good in ["1", "365", " 30 "] {
            assert!(IngestConfig::from_env(env(&[("TABLE_NAME", "t"), ("RETENTION_DAYS", good)])).is_ok());
        }
    }

    #[test]
    fn a_missing_table_name_stops_start_up() {
        assert_eq!(
            IngestConfig::from_env(env(&[])).unwrap_err().to_string(),
            "TABLE_NAME must be set (the DynamoDB table that holds the failure groups)"
        );
    }
}
