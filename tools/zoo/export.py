#!/usr/bin/python3
"""Export the dlbricks model corpus: real torchvision architectures, random weights, ONNX.

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision 0.14, python3-onnx):

    /usr/bin/python3 tools/zoo/export.py --out models [--all] [NAME ...]

Each model becomes models/<name>.onnx (batch 1, input "input", output "output") plus a
models/<name>.json sidecar with its metadata. A model whose sidecar matches the current
export settings is skipped, so re-running is quick.
"""

import argparse
import json
import os
import sys
import time
import warnings

# The 30 architectures of the corpus (issue 2); --all selects these.
CORPUS = [
    "alexnet", "vgg11", "vgg16", "vgg19",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "wide_resnet50_2", "resnext50_32x4d",
    "squeezenet1_0", "squeezenet1_1",
    "densenet121", "densenet169",
    "inception_v3", "googlenet",
    "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "shufflenet_v2_x1_0", "mnasnet1_0",
    "efficientnet_b0", "efficientnet_b1",
    "regnet_y_400mf", "regnet_x_1_6gf",
    "convnext_tiny", "vit_b_16", "swin_t",
    "fcn_resnet50",
]

# Default set for `make demo` (Makefile DEMO_MODELS), exported first by --all.
DEMO = ["alexnet", "resnet18", "squeezenet1_1", "mobilenet_v2", "googlenet"]

SEED = 0
# Bump when the export procedure changes so existing files are re-exported.
EXPORT_REVISION = 3

# Builder keyword arguments beyond weights=None. Both Inception nets would otherwise warn
# about init_weights and return aux outputs / rescale the input.
EXTRA_KWARGS = {
    "googlenet": {"aux_logits": False, "transform_input": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "transform_input": False, "init_weights": True},
    "fcn_resnet50": {"weights_backbone": None, "aux_loss": False},
}


def input_hw(name):
    return 299 if name == "inception_v3" else 224


def settings_for(name, opset, versions):
    """Everything that determines the exported file; a sidecar match means skip."""
    hw = input_hw(name)
    return {
        "model": name,
        "input_name": "input",
        "output_name": "output",
        "input_shape": [1, 3, hw, hw],
        "opset": opset,
        "seed": SEED,
        "builder_kwargs": EXTRA_KWARGS.get(name, {}),
        "export_revision": EXPORT_REVISION,
        "torch_version": versions["torch"],
        "torchvision_version": versions["torchvision"],
        "onnx_version": versions["onnx"],
    }


def build_model(name):
    import torch
    import torchvision

    torch.manual_seed(SEED)
    net = torchvision.models.get_model(name, weights=None, **EXTRA_KWARGS.get(name, {}))

    class SingleOutput(torch.nn.Module):
        """Segmentation models return a dict; the corpus wants one tensor out."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x)["out"]

    if name in torchvision.models.list_models(torchvision.models.segmentation):
        net = SingleOutput(net)
    jitter_constant_tensors(net)
    net.eval()
    return net


def jitter_constant_tensors(net):
    """Give constant-initialised tensors (norm scales/shifts/stats, zero biases) seeded noise.

    torch.onnx deduplicates bitwise-equal initializers and re-creates them through Identity
    nodes; trained models have no such duplicates, so neither should the corpus.
    """
    import torch

    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            if not t.is_floating_point() or t.numel() < 1:
                continue
            flat = t.reshape(-1)
            if not bool((flat == flat[0]).all()):
                continue
            v = float(flat[0])
            if v == 0.0:
                t.normal_(0.0, 0.01)
            else:
                t.mul_(torch.empty_like(t).uniform_(0.5, 1.5))


def make_io_static(model, input_shape, output_shape):
    """Pin every graph input/output dim to batch 1; keep the Shape-based reshape chains."""
    for values, shape in ((model.graph.input, input_shape), (model.graph.output, output_shape)):
        (value,) = values
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for n in shape:
            dims.add().dim_value = n
    # torch's inferred intermediate shapes carry the symbolic batch name; drop them.
    del model.graph.value_info[:]


def export_one(name, out_dir, opset, versions):
    import onnx
    import torch

    onnx_path = os.path.join(out_dir, name + ".onnx")
    meta_path = os.path.join(out_dir, name + ".json")
    settings = settings_for(name, opset, versions)
    if os.path.exists(onnx_path) and os.path.exists(meta_path):
        try:
            with open(meta_path) as f:
                old = json.load(f)
            if old.get("settings") == settings and old.get("onnx_bytes") == os.path.getsize(onnx_path):
                print(f"{name:20s} up to date  {os.path.getsize(onnx_path) / 1e6:8.1f} MB", flush=True)
                return True
        except (OSError, ValueError):
            pass  # unreadable sidecar: export again

    start = time.monotonic()
    net = build_model(name)
    params = sum(p.numel() for p in net.parameters())
    dummy = torch.randn(*settings["input_shape"])
    with torch.no_grad():
        out_shape = list(net(dummy).shape)
    tmp_path = onnx_path + ".tmp"
    # Not under no_grad: with grad enabled nn.MultiheadAttention (vit_b_16) avoids its fused
    # fast path, aten::_native_multi_head_attention, which has no ONNX symbolic.
    torch.onnx.export(
        net, dummy, tmp_path,
        input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        opset_version=opset,
        do_constant_folding=True,
        # PRESERVE keeps the eval-mode model but skips the eval peephole pass that
        # would fold BatchNormalization into the preceding Conv.
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    model = onnx.load(tmp_path)
    make_io_static(model, settings["input_shape"], out_shape)
    onnx.checker.check_model(model)
    onnx.save(model, tmp_path)
    os.replace(tmp_path, onnx_path)
    seconds = time.monotonic() - start

    size = os.path.getsize(onnx_path)
    meta = {
        "settings": settings,
        "torch_params": params,
        "output_shape": out_shape,
        "onnx_nodes": len(model.graph.node),
        "onnx_bytes": size,
        "export_seconds": round(seconds, 2),
    }
    with open(meta_path + ".tmp", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    os.replace(meta_path + ".tmp", meta_path)
    print(f"{name:20s} exported    {size / 1e6:8.1f} MB  {seconds:6.1f} s  "
          f"{params:>12,} params  {len(model.graph.node):5d} nodes", flush=True)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="models", help="output folder (default: models)")
    parser.add_argument("--all", action="store_true", help="export all 30 corpus models")
    parser.add_argument("--opset", type=int, default=13, help="ONNX opset (default: 13)")
    parser.add_argument("--verbose", action="store_true", help="show torch.onnx warnings")
    parser.add_argument("names", nargs="*", help="torchvision model names")
    args = parser.parse_args()

    try:
        import onnx
        import torch
        import torchvision
    except ImportError as e:
        sys.exit(f"export.py: {e}; run with /usr/bin/python3 after `make deps-corpus`")

    names = list(args.names)
    if args.all:
        # Demo models first: other tools need them soonest.
        names += DEMO + CORPUS
    names = list(dict.fromkeys(names))  # keep order, drop repeats
    if not names:
        parser.error("name at least one model, or pass --all")

    # Image classifiers and segmenters take one 3xHxW image; other families do not fit.
    available = set(torchvision.models.list_models(torchvision.models)) | set(
        torchvision.models.list_models(torchvision.models.segmentation))
    for name in names:
        if name not in available:
            sys.exit(f"export.py: torchvision {torchvision.__version__} has no image "
                     f"classification or segmentation model '{name}'")

    if not args.verbose:
        # Tracer and shape-inference chatter from torch.onnx; the checker still runs.
        warnings.filterwarnings("ignore")
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    versions = {"torch": torch.__version__, "torchvision": torchvision.__version__,
                "onnx": onnx.__version__}
    failed = []
    total_start = time.monotonic()
    for name in names:
        try:
            export_one(name, args.out, args.opset, versions)
        except Exception as e:  # report every failing model, then fail overall
            print(f"{name:20s} FAILED: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                  flush=True)
            failed.append(name)
    print(f"total {time.monotonic() - total_start:.1f} s, {len(names) - len(failed)}/{len(names)} ok",
          flush=True)
    if failed:
        sys.exit(f"export.py: failed: {' '.join(failed)}")


if __name__ == "__main__":
    main()
