-- Governed retention (issue 14): a tenant's retention and legal hold change only through
-- audit.change_setting (sql/functions/change_setting.sql), which records every request in
-- audit.setting_change. Placing a hold and lengthening a retention take effect at once; lifting
-- a hold and shortening a retention take effect after the grace period (retention_policy.
-- grace_seconds, AUDITLOG_RETENTION_GRACE, default 7 days), when the maintenance pass applies
-- them (audit.apply_due_setting_changes); meanwhile readers see them pending and the publisher
-- may cancel. The service role can no longer write audit.tenant's settings itself, so nothing
-- it does can make prune_tenant, drop_expired_partitions or mark_digests_past_retention (which
-- read the settings in force) remove anything sooner than the policy allows.

SET LOCAL ROLE auditlog_owner;

ALTER TABLE audit.retention_policy ADD COLUMN grace_seconds integer NOT NULL DEFAULT 604800;
ALTER TABLE audit.retention_policy ADD CONSTRAINT retention_policy_grace_range CHECK (grace_seconds BETWEEN 0 AND 31536000);

REVOKE UPDATE ON audit.tenant FROM auditlog_app;
REVOKE INSERT ON audit.tenant FROM auditlog_app;
GRANT INSERT (tenant_id) ON audit.tenant TO auditlog_app;

CREATE TABLE audit.setting_change (
    tenant_id      text        NOT NULL,
    change_id      text        NOT NULL,
    setting        text        NOT NULL,
    old_value      text        NOT NULL,
    new_value      text        NOT NULL,
    requested_by   text        NOT NULL,
    requested_role text        NOT NULL,
    reason         text,
    requested_at   timestamptz NOT NULL,
    effective_at   timestamptz NOT NULL,
    cancelled_at   timestamptz,
    cancelled_by   text,
    applied_at     timestamptz,
    CONSTRAINT setting_change_pkey PRIMARY KEY (tenant_id, change_id),
    CONSTRAINT setting_change_setting CHECK (setting IN ('retention_days', 'legal_hold')),
    CONSTRAINT setting_change_once CHECK (cancelled_at IS NULL OR applied_at IS NULL)
);
ALTER TABLE audit.setting_change ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.setting_change FORCE ROW LEVEL SECURITY;
GRANT SELECT ON audit.setting_change TO auditlog_app;
