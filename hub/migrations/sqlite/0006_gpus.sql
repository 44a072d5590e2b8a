-- The GPU ledger: a unit (a GPU or a MIG instance, by UUID) is held by at most one server —
-- the primary key says so to every hub process at once. Claimed in the transaction that moves a
-- server to pending, released in every one that ends in stopped.
CREATE TABLE gpu_claims (
    uuid        TEXT   PRIMARY KEY,
    server_id   BIGINT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    claimed_at  BIGINT NOT NULL
);
CREATE INDEX gpu_claims_server ON gpu_claims (server_id);

-- A queued server (waiting for GPUs) waits in order of this time.
ALTER TABLE servers ADD COLUMN queued_at BIGINT;
