//! What a type constrains beyond its shape (lengths, numeric bounds, patterns), read from the
//! model in one place so that every target encodes or words the same facts. Targets keep their
//! own syntax and wording; nothing here writes code.

use std::fmt;

use crate::schema::Type;

/// The constraints a type declares itself, without those of the types nested in it. Only what
/// is declared is present: a `string` without bounds has no [`Length`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Constraints<'a> {
    /// Of a string, a list or a map.
    pub(crate) length: Option<Length>,
    /// Of an integer, a float or a probability.
    pub(crate) bounds: Option<Bounds>,
    /// Of a string.
    pub(crate) pattern: Option<&'a str>,
}

impl Constraints<'_> {
    /// Whether the type declares no constraint at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.length.is_none() && self.bounds.is_none() && self.pattern.is_none()
    }
}

/// Inclusive bounds on how long a value is, at least one of them set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Length {
    pub(crate) min: Option<u64>,
    pub(crate) max: Option<u64>,
    /// What the length counts.
    pub(crate) unit: Unit,
}

impl Length {
    fn new(min: Option<u64>, max: Option<u64>, unit: Unit) -> Option<Length> {
        (min.is_some() || max.is_some()).then_some(Length { min, max, unit })
    }
}

/// What a [`Length`] counts: a string's characters, a list's items or a map's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Character,
    Item,
    Entry,
}

impl Unit {
    /// `character`, `item`, `entry`.
    pub(crate) fn singular(self) -> &'static str {
        match self {
            Unit::Character => "character",
            Unit::Item => "item",
            Unit::Entry => "entry",
        }
    }

    /// `characters`, `items`, `entries`.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Unit::Character => "characters",
            Unit::Item => "items",
            Unit::Entry => "entries",
        }
    }

    /// The noun that goes after `count`: `1 item`, `2 items`.
    pub(crate) fn counted(self, count: u64) -> &'static str {
        if count == 1 {
            self.singular()
        } else {
            self.plural()
        }
    }
}

/// Inclusive bounds on a number, at least one of them set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    pub(crate) min: Option<Number>,
    pub(crate) max: Option<Number>,
    /// Whether the number is a probability; then both bounds are set, within `[0, 1]`.
    pub(crate) probability: bool,
}

/// A numeric bound as declared: an integer's bounds stay integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Integer(i64),
    Float(f64),
}

/// Rust's own formatting of the number (`5`, `-1.5`, `1` for `1.0`).
impl fmt::Display for Number {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Integer(value) => value.fmt(formatter),
            Number::Float(value) => value.fmt(formatter),
        }
    }
}

/// The constraints `ty` declares itself. `T?` declares none: its constraints are those of `T`.
pub(crate) fn of(ty: &Type) -> Constraints<'_> {
    let integers = |min: Option<i64>, max: Option<i64>| Bounds {
        min: min.map(Number::Integer),
        max: max.map(Number::Integer),
        probability: false,
    };
    let floats = |min: Option<f64>, max: Option<f64>, probability| Bounds {
        min: min.map(Number::Float),
        max: max.map(Number::Float),
        probability,
    };
    match ty {
        Type::String {
            min_length,
            max_length,
            pattern,
        } => Constraints {
            length: Length::new(*min_length, *max_length, Unit::Character),
            pattern: pattern.as_deref(),
            ..Constraints::default()
        },
        Type::Integer { min, max } => Constraints {
            bounds: (min.is_some() || max.is_some()).then(|| integers(*min, *max)),
            ..Constraints::default()
        },
        Type::Float { min, max } => Constraints {
            bounds: (min.is_some() || max.is_some()).then(|| floats(*min, *max, false)),
            ..Constraints::default()
        },
        Type::Probability { min, max } => {
            let (minimum, maximum) = probability_bounds(*min, *max);
            Constraints {
                bounds: Some(floats(Some(minimum), Some(maximum), true)),
                ..Constraints::default()
            }
        }
        Type::List {
            min_items,
            max_items,
            ..
        } => Constraints {
            length: Length::new(*min_items, *max_items, Unit::Item),
            ..Constraints::default()
        },
        Type::Map {
            min_entries,
            max_entries,
            ..
        } => Constraints {
            length: Length::new(*min_entries, *max_entries, Unit::Entry),
            ..Constraints::default()
        },
        Type::ReasoningChain
        | Type::Boolean
        | Type::Json
        | Type::Optional(_)
        | Type::Literals(_)
        | Type::Record(_)
        | Type::Enum(_) => Constraints::default(),
    }
}

/// The bounds of a probability: `[0, 1]`, narrowed by its own `min`/`max`.
fn probability_bounds(min: Option<f64>, max: Option<f64>) -> (f64, f64) {
    let minimum = min.map_or(0.0, |min| min.max(0.0));
    let maximum = max.map_or(1.0, |max| max.min(1.0));
    (minimum, maximum)
}

/// Where a nested type sits in the type that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// The items of a list.
    ListItems,
    /// The values of a map.
    MapValues,
}

/// The constraints at one nesting level of a field's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Level<'a> {
    /// The containers that lead from the field's type to this level, outermost first; empty
    /// for the field's type itself.
    pub(crate) path: Vec<Container>,
    pub(crate) constraints: Constraints<'a>,
}

/// Every nesting level of `ty` (the type, its list items or map values, theirs, ...) that
/// declares constraints, outermost first. `?` adds no level: `list[string(max: 5)?]` still
/// constrains its items.
pub(crate) fn levels(ty: &Type) -> Vec<Level<'_>> {
    let mut levels = Vec::new();
    let mut path = Vec::new();
    let mut ty = ty;
    loop {
        while let Type::Optional(inner) = ty {
            ty = inner;
        }
        let constraints = of(ty);
        if !constraints.is_empty() {
            levels.push(Level {
                path: path.clone(),
                constraints,
            });
        }
        let (container, nested) = match ty {
            Type::List { item, .. } => (Container::ListItems, item),
            Type::Map { value, .. } => (Container::MapValues, value),
            _ => return levels,
        };
        path.push(container);
        ty = nested;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_constraints_are_present() {
        assert!(of(&Type::string()).is_empty());
        assert!(of(&Type::integer()).is_empty());
        assert!(of(&Type::list(Type::Boolean)).is_empty());
        let code = Type::String {
            min_length: None,
            max_length: Some(3),
            pattern: Some("^[A-Z]+$".into()),
        };
        assert_eq!(
            of(&code),
            Constraints {
                length: Some(Length {
                    min: None,
                    max: Some(3),
                    unit: Unit::Character,
                }),
                bounds: None,
                pattern: Some("^[A-Z]+$"),
            }
        );
        assert_eq!(
            of(&Type::integer_range(Some(1), None)).bounds,
            Some(Bounds {
                min: Some(Number::Integer(1)),
                max: None,
                probability: false,
            })
        );
        // `T?` declares nothing itself: its constraints are those of `T`.
        assert!(of(&Type::optional(code)).is_empty());
    }

    #[test]
    fn a_probability_always_has_both_bounds() {
        let bounds = of(&Type::probability()).bounds;
        assert_eq!(
            bounds,
            Some(Bounds {
                min: Some(Number::Float(0.0)),
                max: Some(Number::Float(1.0)),
                probability: true,
            })
        );
    }

    #[test]
    fn probability_bounds_are_narrowed_by_its_constraints() {
        assert_eq!(probability_bounds(Some(0.5), None), (0.5, 1.0));
        assert_eq!(probability_bounds(None, Some(0.9)), (0.0, 0.9));
        assert_eq!(probability_bounds(Some(-3.0), Some(7.0)), (0.0, 1.0));
    }

    #[test]
    fn levels_follow_list_items_and_map_values_through_optionals() {
        let ty = Type::optional(Type::List {
            item: Box::new(Type::optional(Type::map(Type::float_range(
                Some(0.5),
                None,
            )))),
            min_items: Some(1),
            max_items: None,
        });
        let levels = levels(&ty);
        let paths: Vec<&[Container]> = levels.iter().map(|level| level.path.as_slice()).collect();
        assert_eq!(
            paths,
            [&[][..], &[Container::ListItems, Container::MapValues][..]]
        );
        assert_eq!(
            levels[1].constraints.bounds.map(|b| b.min),
            Some(Some(Number::Float(0.5)))
        );
    }

    #[test]
    fn numbers_print_as_rust_prints_them() {
        assert_eq!(Number::Integer(-3).to_string(), "-3");
        assert_eq!(Number::Float(1.0).to_string(), "1");
        assert_eq!(Number::Float(0.25).to_string(), "0.25");
        assert_eq!(Unit::Entry.counted(1), "entry");
        assert_eq!(Unit::Entry.counted(2), "entries");
    }
}
