//! User risk from stored detections, and the state changes admins and users cause
//! (confirm compromised, dismiss, confirm safe, remediate by a secure password change).
//!
//! Aggregation: user risk is the highest level among `atRisk` detections, and `high` as soon as
//! one is `confirmedCompromised`; `dismissed`, `remediated` and `confirmedSafe` detections do
//! not count. Several medium detections stay medium: Entra's model is learned and not
//! published, and "two mediums make a high" would be our invention, so we keep the maximum.
//! Detections do not age out here; the store's retention decides how long they exist.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::detect::Detection;
use crate::level::{RiskDetail, RiskEventType, RiskLevel, RiskState};

/// A detection as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDetection {
    pub id: Uuid,
    pub event_type: RiskEventType,
    pub level: RiskLevel,
    pub state: RiskState,
    pub detail: RiskDetail,
    /// Unix seconds of the sign-in it is about.
    pub time: i64,
    /// Unix seconds of the last state change (`lastUpdatedDateTime`).
    pub last_updated: i64,
}

impl StoredDetection {
    /// A fresh detection: `atRisk`, detail `none`.
    pub fn new(id: Uuid, d: &Detection, now: i64) -> Self {
        StoredDetection {
            id,
            event_type: d.event_type,
            level: d.level,
            state: RiskState::AtRisk,
            detail: RiskDetail::None,
            time: d.activity_time,
            last_updated: now,
        }
    }
}

/// The `riskyUser` fields derived from a user's detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskyUserState {
    pub level: RiskLevel,
    pub state: RiskState,
    pub detail: RiskDetail,
    /// `riskLastUpdatedDateTime`: the latest `last_updated`, `None` without detections.
    pub last_updated: Option<i64>,
}

/// User risk level: see the module documentation.
pub fn user_risk(detections: &[StoredDetection]) -> RiskLevel {
    detections.iter().fold(RiskLevel::None, |acc, d| match d.state {
        RiskState::ConfirmedCompromised => acc.max(RiskLevel::High),
        RiskState::AtRisk => acc.max(d.level),
        _ => acc,
    })
}

/// The risky-user view: `confirmedCompromised` if any detection is, else `atRisk` if any is,
/// else the state and detail of the most recently closed detection (so a dismissed user reads
/// `dismissed` / `adminDismissedAllRiskForUser`), else `none`.
pub fn risky_user_state(detections: &[StoredDetection]) -> RiskyUserState {
    let level = user_risk(detections);
    let last_updated = detections.iter().map(|d| d.last_updated).max();
    let latest = |state: Option<RiskState>| {
        detections
            .iter()
            .filter(|d| state.map_or(!d.state.is_open() && d.state != RiskState::None, |s| d.state == s))
            .max_by_key(|d| d.last_updated)
    };
    let (state, detail) = if let Some(d) = latest(Some(RiskState::ConfirmedCompromised)) {
        (RiskState::ConfirmedCompromised, d.detail)
    } else if latest(Some(RiskState::AtRisk)).is_some() {
        (RiskState::AtRisk, RiskDetail::None)
    } else if let Some(d) = latest(None) {
        (d.state, d.detail)
    } else {
        (RiskState::None, RiskDetail::None)
    };
    RiskyUserState { level, state, detail, last_updated }
}

/// Which detections an admin action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The user as a whole (Graph `riskyUsers/confirmCompromised`, `dismiss`).
    All,
    /// Specific detections or sign-ins (Graph `riskySignIns`-style actions).
    Only(&'a [Uuid]),
}

/// The result of a transition: every detection (same order, updated in place, any new one
/// appended), how many changed or were added, and the resulting risky-user view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub detections: Vec<StoredDetection>,
    pub changed: usize,
    pub user: RiskyUserState,
}

/// Admin confirms compromise. `All`: every `atRisk` detection becomes `confirmedCompromised`
/// (`adminConfirmedUserCompromised`, level high) and, as Entra does, an
/// `adminConfirmedUserCompromised` detection with id `new_id` is added (once: not while an open
/// one exists), so the user is high even with no detections before. `Only`: the listed
/// detections, whatever their state, become `confirmedCompromised`
/// (`adminConfirmedSigninCompromised`, level high); `new_id` is unused.
pub fn confirm_compromised(detections: &[StoredDetection], target: Target<'_>, now: i64, new_id: Uuid) -> Transition {
    let mut out = detections.to_vec();
    let mut changed = 0;
    match target {
        Target::All => {
            changed += apply(
                &mut out,
                now,
                |d| d.state == RiskState::AtRisk,
                |d| {
                    d.state = RiskState::ConfirmedCompromised;
                    d.detail = RiskDetail::AdminConfirmedUserCompromised;
                    d.level = RiskLevel::High;
                },
            );
            let has_marker = out.iter().any(|d| {
                d.event_type == RiskEventType::AdminConfirmedUserCompromised
                    && d.state == RiskState::ConfirmedCompromised
            });
            if !has_marker {
                out.push(StoredDetection {
                    id: new_id,
                    event_type: RiskEventType::AdminConfirmedUserCompromised,
                    level: RiskLevel::High,
                    state: RiskState::ConfirmedCompromised,
                    detail: RiskDetail::AdminConfirmedUserCompromised,
                    time: now,
                    last_updated: now,
                });
                changed += 1;
            }
        }
        Target::Only(ids) => {
            changed += apply(
                &mut out,
                now,
                |d| ids.contains(&d.id) && d.state != RiskState::ConfirmedCompromised,
                |d| {
                    d.state = RiskState::ConfirmedCompromised;
                    d.detail = RiskDetail::AdminConfirmedSigninCompromised;
                    d.level = RiskLevel::High;
                },
            );
        }
    }
    finish(out, changed)
}

/// Admin dismisses the user's risk: every open detection (`atRisk` or `confirmedCompromised`)
/// becomes `dismissed` / `adminDismissedAllRiskForUser`. Levels are kept as history.
pub fn dismiss(detections: &[StoredDetection], now: i64) -> Transition {
    close_open(detections, now, RiskState::Dismissed, RiskDetail::AdminDismissedAllRiskForUser)
}

/// Admin confirms sign-ins safe: the targeted open detections become `confirmedSafe` /
/// `adminConfirmedSigninSafe`. (`adminConfirmedAccountSafe` is an evolvable member most
/// clients do not request, so the sign-in value is used for `All` too.)
pub fn confirm_safe(detections: &[StoredDetection], target: Target<'_>, now: i64) -> Transition {
    let mut out = detections.to_vec();
    let changed = apply(
        &mut out,
        now,
        |d| {
            d.state.is_open()
                && match target {
                    Target::All => true,
                    Target::Only(ids) => ids.contains(&d.id),
                }
        },
        |d| {
            d.state = RiskState::ConfirmedSafe;
            d.detail = RiskDetail::AdminConfirmedSigninSafe;
        },
    );
    finish(out, changed)
}

/// The user changed their password after strong authentication (or an admin reset it for
/// them through a secure flow): every open detection becomes `remediated` /
/// `userPerformedSecuredPasswordChange`.
pub fn remediate_by_secure_password_change(detections: &[StoredDetection], now: i64) -> Transition {
    close_open(detections, now, RiskState::Remediated, RiskDetail::UserPerformedSecuredPasswordChange)
}

fn close_open(detections: &[StoredDetection], now: i64, state: RiskState, detail: RiskDetail) -> Transition {
    let mut out = detections.to_vec();
    let changed = apply(
        &mut out,
        now,
        |d| d.state.is_open(),
        |d| {
            d.state = state;
            d.detail = detail;
        },
    );
    finish(out, changed)
}

fn apply(
    list: &mut [StoredDetection],
    now: i64,
    select: impl Fn(&StoredDetection) -> bool,
    change: impl Fn(&mut StoredDetection),
) -> usize {
    let mut n = 0;
    for d in list.iter_mut().filter(|d| select(d)) {
        change(d);
        d.last_updated = now;
        n += 1;
    }
    n
}

fn finish(detections: Vec<StoredDetection>, changed: usize) -> Transition {
    let user = risky_user_state(&detections);
    Transition { detections, changed, user }
}
