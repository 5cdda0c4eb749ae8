//! Identity-protection risk detections, Entra-flavoured: which detections a sign-in attempt
//! raises (`passwordSpray`, `unlikelyTravel`, `unfamiliarFeatures`, `anonymizedIPAddress`,
//! `maliciousIPAddress`, `leakedCredentials`, and Ostiary's `bruteForce`), sign-in and user
//! risk levels, and the admin/user state transitions on stored detections.
//! Pure: the caller supplies every fact (time, GeoIP, lists) and persists the small state
//! records (`UserProfile`, `SourceWindow`, `AccountWindow`) between attempts.

pub mod aggregate;
pub mod attempt;
pub mod breached;
pub mod config;
pub mod detect;
pub mod error;
pub mod geo;
pub mod iprange;
pub mod level;
pub mod state;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

pub use aggregate::{
    RiskyUserState, StoredDetection, Target, Transition, confirm_compromised, confirm_safe, dismiss,
    remediate_by_secure_password_change, risky_user_state, user_risk,
};
pub use attempt::{Attempt, network_of};
pub use breached::{BreachedPasswords, ListFormat, Sha1Digest};
pub use config::{AADSTS_INVALID_PASSWORD, DetectionLevels, RiskConfig};
pub use detect::{Detection, assess, sign_in_risk};
pub use error::RiskError;
pub use geo::{COUNTRY_CENTROIDS, country_centroid, haversine_km};
pub use iprange::IpRangeSet;
pub use level::{DetectionTiming, RiskDetail, RiskEventType, RiskLevel, RiskState};
pub use state::{AccountFailure, AccountWindow, LastSuccess, Reported, Seen, SourceFailure, SourceWindow, UserProfile};
