//! Element ids and test ids shared by the pages and the Playwright tests (`end2end/tests/ids.ts`
//! repeats these strings; keep them in step).

pub const NAV_USER: &str = "nav-user";
pub const NAV_LOGOUT: &str = "nav-logout";
pub const LOGIN_ERROR: &str = "login-error";
pub const FORM_MESSAGE: &str = "form-message";
pub const DASHBOARD: &str = "dashboard";
pub const ADMIN_USERS: &str = "admin-users";
pub const ADMIN_TAB_USERS: &str = "admin-tab-users";
pub const ADMIN_TAB_GROUPS: &str = "admin-tab-groups";
pub const ADMIN_TAB_LOG: &str = "admin-tab-log";
pub const ADMIN_NEW_USERS: &str = "admin-new-users";
pub const ADMIN_NEW_ADMIN: &str = "admin-new-admin";
pub const ADMIN_ADD_USERS: &str = "admin-add-users";
pub const ADMIN_SEARCH: &str = "admin-search";
pub const ADMIN_ACTIVE_ONLY: &str = "admin-active-only";
pub const ADMIN_PAGE_SIZE: &str = "admin-page-size";
pub const ADMIN_START_ALL: &str = "admin-start-all";
pub const ADMIN_STOP_ALL: &str = "admin-stop-all";
pub const ADMIN_SORT_NAME: &str = "admin-sort-name";
pub const ADMIN_SORT_ACTIVITY: &str = "admin-sort-activity";
pub const ADMIN_PREV: &str = "admin-prev";
pub const ADMIN_NEXT: &str = "admin-next";
pub const ADMIN_PAGE_SUMMARY: &str = "admin-page-summary";
pub const ADMIN_BADGE: &str = "admin-badge";
pub const ADMIN_GROUP_NAME: &str = "admin-group-name";
pub const ADMIN_GROUP_CREATE: &str = "admin-group-create";
pub const ADMIN_GROUPS: &str = "admin-groups";
pub const ADMIN_LOG_FILTER: &str = "admin-log-filter";
pub const ADMIN_LOG: &str = "admin-log";
pub const SERVERS: &str = "servers";
pub const SPAWN_PROGRESS: &str = "spawn-progress";
pub const SPAWN_MESSAGE: &str = "spawn-message";
pub const NEW_TOKEN: &str = "new-token";
pub const TOKENS: &str = "tokens";
