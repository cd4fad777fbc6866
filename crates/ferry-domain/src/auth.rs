//! Who may do what. The HTTP layer asks `role.allows(permission)` on every
//! route; the table lives here so it is one place to read and test.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The role an API key carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including key management.
    Admin,
    /// Sales tooling: opens migration requests and watches them.
    Sales,
    /// Technical consultant: prepares, checks, starts and closes migrations.
    Migrator,
    /// Operations dashboards: read-only.
    Ops,
}

/// An action guarded by a role check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read migrations, jobs and their reports.
    Read,
    /// Open a migration request.
    CreateMigration,
    /// Abandon a migration.
    CancelMigration,
    /// Prepare and drive a migration: commit, start, complete.
    OperateMigration,
    /// Create, list and revoke API keys.
    ManageKeys,
    /// Subscribe to webhooks, read their delivery log, redeliver.
    ManageWebhooks,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Sales, Role::Migrator, Role::Ops];

    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            Role::Sales => matches!(
                permission,
                P::Read | P::CreateMigration | P::CancelMigration
            ),
            Role::Migrator => matches!(
                permission,
                P::Read | P::CancelMigration | P::OperateMigration
            ),
            Role::Ops => matches!(permission, P::Read),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Sales => "sales",
            Role::Migrator => "migrator",
            Role::Ops => "ops",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}' (admin, sales, migrator, ops)"))
    }
}

#[cfg(test)]
mod tests {
    use super::Permission as P;
    use super::*;

    #[test]
    fn permission_table() {
        let all = [
            P::Read,
            P::CreateMigration,
            P::CancelMigration,
            P::OperateMigration,
            P::ManageKeys,
            P::ManageWebhooks,
        ];
        let granted = |r: Role| {
            all.iter()
                .filter(|p| r.allows(**p))
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(granted(Role::Admin), all.to_vec());
        assert_eq!(
            granted(Role::Sales),
            vec![P::Read, P::CreateMigration, P::CancelMigration]
        );
        assert_eq!(
            granted(Role::Migrator),
            vec![P::Read, P::CancelMigration, P::OperateMigration]
        );
        assert_eq!(granted(Role::Ops), vec![P::Read]);
    }

    #[test]
    fn roles_parse() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
