import Foundation

/// For suites whose expectations are laid out in whole hours before now ("3 hours ago",
/// "sealed up to this hour"): the hour must not turn while they run, or every "hours ago"
/// computed before the turn names another hour than one computed after it. Called first in
/// such a suite's `init`; in the last `margin` of an hour it waits for the next one to begin
/// (at most `margin`, a few times a day), so the suite then has the whole hour before it. It
/// wakes 30 s into the new hour, not at its first second: suites stamp events a few seconds in
/// the past ("now - 5 s"), which must fall in the new hour too (a CI run that woke at 04:00:01
/// stamped its "open hour" events 03:59:56).
public func awayFromHourBoundary(margin: TimeInterval = 300) async throws {
    let intoHour = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 3600)
    if intoHour < 30 { try await Task.sleep(for: .seconds(30 - intoHour)) }
    guard intoHour > 3600 - margin else { return }
    try await Task.sleep(for: .seconds(3600 - intoHour + 30))
}
