use std::fmt;

use super::UserName;

/// The longest password we hash; longer input is refused before any work is done.
pub const MAX_LEN: usize = 1024;

/// Rules a new password must follow.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

/// A new password that passed the policy. Never printed, never serialised.
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {0} characters long")]
    TooShort(usize),
    #[error("the password must be at most {MAX_LEN} characters long")]
    TooLong,
    #[error("the password must not be the user name")]
    SameAsUserName,
}

impl Password {
    pub fn parse(input: &str, user: &UserName, policy: PasswordPolicy) -> Result<Self, PasswordError> {
        let len = input.chars().count();
        if len < policy.min_length {
            return Err(PasswordError::TooShort(policy.min_length));
        }
        if input.len() > MAX_LEN {
            return Err(PasswordError::TooLong);
        }
        if input.trim().to_lowercase() == user.as_str() {
            return Err(PasswordError::SameAsUserName);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy { min_length: 8 }
    }

    fn alice() -> UserName {
        UserName::parse("alice").unwrap()
    }

    #[test]
    fn a_long_enough_password_is_accepted() {
        assert!(Password::parse("correct horse", &alice(), policy()).is_ok());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(Password::parse("short", &alice(), policy()).unwrap_err(), PasswordError::TooShort(8));
    }

    #[test]
    fn the_user_name_is_not_a_password() {
        let policy = PasswordPolicy { min_length: 3 };
        assert_eq!(Password::parse("Alice", &alice(), policy).unwrap_err(), PasswordError::SameAsUserName);
    }

    #[test]
    fn huge_passwords_are_refused_before_hashing() {
        let huge = "x".repeat(MAX_LEN + 1);
        assert_eq!(Password::parse(&huge, &alice(), policy()).unwrap_err(), PasswordError::TooLong);
    }

    #[test]
    fn debug_output_hides_the_password() {
        let p = Password::parse("correct horse", &alice(), policy()).unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
