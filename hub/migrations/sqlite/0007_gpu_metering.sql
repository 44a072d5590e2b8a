-- GPU metering: one row per GPU session, from the claim (the start's transaction) to the
-- release (the transaction that ends in stopped). A server deleted later keeps its history.
CREATE TABLE gpu_sessions (
    id               INTEGER PRIMARY KEY,
    server_id        BIGINT REFERENCES servers (id) ON DELETE SET NULL,
    user_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    server_name      TEXT   NOT NULL,
    size             TEXT   NOT NULL,
    uuids            TEXT   NOT NULL,          -- comma-separated
    units_milli      BIGINT NOT NULL,          -- GPUs held, in thousandths (a MIG slice: its fraction)
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT,
    end_reason       TEXT,
    limit_at         BIGINT,                   -- when max_session_hours ends it (extensions move it)
    deadline_at      BIGINT,                   -- when the first limit ends it, as last computed
    deadline_reason  TEXT,
    warned_at        BIGINT,                   -- when the owner was warned of deadline_at
    idle_since       BIGINT                    -- since when its GPUs read idle
);
CREATE INDEX gpu_sessions_user ON gpu_sessions (user_id, started_at);
CREATE INDEX gpu_sessions_server ON gpu_sessions (server_id, ended_at);

-- GPU limits set by admins on the admin page, for one user or one group (JSON of the
-- `[gpu_limits]` entry); they replace the config's entry for that subject.
CREATE TABLE gpu_limit_overrides (
    id          INTEGER PRIMARY KEY,
    user_id     BIGINT REFERENCES users (id) ON DELETE CASCADE,
    group_id    BIGINT REFERENCES groups (id) ON DELETE CASCADE,
    limits      TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX gpu_limit_overrides_user ON gpu_limit_overrides (user_id);
CREATE UNIQUE INDEX gpu_limit_overrides_group ON gpu_limit_overrides (group_id);
