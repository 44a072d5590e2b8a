-- OpenID Connect sign-in attempts in flight: the state (stored as its SHA-256), the nonce and PKCE
-- verifier it was issued with, and where to go afterwards. A row is taken (deleted) by the
-- callback, so a replayed callback finds nothing; stale rows are pruned.
CREATE TABLE oidc_logins (
    state_hash     TEXT   NOT NULL PRIMARY KEY,
    nonce          TEXT   NOT NULL,
    pkce_verifier  TEXT   NOT NULL,
    next_path      TEXT   NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX oidc_logins_created ON oidc_logins (created_at);

-- The provider's ID token for a session signed in with OpenID Connect: the hint for RP-initiated
-- logout. NULL for local sign-ins.
ALTER TABLE sessions ADD COLUMN id_token TEXT;
