// `import NPUSim` gives the whole simulator: every layer re-exported.
@_exported import NPUDevice
@_exported import NPUTensor
@_exported import NPURandom
@_exported import NPUOps
@_exported import NPUGraph
@_exported import NPUCollective
@_exported import NPUTrain
@_exported import NPUData
@_exported import NPUScript
@_exported import NPUStudy
@_exported import NPUProfile
