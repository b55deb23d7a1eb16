//! The header line that opens every model file.
//!
//! ```text
//! VERDICT <format-version> <codec> <metadata-bytes> <payload-bytes> <crc32>\n
//! ```

use super::Codec;
use crate::error::FormatError;

/// The magic bytes every model file starts with.
pub const MAGIC: &[u8; 8] = b"VERDICT ";

/// The newest format version this build reads and the one it writes. Version 2 added node
/// covers to trees; this build reads version 1 too (its trees have none).
pub const FORMAT_VERSION: u32 = 2;

/// The longest header line accepted, newline included.
pub const MAX_HEADER_LEN: usize = 128;

/// The largest metadata section accepted.
pub const MAX_METADATA_LEN: u64 = 64 << 20;

/// The largest payload section accepted.
pub const MAX_PAYLOAD_LEN: u64 = 4 << 30;

/// The parsed header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) version: u32,
    pub(crate) codec: Codec,
    pub(crate) metadata_len: u64,
    pub(crate) payload_len: u64,
    pub(crate) crc32: u32,
}

impl Header {
    pub(crate) fn to_line(self) -> String {
        format!(
            "VERDICT {} {} {} {} {:08x}\n",
            self.version,
            self.codec.name(),
            self.metadata_len,
            self.payload_len,
            self.crc32
        )
    }

    /// Parses the header line at the start of `bytes`; returns it and its length.
    pub(crate) fn parse(bytes: &[u8]) -> Result<(Header, usize), FormatError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let window = &bytes[..bytes.len().min(MAX_HEADER_LEN)];
        let end = window.iter().position(|&b| b == b'\n').ok_or_else(|| {
            FormatError::MalformedHeader {
                reason: format!("no newline in the first {MAX_HEADER_LEN} bytes"),
            }
        })?;
        let line =
            std::str::from_utf8(&bytes[..end]).map_err(|e| FormatError::MalformedHeader {
                reason: format!("not ASCII text at byte offset {}", e.valid_up_to()),
            })?;
        let fields: Vec<&str> = line.split(' ').collect();
        let [_, version, codec, metadata_len, payload_len, crc32] = fields[..] else {
            return Err(FormatError::MalformedHeader {
                reason: format!(
                    "expected 6 space-separated fields, found {}: `{line}`",
                    fields.len()
                ),
            });
        };
        let number = |field: &str, what: &str| {
            field
                .parse::<u64>()
                .map_err(|_| FormatError::MalformedHeader {
                    reason: format!("the {what} `{field}` is not a decimal number"),
                })
        };
        let version = number(version, "format version")?;
        if version > u64::from(FORMAT_VERSION) || version == 0 {
            return Err(FormatError::UnsupportedVersion {
                found: u32::try_from(version).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        let codec =
            Codec::from_name(codec).ok_or_else(|| FormatError::UnknownCodec(codec.into()))?;
        let metadata_len = number(metadata_len, "metadata length")?;
        let payload_len = number(payload_len, "payload length")?;
        for (section, len, limit) in [
            ("metadata", metadata_len, MAX_METADATA_LEN),
            ("payload", payload_len, MAX_PAYLOAD_LEN),
        ] {
            if len > limit {
                return Err(FormatError::TooLarge {
                    section,
                    len,
                    limit,
                });
            }
        }
        if crc32.len() != 8 {
            return Err(FormatError::MalformedHeader {
                reason: format!("the checksum `{crc32}` must be 8 hexadecimal digits"),
            });
        }
        let crc32 = u32::from_str_radix(crc32, 16).map_err(|_| FormatError::MalformedHeader {
            reason: format!("the checksum `{crc32}` is not hexadecimal"),
        })?;
        Ok((
            Header {
                version: version as u32,
                codec,
                metadata_len,
                payload_len,
                crc32,
            },
            end + 1,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let header = Header {
            version: 1,
            codec: Codec::Json,
            metadata_len: 12,
            payload_len: 345,
            crc32: 0xdead_beef,
        };
        let line = header.to_line();
        assert_eq!(line, "VERDICT 1 json 12 345 deadbeef\n");
        assert_eq!(
            Header::parse(line.as_bytes()).unwrap(),
            (header, line.len())
        );
    }

    #[test]
    fn newer_versions_are_refused_by_number() {
        let err = Header::parse(b"VERDICT 9 json 1 1 00000000\n").unwrap_err();
        assert_eq!(
            err,
            FormatError::UnsupportedVersion {
                found: 9,
                supported: FORMAT_VERSION
            }
        );
    }

    #[test]
    fn oversized_sections_are_refused_before_reading() {
        let err = Header::parse(b"VERDICT 1 bincode 1 99999999999999 00000000\n").unwrap_err();
        assert!(matches!(
            err,
            FormatError::TooLarge {
                section: "payload",
                ..
            }
        ));
    }
}
