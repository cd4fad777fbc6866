//! The overview (SPEC §3.4): per plan and add-on, who holds it today, how many
//! the draft assigns, and what the contract allows.

use serde::Serialize;
use utoipa::ToSchema;

use super::assignment::Assignments;
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Overview {
    pub plans: Vec<OverviewLine>,
    pub addons: Vec<OverviewLine>,
    /// Active users the draft leaves without a plan: they lose access.
    pub active_without_plan: u64,
}

/// Counts are by catalogue name, ignoring case. Current holders count active
/// users only: inactive ones are not part of the licence migration (not in the
/// export), so counting them would overstate what needs to be bought.
pub fn overview(roster: &Roster, catalogue: &Catalogue, assignments: &Assignments) -> Overview {
    let mut plan_current = vec![0u64; catalogue.plans().len()];
    let mut plan_assigned = vec![0u64; catalogue.plans().len()];
    let mut addon_current = vec![0u64; catalogue.addons().len()];
    let mut addon_assigned = vec![0u64; catalogue.addons().len()];
    let mut active_without_plan = 0;

    for user in roster.active_users() {
        if let Some(i) = user.old_license().and_then(|l| catalogue.plan_position(l)) {
            plan_current[i] += 1;
        }
        for i in distinct(
            user.old_addons()
                .iter()
                .filter_map(|a| catalogue.addon_position(a)),
        ) {
            addon_current[i] += 1;
        }
        if assignments
            .get(user.user_id())
            .is_none_or(|a| a.plan.is_none())
        {
            active_without_plan += 1;
        }
    }
    for (user_id, a) in assignments {
        if roster.user(user_id).is_none() {
            continue;
        }
        if let Some(i) = a.plan.as_deref().and_then(|p| catalogue.plan_position(p)) {
            plan_assigned[i] += 1;
        }
        for i in distinct(a.addons.iter().filter_map(|x| catalogue.addon_position(x))) {
            addon_assigned[i] += 1;
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
        active_without_plan,
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
}
