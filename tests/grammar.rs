//! The GBNF grammars that hold a local model to a signature's reply format
//! (`dspex::adapter::grammar`). For every signature of `signatures/` and of the good fixtures,
//! under each module's predictor signature and for both adapters:
//!
//! - every reply the grammar allows is read by our own parser as valid outputs: pseudo-random
//!   walks through the grammar's text (as llama.cpp reads it, escapes included), steered
//!   towards the edges (shortest and longest repetitions, every alternative) and salted with
//!   text that trips parsers (`[[ ## x ## ]]`, fences, `None`, quotes), all parse; so do walks
//!   through grammars for types the `.sig` files leave out;
//! - hand-written replies are in or out of the grammar as they should be;
//! - llama.cpp's own grammar parser accepts the grammar, and its sampler follows our walks
//!   byte by byte and refuses the replies that must be out;
//! - SmolLM2-135M decoding greedily under the grammar writes a reply that parses.
//!
//! The last two need a GGUF model: `DSPEX_TEST_GGUF` names the file, else the one `scripts/test`
//! pulls into `target/dspex-home` (see `support::test_gguf`).

mod support;

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;

use dspex::adapter::grammar::gbnf;
use dspex::adapter::parse::{parse_chat, parse_json, ParseError, Parsed};
use dspex::adapter::{self, AdapterKind, PromptSignature};
use dspex::lm::Role;
use dspex::program::predictor_signature;
use dspex::schema::{Document, Enum, Field, Module, Record, Signature, Type};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{send_logs_to_tracing, LogOptions};
use serde_json::{json, Value};

/// Walks through each grammar.
const WALKS: usize = 24;

/// One grammar to check: a predictor signature of a document, in one adapter's layout.
struct Case {
    label: String,
    document: Document,
    signature: PromptSignature,
    kind: AdapterKind,
}

impl Case {
    fn grammar(&self) -> String {
        gbnf(self.kind, &self.document, &self.signature)
    }

    fn parse(&self, reply: &str) -> Result<Parsed, ParseError> {
        let outputs = self.signature.output_fields();
        match self.kind {
            AdapterKind::Chat => parse_chat(&self.document, &outputs, reply),
            AdapterKind::Json => parse_json(&self.document, &outputs, reply),
        }
    }
}

/// Every signature under `predict`, `chain_of_thought` and `multi_chain_comparison`, in both
/// layouts.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for file in support::sig_files() {
        for signature in &file.document.signatures {
            for module in [
                Module::Predict,
                Module::ChainOfThought,
                Module::MultiChainComparison { m: 2 },
            ] {
                for kind in [AdapterKind::Chat, AdapterKind::Json] {
                    cases.push(Case {
                        label: format!(
                            "{} {} {} {}",
                            file.relative,
                            signature.name,
                            module.name(),
                            kind.name()
                        ),
                        document: file.document.clone(),
                        signature: predictor_signature(module, signature),
                        kind,
                    });
                }
            }
        }
    }
    assert!(cases.len() > 100, "only {} cases", cases.len());
    cases
}

/// One case of `file` (relative to the repository root).
fn case(file: &str, signature: &str, module: Module, kind: AdapterKind) -> Case {
    let document = support::compile(&support::root().join(file));
    let found = document
        .signature(signature)
        .unwrap_or_else(|| panic!("{file} has no signature {signature}"));
    Case {
        label: format!("{file} {signature} {} {}", module.name(), kind.name()),
        signature: predictor_signature(module, found),
        document,
        kind,
    }
}

/// The `walk`th pseudo-random reply `grammar` allows (the same on every run of one build), with
/// characters `writable` accepts wherever the grammar leaves a choice.
fn walk_through(
    grammar: &Grammar,
    label: &str,
    walk: usize,
    writable: &dyn Fn(char) -> bool,
) -> String {
    let mut hasher = DefaultHasher::new();
    (label, walk).hash(&mut hasher);
    Walker::new(grammar, hasher.finish(), writable).reply()
}

#[test]
fn every_walk_through_every_grammar_parses() {
    let mut failures = Vec::new();
    let mut walks = 0;
    for case in cases() {
        let text = case.grammar();
        let grammar = Grammar::parse(&text);
        for walk in 0..WALKS {
            let reply = walk_through(&grammar, &case.label, walk, &|_| true);
            walks += 1;
            if let Err(error) = case.parse(&reply) {
                failures.push(format!(
                    "{} (walk {walk}): {error:?}\n--- reply:\n{reply}\n--- grammar:\n{text}",
                    case.label
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {walks} replies allowed by a grammar do not parse:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// Types and values the `.sig` files leave out: literals that cannot be written bare in a
/// chat section, extreme number bounds, long and exact lengths, patterns, an empty record.
fn unusual_document() -> Document {
    let pattern = |pattern: &str, max: Option<u64>| Type::String {
        min_length: None,
        max_length: max,
        pattern: Some(pattern.to_owned()),
    };
    let outputs = vec![
        Field::new(
            "choice",
            Type::literals(&[
                "",
                " padded ",
                "choice: allow",
                "allow",
                "[[ ## x ## ]]",
                "None",
                "two\nlines",
                "quote\"d \\ back",
                "n/a",
            ]),
        ),
        Field::new(
            "maybe",
            Type::optional(Type::literals(&["None", "n/a", "yes"])),
        ),
        Field::new("tiny", Type::float_range(Some(1e-7), Some(2e-7))),
        Field::new("big", Type::float_range(Some(1e20), None)),
        Field::new("beyond", Type::float_range(Some(1e31), None)),
        Field::new("negative", Type::integer_range(Some(i64::MIN), Some(-5))),
        Field::new("huge", Type::integer_range(Some(i64::MAX - 10), None)),
        Field::new(
            "narrow",
            Type::Probability {
                min: Some(0.333),
                max: Some(0.334),
            },
        ),
        Field::new(
            "exact",
            Type::String {
                min_length: Some(3),
                max_length: Some(3),
                pattern: None,
            },
        ),
        Field::new(
            "long",
            Type::String {
                min_length: Some(1500),
                max_length: Some(2500),
                pattern: None,
            },
        ),
        Field::new(
            "pair",
            Type::List {
                item: Box::new(Type::Boolean),
                min_items: Some(2),
                max_items: Some(2),
            },
        ),
        Field::new(
            "twice_optional",
            Type::optional(Type::optional(Type::integer())),
        ),
        Field::new("unanchored", pattern("[a-z]+@x", None)),
        Field::new("alternatives", pattern("^(ab|cd)$|^e+$", Some(4))),
        Field::new("spaced", pattern("^\\s*x\\s*$", None)),
        Field::new("caseless", pattern("(?i)^abc$", None)),
        Field::new("quoted", pattern("^\"[^\"]*\"$", Some(10))),
        Field::new("nothing", Type::record("Nothing")),
        Field::new("anything", Type::list(Type::Json)),
        Field::new(
            "table",
            Type::map(Type::optional(Type::enumeration("Flag"))),
        ),
    ];
    Document {
        signatures: vec![Signature::new(
            "Unusual",
            vec![Field::new("text", Type::string())],
            outputs,
        )],
        records: vec![Record::new("Nothing", vec![])],
        enums: vec![Enum::new("Flag", &["None", "on"])],
        programs: Vec::new(),
    }
}

/// The signature of [`unusual_document`] under `predict` and `chain_of_thought`, in both
/// layouts.
fn unusual_cases() -> Vec<Case> {
    let document = unusual_document();
    let signature = &document.signatures[0];
    let mut cases = Vec::new();
    for module in [Module::Predict, Module::ChainOfThought] {
        for kind in [AdapterKind::Chat, AdapterKind::Json] {
            cases.push(Case {
                label: format!("Unusual {} {}", module.name(), kind.name()),
                signature: predictor_signature(module, signature),
                document: document.clone(),
                kind,
            });
        }
    }
    cases
}

#[test]
fn every_walk_through_unusual_grammars_parses() {
    for case in unusual_cases() {
        let text = case.grammar();
        let grammar = Grammar::parse(&text);
        for walk in 0..WALKS * 4 {
            let reply = walk_through(&grammar, &case.label, walk, &|_| true);
            if let Err(error) = case.parse(&reply) {
                panic!(
                    "{} (walk {walk}): {error:?}\n--- reply:\n{reply}\n--- grammar:\n{text}",
                    case.label
                );
            }
        }
    }
}

/// Hand-written replies to `signatures/qa.sig` (`predict`, chat) that its grammar allows.
const QA_ALLOWED: &[&str] = &[
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]",
    "[[ ## answer ## ]]\nLine one.\n  Line two\n\n[[ ## confidence ## ]]\n1\n\n[[ ## completed ## ]]",
    "[[ ## answer ## ]]\nx\n\n[[ ## confidence ## ]]\n0\n\n[[ ## completed ## ]]",
];

/// Replies to `signatures/qa.sig` that its grammar refuses: a forged header, a leading space, an
/// empty answer, numbers out of range or written loosely, text after the end marker.
const QA_REFUSED: &[&str] = &[
    "[[ ## answer ## ]]\nParis [[ ## confidence ## ]] 0.1\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]",
    "[[ ## answer ## ]]\n Paris\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]",
    "[[ ## answer ## ]]\n\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]",
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n1.5\n\n[[ ## completed ## ]]",
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n90%\n\n[[ ## completed ## ]]",
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n.9\n\n[[ ## completed ## ]]",
    "[[ ## answer ## ]]\nParis\n\n[[ ## confidence ## ]]\n0.9\n\n[[ ## completed ## ]]\n",
];

/// A reply to `signatures/ticket_triage.sig` (`predict`, JSON) that its grammar allows.
const TRIAGE_ALLOWED: &str = r#"{"team": "billing", "sentiment": "negative", "urgency": 5, "confidence": 0.75, "summary": "Charged twice \"today\"."}"#;

/// Replies to `signatures/ticket_triage.sig` that its grammar refuses: an enum value in other
/// case, urgencies out of range, a missing key, other spacing.
const TRIAGE_REFUSED: &[&str] = &[
    r#"{"team": "Billing", "sentiment": "negative", "urgency": 5, "confidence": 0.75, "summary": "x"}"#,
    r#"{"team": "billing", "sentiment": "negative", "urgency": 6, "confidence": 0.75, "summary": "x"}"#,
    r#"{"team": "billing", "sentiment": "negative", "urgency": 0, "confidence": 0.75, "summary": "x"}"#,
    r#"{"team": "billing", "sentiment": "negative", "urgency": 5, "confidence": 0.75}"#,
    r#"{"team":"billing", "sentiment": "negative", "urgency": 5, "confidence": 0.75, "summary": "x"}"#,
];

fn qa_case() -> Case {
    case(
        "signatures/qa.sig",
        "QA",
        Module::Predict,
        AdapterKind::Chat,
    )
}

fn triage_case() -> Case {
    case(
        "signatures/ticket_triage.sig",
        "TriageTicket",
        Module::Predict,
        AdapterKind::Json,
    )
}

/// The grammar's own language, checked on hand-written replies: the canonical ones are in it
/// and parse, forged headers, padding and out-of-range numbers are not in it.
#[test]
fn grammars_refuse_what_the_parser_would_refuse() {
    for (case, allowed, refused) in [
        (qa_case(), QA_ALLOWED, QA_REFUSED),
        (triage_case(), &[TRIAGE_ALLOWED][..], TRIAGE_REFUSED),
    ] {
        let grammar = Grammar::parse(&case.grammar());
        for reply in allowed {
            assert!(grammar.matches(reply), "{reply:?} is not allowed");
            case.parse(reply).expect("an allowed reply parses");
        }
        for reply in refused {
            assert!(!grammar.matches(reply), "{reply:?} is allowed");
        }
    }

    // Patterns: `country_code` is `^[A-Z]{2}$`.
    let contacts = case(
        "signatures/contact_extraction.sig",
        "ExtractContacts",
        Module::Predict,
        AdapterKind::Json,
    );
    let grammar = Grammar::parse(&contacts.grammar());
    let reply = |country: &str| {
        let value = json!({
            "contacts": [{
                "full_name": "Ada Lovelace",
                "job_title": null,
                "emails": ["ada@example.org"],
                "phone": "+44 20 7946 0958",
                "address": {"street": null, "city": "London", "postal_code": "NW1 6XE", "country_code": country},
            }],
            "organizations": ["Analytical Engines"],
        });
        serde_json::to_string(&value)
            .expect("JSON")
            .replace("\":", "\": ")
            .replace(",\"", ", \"")
    };
    assert!(grammar.matches(&reply("GB")), "{}", reply("GB"));
    contacts
        .parse(&reply("GB"))
        .expect("an allowed reply parses");
    assert!(!grammar.matches(&reply("gb")), "{} is allowed", reply("gb"));
}

#[test]
fn grammar_snapshots() {
    let cases = [
        (
            "qa_chat",
            "signatures/qa.sig",
            "QA",
            Module::Predict,
            AdapterKind::Chat,
        ),
        (
            "qa_json",
            "signatures/qa.sig",
            "QA",
            Module::Predict,
            AdapterKind::Json,
        ),
        (
            "cited_answer_chain_of_thought_chat",
            "signatures/cited_answer.sig",
            "CitedAnswer",
            Module::ChainOfThought,
            AdapterKind::Chat,
        ),
        (
            "claim_verification_json",
            "signatures/claim_verification.sig",
            "VerifyClaim",
            Module::Predict,
            AdapterKind::Json,
        ),
        (
            "constraints_numbers_chat",
            "tests/fixtures/good/constraints_numbers.sig",
            "Rate",
            Module::Predict,
            AdapterKind::Chat,
        ),
        (
            "contact_extraction_json",
            "signatures/contact_extraction.sig",
            "ExtractContacts",
            Module::Predict,
            AdapterKind::Json,
        ),
        (
            "recursive_record_json",
            "tests/fixtures/good/recursive_record_optional_and_map.sig",
            "OrgChart",
            Module::Predict,
            AdapterKind::Json,
        ),
    ];
    for (name, file, signature, module, kind) in cases {
        insta::assert_snapshot!(name, case(file, signature, module, kind).grammar());
    }
}

/// The test model, loaded once.
fn model() -> Option<&'static (LlamaBackend, LlamaModel)> {
    static MODEL: OnceLock<Option<(LlamaBackend, LlamaModel)>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = support::test_gguf();
            send_logs_to_tracing(LogOptions::default().with_logs_enabled(false));
            let backend = LlamaBackend::init().expect("llama.cpp's backend starts");
            let model = LlamaModel::load_from_file(
                &backend,
                Path::new(&path),
                &LlamaModelParams::default(),
            )
            .unwrap_or_else(|error| panic!("cannot load {}: {error}", Path::new(&path).display()));
            Some((backend, model))
        })
        .as_ref()
}

#[test]
fn llama_cpp_accepts_every_grammar() {
    let Some((_, model)) = model() else {
        return;
    };
    let mut failures = Vec::new();
    let mut cases = cases();
    cases.extend(unusual_cases());
    for case in &cases {
        let text = case.grammar();
        if let Err(error) = LlamaSampler::grammar(model, &text, "root") {
            failures.push(format!("{}: {error}\n{text}", case.label));
            continue;
        }
        // llama.cpp reads the grammar as our walker does: it allows the walker's replies.
        let grammar = Grammar::parse(&text);
        for walk in 0..LLAMA_WALKS {
            let reply = walk_through(&grammar, &case.label, walk, &|c| writable(model, c));
            if !llama_allows(model, &text, &reply) {
                failures.push(format!(
                    "{} (walk {walk}): llama.cpp refuses\n{reply}\n--- grammar:\n{text}",
                    case.label
                ));
            }
        }
    }
    for (case, allowed, refused) in [
        (qa_case(), QA_ALLOWED, QA_REFUSED),
        (triage_case(), &[TRIAGE_ALLOWED][..], TRIAGE_REFUSED),
    ] {
        let text = case.grammar();
        for reply in allowed {
            if !llama_allows(model, &text, reply) {
                failures.push(format!("{}: llama.cpp refuses {reply:?}", case.label));
            }
        }
        for reply in refused {
            if llama_allows(model, &text, reply) {
                failures.push(format!("{}: llama.cpp allows {reply:?}", case.label));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures over {} grammars:\n\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// Walks through each grammar that llama.cpp follows token by token.
const LLAMA_WALKS: usize = 3;

/// Whether the model has a token for every byte of `c` (SmolLM2 has none for some control
/// characters and for the lead bytes of most characters beyond U+3FFFF, so it cannot write
/// them at all).
fn writable(model: &LlamaModel, c: char) -> bool {
    let mut buffer = [0; 4];
    c.encode_utf8(&mut buffer)
        .bytes()
        .all(|byte| byte_tokens(model)[usize::from(byte)].is_some())
}

/// Whether llama.cpp's grammar sampler accepts `reply`, fed one byte token at a time (the
/// tokenizer drops bytes of some rare characters, so it cannot be trusted to spell a walk), and
/// then the end of generation. The reply must be [`writable`].
fn llama_allows(model: &LlamaModel, grammar: &str, reply: &str) -> bool {
    let mut sampler = LlamaSampler::grammar(model, grammar, "root").expect("a grammar");
    let vocab = model.vocab();
    let bytes = byte_tokens(model);
    for byte in reply.bytes() {
        let token = bytes[usize::from(byte)].expect("a writable reply");
        if sampler.try_accept(token).is_err() {
            return false;
        }
    }
    let mut end = LlamaTokenDataArray::new(vec![LlamaTokenData::new(vocab.eos(), 0.0, 0.0)], false);
    end.apply_sampler(&mut sampler);
    end.data
        .first()
        .is_some_and(|end| end.logit() > f32::NEG_INFINITY)
}

/// For each byte, the model's token that is exactly that byte.
fn byte_tokens(model: &LlamaModel) -> &'static [Option<LlamaToken>; 256] {
    static TOKENS: OnceLock<[Option<LlamaToken>; 256]> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let vocab = model.vocab();
        let mut tokens = [None; 256];
        for token in vocab.tokens() {
            if let [byte] = vocab.token_to_piece(token, false, None)[..] {
                tokens[usize::from(byte)].get_or_insert(token);
            }
        }
        tokens
    })
}

/// Greedy decoding of the chat prompt for `case`, under its grammar, for at most `limit`
/// tokens.
fn decode(
    backend: &LlamaBackend,
    model: &LlamaModel,
    case: &Case,
    inputs: Value,
    limit: usize,
) -> String {
    let Value::Object(inputs) = inputs else {
        panic!("inputs must be an object");
    };
    let messages: Vec<LlamaChatMessage> =
        adapter::format(case.kind, &case.document, &case.signature, &[], &inputs)
            .into_iter()
            .map(|message| {
                let role = match message.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                LlamaChatMessage::new(role.to_owned(), message.content).expect("a message")
            })
            .collect();
    let template = model.chat_template(None).expect("a chat template");
    let prompt = model
        .apply_chat_template(&template, &messages, true)
        .expect("the template applies");
    let vocab = model.vocab();
    let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(4096))
        .with_n_batch(4096);
    let mut context = model.new_context(backend, params).expect("a context");
    let mut batch = LlamaBatch::new(tokens.len().max(1), 1);
    for (position, token) in tokens.iter().enumerate() {
        let last = position + 1 == tokens.len();
        batch
            .add(*token, position as i32, &[0], last)
            .expect("room in the batch");
    }
    context.decode(&mut batch).expect("the prompt decodes");
    let grammar = LlamaSampler::grammar(model, &case.grammar(), "root").expect("a grammar");
    let mut sampler = LlamaSampler::chain_simple([grammar, LlamaSampler::greedy()]);
    let mut reply = Vec::new();
    let mut last = batch.n_tokens() - 1;
    for position in tokens.len()..tokens.len() + limit {
        // `sample` also advances the grammar past the token.
        let token = sampler.sample(&context, last);
        if vocab.is_eog(token) {
            break;
        }
        reply.extend(vocab.token_to_piece(token, false, None));
        let mut next = LlamaBatch::new(1, 1);
        next.add(token, position as i32, &[0], true)
            .expect("room in the batch");
        context.decode(&mut next).expect("the token decodes");
        last = 0;
    }
    String::from_utf8(reply).expect("the grammar keeps the reply UTF-8")
}

#[test]
fn smollm2_decodes_replies_that_parse() {
    let Some((backend, model)) = model() else {
        return;
    };
    let question = json!({"question": "What is the capital of France?"});
    let runs = [
        (qa_case(), question.clone()),
        (
            case(
                "signatures/qa.sig",
                "QA",
                Module::Predict,
                AdapterKind::Json,
            ),
            question,
        ),
        (
            case(
                "signatures/ticket_triage.sig",
                "TriageTicket",
                Module::Predict,
                AdapterKind::Chat,
            ),
            json!({
                "subject": "Charged twice",
                "body": "I was billed two times for my order this month. Please refund one.",
            }),
        ),
    ];
    for (case, inputs) in runs {
        let reply = decode(backend, model, &case, inputs, 200);
        match case.parse(&reply) {
            Ok(parsed) => eprintln!("{}: {}", case.label, Value::Object(parsed.values)),
            Err(error) => panic!("{}: {error:?}\n--- reply:\n{reply}", case.label),
        }
    }
}

/// A GBNF grammar as llama.cpp reads it, for the subset of the format the grammars use.
struct Grammar {
    rules: HashMap<String, Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(Vec<char>),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Rule(String),
    Sequence(Vec<Node>),
    Choice(Vec<Node>),
    /// `max` is `None` for `*`, `+` and `{m,}`, which the grammars must never use.
    Repeat {
        item: Box<Node>,
        min: usize,
        max: Option<usize>,
    },
}

impl Grammar {
    fn parse(text: &str) -> Grammar {
        let mut rules = HashMap::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let (name, body) = line
                .split_once(" ::= ")
                .unwrap_or_else(|| panic!("not a rule: {line}"));
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "bad rule name {name:?}"
            );
            let mut reader = Reader {
                chars: body.chars().collect(),
                position: 0,
            };
            let node = reader.alternatives();
            assert_eq!(reader.position, reader.chars.len(), "unread text in {line}");
            assert!(
                rules.insert(name.to_owned(), node).is_none(),
                "rule {name} defined twice"
            );
        }
        let grammar = Grammar { rules };
        assert!(grammar.rules.contains_key("root"), "no root rule");
        for node in grammar.rules.values() {
            grammar.check_references(node);
        }
        grammar
    }

    fn check_references(&self, node: &Node) {
        match node {
            Node::Rule(name) => assert!(self.rules.contains_key(name), "undefined rule {name}"),
            Node::Sequence(items) | Node::Choice(items) => {
                items.iter().for_each(|item| self.check_references(item))
            }
            Node::Repeat { item, max, .. } => {
                assert!(max.is_some(), "an unbounded repetition");
                self.check_references(item);
            }
            Node::Text(_) | Node::Class { .. } => {}
        }
    }

    /// Whether the grammar allows exactly `text`.
    fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        self.ends(&self.rules["root"], &chars, 0)
            .contains(&chars.len())
    }

    /// Every position where `node` can end when it starts at `start`.
    fn ends(&self, node: &Node, text: &[char], start: usize) -> HashSet<usize> {
        match node {
            Node::Text(expected) => {
                let end = start + expected.len();
                if text.get(start..end) == Some(expected.as_slice()) {
                    HashSet::from([end])
                } else {
                    HashSet::new()
                }
            }
            Node::Class { negated, ranges } => match text.get(start) {
                Some(c) if in_class(*negated, ranges, *c) => HashSet::from([start + 1]),
                _ => HashSet::new(),
            },
            Node::Rule(name) => self.ends(&self.rules[name], text, start),
            Node::Sequence(items) => {
                let mut positions = HashSet::from([start]);
                for item in items {
                    positions = positions
                        .into_iter()
                        .flat_map(|position| self.ends(item, text, position))
                        .collect();
                }
                positions
            }
            Node::Choice(alternatives) => alternatives
                .iter()
                .flat_map(|alternative| self.ends(alternative, text, start))
                .collect(),
            Node::Repeat { item, min, max } => {
                let max = max.unwrap_or(usize::MAX);
                let mut result = HashSet::new();
                let mut positions = HashSet::from([start]);
                for count in 0..=max {
                    if count >= *min {
                        result.extend(positions.iter().copied());
                    }
                    if count == max || positions.is_empty() {
                        break;
                    }
                    positions = positions
                        .into_iter()
                        .flat_map(|position| self.ends(item, text, position))
                        .collect();
                }
                result
            }
        }
    }
}

fn in_class(negated: bool, ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(low, high)| (*low..=*high).contains(&c)) != negated
}

/// Reads one rule body, character by character, the way llama.cpp's `parse_sequence` does.
struct Reader {
    chars: Vec<char>,
    position: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.position).copied()
    }

    fn bump(&mut self) -> char {
        let c = self.peek().expect("more of the rule");
        self.position += 1;
        c
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.position += 1;
        }
    }

    fn alternatives(&mut self) -> Node {
        let mut alternatives = vec![self.sequence()];
        while self.peek() == Some('|') {
            self.bump();
            self.skip_spaces();
            alternatives.push(self.sequence());
        }
        if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Node::Choice(alternatives)
        }
    }

    fn sequence(&mut self) -> Node {
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            let atom = match self.peek() {
                None | Some('|') | Some(')') => break,
                Some('"') => {
                    self.bump();
                    let mut text = Vec::new();
                    while self.peek() != Some('"') {
                        text.push(self.character());
                    }
                    self.bump();
                    Node::Text(text)
                }
                Some('[') => {
                    self.bump();
                    let negated = self.peek() == Some('^');
                    if negated {
                        self.bump();
                    }
                    let mut ranges = Vec::new();
                    while self.peek() != Some(']') {
                        let low = self.character();
                        let high = if self.peek() == Some('-')
                            && self.chars.get(self.position + 1) != Some(&']')
                        {
                            self.bump();
                            self.character()
                        } else {
                            low
                        };
                        ranges.push((low, high));
                    }
                    self.bump();
                    Node::Class { negated, ranges }
                }
                Some('(') => {
                    self.bump();
                    self.skip_spaces();
                    let inner = self.alternatives();
                    assert_eq!(self.bump(), ')', "unclosed group");
                    inner
                }
                Some(c) if c.is_ascii_alphanumeric() || c == '-' => {
                    let mut name = String::new();
                    while let Some(c) = self
                        .peek()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    {
                        name.push(c);
                        self.bump();
                    }
                    Node::Rule(name)
                }
                Some(other) => panic!("unexpected {other:?} in a rule"),
            };
            let node = self.repetition(atom);
            items.push(node);
        }
        if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Sequence(items)
        }
    }

    fn repetition(&mut self, atom: Node) -> Node {
        let (min, max) = match self.peek() {
            Some('?') => (0, Some(1)),
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('{') => {
                self.bump();
                let min = self.number();
                let max = match self.bump() {
                    '}' => return self.repeated(atom, min, Some(min)),
                    ',' if self.peek() == Some('}') => None,
                    ',' => Some(self.number()),
                    other => panic!("unexpected {other:?} in a repetition"),
                };
                assert_eq!(self.bump(), '}', "unclosed repetition");
                return self.repeated(atom, min, max);
            }
            _ => return atom,
        };
        self.bump();
        self.repeated(atom, min, max)
    }

    fn repeated(&mut self, atom: Node, min: usize, max: Option<usize>) -> Node {
        // llama.cpp turns a bound above 2000 into no bound at all.
        let max = max.filter(|max| *max <= 2000);
        self.repetition(Node::Repeat {
            item: Box::new(atom),
            min,
            max,
        })
    }

    fn number(&mut self) -> usize {
        let mut digits = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            digits.push(c);
            self.bump();
        }
        digits.parse().expect("a number")
    }

    /// One character of a literal or class, with llama.cpp's escapes.
    fn character(&mut self) -> char {
        let c = self.bump();
        if c != '\\' {
            return c;
        }
        let hex = |reader: &mut Reader, digits: usize| {
            let text: String = (0..digits).map(|_| reader.bump()).collect();
            let code = u32::from_str_radix(&text, 16).expect("hex digits");
            char::from_u32(code).expect("a character")
        };
        match self.bump() {
            'x' => hex(self, 2),
            'u' => hex(self, 4),
            'U' => hex(self, 8),
            't' => '\t',
            'r' => '\r',
            'n' => '\n',
            c @ ('\\' | '"' | '[' | ']' | '-') => c,
            other => panic!("unknown escape \\{other}"),
        }
    }
}

/// Text that trips parsers, inserted where a repetition of single characters allows all of it.
const SNIPPETS: &[&str] = &[
    "[[ ## answer ## ]]",
    "[[ ## completed ## ]]",
    "[[",
    "]]",
    "## ",
    "```",
    "```json\n",
    "None",
    "null",
    "N/A",
    "-",
    "- a\n- b",
    "1. x\n2. y",
    "\n\n",
    "answer: ",
    "Confidence:",
    "True",
    "{\"a\": 1}",
    "[1, 2]",
    "\\\"",
    "\\\\",
    "«x»",
    "  ",
    "\t",
    "\u{a0}",
    "🦀",
    "東京",
    "0.5",
    "87%",
    "**bold**",
    "'",
    "//",
    "/*",
    "#",
];

/// Characters tried first for a negated class.
const POOL: &[char] = &[
    ' ', '\t', '\n', '\r', '\u{b}', '\u{0}', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}',
    '\u{feff}', '[', ']', '#', '"', '\\', '/', '{', '}', ':', ',', '-', '*', '`', '«', '»', 'é',
    'ß', '東', '🦀', 'a', 'Z', '0', '9', '.', '%', '_', '\'', 'N',
];

/// A pseudo-random walk through a grammar, writing the text it passes.
struct Walker<'g> {
    grammar: &'g Grammar,
    /// The characters to write where the grammar leaves a choice.
    writable: &'g dyn Fn(char) -> bool,
    rng: fastrand::Rng,
    out: String,
    shortest: HashMap<String, usize>,
    visiting: HashSet<String>,
}

impl<'g> Walker<'g> {
    /// Past this many bytes, every choice takes the shortest way out.
    const SOFT_LIMIT: usize = 20_000;

    fn new(grammar: &'g Grammar, seed: u64, writable: &'g dyn Fn(char) -> bool) -> Walker<'g> {
        Walker {
            grammar,
            writable,
            rng: fastrand::Rng::with_seed(seed),
            out: String::new(),
            shortest: HashMap::new(),
            visiting: HashSet::new(),
        }
    }

    fn reply(mut self) -> String {
        let grammar = self.grammar;
        self.walk(&grammar.rules["root"]);
        self.out
    }

    fn over(&self) -> bool {
        self.out.len() > Self::SOFT_LIMIT
    }

    /// The length of the shortest text of `node`; panics if a rule refers to itself.
    fn shortest(&mut self, node: &Node) -> usize {
        match node {
            Node::Text(text) => text.len(),
            Node::Class { .. } => 1,
            Node::Rule(name) => {
                if let Some(length) = self.shortest.get(name) {
                    return *length;
                }
                assert!(
                    self.visiting.insert(name.clone()),
                    "rule {name} refers to itself"
                );
                let grammar = self.grammar;
                let length = self.shortest(&grammar.rules[name]);
                self.visiting.remove(name);
                self.shortest.insert(name.clone(), length);
                length
            }
            Node::Sequence(items) => items.iter().map(|item| self.shortest(item)).sum(),
            Node::Choice(alternatives) => alternatives
                .iter()
                .map(|alternative| self.shortest(alternative))
                .min()
                .unwrap_or(0),
            Node::Repeat { item, min, .. } => min * self.shortest(item),
        }
    }

    fn walk(&mut self, node: &Node) {
        match node {
            Node::Text(text) => self.out.extend(text),
            Node::Class { negated, ranges } => {
                let c = self.pick(*negated, ranges);
                self.out.push(c);
            }
            Node::Rule(name) => {
                let grammar = self.grammar;
                self.walk(&grammar.rules[name]);
            }
            Node::Sequence(items) => items.iter().for_each(|item| self.walk(item)),
            Node::Choice(alternatives) => {
                let chosen = if self.over() {
                    let lengths: Vec<usize> = alternatives
                        .iter()
                        .map(|alternative| self.shortest(alternative))
                        .collect();
                    (0..alternatives.len())
                        .min_by_key(|index| lengths[*index])
                        .unwrap_or(0)
                } else {
                    self.rng.usize(..alternatives.len())
                };
                self.walk(&alternatives[chosen]);
            }
            Node::Repeat { item, min, max } => {
                let max = max.expect("bounded repetitions");
                let count = if self.over() {
                    *min
                } else {
                    match self.rng.u8(..4) {
                        0 => *min,
                        1 => max,
                        _ => self.rng.usize(*min..=max),
                    }
                };
                let mut done = 0;
                while done < count {
                    if !self.over() && self.rng.u8(..5) == 0 {
                        let snippet = SNIPPETS[self.rng.usize(..SNIPPETS.len())];
                        let length = snippet.chars().count();
                        let fits = snippet
                            .chars()
                            .all(|c| (self.writable)(c) && self.single(item, c));
                        if length <= count - done && fits {
                            self.out.push_str(snippet);
                            done += length;
                            continue;
                        }
                    }
                    self.walk(item);
                    done += 1;
                }
            }
        }
    }

    /// Whether `node` is one character, and `c` is one it allows.
    fn single(&self, node: &Node, c: char) -> bool {
        match node {
            Node::Text(text) => text.as_slice() == [c],
            Node::Class { negated, ranges } => in_class(*negated, ranges, c),
            Node::Rule(name) => self.single(&self.grammar.rules[name], c),
            Node::Choice(alternatives) => alternatives.iter().any(|a| self.single(a, c)),
            Node::Sequence(_) | Node::Repeat { .. } => false,
        }
    }

    fn pick(&mut self, negated: bool, ranges: &[(char, char)]) -> char {
        for _ in 0..1000 {
            let c = if !negated {
                let (low, high) = ranges[self.rng.usize(..ranges.len())];
                match char::from_u32(self.rng.u32(u32::from(low)..=u32::from(high))) {
                    Some(c) => c,
                    None => continue,
                }
            } else if self.rng.bool() {
                POOL[self.rng.usize(..POOL.len())]
            } else {
                let spans = [
                    (0x20, 0x7E),
                    (0xA0, 0x24F),
                    (0x4E00, 0x4EFF),
                    (0x1F600, 0x1F64F),
                ];
                let (low, high) = spans[self.rng.usize(..spans.len())];
                char::from_u32(self.rng.u32(low..=high)).unwrap_or('a')
            };
            if in_class(negated, ranges, c) && (self.writable)(c) {
                return c;
            }
        }
        panic!("no writable character found for {negated} {ranges:?}")
    }
}
