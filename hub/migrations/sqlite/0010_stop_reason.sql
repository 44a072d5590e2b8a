-- Why the hub itself stopped a server (the culler, a GPU limit): set when the stop begins, moved
-- to last_error once it is stopped, so the owner sees why.
ALTER TABLE servers ADD COLUMN stop_reason TEXT;
