import Testing
@testable import NPUDevice

@Suite struct MemoryTests {
    @Test func outOfMemoryNamesWhatItsSizeAndTheFreeHBM() throws {
        let device = Device(spec: .test)  // 1e9 bytes of HBM
        let first = try device.allocate(600_000_000, for: "fc1.weight")
        #expect(device.memoryInUse == 600_000_000)
        let expected = DeviceError.outOfMemory(device: "test:0", what: "fc2.weight", requested: 500_000_000,
                                               free: 400_000_000, capacity: 1_000_000_000)
        #expect(throws: expected) { try device.allocate(500_000_000, for: "fc2.weight") }
        #expect(expected.description == "[test:0] out of memory allocating 'fc2.weight': needs 476.837 MiB (500000000 bytes), "
            + "381.47 MiB (400000000 bytes) free of 953.674 MiB (1000000000 bytes) HBM")
        // A failed allocation changes nothing; freeing makes room.
        #expect(device.memoryInUse == 600_000_000)
        device.free(first)
        let second = try device.allocate(500_000_000, for: "fc2.weight")
        #expect(device.memoryInUse == 500_000_000)
        #expect(device.peakMemoryInUse == 600_000_000)
        #expect(second.bytes == 500_000_000 && second.label == "fc2.weight")
    }

    @Test func exactlyFullIsAllowed() throws {
        let device = Device(spec: .test)
        _ = try device.allocate(1_000_000_000, for: "all")
        #expect(throws: DeviceError.self) { try device.allocate(1, for: "one more byte") }
    }
}
