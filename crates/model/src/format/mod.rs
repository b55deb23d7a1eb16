//! The Verdict model file (`.vdm`): one self-describing file that holds a model.
//!
//! ```text
//! VERDICT 2 bincode 1234 56789 1a2b3c4d\n      header line (ASCII)
//! {"name": ..., "signature": ...}              metadata (JSON, 1234 bytes)
//! \n                                           separator
//! <payload>                                    the model family (56789 bytes, in the codec)
//! ```
//!
//! The checksum is the CRC-32 (IEEE) of everything after the header line. Loading a file never
//! runs code: it parses JSON or bincode into plain data and validates every index before the
//! model can predict. `docs/format.md` specifies the layout in full.

mod header;
mod v1;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, FormatError};
use crate::family::{Family, NativeModel};
use crate::model::Model;
use crate::signature::Signature;
use header::Header;
pub use header::{FORMAT_VERSION, MAGIC, MAX_HEADER_LEN, MAX_METADATA_LEN, MAX_PAYLOAD_LEN};

/// How the payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// bincode 2 (standard configuration): compact and fast to load.
    Bincode,
    /// Pretty-printed JSON: for reading and diffing.
    Json,
}

impl Codec {
    /// The name in the header: `bincode` or `json`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Bincode => "bincode",
            Codec::Json => "json",
        }
    }

    /// The codec called `name` in a header.
    pub fn from_name(name: &str) -> Option<Codec> {
        match name {
            "bincode" => Some(Codec::Bincode),
            "json" => Some(Codec::Json),
            _ => None,
        }
    }

    /// The codec a path asks for: JSON for names ending in `.json`, bincode otherwise.
    pub fn for_path(path: &Path) -> Codec {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Codec::Json,
            _ => Codec::Bincode,
        }
    }
}

/// Where a model came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The library that trained it (`xgboost`, `lightgbm`, `scikit-learn`, `verdict`).
    pub library: String,
    /// That library's version, when known.
    pub library_version: String,
}

/// What a model file says about its model, besides the model itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// A short name, used as the served model's name by default.
    pub name: String,
    /// The model's own version, as its owner numbers it.
    pub version: String,
    /// Free text.
    pub description: String,
    /// When the file was created, in RFC 3339 (UTC).
    pub created: String,
    /// Where the model came from.
    pub source: Source,
}

impl ModelInfo {
    /// Information for a model named `name` from `library`, created now.
    pub fn new(
        name: impl Into<String>,
        library: impl Into<String>,
        library_version: impl Into<String>,
    ) -> Self {
        ModelInfo {
            name: name.into(),
            version: "1".into(),
            description: String::new(),
            created: rfc3339_now(),
            source: Source {
                library: library.into(),
                library_version: library_version.into(),
            },
        }
    }
}

/// The metadata section as stored: the information and the signature.
#[derive(Serialize, Deserialize)]
struct Metadata {
    #[serde(flatten)]
    info: ModelInfo,
    signature: Signature,
}

/// A model together with what its file says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    /// Name, version, provenance.
    pub info: ModelInfo,
    /// The model.
    pub model: NativeModel,
}

impl ModelFile {
    /// Encodes the model file.
    pub fn to_bytes(&self, codec: Codec) -> Result<Vec<u8>, FormatError> {
        let metadata = Metadata {
            info: self.info.clone(),
            signature: self.model.signature().clone(),
        };
        let metadata = serde_json::to_vec_pretty(&metadata).map_err(|e| FormatError::Encode {
            codec: "json",
            message: e.to_string(),
        })?;
        let payload = encode_payload(self.model.family(), codec)?;
        let mut body = Vec::with_capacity(metadata.len() + 1 + payload.len());
        body.extend_from_slice(&metadata);
        body.push(b'\n');
        body.extend_from_slice(&payload);
        let header = Header {
            version: FORMAT_VERSION,
            codec,
            metadata_len: metadata.len() as u64,
            payload_len: payload.len() as u64,
            crc32: crc32fast::hash(&body),
        };
        let mut bytes = header.to_line().into_bytes();
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    /// Decodes a model file, checking its checksum and validating the model.
    pub fn from_bytes(bytes: &[u8]) -> Result<ModelFile, Error> {
        let (header, start) = Header::parse(bytes)?;
        let expected = start as u64 + header.metadata_len + 1 + header.payload_len;
        let found = bytes.len() as u64;
        if found < expected {
            return Err(FormatError::Truncated { expected, found }.into());
        }
        if found > expected {
            return Err(FormatError::TrailingBytes { offset: expected }.into());
        }
        let body = &bytes[start..];
        let crc32 = crc32fast::hash(body);
        if crc32 != header.crc32 {
            return Err(FormatError::ChecksumMismatch {
                expected: header.crc32,
                found: crc32,
            }
            .into());
        }
        let metadata_end = header.metadata_len as usize;
        let metadata: Metadata =
            serde_json::from_slice(&body[..metadata_end]).map_err(|e| FormatError::Decode {
                section: "metadata",
                offset: start as u64,
                message: e.to_string(),
            })?;
        if body[metadata_end] != b'\n' {
            return Err(FormatError::MissingSeparator {
                offset: (start + metadata_end) as u64,
            }
            .into());
        }
        let payload_offset = start + metadata_end + 1;
        let family = decode_payload(
            &bytes[payload_offset..],
            header.codec,
            header.version,
            payload_offset as u64,
        )?;
        let model = NativeModel::new(metadata.signature, family)?;
        Ok(ModelFile {
            info: metadata.info,
            model,
        })
    }

    /// Writes the model file atomically: to a temporary file beside `path`, then renamed.
    pub fn save(&self, path: impl AsRef<Path>, codec: Codec) -> Result<(), Error> {
        let path = path.as_ref();
        let bytes = self.to_bytes(codec)?;
        write_atomically(path, &bytes)
    }

    /// Reads a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<ModelFile, Error> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| Error::Io {
            action: "cannot read",
            path: path.to_owned(),
            source,
        })?;
        ModelFile::from_bytes(&bytes)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        action: "cannot write",
        path: path.to_owned(),
        source,
    };
    let file_name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let temporary = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(io)
}

/// A bincode decoding error in words: bincode 2 displays its errors as their `Debug` form
/// (`UnexpectedVariant { type_name: "Family", allowed: Range(0, 4), found: 9 }`).
fn describe_bincode(error: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match error {
        E::UnexpectedEnd { additional } => {
            format!("the payload ends {additional} bytes too early")
        }
        E::LimitExceeded => format!("the payload declares more than {MAX_PAYLOAD_LEN} bytes"),
        E::UnexpectedVariant {
            type_name, found, ..
        } => format!("variant {found} of `{type_name}` does not exist"),
        E::InvalidIntegerType { expected, found } => {
            format!("expected an integer of type {expected:?}, found {found:?}")
        }
        E::NonZeroTypeIsZero { .. } => "a count that cannot be zero is zero".to_owned(),
        E::Utf8 { inner } => format!("a text is not UTF-8 ({inner})"),
        E::InvalidCharEncoding(_) => "a character is not valid UTF-8".to_owned(),
        E::InvalidBooleanValue(value) => format!("{value} is not a boolean (0 or 1)"),
        E::ArrayLengthMismatch { required, found } => {
            format!("an array has {found} items where {required} are required")
        }
        E::OutsideUsizeRange(value) => format!("the length {value} does not fit this machine"),
        E::Other(message) => (*message).to_owned(),
        E::OtherString(message) => message.clone(),
        other => format!("the payload does not decode ({other})"),
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ MAX_PAYLOAD_LEN as usize }>()
}

fn encode_payload(family: &Family, codec: Codec) -> Result<Vec<u8>, FormatError> {
    match codec {
        Codec::Bincode => bincode::serde::encode_to_vec(family, bincode_config()).map_err(|e| {
            FormatError::Encode {
                codec: "bincode",
                message: e.to_string(),
            }
        }),
        Codec::Json => {
            let bytes = serde_json::to_vec_pretty(family).map_err(|e| FormatError::Encode {
                codec: "json",
                message: e.to_string(),
            })?;
            // JSON has no NaN or infinity: serde_json writes them as `null`, which would not
            // read back. Refuse here rather than write a file that cannot be loaded.
            let back: Family = serde_json::from_slice(&bytes).map_err(|_| FormatError::Encode {
                codec: "json",
                message: "the model holds a non-finite number (NaN or infinity), which JSON cannot represent; save it with the bincode codec".into(),
            })?;
            if &back != family {
                return Err(FormatError::Encode {
                    codec: "json",
                    message: "the model does not survive a JSON round trip; save it with the bincode codec".into(),
                });
            }
            Ok(bytes)
        }
    }
}

/// Decodes a payload of format `version` (one the header accepted) into today's types.
fn decode_payload(
    bytes: &[u8],
    codec: Codec,
    version: u32,
    offset: u64,
) -> Result<Family, FormatError> {
    if version == 1 {
        return decode::<v1::FamilyV1>(bytes, codec, offset).map(Family::from);
    }
    decode::<Family>(bytes, codec, offset)
}

fn decode<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    codec: Codec,
    offset: u64,
) -> Result<T, FormatError> {
    let error = |message: String| FormatError::Decode {
        section: "payload",
        offset,
        message,
    };
    match codec {
        Codec::Bincode => {
            let (family, read) = bincode::serde::decode_from_slice(bytes, bincode_config())
                .map_err(|e| error(describe_bincode(&e)))?;
            if read != bytes.len() {
                return Err(error(format!(
                    "{} bytes left over after the model",
                    bytes.len() - read
                )));
            }
            Ok(family)
        }
        Codec::Json => serde_json::from_slice(bytes).map_err(|e| error(e.to_string())),
    }
}

/// The current time in RFC 3339, UTC, to the second.
fn rfc3339_now() -> String {
    rfc3339(SystemTime::now(), false)
}

/// A time in RFC 3339, UTC: `2026-12-03T08:15:00Z`, or with `millis`
/// `2026-12-03T08:15:00.123Z`. A model file's creation time is written with it, and so is
/// the time of each line of the server's request log; a time before 1970 is 1970.
pub fn rfc3339(time: SystemTime, millis: bool) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, rem) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let fraction = if millis {
        format!(".{:03}", since.subsec_millis())
    } else {
        String::new()
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_rfc3339() {
        let now = rfc3339_now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
        let leap = UNIX_EPOCH + std::time::Duration::from_millis(951_782_400_000 + 3_723_456);
        assert_eq!(rfc3339(leap, false), "2000-02-29T01:02:03Z");
        assert_eq!(rfc3339(leap, true), "2000-02-29T01:02:03.456Z");
    }

    #[test]
    fn codec_follows_the_extension() {
        assert_eq!(Codec::for_path(Path::new("m.vdm")), Codec::Bincode);
        assert_eq!(Codec::for_path(Path::new("m.vdm.json")), Codec::Json);
    }
}
