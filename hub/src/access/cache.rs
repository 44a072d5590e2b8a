//! The policy's memory: resolved sessions, tokens and users' effective scopes, each trusted for a
//! short time ([`TTL`]) and dropped at once, entry by entry, when a committed change concerns it
//! ([`Changed`]). Open websockets hear the same changes ([`Policy::subscribe`]) and ask again.
//!
//! A fill races a change when it read the database before the change committed and stores after
//! the change was forgotten: every fill carries the generation it started at, and a fill that
//! started before the latest change is answered but not kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::accounts::User;
use crate::scopes::{Requested, Scopes};
use crate::tokens::TokenInfo;

/// How long an entry is trusted without asking the database again. Changes made through this
/// process drop their entries at once; this bounds staleness for changes made elsewhere (the
/// command line, another replica).
pub const TTL: Duration = Duration::from_secs(10);
/// Entries of one kind kept at most; beyond it the oldest half goes.
const MAX_ENTRIES: usize = 10_000;

/// A committed change to what someone may do, as the cache and open connections see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// A user's account (admin flag, approval, password, name, deletion), roles or shares.
    User(i64),
    /// A group's members, its shares or the group itself.
    Group(String),
    /// A browser session ended (and the OAuth tokens it authorized with it).
    Session(i64),
    /// An API token was revoked.
    Token(i64),
    /// A server's OAuth client and tokens went (it stopped, or its shares ended).
    Server(i64),
}

#[derive(Clone)]
pub(crate) struct SessionEntry {
    pub session_id: i64,
    pub user: User,
    pub expires_at: i64,
    pub at: Instant,
}

#[derive(Clone)]
pub(crate) struct TokenEntry {
    pub info: TokenInfo,
    pub requested: Vec<Requested>,
    pub user: User,
    /// The browser session an OAuth token was issued under.
    pub session_id: Option<i64>,
    /// The server whose own token this is, or whose OAuth client it was issued to.
    pub server_id: Option<i64>,
    pub expires_at: Option<i64>,
    pub at: Instant,
}

#[derive(Clone)]
pub(crate) struct UserEntry {
    pub groups: Arc<Vec<String>>,
    pub scopes: Arc<Scopes>,
    pub at: Instant,
}

#[derive(Default)]
struct Maps {
    sessions: HashMap<String, SessionEntry>,
    tokens: HashMap<String, TokenEntry>,
    users: HashMap<i64, UserEntry>,
    /// Groups of users who own servers others open (their filters), without their scopes.
    groups: HashMap<i64, (Arc<Vec<String>>, Instant)>,
    generation: u64,
}

/// The cache (one per hub process).
pub struct Policy {
    maps: Mutex<Maps>,
    changes: broadcast::Sender<Changed>,
    /// Tokens used since the last flush: id → when (their "last used", written in batches).
    touched: Mutex<HashMap<i64, i64>>,
}

impl Default for Policy {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(1024);
        Self { maps: Mutex::default(), changes, touched: Mutex::default() }
    }
}

fn fresh(at: Instant) -> bool {
    at.elapsed() < TTL
}

fn bounded<K: Clone + std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, at: impl Fn(&V) -> Instant) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    let mut ages: Vec<(Instant, K)> = map.iter().map(|(k, v)| (at(v), k.clone())).collect();
    ages.sort_by_key(|(at, _)| *at);
    for (_, key) in ages.into_iter().take(MAX_ENTRIES / 2) {
        map.remove(&key);
    }
}

impl Policy {
    fn maps(&self) -> Option<MutexGuard<'_, Maps>> {
        self.maps.lock().ok()
    }

    /// Where a fill starts: pass it to the `put_*` that stores what was read.
    pub(crate) fn generation(&self) -> u64 {
        self.maps().map(|m| m.generation).unwrap_or_default()
    }

    pub(crate) fn session(&self, hash: &str, now_ms: i64) -> Option<SessionEntry> {
        let maps = self.maps()?;
        maps.sessions.get(hash).filter(|e| fresh(e.at) && e.expires_at > now_ms).cloned()
    }

    pub(crate) fn put_session(&self, generation: u64, hash: String, entry: SessionEntry) {
        if let Some(mut maps) = self.maps().filter(|m| m.generation == generation) {
            bounded(&mut maps.sessions, |e| e.at);
            maps.sessions.insert(hash, entry);
        }
    }

    pub(crate) fn token(&self, hash: &str, now_ms: i64) -> Option<TokenEntry> {
        let maps = self.maps()?;
        maps.tokens.get(hash).filter(|e| fresh(e.at) && e.expires_at.is_none_or(|at| at > now_ms)).cloned()
    }

    pub(crate) fn put_token(&self, generation: u64, hash: String, entry: TokenEntry) {
        if let Some(mut maps) = self.maps().filter(|m| m.generation == generation) {
            bounded(&mut maps.tokens, |e| e.at);
            maps.tokens.insert(hash, entry);
        }
    }

    pub(crate) fn user(&self, user_id: i64) -> Option<UserEntry> {
        let maps = self.maps()?;
        maps.users.get(&user_id).filter(|e| fresh(e.at)).cloned()
    }

    pub(crate) fn put_user(&self, generation: u64, user_id: i64, entry: UserEntry) {
        if let Some(mut maps) = self.maps().filter(|m| m.generation == generation) {
            bounded(&mut maps.users, |e| e.at);
            maps.users.insert(user_id, entry);
        }
    }

    /// A user's groups: from their entry, or from the groups-only memory.
    pub(crate) fn groups(&self, user_id: i64) -> Option<Arc<Vec<String>>> {
        let maps = self.maps()?;
        if let Some(entry) = maps.users.get(&user_id).filter(|e| fresh(e.at)) {
            return Some(entry.groups.clone());
        }
        maps.groups.get(&user_id).filter(|(_, at)| fresh(*at)).map(|(g, _)| g.clone())
    }

    pub(crate) fn put_groups(&self, generation: u64, user_id: i64, groups: Arc<Vec<String>>) {
        if let Some(mut maps) = self.maps().filter(|m| m.generation == generation) {
            bounded(&mut maps.groups, |(_, at)| *at);
            maps.groups.insert(user_id, (groups, Instant::now()));
        }
    }

    /// Drops what these committed changes concern, and tells open connections about them. Call
    /// it after the commit (see [`crate::change::Change`], which does).
    pub fn forget(&self, changes: &[Changed]) {
        if changes.is_empty() {
            return;
        }
        if let Some(mut maps) = self.maps() {
            for change in changes {
                match change {
                    Changed::User(id) => {
                        maps.sessions.retain(|_, e| e.user.id != *id);
                        maps.tokens.retain(|_, e| e.user.id != *id);
                        maps.users.remove(id);
                        maps.groups.remove(id);
                    }
                    Changed::Group(name) => {
                        maps.users.retain(|_, e| !e.groups.contains(name));
                        maps.groups.retain(|_, (g, _)| !g.contains(name));
                    }
                    Changed::Session(id) => {
                        maps.sessions.retain(|_, e| e.session_id != *id);
                        maps.tokens.retain(|_, e| e.session_id != Some(*id));
                    }
                    Changed::Token(id) => maps.tokens.retain(|_, e| e.info.id != *id),
                    Changed::Server(id) => maps.tokens.retain(|_, e| e.server_id != Some(*id)),
                }
            }
            maps.generation += 1;
        }
        for change in changes {
            // Nobody listening is fine: no websocket is open.
            let _ = self.changes.send(change.clone());
        }
    }

    /// Every change from now on, for a connection that must end when its grant goes.
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.changes.subscribe()
    }

    /// Notes that a token was used now (written by [`Policy::take_touched`]'s caller in batches).
    pub(crate) fn touch_token(&self, id: i64, now_ms: i64) {
        if let Ok(mut touched) = self.touched.lock() {
            touched.insert(id, now_ms);
        }
    }

    /// When a token was last used, if that is not written yet.
    pub(crate) fn unwritten_use(&self, id: i64) -> Option<i64> {
        self.touched.lock().ok()?.get(&id).copied()
    }

    pub(crate) fn take_touched(&self) -> Vec<(i64, i64)> {
        self.touched.lock().map(|mut t| t.drain().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserName;

    fn user(id: i64) -> User {
        User {
            id,
            name: UserName::parse(&format!("u{id}")).unwrap(),
            is_admin: false,
            approved: true,
            blocked: false,
            created_at: 0,
            last_activity: None,
            auth_source: "local".into(),
            has_password: true,
        }
    }

    fn session(id: i64, user_id: i64) -> SessionEntry {
        SessionEntry { session_id: id, user: user(user_id), expires_at: i64::MAX, at: Instant::now() }
    }

    #[test]
    fn a_change_drops_only_what_it_concerns() {
        let policy = Policy::default();
        let g = policy.generation();
        policy.put_session(g, "a".into(), session(1, 10));
        policy.put_session(g, "b".into(), session(2, 20));
        let groups = Arc::new(vec!["staff".to_owned()]);
        let entry =
            |groups: Arc<Vec<String>>| UserEntry { groups, scopes: Arc::default(), at: Instant::now() };
        policy.put_user(g, 10, entry(groups.clone()));
        policy.put_user(g, 20, entry(Arc::default()));

        policy.forget(&[Changed::Session(1)]);
        assert!(policy.session("a", 0).is_none());
        assert!(policy.session("b", 0).is_some());

        policy.forget(&[Changed::Group("staff".into())]);
        assert!(policy.user(10).is_none());
        assert!(policy.user(20).is_some());

        policy.forget(&[Changed::User(20)]);
        assert!(policy.session("b", 0).is_none());
        assert!(policy.user(20).is_none());
    }

    #[test]
    fn a_fill_that_raced_a_change_is_not_kept() {
        let policy = Policy::default();
        let before = policy.generation();
        policy.forget(&[Changed::User(10)]);
        policy.put_session(before, "a".into(), session(1, 10));
        assert!(policy.session("a", 0).is_none());
        let after = policy.generation();
        policy.put_session(after, "a".into(), session(1, 10));
        assert!(policy.session("a", 0).is_some());
    }

    #[test]
    fn expired_sessions_are_not_answered() {
        let policy = Policy::default();
        let mut entry = session(1, 10);
        entry.expires_at = 1_000;
        policy.put_session(policy.generation(), "a".into(), entry);
        assert!(policy.session("a", 999).is_some());
        assert!(policy.session("a", 1_000).is_none());
    }

    #[tokio::test]
    async fn open_connections_hear_each_change() {
        let policy = Policy::default();
        let mut rx = policy.subscribe();
        policy.forget(&[Changed::Token(7), Changed::Server(3)]);
        assert_eq!(rx.recv().await.unwrap(), Changed::Token(7));
        assert_eq!(rx.recv().await.unwrap(), Changed::Server(3));
    }
}
