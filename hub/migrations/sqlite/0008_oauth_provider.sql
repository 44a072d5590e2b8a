-- The hub as an OAuth2 provider for its servers (JupyterHub's single-user contract).
-- A client per server, registered in the transaction that moves the server to pending and
-- deleted (with its codes and tokens) in the one that ends in stopped.
CREATE TABLE oauth_clients (
    id            TEXT   PRIMARY KEY,                 -- jupyterhub-user-NAME[-SERVER]
    server_id     BIGINT REFERENCES servers (id) ON DELETE CASCADE,
    secret_hash   TEXT   NOT NULL,                    -- SHA-256 of the server's API token
    redirect_uri  TEXT   NOT NULL,                    -- compared byte for byte
    scopes        TEXT   NOT NULL DEFAULT '[]',       -- the access scope the client's tokens carry
    created_at    BIGINT NOT NULL
);
CREATE INDEX oauth_clients_server ON oauth_clients (server_id);

-- Authorization codes: single-use, short-lived, bound to the user, the browser session, the
-- client, the redirect URI and (when sent) the PKCE challenge.
CREATE TABLE oauth_codes (
    code_hash       TEXT   PRIMARY KEY,
    client_id       TEXT   NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      BIGINT REFERENCES sessions (id) ON DELETE CASCADE,
    scopes          TEXT   NOT NULL,
    redirect_uri    TEXT   NOT NULL,
    code_challenge  TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);

-- Tokens the hub issues for itself: a server's own token (server_id), and OAuth access tokens
-- (oauth_client, tied to the browser session that authorized them).
ALTER TABLE api_tokens ADD COLUMN server_id BIGINT REFERENCES servers (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN oauth_client TEXT REFERENCES oauth_clients (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN session_id BIGINT REFERENCES sessions (id) ON DELETE CASCADE;
