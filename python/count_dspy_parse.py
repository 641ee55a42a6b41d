"""Count how many replies of the dspex reply corpus DSPy 3.4.1's own parser reads right.

Usage (from the crate root):
    .venv/bin/python python/count_dspy_parse.py [--no-cargo] [--verbose]

Every fixture in `tests/fixtures/replies/*.yaml` gives a reply, the signature it answers, the
adapter (`chat` or `json`) and the expected outcome: the values a correct parser reads, or
`expect: error` for a reply that cannot honestly be read. For each fixture this script

  * builds the `dspy.Signature` with `dspex codegen --target python` (the same class a dspex user
    would get), imports it, and runs `dspy.ChatAdapter().parse` or `dspy.JSONAdapter().parse`;
  * takes what dspex reads from `cargo test --test replies -- --ignored report_outcomes`;

and counts an outcome as right when it matches the fixture: the same values (numbers compared by
value, enums by their value, records as dicts) or, for `expect: error`, a refusal. It prints the
counts per kind of fixture (good, repaired, error) for both parsers, and with `--verbose` every
fixture DSPy gets wrong. `--no-cargo` reuses `target/debug/dspex` and skips the dspex side.
"""

import argparse
import enum
import importlib.util
import json
import logging
import math
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "replies"
BINARY = ROOT / "target" / "debug" / "dspex"
KINDS = ("good", "repaired", "error")

sys.dont_write_bytecode = True


def load_fixtures():
    fixtures = {}
    for path in sorted(CORPUS.glob("*.yaml")):
        with path.open(encoding="utf-8") as file:
            fixtures[path.stem] = yaml.safe_load(file)
    return fixtures


def signature_class(name, fixture, workdir):
    """The dspy.Signature class `dspex codegen --target python` writes for the fixture."""
    import dspy

    directory = workdir / name
    directory.mkdir()
    if "sig_file" in fixture:
        # Keep the file name: an unnamed signature is named after it.
        sig_path = directory / Path(fixture["sig_file"]).name
        shutil.copyfile(ROOT / fixture["sig_file"], sig_path)
    else:
        sig_path = directory / "inline.sig"
        sig_path.write_text(fixture["sig"], encoding="utf-8")
    generated = subprocess.run(
        [str(BINARY), "codegen", "--target", "python", str(sig_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module_path = directory / "generated.py"
    module_path.write_text(generated, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"fixture_{name}", module_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, dspy.Signature) and value is not dspy.Signature
    ]
    wanted = fixture.get("signature")
    if wanted:
        return next(cls for cls in classes if cls.__name__ == wanted)
    return classes[0]


def plain(value):
    """A parsed value as plain JSON-like data: enums by value, pydantic models as dicts."""
    import pydantic

    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def same(left, right):
    """Equal as JSON, numbers by value; bools are not numbers."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return math.isclose(left, right, rel_tol=0, abs_tol=1e-12)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right))
    return left == right


def right(fixture, outcome):
    """Whether an outcome (`("values", dict)` or `("error", message)`) matches the fixture."""
    kind, payload = outcome
    if fixture["expect"] == "error":
        return kind == "error"
    return kind == "values" and same(payload, fixture["values"])


def dspy_outcomes(fixtures):
    import dspy

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    outcomes = {}
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        for name, fixture in fixtures.items():
            signature = signature_class(name, fixture, workdir)
            adapter = dspy.ChatAdapter() if fixture["adapter"] == "chat" else dspy.JSONAdapter()
            try:
                values = adapter.parse(signature, fixture["reply"])
                outcomes[name] = ("values", plain(dict(values)))
            except Exception as error:  # noqa: BLE001 - any failure is DSPy refusing the reply
                first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
                outcomes[name] = ("error", f"{type(error).__name__}: {first_line}")
    return outcomes


def dspex_outcomes():
    completed = subprocess.run(
        ["cargo", "test", "--quiet", "--test", "replies", "--", "--ignored", "--exact",
         "report_outcomes", "--nocapture"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    outcomes = {}
    for line in completed.stdout.splitlines():
        if not line.startswith("DSPEX-OUTCOME "):
            continue
        _, name, payload = line.split(" ", 2)
        data = json.loads(payload)
        outcomes[name] = ("values", data["values"]) if "values" in data else ("error", data["error"])
    return outcomes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cargo", action="store_true", help="reuse target/debug/dspex; skip dspex's side")
    parser.add_argument("--verbose", action="store_true", help="list every fixture DSPy gets wrong")
    arguments = parser.parse_args()

    fixtures = load_fixtures()
    dspex = {}
    if not arguments.no_cargo:
        subprocess.run(["cargo", "build", "--quiet", "--bin", "dspex"], cwd=ROOT, check=True)
        dspex = dspex_outcomes()
    dspy_results = dspy_outcomes(fixtures)

    totals = {kind: sum(1 for f in fixtures.values() if f["expect"] == kind) for kind in KINDS}
    dspy_right = {kind: 0 for kind in KINDS}
    dspex_right = {kind: 0 for kind in KINDS}
    wrong = []
    for name, fixture in fixtures.items():
        kind = fixture["expect"]
        if right(fixture, dspy_results[name]):
            dspy_right[kind] += 1
        else:
            wrong.append((name, fixture, dspy_results[name]))
        if name in dspex and right(fixture, dspex[name]):
            dspex_right[kind] += 1

    print(f"{len(fixtures)} replies in {CORPUS.relative_to(ROOT)}")
    print(f"{'':<12}{'replies':>8}{'DSPy 3.4.1':>12}{'dspex':>8}")
    for kind in KINDS:
        dspex_cell = str(dspex_right[kind]) if dspex else "-"
        print(f"{kind:<12}{totals[kind]:>8}{dspy_right[kind]:>12}{dspex_cell:>8}")
    dspex_total = str(sum(dspex_right.values())) if dspex else "-"
    print(f"{'total':<12}{len(fixtures):>8}{sum(dspy_right.values()):>12}{dspex_total:>8}")
    if arguments.verbose:
        print("\nDSPy gets these wrong:")
        for name, fixture, (outcome, payload) in wrong:
            shown = payload if outcome == "error" else json.dumps(payload, ensure_ascii=False)
            print(f"  {name} [{fixture['expect']}]: {outcome} {shown[:150]}")


if __name__ == "__main__":
    main()
