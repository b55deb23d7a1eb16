//! A bounded reader for Universal Binary JSON, the format of XGBoost's `.ubj` models, that
//! deserializes straight into serde types (the [`schema`](super::schema) mirror).
//!
//! XGBoost writes draft-12 UBJSON: big-endian numbers, keys as length-prefixed strings without
//! a marker, and "optimized" containers (`[$d#L<count>` followed by raw `f32`s) for its large
//! arrays. The reader accepts every value of that draft (except the arbitrary-precision `H`
//! number, which it reads as a string) and holds these promises for any input:
//!
//! - it never allocates on a length prefix: a container's count must fit in the bytes that
//!   remain, so a `#L` of 2^60 is an error, not an allocation;
//! - containers nest at most [`MAX_DEPTH`] deep;
//! - it never panics, and its work is linear in the input's length.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, SeqAccess, Visitor};

/// The deepest nesting of arrays and objects accepted (XGBoost models nest about 8 deep).
pub(crate) const MAX_DEPTH: usize = 128;

/// A UBJSON document that cannot be read into the requested type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    /// The byte offset at which the problem was found, when known.
    pub(crate) offset: Option<usize>,
    /// What is wrong.
    pub(crate) message: String,
}

impl Error {
    fn at(offset: usize, message: impl Into<String>) -> Self {
        Error {
            offset: Some(offset),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(offset) => write!(f, "{} (at byte offset {offset})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        // The offset is filled in by `from_slice`, which knows where reading stopped.
        Error {
            offset: None,
            message: msg.to_string(),
        }
    }
}

/// Deserializes a `T` from a whole UBJSON document; bytes after the first value are an error.
pub(crate) fn from_slice<'de, T: de::Deserialize<'de>>(input: &'de [u8]) -> Result<T, Error> {
    let mut reader = Reader {
        input,
        pos: 0,
        depth: 0,
    };
    let result = reader
        .read_marker()
        .and_then(|marker| T::deserialize(Value::new(&mut reader, marker)));
    let value = result.map_err(|mut e| {
        e.offset.get_or_insert(reader.pos);
        e
    })?;
    if reader.pos != input.len() {
        return Err(Error::at(
            reader.pos,
            "unexpected bytes after the end of the document",
        ));
    }
    Ok(value)
}

/// The cursor over the input.
struct Reader<'de> {
    input: &'de [u8],
    pos: usize,
    depth: usize,
}

/// The number of bytes a value of type `marker` takes after its marker, when fixed.
fn fixed_size(marker: u8) -> Option<usize> {
    match marker {
        b'Z' | b'T' | b'F' => Some(0),
        b'i' | b'U' | b'C' => Some(1),
        b'I' => Some(2),
        b'l' | b'd' => Some(4),
        b'L' | b'D' => Some(8),
        _ => None,
    }
}

impl<'de> Reader<'de> {
    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'de [u8], Error> {
        if n > self.remaining() {
            return Err(Error::at(
                self.pos,
                format!(
                    "the document is truncated: {n} bytes needed, {} left",
                    self.remaining()
                ),
            ));
        }
        let bytes = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// The next type marker, skipping `N` (no-op) markers.
    fn read_marker(&mut self) -> Result<u8, Error> {
        loop {
            let [marker] = self.take_array()?;
            if marker != b'N' {
                return Ok(marker);
            }
        }
    }

    /// The next type marker without consuming it, skipping `N` markers.
    fn peek_marker(&mut self) -> Result<u8, Error> {
        while self.input.get(self.pos) == Some(&b'N') {
            self.pos += 1;
        }
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| Error::at(self.pos, "the document is truncated: a value is missing"))
    }

    /// An integer of type `marker`, as `i64`.
    fn read_int(&mut self, marker: u8) -> Result<i64, Error> {
        Ok(match marker {
            b'i' => i64::from(i8::from_be_bytes(self.take_array()?)),
            b'U' => i64::from(u8::from_be_bytes(self.take_array()?)),
            b'I' => i64::from(i16::from_be_bytes(self.take_array()?)),
            b'l' => i64::from(i32::from_be_bytes(self.take_array()?)),
            b'L' => i64::from_be_bytes(self.take_array()?),
            other => {
                return Err(Error::at(
                    self.pos.saturating_sub(1),
                    format!(
                        "expected an integer length marker (i, U, I, l or L), found {}",
                        describe(other)
                    ),
                ));
            }
        })
    }

    /// A length: an integer with its own marker, non-negative.
    fn read_length(&mut self) -> Result<usize, Error> {
        let start = self.pos;
        let marker = self.read_marker()?;
        let len = self.read_int(marker)?;
        usize::try_from(len).map_err(|_| Error::at(start, format!("negative length {len}")))
    }

    /// A length-prefixed UTF-8 string (after its `S` marker, or an object key).
    fn read_str(&mut self) -> Result<&'de str, Error> {
        let len = self.read_length()?;
        let start = self.pos;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|e| Error::at(start, format!("invalid UTF-8: {e}")))
    }

    /// The optional `$type` and `#count` after `[` or `{`, with the count checked against the
    /// bytes that remain so that nothing is ever allocated for a count the input cannot hold.
    fn read_container_header(&mut self) -> Result<(Option<u8>, Option<usize>), Error> {
        let mut element = None;
        if self.input.get(self.pos) == Some(&b'$') {
            self.pos += 1;
            let [marker] = self.take_array()?;
            if matches!(marker, b'N' | b']' | b'}' | b'$' | b'#') {
                return Err(Error::at(
                    self.pos - 1,
                    format!("{} is not a valid container element type", describe(marker)),
                ));
            }
            element = Some(marker);
            if self.input.get(self.pos) != Some(&b'#') {
                return Err(Error::at(
                    self.pos,
                    "a typed container (`$`) must give its count (`#`)",
                ));
            }
        }
        if self.input.get(self.pos) != Some(&b'#') {
            return Ok((element, None));
        }
        self.pos += 1;
        let at = self.pos;
        let count = self.read_length()?;
        // Every element takes at least one byte, except typed elements of zero width (null,
        // true, false), whose count is still bounded by the input so the work stays linear.
        let width = element.and_then(fixed_size).unwrap_or(1).max(1);
        if count
            .checked_mul(width)
            .is_none_or(|n| n > self.remaining())
        {
            return Err(Error::at(
                at,
                format!(
                    "a container claims {count} elements but only {} bytes remain",
                    self.remaining()
                ),
            ));
        }
        Ok((element, Some(count)))
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::at(
                self.pos,
                format!("containers nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }
}

fn describe(marker: u8) -> String {
    if marker.is_ascii_graphic() {
        format!("`{}`", marker as char)
    } else {
        format!("byte 0x{marker:02x}")
    }
}

/// One value whose marker has been read: the serde deserializer.
struct Value<'a, 'de> {
    reader: &'a mut Reader<'de>,
    marker: u8,
}

impl<'a, 'de> Value<'a, 'de> {
    fn new(reader: &'a mut Reader<'de>, marker: u8) -> Self {
        Value { reader, marker }
    }
}

impl<'de> de::Deserializer<'de> for Value<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let reader = self.reader;
        match self.marker {
            b'Z' => visitor.visit_unit(),
            b'T' => visitor.visit_bool(true),
            b'F' => visitor.visit_bool(false),
            b'i' => visitor.visit_i8(i8::from_be_bytes(reader.take_array()?)),
            b'U' => visitor.visit_u8(u8::from_be_bytes(reader.take_array()?)),
            b'I' => visitor.visit_i16(i16::from_be_bytes(reader.take_array()?)),
            b'l' => visitor.visit_i32(i32::from_be_bytes(reader.take_array()?)),
            b'L' => visitor.visit_i64(i64::from_be_bytes(reader.take_array()?)),
            b'd' => visitor.visit_f32(f32::from_be_bytes(reader.take_array()?)),
            b'D' => visitor.visit_f64(f64::from_be_bytes(reader.take_array()?)),
            b'C' => {
                let at = reader.pos;
                let [c] = reader.take_array()?;
                if !c.is_ascii() {
                    return Err(Error::at(at, "a `C` char must be ASCII"));
                }
                visitor.visit_char(char::from(c))
            }
            // `H` is a number written as a string; XGBoost never writes it.
            b'S' | b'H' => visitor.visit_borrowed_str(reader.read_str()?),
            b'[' => {
                let (element, count) = reader.read_container_header()?;
                reader.enter()?;
                let mut access = Seq {
                    reader: &mut *reader,
                    element,
                    count,
                    done: false,
                };
                let value = visitor.visit_seq(&mut access)?;
                if !access.done && access.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(Error::at(
                        reader.pos,
                        "the array has more elements than expected",
                    ));
                }
                reader.depth -= 1;
                Ok(value)
            }
            b'{' => {
                let (element, count) = reader.read_container_header()?;
                reader.enter()?;
                let mut access = Map {
                    reader: &mut *reader,
                    element,
                    count,
                    done: false,
                };
                let value = visitor.visit_map(&mut access)?;
                if !access.done {
                    return Err(Error::at(
                        reader.pos,
                        "the object has more entries than expected",
                    ));
                }
                reader.depth -= 1;
                Ok(value)
            }
            other => Err(Error::at(
                reader.pos.saturating_sub(1),
                format!("{} is not a UBJSON value marker", describe(other)),
            )),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.marker == b'Z' {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The elements of an array.
struct Seq<'a, 'de> {
    reader: &'a mut Reader<'de>,
    /// The type of every element, for typed (`$`) arrays.
    element: Option<u8>,
    /// The elements left, for counted (`#`) arrays.
    count: Option<usize>,
    done: bool,
}

impl<'de> SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.done {
            return Ok(None);
        }
        let marker = match (self.count.as_mut(), self.element) {
            (Some(0), _) => {
                self.done = true;
                return Ok(None);
            }
            (Some(n), Some(element)) => {
                *n -= 1;
                element
            }
            (Some(n), None) => {
                *n -= 1;
                self.reader.read_marker()?
            }
            (None, _) => {
                if self.reader.peek_marker()? == b']' {
                    self.reader.pos += 1;
                    self.done = true;
                    return Ok(None);
                }
                self.reader.read_marker()?
            }
        };
        seed.deserialize(Value::new(self.reader, marker)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.count
    }
}

/// The entries of an object.
struct Map<'a, 'de> {
    reader: &'a mut Reader<'de>,
    element: Option<u8>,
    count: Option<usize>,
    done: bool,
}

impl<'de> de::MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.done {
            return Ok(None);
        }
        match self.count.as_mut() {
            Some(0) => {
                self.done = true;
                return Ok(None);
            }
            Some(n) => *n -= 1,
            None => {
                if self.reader.peek_marker()? == b'}' {
                    self.reader.pos += 1;
                    self.done = true;
                    return Ok(None);
                }
            }
        }
        let key = self.reader.read_str()?;
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let marker = match self.element {
            Some(element) => element,
            None => self.reader.read_marker()?,
        };
        seed.deserialize(Value::new(self.reader, marker))
    }

    fn size_hint(&self) -> Option<usize> {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    fn key(k: &str) -> Vec<u8> {
        let mut out = vec![b'U', k.len() as u8];
        out.extend_from_slice(k.as_bytes());
        out
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        name: String,
        values: Vec<f32>,
        counts: Vec<i64>,
        flag: bool,
        missing: Option<u8>,
    }

    fn doc_bytes() -> Vec<u8> {
        let mut b = vec![b'{'];
        b.extend(key("name"));
        b.extend(b"SU\x03abc");
        b.extend(key("values"));
        b.extend(b"[$d#U\x02");
        b.extend(1.5f32.to_be_bytes());
        b.extend(f32::NAN.to_be_bytes());
        b.extend(key("counts"));
        b.extend(b"[i\x01NU\xffI\x01\x00l\xff\xff\xff\xffL");
        b.extend(7i64.to_be_bytes());
        b.push(b']');
        b.extend(key("flag"));
        b.push(b'T');
        b.extend(key("missing"));
        b.push(b'Z');
        b.extend(key("ignored"));
        b.extend(b"{U\x01a[#U\x02ZD");
        b.extend(2.0f64.to_be_bytes());
        b.push(b'}');
        b.push(b'}');
        b
    }

    #[test]
    fn reads_every_container_form_and_number_type() {
        let doc: Doc = from_slice(&doc_bytes()).unwrap();
        assert_eq!(doc.name, "abc");
        assert_eq!(doc.values[0], 1.5);
        assert!(doc.values[1].is_nan());
        assert_eq!(doc.counts, [1, 255, 256, -1, 7]);
        assert!(doc.flag);
        assert_eq!(doc.missing, None);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = doc_bytes();
        for len in 0..bytes.len() {
            assert!(from_slice::<Doc>(&bytes[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn huge_counts_are_rejected_before_allocating() {
        let mut b = b"[$d#L".to_vec();
        b.extend((1i64 << 60).to_be_bytes());
        b.extend([0; 16]);
        let err = from_slice::<Vec<f32>>(&b).unwrap_err();
        assert!(err.message.contains("claims"), "{err}");
        let mut b = b"[$Z#L".to_vec();
        b.extend(i64::MAX.to_be_bytes());
        assert!(from_slice::<Vec<()>>(&b).is_err());
        let b = b"[#l\xff\xff\xff\xff";
        assert!(
            from_slice::<Vec<u8>>(b)
                .unwrap_err()
                .message
                .contains("negative")
        );
    }

    #[test]
    fn nesting_is_limited() {
        let deep = [vec![b'['; MAX_DEPTH + 1], vec![b']'; MAX_DEPTH + 1]].concat();
        let err = from_slice::<de::IgnoredAny>(&deep).unwrap_err();
        assert!(err.message.contains("nest"), "{err}");
        let ok = [vec![b'['; MAX_DEPTH], vec![b']'; MAX_DEPTH]].concat();
        assert!(from_slice::<de::IgnoredAny>(&ok).is_ok());
    }

    #[test]
    fn trailing_bytes_and_bad_markers_are_errors() {
        assert!(from_slice::<u8>(b"U\x01U").is_err());
        assert!(from_slice::<u8>(b"X").is_err());
        let err = from_slice::<BTreeMap<String, u8>>(b"{U\x01aS").unwrap_err();
        assert!(err.offset.is_some());
    }

    #[test]
    fn a_tuple_that_stops_early_is_an_error() {
        assert!(from_slice::<(u8, u8)>(b"[#U\x03U\x01U\x02U\x03").is_err());
        assert_eq!(from_slice::<(u8, u8)>(b"[U\x01U\x02]").unwrap(), (1, 2));
    }
}
