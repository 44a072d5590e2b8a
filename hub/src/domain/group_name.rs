use std::fmt;

pub const MAX_LEN: usize = 255;

/// A group's name: 1–255 characters of ASCII letters, digits, `-`, `_`, `.` and `@` (so it is
/// safe in a URL path segment and in a `!group=` scope filter).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupNameError {
    #[error("the group name is empty")]
    Empty,
    #[error("the group name is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the group name may contain only letters, digits, '-', '_', '.' and '@' (found {0:?})")]
    InvalidCharacter(char),
}

impl GroupName {
    pub fn parse(input: &str) -> Result<Self, GroupNameError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(GroupNameError::Empty);
        }
        if name.len() > MAX_LEN {
            return Err(GroupNameError::TooLong);
        }
        if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_.@".contains(*c))) {
            return Err(GroupNameError::InvalidCharacter(c));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_characters() {
        assert_eq!(GroupName::parse(" physics-101_a.b@x ").unwrap().as_str(), "physics-101_a.b@x");
    }

    #[test]
    fn refuses_empty_long_and_odd_names() {
        assert_eq!(GroupName::parse("  "), Err(GroupNameError::Empty));
        assert_eq!(GroupName::parse(&"a".repeat(256)), Err(GroupNameError::TooLong));
        assert_eq!(GroupName::parse("a/b"), Err(GroupNameError::InvalidCharacter('/')));
        assert_eq!(GroupName::parse("a b"), Err(GroupNameError::InvalidCharacter(' ')));
    }
}
