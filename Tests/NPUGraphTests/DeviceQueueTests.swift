import Testing
import NPUDevice
import NPUTensor
@testable import NPUGraph

/// The device queue holds at most its capacity, and a deferred batch is made only when a step takes
/// it, in the order pushed: what keeps a long sink's host memory flat.
@Suite struct DeviceQueueTests {
    @Test func deferredBatchesAreMadeWhenTakenAndTheQueueStaysBounded() throws {
        let queue = DeviceQueue(device: Device(spec: .test))
        var made = 0
        let types = ["data": TensorType(.float32, [2])]
        func next() throws -> [String: Tensor] {
            made += 1
            return ["data": try Tensor(shape: [2], values: [Float(made), 0])]
        }
        try queue.fill(upTo: 250, types: types, next)
        #expect(queue.count == DeviceQueue.defaultCapacity && made == 0)
        for k in 1...3 {
            let batch = try #require(try queue.pop())
            let values = try batch.feeds["data"]!.toArray(of: Float.self)
            #expect(made == k && values == [Float(k), 0])
        }
        try queue.fill(upTo: 250, types: types, next)
        #expect(queue.count == DeviceQueue.defaultCapacity && made == 3)
        try queue.fill(upTo: 10, types: types, next)  // already more than 10 waiting: nothing pushed
        #expect(queue.count == DeviceQueue.defaultCapacity)
    }
}
