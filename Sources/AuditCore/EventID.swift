import Foundation

/// Ids for events sent without one: UUID version 7 (RFC 9562), lower-case text. The first
/// 48 bits are the Unix time in milliseconds, then the version, 12 random bits, the variant
/// and 62 random bits.
///
/// Ids that grow with time put a tenant's new rows next to each other at the end of its range
/// in the unique indexes on `(tenant_id, id, …)`, where random ones touched a page of their
/// own each. It is also cheaper to make: Foundation's `UUID()` opens `/dev/urandom` for every
/// id on Linux.
public enum EventID {
    public static func generate(at time: Date) -> String {
        var random = SystemRandomNumberGenerator()
        let milliseconds = UInt64(min(max(time.timeIntervalSince1970 * 1000, 0), Double(0xffff_ffff_ffff)))
        let randomA: UInt64 = random.next(), randomB: UInt64 = random.next()
        let high = milliseconds << 16 | 0x7000 | (randomA & 0x0fff)
        let low = (randomB & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 36) { text in
            var position = 0
            func write(_ value: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    text[position] = digits.utf8Start[Int((value >> UInt64(shift)) & 0xf)]
                    position += 1
                }
            }
            func dash() { text[position] = UInt8(ascii: "-"); position += 1 }
            write(high >> 32, nibbles: 8); dash()
            write(high >> 16, nibbles: 4); dash()
            write(high, nibbles: 4); dash()
            write(low >> 48, nibbles: 4); dash()
            write(low, nibbles: 12)
            return position
        }
    }
}
