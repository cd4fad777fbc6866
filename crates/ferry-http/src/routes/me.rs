//! Who the caller is: the key's role, its tenant and what the role may do,
//! so a client (the workspace at `/ui`) shows only the controls the key can
//! use. The API still checks every request on its own.

use actix_web::{HttpResponse, get};
use ferry_domain::{Permission, Role};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::problem::{ApiError, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub key_id: String,
    pub role: Role,
    /// The one tenant the key is limited to, if any.
    pub tenant: Option<String>,
    /// What the role allows.
    pub may: Abilities,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Abilities {
    /// Open migration requests.
    pub create_migrations: bool,
    /// Prepare and drive migrations: roster, licences, manifest, commit,
    /// start, complete.
    pub operate_migrations: bool,
    pub cancel_migrations: bool,
    pub manage_keys: bool,
    pub manage_webhooks: bool,
}

/// The calling key: role, tenant and abilities.
#[utoipa::path(
    tag = "keys",
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
#[get("/me")]
pub async fn get_me(caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let may = |p| caller.role.allows(p);
    Ok(HttpResponse::Ok().json(Me {
        may: Abilities {
            create_migrations: may(Permission::CreateMigration),
            operate_migrations: may(Permission::OperateMigration),
            cancel_migrations: may(Permission::CancelMigration),
            manage_keys: may(Permission::ManageKeys),
            manage_webhooks: may(Permission::ManageWebhooks),
        },
        key_id: caller.key_id,
        role: caller.role,
        tenant: caller.tenant,
    }))
}
