import Foundation
import NPUDevice
import NPUProfile

// Profiles through the ABI: the cards of a script's models and of the PyNative context written
// in the Ascend profiler's layout, as `npusim profile` writes them.

/// Writes the profile of the cards of `count` models (made with flag bit 1, which records every
/// task) and of the PyNative context `eager` (may be null) into `dir`: ASCEND_PROFILER_OUTPUT/
/// and timeline.svg. `summary` receives what `npusim profile` prints (the top ops and the step
/// breakdown), a string the caller releases with `npusim_string_free`.
@_cdecl("npusim_profile_write")
public func npusim_profile_write(_ dir: UnsafePointer<CChar>?, _ models: UnsafePointer<OpaquePointer?>?, _ count: Int32, _ eager: OpaquePointer?,
                                 _ summary: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    guarded {
        guard let dir else { throw ABIError(message: "the folder is null") }
        guard count >= 0, count == 0 || models != nil else { throw ABIError(message: "the models pointer is null") }
        var devices: [Device] = []
        for k in 0..<Int(count) {
            guard let handle = models![k] else { throw ABIError(message: "model \(k) is null") }
            devices += Unmanaged<ModelBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue().prepared.model.devices
        }
        if let eager {
            // Launches are scheduled when the host waits for them: the profile waits first.
            let device = Unmanaged<EagerBox>.fromOpaque(UnsafeRawPointer(eager)).takeUnretainedValue().context.device
            _ = try device.checkedSynchronize()
            devices.append(device)
        }
        guard !devices.isEmpty else { throw ABIError(message: "nothing ran on a card: no model trained and no PyNative op ran") }
        let profile = Profile(devices: devices)
        try profile.write(to: String(cString: dir))
        summary?.pointee = strdup(profile.summaryLines().joined(separator: "\n"))
    }
}

/// Releases a string the engine returned.
@_cdecl("npusim_string_free")
public func npusim_string_free(_ s: UnsafeMutablePointer<CChar>?) { free(s) }
