-- The typed lifecycle: which spawner started a workload, why the last start or stop failed,
-- when the state last changed; typed upstream addresses and versioned spawner states;
-- a row lock for fleet-wide limits and leases for work only one hub process may do at a time.
ALTER TABLE servers ADD COLUMN spawner_kind TEXT;
ALTER TABLE servers ADD COLUMN last_error TEXT;
ALTER TABLE servers ADD COLUMN state_changed_at BIGINT;

-- (PostgreSQL databases never held rows of earlier versions: nothing to convert.)

CREATE TABLE locks (
    name        TEXT   PRIMARY KEY,
    generation  BIGINT NOT NULL DEFAULT 0
);
INSERT INTO locks (name, generation) VALUES ('servers', 0);

CREATE TABLE leases (
    name        TEXT   PRIMARY KEY,  -- e.g. 'reconcile'
    holder      TEXT   NOT NULL,     -- the process holding it
    expires_at  BIGINT NOT NULL
);

-- The hub process carrying out a row's start or stop (its `instance:ID` lease says whether it
-- lives): a start or stop whose process died is settled at once by the next reconcile.
ALTER TABLE servers ADD COLUMN worker TEXT;
