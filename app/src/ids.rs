//! Element ids and test ids shared by the pages and the Playwright tests (`end2end/tests/ids.ts`
//! repeats these strings; keep them in step).

pub const NAV_USER: &str = "nav-user";
pub const NAV_LOGOUT: &str = "nav-logout";
pub const LOGIN_ERROR: &str = "login-error";
pub const FORM_MESSAGE: &str = "form-message";
pub const DASHBOARD: &str = "dashboard";
pub const ADMIN_USERS: &str = "admin-users";
pub const SERVERS: &str = "servers";
pub const SPAWN_PROGRESS: &str = "spawn-progress";
pub const SPAWN_MESSAGE: &str = "spawn-message";
pub const NEW_TOKEN: &str = "new-token";
pub const TOKENS: &str = "tokens";
