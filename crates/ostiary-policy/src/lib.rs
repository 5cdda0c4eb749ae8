//! Conditional Access, Entra-compatible: the Graph `conditionalAccessPolicy` and `namedLocation`
//! shapes (round-tripped unchanged), Entra's validation rules, a compiled [`PolicySet`] that
//! evaluates one sign-in in microseconds with a What-If explanation per policy, the built-in
//! authentication strengths, and the lockout guard.
//! Pure: no IO, no clock, no randomness; callers pass facts and get decisions.

pub mod compile;
pub mod enums;
pub mod error;
pub mod evaluate;
pub mod facts;
pub mod location;
pub mod lockout;
pub mod model;
pub mod strength;
pub mod validate;

#[cfg(test)]
mod fuzz;

pub use compile::{
    BrowserPersistence, CompileOptions, Control, Controls, EVERY_TIME_TOLERANCE_SECS, FrequencyLimit,
    MICROSOFT_GRAPH_APP_ID, PolicySet,
};
pub use enums::{
    ConditionalAccessClientApp, ConditionalAccessDevicePlatform, ConditionalAccessGrantControl,
    ConditionalAccessRiskLevel, CountryLookupMethod, GrantOperator, PersistentBrowserMode, PolicyState,
    SignInFrequencyAuthenticationType, SignInFrequencyInterval, SignInFrequencyType,
};
pub use error::PolicyError;
pub use evaluate::{
    AppExclusion, AppliedDetail, AppliedPolicies, Detail, Evaluation, LocationMatch, NotApplied, Outcome, Place,
    Platforms, PolicyResult, PolicyResultKind, ReauthFactor, Requirement, SessionDecision, UserExclusion,
};
pub use facts::{
    AuthMethod, AuthMethods, AuthenticationFacts, ClientAppType, Platform, RiskLevel, SignInFacts, Subject,
    SubjectFacts, UserAction,
};
pub use location::{CountryNamedLocation, IpNamedLocation, IpRange, NamedLocation};
pub use lockout::{LockoutKind, LockoutRisk, Population, lockout_check};
pub use model::{
    ApplicationsCondition, AuthenticationStrengthRef, ClientApplicationsCondition, ConditionalAccessPolicy, Conditions,
    GrantControls, LocationsCondition, PersistentBrowser, PlatformsCondition, SessionControls, SignInFrequency,
    UsersCondition,
};
pub use strength::{BUILT_IN_STRENGTHS, BuiltInStrength, built_in_strength, builtin_strengths};
pub use validate::{validate_location, validate_policy};
