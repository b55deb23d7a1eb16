//! A bounds-checked reader of FlatBuffers documents, as far as CatBoost's schema needs it.
//!
//! FlatBuffers stores a table as a signed offset to its vtable followed by its fields; the
//! vtable gives each field's position by field id (the order of declaration in the `.fbs`
//! schema), or 0 when the field was not written and takes its default. Strings, vectors and
//! sub-tables are reached through unsigned offsets relative to where the offset is stored.
//!
//! Every read checks its bounds against the buffer, so a hostile file can make a read fail but
//! never read outside the buffer; a vector's length is checked against the bytes that hold it
//! before anything is allocated, so no length field can make Verdict allocate more than the
//! file's own size.

use std::fmt;

/// Why a read failed, and where: `offset` counts from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ReadError {
    /// The byte offset in the file.
    pub offset: usize,
    /// What was expected there.
    pub expected: &'static str,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} expected at byte {}, past the end of the FlatBuffers document or invalid",
            self.expected, self.offset
        )
    }
}

type Result<T> = std::result::Result<T, ReadError>;

/// A little-endian scalar stored in a table field or a vector.
pub(super) trait Scalar: Copy {
    /// Its size in bytes.
    const SIZE: usize;
    /// Reads it from exactly [`SIZE`](Self::SIZE) bytes.
    fn from_le(bytes: &[u8]) -> Self;
}

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_le(bytes: &[u8]) -> Self {
                let mut array = [0; std::mem::size_of::<$t>()];
                array.copy_from_slice(bytes);
                <$t>::from_le_bytes(array)
            }
        }
    )*};
}

scalar!(u8, i8, u16, i32, u32, f32, f64);

/// A FlatBuffers document: the bytes, and where they start in the file (for messages).
#[derive(Clone, Copy)]
struct Document<'a> {
    bytes: &'a [u8],
    base: usize,
}

impl<'a> Document<'a> {
    fn slice(&self, at: usize, len: usize, expected: &'static str) -> Result<&'a [u8]> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or(ReadError {
                offset: self.base + at,
                expected,
            })
    }

    fn read<T: Scalar>(&self, at: usize, expected: &'static str) -> Result<T> {
        self.slice(at, T::SIZE, expected).map(T::from_le)
    }

    /// Follows the unsigned offset stored at `at`.
    fn follow(&self, at: usize, expected: &'static str) -> Result<usize> {
        let offset: u32 = self.read(at, expected)?;
        at.checked_add(offset as usize)
            .filter(|&target| target < self.bytes.len())
            .ok_or(ReadError {
                offset: self.base + at,
                expected,
            })
    }

    fn table(&self, at: usize) -> Result<Table<'a>> {
        const EXPECTED: &str = "a table";
        let soffset: i32 = self.read(at, EXPECTED)?;
        let vtable = (at as i64 - i64::from(soffset))
            .try_into()
            .map_err(|_| ReadError {
                offset: self.base + at,
                expected: "a vtable offset",
            })?;
        let vtable_len: u16 = self.read(vtable, "a vtable")?;
        // The vtable's own length, the table's length, then one u16 per field.
        self.slice(vtable, usize::from(vtable_len), "a vtable")?;
        Ok(Table {
            document: *self,
            at,
            vtable,
            fields: usize::from(vtable_len).saturating_sub(4) / 2,
        })
    }

    /// The vector whose offset is stored at `at`: where its elements start, and how many.
    fn vector(&self, at: usize, element: usize, expected: &'static str) -> Result<(usize, usize)> {
        let start = self.follow(at, expected)?;
        let len: u32 = self.read(start, expected)?;
        let len = len as usize;
        // A length the buffer cannot hold is reported where the length is stored.
        let at_length = ReadError {
            offset: self.base + start,
            expected,
        };
        let bytes = len.checked_mul(element).ok_or(at_length.clone())?;
        self.slice(start + 4, bytes, expected)
            .map_err(|_| at_length)?;
        Ok((start + 4, len))
    }

    fn string(&self, at: usize) -> Result<&'a str> {
        const EXPECTED: &str = "a UTF-8 string";
        let (start, len) = self.vector(at, 1, EXPECTED)?;
        let bytes = self.slice(start, len, EXPECTED)?;
        std::str::from_utf8(bytes).map_err(|e| ReadError {
            offset: self.base + start + e.valid_up_to(),
            expected: EXPECTED,
        })
    }
}

/// One table of a document, read field by field.
#[derive(Clone, Copy)]
pub(super) struct Table<'a> {
    document: Document<'a>,
    at: usize,
    vtable: usize,
    fields: usize,
}

impl<'a> Table<'a> {
    /// The root table of the document in `bytes`, which start at byte `base` of the file.
    pub(super) fn root(bytes: &'a [u8], base: usize) -> Result<Table<'a>> {
        let document = Document { bytes, base };
        let root = document.follow(0, "the root table offset")?;
        document.table(root)
    }

    /// Where field `id` is stored, or `None` when it was not written.
    fn field(&self, id: usize) -> Result<Option<usize>> {
        if id >= self.fields {
            return Ok(None);
        }
        let offset: u16 = self
            .document
            .read(self.vtable + 4 + 2 * id, "a vtable entry")?;
        Ok((offset != 0).then(|| self.at + usize::from(offset)))
    }

    /// Scalar field `id`, or `default` when it was not written.
    pub(super) fn scalar<T: Scalar>(&self, id: usize, default: T) -> Result<T> {
        match self.field(id)? {
            Some(at) => self.document.read(at, "a scalar field"),
            None => Ok(default),
        }
    }

    /// String field `id`, if written.
    pub(super) fn string(&self, id: usize) -> Result<Option<&'a str>> {
        self.field(id)?
            .map(|at| self.document.string(at))
            .transpose()
    }

    /// Table field `id`, if written.
    pub(super) fn table(&self, id: usize) -> Result<Option<Table<'a>>> {
        self.field(id)?
            .map(|at| {
                let target = self.document.follow(at, "a table offset")?;
                self.document.table(target)
            })
            .transpose()
    }

    /// Vector-of-scalars field `id`; empty when not written.
    pub(super) fn scalars<T: Scalar>(&self, id: usize) -> Result<Vec<T>> {
        let Some(at) = self.field(id)? else {
            return Ok(Vec::new());
        };
        let (start, len) = self.document.vector(at, T::SIZE, "a vector of scalars")?;
        let bytes = self.document.slice(start, len * T::SIZE, "a vector")?;
        Ok(bytes.chunks_exact(T::SIZE).map(T::from_le).collect())
    }

    /// Vector-of-structs field `id`, each struct `size` bytes; empty when not written.
    pub(super) fn structs(&self, id: usize, size: usize) -> Result<Vec<&'a [u8]>> {
        let Some(at) = self.field(id)? else {
            return Ok(Vec::new());
        };
        let (start, len) = self.document.vector(at, size, "a vector of structs")?;
        let bytes = self.document.slice(start, len * size, "a vector")?;
        Ok(bytes.chunks_exact(size).collect())
    }

    /// Vector-of-tables field `id`; empty when not written.
    pub(super) fn tables(&self, id: usize) -> Result<Vec<Table<'a>>> {
        self.offsets(id, "a vector of tables")?
            .map(|at| {
                let target = self.document.follow(at, "a table offset")?;
                self.document.table(target)
            })
            .collect()
    }

    /// Vector-of-strings field `id`; empty when not written.
    pub(super) fn strings(&self, id: usize) -> Result<Vec<&'a str>> {
        self.offsets(id, "a vector of strings")?
            .map(|at| self.document.string(at))
            .collect()
    }

    /// Where each offset of a vector of offsets is stored.
    fn offsets(
        &self,
        id: usize,
        expected: &'static str,
    ) -> Result<impl Iterator<Item = usize> + use<>> {
        let (start, len) = match self.field(id)? {
            Some(at) => self.document.vector(at, 4, expected)?,
            None => (0, 0),
        };
        Ok((0..len).map(move |i| start + 4 * i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-assembled document: a root table with a scalar (field 0), a string (field 1)
    /// and a vector of `i32` (field 3), field 2 left out.
    fn build() -> Vec<u8> {
        // Layout: [root offset][vtable][table][string][vector]
        let mut b = Vec::new();
        b.extend(16u32.to_le_bytes()); // 0: root -> table at 16
        // 4: vtable: len 12, table len 16, field offsets 4, 8, 0, 12
        for v in [12u16, 16, 4, 8, 0, 12] {
            b.extend(v.to_le_bytes());
        }
        // 16: table: soffset to vtable (16 - 4 = 12), then fields
        b.extend(12i32.to_le_bytes());
        b.extend(7i32.to_le_bytes()); // 20: field 0
        b.extend(12u32.to_le_bytes()); // 24: field 1 -> 36
        b.extend(16u32.to_le_bytes()); // 28: field 3 -> 44
        b.extend([0u8; 4]); // 32: padding
        b.extend(3u32.to_le_bytes()); // 36: string length
        b.extend(b"abc\0"); // 40
        b.extend(2u32.to_le_bytes()); // 44: vector length
        b.extend(5i32.to_le_bytes());
        b.extend((-6i32).to_le_bytes());
        b
    }

    #[test]
    fn reads_fields_by_id_with_defaults() {
        let bytes = build();
        let root = Table::root(&bytes, 0).unwrap();
        assert_eq!(root.scalar::<i32>(0, -1).unwrap(), 7);
        assert_eq!(root.string(1).unwrap(), Some("abc"));
        assert_eq!(root.scalar::<i32>(2, -1).unwrap(), -1);
        assert_eq!(root.scalars::<i32>(3).unwrap(), vec![5, -6]);
        // A field id past the vtable is a default, as for a newer schema's field.
        assert_eq!(root.scalar::<f64>(9, 1.5).unwrap(), 1.5);
        assert!(root.tables(9).unwrap().is_empty());
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let bytes = build();
        for len in 0..bytes.len() {
            let short = &bytes[..len];
            let read = Table::root(short, 8).and_then(|root| {
                root.scalar::<i32>(0, 0)?;
                root.string(1)?;
                root.scalars::<i32>(3)
            });
            assert!(read.is_err(), "a document cut at {len} bytes was read");
        }
    }

    #[test]
    fn a_vector_length_past_the_end_is_refused_before_allocating() {
        let mut bytes = build();
        bytes[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
        let root = Table::root(&bytes, 8).unwrap();
        let error = root.scalars::<i32>(3).unwrap_err();
        assert_eq!(error.offset, 8 + 44);
        assert!(error.to_string().contains("byte 52"), "{error}");
    }
}
