#!/usr/bin/env python3
"""Models for bench_fingerprint: a ResNet with about a million parameters at CIFAR resolution
(random weights, seeded), next to the demo digits CNN.

    .venv/bin/python bench/make_bench_models.py [--out-dir build/bench-models]
"""
import argparse
import json
from pathlib import Path

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet1M(nn.Module):
    def __init__(self, widths=(32, 64, 128, 256), classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            layers.append(Block(cin, w, 1 if i == 0 else 2))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(self.pool(x).flatten(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default="build/bench-models")
    out = Path(ap.parse_args().out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = ResNet1M().eval()
    params = sum(p.numel() for p in model.parameters())
    meta = {"name": "resnet-1m", "input_shape": [3, 32, 32], "num_classes": 10, "input_range": [0, 1]}
    path = out / "resnet_1m.pt"
    torch.jit.save(torch.jit.script(model), str(path), _extra_files={"modelgate.json": json.dumps(meta)})
    print(f"{path}: {params} parameters")


if __name__ == "__main__":
    main()
