#!/usr/bin/env python3
"""Writes the model zoo's scripts (resnet50.yaml, bert_large.yaml) from the published
architectures: the node lists are long and regular, so they are generated, not typed.

    python3 examples/zoo/make_zoo.py      # rewrites the two YAML files next to this one

ResNet-50 v1.5: He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), table 1,
with the stride of each downsampling bottleneck on its 3x3 convolution (v1.5, as in MindSpore's
model zoo resnet50 and NVIDIA's ResNet-50 v1.5). Cell names are MindSpore's model zoo's.
BERT-Large: Devlin et al., "BERT" (NAACL 2019): 24 layers, hidden 1024, 16 heads, feed-forward
4096, GELU, post-layer-norm; the vocabulary is that of MindSpore's published BERT-Large benchmark
(zhwiki, 21,128 tokens), sequence 128.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def node(name, layer, args, inputs):
    a = ", ".join(f"{k}: {v}" for k, v in args.items())
    src = f"input: {inputs[0]}" if len(inputs) == 1 else f"inputs: [{', '.join(inputs)}]"
    return f"    - {{name: {name}, {layer}: {{{a}}}, {src}}}"


def resnet50():
    n = []
    n.append(node("conv1", "Conv2d", {"in_channels": 3, "out_channels": 64, "kernel_size": 7, "stride": 2}, ["data"]))
    n.append(node("bn1", "BatchNorm2d", {"num_features": 64}, ["conv1"]))
    n.append(node("relu", "ReLU", {}, ["bn1"]))
    n.append(node("maxpool", "MaxPool2d", {"kernel_size": 3, "stride": 2, "pad_mode": "same"}, ["relu"]))
    x, channels = "maxpool", 64
    for stage, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for k in range(blocks):
            p, s, out = f"layer{stage}.{k}", (stride if k == 0 else 1), 4 * width
            n.append(node(f"{p}.conv1", "Conv2d", {"in_channels": channels, "out_channels": width, "kernel_size": 1}, [x]))
            n.append(node(f"{p}.bn1", "BatchNorm2d", {"num_features": width}, [f"{p}.conv1"]))
            n.append(node(f"{p}.relu1", "ReLU", {}, [f"{p}.bn1"]))
            n.append(node(f"{p}.conv2", "Conv2d", {"in_channels": width, "out_channels": width, "kernel_size": 3, "stride": s}, [f"{p}.relu1"]))
            n.append(node(f"{p}.bn2", "BatchNorm2d", {"num_features": width}, [f"{p}.conv2"]))
            n.append(node(f"{p}.relu2", "ReLU", {}, [f"{p}.bn2"]))
            n.append(node(f"{p}.conv3", "Conv2d", {"in_channels": width, "out_channels": out, "kernel_size": 1}, [f"{p}.relu2"]))
            n.append(node(f"{p}.bn3", "BatchNorm2d", {"num_features": out}, [f"{p}.conv3"]))
            shortcut = x
            if k == 0:
                n.append(node(f"{p}.down_sample_layer.0", "Conv2d", {"in_channels": channels, "out_channels": out, "kernel_size": 1, "stride": s}, [x]))
                n.append(node(f"{p}.down_sample_layer.1", "BatchNorm2d", {"num_features": out}, [f"{p}.down_sample_layer.0"]))
                shortcut = f"{p}.down_sample_layer.1"
            n.append(node(f"{p}.add", "Add", {}, [f"{p}.bn3", shortcut]))
            n.append(node(f"{p}.relu", "ReLU", {}, [f"{p}.add"]))
            x, channels = f"{p}.relu", out
    n.append(node("avgpool", "AvgPool2d", {"kernel_size": 7, "stride": 1}, [x]))
    n.append(node("flatten", "Flatten", {}, ["avgpool"]))
    n.append(node("end_point", "Dense", {"in_channels": 2048, "out_channels": 1000}, ["flatten"]))
    return f"""# ResNet-50 v1.5 on 224x224 images, 1000 classes, batch 256 per card, mixed precision (O2), as in
# MindSpore's published Ascend 910 benchmark. For timing-only profiles: its data are synthetic.
#   npusim profile examples/zoo/resnet50.yaml --timing-only --out prof --steps 2 [--cards 8]
# Written by examples/zoo/make_zoo.py from the published architecture; do not edit by hand.
seed: 1
context: {{mode: graph, device: ascend910, determinism: "off", amp_level: O2}}  # MindSpore's default: not deterministic
dataset:
  source: {{synthetic: {{count: 1281167, shape: [3, 224, 224], classes: 1000}}}}  # ImageNet-1k's training images
  batch: {{batch_size: 256, drop_remainder: true}}
network:
  nodes:
{chr(10).join(n)}
  output: end_point
loss: {{SoftmaxCrossEntropyWithLogits: {{sparse: true, reduction: mean}}}}
optimizer: {{Momentum: {{learning_rate: 0.1, momentum: 0.9}}}}
train:
  epochs: 90
  dataset_sink_mode: true   # a sink per epoch, as MindSpore's ResNet-50 benchmark runs
"""


def bert_large(layers=24, hidden=1024, heads=16, ff=4096, vocab=21128, seq=128):
    n = [node("bert.embedding_lookup", "Embedding", {"vocab_size": vocab, "embedding_size": hidden}, ["data"]),
         node("bert.embedding_postprocessor.layernorm", "LayerNorm", {"normalized_shape": f"[{hidden}]", "epsilon": 1e-12}, ["bert.embedding_lookup"]),
         node("bert.embedding_postprocessor.dropout", "Dropout", {"p": 0.1}, ["bert.embedding_postprocessor.layernorm"])]
    x = "bert.embedding_postprocessor.dropout"
    for i in range(layers):
        p = f"bert.encoder.layers.{i}"
        n.append(node(f"{p}.attention", "MultiheadAttention", {"embed_dim": hidden, "num_heads": heads, "batch_first": "true"}, [x]))
        n.append(node(f"{p}.attention.dropout", "Dropout", {"p": 0.1}, [f"{p}.attention"]))
        n.append(node(f"{p}.attention.add", "Add", {}, [f"{p}.attention.dropout", x]))
        n.append(node(f"{p}.attention.layernorm", "LayerNorm", {"normalized_shape": f"[{hidden}]", "epsilon": 1e-12}, [f"{p}.attention.add"]))
        n.append(node(f"{p}.intermediate", "Dense", {"in_channels": hidden, "out_channels": ff}, [f"{p}.attention.layernorm"]))
        n.append(node(f"{p}.intermediate.gelu", "GELU", {}, [f"{p}.intermediate"]))
        n.append(node(f"{p}.output.dense", "Dense", {"in_channels": ff, "out_channels": hidden}, [f"{p}.intermediate.gelu"]))
        n.append(node(f"{p}.output.dropout", "Dropout", {"p": 0.1}, [f"{p}.output.dense"]))
        n.append(node(f"{p}.output.add", "Add", {}, [f"{p}.output.dropout", f"{p}.attention.layernorm"]))
        n.append(node(f"{p}.output.layernorm", "LayerNorm", {"normalized_shape": f"[{hidden}]", "epsilon": 1e-12}, [f"{p}.output.add"]))
        x = f"{p}.output.layernorm"
    # The pooler: the first token's vector through Dense + Tanh, then the two-way classifier.
    n.append(node("bert.first_token", "Slice", {"begin": "[0, 0, 0]", "size": f"[-1, 1, -1]"}, [x]))
    n.append(node("bert.squeeze", "Flatten", {}, ["bert.first_token"]))
    n.append(node("bert.dense", "Dense", {"in_channels": hidden, "out_channels": hidden}, ["bert.squeeze"]))
    n.append(node("bert.pooler_tanh", "Tanh", {}, ["bert.dense"]))
    n.append(node("cls2.dense", "Dense", {"in_channels": hidden, "out_channels": 2}, ["bert.pooler_tanh"]))
    return f"""# BERT-Large (24 layers, hidden 1024, 16 heads, feed-forward 4096, sequence {seq}, vocabulary {vocab})
# with a sentence-pair classifier on the pooled first token; batch 96 per card, mixed precision
# (O2), as in MindSpore's published Ascend 910 benchmark. For timing-only profiles: its data are
# synthetic token ids. What differs from the pre-training network is listed in Docs/Profiling.md
# ("The model zoo").
#   npusim profile examples/zoo/bert_large.yaml --timing-only --out prof --steps 2 [--cards 8]
# Written by examples/zoo/make_zoo.py from the published architecture; do not edit by hand.
seed: 1
context: {{mode: graph, device: ascend910, determinism: "off", amp_level: O2}}  # MindSpore's default: not deterministic
dataset:
  source: {{synthetic: {{count: 1536000, shape: [{seq}], classes: 2, ids: {vocab}}}}}
  batch: {{batch_size: 96, drop_remainder: true}}
network:
  nodes:
{chr(10).join(n)}
  output: cls2.dense
loss: {{SoftmaxCrossEntropyWithLogits: {{sparse: true, reduction: mean}}}}
optimizer: {{AdamWeightDecay: {{learning_rate: 0.0001, weight_decay: 0.01}}}}
train:
  epochs: 1
  dataset_sink_mode: true
  sink_size: 100            # MindSpore's BERT pre-training scripts sink 100 steps at a time
"""


if __name__ == "__main__":
    for name, text in [("resnet50.yaml", resnet50()), ("bert_large.yaml", bert_large())]:
        path = os.path.join(HERE, name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        print(f"wrote {path}")
