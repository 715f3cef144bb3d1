#!/usr/bin/python3
"""Writes the weight-file fixtures of tests/test_weights.cpp into tests/fixtures/weights/ (run with Debian's
python3-torch: `/usr/bin/python3 scripts/fixtures_weights.py`; scripts/make_fixtures.py runs it too). A few KB each.

mixed.pth, mixed_legacy.pth          a state dict (an OrderedDict with _metadata, as model.state_dict() returns) with
                                     f32, f64, f16, bf16, i64 and 0-dim tensors, an nn.Parameter, a transposed
                                     (non-contiguous) tensor, a strided slice, two views sharing one storage at
                                     different offsets, an empty tensor with a dim above 65535 (BININT), and enough
                                     entries that the pickle memo passes 256 (LONG_BINPUT / LONG_BINGET);
                                     torch.save's zip format and its legacy format (_use_new_zipfile_serialization=False)
mixed_expected.safetensors           the same tensors, contiguous, as the reader must return them (f16 widened to F32
                                     by torch); plus `f16_raw` (the f16 values stored as F16, for the F16 reader)
tiny_resnet.pth, tiny_resnet_legacy.pth, tiny_resnet_expected.safetensors
                                     a tiny network with torchvision's names (conv1, bn1, layer1.0.conv1, layer1.0.bn1,
                                     fc with 10 outputs), batch-norm buffers with num_batches_tracked included
tiny_vgg.pth                         a tiny network with VGG's names (features.0 conv with bias, features.1 batch norm,
                                     classifier.0 / .3 / .6 Linear layers with ReLU and Dropout between them, 10
                                     outputs): a model with another output count must load classifier.0 and .3 and
                                     skip only classifier.6
python_writer.safetensors            f32, f64, bf16 and i64 tensors and metadata as Python's `safetensors` package
                                     writes them (byte for byte: when that package is importable, this script checks
                                     its own writer against safetensors.torch.save; one metadata key, because the
                                     package writes several in random order); the C++ writer must produce the same
                                     bytes
int32.pth                            a state dict with an int32 tensor (IntStorage, which edat does not read)
bad_opcode.pth                       mixed.pth whose data.pkl has an EMPTY_SET opcode (0x8f) in place of its first
                                     EMPTY_TUPLE (the zip is rewritten, so its CRCs are right)
no_pickle.pth                        a zip archive without data.pkl
"""
import collections
import json
import os
import struct
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "weights")

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.bfloat16: "BF16", torch.int64: "I64", torch.float16: "F16"}
# Python's safetensors writes in descending dtype order of its Rust enum, then by name.
RANK = {"I64": 4, "F64": 3, "F32": 2, "BF16": 1, "F16": 0}


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """The safetensors format as Python's package writes it: compact JSON, __metadata__ first, tensors ordered by
    dtype then name, header padded with spaces to a multiple of 8."""
    items = sorted(tensors.items(), key=lambda kv: (-RANK[DTYPES[kv[1].dtype]], kv[0]))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for key, t in items:
        blob = tensor_bytes(t)
        header[key] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def save_both(state, name):
    torch.save(state, os.path.join(OUT, name + ".pth"))
    torch.save(state, os.path.join(OUT, name + "_legacy.pth"), _use_new_zipfile_serialization=False)


def mixed_state(g):
    state = collections.OrderedDict()
    state["f32"] = torch.randn(3, 4, generator=g)
    state["f64"] = torch.randn(5, generator=g, dtype=torch.float64)
    state["f16"] = torch.randn(2, 3, generator=g).half()
    state["bf16"] = torch.randn(4, generator=g).bfloat16()
    state["i64"] = torch.tensor([-3, 0, 7, 2**40 + 5, -(2**62)])
    state["scalar_f32"] = torch.tensor(2.5)
    state["scalar_i64"] = torch.tensor(12345)
    state["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    state["transposed"] = torch.randn(3, 5, generator=g).t()  # stride (1, 5)
    state["strided"] = torch.randn(11, generator=g)[1::3]  # offset 1, stride 3
    base = torch.randn(12, generator=g, dtype=torch.float64)
    state["shared_a"] = base[1:7].view(2, 3)  # offset 1
    state["shared_b"] = base[4:12].view(4, 2).t()  # offset 4, stride (1, 2), overlapping shared_a
    state["empty"] = torch.zeros(0, 70000)  # stride (70000, 1): BININT
    counts = torch.arange(60, dtype=torch.int64)
    for i in range(60):  # one storage, sixty views: the memo passes 256 entries
        state[f"many.{i}"] = counts[i:i + 1]
    state._metadata = collections.OrderedDict([("", {"version": 1}), ("fc", {"version": 1})])
    return state


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)


class TinyResNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.layer1 = torch.nn.Sequential(Block())
        self.fc = torch.nn.Linear(4, 10)


class TinyVGG(torch.nn.Module):
    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.classifier = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(), nn.Linear(6, 6), nn.ReLU(),
                                        nn.Dropout(), nn.Linear(6, 10))


def contiguous(state):
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(11)

    state = mixed_state(g)
    save_both(state, "mixed")
    expected = contiguous(state)
    expected["f16_raw"] = expected["f16"].clone()
    expected["f16"] = expected["f16"].float()
    write_safetensors(os.path.join(OUT, "mixed_expected.safetensors"), expected, {"torch": torch.__version__})

    model = TinyResNet()
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
            elif name.endswith("num_batches_tracked"):
                buf.fill_(100)
    tiny = model.state_dict()
    save_both(tiny, "tiny_resnet")
    write_safetensors(os.path.join(OUT, "tiny_resnet_expected.safetensors"), contiguous(tiny))

    written = {
        "w.f32": torch.randn(2, 3, generator=g),
        "w.f64": torch.randn(3, generator=g, dtype=torch.float64),
        "w.bf16": torch.randn(5, generator=g).bfloat16(),
        "w.i64": torch.tensor([1, -2, 3]),
        "a.scalar": torch.tensor(0.25),
        "b.empty": torch.zeros(0, 2),
    }
    metadata = {"format": "pt"}  # one key: the package orders metadata keys at random (a Rust HashMap)
    path = os.path.join(OUT, "python_writer.safetensors")
    write_safetensors(path, written, metadata)
    try:
        import safetensors.torch
    except ImportError:
        print("safetensors not importable: python_writer.safetensors not checked against the package")
    else:
        reference = safetensors.torch.save(written, metadata)
        assert reference == open(path, "rb").read(), "our writer differs from safetensors.torch.save"
        print(f"python_writer.safetensors: identical to safetensors {safetensors.__version__}'s output")

    torch.save(collections.OrderedDict(ints=torch.tensor([1, 2, 3], dtype=torch.int32)), os.path.join(OUT, "int32.pth"))

    # bad_opcode.pth: mixed.pth with data.pkl's first EMPTY_TUPLE (after GLOBAL 'collections OrderedDict') patched.
    with zipfile.ZipFile(os.path.join(OUT, "mixed.pth")) as src:
        entries = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(os.path.join(OUT, "bad_opcode.pth"), "w", zipfile.ZIP_STORED) as dst:
        for name, data in entries:
            if name.endswith("data.pkl"):
                at = data.index(b"OrderedDict\nq\x00)") + len(b"OrderedDict\nq\x00")
                data = data[:at] + b"\x8f" + data[at + 1:]
                print(f"bad_opcode.pth: 0x8f at byte {at} of {name}")
            dst.writestr(name, data)
    with zipfile.ZipFile(os.path.join(OUT, "no_pickle.pth"), "w") as dst:
        dst.writestr("archive/version", "3\n")

    torch.manual_seed(12)  # TinyVGG's default initialisation draws from the global generator
    torch.save(TinyVGG().state_dict(), os.path.join(OUT, "tiny_vgg.pth"))

    for name in sorted(os.listdir(OUT)):
        print(f"  {name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
