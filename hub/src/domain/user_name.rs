use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Longest user name we accept. Short enough to fit in container, volume and DNS names
/// together with a server name and a prefix.
pub const MAX_LEN: usize = 32;

/// A user name that is safe in URLs, container names, volume names and labels.
///
/// Parsing normalises (Unicode NFKC, trimmed, lower-case, as JupyterHub does) and then checks:
/// 1–32 characters of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter or digit and not ending
/// with `.`, `_` or `-`. There is no other way to make one, so a `UserName` is always valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserNameError {
    #[error("the user name is empty")]
    Empty,
    #[error("the user name is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the user name may contain only letters a-z, digits 0-9, '.', '_' and '-' (found {0:?})")]
    InvalidCharacter(char),
    #[error("the user name must start with a letter or a digit")]
    BadStart,
    #[error("the user name must end with a letter or a digit")]
    BadEnd,
}

impl UserName {
    pub fn parse(input: &str) -> Result<Self, UserNameError> {
        let name: String = input.trim().nfkc().collect::<String>().to_lowercase();
        if name.is_empty() {
            return Err(UserNameError::Empty);
        }
        if name.chars().count() > MAX_LEN {
            return Err(UserNameError::TooLong);
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
        {
            return Err(UserNameError::InvalidCharacter(c));
        }
        let first = name.as_bytes()[0];
        if !first.is_ascii_alphanumeric() {
            return Err(UserNameError::BadStart);
        }
        let last = name.as_bytes()[name.len() - 1];
        if !last.is_ascii_alphanumeric() {
            return Err(UserNameError::BadEnd);
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for UserName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for UserName {
    type Error = UserNameError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str, expected: &str) {
        assert_eq!(UserName::parse(input).unwrap().as_str(), expected, "input {input:?}");
    }

    fn err(input: &str, expected: UserNameError) {
        assert_eq!(UserName::parse(input), Err(expected), "input {input:?}");
    }

    #[test]
    fn plain_names_are_accepted_as_they_are() {
        ok("alice", "alice");
        ok("bob-2", "bob-2");
        ok("j.doe_x", "j.doe_x");
        ok("7of9", "7of9");
    }

    #[test]
    fn names_are_trimmed_and_lowercased() {
        ok("  Alice ", "alice");
        ok("ALICE", "alice");
    }

    #[test]
    fn compatibility_forms_are_normalised() {
        // Fullwidth letters fold to ASCII under NFKC.
        ok("ａｌｉｃｅ", "alice");
    }

    #[test]
    fn empty_and_blank_names_are_refused() {
        err("", UserNameError::Empty);
        err("   ", UserNameError::Empty);
    }

    #[test]
    fn long_names_are_refused() {
        ok(&"a".repeat(32), &"a".repeat(32));
        err(&"a".repeat(33), UserNameError::TooLong);
    }

    #[test]
    fn unsafe_characters_are_refused() {
        err("al/ice", UserNameError::InvalidCharacter('/'));
        err("al ice", UserNameError::InvalidCharacter(' '));
        err("alice%2f", UserNameError::InvalidCharacter('%'));
        err("ali:ce", UserNameError::InvalidCharacter(':'));
        err("élise", UserNameError::InvalidCharacter('é'));
        err("a\u{0}b", UserNameError::InvalidCharacter('\u{0}'));
    }

    #[test]
    fn names_must_start_and_end_with_alphanumerics() {
        err(".hidden", UserNameError::BadStart);
        err("-x", UserNameError::BadStart);
        err("..", UserNameError::BadStart);
        err("x-", UserNameError::BadEnd);
        err("x.", UserNameError::BadEnd);
    }

    #[test]
    fn every_accepted_name_reparses_to_itself() {
        // A small exhaustive property check over short names from a mixed alphabet.
        let alphabet = ['a', 'Z', '0', '.', '_', '-', '/', ' ', 'é'];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let s: String = [a, b, c].iter().collect();
                    if let Ok(name) = UserName::parse(&s) {
                        assert_eq!(UserName::parse(name.as_str()).as_ref(), Ok(&name));
                        assert!(name
                            .as_str()
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)));
                    }
                }
            }
        }
    }
}
