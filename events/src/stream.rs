//! Stream names: `<category>-<uuid>`, one stream per key, bot or account.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kind of entity a stream belongs to; the part of a stream name before the first `-`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Key,
    Bot,
    Account,
    Vault,
    /// Synthetic streams written by `keyward eventlog stress` and the benchmarks.
    Stress,
}

impl Category {
    /// The category as it appears in stream names.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Key => "key",
            Category::Bot => "bot",
            Category::Account => "account",
            Category::Vault => "vault",
            Category::Stress => "stress",
        }
    }
}

impl FromStr for Category {
    type Err = StreamNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "key" => Ok(Category::Key),
            "bot" => Ok(Category::Bot),
            "account" => Ok(Category::Account),
            "vault" => Ok(Category::Vault),
            "stress" => Ok(Category::Stress),
            other => Err(StreamNameError::UnknownCategory(other.to_owned())),
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream name of the form `<category>-<uuid>`, for example `key-0192…`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamName(String);

/// Why a string is not a valid stream name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamNameError {
    #[error("stream name {0:?} has no '-' between category and id; expected <category>-<uuid>")]
    MissingSeparator(String),
    #[error("unknown stream category {0:?}; expected key, bot, account, vault or stress")]
    UnknownCategory(String),
    #[error("stream id {0:?} is not a UUID")]
    InvalidId(String),
}

impl StreamName {
    /// Builds the stream name of one entity.
    pub fn new(category: Category, id: Uuid) -> Self {
        StreamName(format!("{}-{}", category.as_str(), id))
    }

    /// Wraps a name read back from the log, which validated it when it was appended.
    ///
    /// A name that does not parse still round-trips; its category and id fall back to
    /// defaults, and chain verification covers its bytes as stored.
    pub fn from_stored(name: String) -> Self {
        StreamName(name)
    }

    /// The category part of the name.
    pub fn category(&self) -> Category {
        // Constructors validate the name, so the prefix always parses.
        self.split().map(|(c, _)| c).unwrap_or(Category::Stress)
    }

    /// The entity id part of the name.
    pub fn id(&self) -> Uuid {
        self.split().map(|(_, id)| id).unwrap_or_default()
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn split(&self) -> Result<(Category, Uuid), StreamNameError> {
        parse_parts(&self.0)
    }
}

fn parse_parts(s: &str) -> Result<(Category, Uuid), StreamNameError> {
    let (category, id) = s
        .split_once('-')
        .ok_or_else(|| StreamNameError::MissingSeparator(s.to_owned()))?;
    let category = category.parse()?;
    let id = Uuid::parse_str(id).map_err(|_| StreamNameError::InvalidId(id.to_owned()))?;
    Ok((category, id))
}

impl FromStr for StreamName {
    type Err = StreamNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_parts(s)?;
        Ok(StreamName(s.to_owned()))
    }
}

impl TryFrom<String> for StreamName {
    type Error = StreamNameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        parse_parts(&s)?;
        Ok(StreamName(s))
    }
}

impl From<StreamName> for String {
    fn from(name: StreamName) -> Self {
        name.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_name_round_trips() {
        let id = Uuid::now_v7();
        let name = StreamName::new(Category::Key, id);
        let parsed: StreamName = name.as_str().parse().unwrap();
        assert_eq!(parsed, name);
        assert_eq!(parsed.category(), Category::Key);
        assert_eq!(parsed.id(), id);
    }

    #[test]
    fn stream_name_rejects_bad_input() {
        assert!(matches!(
            "key".parse::<StreamName>(),
            Err(StreamNameError::MissingSeparator(_))
        ));
        assert!(matches!(
            "wallet-0192".parse::<StreamName>(),
            Err(StreamNameError::UnknownCategory(_))
        ));
        assert!(matches!(
            "key-notauuid".parse::<StreamName>(),
            Err(StreamNameError::InvalidId(_))
        ));
    }
}
