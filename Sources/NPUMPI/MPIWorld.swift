import CMPI
import Foundation
import NPUGraph

/// An error of the MPI transport: a failed call, or an exchange that did not complete in time.
public struct MPIError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The ranks of an `mpirun` job (Open MPI), as the transport of a run split across processes:
/// rank r computes the r-th of the ranks' contiguous blocks of cards, and an exchange is an
/// all-gather of every rank's bytes. Every blocking wait is bounded (`timeout`), so a rank that
/// stopped ends the job with an error, never a hang.
public final class MPIWorld: CardExchange, @unchecked Sendable {
    /// This process's rank and the job's ranks.
    public let rank: Int
    public let size: Int
    /// Seconds an exchange may wait for the other ranks (`NPUSIM_MPI_TIMEOUT`, 600 by default).
    public let timeout: Double
    /// The job's ranks on this host (Open MPI's `OMPI_COMM_WORLD_LOCAL_SIZE`), if known.
    public let ranksOnThisHost = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) }
    /// Exchanges begun so far.
    public private(set) var exchanges = 0
    /// The cards this rank computes (`partition(cards:)`; all until then).
    public private(set) var localCards: Range<Int> = 0..<Int.max

    /// MPI, initialised when this process was started by `mpirun` (Open MPI's environment, or
    /// PMIx's), else nil: a plain run links MPI but never starts it.
    /// - Throws: `MPIError` when MPI cannot start.
    public static func launched(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MPIWorld? {
        guard environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil else { return nil }
        var timeout = 600.0
        if let text = environment["NPUSIM_MPI_TIMEOUT"] {
            guard let t = Double(text), t > 0, t.isFinite else { throw MPIError(message: "NPUSIM_MPI_TIMEOUT must be a number of seconds above 0, got '\(text)'") }
            timeout = t
        }
        var provided: Int32 = 0
        guard MPI_Init_thread(nil, nil, npusim_mpi_thread_funneled(), &provided) == MPI_SUCCESS else {
            throw MPIError(message: "MPI_Init_thread failed: is this an Open MPI job (mpirun from Debian's openmpi-bin)?")
        }
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(npusim_mpi_comm_world(), &rank)
        MPI_Comm_size(npusim_mpi_comm_world(), &size)
        let world = MPIWorld(rank: Int(rank), size: Int(size), timeout: timeout)
        installStopHandler(rank: Int(rank))
        return world
    }

    init(rank: Int, size: Int, timeout: Double) {
        (self.rank, self.size, self.timeout) = (rank, size, timeout)
    }

    /// Rank r's block of `cards` cards: cards r·N/R ..< (r+1)·N/R.
    /// - Throws: `MPIError` with fewer cards than ranks.
    @discardableResult
    public func partition(cards: Int) throws -> Range<Int> {
        guard cards >= size else {
            throw MPIError(message: "mpirun -n \(size) needs at least \(size) cards (one per rank at least), the run has \(cards): give --cards \(size) or more, or fewer ranks")
        }
        localCards = rank * cards / size ..< (rank + 1) * cards / size
        return localCards
    }

    /// The all-gather (`CardExchange`): this rank's `count` bytes, written by `fill`, and
    /// every rank's in rank order to `read`.
    /// - Throws: `MPIError` when an MPI call fails, a buffer passes MPI's 2 GiB counts, or the
    ///   others do not arrive within `timeout` seconds; what `read` throws.
    public func exchange(sending count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void, what: String,
                         read: ([UnsafeRawBufferPointer]) throws -> Void) throws {
        exchanges += 1
        guard count <= Int(Int32.max) else { throw MPIError(message: "\(what): \(count) bytes from one rank, more than one MPI call carries (2 GiB)") }
        if size == 1 {
            reserve(receive: count)
            fill(UnsafeMutableRawBufferPointer(start: receiveBuffer, count: count))
            return try read([UnsafeRawBufferPointer(start: receiveBuffer, count: count)])
        }
        // A nonblocking call reads and writes its buffers until it completes: they are this
        // world's own, allocated once and grown as needed, never a Swift array's storage.
        sizes.pointee = Int64(count)
        try waitFor(what) { request in
            MPI_Iallgather(sizes, 1, npusim_mpi_int64(), sizes + 1, 1, npusim_mpi_int64(), npusim_mpi_comm_world(), &request)
        }
        let all = UnsafeBufferPointer(start: sizes + 1, count: size)
        let total = all.reduce(0, +)
        guard total <= Int64(Int32.max) else {
            throw MPIError(message: "\(what): the ranks exchange \(total) bytes, more than one MPI call carries (2 GiB); use fewer cards per rank or more ranks")
        }
        for r in 0..<size {
            counts[r] = Int32(all[r])
            displacements[r] = r == 0 ? 0 : displacements[r - 1] + counts[r - 1]
        }
        // This rank's bytes are written where the others' arrive (MPI_IN_PLACE): no send buffer.
        reserve(receive: Int(total))
        fill(UnsafeMutableRawBufferPointer(start: receiveBuffer + Int(displacements[rank]), count: count))
        try waitFor(what) { request in
            MPI_Iallgatherv(npusim_mpi_in_place(), 0, npusim_mpi_byte(), receiveBuffer, counts, displacements, npusim_mpi_byte(),
                            npusim_mpi_comm_world(), &request)
        }
        try read((0..<size).map { UnsafeRawBufferPointer(start: receiveBuffer + Int(displacements[$0]), count: Int(counts[$0])) })
    }

    // The buffers of the calls in flight (see `exchange`).
    private lazy var sizes = UnsafeMutablePointer<Int64>.allocate(capacity: size + 1)
    private lazy var counts = UnsafeMutablePointer<Int32>.allocate(capacity: size)
    private lazy var displacements = UnsafeMutablePointer<Int32>.allocate(capacity: size)
    private var receiveBuffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64), receiveCapacity = 64

    private func reserve(receive: Int) {
        if receive > receiveCapacity {
            // Only before filling it (nothing in it is kept between exchanges).
            receiveBuffer.deallocate()
            receiveCapacity = max(receive, 2 * receiveCapacity)
            receiveBuffer = .allocate(byteCount: receiveCapacity, alignment: 64)
        }
    }

    /// Starts a nonblocking call and waits for it, at most `timeout` seconds.
    private func waitFor(_ what: String, _ start: (inout MPI_Request?) -> Int32) throws {
        var request: MPI_Request? = npusim_mpi_request_null()
        guard start(&request) == MPI_SUCCESS else { throw MPIError(message: "rank \(rank): \(what): the MPI call failed") }
        MPIWorld.setWaiting("npusim rank \(rank): stopped while waiting for the other ranks in \(what)\n")
        defer { MPIWorld.setWaiting("npusim rank \(rank): stopped after \(what)\n") }
        let began = DispatchTime.now().uptimeNanoseconds
        var done: Int32 = 0
        while true {
            guard MPI_Test(&request, &done, npusim_mpi_status_ignore()) == MPI_SUCCESS else {
                throw MPIError(message: "rank \(rank): \(what): the MPI exchange failed")
            }
            if done != 0 { return }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            if waited > timeout {
                throw MPIError(message: "rank \(rank): \(what) did not complete within \(Int(timeout)) s (NPUSIM_MPI_TIMEOUT): another rank stopped or hangs")
            }
            // Every test moves the transfer on. Spin while a transfer in progress finishes (tens of
            // microseconds), then yield the core to the data threads or a rank sharing it, then
            // sleep between tests: after a millisecond 50 µs, after a second a millisecond.
            if waited < 20e-6 { continue }
            if waited < 1e-3 { sched_yield() } else { usleep(waited < 1 ? 50 : 1000) }
        }
    }

    /// Ends the whole job: every rank stops (mpirun reports the exit code).
    public func abort(code: Int32) -> Never {
        MPI_Abort(npusim_mpi_comm_world(), code)
        exit(code)
    }

    /// Leaves MPI at the end of a successful run (every rank).
    public func finalize() {
        MPI_Finalize()
    }

    // What a rank says when mpirun stops it (another rank died): the exchange it was in. A
    // signal handler may only write a prepared buffer.
    nonisolated(unsafe) private static var stopMessage = UnsafeMutablePointer<CChar>.allocate(capacity: 1024)
    nonisolated(unsafe) private static var stopLength = 0

    private static func setWaiting(_ text: String) {
        let bytes = Array(text.utf8.prefix(1023))
        stopLength = 0
        let target = UnsafeMutableRawPointer(stopMessage)
        bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        stopLength = bytes.count
    }

    private static func installStopHandler(rank: Int) {
        setWaiting("npusim rank \(rank): stopped before its first exchange\n")
        let handler: @convention(c) (Int32) -> Void = { signal in
            _ = write(2, MPIWorld.stopMessage, MPIWorld.stopLength)
            _exit(128 + signal)
        }
        signal(SIGTERM, handler)
        signal(SIGINT, handler)
    }
}
