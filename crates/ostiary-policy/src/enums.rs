//! Graph's string enums as Entra spells them. A value Entra does not define is kept as
//! `Unknown(text)` instead of failing the parse, so a policy always round-trips and
//! validation can name the bad value in a Graph 400.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value Entra does not define; kept for the round trip, rejected by validation.
            Unknown(String),
        }

        impl $name {
            /// Every value Entra defines, in Graph's spelling.
            pub const VALUES: &'static [&'static str] = &[$($text),+];

            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(text) => text,
                }
            }

            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
        }

        impl Default for $name {
            /// An absent value: `Unknown("")`, which validation reports as missing.
            fn default() -> Self {
                Self::Unknown(String::new())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(Self::parse(&text))
            }
        }
    };
}

wire_enum! {
    /// `conditionalAccessPolicyState`.
    PolicyState {
        Enabled = "enabled",
        Disabled = "disabled",
        /// Report-only: evaluated and logged, never enforced.
        EnabledForReportingButNotEnforced = "enabledForReportingButNotEnforced",
    }
}

wire_enum! {
    /// `conditionalAccessClientApp` (the policy side; a sign-in's type is [`crate::ClientAppType`]).
    ConditionalAccessClientApp {
        All = "all",
        Browser = "browser",
        MobileAppsAndDesktopClients = "mobileAppsAndDesktopClients",
        ExchangeActiveSync = "exchangeActiveSync",
        EasSupported = "easSupported",
        Other = "other",
    }
}

wire_enum! {
    /// `conditionalAccessDevicePlatform` (the policy side; a sign-in's is [`crate::Platform`]).
    ConditionalAccessDevicePlatform {
        All = "all",
        Android = "android",
        IOs = "iOS",
        Windows = "windows",
        WindowsPhone = "windowsPhone",
        MacOs = "macOS",
        Linux = "linux",
    }
}

wire_enum! {
    /// `riskLevel` as a policy condition (a sign-in's level is [`crate::RiskLevel`]).
    ConditionalAccessRiskLevel {
        Low = "low",
        Medium = "medium",
        High = "high",
        /// Entra hides the level from the tenant; no sign-in here ever carries it.
        Hidden = "hidden",
        None = "none",
    }
}

wire_enum! {
    /// `conditionalAccessGrantControl`.
    ConditionalAccessGrantControl {
        Block = "block",
        Mfa = "mfa",
        CompliantDevice = "compliantDevice",
        DomainJoinedDevice = "domainJoinedDevice",
        ApprovedApplication = "approvedApplication",
        CompliantApplication = "compliantApplication",
        PasswordChange = "passwordChange",
        RiskRemediation = "riskRemediation",
    }
}

wire_enum! {
    /// `grantControls.operator`.
    GrantOperator {
        And = "AND",
        Or = "OR",
    }
}

wire_enum! {
    /// `signinFrequencyType`.
    SignInFrequencyType {
        Hours = "hours",
        Days = "days",
    }
}

wire_enum! {
    /// `signInFrequencyInterval`.
    SignInFrequencyInterval {
        TimeBased = "timeBased",
        EveryTime = "everyTime",
    }
}

wire_enum! {
    /// `signInFrequencyAuthenticationType`: which factor the frequency re-asks for.
    SignInFrequencyAuthenticationType {
        PrimaryAndSecondaryAuthentication = "primaryAndSecondaryAuthentication",
        SecondaryAuthentication = "secondaryAuthentication",
    }
}

wire_enum! {
    /// `persistentBrowserSessionMode`.
    PersistentBrowserMode {
        Always = "always",
        Never = "never",
    }
}

wire_enum! {
    /// `countryLookupMethodType`.
    CountryLookupMethod {
        ClientIpAddress = "clientIpAddress",
        AuthenticatorAppGps = "authenticatorAppGps",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spelled_as_entra_and_unknown_kept() {
        assert_eq!(ConditionalAccessDevicePlatform::parse("iOS"), ConditionalAccessDevicePlatform::IOs);
        assert_eq!(ConditionalAccessDevicePlatform::parse("macOS"), ConditionalAccessDevicePlatform::MacOs);
        // Case matters on the wire: "ios" is not Entra's spelling.
        assert!(!ConditionalAccessDevicePlatform::parse("ios").is_known());
        assert_eq!(GrantOperator::parse("OR"), GrantOperator::Or);
        assert!(!GrantOperator::parse("or").is_known());
        let v: Vec<PolicyState> =
            serde_json::from_str(r#"["enabled","enabledForReportingButNotEnforced","bogus"]"#).unwrap();
        assert_eq!(v[2], PolicyState::Unknown("bogus".into()));
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"["enabled","enabledForReportingButNotEnforced","bogus"]"#);
        for text in ConditionalAccessGrantControl::VALUES {
            assert_eq!(ConditionalAccessGrantControl::parse(text).as_str(), *text);
        }
    }
}
