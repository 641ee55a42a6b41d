"""Format prompts with real DSPy, for the byte-for-byte parity test of dspex's adapters.

Usage: python dspex_format.py < cases.json > messages.json

`cases.json` is `{"dir": DIRECTORY, "cases": [CASE, ...]}`. DIRECTORY holds modules written by
`dspex codegen --target python`. Each CASE is an object with
  "module": the module name in DIRECTORY, "signature": the `dspy.Signature` class name,
  "wrap": "predict" | "chain_of_thought" | "multi_chain_comparison" (with "m"),
  "adapter": "chat" | "json", "instructions": optional replacement instructions,
  "demos": a list of dicts, "inputs": a dict.
Prints a JSON list with, per case, `{"messages": [...]}` (what `Adapter.format` returns) or
`{"error": "..."}`. Used by `tests/adapter_parity.rs`.
"""

import importlib
import json
import sys
import traceback

import dspy

sys.dont_write_bytecode = True


def predictor_signature(signature, wrap, m):
    if wrap == "predict":
        return dspy.Predict(signature).signature
    if wrap == "chain_of_thought":
        return dspy.ChainOfThought(signature).predict.signature
    if wrap == "multi_chain_comparison":
        return dspy.MultiChainComparison(signature, M=m).predict.signature
    raise ValueError(f"unknown wrap {wrap}")


def format_case(case):
    module = importlib.import_module(case["module"])
    signature = getattr(module, case["signature"])
    signature = predictor_signature(signature, case.get("wrap", "predict"), case.get("m", 3))
    if case.get("instructions") is not None:
        signature = signature.with_instructions(case["instructions"])
    adapter = dspy.JSONAdapter() if case.get("adapter") == "json" else dspy.ChatAdapter()
    demos = [dspy.Example(**demo) for demo in case.get("demos", [])]
    return adapter.format(signature, demos, case["inputs"])


def main():
    spec = json.load(sys.stdin)
    sys.path.insert(0, spec["dir"])
    results = []
    for case in spec["cases"]:
        try:
            results.append({"messages": format_case(case)})
        except Exception:
            results.append({"error": traceback.format_exc(limit=3)})
    json.dump(results, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
