//! Request input types shared by routes.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use zeroize::Zeroizing;

/// A secret string from a request body: wiped on drop, never printed.
pub struct SecretInput(pub Zeroizing<String>);

impl fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for SecretInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;

        impl Visitor<'_> for SecretVisitor {
            type Value = SecretInput;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<SecretInput, E> {
                Ok(SecretInput(Zeroizing::new(value.to_owned())))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<SecretInput, E> {
                Ok(SecretInput(Zeroizing::new(value)))
            }
        }

        deserializer.deserialize_string(SecretVisitor)
    }
}

/// The `min_position` query parameter of reads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// Wait (at most 2 s) until the read model has reached this global position.
    pub min_position: Option<u64>,
}
