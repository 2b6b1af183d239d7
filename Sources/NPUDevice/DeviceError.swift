/// Errors a card reports to its caller.
public enum DeviceError: Error, Equatable, CustomStringConvertible {
    /// An allocation did not fit in the HBM that was free.
    case outOfMemory(device: String, what: String, requested: Int64, free: Int64, capacity: Int64)
    /// A cluster that cannot be made.
    case badCluster(String)
    /// A wait for an event that no card of the cluster made.
    case unknownEvent(String)

    public var description: String {
        switch self {
        case let .outOfMemory(device, what, requested, free, capacity):
            "[\(device)] out of memory allocating '\(what)': needs \(formatBytes(requested)), "
                + "\(formatBytes(free)) free of \(formatBytes(capacity)) HBM"
        case .badCluster(let message), .unknownEvent(let message): message
        }
    }
}

/// `1.5 GiB (1610612736 bytes)`; below 1 KiB just `512 bytes`.
public func formatBytes(_ bytes: Int64) -> String {
    let units: [(String, Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024)]
    for (name, size) in units where Double(bytes) >= size {
        return "\(formatSignificant(Double(bytes) / size)) \(name) (\(bytes) bytes)"
    }
    return "\(bytes) bytes"
}
