-- The benchmark's dataset, generated inside PostgreSQL (as the superuser) so that 5 M events
-- load in minutes. Rows look like what ingest stores: the SPEC's categories and actions,
-- rendered messages, 1–3 targets (with their audit.event_target rows), diffs with their
-- changed_fields, context and metadata, 3 % failures. Run once per chunk of tenants with
-- psql variables :first_rank, :last_rank and :days (the span of occurred_at).
-- (`+ g * 0` ties each random() to its row; uncorrelated, a subquery's random() runs once.)

SELECT setseed(:first_rank::float / 100000);

WITH inserted AS (
    INSERT INTO audit.event (tenant_id, id, occurred_at, received_at, action, category, actor_type, actor_id,
                             actor_name, actor_email, targets, message, changes, changed_fields, context, metadata,
                             outcome, hash)
    SELECT t.tenant_id,
           'ev_' || t.rank || '_' || g,
           at.occurred,
           at.occurred + interval '150 milliseconds',
           a.action, a.category, 'user',
           'u_' || p.actor,
           p.actor_name,
           lower(replace(p.actor_name, ' ', '.')) || '@' || t.tenant_id || '.example.com',
           CASE WHEN p.extra = 0 THEN jsonb_build_array(p.target)
                WHEN p.extra = 1 THEN jsonb_build_array(p.target, p.second)
                ELSE jsonb_build_array(p.target, p.second, p.third) END,
           format(a.template, p.actor_name, p.target->>'name', p.old_value, p.new_value),
           jsonb_build_object(a.field, jsonb_build_object('old', p.old_value, 'new', p.new_value)),
           a.fields,
           jsonb_build_object('ip', '203.0.113.' || (p.actor % 250), 'request_id', 'req_' || t.rank || '_' || g,
                              'user_agent', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15'),
           CASE WHEN a.category = 'integrations' THEN '{"integration": "quickbooks", "source": "sync"}'::jsonb
                ELSE '{"source": "web"}'::jsonb END,
           CASE WHEN random() < 0.03 THEN 'failure' ELSE 'success' END,
           encode(sha256(convert_to(t.tenant_id || '/ev_' || t.rank || '_' || g, 'UTF8')), 'hex')
    FROM bench.tenant_size AS t
    CROSS JOIN LATERAL generate_series(1, t.size) AS g
    CROSS JOIN LATERAL (SELECT now() - (random() + g * 0) * make_interval(days => :days) AS occurred,
                               floor(random() * 15 + g * 0)::int AS k) AS at
    JOIN bench.action AS a ON a.k = at.k
    CROSS JOIN LATERAL (
        SELECT actor, (ARRAY['Alice','Bob','Carla','Dmitri','Elena','Farid','Grace','Hiro','Ines','Jonas','Keiko','Liam','Maya','Noah','Olga','Pedro','Quinn','Rosa','Sami','Tara','Umar','Vera','Wes','Xenia','Yusuf','Zoe','Amir','Bea','Cyril','Dana','Emil','Fleur','Gus','Hana','Ivo','Jade','Kai','Lena','Milo','Nia'])[1 + actor % 40] || ' ' || (ARRAY['Smith','Garcia','Chen','Novak','Okafor','Rossi','Silva','Kowalski','Tanaka','Muller','Dubois','Larsen','Haddad','Ivanova','Kim','Nguyen','Patel','Santos','Jensen','Moreau','Weber','Costa','Fischer','Horvat','Lindqvist','Brennan','Osei','Ferreira','Kaur','Vogel','Ramos','Sato','Petrov','Walsh','Berg','Lopez','Adler','Ruiz','Quist','Marsh'])[1 + (actor / 40) % 40] AS actor_name,
               jsonb_build_object('type', a.target_type, 'id', a.target_prefix || target,
                                  'name', (ARRAY['Acme','Globex','Initech','Umbrella','Hooli','Vandelay','Stark','Wayne','Wonka','Tyrell','Cyberdyne','Soylent','Gringotts','Oceanic','Massive','Dynamic','Aperture','Monarch','Nakatomi','Virtucon','Duff','Krusty','Sterling','Pied','Piper','Bluth','Dunder','Prestige','Wernham','Oscorp','Nimbus','Zenith','Orbit','Harbor','Summit','Cascade','Meridian','Atlas','Beacon','Copper','Falcon','Granite','Juniper','Lumen','Maple','Nova','Onyx','Pioneer','Quartz','Redwood','Sable','Tundra','Vertex','Willow','Yarrow','Zephyr','Alder','Birch','Cobalt','Delta'])[1 + target % 60] || ' ' || (ARRAY['Ltd','GmbH','Inc','LLC','Group','Partners','Holdings','Co'])[1 + (target / 60) % 8]) AS target,
               jsonb_build_object('type', 'user', 'id', 'u_' || (actor + 1), 'name', 'Team member ' || (actor + 1)) AS second,
               jsonb_build_object('type', 'integration', 'id', 'int_' || (target % 5), 'name', 'QuickBooks Online') AS third,
               CASE WHEN random() < 0.25 THEN 1 WHEN random() < 0.1 THEN 2 ELSE 0 END AS extra,
               a.old_values[1 + (target % 3)] AS old_value, a.new_values[1 + (g % 3)] AS new_value
        FROM (SELECT (floor(random() * t.actors + g * 0))::int AS actor, (floor(random() * t.targets + g * 0))::int AS target) AS r
    ) AS p
    WHERE t.rank BETWEEN :first_rank AND :last_rank
    RETURNING tenant_id, id, occurred_at, targets
)
INSERT INTO audit.event_target (tenant_id, target_type, target_id, occurred_at, event_id)
SELECT DISTINCT i.tenant_id, x->>'type', x->>'id', i.occurred_at, i.id
FROM inserted AS i CROSS JOIN LATERAL jsonb_array_elements(i.targets) AS x;
