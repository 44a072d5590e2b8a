// The element ids of app/src/ids.rs, repeated for the tests. Keep the two in step.
export const NAV_USER = 'nav-user';
export const NAV_LOGOUT = 'nav-logout';
export const LOGIN_ERROR = 'login-error';
export const FORM_MESSAGE = 'form-message';
export const DASHBOARD = 'dashboard';
export const ADMIN_USERS = 'admin-users';
export const SERVERS = 'servers';
export const SPAWN_PROGRESS = 'spawn-progress';
export const SPAWN_MESSAGE = 'spawn-message';
export const NEW_TOKEN = 'new-token';
export const TOKENS = 'tokens';
