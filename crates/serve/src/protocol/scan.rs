//! A bound on a JSON body's size in elements, checked before it is parsed.
//!
//! serde_json builds a whole tree of values before a protocol can count rows, and that tree
//! takes 15 to 30 times the bytes of the text: a 62 MB body of a million rows took a gigabyte
//! before the row limit could refuse it. This scan walks the bytes once, counting array items
//! and object members (one per `,`, `[` and `{` outside strings), and stops as soon as the
//! count passes what `max_rows` rows can need, so the parse that follows builds at most a
//! tree of that size.

use crate::error::Error;

/// Elements a row may carry besides its features (ids and other passthrough fields of a
/// record, the tensor names and shapes of v2).
const EXTRA_PER_ROW: usize = 8;

/// Elements a body may carry besides its rows (parameters, output lists, column names).
const EXTRA_PER_BODY: usize = 4096;

/// The most elements a body of `max_rows` rows of `features` features may hold.
pub(crate) fn element_limit(max_rows: usize, features: usize) -> usize {
    max_rows
        .saturating_mul(features.saturating_add(EXTRA_PER_ROW))
        .saturating_add(EXTRA_PER_BODY)
}

/// Fails as soon as `body` has more than `limit` elements; says nothing of its syntax,
/// which the parser checks.
pub(crate) fn check_elements(body: &[u8], limit: usize, max_rows: usize) -> Result<(), Error> {
    let mut count = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &byte) in body.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => {
                count += 1;
                if count > limit {
                    return Err(Error::TooManyElements {
                        limit,
                        offset,
                        max_rows,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_items_and_members_but_not_text() {
        let body = br#"{"a": [1, 2, 3], "b": "x,y,[z{", "c": {"d": null}}"#;
        // `{`, `[`, two commas in the array, two between the members and the inner `{`.
        assert!(check_elements(body, 7, 1).is_ok());
        let error = check_elements(body, 6, 1).unwrap_err();
        assert!(
            matches!(error, Error::TooManyElements { limit: 6, .. }),
            "{error}"
        );
        assert!(check_elements(br#"["\"", ","]"#, 2, 1).is_ok());
    }

    #[test]
    fn stops_at_the_limit() {
        let mut body = b"[".to_vec();
        body.extend(std::iter::repeat_n(b"[1,2],".as_slice(), 1000).flatten());
        let Err(Error::TooManyElements { offset, .. }) = check_elements(&body, 30, 10) else {
            panic!("no error");
        };
        assert!(offset < 100, "{offset}");
    }
}
