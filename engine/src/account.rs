//! Accounts: the roles a user or an API key holds. Which role may do what is the
//! permission table in `docs/security.md` (enforced by the gateway's `auth::permission`).

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role. Every role but [`Role::PlatformAdmin`] acts within one organisation; the
/// platform administrator belongs to none and manages organisations.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything of its organisation, changes nothing.
    Readonly,
    /// Reads, and acknowledges/resolves crises.
    User,
    /// A user who may also ingest.
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

/// Longest accepted login address.
pub const MAX_EMAIL_BYTES: usize = 255;

/// A login address, trimmed and lower-cased, or why it is not one: one `@`, a local part
/// of RFC 5322 "atext" characters and dots (1–64), a domain of letters, digits and
/// hyphens in dot-separated labels, at most [`MAX_EMAIL_BYTES`] bytes. Stricter than the
/// RFC (no quoted local parts): an address is also shown in the admin pages and the audit
/// trail, so markup such as `<script>` never gets in.
pub fn normalise_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_EMAIL_BYTES {
        return Err("an email address of at most 255 bytes is required");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("an email address needs an @");
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let local_ok = (1..=64).contains(&local.len())
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext));
    let domain_ok = domain.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err("not an email address (letters, digits and .!#$%&'*+-/=?^_`{|}~ before the @, a domain after it)")
    }
}

#[cfg(test)]
mod email_tests {
    use super::normalise_email;

    #[test]
    fn addresses_are_normalised_and_markup_is_refused() {
        assert_eq!(
            normalise_email("  Ann.Lee+war@Alpha-Campaign.org ").as_deref(),
            Ok("ann.lee+war@alpha-campaign.org")
        );
        assert!(normalise_email("admin@localhost").is_ok());
        for bad in [
            "",
            "ann",
            "@alpha.org",
            "ann@",
            "<script>alert(1)</script>@x.org",
            "ann@x.org<script>",
            "a@b@c.org",
            "ann..lee@x.org",
            "ann@-x.org",
            "ann@x..org",
            "\"quoted\"@x.org",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
        assert!(normalise_email(&format!("{}@x.org", "a".repeat(65))).is_err());
    }
}
