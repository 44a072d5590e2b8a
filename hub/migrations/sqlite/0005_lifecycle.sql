-- The typed lifecycle: which spawner started a workload, why the last start or stop failed,
-- when the state last changed; typed upstream addresses and versioned spawner states;
-- a row lock for fleet-wide limits and leases for work only one hub process may do at a time.
ALTER TABLE servers ADD COLUMN spawner_kind TEXT;
ALTER TABLE servers ADD COLUMN last_error TEXT;
ALTER TABLE servers ADD COLUMN state_changed_at BIGINT;

-- Rows written by earlier versions: every workload was a Docker container, addresses were
-- `http://127.0.0.1:PORT`, states `{"container_id", "container_name", "token_nonce"}`.
UPDATE servers SET spawner_kind = 'docker' WHERE status <> 'stopped';
UPDATE servers SET url = '{"scheme":"http","host":"127.0.0.1","port":' || substr(url, 18) || '}'
    WHERE url LIKE 'http://127.0.0.1:%';
UPDATE servers SET url = NULL WHERE url IS NOT NULL AND url NOT LIKE '{%';
UPDATE servers SET spawner_state = json_object(
        'workload', json_object('kind', 'docker', 'version', 1, 'data', json_object(
            'container_id', json_extract(spawner_state, '$.container_id'),
            'container_name', json_extract(spawner_state, '$.container_name'))),
        'token_nonce', coalesce(json_extract(spawner_state, '$.token_nonce'), ''))
    WHERE status <> 'stopped' AND spawner_state <> '{}';
UPDATE servers SET spawner_state = '{}' WHERE status = 'stopped';

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
