//! Enums whose values travel and are stored as stable codes (roles, permissions, audit actions,
//! statuses): one declaration gives the variants, their codes, `ALL`, parsing and serde as the code.

/// Declares an enum of coded values:
///
/// ```
/// hg_platform::code_enum! {
///     /// A colour.
///     pub enum Colour { Red => "red", Dark => "dark_blue" }
/// }
/// assert_eq!(Colour::Dark.code(), "dark_blue");
/// assert_eq!(Colour::parse("red"), Some(Colour::Red));
/// assert_eq!(Colour::parse_loose(" Dark_Blue "), Some(Colour::Dark));
/// ```
#[macro_export]
macro_rules! code_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident => $code:literal),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// Every code, in declaration order.
            pub const CODES: &'static [&'static str] = &[$($code,)*];

            /// The stable code.
            pub fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The value of exactly `code`.
            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// The value of `code`, trimmed and in any case (API input).
            pub fn parse_loose(code: &str) -> Option<Self> {
                let code = code.trim();
                Self::ALL.iter().copied().find(|v| v.code().eq_ignore_ascii_case(code))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.code())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let code = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&code).ok_or_else(|| {
                    ::serde::de::Error::custom(format!(
                        "`{code}` is not one of {}",
                        Self::CODES.join(", ")
                    ))
                })
            }
        }
    };
}
