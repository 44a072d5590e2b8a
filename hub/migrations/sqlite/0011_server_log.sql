-- The end of a server's log when its start failed or it died (its workload is removed then, and
-- its owner reads why on the progress page and the dashboard). Bounded by the hub (64 KiB).
ALTER TABLE servers ADD COLUMN last_log TEXT;
