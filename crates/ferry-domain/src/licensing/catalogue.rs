//! The target tenant's licence catalogue and contract (SPEC §3.3): plans with
//! the number bought, add-ons, and which plans may carry add-ons.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caseless::Caseless;
use super::codes;
use super::csv_common::trim;
use crate::error::{FieldError, FieldErrors};
use crate::newtypes::schemas::CatalogueName;

/// A licence plan and its contract capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Plan {
    pub name: String,
    pub capacity: u32,
    pub addons_allowed: bool,
}

/// An add-on and its contract capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AddOn {
    pub name: String,
    pub capacity: u32,
}

/// A checked catalogue: names unique case-insensitively within plans and within
/// add-ons. Build it with [`Catalogue::parse`] or [`Catalogue::default_catalogue`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Catalogue {
    plans: Vec<Plan>,
    addons: Vec<AddOn>,
}

/// Request body that sets a migration's catalogue. Capacities are signed here
/// so that a negative number is reported as a field error, not a serde failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueInput {
    pub plans: Vec<PlanInput>,
    #[serde(default)]
    pub addons: Vec<AddOnInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// Unique among the plans (ignoring case).
    #[schema(value_type = CatalogueName)]
    pub name: String,
    /// Licences bought.
    #[schema(minimum = 0, maximum = 4294967295_i64, example = 50)]
    pub capacity: i64,
    #[serde(default)]
    pub addons_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddOnInput {
    /// Unique among the add-ons (ignoring case).
    #[schema(value_type = CatalogueName)]
    pub name: String,
    /// Licences bought.
    #[schema(minimum = 0, maximum = 4294967295_i64, example = 20)]
    pub capacity: i64,
}

const MAX_NAME: usize = 64;

impl Catalogue {
    /// The starting point of every migration until the contract is entered:
    /// the product's four plans, `Admin` and `Engage` add-on capable (SPEC §3.3).
    pub fn default_catalogue() -> Self {
        let plan = |name: &str, capacity, addons_allowed| Plan {
            name: name.to_owned(),
            capacity,
            addons_allowed,
        };
        let addon = |name: &str, capacity| AddOn {
            name: name.to_owned(),
            capacity,
        };
        Self {
            plans: vec![
                plan("Admin", 5, true),
                plan("Engage", 50, true),
                plan("Standard", 100, false),
                plan("Basic", 100, false),
            ],
            addons: vec![addon("Marketing", 20), addon("Analytics", 20)],
        }
    }

    /// Checks names (non-empty, ≤ 64 chars, no control characters, no `,` or
    /// `;` because those separate add-ons in a CSV cell, unique ignoring case)
    /// and capacities (0 to `u32::MAX`); reports every problem.
    pub fn parse(input: &CatalogueInput) -> Result<Self, FieldErrors> {
        let mut errs = FieldErrors::default();
        let mut plans: Vec<Plan> = Vec::new();
        for (i, p) in input.plans.iter().enumerate() {
            let name = errs.check(&format!("plans[{i}].name"), check_name(&p.name));
            let capacity = errs.check(&format!("plans[{i}].capacity"), check_capacity(p.capacity));
            if let Some(name) = &name
                && plans.iter().any(|o| same_name(&o.name, name))
            {
                errs.0.push(FieldError::new(
                    format!("plans[{i}].name"),
                    codes::DUPLICATE_PLAN,
                    format!("plan '{name}' is listed twice"),
                ));
                continue;
            }
            if let (Some(name), Some(capacity)) = (name, capacity) {
                plans.push(Plan {
                    name,
                    capacity,
                    addons_allowed: p.addons_allowed,
                });
            }
        }
        let mut addons: Vec<AddOn> = Vec::new();
        for (i, a) in input.addons.iter().enumerate() {
            let name = errs.check(&format!("addons[{i}].name"), check_name(&a.name));
            let capacity = errs.check(&format!("addons[{i}].capacity"), check_capacity(a.capacity));
            if let Some(name) = &name
                && addons.iter().any(|o| same_name(&o.name, name))
            {
                errs.0.push(FieldError::new(
                    format!("addons[{i}].name"),
                    codes::DUPLICATE_ADDON,
                    format!("add-on '{name}' is listed twice"),
                ));
                continue;
            }
            if let (Some(name), Some(capacity)) = (name, capacity) {
                addons.push(AddOn { name, capacity });
            }
        }
        errs.into_result(|| Self { plans, addons })
    }

    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }
    pub fn addons(&self) -> &[AddOn] {
        &self.addons
    }

    /// The plan named `name`, ignoring case and surrounding spaces.
    pub fn plan(&self, name: &str) -> Option<&Plan> {
        self.plan_position(name).map(|i| &self.plans[i])
    }

    /// The add-on named `name`, ignoring case and surrounding spaces.
    pub fn addon(&self, name: &str) -> Option<&AddOn> {
        self.addon_position(name).map(|i| &self.addons[i])
    }

    pub(crate) fn plan_position(&self, name: &str) -> Option<usize> {
        let name = trim(name);
        self.plans.iter().position(|p| same_name(&p.name, name))
    }

    pub(crate) fn addon_position(&self, name: &str) -> Option<usize> {
        let name = trim(name);
        self.addons.iter().position(|a| same_name(&a.name, name))
    }

    /// The wire form, for persisting and re-checking on load.
    pub fn to_input(&self) -> CatalogueInput {
        CatalogueInput {
            plans: self
                .plans
                .iter()
                .map(|p| PlanInput {
                    name: p.name.clone(),
                    capacity: i64::from(p.capacity),
                    addons_allowed: p.addons_allowed,
                })
                .collect(),
            addons: self
                .addons
                .iter()
                .map(|a| AddOnInput {
                    name: a.name.clone(),
                    capacity: i64::from(a.capacity),
                })
                .collect(),
        }
    }
}

impl Default for Catalogue {
    fn default() -> Self {
        Self::default_catalogue()
    }
}

/// Names as typed mostly match the catalogue's spelling exactly, which is
/// cheaper to see than a case-insensitive match.
fn same_name(a: &str, b: &str) -> bool {
    a == b || Caseless(a) == Caseless(b)
}

fn check_name(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    let bad = |msg: &str| FieldError::new("name", codes::INVALID_CATALOGUE_NAME, msg);
    if s.is_empty() || s.chars().count() > MAX_NAME {
        return Err(bad("a name has 1 to 64 characters"));
    }
    if s.chars().any(|c| c.is_control() || c == ',' || c == ';') {
        return Err(bad("a name has no control characters, ',' or ';'"));
    }
    if let Some(c) = crate::text::first_format_control(s) {
        return Err(bad(&format!(
            "a name has no bidirectional or invisible format characters ({} here)",
            crate::text::code_point(c)
        )));
    }
    Ok(s.to_owned())
}

fn check_capacity(raw: i64) -> Result<u32, FieldError> {
    u32::try_from(raw).map_err(|_| {
        FieldError::new(
            "capacity",
            codes::INVALID_CAPACITY,
            format!("a capacity is a whole number from 0 to {}", u32::MAX),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str, capacity: i64) -> PlanInput {
        PlanInput {
            name: name.into(),
            capacity,
            addons_allowed: false,
        }
    }

    #[test]
    fn default_catalogue_marks_admin_and_engage_addon_capable() {
        let c = Catalogue::default_catalogue();
        let capable: Vec<_> = c
            .plans()
            .iter()
            .filter(|p| p.addons_allowed)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(capable, ["Admin", "Engage"]);
        assert!(c.addon("marketing").is_some() && c.addon("Analytics").is_some());
        assert_eq!(Catalogue::parse(&c.to_input()).expect("round trip"), c);
    }

    #[test]
    fn lookup_ignores_case_and_returns_the_canonical_name() {
        let c = Catalogue::default_catalogue();
        assert_eq!(c.plan(" engage ").map(|p| p.name.as_str()), Some("Engage"));
        assert_eq!(c.plan("ENGAGE").map(|p| p.name.as_str()), Some("Engage"));
        assert_eq!(
            c.addon("ANALYTICS").map(|a| a.name.as_str()),
            Some("Analytics")
        );
        assert!(c.plan("Premium").is_none());
        assert!(c.plan("").is_none());
    }

    #[test]
    fn names_that_display_as_another_are_refused() {
        for name in ["Eng\u{200B}age", "\u{202E}egagnE", "Basic\u{FEFF}"] {
            let err = check_name(name).expect_err(name);
            assert_eq!(err.code, codes::INVALID_CATALOGUE_NAME);
            assert!(err.message.contains("U+"), "{}", err.message);
        }
        assert!(check_name("Премиум").is_ok());
    }

    #[test]
    fn every_problem_is_reported() {
        let input = CatalogueInput {
            plans: vec![plan("Pro", 3), plan("pro", 1), plan("", -1), plan("A,B", 1)],
            addons: vec![
                AddOnInput {
                    name: "X".into(),
                    capacity: i64::from(u32::MAX) + 1,
                },
                AddOnInput {
                    name: "Y".into(),
                    capacity: 0,
                },
                AddOnInput {
                    name: "y".into(),
                    capacity: 0,
                },
            ],
        };
        let errs = Catalogue::parse(&input).expect_err("invalid");
        let got: Vec<_> = errs.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            vec![
                ("plans[1].name", codes::DUPLICATE_PLAN),
                ("plans[2].name", codes::INVALID_CATALOGUE_NAME),
                ("plans[2].capacity", codes::INVALID_CAPACITY),
                ("plans[3].name", codes::INVALID_CATALOGUE_NAME),
                ("addons[0].capacity", codes::INVALID_CAPACITY),
                ("addons[2].name", codes::DUPLICATE_ADDON),
            ]
        );
    }

    #[test]
    fn zero_capacity_and_shared_plan_addon_names_are_fine() {
        let input = CatalogueInput {
            plans: vec![plan("Same", 0)],
            addons: vec![AddOnInput {
                name: "Same".into(),
                capacity: 0,
            }],
        };
        assert!(Catalogue::parse(&input).is_ok());
    }
}
