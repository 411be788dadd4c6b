//! Accounts: the roles a user or an API key holds. Which role may do what is the
//! permission table in `docs/security.md` (enforced by the gateway's `auth::permission`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A role. Every role but [`Role::PlatformAdmin`] acts within one organisation; the
/// platform administrator belongs to none and manages organisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything of its organisation, changes nothing.
    Readonly,
    /// Reads, and acknowledges/resolves crises.
    User,
    /// A user who may also ingest and export.
    Manager,
    /// Everything within its organisation, including users, API keys and the audit trail.
    Admin,
    /// Manages organisations; sees no organisation's data.
    PlatformAdmin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 5] = [
        Role::Readonly,
        Role::User,
        Role::Manager,
        Role::Admin,
        Role::PlatformAdmin,
    ];

    /// The stored and wire name (`admin`, `manager`, `user`, `readonly`, `platform_admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Readonly => "readonly",
            Role::User => "user",
            Role::Manager => "manager",
            Role::Admin => "admin",
            Role::PlatformAdmin => "platform_admin",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether this role belongs to an organisation (all but the platform administrator).
    pub fn is_org_role(self) -> bool {
        self != Role::PlatformAdmin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(!Role::PlatformAdmin.is_org_role());
    }
}
