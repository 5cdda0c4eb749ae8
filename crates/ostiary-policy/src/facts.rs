//! What the caller knows about one sign-in or token request. The caller computes everything
//! (transitive groups, geo-IP country, risk, authentication ages); this crate only decides.

use std::net::IpAddr;

use uuid::Uuid;

use crate::model::{REGISTER_DEVICE, REGISTER_SECURITY_INFO};

/// A user as Conditional Access sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectFacts {
    pub id: Uuid,
    /// Transitive group memberships (the caller expands nesting).
    pub group_ids: Vec<Uuid>,
    /// Directory role *template* ids (what `wids` carries).
    pub role_template_ids: Vec<Uuid>,
    /// `userType == Guest` or an external identity: matches `GuestsOrExternalUsers`.
    pub is_guest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    User(SubjectFacts),
    /// A workload identity (client credentials): `id` is the service principal's object id.
    ServicePrincipal {
        id: Uuid,
        app_id: Uuid,
    },
}

/// The client app types a sign-in here can have (Ostiary speaks neither EAS nor legacy protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAppType {
    Browser,
    MobileAppsAndDesktopClients,
    Other,
}

impl ClientAppType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::MobileAppsAndDesktopClients => "mobileAppsAndDesktopClients",
            Self::Other => "other",
        }
    }
}

/// A device platform as detected for one sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Android,
    IOs,
    Windows,
    WindowsPhone,
    MacOs,
    Linux,
}

impl Platform {
    pub const ALL: [Platform; 6] =
        [Self::Android, Self::IOs, Self::Windows, Self::WindowsPhone, Self::MacOs, Self::Linux];

    /// Graph's spelling (`iOS`, `macOS`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::IOs => "iOS",
            Self::Windows => "windows",
            Self::WindowsPhone => "windowsPhone",
            Self::MacOs => "macOS",
            Self::Linux => "linux",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        match self {
            Self::Android => 1,
            Self::IOs => 2,
            Self::Windows => 4,
            Self::WindowsPhone => 8,
            Self::MacOs => 16,
            Self::Linux => 32,
        }
    }

    /// The platform a `User-Agent` names, or `None` when it names none (curl, most SDKs).
    ///
    /// Order matters: Windows Phone UAs also say "Android" and "Windows", Android UAs say
    /// "Linux", ChromeOS says "X11" (and is not a Graph platform). iPadOS 13+ Safari sends a
    /// desktop macOS UA by default and is therefore detected as macOS, as Entra does. A bare
    /// `CFNetwork/… Darwin/…` native UA is left unknown: it is sent by iOS and macOS alike.
    pub fn from_user_agent(user_agent: &str) -> Option<Platform> {
        let ua = user_agent.as_bytes();
        let has = |needle: &str| contains_ignore_ascii_case(ua, needle.as_bytes());
        if has("windows phone") || has("windowsphone") || has("windows mobile") {
            Some(Self::WindowsPhone)
        } else if has("iphone") || has("ipad") || has("ipod") || has("cpu os ") || has("; ios ") || has("-ios/") {
            Some(Self::IOs)
        } else if has("android") {
            Some(Self::Android)
        } else if has("windows") || has("win64") || has("win32") || has("wow64") {
            Some(Self::Windows)
        } else if has("macintosh") || has("mac os x") || has("macos") {
            Some(Self::MacOs)
        } else if has("cros") {
            None
        } else if has("linux") || has("x11") || has("ubuntu") || has("fedora") || has("freebsd") {
            Some(Self::Linux)
        } else {
            None
        }
    }
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// Identity Protection's risk for a sign-in, a user or a service principal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskLevel {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        match self {
            Self::None => 1,
            Self::Low => 2,
            Self::Medium => 4,
            Self::High => 8,
        }
    }
}

/// A request that is a user action rather than access to a cloud app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserAction {
    RegisterSecurityInfo,
    RegisterDevice,
}

impl UserAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegisterSecurityInfo => REGISTER_SECURITY_INFO,
            Self::RegisterDevice => REGISTER_DEVICE,
        }
    }

    pub fn parse(urn: &str) -> Option<Self> {
        match urn {
            REGISTER_SECURITY_INFO => Some(Self::RegisterSecurityInfo),
            REGISTER_DEVICE => Some(Self::RegisterDevice),
            _ => None,
        }
    }

    pub(crate) fn bit(self) -> u8 {
        match self {
            Self::RegisterSecurityInfo => 1,
            Self::RegisterDevice => 2,
        }
    }
}

/// A method this session used. `RecoveryCode` is Ostiary's one-time recovery code; for
/// authentication strengths it counts as Entra's `temporaryAccessPassOneTime` (both are
/// single-use codes that stand in for a second factor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Password,
    /// TOTP.
    SoftwareOath,
    /// A passkey / security key.
    Fido2,
    RecoveryCode,
}

impl AuthMethod {
    pub(crate) fn bit(self) -> u8 {
        match self {
            Self::Password => 1,
            Self::SoftwareOath => 2,
            Self::Fido2 => 4,
            Self::RecoveryCode => 8,
        }
    }

    /// Ostiary's own method names (the ones [`AuthMethod::as_str`] returns).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "password" => Some(Self::Password),
            "softwareOath" => Some(Self::SoftwareOath),
            "fido2" => Some(Self::Fido2),
            "recoveryCode" => Some(Self::RecoveryCode),
            _ => None,
        }
    }

    /// Ostiary's method for an Entra `authenticationMethodModes` member, if it has one.
    pub fn from_entra_mode(mode: &str) -> Option<Self> {
        match mode {
            "password" => Some(Self::Password),
            "softwareOath" => Some(Self::SoftwareOath),
            "fido2" => Some(Self::Fido2),
            "temporaryAccessPassOneTime" => Some(Self::RecoveryCode),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::SoftwareOath => "softwareOath",
            Self::Fido2 => "fido2",
            Self::RecoveryCode => "recoveryCode",
        }
    }
}

/// A set of [`AuthMethod`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AuthMethods(u8);

impl AuthMethods {
    pub const fn empty() -> Self {
        Self(0)
    }

    pub fn with(mut self, method: AuthMethod) -> Self {
        self.insert(method);
        self
    }

    pub fn insert(&mut self, method: AuthMethod) {
        self.0 |= method.bit();
    }

    pub fn contains(self, method: AuthMethod) -> bool {
        self.0 & method.bit() != 0
    }

    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// From method names as a session records them; unknown names are ignored.
    pub fn from_names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names.into_iter().filter_map(|n| AuthMethod::parse(n.as_ref())).collect()
    }

    /// Whether the built-in `mfa` grant control is satisfied: password + TOTP, password +
    /// passkey, a passkey alone (user-verifying, so two factors by itself), or a recovery code
    /// (issued to stand in for the second factor).
    pub fn satisfies_mfa(self) -> bool {
        use AuthMethod::*;
        (self.contains(Password) && self.contains(SoftwareOath)) || self.contains(Fido2) || self.contains(RecoveryCode)
    }
}

impl FromIterator<AuthMethod> for AuthMethods {
    fn from_iter<I: IntoIterator<Item = AuthMethod>>(iter: I) -> Self {
        iter.into_iter().fold(Self::empty(), Self::with)
    }
}

/// What this session has proven.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthenticationFacts {
    pub methods: AuthMethods,
    /// Seconds since the primary (first-factor) authentication; 0 = just now.
    pub secs_since_primary: u64,
    /// Seconds since the last second-factor authentication; `None` = none in this session.
    pub secs_since_mfa: Option<u64>,
    /// The user changed their password in this flow, securely (after MFA): satisfies
    /// `passwordChange` and `riskRemediation`.
    pub password_changed_in_flow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInFacts {
    pub subject: Subject,
    /// The cloud app (resource) being accessed.
    pub resource_app_id: Option<Uuid>,
    /// Set when the request is a user action; then only policies that include the action apply.
    pub user_action: Option<UserAction>,
    /// The client app, for the log; Conditional Access does not condition on it.
    pub client_app_id: Option<Uuid>,
    pub client_app_type: ClientAppType,
    /// `None` = unknown: a policy that includes specific platforms does not apply.
    pub platform: Option<Platform>,
    pub ip: Option<IpAddr>,
    /// ISO alpha-2 from geo-IP; `None` = unknown (matches only `includeUnknownCountriesAndRegions`).
    pub country: Option<String>,
    pub sign_in_risk: RiskLevel,
    pub user_risk: RiskLevel,
    pub service_principal_risk: RiskLevel,
    /// `Some(true)` only when the device is known and compliant.
    pub device_compliant: Option<bool>,
    pub authentication: AuthenticationFacts,
}

impl SignInFacts {
    /// A browser sign-in by `user` to `resource` with nothing else known.
    pub fn user(user: SubjectFacts, resource_app_id: Uuid) -> Self {
        Self::new(Subject::User(user), Some(resource_app_id))
    }

    /// A client-credentials request by a workload identity for `resource`.
    pub fn service_principal(id: Uuid, app_id: Uuid, resource_app_id: Uuid) -> Self {
        let mut facts = Self::new(Subject::ServicePrincipal { id, app_id }, Some(resource_app_id));
        facts.client_app_type = ClientAppType::Other;
        facts
    }

    fn new(subject: Subject, resource_app_id: Option<Uuid>) -> Self {
        Self {
            subject,
            resource_app_id,
            user_action: None,
            client_app_id: None,
            client_app_type: ClientAppType::Browser,
            platform: None,
            ip: None,
            country: None,
            sign_in_risk: RiskLevel::None,
            user_risk: RiskLevel::None,
            service_principal_risk: RiskLevel::None,
            device_compliant: None,
            authentication: AuthenticationFacts::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_from_real_user_agents() {
        let cases: &[(&str, Option<Platform>)] = &[
            // Edge on Windows 11
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                Some(Platform::Windows),
            ),
            // Firefox on Windows
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
                Some(Platform::Windows),
            ),
            // Safari on macOS
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                Some(Platform::MacOs),
            ),
            // Safari on iPhone
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
                Some(Platform::IOs),
            ),
            // iPad (mobile-mode UA) and Chrome on iPad
            (
                "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
                Some(Platform::IOs),
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
                Some(Platform::IOs),
            ),
            // Outlook for iOS (native)
            ("Outlook-iOS/2.0 (iPhone; iOS 17.2; Scale/3.00)", Some(Platform::IOs)),
            // Chrome on Android
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
                Some(Platform::Android),
            ),
            // Samsung Internet
            (
                "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
                Some(Platform::Android),
            ),
            // Edge on Windows 10 Mobile (says Android too)
            (
                "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
                Some(Platform::WindowsPhone),
            ),
            // IE Mobile on Windows Phone 8
            (
                "Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; Touch; NOKIA; Lumia 920)",
                Some(Platform::WindowsPhone),
            ),
            // Firefox on Ubuntu, Chrome on Linux
            ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", Some(Platform::Linux)),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                Some(Platform::Linux),
            ),
            // Azure CLI and MSAL Python (platform in the Python tag)
            (
                "AZURECLI/2.55.0 (DEB) azsdk-python-core/1.28.0 Python/3.11.6 (Linux-6.5.0-14-generic-x86_64-with-glibc2.38)",
                Some(Platform::Linux),
            ),
            ("azsdk-python-identity/1.15.0 Python/3.12.1 (Windows-11-10.0.22631-SP0)", Some(Platform::Windows)),
            ("azsdk-python-identity/1.15.0 Python/3.12.1 (macOS-14.2.1-arm64-arm-64bit)", Some(Platform::MacOs)),
            // ChromeOS is not a Graph platform
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                None,
            ),
            ("curl/8.5.0", None),
            ("python-requests/2.31.0", None),
            ("", None),
        ];
        for (ua, expected) in cases {
            assert_eq!(Platform::from_user_agent(ua), *expected, "{ua}");
        }
    }

    #[test]
    fn mfa_combinations() {
        use AuthMethod::*;
        let set = |m: &[AuthMethod]| m.iter().copied().collect::<AuthMethods>();
        let cases: &[(&[AuthMethod], bool)] = &[
            (&[], false),
            (&[Password], false),
            (&[SoftwareOath], false),
            (&[Password, SoftwareOath], true),
            (&[Password, Fido2], true),
            (&[Fido2], true),
            (&[RecoveryCode], true),
            (&[Password, RecoveryCode], true),
        ];
        for (methods, mfa) in cases {
            assert_eq!(set(methods).satisfies_mfa(), *mfa, "{methods:?}");
        }
    }

    #[test]
    fn methods_from_names() {
        let m = AuthMethods::from_names(["password", "softwareOath", "sms", ""]);
        assert_eq!(m, AuthMethods::empty().with(AuthMethod::Password).with(AuthMethod::SoftwareOath));
        for method in [AuthMethod::Password, AuthMethod::SoftwareOath, AuthMethod::Fido2, AuthMethod::RecoveryCode] {
            assert_eq!(AuthMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(
            Platform::from_user_agent("Outlook/4.2 CFNetwork/1410.0.3 Darwin/22.6.0"),
            None,
            "native Apple UAs do not say which OS"
        );
    }

    #[test]
    fn hostile_user_agents_do_not_panic() {
        let long = "é漢😀".repeat(10_000);
        assert_eq!(Platform::from_user_agent(&long), None);
        assert_eq!(Platform::from_user_agent("\u{0}\u{7f}ANDROID"), Some(Platform::Android));
    }
}
