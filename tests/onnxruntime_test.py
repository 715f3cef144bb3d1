"""onnxruntime runs the models export_onnx writes and gives edat's own numbers on real photos.

For the shipped model and, for every architecture with each head (regression and CORAL), seeded weights that
tests/onnx_reference.cpp makes: onnx_reference writes edat's input batch, network output and ages for a few real
face photos from ../shared; export_onnx writes the ONNX file; onnxruntime runs it on the same input. Its `output`
and `age` must equal edat's within 1e-4, for the whole batch and for one image alone (the batch dim is dynamic),
the ages must be predict_age's (--whole-image --tta none --json, which prints two decimals), and the metadata must
say the input size and normalisation. Last, the README's onnxruntime script, with its own preprocessing, must give
predict_age's ages for the shipped model.

    tests/.venv/bin/python tests/onnxruntime_test.py APPS_DIR TESTS_BIN_DIR SCRATCH_DIR SHARED_DATA SHIPPED_MODEL README
(tests/onnxruntime_test.sh runs it for ctest, skipping when tests/.venv or ../shared is absent.)
"""
import json
import pathlib
import shutil
import struct
import subprocess
import sys

import numpy as np
import onnxruntime

TOLERANCE = 1e-4
# The README's script resizes with PIL, not edat; it prints one decimal.
README_TOLERANCE = 0.25
# Small inputs keep the run short on two cores. VGG needs 32 px at least, where its 7 x 7 average pool repeats a
# 1 x 1 map; at 64 px it averages overlapping windows of a 2 x 2 map (the pooling matrices of export/emitters.cpp).
ARCHITECTURES = [("resnet18", 64), ("resnet34", 64), ("resnet50", 64), ("mobilenet_v2", 64), ("vgg16", 32),
                 ("vgg16_bn", 64)]


def read_safetensors(path):
    """The tensors of a safetensors file (F32 only, which is all onnx_reference writes) as numpy arrays."""
    data = pathlib.Path(path).read_bytes()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_size])
    body = data[8 + header_size:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", f"{path}: {name} is {entry['dtype']}"
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(entry["shape"])
    return tensors


def run(command):
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, command))} exited with {result.returncode}: "
                             f"{result.stdout[-800:]}{result.stderr[-800:]}")
    return result.stdout


def worst(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def check_case(name, apps, tests_bin, scratch, images, weights, make_weights):
    """Returns a list of problems (empty: the case passed)."""
    reference_file, model_file = scratch / "reference.safetensors", scratch / "model.onnx"
    run([tests_bin / "onnx_reference", "--weights", weights, "--out", reference_file, *make_weights, *images])
    run([apps / "export_onnx", "--weights", weights, "--out", model_file])
    edat = read_safetensors(reference_file)
    session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    problems = []

    (image_input,) = session.get_inputs()
    size = edat["input"].shape[2]
    if image_input.name != "image" or image_input.shape != ["batch", 3, size, size]:
        problems.append(f"input {image_input.name} {image_input.shape}")
    metadata = session.get_modelmeta().custom_metadata_map
    expected = {"input_size": str(size), "center_crop": str(size), "mean": "0.485,0.456,0.406",
                "std": "0.229,0.224,0.225"}
    problems += [f"metadata {k} = {metadata.get(k)!r}, not {v!r}" for k, v in expected.items() if metadata.get(k) != v]

    output, age = session.run(["output", "age"], {"image": edat["input"]})
    if output.shape != edat["output"].shape or worst(output, edat["output"]) > TOLERANCE:
        problems.append(f"output differs from edat's by {worst(output, edat['output']):.3g}")
    if age.shape != edat["age"].shape or worst(age, edat["age"]) > TOLERANCE:
        problems.append(f"ages {age.tolist()} differ from edat's {edat['age'].tolist()}")
    one_output, one_age = session.run(["output", "age"], {"image": edat["input"][:1]})
    if worst(one_output, output[:1]) > TOLERANCE or worst(one_age, age[:1]) > TOLERANCE:
        problems.append("a batch of one image gives another answer than the same image in the batch")

    printed = json.loads(run([apps / "predict_age", "--weights", weights, "--whole-image", "--tta", "none", "--json",
                              *images]))
    predicted = [entry["faces"][0]["age"] for entry in printed]
    if worst(age, predicted) > 0.005 + TOLERANCE:
        problems.append(f"ages {age.tolist()} are not predict_age's {predicted}")
    ages = np.round(age.astype(np.float64), 3).tolist()
    print(f"{'ok' if not problems else 'FAIL'}: {name}: {len(age)} images, ages {ages}, largest difference from "
          f"edat: output {worst(output, edat['output']):.2g}, age {worst(age, edat['age']):.2g}", flush=True)
    return problems


def check_readme_script(readme, apps, scratch, images, shipped):
    """The README's onnxruntime script (its own preprocessing, with PIL) on the shipped model gives predict_age's
    ages, up to the small differences of PIL's resize from edat's. Returns a list of problems."""
    text = readme.read_text()
    start = text.index("# run_age_onnx.py")
    script = scratch / "run_age_onnx.py"
    script.write_text(text[start:text.index("```", start)])
    model_file = scratch / "model.onnx"
    run([apps / "export_onnx", "--weights", shipped, "--out", model_file])
    printed = run([sys.executable, script, model_file, *images])
    ages = [float(line.rsplit(": ", 1)[1]) for line in printed.splitlines()]
    edat = json.loads(run([apps / "predict_age", "--weights", shipped, "--whole-image", "--tta", "none", "--json",
                           *images]))
    predicted = [entry["faces"][0]["age"] for entry in edat]
    difference = worst(ages, predicted)
    print(f"{'ok' if difference <= README_TOLERANCE else 'FAIL'}: the README's script: ages {ages}, "
          f"predict_age's {predicted}", flush=True)
    return [] if difference <= README_TOLERANCE else [f"ages differ from predict_age's by {difference:.2f}"]


def main():
    apps, tests_bin, scratch, shared, shipped, readme = map(pathlib.Path, sys.argv[1:7])
    faces = sorted((shared / "utkface" / "images").glob("*.jpg"))
    # Four UTKFace faces of different ages, and a group photo taken as one crop.
    images = [faces[i * len(faces) // 4] for i in range(4)] + [shared / "faces" / "2008_002470.jpg"]
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    weights = scratch / "weights.safetensors"
    cases = [("shipped model (mobilenet_v2, l1, 112 px)", shipped, [])]
    for arch, size in ARCHITECTURES:
        for loss in ("l1", "coral"):
            cases.append((f"{arch} {loss} {size} px, seeded weights", weights,
                          ["--arch", arch, "--loss", loss, "--img-size", size, "--seed", 1]))
    cases.append(("the README's onnxruntime script", None, None))
    failed = 0
    for name, case_weights, make_weights in cases:
        try:
            if case_weights is None:
                problems = check_readme_script(readme, apps, scratch, images[:4], shipped)
            else:
                problems = check_case(name, apps, tests_bin, scratch, images, case_weights, make_weights)
        except AssertionError as error:
            problems = [str(error)]
        for problem in problems:
            print(f"FAIL: {name}: {problem}", flush=True)
        failed += bool(problems)
        for leftover in scratch.iterdir():  # VGG's files are 0.5 GB each
            leftover.unlink()
    print(f"onnxruntime {onnxruntime.__version__}: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
