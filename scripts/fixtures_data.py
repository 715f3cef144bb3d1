#!/usr/bin/python3
"""Writes the image fixtures of tests/test_decode.cpp and tests/test_transforms.cpp into tests/fixtures/data/
(run with Debian's python3-torch and python3-torchvision: `/usr/bin/python3 scripts/fixtures_data.py`;
scripts/make_fixtures.py runs it too). A few tens of KB in all; every image is synthetic.

transforms.safetensors   uint8 images stored as F16 arrays [H, W, 3] (exact for 0..255; HWC, the layout of edat's Image):
    image                   a 31x23 (WxH) test card: smooth gradients, noise, saturated colour bars, grays, hard edges
    resize/WxH_aa           F.resize(image, [H, W], BILINEAR, antialias=True) on the uint8 CHW tensor (down and up)
    resize/WxH_plain        the same with antialias=False
    resize/short_S          F.resize(image, S, antialias=True): the shorter side to S, the int-size rule
    brightness/F, contrast/F, saturation/F, hue/F
                            F.adjust_brightness/contrast/saturation/hue(image, F) (F as printed, e.g. 1.7, -0.25)
    rotate/D_fill_R_G_B     F.rotate(image, D, BILINEAR, fill=[R, G, B]) (counter-clockwise degrees)
    center_crop/WxH         F.center_crop(image, [H, W]) (including crops larger than the image)
    pad/MODE                F.pad(image, [3, 2, 4, 5], padding_mode=MODE) (left, top, right, bottom)
    normalize               F.normalize(image / 255, ImageNet mean, std) as [3, H, W]
images/*.jpg, *.png      encoded test images (also the seed corpus of the decoder fuzzer):
    photo_420.jpg           a 48x32 smooth image, PIL quality 90, 4:2:0
    photo_444.jpg           the same, 4:4:4, quality 95
    photo_progressive.jpg   the same, progressive
    gray.jpg                a grayscale JPEG
    rgba.png                an RGBA PNG (the decoder drops alpha)
    gray.png                a grayscale PNG
decode.safetensors       decode/NAME: what PIL (libjpeg-turbo, accurate DCT, fancy upsampling) decodes each file to,
                         as RGB [H, W, 3] F16; decode/NAME_half: PIL's draft mode (DCT scaling by 1/2) for photo_420
"""
import io
import os

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from PIL import Image

from make_fixtures import write_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "data")


def test_card(width=31, height=23, seed=5):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    img[..., 0] = 255 * x / (width - 1)
    img[..., 1] = 255 * y / (height - 1)
    img[..., 2] = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    img += rng.normal(0, 12, img.shape)
    bars = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255), (128, 128, 128),
            (255, 255, 255), (0, 0, 0), (200, 30, 90)]
    for k, colour in enumerate(bars):  # a row of saturated colours and grays: hue edge cases (max = min, ties)
        img[height - 6:height - 2, 2 + 3 * k:5 + 3 * k] = colour
    img[2:6, 2:12] = (90, 90, 90)  # a gray block: max == min
    img[7:9, :] = 250  # a hard horizontal edge
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def smooth_photo(width=48, height=32):
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([128 + 90 * np.sin(x / 9.0 + y / 17.0), 128 + 80 * np.cos(y / 7.0), 60 + 150 * x / width], -1)
    img[12:22, 10:22] = (230, 40, 40)  # a block with sharp edges: chroma subsampling shows here
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def hwc(t):
    """A uint8 CHW tensor as an F16 HWC array (integers up to 2048 are exact in F16)."""
    return t.permute(1, 2, 0).contiguous().numpy().astype(np.float16)


def transforms_fixtures():
    card = test_card()
    t = torch.from_numpy(card).permute(2, 0, 1).contiguous()  # uint8 [3, H, W]
    out = {"image": card.astype(np.float16)}
    for w, h in [(13, 11), (20, 23), (31, 10), (5, 4), (50, 45), (61, 30), (1, 1)]:
        out[f"resize/{w}x{h}_aa"] = hwc(F.resize(t, [h, w], F.InterpolationMode.BILINEAR, antialias=True))
        out[f"resize/{w}x{h}_plain"] = hwc(F.resize(t, [h, w], F.InterpolationMode.BILINEAR, antialias=False))
    for s in [17, 40]:
        out[f"resize/short_{s}"] = hwc(F.resize(t, s, F.InterpolationMode.BILINEAR, antialias=True))
    for f in [0.0, 0.6, 1.7]:
        out[f"brightness/{f}"] = hwc(F.adjust_brightness(t, f))
    for f in [0.0, 0.5, 1.8]:
        out[f"contrast/{f}"] = hwc(F.adjust_contrast(t, f))
    for f in [0.0, 0.4, 2.0]:
        out[f"saturation/{f}"] = hwc(F.adjust_saturation(t, f))
    for f in [-0.5, -0.4, -0.1, 0.0, 0.25, 0.5]:
        out[f"hue/{f}"] = hwc(F.adjust_hue(t, f))
    for degrees, fill in [(30.0, (0, 0, 0)), (-75.0, (255, 128, 0)), (90.0, (0, 0, 0)), (7.5, (10, 20, 30))]:
        name = f"rotate/{degrees}_fill_{fill[0]}_{fill[1]}_{fill[2]}"
        out[name] = hwc(F.rotate(t, degrees, F.InterpolationMode.BILINEAR, fill=[float(v) for v in fill]))
    for w, h in [(20, 10), (21, 11), (30, 22), (31, 23), (34, 27), (35, 24)]:
        out[f"center_crop/{w}x{h}"] = hwc(F.center_crop(t, [h, w]))
    for mode in ["constant", "edge", "reflect", "symmetric"]:
        out[f"pad/{mode}"] = hwc(F.pad(t, [3, 2, 4, 5], fill=0, padding_mode=mode))
    normalized = F.normalize(t.float() / 255, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    out["normalize"] = normalized.numpy().astype(np.float32)
    write_safetensors(os.path.join(OUT, "transforms.safetensors"), out,
                      {"torch": torch.__version__, "torchvision": torchvision.__version__})


def decode_fixtures():
    images = os.path.join(OUT, "images")
    os.makedirs(images, exist_ok=True)
    photo = Image.fromarray(smooth_photo())
    files = {
        "photo_420.jpg": lambda f: photo.save(f, "JPEG", quality=90, subsampling=2),
        "photo_444.jpg": lambda f: photo.save(f, "JPEG", quality=95, subsampling=0),
        "photo_progressive.jpg": lambda f: photo.save(f, "JPEG", quality=85, progressive=True),
        "gray.jpg": lambda f: photo.convert("L").save(f, "JPEG", quality=90),
        "rgba.png": lambda f: Image.fromarray(np.dstack([smooth_photo()[:20, :30],
                                                          np.arange(600, dtype=np.uint8).reshape(20, 30)])).save(f, "PNG"),
        "gray.png": lambda f: photo.convert("L").resize((16, 12)).save(f, "PNG"),
    }
    out = {}
    for name, save in files.items():
        buffer = io.BytesIO()
        save(buffer)
        with open(os.path.join(images, name), "wb") as f:
            f.write(buffer.getvalue())
        decoded = Image.open(io.BytesIO(buffer.getvalue()))
        out[f"decode/{name}"] = np.asarray(decoded.convert("RGB")).astype(np.float16)
    # PIL's draft mode asks libjpeg for DCT-domain scaling, as edat does when the target is at most half the source.
    with open(os.path.join(images, "photo_420.jpg"), "rb") as f:
        draft = Image.open(io.BytesIO(f.read()))
    draft.draft("RGB", (24, 16))
    out["decode/photo_420.jpg_half"] = np.asarray(draft.convert("RGB")).astype(np.float16)
    write_safetensors(os.path.join(OUT, "decode.safetensors"), out, {"pillow": Image.__version__})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    transforms_fixtures()
    decode_fixtures()
    for root, _, names in os.walk(OUT):
        for name in sorted(names):
            path = os.path.join(root, name)
            print(f"{os.path.relpath(path, OUT)}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
