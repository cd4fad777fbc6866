//! Who makes a request: the key's id, role and tenant, once authenticated
//! (`auth.rs` turns a bearer key into a `Caller`; the state caches them).

use ferry_domain::{Permission, Role};

use crate::problem::ApiError;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub role: Role,
    /// A key limited to one tenant sees only that tenant's migrations.
    pub tenant: Option<String>,
}

impl Caller {
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(self.role))
        }
    }

    /// Whether this caller may see a resource of `tenant`. Resources of other
    /// tenants are answered 404, so ids do not leak across tenants.
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }
}
