-- Key/value facts about this hub installation, e.g. its id (labels on its containers carry it).
CREATE TABLE hub_settings (
    key    TEXT NOT NULL PRIMARY KEY,
    value  TEXT NOT NULL
);
