"""BNN network descriptions: layer shapes, which layers are binarized, and the packing rule.

Packing (Darknet XNOR-Net): each filter's ``C_in*k*k`` weight bits are packed into
``ceil(C_in*k*k / 64)`` 64-bit words; one binary dot product (BDP) is one 64-bit XNOR + popcount of
one kernel word with one input word, per output pixel.  A binarized dense layer is a 1x1
convolution over a 1x1 map.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Conv", "Dense", "MaxPool", "Route", "Upsample", "Detection", "Network", "LayerShape",
           "get_network", "available_networks", "WORD_BITS"]

WORD_BITS = 64


@dataclass(frozen=True)
class Conv:
    """Convolution (+ batch-norm + sign when binarized).  ``pad`` None means 'same' (k // 2)."""

    name: str
    filters: int
    k: int = 3
    stride: int = 1
    pad: int | None = None
    binary: bool = True
    kind = "conv"


@dataclass(frozen=True)
class Dense:
    """Fully connected layer over the flattened input (+ batch-norm + sign when binarized)."""

    name: str
    units: int
    binary: bool = True
    kind = "dense"


@dataclass(frozen=True)
class MaxPool:
    name: str
    size: int = 2
    stride: int = 2
    kind = "maxpool"
    binary = False


@dataclass(frozen=True)
class Route:
    """Concatenate the outputs of earlier layers (by index, negative = relative) along channels."""

    name: str
    sources: tuple[int, ...]
    kind = "route"
    binary = False


@dataclass(frozen=True)
class Upsample:
    name: str
    factor: int = 2
    kind = "upsample"
    binary = False


@dataclass(frozen=True)
class Detection:
    """Detection head (YOLO): no arithmetic counted beyond its input convolution."""

    name: str
    kind = "detection"
    binary = False


@dataclass(frozen=True)
class LayerShape:
    """Shapes and binary work of one layer in a network."""

    index: int
    layer: object
    in_shape: tuple[int, int, int]   # (C, H, W)
    out_shape: tuple[int, int, int]
    bits_per_filter: int = 0         # C_in * k * k (binary layers)
    words_per_filter: int = 0
    out_pixels: int = 0

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def binary(self) -> bool:
        return bool(self.layer.binary) and self.layer.kind in ("conv", "dense")

    @property
    def filters(self) -> int:
        return self.out_shape[0] if self.layer.kind in ("conv", "dense") else 0

    @property
    def kernel_words(self) -> int:
        return self.filters * self.words_per_filter if self.binary else 0

    @property
    def uses_per_word(self) -> int:
        return self.out_pixels if self.binary else 0

    @property
    def bdps(self) -> int:
        return self.kernel_words * self.out_pixels

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer if computed in full precision."""
        if self.layer.kind not in ("conv", "dense"):
            return 0
        return self.filters * self.out_pixels * self.bits_per_filter

    @property
    def float_macs(self) -> int:
        return 0 if self.binary else self.macs

    @property
    def out_elements(self) -> int:
        c, h, w = self.out_shape
        return c * h * w


@dataclass(frozen=True)
class Network:
    name: str
    input_shape: tuple[int, int, int]
    layers: tuple
    source: str = ""

    def shapes(self) -> list[LayerShape]:
        """Propagate shapes through the layers (Darknet conventions)."""
        shapes: list[LayerShape] = []
        cur = self.input_shape
        for i, layer in enumerate(self.layers):
            c, h, w = cur
            if layer.kind == "conv":
                pad = layer.k // 2 if layer.pad is None else layer.pad
                oh = (h + 2 * pad - layer.k) // layer.stride + 1
                ow = (w + 2 * pad - layer.k) // layer.stride + 1
                bits = c * layer.k * layer.k
                out = (layer.filters, oh, ow)
                shapes.append(LayerShape(i, layer, cur, out, bits, math.ceil(bits / WORD_BITS), oh * ow))
            elif layer.kind == "dense":
                bits = c * h * w
                out = (layer.units, 1, 1)
                shapes.append(LayerShape(i, layer, cur, out, bits, math.ceil(bits / WORD_BITS), 1))
            elif layer.kind == "maxpool":
                if layer.stride == 1:  # Darknet: size 2 stride 1 keeps the size (padding size-1)
                    out = (c, h, w)
                else:
                    out = (c, (h - layer.size) // layer.stride + 1, (w - layer.size) // layer.stride + 1)
                shapes.append(LayerShape(i, layer, cur, out))
            elif layer.kind == "route":
                srcs = [shapes[s if s >= 0 else i + s].out_shape for s in layer.sources]
                if len({(s[1], s[2]) for s in srcs}) != 1:
                    raise ValueError(f"{self.name}/{layer.name}: route of different spatial sizes {srcs}")
                out = (sum(s[0] for s in srcs), srcs[0][1], srcs[0][2])
                shapes.append(LayerShape(i, layer, cur, out))
            elif layer.kind == "upsample":
                out = (c, h * layer.factor, w * layer.factor)
                shapes.append(LayerShape(i, layer, cur, out))
            elif layer.kind == "detection":
                out = cur
                shapes.append(LayerShape(i, layer, cur, out))
            else:  # pragma: no cover
                raise ValueError(f"unknown layer kind {layer.kind}")
            cur = shapes[-1].out_shape
        return shapes

    # -- totals
    def bdps(self) -> int:
        return sum(s.bdps for s in self.shapes())

    def kernel_words(self) -> int:
        return sum(s.kernel_words for s in self.shapes())

    def word_usage(self) -> list[tuple[int, int, int]]:
        """(uses per word, number of words, layer index) for every binary layer."""
        return [(s.uses_per_word, s.kernel_words, s.index) for s in self.shapes() if s.binary]


# ------------------------------------------------------------------------------------------------
# Built-in networks


def _yolov3_tiny() -> Network:
    L = []
    def conv(n, f, k=3, binary=True):
        L.append(Conv(f"conv{n}", f, k, 1, None, binary))
    def pool(n, s=2):
        L.append(MaxPool(f"maxpool{n}", 2, s))
    conv(1, 16, binary=False); pool(1)
    conv(2, 32); pool(2)
    conv(3, 64); pool(3)
    conv(4, 128); pool(4)
    conv(5, 256); pool(5)
    conv(6, 512); pool(6, s=1)
    conv(7, 1024)
    conv(8, 256, k=1)                 # layer 13
    conv(9, 512)
    conv(10, 255, k=1, binary=False)  # detection conv, full precision
    L.append(Detection("yolo1"))
    L.append(Route("route1", (-4,)))  # back to conv8 (13x13x256)
    conv(11, 128, k=1)
    L.append(Upsample("upsample1", 2))
    L.append(Route("route2", (-1, 8)))  # upsampled + conv5 output (26x26x256)
    conv(12, 256)
    conv(13, 255, k=1, binary=False)  # detection conv, full precision
    L.append(Detection("yolo2"))
    return Network("yolov3-tiny", (3, 416, 416), tuple(L),
                   source="Darknet cfg/yolov3-tiny.cfg at 416x416; XNOR-Net binarization as in Vieira et al. "
                          "(first conv and the two 255-filter detection convs full precision). The paper's "
                          "table calls our conv12 'conv 13' (it counts Darknet conv layers differently); "
                          "shapes are identical.")


def _vgg_like(name, input_shape, convs, dense, source, first_binary=False):
    """Conv blocks ('M' = 2x2 max-pool) then dense layers; first conv and last dense full precision
    unless stated (as in the BNN papers the input layer takes non-binary pixels)."""
    layers = []
    n = 0
    for item in convs:
        if item == "M":
            layers.append(MaxPool(f"maxpool{len(layers)}", 2, 2))
        else:
            filters, pad = item if isinstance(item, tuple) else (item, None)
            n += 1
            layers.append(Conv(f"conv{n}", filters, 3, 1, pad, binary=(n > 1 or first_binary)))
    for j, units in enumerate(dense):
        last = j == len(dense) - 1
        layers.append(Dense(f"fc{j + 1}", units, binary=not last))
    return Network(name, input_shape, tuple(layers), source)


def _binary_alexnet() -> Network:
    layers = (
        Conv("conv1", 96, 11, 4, 2, binary=False), MaxPool("pool1", 3, 2),
        Conv("conv2", 256, 5, 1, 2), MaxPool("pool2", 3, 2),
        Conv("conv3", 384, 3, 1, 1), Conv("conv4", 384, 3, 1, 1), Conv("conv5", 256, 3, 1, 1),
        MaxPool("pool5", 3, 2),
        Dense("fc6", 4096), Dense("fc7", 4096), Dense("fc8", 1000, binary=False),
    )
    return Network("binary-alexnet", (3, 224, 224), layers,
                   source="AlexNet shapes (Krizhevsky 2012, single-tower 96-256-384-384-256, 227->224 input with "
                          "pad 2) binarized as in XNOR-Net (Rastegari 2016): first conv and last fc full precision")


def _birealnet18() -> Network:
    layers = [Conv("conv1", 64, 7, 2, 3, binary=False), MaxPool("pool1", 3, 2)]
    # ResNet-18 body: 4 stages x 2 basic blocks x 2 binary 3x3 convs; downsampling 1x1 shortcut
    # convs stay full precision in Bi-Real Net (counted as float MACs).
    channels = [64, 128, 256, 512]
    n = 1
    for stage, c in enumerate(channels):
        for block in range(2):
            stride = 2 if (stage > 0 and block == 0) else 1
            n += 1
            layers.append(Conv(f"conv{n}", c, 3, stride, 1))
            n += 1
            layers.append(Conv(f"conv{n}", c, 3, 1, 1))
            if stride == 2:
                layers.append(Conv(f"down{stage}", c, 1, 1, 0, binary=False))  # cost only (shortcut)
                layers.append(Route(f"shortcut{stage}", (-2,)))  # data path continues from the block
    layers.append(MaxPool("avgpool", 7, 7))
    layers.append(Dense("fc", 1000, binary=False))
    return Network("birealnet18", (3, 224, 224), tuple(layers),
                   source="Bi-Real Net 18 (Liu et al., ECCV 2018): ResNet-18 shapes, binary 3x3 convs, full-precision "
                          "first conv, 1x1 downsampling shortcuts and fc; the shortcut 1x1 convs are modelled at the "
                          "block output resolution (their cost is counted, their data path is not used)")


def _digits_bnn() -> Network:
    """The trained network of :mod:`system_model.trained` (weights: system_model/data/digits_bnn.npz)."""
    layers = (Dense("fc1", 256), Dense("fc2", 256), Dense("fc3", 10))
    return Network("digits-bnn", (3, 8, 8), layers,
                   source="ours: scikit-learn handwritten digits (8x8, 1797 images) as a 3-plane thermometer code "
                          "(pixel > 4, > 8, > 12 of 0..16: 192 +-1 inputs) -> 256 -> 256 -> 10, every layer binary "
                          "(weights and inputs +-1, XNOR + popcount); hidden batch-norm + sign folded into integer "
                          "thresholds, the 10 output dot products scaled per class; trained with a straight-through "
                          "estimator by scripts/train_digits_bnn.py")


_FACTORIES = {
    "yolov3-tiny": _yolov3_tiny,
    "digits-bnn": _digits_bnn,
    "binarynet-cifar10": lambda: _vgg_like(
        "binarynet-cifar10", (3, 32, 32), [128, 128, "M", 256, 256, "M", 512, 512, "M"], [1024, 1024, 10],
        "BinaryNet CIFAR-10 (Courbariaux, Hubara et al. 2016): 2x128C3-MP2-2x256C3-MP2-2x512C3-MP2-2x1024FC-10"),
    "finn-cnv": lambda: _vgg_like(
        "finn-cnv", (3, 32, 32), [(64, 0), (64, 0), "M", (128, 0), (128, 0), "M", (256, 0), (256, 0)],
        [512, 512, 10],
        "FINN BNN-PYNQ CNV (Umuroglu et al. 2017): 3x3 convs without padding 64-64-MP-128-128-MP-256-256, "
        "fc 512-512-10; first conv and last fc kept at full precision here"),
    "finn-lfc": lambda: _mlp("finn-lfc", 1024, 3, "FINN BNN-PYNQ LFC: MNIST 28x28 -> 3x1024 binary fc -> 10"),
    "finn-sfc": lambda: _mlp("finn-sfc", 256, 3, "FINN BNN-PYNQ SFC: MNIST 28x28 -> 3x256 binary fc -> 10"),
    "finn-tfc": lambda: _mlp("finn-tfc", 64, 3, "FINN BNN-PYNQ TFC: MNIST 28x28 -> 3x64 binary fc -> 10"),
    "birealnet18": _birealnet18,
    "binary-alexnet": _binary_alexnet,
}


def _mlp(name, width, depth, source):
    layers = tuple(Dense(f"fc{i + 1}", width) for i in range(depth)) + (Dense(f"fc{depth + 1}", 10, binary=False),)
    return Network(name, (1, 28, 28), layers,
                   source + "; inputs binarized, hidden layers binary, the 10-way output at full precision")


def available_networks() -> list[str]:
    return sorted(_FACTORIES)


def get_network(name: str) -> Network:
    try:
        return _FACTORIES[name]()
    except KeyError:
        raise ValueError(f"network {name!r} is not built in ({', '.join(available_networks())})") from None
