//! The overview (SPEC §3.4): per plan and add-on, who holds it today, how many
//! the draft assigns, and what the contract allows.

use serde::Serialize;
use utoipa::ToSchema;

use super::assignment::Assignments;
use super::caseless::Caseless;
use super::catalogue::Catalogue;
use super::roster::Roster;

/// One plan or add-on line of the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OverviewLine {
    pub name: String,
    /// Active users whose current (old) licence or add-ons carry this name.
    pub current_holders: u64,
    /// Users the draft assigns it to.
    pub assigned: u64,
    /// Contract capacity.
    pub capacity: u32,
    /// `capacity - assigned`; negative when over the contract.
    pub remaining: i64,
}

/// An existing (old) licence or add-on that no plan or add-on of the new
/// catalogue is called: summarised under its own name, so what users hold
/// today is visible beside what the contract offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OldLicenceLine {
    /// As first written on a card.
    pub name: String,
    /// Active users holding it today.
    pub current_holders: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Overview {
    pub plans: Vec<OverviewLine>,
    pub addons: Vec<OverviewLine>,
    /// Old licences under their own names, by name (ignoring case).
    pub old_licences: Vec<OldLicenceLine>,
    /// Old add-ons under their own names, by name (ignoring case).
    pub old_addons: Vec<OldLicenceLine>,
    /// Active users the draft leaves without a plan: they lose access.
    pub active_without_plan: u64,
}

/// Active users who hold the same old licence and add-ons, as a store
/// keeps them: the overview's "today" side without the roster itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldingGroup {
    pub old_license: Option<String>,
    pub old_addons: Vec<String>,
    /// Active users with exactly this licence and add-on list.
    pub holders: u64,
}

/// Draft entries of roster users that are alike: the overview's "draft"
/// side without the draft itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyGroup {
    pub plan: Option<String>,
    pub addons: Vec<String>,
    /// Whether these entries' users are active.
    pub active: bool,
    pub entries: u64,
}

/// Counts are by catalogue name, ignoring case. Current holders count active
/// users only: inactive ones are not part of the licence migration (not in the
/// export), so counting them would overstate what needs to be bought.
pub fn overview(roster: &Roster, catalogue: &Catalogue, assignments: &Assignments) -> Overview {
    let holdings: Vec<HoldingGroup> = roster
        .active_users()
        .map(|u| HoldingGroup {
            old_license: u.old_license().map(str::to_owned),
            old_addons: u.old_addons().to_vec(),
            holders: 1,
        })
        .collect();
    let tally: Vec<TallyGroup> = assignments
        .iter()
        .filter_map(|(user_id, a)| {
            let user = roster.user(user_id)?;
            Some(TallyGroup {
                plan: a.plan.clone(),
                addons: a.addons.clone(),
                active: user.active(),
                entries: 1,
            })
        })
        .collect();
    overview_from(&holdings, &tally, catalogue)
}

/// The overview from grouped counts: `holdings` in roster order of their
/// first holder (old names are shown as first written), `tally` in any
/// order. [`overview`] is this over groups of one, so both read the same.
pub fn overview_from(
    holdings: &[HoldingGroup],
    tally: &[TallyGroup],
    catalogue: &Catalogue,
) -> Overview {
    let mut plan_current = vec![0u64; catalogue.plans().len()];
    let mut plan_assigned = vec![0u64; catalogue.plans().len()];
    let mut addon_current = vec![0u64; catalogue.addons().len()];
    let mut addon_assigned = vec![0u64; catalogue.addons().len()];
    let mut active_users = 0u64;
    let mut active_with_plan = 0u64;
    let mut old_licences = OldNames::default();
    let mut old_addons = OldNames::default();

    for group in holdings {
        let n = group.holders;
        active_users += n;
        if let Some(l) = group
            .old_license
            .as_deref()
            .filter(|l| !l.trim().is_empty())
        {
            match catalogue.plan_position(l) {
                Some(i) => plan_current[i] += n,
                None => old_licences.add(l, n),
            }
        }
        for i in distinct(
            group
                .old_addons
                .iter()
                .filter_map(|a| catalogue.addon_position(a)),
        ) {
            addon_current[i] += n;
        }
        let mut seen: Vec<&str> = Vec::new();
        for a in &group.old_addons {
            let a = a.as_str();
            if a.trim().is_empty()
                || catalogue.addon_position(a).is_some()
                || seen.iter().any(|s| Caseless(s) == Caseless(a))
            {
                continue;
            }
            seen.push(a);
            old_addons.add(a, n);
        }
    }
    for group in tally {
        let n = group.entries;
        if group.active && group.plan.is_some() {
            active_with_plan += n;
        }
        if let Some(i) = group
            .plan
            .as_deref()
            .and_then(|p| catalogue.plan_position(p))
        {
            plan_assigned[i] += n;
        }
        for i in distinct(
            group
                .addons
                .iter()
                .filter_map(|x| catalogue.addon_position(x)),
        ) {
            addon_assigned[i] += n;
        }
    }

    let line = |name: &str, current, assigned, capacity: u32| OverviewLine {
        name: name.to_owned(),
        current_holders: current,
        assigned,
        capacity,
        remaining: i64::from(capacity) - i64::try_from(assigned).unwrap_or(i64::MAX),
    };
    Overview {
        plans: catalogue
            .plans()
            .iter()
            .enumerate()
            .map(|(i, p)| line(&p.name, plan_current[i], plan_assigned[i], p.capacity))
            .collect(),
        addons: catalogue
            .addons()
            .iter()
            .enumerate()
            .map(|(i, a)| line(&a.name, addon_current[i], addon_assigned[i], a.capacity))
            .collect(),
        old_licences: old_licences.lines(),
        old_addons: old_addons.lines(),
        active_without_plan: active_users.saturating_sub(active_with_plan),
    }
}

/// Old names counted ignoring case, shown as first written.
#[derive(Default)]
struct OldNames(std::collections::BTreeMap<String, OldLicenceLine>);

impl OldNames {
    fn add(&mut self, name: &str, holders: u64) {
        self.0
            .entry(name.trim().to_lowercase())
            .or_insert_with(|| OldLicenceLine {
                name: name.trim().to_owned(),
                current_holders: 0,
            })
            .current_holders += holders;
    }

    fn lines(self) -> Vec<OldLicenceLine> {
        self.0.into_values().collect()
    }
}

/// A user listing an add-on twice holds it once.
fn distinct(positions: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut out: Vec<usize> = positions.collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licensing::test_support::{assign, catalogue, draft, roster};

    fn by_name<'a>(lines: &'a [OverviewLine], name: &str) -> &'a OverviewLine {
        lines
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    }

    #[test]
    fn counts_current_assigned_capacity_and_remaining() {
        let o = overview(&roster(), &catalogue(), &draft());
        let std = by_name(&o.plans, "Standard");
        // Cid holds Standard today; Dee too, but she is inactive.
        assert_eq!(
            (
                std.current_holders,
                std.assigned,
                std.capacity,
                std.remaining
            ),
            (1, 1, 2, 1)
        );
        let mkt = by_name(&o.addons, "Marketing");
        assert_eq!(
            (mkt.current_holders, mkt.assigned, mkt.remaining),
            (1, 1, 0)
        );
        assert_eq!(o.active_without_plan, 1, "Eve");
    }

    /// Old licences that no new plan is called stay visible under their own
    /// names (ignoring case; active users only).
    #[test]
    fn old_licences_keep_their_own_names() {
        use crate::licensing::test_support::roster_inputs;
        let (mut users, sats) = roster_inputs();
        users[2].old_license = Some("Legacy Pro".into()); // Cid, active, first
        users[4].old_license = Some("legacy pro".into()); // Eve, active
        users[3].old_license = Some("Legacy Pro".into()); // Dee, inactive
        users[2].old_addons = vec!["Fax".into(), "fax".into(), "Marketing".into()];
        let r = Roster::from_inputs(&users, &sats).expect("roster");
        let o = overview(&r, &catalogue(), &draft());
        assert_eq!(
            o.old_licences,
            [OldLicenceLine {
                name: "Legacy Pro".into(),
                current_holders: 2
            }]
        );
        assert_eq!(
            o.old_addons,
            [OldLicenceLine {
                name: "Fax".into(),
                current_holders: 1
            }]
        );
        // Names the catalogue has are counted on their plan's line only.
        assert_eq!(by_name(&o.plans, "Standard").current_holders, 0);
        let o = overview(&roster(), &catalogue(), &draft());
        assert!(o.old_licences.is_empty() && o.old_addons.is_empty());
    }

    #[test]
    fn remaining_goes_negative_over_the_contract() {
        let mut d = draft();
        d.insert(
            "u5".into(),
            assign(Some("admin"), &[], Some("eve@acme.example")),
        );
        let o = overview(&roster(), &catalogue(), &d);
        assert_eq!(by_name(&o.plans, "Admin").remaining, -1);
        assert_eq!(o.active_without_plan, 0);
    }

    /// A store hands the overview groups, not users: groups of many must
    /// count what the same users count one by one (old names as first
    /// written, add-ons once per user, inactive users only in the draft).
    #[test]
    fn grouped_counts_read_like_the_users_one_by_one() {
        use crate::licensing::test_support::roster_inputs;
        let (mut users, sats) = roster_inputs();
        users[2].old_license = Some("Legacy Pro".into());
        users[4].old_license = Some("legacy pro".into());
        users[2].old_addons = vec!["Fax".into(), "fax".into(), "Marketing".into()];
        let r = Roster::from_inputs(&users, &sats).expect("roster");
        let mut d = draft();
        d.insert("u5".into(), assign(Some("admin"), &["marketing"], None));
        let one_by_one = overview(&r, &catalogue(), &d);
        // Each user's holding twice over, in two groups, and every entry
        // doubled: every count doubles, names and order stay.
        let mut holdings = Vec::new();
        for u in r.active_users() {
            holdings.push(HoldingGroup {
                old_license: u.old_license().map(str::to_owned),
                old_addons: u.old_addons().to_vec(),
                holders: 2,
            });
        }
        let tally: Vec<TallyGroup> = d
            .iter()
            .filter_map(|(id, a)| {
                Some(TallyGroup {
                    plan: a.plan.clone(),
                    addons: a.addons.clone(),
                    active: r.user(id)?.active(),
                    entries: 2,
                })
            })
            .collect();
        let grouped = overview_from(&holdings, &tally, &catalogue());
        assert_eq!(
            grouped.active_without_plan,
            2 * one_by_one.active_without_plan
        );
        for (g, o) in grouped.plans.iter().zip(&one_by_one.plans) {
            assert_eq!(
                (g.current_holders, g.assigned),
                (2 * o.current_holders, 2 * o.assigned),
                "{}",
                o.name
            );
        }
        assert_eq!(grouped.old_licences[0].name, "Legacy Pro");
        assert_eq!(grouped.old_licences[0].current_holders, 4);
        assert_eq!(grouped.old_addons[0].current_holders, 2);
        assert!(by_name(&one_by_one.plans, "Admin").assigned > 0);
        assert_eq!(
            by_name(&grouped.addons, "Marketing").assigned,
            2 * by_name(&one_by_one.addons, "Marketing").assigned
        );
    }
}
