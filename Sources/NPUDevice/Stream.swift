/// A FIFO of tasks on one device. Tasks on one stream run in order; tasks on different streams
/// are ordered only by events and by the engines they share.
public final class Stream {
    /// The card the stream belongs to.
    public unowned let device: Device
    /// Position in `device.streams` (the profile's thread id).
    public let index: Int
    /// Name shown in timelines (`compute`, `copy`, `comm`).
    public let name: String

    init(device: Device, index: Int, name: String) {
        self.device = device
        self.index = index
        self.name = name
    }

    /// Enqueues a kernel doing `work`; `name` is the instance (`fc1/MatMul`), `type` the op.
    @discardableResult
    public func launch(_ name: String, type: String, work: Work, info: TaskInfo? = nil) -> TaskID {
        device.enqueue(.kernel(work), name: name, type: type, on: self, info: info)
    }

    /// Enqueues a copy of `bytes` bytes.
    @discardableResult
    public func copy(_ name: String, bytes: Double, direction: CopyDirection, info: TaskInfo? = nil) -> TaskID {
        device.enqueue(.copy(bytes: bytes, direction: direction), name: name, type: "Memcpy\(direction.rawValue)", on: self, info: info)
    }

    /// Enqueues a transfer of `bytes` bytes over the inter-card link, sent (default) or received
    /// by this card; sending and receiving use separate engines (the link is full duplex).
    @discardableResult
    public func transfer(_ name: String, type: String, bytes: Double, direction: LinkDirection = .send, link: LinkType = .onBoard,
                         info: TaskInfo? = nil) -> TaskID {
        device.enqueue(.transfer(bytes: bytes, direction: direction, link: link), name: name, type: type, on: self, info: info)
    }

    /// Enqueues host work of `duration` that this stream waits for.
    @discardableResult
    public func hostCallback(_ name: String, duration: SimTime) -> TaskID {
        device.enqueue(.hostCallback(duration: duration), name: name, type: "HostCallback", on: self)
    }

    /// Records `event` at this point of the stream.
    @discardableResult
    public func record(_ event: Event) -> TaskID {
        device.enqueue(.eventRecord(event), name: "record e\(event.id)", type: "EventRecord", on: self)
    }

    /// Records a new event at this point of the stream and returns it.
    public func record() -> Event {
        let event = device.makeEvent()
        record(event)
        return event
    }

    /// Makes this stream wait until `event`'s latest record so far has completed. Waiting for an
    /// event never recorded does nothing (as on CUDA and ACL streams).
    @discardableResult
    public func wait(_ event: Event) -> TaskID {
        device.enqueue(.eventWait(event), name: "wait e\(event.id)", type: "EventWait", on: self)
    }
}
