//! The source's users and satellites (SPEC §3.2), loaded by the migrator from
//! a CSV or JSON upload and checked row by row into a [`Roster`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caseless::Caseless;
use super::codes;
use crate::newtypes::schemas::{RequiredText, RosterText, UserId};
use crate::newtypes::{Email, PersonName};

/// One invalid roster row or field. Every one is reported, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// Spreadsheet row (header = 1) when the roster came as CSV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// The CSV column (`emails`) or the JSON path (`users[3].emails`).
    pub field: String,
    pub value: String,
    pub code: &'static str,
    pub message: String,
}

/// A source user as uploaded: plain strings, so every bad field can be listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RosterUserInput {
    /// Unique within the roster.
    #[schema(value_type = UserId)]
    pub user_id: String,
    #[schema(value_type = PersonName)]
    pub full_name: String,
    /// The card's addresses; the first one that can be a login is the
    /// default user name. Any may be invalid, and the list may be empty:
    /// such a card loads, and the user needs a user name chosen for them.
    #[schema(value_type = Vec<RosterText>, example = json!(["ann@acme.example"]))]
    pub emails: Vec<String>,
    #[serde(default)]
    #[schema(value_type = RosterText)]
    pub group: String,
    #[serde(default)]
    #[schema(value_type = RosterText)]
    pub position: String,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    #[schema(value_type = Option<RosterText>)]
    pub old_license: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<RosterText>)]
    pub old_addons: Vec<String>,
    #[serde(default)]
    pub on_travel: bool,
    #[serde(default = "yes")]
    pub active: bool,
    /// Where the row came from in a CSV upload, so errors found later name it.
    #[serde(skip)]
    pub source_row: Option<u64>,
}

/// A satellite (remote office that syncs) as uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SatelliteInput {
    /// Unique within the roster (ignoring case).
    #[schema(value_type = RequiredText)]
    pub name: String,
    #[serde(default = "yes")]
    pub active: bool,
    /// Where the row came from in a CSV upload, so errors name it.
    #[serde(skip)]
    pub source_row: Option<u64>,
}

fn yes() -> bool {
    true
}

/// A checked source user. Fields are private: a value is proof of the checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SourceUser {
    user_id: String,
    #[schema(value_type = String)]
    full_name: PersonName,
    /// The addresses on the card that can be a login.
    #[schema(value_type = Vec<String>)]
    emails: Vec<Email>,
    /// The addresses on the card, as written, that no mail system takes as
    /// a login (`Email::parse` refuses them): kept, shown, never chosen by
    /// default.
    unusable_emails: Vec<String>,
    group: String,
    position: String,
    is_admin: bool,
    old_license: Option<String>,
    old_addons: Vec<String>,
    on_travel: bool,
    active: bool,
}

impl SourceUser {
    /// One user checked on its own, as [`Roster::from_inputs`] checks each
    /// (the checks across users, such as unique ids, are the roster's): how
    /// a store hands out the users of a stored roster a batch at a time,
    /// re-checked rather than trusted.
    pub fn checked(input: &RosterUserInput) -> Result<SourceUser, Vec<RowError>> {
        let at = Locator {
            row: input.source_row,
            list: "users",
            index: 0,
        };
        let mut errors = Vec::new();
        check_user(input, &at, &mut errors).ok_or(errors)
    }

    pub fn user_id(&self) -> &str {
        &self.user_id
    }
    pub fn full_name(&self) -> &PersonName {
        &self.full_name
    }
    /// The usable addresses; empty on a card without one.
    pub fn emails(&self) -> &[Email] {
        &self.emails
    }
    /// The addresses on the card that cannot be a login, as written.
    pub fn unusable_emails(&self) -> &[String] {
        &self.unusable_emails
    }
    /// Every address on the card, usable ones first: what the export's
    /// `Emails` cell lists and what the import compares it with.
    pub fn addresses_as_written(&self) -> impl Iterator<Item = &str> {
        let usable = self.emails.iter().map(|e| e.as_str());
        usable.chain(self.unusable_emails.iter().map(String::as_str))
    }
    pub fn group(&self) -> &str {
        &self.group
    }
    pub fn position(&self) -> &str {
        &self.position
    }
    pub fn is_admin(&self) -> bool {
        self.is_admin
    }
    pub fn old_license(&self) -> Option<&str> {
        self.old_license.as_deref()
    }
    pub fn old_addons(&self) -> &[String] {
        &self.old_addons
    }
    pub fn on_travel(&self) -> bool {
        self.on_travel
    }
    pub fn active(&self) -> bool {
        self.active
    }
    /// The stored form: the input that checks back into this user (the
    /// addresses usable ones first, every text as normalised).
    pub fn to_input(&self) -> RosterUserInput {
        RosterUserInput {
            user_id: self.user_id.clone(),
            full_name: self.full_name.to_string(),
            emails: self.addresses_as_written().map(str::to_owned).collect(),
            group: self.group.clone(),
            position: self.position.clone(),
            is_admin: self.is_admin,
            old_license: self.old_license.clone(),
            old_addons: self.old_addons.clone(),
            on_travel: self.on_travel,
            active: self.active,
            source_row: None,
        }
    }

    /// Whether one of the user's addresses equals `address`, ignoring case.
    pub fn has_address(&self, address: &str) -> bool {
        self.emails
            .iter()
            .any(|e| Caseless(e.as_str()) == Caseless(address))
    }
}

/// A checked satellite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Satellite {
    name: String,
    active: bool,
}

impl Satellite {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn active(&self) -> bool {
        self.active
    }
}

/// The source's users and satellites, in upload order, user ids unique.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Roster {
    users: Vec<SourceUser>,
    satellites: Vec<Satellite>,
    /// user id → position in `users`, for O(1) lookups on million-row imports.
    #[serde(skip)]
    #[schema(ignore)]
    index: HashMap<String, usize>,
}

const MAX_USER_ID: usize = 64;
const MAX_TEXT: usize = 200;

impl Roster {
    /// Checks every user and satellite; reports every bad row. A duplicate user
    /// id is an error; a duplicate email across users is not (it is pre-flight
    /// check 2, resolvable by choosing user names).
    pub fn from_inputs(
        users: &[RosterUserInput],
        satellites: &[SatelliteInput],
    ) -> Result<Roster, Vec<RowError>> {
        let mut errors = Vec::new();
        let mut out = Vec::with_capacity(users.len());
        let mut index: HashMap<String, usize> = HashMap::with_capacity(users.len());
        // Input position of each accepted user, to name the first of a duplicate.
        let mut origin: Vec<usize> = Vec::with_capacity(users.len());
        for (i, input) in users.iter().enumerate() {
            let at = Locator {
                row: input.source_row,
                list: "users",
                index: i,
            };
            let Some(user) = check_user(input, &at, &mut errors) else {
                continue;
            };
            if let Some(&pos) = index.get(&user.user_id) {
                let first = Locator {
                    row: users[origin[pos]].source_row,
                    list: "users",
                    index: origin[pos],
                };
                errors.push(at.error(
                    "user_id",
                    &user.user_id,
                    codes::DUPLICATE_USER_ID,
                    format!(
                        "user id '{}' already appears at {}",
                        user.user_id,
                        first.describe()
                    ),
                ));
                continue;
            }
            index.insert(user.user_id.clone(), out.len());
            origin.push(i);
            out.push(user);
        }
        let mut sats: Vec<Satellite> = Vec::with_capacity(satellites.len());
        for (i, s) in satellites.iter().enumerate() {
            let at = Locator {
                row: s.source_row,
                list: "satellites",
                index: i,
            };
            let name = s.name.trim();
            if let Err(msg) = check_text(name, MAX_TEXT).and_then(|()| non_empty(name)) {
                errors.push(at.error("name", &s.name, codes::INVALID_SATELLITE, msg));
            } else if sats.iter().any(|o| o.name.eq_ignore_ascii_case(name)) {
                let msg = format!("satellite '{name}' is listed twice");
                errors.push(at.error("name", &s.name, codes::DUPLICATE_SATELLITE, msg));
            } else {
                sats.push(Satellite {
                    name: name.to_owned(),
                    active: s.active,
                });
            }
        }
        if errors.is_empty() {
            Ok(Roster {
                users: out,
                satellites: sats,
                index,
            })
        } else {
            Err(errors)
        }
    }

    pub fn users(&self) -> &[SourceUser] {
        &self.users
    }
    pub fn satellites(&self) -> &[Satellite] {
        &self.satellites
    }
    pub fn user(&self, user_id: &str) -> Option<&SourceUser> {
        self.position(user_id).map(|i| &self.users[i])
    }
    /// Position of a user in [`Roster::users`].
    pub fn position(&self, user_id: &str) -> Option<usize> {
        self.index.get(user_id).copied()
    }
    pub fn active_users(&self) -> impl Iterator<Item = &SourceUser> {
        self.users.iter().filter(|u| u.active)
    }
    /// Users with `email` among their addresses, case-insensitively.
    pub fn users_with_address<'a>(&'a self, email: &Email) -> impl Iterator<Item = &'a SourceUser> {
        self.users
            .iter()
            .filter(move |u| u.has_address(email.as_str()))
    }
    /// The wire form, for persisting a roster and loading it again through
    /// [`Roster::from_inputs`] (so stored data is re-checked, never trusted).
    pub fn to_inputs(&self) -> (Vec<RosterUserInput>, Vec<SatelliteInput>) {
        let users = self.users.iter().map(SourceUser::to_input).collect();
        let sats = self
            .satellites
            .iter()
            .map(|s| SatelliteInput {
                name: s.name.clone(),
                active: s.active,
                source_row: None,
            })
            .collect();
        (users, sats)
    }
}

/// One user of a streamed upload checked on its own, `index` being its
/// position in the upload (named in JSON errors): its stored form, or
/// every error of the row. The check across users — unique ids — is the
/// store's, reported with [`duplicate_user_id`].
pub fn check_upload_user(
    input: &RosterUserInput,
    index: usize,
) -> Result<RosterUserInput, Vec<RowError>> {
    let at = Locator {
        row: input.source_row,
        list: "users",
        index,
    };
    let mut errors = Vec::new();
    match check_user(input, &at, &mut errors) {
        Some(user) => Ok(user.to_input()),
        None => Err(errors),
    }
}

/// The error of a user whose id an earlier user of the same upload has:
/// `at` and `first` are (CSV row, upload position) of the two.
pub fn duplicate_user_id(
    user_id: &str,
    at: (Option<u64>, usize),
    first: (Option<u64>, usize),
) -> RowError {
    let locator = |(row, index)| Locator {
        row,
        list: "users",
        index,
    };
    locator(at).error(
        "user_id",
        user_id,
        codes::DUPLICATE_USER_ID,
        format!(
            "user id '{user_id}' already appears at {}",
            locator(first).describe()
        ),
    )
}

/// Checks satellites on their own (names, unique ignoring case): their
/// stored form, or every error.
pub fn check_satellites(
    satellites: &[SatelliteInput],
) -> Result<Vec<SatelliteInput>, Vec<RowError>> {
    Roster::from_inputs(&[], satellites).map(|r| r.to_inputs().1)
}

/// Names a row in errors: CSV row and column, or JSON path. Formatted only
/// when an error is reported, so a valid million-user roster allocates none.
struct Locator {
    row: Option<u64>,
    list: &'static str,
    index: usize,
}

impl Locator {
    fn error(&self, field: &str, value: &str, code: &'static str, message: String) -> RowError {
        RowError {
            row: self.row,
            field: match self.row {
                Some(_) => field.to_owned(),
                None => format!("{}[{}].{field}", self.list, self.index),
            },
            value: value.to_owned(),
            code,
            message,
        }
    }
    fn describe(&self) -> String {
        match self.row {
            Some(r) => format!("row {r}"),
            None => format!("{}[{}]", self.list, self.index),
        }
    }
}

fn check_user(
    input: &RosterUserInput,
    at: &Locator,
    errors: &mut Vec<RowError>,
) -> Option<SourceUser> {
    let before = errors.len();
    let user_id = input.user_id.trim();
    if let Err(msg) = check_text(user_id, MAX_USER_ID).and_then(|()| non_empty(user_id)) {
        errors.push(at.error("user_id", &input.user_id, codes::INVALID_USER_ID, msg));
    }
    let full_name = PersonName::parse(&input.full_name)
        .map_err(|e| {
            errors.push(at.error(
                "full_name",
                &input.full_name,
                codes::INVALID_NAME,
                e.message,
            ))
        })
        .ok();
    // A card's addresses are facts about the source: one that no mail system
    // would take as a login (or none at all) does not stop the roster from
    // loading. Such addresses are kept as written, apart from the usable
    // ones; pre-flight names the users left without a usable one, and the
    // migrator gives them a user name. Commas and semicolons separate
    // addresses in CSV cells, so a JSON entry holding several is split the
    // same way, and every address survives the export's round trip.
    let mut emails: Vec<Email> = Vec::with_capacity(input.emails.len());
    let mut unusable_emails: Vec<String> = Vec::new();
    for raw in input.emails.iter().flat_map(|e| e.split([',', ';'])) {
        let written = raw.trim();
        if written.is_empty() {
            continue;
        }
        match Email::parse(written) {
            // One card listing the same address twice is harmless: keep one.
            Ok(e)
                if emails
                    .iter()
                    .any(|o| Caseless(o.as_str()) == Caseless(e.as_str())) => {}
            Ok(e) => emails.push(e),
            // Shown in CSV cells and log lines like any other card text.
            Err(_) => match check_text(written, MAX_TEXT) {
                Err(msg) => errors.push(at.error("emails", raw, codes::INVALID_EMAIL, msg)),
                Ok(()) if unusable_emails.iter().any(|o| o == written) => {}
                Ok(()) => unusable_emails.push(written.to_owned()),
            },
        }
    }
    let mut text = |field: &str, raw: &str, max: usize| -> String {
        let s = raw.trim();
        if let Err(msg) = check_text(s, max) {
            errors.push(at.error(field, raw, codes::INVALID_TEXT, msg));
        }
        s.to_owned()
    };
    let group = text("group", &input.group, MAX_TEXT);
    let position = text("position", &input.position, MAX_TEXT);
    let old_license = input
        .old_license
        .as_deref()
        .map(|l| text("old_license", l, MAX_TEXT))
        .filter(|l| !l.is_empty());
    let old_addons = input
        .old_addons
        .iter()
        .map(|a| text("old_addons", a, MAX_TEXT))
        .filter(|a| !a.is_empty())
        .collect();
    if errors.len() > before {
        return None;
    }
    Some(SourceUser {
        user_id: user_id.to_owned(),
        full_name: full_name?,
        emails,
        unusable_emails,
        group,
        position,
        is_admin: input.is_admin,
        old_license,
        old_addons,
        on_travel: input.on_travel,
        active: input.active,
    })
}

/// Free text that ends up in CSV cells and log lines: bounded, no control chars.
fn check_text(s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("at most {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("no control characters".into());
    }
    Ok(())
}

fn non_empty(s: &str) -> Result<(), String> {
    if s.is_empty() {
        Err("required".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[path = "roster_tests.rs"]
mod tests;
