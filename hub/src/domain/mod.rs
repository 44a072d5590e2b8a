//! Values that are parsed once at the edge and trusted everywhere inside.

mod group_name;
mod local_path;
mod password;
mod server_name;
mod user_name;

pub use group_name::{GroupName, GroupNameError};
pub use local_path::{LocalPath, LocalPathError, HOME};
pub use password::{Password, PasswordError, PasswordPolicy, MAX_LEN as PASSWORD_MAX_LEN};
pub use server_name::{ServerName, ServerNameError};
pub use user_name::{UserName, UserNameError};
