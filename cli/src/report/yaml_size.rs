//! Whether a YAML stream stays within a size once its aliases are followed.
//!
//! An alias repeats the whole node its anchor names, so a file of 50 KB can stand for 10⁸
//! nodes (`a: &a [x, …]`, then `b: [*a, *a, …]`); serde_yaml_ng's guard counts the aliases
//! followed, not what each repeats. Building a `Value` of such a file would take every byte of
//! memory; this walk builds nothing and stops at the first node past the bound, so its own cost
//! is bounded by the bound.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

/// What a YAML stream may come to, every document together, with its aliases followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Nodes: scalars, sequences, mappings.
    pub nodes: u64,
    /// Bytes of the scalars' text.
    pub text_bytes: u64,
}

/// `Ok(true)` when every document of `yaml` fits in `max`, `Ok(false)` at the first node past
/// it, `Err` for YAML that does not parse (or repeats past serde_yaml_ng's own limit).
pub fn fits(yaml: &str, max: Size) -> Result<bool, serde_yaml_ng::Error> {
    let left = Left { nodes: Cell::new(max.nodes), text_bytes: Cell::new(max.text_bytes), over: Cell::new(false) };
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        match Walk(&left).deserialize(document) {
            Ok(()) => {}
            Err(_) if left.over.get() => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

struct Left {
    nodes: Cell<u64>,
    text_bytes: Cell<u64>,
    over: Cell<bool>,
}

/// One node and everything under it, counted against [`Left`].
#[derive(Clone, Copy)]
struct Walk<'a>(&'a Left);

impl Walk<'_> {
    fn spend<E: de::Error>(self, text_bytes: usize) -> Result<(), E> {
        let left = self.0;
        let bytes = u64::try_from(text_bytes).unwrap_or(u64::MAX);
        match (left.nodes.get().checked_sub(1), left.text_bytes.get().checked_sub(bytes)) {
            (Some(nodes), Some(text)) => {
                left.nodes.set(nodes);
                left.text_bytes.set(text);
                Ok(())
            }
            _ => {
                left.over.set(true);
                Err(E::custom("past the size bound"))
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.spend(v.len())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend(0)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend(0)?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    /// A tagged node (`!Ref x`): its tag and its value.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let ((), variant) = data.variant_seed(self)?;
        variant.newtype_variant_seed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Size = Size { nodes: 1_000, text_bytes: 1_000 };

    #[test]
    fn a_stream_is_counted_node_by_node_and_byte_by_byte_across_its_documents() {
        // 2 mappings, 4 keys, 4 values (a sequence of 2; a tagged node, its tag `Ref` and `x`):
        // 13 nodes; kind Pod spec ab c name Ref x n: 23 bytes.
        let yaml = "kind: Pod\nspec: [ab, c]\n---\nname: !Ref x\nn: 1\n";
        let exact = Size { nodes: 13, text_bytes: 23 };
        assert_eq!(fits(yaml, exact).map_err(|e| e.to_string()), Ok(true));
        assert_eq!(fits(yaml, Size { nodes: 12, ..exact }).map_err(|e| e.to_string()), Ok(false));
        assert_eq!(fits(yaml, Size { text_bytes: 22, ..exact }).map_err(|e| e.to_string()), Ok(false));
    }

    /// 100 aliases of a sequence of 100 is 10,000 nodes from a file of under 1 KB: refused at the
    /// bound, having walked no more than the bound.
    #[test]
    fn aliases_count_for_everything_they_repeat() {
        let yaml = format!("a: &a [{}]\nb: [{}]\n", vec!["x"; 100].join(","), vec!["*a"; 100].join(","));
        assert!(yaml.len() < 1_000);
        assert_eq!(fits(&yaml, Size { nodes: 10_205, text_bytes: 10_102 }).map_err(|e| e.to_string()), Ok(true));
        assert_eq!(fits(&yaml, ROOMY).map_err(|e| e.to_string()), Ok(false));
    }

    #[test]
    fn yaml_that_does_not_parse_is_an_error_not_a_size() {
        assert!(fits("kind: [unclosed", ROOMY).is_err());
    }
}
