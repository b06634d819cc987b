/// Fair shares and the bounds derived from them, shared by replica and leader balancing.
struct LoadShares {
    /// Each broker's fair share: `total` split in proportion to weight, no broker above its cap
    /// (`upperLimits`), the excess poured onto the others ("water filling").
    let share: [Double]
    /// `⌊share⌋`: new replicas go first to brokers below this.
    let lower: [Int]
    /// `⌊(1 - ε) · share⌋`: a broker below this takes replicas from brokers above their share,
    /// up to `lower`. The gap between the two keeps a broker one or two replicas short of its
    /// share from causing moves of their own; a new broker is far below and fills up to `lower`.
    let pullBelow: [Int]
    /// `max(⌈share⌉, ⌊(1 + ε) · share⌋)`, never above the broker's cap: the bounded-loads bound.
    let upper: [Int]

    init(total: Int, weights: [Double], upperLimits: [Int], loadSlack: Double) {
        let count = weights.count
        var share = [Double](repeating: 0, count: count)
        var fixed = [Bool](repeating: false, count: count)
        var remaining = Double(total)
        while true {
            var freeWeight = 0.0
            for index in 0..<count where !fixed[index] { freeWeight += weights[index] }
            guard freeWeight > 0 else { break }
            var clamped = false
            for index in 0..<count where !fixed[index] {
                if remaining * weights[index] / freeWeight > Double(upperLimits[index]) {
                    fixed[index] = true
                    share[index] = Double(upperLimits[index])
                    remaining -= share[index]
                    clamped = true
                }
            }
            if !clamped {
                for index in 0..<count where !fixed[index] { share[index] = remaining * weights[index] / freeWeight }
                break
            }
        }
        // A tolerance keeps 30.000000000004 from becoming a bound of 31.
        let tolerance = 1e-9
        self.share = share
        self.lower = share.map { floorOf($0 + tolerance) }
        self.pullBelow = share.map { floorOf($0 * (1 - loadSlack) + tolerance) }
        self.upper = share.indices.map { index in
            let bound = max(ceilingOf(share[index] - tolerance),
                            floorOf(share[index] * (1 + loadSlack) + tolerance))
            return min(bound, upperLimits[index])
        }
    }
}

/// `⌊value⌋` for a non-negative value, without libm (the module links nothing).
func floorOf(_ value: Double) -> Int {
    value <= 0 ? 0 : Int(value)
}

/// `⌈value⌉` for a non-negative value, without libm.
func ceilingOf(_ value: Double) -> Int {
    let whole = floorOf(value)
    return Double(whole) < value ? whole + 1 : whole
}
