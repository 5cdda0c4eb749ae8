//! The lockout guard: before a policy is saved, would it shut every administrator out of the
//! admin API? Checked against the tenant's Global Administrators with the same matching code the
//! evaluator uses.

use std::fmt::Write as _;
use std::sync::Arc;

use uuid::Uuid;

use crate::compile::{CompileOptions, CompiledPolicy, Control, MICROSOFT_GRAPH_APP_ID, PolicySet};
use crate::enums::PolicyState;
use crate::evaluate::{Detail, interactive};
use crate::facts::{SignInFacts, SubjectFacts};
use crate::model::{self, ConditionalAccessPolicy, items};

/// Who must keep access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Population {
    /// Every Global Administrator with their groups and roles.
    pub global_admins: Vec<SubjectFacts>,
    /// Break-glass accounts: they do not count as "an administrator who keeps access", but the
    /// explanation says which of them the policy excludes.
    pub emergency_access_ids: Vec<Uuid>,
    /// Also report a policy that includes All users with no exclusion at all.
    pub all_users: bool,
    /// Ostiary's admin app ids (UI, CLI) besides Microsoft Graph, which is always covered.
    pub admin_app_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockoutKind {
    /// Applies to every Global Administrator who is not an emergency-access account.
    AllGlobalAdministrators,
    /// Includes All users and excludes no user, group or role.
    AllUsersWithoutExclusions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutRisk {
    pub policy_id: String,
    pub kind: LockoutKind,
    /// The control nobody can meet (`block`, `compliantDevice`, …).
    pub control: Control,
    /// Administrators (not emergency-access) the policy would shut out.
    pub locked_out_admins: Vec<Uuid>,
    pub excluded_emergency_accounts: Vec<Uuid>,
    pub covered_emergency_accounts: Vec<Uuid>,
    pub explanation: String,
}

/// The control that makes the grant impossible to meet, if any.
fn impossible_control(p: &CompiledPolicy) -> Option<Control> {
    let controls = &p.grant.controls;
    if controls.contains(&Control::Block) {
        return Some(Control::Block);
    }
    // Device compliance counts as unmeetable here: an admin locked out from every
    // non-compliant device is a lockout for all practical purposes.
    let possible = |c: Control| interactive(c, p, true);
    if p.grant.or {
        if !controls.is_empty() && !controls.iter().any(|c| possible(*c)) { controls.first().copied() } else { None }
    } else {
        controls.iter().copied().find(|c| !possible(*c))
    }
}

/// A condition that leaves some way in (a location, platform, client app or risk level).
fn narrowing(p: &CompiledPolicy) -> Option<&'static str> {
    let all_locations = p.include_locations.as_ref().is_none_or(|r| r.all) && p.exclude_locations.is_none();
    if !all_locations {
        return Some("locations");
    }
    if p.include_platforms.is_some() || p.exclude_platforms != 0 || p.exclude_all_platforms {
        return Some("platforms");
    }
    // Browser, mobile/desktop and other together are every type a sign-in here can have.
    if p.client_app_types.is_some_and(|m| m & 0b111 != 0b111) {
        return Some("client app types");
    }
    if p.sign_in_risk.is_some() || p.user_risk.is_some() {
        return Some("risk levels");
    }
    None
}

fn list(ids: &[Uuid]) -> String {
    ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ")
}

/// Reports when saving `policy` could lock every administrator out. Only enabled policies are
/// checked (report-only ones are never enforced).
pub fn lockout_check(policy: &ConditionalAccessPolicy, population: &Population) -> Option<LockoutRisk> {
    if policy.state != PolicyState::Enabled {
        return None;
    }
    let mut admin_apps = vec![MICROSOFT_GRAPH_APP_ID];
    admin_apps.extend(population.admin_app_ids.iter().copied().filter(|a| *a != MICROSOFT_GRAPH_APP_ID));
    let options = CompileOptions { admin_portal_app_ids: admin_apps.clone(), office365_app_ids: Vec::new() };
    let set = Arc::new(PolicySet::compile_with(std::slice::from_ref(policy), &[], &options));
    let p = set.policies.first()?;
    if p.workload {
        return None;
    }
    let control = impossible_control(p)?;
    if narrowing(p).is_some() {
        return None;
    }

    // An admin entry point the policy covers: matched by a synthetic subject every user
    // condition includes, so only the application condition decides.
    let applies = |subject: SubjectFacts, app: Uuid| {
        let facts = SignInFacts::user(subject, app);
        let evaluation = set.evaluate(&facts);
        evaluation.policies().next().is_some_and(|r| matches!(r.detail, Detail::Applied(_)))
    };
    let covered_apps: Vec<Uuid> = admin_apps
        .iter()
        .copied()
        .filter(|app| {
            let included = p.apps_all
                || p.admin_portals_include
                || set.apps.get(app).is_some_and(|postings| !postings.include.is_empty());
            let excluded =
                p.admin_portals_exclude || set.apps.get(app).is_some_and(|postings| !postings.exclude.is_empty());
            included && !excluded
        })
        .collect();
    let app = *covered_apps.first()?;

    let is_emergency = |id: &Uuid| population.emergency_access_ids.contains(id);
    let regular: Vec<&SubjectFacts> = population.global_admins.iter().filter(|a| !is_emergency(&a.id)).collect();
    let candidates: Vec<&SubjectFacts> =
        if regular.is_empty() { population.global_admins.iter().collect() } else { regular };
    let admins_locked_out = !candidates.is_empty() && candidates.iter().all(|a| applies((*a).clone(), app));

    let (mut excluded_emergency, mut covered_emergency) = (Vec::new(), Vec::new());
    for id in &population.emergency_access_ids {
        let subject = population
            .global_admins
            .iter()
            .find(|a| a.id == *id)
            .cloned()
            .unwrap_or_else(|| SubjectFacts { id: *id, ..SubjectFacts::default() });
        if applies(subject, app) { covered_emergency.push(*id) } else { excluded_emergency.push(*id) }
    }

    let users = policy.conditions.users.as_ref();
    let all_users_unexcluded = users.is_some_and(|u| {
        items(&u.include_users).iter().any(|v| v == model::ALL)
            && items(&u.exclude_users).is_empty()
            && items(&u.exclude_groups).is_empty()
            && items(&u.exclude_roles).is_empty()
    });
    let kind = if admins_locked_out {
        LockoutKind::AllGlobalAdministrators
    } else if population.all_users && all_users_unexcluded {
        LockoutKind::AllUsersWithoutExclusions
    } else {
        return None;
    };

    let locked_out_admins: Vec<Uuid> =
        if admins_locked_out { candidates.iter().map(|a| a.id).collect() } else { Vec::new() };
    let apps = if p.apps_all { "All cloud apps".to_owned() } else { format!("the admin apps {}", list(&covered_apps)) };
    let mut explanation = format!(
        "Policy '{}' is enabled, requires {} (which cannot be met), covers {apps}, and no location, platform, \
         client app type or risk condition narrows it. ",
        policy.display_name,
        control.graph_name(),
    );
    match kind {
        LockoutKind::AllGlobalAdministrators => {
            let _ = write!(
                explanation,
                "It applies to every Global Administrator who is not an emergency-access account ({}: {}).",
                locked_out_admins.len(),
                list(&locked_out_admins)
            );
        }
        LockoutKind::AllUsersWithoutExclusions => {
            explanation.push_str("It includes All users and excludes no user, group or role.");
        }
    }
    if !excluded_emergency.is_empty() {
        let _ = write!(explanation, " Emergency-access accounts it excludes: {}.", list(&excluded_emergency));
    }
    if !covered_emergency.is_empty() {
        let _ = write!(explanation, " Emergency-access accounts it does not exclude: {}.", list(&covered_emergency));
    }
    explanation.push_str(" Saving it could lock every administrator out; exclude a group of administrators or the emergency-access accounts, or start in report-only mode.");

    Some(LockoutRisk {
        policy_id: policy.id.clone(),
        kind,
        control,
        locked_out_admins,
        excluded_emergency_accounts: excluded_emergency,
        covered_emergency_accounts: covered_emergency,
        explanation,
    })
}
