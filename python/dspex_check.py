"""Describe the DSPy classes of modules written by `dspex codegen --target python`.

Usage: python dspex_check.py DIRECTORY MODULE...

Imports each MODULE from DIRECTORY with real DSPy and pydantic and prints one JSON object on
stdout: for every module, its enums, pydantic records, `dspy.Signature` classes and DSPy
programs as DSPy sees them (names, instructions, fields in order with a canonical annotation,
`desc`, constraints), the warnings its import raised, and the messages `dspy.ChatAdapter`
formats for each signature and each program's predictors with sample inputs. A module that
fails to import, or a format call that raises, is reported in the JSON rather than aborting, so
the caller sees every problem at once. `tests/codegen_python.rs` compares this against the
checked model.
"""

import enum
import importlib
import inspect
import json
import sys
import traceback
import types
import typing
import warnings

import annotated_types
import dspy
import pydantic

sys.dont_write_bytecode = True

# annotated_types classes pydantic stores for constraint keywords, by keyword.
CONSTRAINT_TYPES = [
    ("ge", annotated_types.Ge),
    ("le", annotated_types.Le),
    ("gt", annotated_types.Gt),
    ("lt", annotated_types.Lt),
    ("min_length", annotated_types.MinLen),
    ("max_length", annotated_types.MaxLen),
]


def constraint_texts(metadata):
    """Canonical `key=value` strings for pydantic field metadata (values as Python repr)."""
    texts = []
    for item in metadata:
        if isinstance(item, pydantic.fields.FieldInfo):
            texts.extend(constraint_texts(item.metadata))
            continue
        for key, cls in CONSTRAINT_TYPES:
            if isinstance(item, cls):
                texts.append(f"{key}={getattr(item, key)!r}")
                break
        else:
            pattern = getattr(item, "pattern", None)
            if pattern is not None:
                texts.append(f"pattern={json.dumps(pattern, ensure_ascii=False)}")
            else:
                texts.append(f"unknown={item!r}")
    return texts


def annotation_text(annotation):
    """A canonical, Python-version-independent text for a type annotation: builtins by name,
    the module's enums and pydantic models as `enum:Name` and `model:Name` (a record may be
    called `str`)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is typing.Any:
        return "Any"
    if annotation is type(None):
        return "None"
    if origin is typing.Annotated:
        texts = constraint_texts(annotation.__metadata__)
        return f"Annotated[{annotation_text(args[0])}, {', '.join(texts)}]"
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if len(others) == 1 and len(args) == 2:
            return f"Optional[{annotation_text(others[0])}]"
        return f"Union[{', '.join(annotation_text(a) for a in args)}]"
    if origin is typing.Literal:
        return f"Literal[{', '.join(json.dumps(a, ensure_ascii=False) for a in args)}]"
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(annotation_text(a) for a in args)}]"
    if isinstance(annotation, typing.ForwardRef):
        return f"ForwardRef[{annotation.__forward_arg__}]"
    if isinstance(annotation, str):
        return f"ForwardRef[{annotation}]"
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return f"enum:{annotation.__name__}"
    if inspect.isclass(annotation) and issubclass(annotation, pydantic.BaseModel):
        return f"model:{annotation.__name__}"
    if inspect.isclass(annotation) and annotation.__module__ == "builtins":
        return annotation.__name__
    return f"unknown[{annotation!r}]"


def describe_signature_field(name, info):
    extra = info.json_schema_extra or {}
    return {
        "name": name,
        "annotation": annotation_text(info.annotation),
        "desc": extra.get("desc"),
        "constraints": extra.get("constraints"),
        "metadata": constraint_texts(info.metadata),
        "required": info.is_required(),
        "default": None if info.is_required() else repr(info.default),
    }


def describe_signature(cls):
    return {
        "name": cls.__name__,
        "doc": cls.__doc__,
        "instructions": cls.instructions,
        "inputs": [describe_signature_field(n, f) for n, f in cls.input_fields.items()],
        "outputs": [describe_signature_field(n, f) for n, f in cls.output_fields.items()],
    }


def describe_record(cls):
    return {
        "name": cls.__name__,
        "doc": cls.__doc__,
        "complete": bool(cls.__pydantic_complete__),
        "fields": [
            {
                "name": name,
                "annotation": annotation_text(info.annotation),
                "description": info.description,
                "metadata": constraint_texts(info.metadata),
                "required": info.is_required(),
                "default": None if info.is_required() else repr(info.default),
            }
            for name, info in cls.model_fields.items()
        ],
        "json_schema": cls.model_json_schema(),
    }


def describe_enum(cls):
    return {
        "name": cls.__name__,
        "doc": cls.__doc__,
        "members": [[member.name, member.value] for member in cls],
        "values": [member.value for member in cls],
    }


def sample_value(annotation, depth=0):
    """A value of the annotated type for formatting (not validated; pydantic models are built
    with `model_construct`)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return sample_value(args[0], depth)
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        return sample_value(others[0], depth) if others and depth < 3 else None
    if origin is typing.Literal:
        return args[0]
    if origin is list:
        return [sample_value(args[0], depth + 1)] if depth < 3 else []
    if origin is dict:
        return {"key": sample_value(args[1], depth + 1)} if depth < 3 else {}
    if annotation is typing.Any:
        return {"any": [1, "two", None]}
    if annotation is str:
        return "sample «text»\nwith two lines"
    if annotation is bool:
        return True
    if annotation is int:
        return 2
    if annotation is float:
        return 0.5
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return next(iter(annotation))
    if inspect.isclass(annotation) and issubclass(annotation, pydantic.BaseModel):
        values = {}
        for name, info in annotation.model_fields.items():
            if info.is_required():
                values[name] = sample_value(info.annotation, depth + 1)
        return annotation.model_construct(**values)
    return "sample"


def format_messages(signature):
    inputs = {name: sample_value(info.annotation) for name, info in signature.input_fields.items()}
    try:
        return {"messages": dspy.ChatAdapter().format(signature, demos=[], inputs=inputs)}
    except Exception:  # noqa: BLE001 - every failure is reported to the caller
        return {"error": traceback.format_exc()}


def describe_program(name, program):
    predictors = []
    for path, predictor in program.named_predictors():
        signature = predictor.signature
        predictors.append(
            {
                "path": path,
                "signature": signature.__name__,
                "instructions": signature.instructions,
                "inputs": [describe_signature_field(n, f) for n, f in signature.input_fields.items()],
                "outputs": [describe_signature_field(n, f) for n, f in signature.output_fields.items()],
                "format": format_messages(signature),
            }
        )
    parameters = {}
    for attribute in ("N", "M", "threshold"):
        if hasattr(program, attribute):
            parameters[attribute] = getattr(program, attribute)
    inner = getattr(program, "module", None)
    if isinstance(inner, dspy.Module):
        parameters["module"] = type(inner).__name__
    return {
        "name": name,
        "class": type(program).__name__,
        "parameters": parameters,
        "predictors": predictors,
    }


def describe_module(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - every failure is reported to the caller
            return {"import_error": traceback.format_exc()}
    # Warnings DSPy raises about its own calls (MultiChainComparison passes the deprecated
    # `prefix=`) are listed apart from those the generated code causes.
    dspy_directory = dspy.__file__.rsplit("/", 1)[0] + "/"
    description = {
        "warnings": [
            f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}"
            for w in caught
            if not w.filename.startswith(dspy_directory)
        ],
        "dspy_warnings": sorted(
            {f"{w.category.__name__}: {w.message}" for w in caught if w.filename.startswith(dspy_directory)}
        ),
        "enums": [],
        "records": [],
        "signatures": [],
        "programs": [],
    }
    for attribute, value in vars(module).items():
        # `attribute == __name__` skips the aliases (`_person_ = person`) that the generated
        # code defines for names a field shadows.
        if inspect.isclass(value) and value.__module__ == module.__name__ and attribute == value.__name__:
            if issubclass(value, enum.Enum):
                description["enums"].append(describe_enum(value))
            elif issubclass(value, dspy.Signature):
                signature = describe_signature(value)
                signature["format"] = format_messages(value)
                description["signatures"].append(signature)
            elif issubclass(value, pydantic.BaseModel):
                description["records"].append(describe_record(value))
        elif isinstance(value, dspy.Module) and not attribute.startswith("_"):
            description["programs"].append(describe_program(attribute, value))
    return description


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.path.insert(0, sys.argv[1])
    result = {
        "versions": {"dspy": dspy.__version__, "pydantic": pydantic.VERSION},
        "modules": {name: describe_module(name) for name in sys.argv[2:]},
    }
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1, default=repr)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
