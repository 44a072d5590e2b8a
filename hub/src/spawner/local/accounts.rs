//! System accounts for `user_mapping = "system"`: looked up through NSS (on the blocking pool) and
//! created with `useradd` when configured.

use super::*;

impl LocalSpawner {
    /// The uid and gid to run as, creating the system account when configured.
    pub(super) async fn account(&self, user: &UserName) -> Result<Option<(u32, u32)>, SpawnError> {
        if self.config.user_mapping == UserMapping::Hub {
            return Ok(None);
        }
        // SAFETY: geteuid(2) cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(SpawnError::Process(
                "spawner.local.user_mapping = \"system\" needs the hub to run as root".into(),
            ));
        }
        if let Some(ids) = find_account(user.as_str()).await? {
            return Ok(Some(ids));
        }
        if !self.config.create_system_users {
            return Err(SpawnError::Process(format!(
                "there is no system account {user} (set spawner.local.create_system_users = true to create it)"
            )));
        }
        let home = self.home(user);
        let out = tokio::process::Command::new("useradd")
            .arg("--no-create-home")
            .arg("--home-dir")
            .arg(&home)
            .arg("--shell")
            .arg("/bin/bash")
            .arg("--")
            .arg(user.as_str())
            .output()
            .await
            .map_err(|e| SpawnError::Process(format!("useradd: {e}")))?;
        if !out.status.success() {
            return Err(SpawnError::Process(format!(
                "useradd {user} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        info!(user.name = %user, "created the system account");
        find_account(user.as_str())
            .await?
            .map(Some)
            .ok_or_else(|| SpawnError::Process(format!("useradd made no account {user}")))
    }
}

/// [`lookup_account`] through NSS, on the blocking pool.
pub(super) async fn find_account(name: &str) -> Result<Option<(u32, u32)>, SpawnError> {
    let name = name.to_owned();
    blocking(move || lookup_account(&name)).await?
}

/// The uid and gid of the system account `name`, if there is one.
pub(super) fn lookup_account(name: &str) -> Result<Option<(u32, u32)>, SpawnError> {
    let c_name =
        CString::new(name).map_err(|_| SpawnError::Process(format!("{name:?} is no account name")))?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r writes into `pwd` and `buf`, both owned here and large enough (it says
    // ERANGE otherwise).
    let rc = unsafe { libc::getpwnam_r(c_name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 {
        return Err(SpawnError::Process(format!("looking up {name}: {}", io::Error::from_raw_os_error(rc))));
    }
    if result.is_null() {
        return Ok(None);
    }
    Ok(Some((pwd.pw_uid, pwd.pw_gid)))
}
