//! The permission table: which role may do what. `docs/security.md` shows the same table;
//! a test below keeps the two from drifting apart in meaning.

use warroom_engine::Role;

/// Something a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read the organisation's dashboards, mentions, campaigns and alerts; subscribe to
    /// its WebSocket channels; export its tables (a read, audited: analysts with a
    /// `readonly` account pull exports into their own tools).
    Read,
    /// Acknowledge or resolve a crisis.
    RespondToCrisis,
    /// Send mentions and campaign metrics to the ingest endpoints.
    Ingest,
    /// Manage the organisation's users and API keys; read its audit trail.
    Administer,
    /// List and manage organisations (platform administrator only).
    ManageOrganizations,
    /// Read and switch the global data mode (MOCK/LIVE): system-wide, so organisation
    /// admins and the platform administrator.
    DataMode,
}

impl Permission {
    /// Whether `role` holds this permission.
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Permission::Read => matches!(role, Readonly | User | Manager | Admin),
            Permission::RespondToCrisis => matches!(role, User | Manager | Admin),
            Permission::Ingest => matches!(role, Manager | Admin),
            Permission::Administer => matches!(role, Admin),
            Permission::ManageOrganizations => matches!(role, PlatformAdmin),
            Permission::DataMode => matches!(role, Admin | PlatformAdmin),
        }
    }

    /// Name used in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Read => "reading organisation data",
            Permission::RespondToCrisis => "acknowledging or resolving crises",
            Permission::Ingest => "ingesting data",
            Permission::Administer => "administering the organisation",
            Permission::ManageOrganizations => "managing organisations",
            Permission::DataMode => "reading or switching the data mode",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_docs_security_md() {
        use Role::*;
        // (permission, roles allowed), as written in docs/security.md.
        let table = [
            (Permission::Read, vec![Readonly, User, Manager, Admin]),
            (Permission::RespondToCrisis, vec![User, Manager, Admin]),
            (Permission::Ingest, vec![Manager, Admin]),
            (Permission::Administer, vec![Admin]),
            (Permission::ManageOrganizations, vec![PlatformAdmin]),
            (Permission::DataMode, vec![Admin, PlatformAdmin]),
        ];
        for (permission, allowed) in table {
            for role in Role::ALL {
                assert_eq!(
                    permission.allows(role),
                    allowed.contains(&role),
                    "{permission:?} for {role}"
                );
            }
        }
    }
}
