#!/usr/bin/python3
"""Writes tests/fixtures/mobilenet_v2_imagenet_features.safetensors: torchvision's MobileNetV2 body with the real
ImageNet weights that scripts/get_pretrained.sh converts (pretrained/mobilenet_v2_imagenet.safetensors), applied to
real photos from ../shared/data/faces. Run by make_fixtures.py; skipped with a message when either is absent.

Per photo NAME the fixture holds no pixels (../shared's data may not be committed), only numbers computed from them:
    pixel_sum/NAME   i64 [1]       the sum of the decoded RGB bytes (PIL, libjpeg-turbo), so the C++ test can tell a
                                   decoder difference from a network one
    features/NAME    f32 [1, 1280] global average of model.features(x), where x is the centre 224 x 224 crop of the
                                   decoded image (offsets (W - 224) // 2, (H - 224) // 2, no resize: nothing to
                                   interpolate), scaled to [0, 1] and normalised with ImageNet's mean and std
The weights are read by name: edat's names are torchvision's, so this also checks the conversion's renaming.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torchvision
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import OUT, write_safetensors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(ROOT, "pretrained", "mobilenet_v2_imagenet.safetensors")
PHOTOS = os.path.join(ROOT, "..", "shared", "data", "faces")
NAMES = ["2008_002079.jpg", "2009_004587.jpg", "bald_guys.jpg"]
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    header.pop("__metadata__", None)
    dtypes = {"F32": np.float32, "I64": np.int64}
    return {key: torch.from_numpy(np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]],
                                                dtypes[v["dtype"]]).reshape(v["shape"]).copy())
            for key, v in header.items()}


def main():
    missing = [p for p in (WEIGHTS, PHOTOS) if not os.path.exists(p)]
    if missing:
        print("fixtures_pretrained: skipped, not present: " + ", ".join(missing))
        return
    model = torchvision.models.mobilenet_v2()
    result = model.load_state_dict(read_safetensors(WEIGHTS), strict=False)
    assert result.missing_keys == ["classifier.1.weight", "classifier.1.bias"] and not result.unexpected_keys, result
    model.eval()
    fixtures = {}
    for name in NAMES:
        rgb = np.asarray(Image.open(os.path.join(PHOTOS, name)).convert("RGB"))
        height, width, _ = rgb.shape
        top, left = (height - 224) // 2, (width - 224) // 2
        crop = rgb[top:top + 224, left:left + 224].astype(np.float32) / np.float32(255)
        x = torch.from_numpy(((crop - MEAN) / STD).transpose(2, 0, 1).copy()).unsqueeze(0)
        with torch.no_grad():
            features = torch.nn.functional.adaptive_avg_pool2d(model.features(x), 1).flatten(1)
        fixtures["pixel_sum/" + name] = np.array([rgb.astype(np.int64).sum()], np.int64)
        fixtures["features/" + name] = features.numpy().astype(np.float32)
    path = os.path.join(OUT, "mobilenet_v2_imagenet_features.safetensors")
    write_safetensors(path, fixtures, {"torch": torch.__version__, "torchvision": torchvision.__version__})
    print("fixtures_pretrained: wrote " + path)


if __name__ == "__main__":
    main()
