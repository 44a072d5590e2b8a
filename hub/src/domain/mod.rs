//! Values that are parsed once at the edge and trusted everywhere inside.

mod password;
mod user_name;

pub use password::{MAX_LEN as PASSWORD_MAX_LEN, Password, PasswordError, PasswordPolicy};
pub use user_name::{UserName, UserNameError};
