#!/usr/bin/python3
"""Check the exported corpus and print its op inventory.

    /usr/bin/python3 tools/zoo/inventory.py [--json] models/*.onnx

Per model: checker result, node count, ops other than Conv/Relu/BatchNormalization/Add,
whether Shape/Gather/Constant/Identity nodes remain, whether any graph input/output dim is
non-static, how many node outputs ONNX shape inference (with data propagation) leaves
non-static at batch 1 and at batch 8, which nodes are constant-foldable, file size, torch
parameter count from the export sidecar.
"""

import argparse
import collections
import json
import os
import sys

COMMON_OPS = {"Conv", "Relu", "BatchNormalization", "Add"}
SHAPE_OPS = ["Shape", "Gather", "Constant", "Identity"]


def static_dims(value):
    dims = value.type.tensor_type.shape.dim
    return all(d.HasField("dim_value") for d in dims)


def unresolved_after_inference(model, batch):
    """Number of node outputs whose shape stays unknown or symbolic after inference."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in list(copy.graph.input) + list(copy.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = batch
    inferred = onnx.shape_inference.infer_shapes(copy, strict_mode=True, data_prop=True)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    missing = 0
    for node in inferred.graph.node:
        for out in node.output:
            v = known.get(out)
            if v is None or not v.type.tensor_type.HasField("shape") or not static_dims(v):
                missing += 1
    return missing


def foldable_ops(model):
    """Histogram of nodes computable without input data (Shape of a static tensor, Constant,
    initializers and whatever only they feed): what an ingest must fold to see static shapes."""
    known = {t.name for t in model.graph.initializer}
    ops = collections.Counter()
    for node in model.graph.node:  # ONNX requires topological order
        if node.op_type == "Shape" or all(not i or i in known for i in node.input):
            known.update(node.output)
            ops[node.op_type] += 1
    return dict(sorted(ops.items()))


def inspect(path):
    import onnx

    # Weights are not needed for the inventory, but check_model on a path handles >2 GB.
    onnx.checker.check_model(path)
    model = onnx.load(path)
    ops = collections.Counter(n.op_type for n in model.graph.node)
    sidecar = os.path.splitext(path)[0] + ".json"
    meta = {}
    if os.path.exists(sidecar):
        with open(sidecar) as f:
            meta = json.load(f)
    io = list(model.graph.input) + list(model.graph.output)
    return {
        "model": os.path.splitext(os.path.basename(path))[0],
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "nodes": len(model.graph.node),
        "initializers": len(model.graph.initializer),
        "ops": dict(sorted(ops.items())),
        "other_ops": {k: v for k, v in sorted(ops.items()) if k not in COMMON_OPS},
        "shape_ops": {k: ops.get(k, 0) for k in SHAPE_OPS},
        "foldable_ops": foldable_ops(model),
        "io_static": all(static_dims(v) for v in io),
        "unresolved_b1": unresolved_after_inference(model, 1),
        "unresolved_b8": unresolved_after_inference(model, 8),
        "bytes": os.path.getsize(path),
        "torch_params": meta.get("torch_params"),
        "export_seconds": meta.get("export_seconds"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()

    rows, failed = [], []
    for path in args.models:
        try:
            rows.append(inspect(path))
        except Exception as e:  # one bad file should not hide the others
            failed.append(path)
            print(f"{path}: {type(e).__name__}: {e}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'model':20s} {'nodes':>5s} {'MB':>7s} {'params':>12s} {'sec':>6s} io  "
              f"unres1/8  Shape/Gather/Const/Ident  other ops")
        for r in rows:
            so = "/".join(str(r["shape_ops"][k]) for k in SHAPE_OPS)
            other = " ".join(f"{k}:{v}" for k, v in r["other_ops"].items() if k not in SHAPE_OPS)
            params = f"{r['torch_params']:,}" if r["torch_params"] is not None else "?"
            print(f"{r['model']:20s} {r['nodes']:5d} {r['bytes'] / 1e6:7.1f} {params:>12s} "
                  f"{r['export_seconds'] or 0:6.1f} {'ok' if r['io_static'] else 'DYN'} "
                  f"{r['unresolved_b1']:4d}/{r['unresolved_b8']:<4d} {so:>24s}  {other}")
        total, folded = collections.Counter(), collections.Counter()
        for r in rows:
            total.update(r["ops"])
            folded.update(r["foldable_ops"])
        print(f"\n{len(rows)} models, {sum(r['nodes'] for r in rows)} nodes; ops across corpus "
              f"(nodes, models using it):")
        for op, n in total.most_common():
            print(f"  {op:24s} {n:6d}  {sum(1 for r in rows if op in r['ops']):3d}")
        print("\nfoldable nodes (shape- or weight-only once input shapes are static), by op:")
        for op, n in folded.most_common():
            models = [r["model"] for r in rows if op in r["foldable_ops"]]
            print(f"  {op:24s} {n:6d}  {' '.join(models)}")
    if failed:
        sys.exit(f"inventory.py: {len(failed)} file(s) failed: {' '.join(failed)}")


if __name__ == "__main__":
    main()
