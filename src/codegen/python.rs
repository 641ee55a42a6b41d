//! The Python target: one module whose classes are the DSPy 3.4.1 / pydantic 2.14 equivalents of
//! a `.sig` file (spec section 6). Enums become `str` enums, records pydantic models, signatures
//! `dspy.Signature` classes and programs module-level DSPy modules. The native chat adapter must
//! format exactly what DSPy's `ChatAdapter` formats for these classes, so every choice here that
//! shows up in a prompt (field order, `desc=`, the order of constraint keyword arguments, how floats
//! are written) is pinned by `tests/codegen_python.rs`, which imports the output in real DSPy.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use super::constraints::{self, Number};
use super::{header_text, Source};
use crate::schema::{Document, Enum, Field, Module, Program, Record, Signature, Type, Variant};

/// Writes the Python module for `document`: header, imports, enums, records (each defined before
/// the records that use it; recursive ones through string forward references and
/// `model_rebuild()`), signatures, then programs.
pub fn generate(document: &Document, source: &Source) -> String {
    let mut emitter = Emitter::new(document);
    let mut blocks = emitter.body();
    let mut out = format!("# {}\n", escape_comment(&header_text(source)));
    let imports = emitter.imports.lines();
    if !imports.is_empty() {
        out.push('\n');
        out.push_str(&imports);
    }
    if !emitter.aliases.is_empty() {
        blocks.insert(0, emitter.alias_block());
    }
    for block in blocks {
        out.push_str("\n\n");
        out.push_str(&block);
    }
    out
}

/// Formats a float exactly as Python's `repr(float)` does (`0.0`, `-1.5`, `1e-05`, `1e+16`):
/// the shortest digits that round-trip, in fixed notation when the decimal exponent is in
/// `-4..16`, in scientific notation with a signed exponent of at least two digits otherwise.
/// DSPy writes constraint values with `str()`, so this is also the text of a float bound in a
/// prompt (`greater than or equal to: 1e-05`).
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits Python uses: `d.ddde[-]x`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if value.is_sign_negative() { "-" } else { "" };
    // Position of the decimal point relative to the start of `digits`.
    let point = exponent + 1;
    let digit_count = digits.len() as i32;
    if (-3..=16).contains(&point) {
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point >= digit_count {
            format!("{digits}{}.0", "0".repeat((point - digit_count) as usize))
        } else {
            let (whole, fraction) = digits.split_at(point as usize);
            format!("{whole}.{fraction}")
        };
        format!("{sign}{text}")
    } else {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{sign}{first}{fraction}e{exponent_sign}{:02}",
            exponent.unsigned_abs()
        )
    }
}

/// The modules the generated code refers to, so that only those are imported.
#[derive(Debug, Default)]
struct Imports {
    enumeration: bool,
    typing: bool,
    dspy: bool,
    pydantic: bool,
}

impl Imports {
    /// Import lines, standard library first, each group sorted, with a blank line between.
    fn lines(&self) -> String {
        let standard: Vec<&str> = [(self.enumeration, "enum"), (self.typing, "typing")]
            .into_iter()
            .filter_map(|(used, name)| used.then_some(name))
            .collect();
        let third_party: Vec<&str> = [(self.dspy, "dspy"), (self.pydantic, "pydantic")]
            .into_iter()
            .filter_map(|(used, name)| used.then_some(name))
            .collect();
        [standard, third_party]
            .iter()
            .filter(|group| !group.is_empty())
            .map(|group| {
                group
                    .iter()
                    .map(|name| format!("import {name}\n"))
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The builtins and modules generated code refers to by name. A `.sig` file may declare these
/// names too (a field `list: list[string]`, a program `dspy`), and Python evaluates a field's
/// annotation after binding the field's name in the class body, so such references go through
/// module-level aliases (`_list = list`) that no field can shadow: pydantic rejects field names
/// with a leading underscore.
const PYTHON_NAMES: &[&str] = &[
    "bool", "dict", "dspy", "enum", "float", "int", "list", "pydantic", "str", "typing",
];

/// Where a type is written: as a field's own annotation (its constraints go on the field) or
/// nested inside another type (its constraints go into `typing.Annotated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    Field,
    Nested,
}

/// Builds the module body while noting which imports and aliases it needs and which records
/// are defined.
struct Emitter<'a> {
    document: &'a Document,
    records_by_name: HashMap<&'a str, &'a Record>,
    /// Records already written; a reference to any other record is a forward reference.
    defined: HashSet<&'a str>,
    imports: Imports,
    /// Builtins and modules that the document's own top-level names shadow everywhere.
    declared: HashSet<&'a str>,
    /// Field names of the class being written: they shadow names in the rest of its body.
    fields: HashSet<&'a str>,
    /// Builtins and modules referred to through an alias, defined after the imports.
    aliases: BTreeSet<&'static str>,
    /// Records and enums referred to through an alias, defined right after their class.
    class_aliases: BTreeSet<&'a str>,
}

impl<'a> Emitter<'a> {
    fn new(document: &'a Document) -> Self {
        let declared = document
            .signatures
            .iter()
            .map(|signature| signature.name.as_str())
            .chain(document.records.iter().map(|record| record.name.as_str()))
            .chain(
                document
                    .enums
                    .iter()
                    .map(|enumeration| enumeration.name.as_str()),
            )
            .chain(
                document
                    .programs
                    .iter()
                    .map(|program| program.name.as_str()),
            )
            .filter(|name| PYTHON_NAMES.contains(name))
            .collect();
        Emitter {
            document,
            records_by_name: document
                .records
                .iter()
                .map(|record| (record.name.as_str(), record))
                .collect(),
            defined: HashSet::new(),
            imports: Imports::default(),
            declared,
            fields: HashSet::new(),
            aliases: BTreeSet::new(),
            class_aliases: BTreeSet::new(),
        }
    }

    /// The top-level blocks of the module, in order; they are joined by two blank lines.
    fn body(&mut self) -> Vec<String> {
        // Records and enums are aliased right after their class, but whether one needs an
        // alias shows only when a later class is written: a first pass finds out.
        let mut first_pass = Emitter::new(self.document);
        first_pass.blocks();
        self.class_aliases = first_pass.class_aliases;
        self.blocks()
    }

    fn blocks(&mut self) -> Vec<String> {
        let mut blocks = Vec::new();
        for enumeration in &self.document.enums {
            let block = self.enumeration(enumeration);
            blocks.push(self.with_class_alias(block, &enumeration.name));
        }
        let mut rebuilds = Vec::new();
        for record in self.record_order() {
            let (block, forward) = self.record(record);
            blocks.push(self.with_class_alias(block, &record.name));
            if forward {
                rebuilds.push(format!("{}.model_rebuild()\n", record.name));
            }
        }
        if !rebuilds.is_empty() {
            blocks.push(rebuilds.concat());
        }
        for signature in &self.document.signatures {
            blocks.push(self.signature(signature));
        }
        if self
            .document
            .programs
            .iter()
            .any(|program| matches!(program.module, Module::BestOfN { .. }))
        {
            blocks.push(FIRST_VALID_REWARD.to_owned());
        }
        if !self.document.programs.is_empty() {
            let programs: Vec<String> = self
                .document
                .programs
                .iter()
                .map(|program| self.program(program))
                .collect();
            blocks.push(programs.join("\n"));
        }
        blocks
    }

    /// `_list = list` lines for the builtins and modules that are shadowed somewhere.
    fn alias_block(&self) -> String {
        self.aliases
            .iter()
            .map(|name| format!("_{name} = {name}\n"))
            .collect()
    }

    /// `block`, followed by `_name_ = name` when a later class has a field called `name`.
    fn with_class_alias(&self, mut block: String, name: &str) -> String {
        if self.class_aliases.contains(name) {
            let _ = write!(block, "\n\n{} = {name}\n", class_alias(name));
        }
        block
    }

    /// How to refer to a builtin or module here: by name, or by its alias where the document
    /// shadows the name. Notes the import a module needs.
    fn python_name(&mut self, name: &'static str) -> String {
        match name {
            "enum" => self.imports.enumeration = true,
            "typing" => self.imports.typing = true,
            "dspy" => self.imports.dspy = true,
            "pydantic" => self.imports.pydantic = true,
            _ => {}
        }
        if self.declared.contains(name) || self.fields.contains(name) {
            self.aliases.insert(name);
            format!("_{name}")
        } else {
            name.to_owned()
        }
    }

    /// `module.attribute`, through `python_name`.
    fn qualified(&mut self, module: &'static str, attribute: &str) -> String {
        format!("{}.{attribute}", self.python_name(module))
    }

    /// How to refer to a record or enum class here: by name, or by its alias where a field of
    /// the class being written has the same name.
    fn class_name(&mut self, name: &'a str) -> String {
        if self.fields.contains(name) {
            self.class_aliases.insert(name);
            class_alias(name)
        } else {
            name.to_owned()
        }
    }

    /// Records in an order where each comes after the records it uses, declaration order
    /// otherwise (a depth-first post-order, iterative so that long chains cannot overflow the
    /// stack). Records in a cycle keep one reference as a forward reference.
    fn record_order(&self) -> Vec<&'a Record> {
        let mut order = Vec::with_capacity(self.document.records.len());
        let mut seen: HashSet<&str> = HashSet::new();
        for root in &self.document.records {
            if !seen.insert(root.name.as_str()) {
                continue;
            }
            let mut stack = vec![(root, records_used_by(root), 0)];
            while let Some((record, uses, next)) = stack.last_mut() {
                if let Some(name) = uses.get(*next).copied() {
                    *next += 1;
                    if let Some(&used) = self.records_by_name.get(name) {
                        if seen.insert(used.name.as_str()) {
                            stack.push((used, records_used_by(used), 0));
                        }
                    }
                } else {
                    order.push(*record);
                    stack.pop();
                }
            }
        }
        order
    }

    fn enumeration(&mut self, enumeration: &Enum) -> String {
        let mut out = format!(
            "class {}({}, {}):\n",
            enumeration.name,
            self.python_name("str"),
            self.qualified("enum", "Enum")
        );
        let mut body = Vec::new();
        if let Some(docs) = &enumeration.docs {
            body.push(format!("    {}\n", docstring(docs)));
        }
        let variants: String = enumeration
            .variants
            .iter()
            .zip(member_names(&enumeration.variants))
            .map(|(variant, attribute)| {
                let mut line = format!("    {attribute} = {}\n", string_literal(&variant.name));
                if let Some(description) = &variant.description {
                    let _ = writeln!(line, "    {}", docstring(description));
                }
                line
            })
            .collect();
        body.push(variants);
        push_class_body(&mut out, body);
        out
    }

    /// The class for one record, and whether it holds a forward reference to another record
    /// (then it needs `model_rebuild()` once every record is defined).
    fn record(&mut self, record: &'a Record) -> (String, bool) {
        let mut out = format!(
            "class {}({}):\n",
            record.name,
            self.qualified("pydantic", "BaseModel")
        );
        let mut body = Vec::new();
        if let Some(docs) = &record.docs {
            body.push(format!("    {}\n", docstring(docs)));
        }
        self.fields = record.fields.iter().map(|f| f.name.as_str()).collect();
        let mut forward = false;
        let mut fields = String::new();
        for field in &record.fields {
            forward |= self.has_forward_reference(&field.ty, &record.name);
            let annotation = self.annotation(&field.ty, Position::Field);
            let arguments = self.field_arguments(field, "description");
            let default = match arguments.as_slice() {
                [] => String::new(),
                [only] if only == DEFAULT_NONE => " = None".to_owned(),
                _ => format!(
                    " = {}({})",
                    self.qualified("pydantic", "Field"),
                    arguments.join(", ")
                ),
            };
            let _ = writeln!(fields, "    {}: {annotation}{default}", field.name);
        }
        self.fields.clear();
        body.push(fields);
        push_class_body(&mut out, body);
        self.defined.insert(record.name.as_str());
        (out, forward)
    }

    fn signature(&mut self, signature: &'a Signature) -> String {
        let mut out = format!(
            "class {}({}):\n",
            signature.name,
            self.qualified("dspy", "Signature")
        );
        let mut body = Vec::new();
        // No docstring at all when there are no instructions: DSPy then fills in its default
        // ("Given the fields `a`, produce the fields `b`."); an empty one would replace it.
        if let Some(instructions) = &signature.instructions {
            body.push(format!("    {}\n", docstring(instructions)));
        }
        self.fields = signature
            .inputs
            .iter()
            .chain(&signature.outputs)
            .map(|field| field.name.as_str())
            .collect();
        let mut fields = String::new();
        let sides = [
            ("InputField", &signature.inputs),
            ("OutputField", &signature.outputs),
        ];
        for (constructor, side) in sides {
            for field in side {
                let annotation = self.annotation(&field.ty, Position::Field);
                let constructor = self.qualified("dspy", constructor);
                let arguments = self.field_arguments(field, "desc").join(", ");
                let _ = writeln!(
                    fields,
                    "    {}: {annotation} = {constructor}({arguments})",
                    field.name
                );
            }
        }
        self.fields.clear();
        body.push(fields);
        push_class_body(&mut out, body);
        out
    }

    /// `name = dspy.Module(...)`, with the program's docs as an attribute docstring.
    fn program(&mut self, program: &Program) -> String {
        let signature = &program.signature;
        let value = match program.module {
            Module::Predict => format!("{}({signature})", self.qualified("dspy", "Predict")),
            Module::ChainOfThought => {
                format!("{}({signature})", self.qualified("dspy", "ChainOfThought"))
            }
            Module::BestOfN { n } => format!(
                "{}(module={}({signature}), N={n}, reward_fn=_dspex_first_valid, threshold=1.0)",
                self.qualified("dspy", "BestOfN"),
                self.qualified("dspy", "Predict"),
            ),
            Module::MultiChainComparison { m } => format!(
                "{}({signature}, M={m})",
                self.qualified("dspy", "MultiChainComparison")
            ),
        };
        let mut out = format!("{} = {value}\n", program.name);
        if let Some(docs) = &program.docs {
            let _ = writeln!(out, "{}", docstring(docs));
        }
        out
    }

    /// Whether `ty` names a record other than `owner` that is not defined yet. A record's
    /// reference to itself is resolved by pydantic when the class is created.
    fn has_forward_reference(&self, ty: &Type, owner: &str) -> bool {
        let mut forward = false;
        ty.walk(&mut |nested| {
            if let Type::Record(name) = nested {
                forward |= name != owner && !self.defined.contains(name.as_str());
            }
        });
        forward
    }

    /// The Python annotation for `ty` (spec section 6's table).
    fn annotation(&mut self, ty: &'a Type, position: Position) -> String {
        if let Type::Optional(inner) = ty {
            // Only the field's own type hands its constraints to the field: in `T??` the inner
            // `?` is nested.
            let inner_position = match **inner {
                Type::Optional(_) => Position::Nested,
                _ => position,
            };
            let optional = self.qualified("typing", "Optional");
            return format!("{optional}[{}]", self.annotation(inner, inner_position));
        }
        let base = match ty {
            Type::String { .. } | Type::ReasoningChain => self.python_name("str"),
            Type::Integer { .. } => self.python_name("int"),
            Type::Float { .. } | Type::Probability { .. } => self.python_name("float"),
            Type::Boolean => self.python_name("bool"),
            Type::Json => self.qualified("typing", "Any"),
            Type::List { item, .. } => {
                let list = self.python_name("list");
                format!("{list}[{}]", self.annotation(item, Position::Nested))
            }
            Type::Map { value, .. } => {
                let dict = self.python_name("dict");
                let key = self.python_name("str");
                format!(
                    "{dict}[{key}, {}]",
                    self.annotation(value, Position::Nested)
                )
            }
            Type::Literals(values) => {
                let values: Vec<String> = values.iter().map(|v| string_literal(v)).collect();
                format!(
                    "{}[{}]",
                    self.qualified("typing", "Literal"),
                    values.join(", ")
                )
            }
            Type::Record(name) if !self.defined.contains(name.as_str()) => string_literal(name),
            Type::Record(name) | Type::Enum(name) => self.class_name(name),
            // Handled above; kept total without a panic path.
            Type::Optional(inner) => return self.annotation(inner, position),
        };
        if position == Position::Field {
            return base;
        }
        let constraints = self.constraints(ty);
        if constraints.is_empty() {
            return base;
        }
        let annotated = self.qualified("typing", "Annotated");
        let field = self.qualified("pydantic", "Field");
        format!("{annotated}[{base}, {field}({})]", constraints.join(", "))
    }

    /// Keyword arguments of `dspy.InputField`/`dspy.OutputField` (whose description keyword is
    /// `desc`) or of a record's `pydantic.Field` (`description`): the description, then the
    /// constraints in the order `ge`, `le`, `min_length`, `max_length`, `pattern` (DSPy lists
    /// them in the prompt in keyword order), then `default=None` for an optional field.
    fn field_arguments(&mut self, field: &Field, description_keyword: &str) -> Vec<String> {
        let mut arguments = Vec::new();
        if let Some(description) = &field.description {
            arguments.push(format!(
                "{description_keyword}={}",
                string_literal(description)
            ));
        }
        arguments.extend(self.constraints(field.ty.required()));
        if field.ty.is_optional() {
            arguments.push(DEFAULT_NONE.to_owned());
        }
        arguments
    }

    /// pydantic `Field` keyword arguments for the constraints of `ty` itself (not of nested
    /// types), in the order `ge`, `le`, `min_length`, `max_length`, `pattern`. A field's own
    /// constraints are those of its type without the outermost `?`.
    fn constraints(&mut self, ty: &Type) -> Vec<String> {
        let constraints = constraints::of(ty);
        let mut arguments = Vec::new();
        if let Some(bounds) = constraints.bounds {
            for (keyword, bound) in [("ge", bounds.min), ("le", bounds.max)] {
                let value = match bound {
                    Some(Number::Integer(integer)) => integer.to_string(),
                    Some(Number::Float(float)) => self.float_literal(float),
                    None => continue,
                };
                arguments.push(format!("{keyword}={value}"));
            }
        }
        if let Some(length) = constraints.length {
            for (keyword, count) in [("min_length", length.min), ("max_length", length.max)] {
                arguments.extend(count.map(|count| format!("{keyword}={count}")));
            }
        }
        if let Some(pattern) = constraints.pattern {
            arguments.push(format!("pattern={}", string_literal(pattern)));
        }
        arguments
    }

    /// Python source for a float constant: `repr` for finite values (always a float literal,
    /// never an int), `float("inf")` and friends otherwise.
    fn float_literal(&mut self, value: f64) -> String {
        if value.is_finite() {
            float_repr(value)
        } else {
            format!("{}(\"{}\")", self.python_name("float"), float_repr(value))
        }
    }
}

/// The alias of a record or enum class that a field shadows: `_name_`, distinct from the
/// aliases of builtins (`_str`) even for a record called `str`.
fn class_alias(name: &str) -> String {
    format!("_{name}_")
}

/// The names of the records a record's fields use directly, first use first, without repeats.
fn records_used_by(record: &Record) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for field in &record.fields {
        field.ty.walk(&mut |ty| {
            if let Type::Record(name) = ty {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        });
    }
    names
}

/// The keyword argument that makes a `T?` field optional.
const DEFAULT_NONE: &str = "default=None";

/// The reward used by `best_of_n` programs: DSPy's `BestOfN` needs one, and the language's
/// `best_of_n` keeps the first valid prediction when no reward is given. A prediction that fails
/// to parse raises inside `BestOfN` and counts as a failed attempt, so every prediction that
/// reaches the reward is valid, and a reward of 1.0 against a threshold of 1.0 keeps the first.
/// (No annotations: they could name a builtin the document shadows.)
const FIRST_VALID_REWARD: &str = r#"def _dspex_first_valid(args, prediction):
    """`best_of_n` reward: every prediction that parsed scores 1.0, so the first valid one wins.

    For a reward of your own, build `dspy.BestOfN(module=program.module, N=program.N,
    reward_fn=..., threshold=...)`.
    """
    return 1.0
"#;

/// Joins the parts of a class body (docstring, members) with blank lines; `pass` when empty.
fn push_class_body(out: &mut String, parts: Vec<String>) {
    let parts: Vec<String> = parts.into_iter().filter(|part| !part.is_empty()).collect();
    if parts.is_empty() {
        out.push_str("    pass\n");
    } else {
        out.push_str(&parts.join("\n"));
    }
}

/// Python's keywords: not usable as names (soft keywords such as `match` are).
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// The attribute names of an enum's members, one per variant. The member's value, which is
/// what DSPy shows and parses, is always the variant's name; the attribute differs where Python
/// would reject it or not make it a member: a keyword or `mro` gets PEP 8's trailing underscore
/// (`class_`), a `_sunder_` name one more underscore, a name with a leading `__` (which Python
/// mangles, or takes for a special attribute) a `member` prefix. Renamed attributes never collide with another variant's.
fn member_names(variants: &[Variant]) -> Vec<String> {
    let mut taken: HashSet<String> = variants.iter().map(|v| v.name.clone()).collect();
    variants
        .iter()
        .map(|variant| {
            let name = variant.name.as_str();
            let is_sunder = name.len() > 2
                && name.starts_with('_')
                && !name.starts_with("__")
                && name.ends_with('_')
                && !name.ends_with("__");
            let mut attribute = if PYTHON_KEYWORDS.contains(&name) || name == "mro" || is_sunder {
                format!("{name}_")
            } else if name.starts_with("__") {
                format!("member{name}")
            } else {
                return name.to_owned();
            };
            while !taken.insert(attribute.clone()) {
                attribute.push('_');
            }
            attribute
        })
        .collect()
}

/// A double-quoted Python string literal with the same value as `text`.
fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => push_escaped(&mut out, other),
        }
    }
    out.push('"');
    out
}

/// A triple-quoted docstring whose value is exactly `text`: new lines are kept as lines (not
/// re-indented, since the value must stay `text`), and a `"` is escaped where it could close
/// the string (before another `"`, or last).
fn docstring(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 6);
    out.push_str("\"\"\"");
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '"' if matches!(characters.peek(), None | Some('"')) => out.push_str("\\\""),
            '"' | '\n' => out.push(character),
            other => push_escaped(&mut out, other),
        }
    }
    out.push_str("\"\"\"");
    out
}

/// Pushes `character` as it is written inside a Python string literal: backslash, tab and
/// carriage return (which Python's tokenizer would turn into a new line) escaped, other
/// characters that are not printable as `\xNN`/`\uNNNN`/`\UNNNNNNNN` as `repr` does, everything
/// else (non-ASCII included) as is. Quotes and new lines are the caller's business.
fn push_escaped(out: &mut String, character: char) {
    match character {
        '\\' => out.push_str("\\\\"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        other if is_printable(other) => out.push(other),
        other => {
            let code = u32::from(other);
            let _ = match code {
                0..=0xff => write!(out, "\\x{code:02x}"),
                0x100..=0xffff => write!(out, "\\u{code:04x}"),
                _ => write!(out, "\\U{code:08x}"),
            };
        }
    }
}

/// Whether a character is written as itself in a string literal. Rust's `escape_debug` escapes
/// the characters Python's `str.isprintable` rejects (controls, format characters, line and
/// paragraph separators, unassigned code points); behind another character, combining marks
/// are left alone, as in Python.
fn is_printable(character: char) -> bool {
    if character == '\'' || character == '"' {
        return true;
    }
    let probe = format!("a{character}");
    probe.escape_debug().eq(probe.chars())
}

/// Text for a `#` comment: characters that would end the line or hide in it are escaped.
fn escape_comment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\n' => out.push_str("\\n"),
            '\\' => out.push('\\'),
            other => push_escaped(&mut out, other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        Source::new("signatures/qa.sig", "qa")
    }

    fn qa() -> Signature {
        Signature::new(
            "QA",
            vec![Field::new("question", Type::string()).with_description("the question to answer")],
            vec![
                Field::new("answer", Type::string())
                    .with_description("often between 1 and 5 words"),
                Field::new("confidence", Type::probability()),
            ],
        )
        .with_instructions("Answer questions with short factoid answers.")
    }

    #[test]
    fn writes_the_roadmap_signature() {
        let document = Document {
            signatures: vec![qa()],
            programs: vec![Program::new("qa", Module::ChainOfThought, "QA")],
            ..Document::default()
        };
        let expected = r#"# generated by dspex from signatures/qa.sig; do not edit

import dspy


class QA(dspy.Signature):
    """Answer questions with short factoid answers."""

    question: str = dspy.InputField(desc="the question to answer")
    answer: str = dspy.OutputField(desc="often between 1 and 5 words")
    confidence: float = dspy.OutputField(ge=0.0, le=1.0)


qa = dspy.ChainOfThought(QA)
"#;
        assert_eq!(generate(&document, &source()), expected);
    }

    #[test]
    fn an_empty_document_is_only_the_header() {
        assert_eq!(
            generate(&Document::default(), &source()),
            "# generated by dspex from signatures/qa.sig; do not edit\n"
        );
    }

    #[test]
    fn no_instructions_means_no_docstring() {
        let mut signature = qa();
        signature.instructions = None;
        let document = Document {
            signatures: vec![signature],
            ..Document::default()
        };
        let output = generate(&document, &source());
        assert!(output.contains("class QA(dspy.Signature):\n    question: str"));
    }

    #[test]
    fn maps_every_type_of_the_table() {
        let signature = Signature::new(
            "Everything",
            vec![
                Field::new("text", Type::string()),
                Field::new("steps", Type::ReasoningChain),
                Field::new("count", Type::integer_range(Some(-1), Some(5))),
                Field::new("score", Type::float_range(Some(-1.0), None)),
                Field::new("flag", Type::Boolean),
                Field::new("anything", Type::Json),
            ],
            vec![
                Field::new(
                    "tags",
                    Type::List {
                        item: Box::new(Type::String {
                            min_length: None,
                            max_length: Some(40),
                            pattern: None,
                        }),
                        min_items: Some(1),
                        max_items: Some(3),
                    },
                ),
                Field::new("weights", Type::map(Type::probability())),
                Field::new("maybe", Type::optional(Type::integer_range(Some(1), None))),
                Field::new("label", Type::literals(&["yes", "no \"way\""])),
                Field::new(
                    "code",
                    Type::String {
                        min_length: None,
                        max_length: None,
                        pattern: Some(r"^\d{3}$".to_owned()),
                    },
                ),
                Field::new(
                    "narrow",
                    Type::Probability {
                        min: Some(0.5),
                        max: None,
                    },
                ),
            ],
        );
        let document = Document {
            signatures: vec![signature],
            ..Document::default()
        };
        let output = generate(&document, &source());
        let expected_lines = [
            "import typing\n\nimport dspy\nimport pydantic\n",
            "    text: str = dspy.InputField()\n",
            "    steps: str = dspy.InputField()\n",
            "    count: int = dspy.InputField(ge=-1, le=5)\n",
            "    score: float = dspy.InputField(ge=-1.0)\n",
            "    flag: bool = dspy.InputField()\n",
            "    anything: typing.Any = dspy.InputField()\n",
            "    tags: list[typing.Annotated[str, pydantic.Field(max_length=40)]] = \
             dspy.OutputField(min_length=1, max_length=3)\n",
            "    weights: dict[str, typing.Annotated[float, pydantic.Field(ge=0.0, le=1.0)]] = \
             dspy.OutputField()\n",
            "    maybe: typing.Optional[int] = dspy.OutputField(ge=1, default=None)\n",
            "    label: typing.Literal[\"yes\", \"no \\\"way\\\"\"] = dspy.OutputField()\n",
            "    code: str = dspy.OutputField(pattern=\"^\\\\d{3}$\")\n",
            "    narrow: float = dspy.OutputField(ge=0.5, le=1.0)\n",
        ];
        for line in expected_lines {
            assert!(output.contains(line), "missing {line:?} in\n{output}");
        }
    }

    #[test]
    fn writes_enums_and_records_before_use() {
        let document = Document {
            signatures: vec![Signature::new(
                "Cite",
                vec![Field::new("question", Type::string())],
                vec![
                    Field::new("sources", Type::list(Type::record("Source"))),
                    Field::new("mood", Type::enumeration("Sentiment")),
                ],
            )],
            records: vec![
                Record::new(
                    "Source",
                    vec![
                        Field::new("title", Type::string()),
                        Field::new("url", Type::string()).with_description("a link to the page"),
                        Field::new("author", Type::record("Person")),
                        Field::new("year", Type::optional(Type::integer())),
                        Field::new("confidence", Type::optional(Type::probability()))
                            .with_description("how sure"),
                    ],
                )
                .with_docs("A cited source."),
                Record::new("Person", vec![Field::new("name", Type::string())]),
            ],
            enums: vec![Enum {
                variants: vec![
                    Variant::new("positive").with_description("good"),
                    Variant::new("None"),
                ],
                ..Enum::new("Sentiment", &[])
            }],
            programs: vec![],
        };
        let expected = r#"# generated by dspex from signatures/qa.sig; do not edit

import enum
import typing

import dspy
import pydantic


class Sentiment(str, enum.Enum):
    positive = "positive"
    """good"""
    None_ = "None"


class Person(pydantic.BaseModel):
    name: str


class Source(pydantic.BaseModel):
    """A cited source."""

    title: str
    url: str = pydantic.Field(description="a link to the page")
    author: Person
    year: typing.Optional[int] = None
    confidence: typing.Optional[float] = pydantic.Field(description="how sure", ge=0.0, le=1.0, default=None)


class Cite(dspy.Signature):
    question: str = dspy.InputField()
    sources: list[Source] = dspy.OutputField()
    mood: Sentiment = dspy.OutputField()
"#;
        assert_eq!(generate(&document, &source()), expected);
    }

    #[test]
    fn recursive_records_use_forward_references() {
        let document = Document {
            records: vec![
                Record::new(
                    "Tree",
                    vec![
                        Field::new("children", Type::list(Type::record("Tree"))),
                        Field::new("owner", Type::optional(Type::record("Owner"))),
                    ],
                ),
                Record::new(
                    "Owner",
                    vec![Field::new("trees", Type::list(Type::record("Tree")))],
                ),
            ],
            ..Document::default()
        };
        let output = generate(&document, &source());
        let owner = output.find("class Owner").unwrap_or(usize::MAX);
        let tree = output.find("class Tree").unwrap_or(usize::MAX);
        assert!(owner < tree, "{output}");
        assert!(output.contains("    trees: list[\"Tree\"]\n"), "{output}");
        // A class cannot name itself in its own body: self references are quoted too, but
        // pydantic resolves them when the class is created.
        assert!(
            output.contains("    children: list[\"Tree\"]\n"),
            "{output}"
        );
        assert!(output.contains("\n\nOwner.model_rebuild()\n"), "{output}");
        assert!(!output.contains("Tree.model_rebuild()"), "{output}");
    }

    #[test]
    fn a_long_chain_of_records_does_not_overflow_the_stack() {
        let count = 20_000;
        let records = (0..count)
            .map(|index| {
                Record::new(
                    format!("R{index}"),
                    vec![Field::new("next", Type::record(format!("R{}", index + 1)))],
                )
            })
            .collect();
        let document = Document {
            records,
            ..Document::default()
        };
        let output = generate(&document, &source());
        assert!(output.find("class R1(").unwrap_or(0) < output.find("class R0(").unwrap_or(0));
    }

    #[test]
    fn writes_every_module() {
        let programs = [
            (Module::Predict, "plain = dspy.Predict(QA)\n"),
            (Module::ChainOfThought, "plain = dspy.ChainOfThought(QA)\n"),
            (
                Module::BestOfN { n: 3 },
                "plain = dspy.BestOfN(module=dspy.Predict(QA), N=3, \
                 reward_fn=_dspex_first_valid, threshold=1.0)\n",
            ),
            (
                Module::MultiChainComparison { m: 3 },
                "plain = dspy.MultiChainComparison(QA, M=3)\n",
            ),
        ];
        for (module, line) in programs {
            let document = Document {
                signatures: vec![qa()],
                programs: vec![Program::new("plain", module, "QA").with_docs("Docs.")],
                ..Document::default()
            };
            let output = generate(&document, &source());
            assert!(
                output.ends_with(&format!("{line}\"\"\"Docs.\"\"\"\n")),
                "{output}"
            );
            assert_eq!(
                output.contains("def _dspex_first_valid"),
                matches!(module, Module::BestOfN { .. })
            );
        }
    }

    #[test]
    fn names_shadowed_by_fields_or_declarations_go_through_aliases() {
        let document = Document {
            signatures: vec![Signature::new(
                "Convert",
                vec![
                    Field::new("string", Type::string()),
                    Field::new("list", Type::list(Type::string())),
                    Field::new("person", Type::record("person")),
                ],
                vec![Field::new("typing", Type::optional(Type::Boolean))],
            )],
            records: vec![Record::new(
                "person",
                vec![Field::new("str", Type::optional(Type::string()))],
            )],
            programs: vec![Program::new("dspy", Module::Predict, "Convert")],
            ..Document::default()
        };
        let expected = r#"# generated by dspex from signatures/qa.sig; do not edit

import typing

import dspy
import pydantic


_dspy = dspy
_list = list
_str = str
_typing = typing


class person(pydantic.BaseModel):
    str: typing.Optional[_str] = None


_person_ = person


class Convert(_dspy.Signature):
    string: str = _dspy.InputField()
    list: _list[str] = _dspy.InputField()
    person: _person_ = _dspy.InputField()
    typing: _typing.Optional[bool] = _dspy.OutputField(default=None)


dspy = _dspy.Predict(Convert)
"#;
        assert_eq!(generate(&document, &source()), expected);
    }

    #[test]
    fn enum_members_python_would_reject_are_renamed() {
        let variants: Vec<Variant> = [
            "class",
            "class_",
            "mro",
            "_sunder_",
            "__private",
            "__dunder__",
            "name",
            "_x",
        ]
        .map(Variant::new)
        .to_vec();
        assert_eq!(
            member_names(&variants),
            [
                "class__",
                "class_",
                "mro_",
                "_sunder__",
                "member__private",
                "member__dunder__",
                "name",
                "_x"
            ]
        );
    }

    #[test]
    fn escapes_string_literals() {
        assert_eq!(string_literal("plain"), "\"plain\"");
        assert_eq!(string_literal("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            string_literal("line\nnext\ttab\r"),
            "\"line\\nnext\\ttab\\r\""
        );
        assert_eq!(string_literal("\u{0}\u{7f}\u{85}"), "\"\\x00\\x7f\\x85\"");
        assert_eq!(string_literal("\u{2028}\u{200b}"), "\"\\u2028\\u200b\"");
        assert_eq!(string_literal("\u{e0001}"), "\"\\U000e0001\"");
        assert_eq!(
            string_literal("prénom straße 日本 e\u{301}"),
            "\"prénom straße 日本 e\u{301}\""
        );
        assert_eq!(string_literal("'"), "\"'\"");
    }

    #[test]
    fn escapes_docstrings() {
        assert_eq!(docstring("Plain."), "\"\"\"Plain.\"\"\"");
        assert_eq!(docstring("two\nlines"), "\"\"\"two\nlines\"\"\"");
        assert_eq!(docstring("say \"hi\""), "\"\"\"say \"hi\\\"\"\"\"");
        assert_eq!(docstring("a\"\"\"b"), "\"\"\"a\\\"\\\"\"b\"\"\"");
        assert_eq!(docstring("\"start"), "\"\"\"\"start\"\"\"");
        assert_eq!(docstring("back\\slash"), "\"\"\"back\\\\slash\"\"\"");
        assert_eq!(docstring(""), "\"\"\"\"\"\"");
    }

    #[test]
    fn escapes_the_header_path() {
        let source = Source::new("odd\nname.sig", "odd");
        assert_eq!(
            generate(&Document::default(), &source),
            "# generated by dspex from odd\\nname.sig; do not edit\n"
        );
    }

    #[test]
    fn formats_floats_like_python_repr() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (123.456, "123.456"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "{value:e}");
        }
        let document = Document::default();
        let mut emitter = Emitter::new(&document);
        assert_eq!(emitter.float_literal(f64::INFINITY), "float(\"inf\")");
        assert_eq!(emitter.float_literal(-0.5), "-0.5");
    }
}
