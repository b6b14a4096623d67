import Foundation

/// The `initdb` and `pg_ctl` of this machine: on PATH, else the newest `/usr/lib/postgresql/*/bin`.
struct PostgresBinaries: Sendable {
    var initdb: String
    var pgCtl: String

    static func find() throws -> PostgresBinaries {
        var folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        folders += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(root)/\($0)/bin" }
        for folder in folders {
            let initdb = folder + "/initdb", pgCtl = folder + "/pg_ctl"
            if FileManager.default.isExecutableFile(atPath: initdb), FileManager.default.isExecutableFile(atPath: pgCtl) {
                return PostgresBinaries(initdb: initdb, pgCtl: pgCtl)
            }
        }
        throw EmbeddedPostgresError(message: """
            PostgreSQL's initdb and pg_ctl were not found on PATH or in /usr/lib/postgresql/*/bin. \
            Install the server (apt-get install postgresql) or set DATABASE_URL to use an existing database.
            """)
    }
}
