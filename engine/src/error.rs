//! Errors that cross crate boundaries.

use serde::Serialize;

/// The configuration could not be loaded or is inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The layered sources (defaults, file, environment) did not parse.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// The values parsed but do not make sense together.
    #[error("configuration: {field}: {reason}")]
    Invalid {
        /// The dotted key of the offending setting.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
}

/// One invalid record in an ingest request: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationIssue {
    /// Zero-based position of the record in the request.
    pub index: usize,
    /// The field at fault (dotted path), when one field is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, in words a client developer can act on.
    pub reason: String,
}

impl ValidationIssue {
    /// An issue with a record's field.
    pub fn field(index: usize, field: &str, reason: impl Into<String>) -> Self {
        Self {
            index,
            field: Some(field.to_owned()),
            reason: reason.into(),
        }
    }

    /// An issue with a record as a whole (e.g. it does not parse).
    pub fn record(index: usize, reason: impl Into<String>) -> Self {
        Self {
            index,
            field: None,
            reason: reason.into(),
        }
    }
}
