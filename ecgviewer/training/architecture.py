"""The ResNet of Ribeiro et al. (2020) in PyTorch, matching the published Keras graph.

Keras semantics kept exactly, so that weights map one to one and the ONNX export
matches a converted Keras file: channels-last input (N, 4096, 12); ``padding='same'``
(asymmetric for even kernels: 7 before / 8 after for kernel 16 at stride 1, 6 / 6 at
stride 4); BatchNormalization epsilon 1e-3; skip connection = max-pool then 1×1 conv;
Flatten over (time, channels) in Keras order; Dense(6) + sigmoid.

An optional fixed low-pass FIR stage (``lowpass_taps``) sits in front of the ResNet: the
bundled model was trained on 100 Hz recordings that carry nothing above 50 Hz, and the
stage removes that band from any input so the input contract stays the paper's.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

KERNEL = 16
FILTERS = (64, 128, 196, 256, 320)
DOWNSAMPLE = 4
N_CLASSES = 6
N_LEADS = 12
N_SAMPLES = 4096


def same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same' padding (before, after) for a 1-D window."""
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class KerasConv1d(nn.Conv1d):
    """Conv1d without bias and with TensorFlow's 'same' padding.

    Every layer of this network sees a length divisible by its stride, so the padding is
    the same for all of them and fixed here (a static graph once exported).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(c_in, c_out, kernel, stride=stride, bias=False)
        self.same_pad = same_padding(N_SAMPLES, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.stride[0]:
            raise ValueError(f"length {x.shape[-1]} is not a multiple of the stride {self.stride[0]}")
        if any(self.same_pad):
            x = F.pad(x, self.same_pad)
        return super().forward(x)


def keras_bn(channels: int) -> nn.BatchNorm1d:
    # Keras: epsilon 1e-3, momentum 0.99 (PyTorch's momentum is 1 - Keras's).
    return nn.BatchNorm1d(channels, eps=1e-3, momentum=0.01)


class ResidualUnit(nn.Module):
    """One residual block of the paper: conv-BN-ReLU-dropout-conv(stride) + maxpool/1×1 skip."""

    def __init__(self, c_in: int, c_out: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = KerasConv1d(c_in, c_out, KERNEL)
        self.bn1 = keras_bn(c_out)
        self.dropout1 = nn.Dropout(dropout)
        self.conv2 = KerasConv1d(c_out, c_out, KERNEL, DOWNSAMPLE)
        self.skip_pool = nn.MaxPool1d(DOWNSAMPLE, DOWNSAMPLE)
        self.skip_conv = KerasConv1d(c_in, c_out, 1) if c_in != c_out else None
        self.bn2 = keras_bn(c_out)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.skip_pool(skip)
        if self.skip_conv is not None:
            skip = self.skip_conv(skip)
        x = self.dropout1(F.relu(self.bn1(self.conv1(x))))
        x = self.conv2(x) + skip
        skip = x
        x = self.dropout2(F.relu(self.bn2(x)))
        return x, skip


class RibeiroResNet(nn.Module):
    """(N, 4096, 12) in the input scale it was trained on (mV for the bundled model 2) → (N, C)
    probabilities (sigmoid) or logits; C = ``n_classes`` (the paper's 6 by default)."""

    def __init__(
        self, dropout: float = 0.2, lowpass_taps: np.ndarray | None = None, n_classes: int = N_CLASSES
    ) -> None:
        super().__init__()
        if lowpass_taps is not None:
            taps = torch.as_tensor(np.array(lowpass_taps, dtype=np.float32))
            # depthwise: the same FIR on each lead; not trained
            self.register_buffer("lowpass", taps.view(1, 1, -1).repeat(N_LEADS, 1, 1))
        else:
            self.lowpass = None
        self.conv = KerasConv1d(N_LEADS, FILTERS[0], KERNEL)
        self.bn = keras_bn(FILTERS[0])
        self.blocks = nn.ModuleList(
            ResidualUnit(FILTERS[i], FILTERS[i + 1], dropout) for i in range(len(FILTERS) - 1)
        )
        n_out = N_SAMPLES // DOWNSAMPLE ** (len(FILTERS) - 1)
        self.dense = nn.Linear(n_out * FILTERS[-1], int(n_classes))

    @property
    def n_features(self) -> int:
        """Width of the flattened features in front of the dense layer."""
        return self.dense.in_features

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 4096, 12) → (N, 5120) flattened output of the last residual block."""
        x = x.transpose(1, 2)  # (N, 12, 4096)
        # The input stage stays in float32 under bf16 autocast: it is 3 % of the FLOPs, and
        # oneDNN's bfloat16 kernel for a 16-tap convolution over fewer than 16 channels (12
        # leads) returns wrong values on AMX CPUs (torch 2.13; relative error ~1, not rounding).
        if torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                x = self._input_stage(x.float())
        else:  # (export traces this branch: the graph is the same as before)
            x = self._input_stage(x)
        x = F.relu(self.bn(x))
        skip = x
        for block in self.blocks:
            x, skip = block(x, skip)
        return x.transpose(1, 2).flatten(1)  # Keras Flatten over (time, channels)

    def _input_stage(self, x: torch.Tensor) -> torch.Tensor:
        """The fixed low-pass (when present) and the first convolution, on (N, 12, 4096)."""
        if self.lowpass is not None:
            k = self.lowpass.shape[-1]
            x = F.conv1d(F.pad(x, ((k - 1) // 2, k // 2)), self.lowpass, groups=N_LEADS)
        return self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))
