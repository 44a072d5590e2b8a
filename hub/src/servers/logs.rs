//! A server's log for its owner (jupyterhub#3278): the last lines of the workload's output while
//! it exists, else the end its failed start or its death left in the database (the workload is
//! removed then). Tokens are masked: the proxy keeps Jupyter's token from the browser, and
//! Jupyter prints it in its start-up URLs.

use super::*;

/// How many lines are read from a workload.
pub const LINES: usize = 200;
/// The most of a log the database keeps for a server.
const KEPT_BYTES: usize = 64 * 1024;

/// What a server's log says, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLog {
    pub text: String,
    /// From the workload now (`false`: what its failed start or death left).
    pub live: bool,
}

/// `token=…` values and the server's own token, masked; only the end kept when it is long.
pub fn mask(text: &str, token: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("token=") {
        let (before, after) = rest.split_at(at + "token=".len());
        out.push_str(before);
        let value_len =
            after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(after.len());
        if value_len > 0 {
            out.push_str("[hidden]");
        }
        rest = &after[value_len..];
    }
    out.push_str(rest);
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        out = out.replace(token, "[hidden]");
    }
    if out.len() > KEPT_BYTES {
        let mut from = out.len() - KEPT_BYTES;
        while !out.is_char_boundary(from) {
            from += 1;
        }
        out = out[from..].to_owned();
    }
    out
}

/// Reads the end of `workload`'s log (masked) for keeping before it is removed; `None` when the
/// spawner has none. Never fails the caller: a log that cannot be read is logged and skipped.
pub(super) async fn capture(hub: &Hub, row: &ServerRow, workload: &StoredWorkload) -> Option<String> {
    let spawner = spawner_of(hub, row).ok()?;
    match spawner.logs(&workload.workload, LINES).await {
        Ok(Some(text)) => Some(mask(&text, Some(&upstream_token(hub, &workload.token_nonce)))),
        Ok(None) => None,
        Err(e) => {
            warn!(user.name = %row.user_name, server.name = %row.name, error = %e, "reading the server's log failed");
            None
        }
    }
}

/// Keeps `log` as the server's last log (a failed start, a death).
pub(super) async fn keep(hub: &Hub, server_id: i64, log: &str) {
    let kept = async {
        let mut conn = hub.db().acquire().await?;
        db::servers::set_last_log(&mut conn, server_id, log).await
    };
    if let Err(e) = kept.await {
        warn!(server.id = server_id, error = %e, "keeping the server's log failed");
    }
}

/// `user`'s server's log: live while its workload exists, else what it left.
pub async fn of(hub: &Hub, user: &User, server: &ServerName) -> Result<ServerLog, ServerError> {
    let row = db::servers::get(hub.db(), user.id, server).await?.ok_or(ServerError::NotFound)?;
    if let Some(workload) = row.workload.as_ref().filter(|_| row.state != ServerState::Stopped) {
        let spawner = spawner_of(hub, &row)?;
        if let Some(text) = spawner.logs(&workload.workload, LINES).await? {
            let token = upstream_token(hub, &workload.token_nonce);
            return Ok(ServerLog { text: mask(&text, Some(&token)), live: true });
        }
    }
    let text = db::servers::last_log(hub.db(), row.id).await?.unwrap_or_default();
    Ok(ServerLog { text, live: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_urls_and_the_servers_own_are_hidden() {
        let log = "[I] Jupyter Server is running at:\n[I] http://abc:8888/lab?token=f00ba7\n\
                   [I] or http://127.0.0.1:8888/lab?token=f00ba7&x=1\nsecret-value alone\ntoken= empty\n";
        let masked = mask(log, Some("secret-value"));
        assert!(!masked.contains("f00ba7") && !masked.contains("secret-value"), "{masked}");
        assert!(
            masked.contains("/lab?token=[hidden]\n") && masked.contains("token=[hidden]&x=1"),
            "{masked}"
        );
        assert!(masked.contains("[hidden] alone") && masked.contains("token= empty"), "{masked}");
    }

    #[test]
    fn a_long_log_keeps_its_end() {
        let log = "é".repeat(KEPT_BYTES) + "the end";
        let masked = mask(&log, None);
        assert!(masked.len() <= KEPT_BYTES && masked.ends_with("the end"));
    }
}
