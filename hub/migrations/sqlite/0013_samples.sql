-- What the hub samples every few minutes for the admin's Overview charts (running servers,
-- active users, the GPU queue, spawn durations, each GPU's utilisation and memory): one row per
-- figure and series at each time, values in thousandths. Kept for 8 days, then deleted.
CREATE TABLE samples (
    at           BIGINT NOT NULL,
    metric       TEXT   NOT NULL,
    series       TEXT   NOT NULL,
    value_milli  BIGINT NOT NULL
);
CREATE INDEX samples_metric_at ON samples (metric, at);
CREATE INDEX samples_at ON samples (at);
