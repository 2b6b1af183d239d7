/// Every op NPUSim has, with what `npusim ops` reports about it.
public enum OpCatalog {
    public static let all: [OpInfo] = [
        Add.info, Sub.info, Mul.info, Div.info, Pow.info, Maximum.info, Minimum.info, SelectGrad.info,
        Neg.info, Exp.info, Log.info, Sqrt.info, Rsqrt.info,
        ReLU.info, ReluGrad.info, GeLU.info, GeLUGrad.info, Sigmoid.info, SigmoidGrad.info, Tanh.info, TanhGrad.info,
        Cast.info, Reshape.info, Transpose.info, Concat.info, Slice.info, SliceGrad.info, BroadcastTo.info,
        ReduceSum.info, ReduceMean.info, ReduceMax.info, ReduceMaxGrad.info,
        MatMul.info, BatchMatMul.info, BiasAdd.info, Softmax.info, LogSoftmax.info,
        SoftmaxCrossEntropyWithLogits.info, SoftmaxCrossEntropyGrad.info, OneHot.info, Gather.info, GatherGrad.info,
        Conv2D.info, Conv2DBackpropInput.info, Conv2DBackpropFilter.info, MaxPool2D.info, MaxPoolGrad.info, AvgPool2D.info, AvgPoolGrad.info,
        BatchNorm.info, BatchNormGrad.info, LayerNorm.info, LayerNormGrad.info, Dropout.info, DropoutGrad.info,
        ApplyMomentum.info, ApplyAdam.info, Select.info, ArgMax.info, AllFinite.info, DynamicLossScaleUpdate.info,
    ] + Compare.infos

    /// The entry for an op type.
    public static func info(_ type: String) -> OpInfo? { all.first { $0.type == type } }
}
