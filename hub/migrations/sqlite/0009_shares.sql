-- JupyterHub 5's sharing: a server shared with a user or a group (its recipients may open it,
-- through the OAuth consent page), and share codes (links that make a share for whoever
-- accepts them before they expire). Shares outlive stops; they go with the server row.
CREATE TABLE shares (
    id          INTEGER PRIMARY KEY,
    server_id   BIGINT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    user_id     BIGINT REFERENCES users (id) ON DELETE CASCADE,
    group_id    BIGINT REFERENCES groups (id) ON DELETE CASCADE,
    scopes      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX shares_user ON shares (server_id, user_id);
CREATE UNIQUE INDEX shares_group ON shares (server_id, group_id);

CREATE TABLE share_codes (
    id                INTEGER PRIMARY KEY,
    server_id         BIGINT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    code_hash         TEXT   NOT NULL UNIQUE,
    scopes            TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    exchange_count    BIGINT NOT NULL DEFAULT 0,
    last_exchange_at  BIGINT
);
CREATE INDEX share_codes_server ON share_codes (server_id);
