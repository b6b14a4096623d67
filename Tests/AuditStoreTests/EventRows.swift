import Foundation
import PostgresLibPQ

/// Inserts a minimal event row as whoever the connection's transaction acts for.
func insertEvent(_ connection: PostgresConnection, tenant: String, id: String, message: String = "something happened") throws {
    try connection.query("""
        INSERT INTO audit.tenant (tenant_id) VALUES (\(tenant)) ON CONFLICT DO NOTHING
        """)
    try connection.query("""
        INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
        VALUES (\(tenant), \(id), now(), 'client.renamed', 'client_mapping', 'user', 'u_1', \(message), repeat('a', 64))
        """)
}

/// `BEGIN; SET LOCAL …` for a tenant and role, as the service sends it.
func context(_ tenant: String, _ role: String) -> String {
    "SET LOCAL auditlog.tenant = '\(tenant)'; SET LOCAL auditlog.role = '\(role)'"
}
