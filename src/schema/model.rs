//! The checked, typed signature model: what every later stage (codegen, adapters, runtime)
//! consumes. Nothing here refers back to syntax; names are already resolved and valid.

use serde::Serialize;

/// Everything one `.sig` file declares, in declaration order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Document {
    pub signatures: Vec<Signature>,
    pub records: Vec<Record>,
    pub enums: Vec<Enum>,
    pub programs: Vec<Program>,
}

/// A signature: typed inputs, typed outputs and the instructions that go with them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signature {
    pub name: String,
    /// The `///` docs; DSPy's class docstring. `None` means DSPy's default instructions.
    pub instructions: Option<String>,
    pub inputs: Vec<Field>,
    pub outputs: Vec<Field>,
}

impl Signature {
    /// A signature without instructions; DSPy then writes its default ones.
    pub fn new(name: impl Into<String>, inputs: Vec<Field>, outputs: Vec<Field>) -> Signature {
        Signature {
            name: name.into(),
            instructions: None,
            inputs,
            outputs,
        }
    }

    /// This signature with `instructions`, as its `///` docs give them.
    pub fn with_instructions(self, instructions: impl Into<String>) -> Signature {
        Signature {
            instructions: Some(instructions.into()),
            ..self
        }
    }
}

/// A named, typed slot of a signature or a record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    pub description: Option<String>,
}

impl Field {
    /// A field without a description.
    pub fn new(name: impl Into<String>, ty: Type) -> Field {
        Field {
            name: name.into(),
            ty,
            description: None,
        }
    }

    /// This field with `description`, the text a `.sig` file writes after its type.
    pub fn with_description(self, description: impl Into<String>) -> Field {
        Field {
            description: Some(description.into()),
            ..self
        }
    }
}

/// A `type Name { ... }` declaration: a structured value with named fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub name: String,
    pub docs: Option<String>,
    pub fields: Vec<Field>,
}

impl Record {
    /// A record without docs.
    pub fn new(name: impl Into<String>, fields: Vec<Field>) -> Record {
        Record {
            name: name.into(),
            docs: None,
            fields,
        }
    }

    /// This record with `docs`, its `///` comment.
    pub fn with_docs(self, docs: impl Into<String>) -> Record {
        Record {
            docs: Some(docs.into()),
            ..self
        }
    }
}

/// An `enum Name { a, b }` declaration: one of a fixed set of names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Enum {
    pub name: String,
    pub docs: Option<String>,
    pub variants: Vec<Variant>,
}

impl Enum {
    /// An enum without docs whose variants have these names and no descriptions.
    pub fn new(name: impl Into<String>, variants: &[&str]) -> Enum {
        Enum {
            name: name.into(),
            docs: None,
            variants: variants
                .iter()
                .map(|variant| Variant::new(*variant))
                .collect(),
        }
    }

    /// This enum with `docs`, its `///` comment.
    pub fn with_docs(self, docs: impl Into<String>) -> Enum {
        Enum {
            docs: Some(docs.into()),
            ..self
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variant {
    pub name: String,
    pub description: Option<String>,
}

impl Variant {
    /// A variant without a description.
    pub fn new(name: impl Into<String>) -> Variant {
        Variant {
            name: name.into(),
            description: None,
        }
    }

    /// This variant with `description`, the text a `.sig` file writes after its name.
    pub fn with_description(self, description: impl Into<String>) -> Variant {
        Variant {
            description: Some(description.into()),
            ..self
        }
    }
}

/// `program name = module(Signature, args...)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Program {
    pub name: String,
    pub docs: Option<String>,
    pub module: Module,
    /// Name of a signature declared in the same document.
    pub signature: String,
}

impl Program {
    /// A program without docs that runs `module` over the signature named `signature`.
    pub fn new(name: impl Into<String>, module: Module, signature: impl Into<String>) -> Program {
        Program {
            name: name.into(),
            docs: None,
            module,
            signature: signature.into(),
        }
    }

    /// This program with `docs`, its `///` comment.
    pub fn with_docs(self, docs: impl Into<String>) -> Program {
        Program {
            docs: Some(docs.into()),
            ..self
        }
    }
}

/// The modules of language version 1, with their validated arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "module", rename_all = "snake_case")]
pub enum Module {
    Predict,
    ChainOfThought,
    BestOfN { n: u32 },
    MultiChainComparison { m: u32 },
}

impl Module {
    /// The snake_case name used in `.sig` files.
    pub fn name(self) -> &'static str {
        match self {
            Module::Predict => "predict",
            Module::ChainOfThought => "chain_of_thought",
            Module::BestOfN { .. } => "best_of_n",
            Module::MultiChainComparison { .. } => "multi_chain_comparison",
        }
    }

    /// The DSPy 3.4.1 class that implements the module.
    pub fn dspy_class(self) -> &'static str {
        match self {
            Module::Predict => "Predict",
            Module::ChainOfThought => "ChainOfThought",
            Module::BestOfN { .. } => "BestOfN",
            Module::MultiChainComparison { .. } => "MultiChainComparison",
        }
    }
}

/// A field's type with its constraints. Constraints are already checked against the type
/// (`min <= max`, lengths non-negative, patterns compile).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "of", rename_all = "snake_case")]
pub enum Type {
    String {
        min_length: Option<u64>,
        max_length: Option<u64>,
        pattern: Option<String>,
    },
    /// Free-text step-by-step reasoning; a string to every consumer but the prompt.
    ReasoningChain,
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Float {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    /// A number in `[0, 1]`; `min`/`max` narrow it further.
    Probability {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Any JSON value.
    Json,
    List {
        item: Box<Type>,
        min_items: Option<u64>,
        max_items: Option<u64>,
    },
    /// An object with string keys.
    Map {
        value: Box<Type>,
        min_entries: Option<u64>,
        max_entries: Option<u64>,
    },
    /// `T?`: may be absent or null.
    Optional(Box<Type>),
    /// `"a" | "b"`: one of these literal strings, in written order, without duplicates.
    Literals(Vec<String>),
    /// A `type` declared in the same document.
    Record(String),
    /// An `enum` declared in the same document.
    Enum(String),
}

impl Type {
    /// A plain string with no constraints.
    pub fn string() -> Type {
        Type::String {
            min_length: None,
            max_length: None,
            pattern: None,
        }
    }

    /// An integer with no bounds.
    pub fn integer() -> Type {
        Type::integer_range(None, None)
    }

    /// An integer within `min..=max`; `None` leaves that side open.
    pub fn integer_range(min: Option<i64>, max: Option<i64>) -> Type {
        Type::Integer { min, max }
    }

    /// A float with no bounds.
    pub fn float() -> Type {
        Type::float_range(None, None)
    }

    /// A float within `min..=max`; `None` leaves that side open.
    pub fn float_range(min: Option<f64>, max: Option<f64>) -> Type {
        Type::Float { min, max }
    }

    /// A probability: a number in `[0, 1]`, not narrowed further.
    pub fn probability() -> Type {
        Type::Probability {
            min: None,
            max: None,
        }
    }

    /// `list[item]` with no bounds on its length.
    pub fn list(item: Type) -> Type {
        Type::List {
            item: Box::new(item),
            min_items: None,
            max_items: None,
        }
    }

    /// `map[value]` with no bounds on its size.
    pub fn map(value: Type) -> Type {
        Type::Map {
            value: Box::new(value),
            min_entries: None,
            max_entries: None,
        }
    }

    /// `inner?`.
    pub fn optional(inner: Type) -> Type {
        Type::Optional(Box::new(inner))
    }

    /// A union of these literal strings, in this order.
    pub fn literals(values: &[&str]) -> Type {
        Type::Literals(values.iter().map(|value| (*value).to_owned()).collect())
    }

    /// A reference to the `type` called `name`.
    pub fn record(name: impl Into<String>) -> Type {
        Type::Record(name.into())
    }

    /// A reference to the `enum` called `name`.
    pub fn enumeration(name: impl Into<String>) -> Type {
        Type::Enum(name.into())
    }

    /// Whether a value may be left out (the outermost type is `T?`).
    pub fn is_optional(&self) -> bool {
        matches!(self, Type::Optional(_))
    }

    /// The type without its outermost `?`.
    pub fn required(&self) -> &Type {
        match self {
            Type::Optional(inner) => inner,
            other => other,
        }
    }

    /// Calls `visit` on this type and every type nested in it, outermost first.
    pub fn walk<'a>(&'a self, visit: &mut impl FnMut(&'a Type)) {
        visit(self);
        match self {
            Type::List { item, .. } => item.walk(visit),
            Type::Map { value, .. } => value.walk(visit),
            Type::Optional(inner) => inner.walk(visit),
            _ => {}
        }
    }
}

impl Document {
    pub fn signature(&self, name: &str) -> Option<&Signature> {
        self.signatures.iter().find(|s| s.name == name)
    }

    pub fn record(&self, name: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.name == name)
    }

    pub fn enumeration(&self, name: &str) -> Option<&Enum> {
        self.enums.iter().find(|e| e.name == name)
    }

    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
            && self.records.is_empty()
            && self.enums.is_empty()
            && self.programs.is_empty()
    }

    /// The records and enums that `fields` refer to, directly or through other records, in
    /// declaration order. Codegen uses it to emit `$defs` and helper types.
    pub fn definitions_used_by<'a>(
        &'a self,
        fields: impl IntoIterator<Item = &'a Field>,
    ) -> Definitions<'a> {
        let mut record_names: Vec<&str> = Vec::new();
        let mut enum_names: Vec<&str> = Vec::new();
        let mut pending: Vec<&Type> = fields.into_iter().map(|f| &f.ty).collect();
        while let Some(ty) = pending.pop() {
            ty.walk(&mut |t| match t {
                Type::Record(name) if !record_names.contains(&name.as_str()) => {
                    record_names.push(name);
                    if let Some(record) = self.record(name) {
                        pending.extend(record.fields.iter().map(|f| &f.ty));
                    }
                }
                Type::Enum(name) if !enum_names.contains(&name.as_str()) => {
                    enum_names.push(name);
                }
                _ => {}
            });
        }
        Definitions {
            records: self
                .records
                .iter()
                .filter(|r| record_names.contains(&r.name.as_str()))
                .collect(),
            enums: self
                .enums
                .iter()
                .filter(|e| enum_names.contains(&e.name.as_str()))
                .collect(),
        }
    }
}

/// Records and enums used by a set of fields, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct Definitions<'a> {
    pub records: Vec<&'a Record>,
    pub enums: Vec<&'a Enum>,
}

impl Definitions<'_> {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.enums.is_empty()
    }
}
