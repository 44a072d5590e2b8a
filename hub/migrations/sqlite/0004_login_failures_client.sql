-- Failed sign-ins are counted per name *and* client address, so a stranger elsewhere cannot lock
-- someone out. Rows from before this migration have no address ('') and simply age out.
ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
CREATE INDEX login_failures_name_client_at ON login_failures (username, client, at);
