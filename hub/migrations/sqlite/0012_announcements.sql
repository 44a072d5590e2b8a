-- Admins' announcements: Markdown text shown on the sign-in page, the dashboard or every page,
-- until it expires (NULL: until removed). Read at each page view, so they change without a restart.
CREATE TABLE announcements (
    id          INTEGER PRIMARY KEY,
    body        TEXT    NOT NULL,
    placement   TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    created_by  TEXT,
    expires_at  BIGINT
);
CREATE INDEX announcements_expires_at ON announcements (expires_at);
