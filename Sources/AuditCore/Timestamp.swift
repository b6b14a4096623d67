import Foundation

/// RFC 3339 times as the API speaks them: `2026-11-21T10:00:00Z`, with an optional fraction
/// and `Z` or a `±HH:MM` offset. Stored and hashed at microsecond precision, like `timestamptz`.
public enum Timestamp {
    /// 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in seconds since 1970.
    static let earliestSeconds = -62_135_596_800
    static let latestSecondsExclusive = 253_402_300_800

    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        var index = 0
        func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += count
            return value
        }
        func skip(_ allowed: String) -> Bool {
            guard index < bytes.count, allowed.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), skip("-"), let month = digits(2), skip("-"), let day = digits(2), skip("Tt"),
              let hour = digits(2), skip(":"), let minute = digits(2), skip(":"), let second = digits(2) else { return nil }
        var micros = 0
        if skip(".") {
            var count = 0
            while index < bytes.count, (48...57).contains(bytes[index]) {
                if count < 6 { micros = micros * 10 + Int(bytes[index] - 48) }
                count += 1
                index += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<max(count, 6) { micros *= 10 }
        }
        var offset = 0
        if skip("Zz") {
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let hours = digits(2), skip(":"), let minutes = digits(2), hours < 24, minutes < 60 else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        guard index == bytes.count, (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
              hour < 24, minute < 60, second < 60 else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        // Years 0001-9999 once the offset is applied: what PostgreSQL and the formatter both take.
        guard (Self.earliestSeconds..<Self.latestSecondsExclusive).contains(seconds) else { return nil }
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    /// `2026-11-21T10:00:00.123456Z`: always UTC, always six fraction digits.
    public static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        write(micros: Int64((date.timeIntervalSince1970 * 1_000_000).rounded()), to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `format` for a count of microseconds since 1970, appended as bytes (the hot path of reads
    /// and exports, which get the instant from PostgreSQL as an integer).
    public static func write(micros: Int64, to output: inout [UInt8]) {
        var seconds = Int(micros / 1_000_000)
        var fraction = Int(micros % 1_000_000)
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var days = seconds / 86_400
        seconds -= days * 86_400
        if seconds < 0 { seconds += 86_400; days -= 1 }
        let (year, month, day) = civil(fromDays: days)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                output.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: (rest / divisor) % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(year, 4); output.append(UInt8(ascii: "-")); digits(month, 2); output.append(UInt8(ascii: "-")); digits(day, 2)
        output.append(UInt8(ascii: "T")); digits(seconds / 3600, 2); output.append(UInt8(ascii: ":"))
        digits(seconds / 60 % 60, 2); output.append(UInt8(ascii: ":")); digits(seconds % 60, 2)
        output.append(UInt8(ascii: ".")); digits(fraction, 6); output.append(UInt8(ascii: "Z"))
    }

    /// The start of the UTC hour holding `date`.
    /// Microseconds since the epoch (as stored).
    public static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    public static func hourStart(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
    }

    /// The date rounded to whole microseconds, as PostgreSQL will keep it.
    public static func truncatedToMicroseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1_000_000).rounded() / 1_000_000)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's civil-calendar algorithms.
    static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        return era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    }

    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
