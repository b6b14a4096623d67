-- Helper tables for bench/dataset.sql (schema bench, owned by the superuser, never read by
-- the product). The actions are the SPEC's, with the change each one records.

DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

CREATE TABLE bench.tenant_size (
    rank      integer PRIMARY KEY,
    tenant_id text NOT NULL,
    size      integer NOT NULL,
    actors    integer NOT NULL,
    targets   integer NOT NULL
);

CREATE TABLE bench.action (
    k             integer PRIMARY KEY,
    action        text NOT NULL,
    category      text NOT NULL,
    target_type   text NOT NULL,
    target_prefix text NOT NULL,
    field         text NOT NULL,
    fields        text[] NOT NULL,
    template      text NOT NULL,
    old_values    text[] NOT NULL,
    new_values    text[] NOT NULL
);

INSERT INTO bench.action VALUES
 (0,  'user.invited', 'users', 'user', 'u_', 'role', '{role}', '%s invited %s as %4$s', '{null,null,null}', '{member,admin,billing}'),
 (1,  'user.role_changed', 'users', 'user', 'u_', 'role', '{role}', '%s changed the role of %s from %s to %s', '{member,admin,billing}', '{admin,owner,member}'),
 (2,  'user.removed', 'users', 'user', 'u_', 'status', '{status}', '%s removed %s from the organization', '{active,active,invited}', '{removed,removed,removed}'),
 (3,  'integration.connected', 'integrations', 'integration', 'int_', 'status', '{status}', '%s connected %s', '{disconnected,disconnected,error}', '{connected,connected,connected}'),
 (4,  'integration.synced', 'integrations', 'integration', 'int_', 'last_sync.records', '{last_sync,last_sync.records}', '%s synced %s', '{120,4031,88}', '{131,4102,90}'),
 (5,  'integration.updated', 'integrations', 'integration', 'int_', 'settings.sync_interval', '{settings,settings.sync_interval}', '%s changed the sync interval of %s from %s to %s', '{hourly,daily,weekly}', '{daily,hourly,daily}'),
 (6,  'integration.disconnected', 'integrations', 'integration', 'int_', 'status', '{status}', '%s disconnected %s', '{connected,connected,error}', '{disconnected,disconnected,disconnected}'),
 (7,  'client.renamed', 'client_mapping', 'client', 'cl_', 'name', '{name}', '%s renamed client %s from %s to %s', '{Northwind,Contoso,Fabrikam}', '{Northwind Traders,Contoso Pharma,Fabrikam Retail}'),
 (8,  'client.merged', 'client_mapping', 'client', 'cl_', 'merged_into', '{merged_into}', '%s merged client %s into %4$s', '{null,null,null}', '{cl_1,cl_2,cl_3}'),
 (9,  'client.unlinked', 'client_mapping', 'client', 'cl_', 'external_id', '{external_id}', '%s unlinked client %s from %s', '{qb_1881,xero_77,qb_2012}', '{null,null,null}'),
 (10, 'service_mapping.rule_updated', 'service_mapping', 'service', 'svc_', 'rule.service', '{rule,rule.service}', '%s changed the mapping rule for %s from %s to %s', '{Managed Backup,Help Desk,Onboarding}', '{Cloud Backup,Service Desk,Project Work}'),
 (11, 'subscription.changed', 'billing', 'subscription', 'sub_', 'plan.name', '{plan,plan.name}', '%s changed the plan of %s from %s to %s', '{Starter,Growth,Business}', '{Growth,Business,Enterprise}'),
 (12, 'payment_method.changed', 'billing', 'payment_method', 'pm_', 'card_last4', '{card_last4}', '%s replaced the payment method of %s', '{4242,1881,0005}', '{4444,5100,3782}'),
 (13, 'organization.settings_updated', 'organization', 'organization', 'org_', 'settings.timezone', '{settings,settings.timezone}', '%s changed the time zone from %3$s to %4$s', '{UTC,Europe/Berlin,America/New_York}', '{Europe/London,UTC,America/Chicago}'),
 (14, 'audit_log.exported', 'audit', 'audit_log', 'log_', 'format', '{format}', '%s exported the audit log as %4$s', '{null,null,null}', '{csv,ndjson,csv}');
