//! Stable machine codes and CSV column names of the licence migration.
//!
//! Clients switch on these strings (and the HTTP tests assert them), so they are
//! constants in one place rather than literals scattered over the rules.

// Rules of the assignment engine, shared by the bulk edit and the CSV import.
pub const UNKNOWN_USER: &str = "unknown_user";
pub const UNKNOWN_PLAN: &str = "unknown_plan";
pub const UNKNOWN_ADDON: &str = "unknown_addon";
pub const ADDONS_NOT_ALLOWED: &str = "addons_not_allowed";
pub const CAPACITY_EXCEEDED: &str = "capacity_exceeded";
pub const ADDONS_WITHOUT_PLAN: &str = "addons_without_plan";
pub const USERNAME_WITHOUT_PLAN: &str = "username_without_plan";
pub const USERNAME_REQUIRED: &str = "username_required";
pub const INVALID_USERNAME: &str = "invalid_username";
pub const DUPLICATE_USERNAME: &str = "duplicate_username";
pub const ACTING_USER_UNLICENSED: &str = "acting_user_unlicensed";

// Structure of an uploaded CSV file.
pub const MALFORMED_CSV: &str = "malformed_csv";
pub const MISSING_COLUMN: &str = "missing_column";
pub const DUPLICATE_COLUMN: &str = "duplicate_column";
pub const UNKNOWN_COLUMN: &str = "unknown_column";
pub const MISSING_USER: &str = "missing_user";
pub const DUPLICATE_ROW: &str = "duplicate_row";
pub const READONLY_CHANGED: &str = "readonly_changed";

// Roster rows.
pub const INVALID_USER_ID: &str = "invalid_user_id";
pub const DUPLICATE_USER_ID: &str = "duplicate_user_id";
pub const INVALID_NAME: &str = "invalid_name";
pub const INVALID_EMAIL: &str = "invalid_email";
/// Not an error of the upload: a card without an address that can be a login.
pub const NO_USABLE_EMAIL: &str = "no_usable_email";
pub const INVALID_TEXT: &str = "invalid_text";
pub const INVALID_BOOLEAN: &str = "invalid_boolean";
pub const INVALID_SATELLITE: &str = "invalid_satellite";
pub const DUPLICATE_SATELLITE: &str = "duplicate_satellite";

// Catalogue.
pub const INVALID_CATALOGUE_NAME: &str = "invalid_catalogue_name";
pub const DUPLICATE_PLAN: &str = "duplicate_plan";
pub const DUPLICATE_ADDON: &str = "duplicate_addon";
pub const INVALID_CAPACITY: &str = "invalid_capacity";

/// Column headers of the assignment CSV, in export order.
pub mod columns {
    pub const USER_ID: &str = "User ID";
    pub const NAME: &str = "Name";
    pub const EMAILS: &str = "Emails";
    pub const GROUP: &str = "Group";
    pub const POSITION: &str = "Position";
    pub const CURRENT_LICENSE: &str = "Current License";
    pub const CURRENT_ADDONS: &str = "Current Add-ons";
    pub const NEW_LICENSE: &str = "New License";
    pub const NEW_ADDONS: &str = "New Add-ons";
    pub const USERNAME: &str = "Username";

    pub const ALL: [&str; 10] = [
        USER_ID,
        NAME,
        EMAILS,
        GROUP,
        POSITION,
        CURRENT_LICENSE,
        CURRENT_ADDONS,
        NEW_LICENSE,
        NEW_ADDONS,
        USERNAME,
    ];
}
