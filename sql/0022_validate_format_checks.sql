-- The stored rows checked against 0021's constraints, under SHARE UPDATE EXCLUSIVE: events keep
-- arriving while the rows are read (seconds on millions of events).

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.event VALIDATE CONSTRAINT event_id_format;
ALTER TABLE audit.event VALIDATE CONSTRAINT event_hash_format;
ALTER TABLE audit.event_id VALIDATE CONSTRAINT event_id_hash_format;
