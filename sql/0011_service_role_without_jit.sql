-- PostgreSQL compiles a statement with LLVM when its estimated cost passes jit_above_cost
-- (100,000). A statement over every daily partition passes it on estimates alone: a prune
-- batch of 1,000 events (a DELETE over ~100 partitions of audit.event and audit.event_target)
-- spent ~750 ms compiling and 55 ms working, and the compiling took the CPU that ingest
-- needed (ingest p99 doubled during a prune). The service runs short statements only; no
-- session of its role compiles. prune_tenant says so itself too, for whoever calls it.

ALTER ROLE auditlog_app SET jit = off;

SET LOCAL ROLE auditlog_owner;
ALTER FUNCTION audit.prune_tenant(text, integer) SET jit = off;
