//! The model file format: every family round-trips through both codecs to bit-identical
//! predictions, and every damaged file is refused with an error rather than a panic.

mod common;

use proptest::prelude::*;
use verdict_model::{Codec, Error, FormatError, Model, ModelFile};

fn assert_same_predictions(a: &ModelFile, b: &ModelFile) {
    let x = common::inputs(a.model.signature().num_features());
    for output in a.model.signature().outputs() {
        let pa = a.model.predict(x.view(), output).unwrap();
        let pb = b.model.predict(x.view(), output).unwrap();
        let bits = |p: &ndarray::Array2<f64>| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&pa), bits(&pb), "{} {output}", a.info.name);
    }
}

#[test]
fn every_family_round_trips_through_both_codecs() {
    for file in common::all_models() {
        for codec in [Codec::Bincode, Codec::Json] {
            let bytes = file.to_bytes(codec).unwrap();
            let back = ModelFile::from_bytes(&bytes).unwrap();
            assert_eq!(back, file, "{} via {}", file.info.name, codec.name());
            assert_same_predictions(&file, &back);
        }
    }
}

#[test]
fn save_and_load_by_path() {
    let dir = tempfile::tempdir().unwrap();
    for file in common::all_models() {
        let path = dir.path().join(format!("{}.vdm", file.info.name));
        file.save(&path, Codec::Bincode).unwrap();
        assert_eq!(ModelFile::load(&path).unwrap(), file);
        assert_eq!(verdict_model::load(&path, None).unwrap(), file);
    }
    // Nothing but the saved files: the temporary files were renamed away.
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        common::all_models().len()
    );
}

#[test]
fn json_files_are_text_with_a_readable_header() {
    let file = &common::all_models()[0];
    let bytes = file.to_bytes(Codec::Json).unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with("VERDICT 1 json "), "{text}");
    assert!(text.contains("\"linear\""));
}

#[test]
fn every_truncation_is_an_error() {
    for file in common::all_models().iter().take(4) {
        for codec in [Codec::Bincode, Codec::Json] {
            let bytes = file.to_bytes(codec).unwrap();
            for len in 0..bytes.len() {
                assert!(
                    ModelFile::from_bytes(&bytes[..len]).is_err(),
                    "{} {} truncated to {len} bytes loaded",
                    file.info.name,
                    codec.name()
                );
            }
        }
    }
}

#[test]
fn every_single_byte_flip_is_an_error() {
    for file in common::all_models() {
        for codec in [Codec::Bincode, Codec::Json] {
            let bytes = file.to_bytes(codec).unwrap();
            for at in 0..bytes.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut damaged = bytes.clone();
                    damaged[at] ^= flip;
                    assert!(
                        ModelFile::from_bytes(&damaged).is_err(),
                        "{} {}: flipping byte {at} with {flip:#x} loaded",
                        file.info.name,
                        codec.name()
                    );
                }
            }
        }
    }
}

#[test]
fn errors_name_the_problem() {
    let file = &common::all_models()[0];
    let bytes = file.to_bytes(Codec::Bincode).unwrap();

    let err = ModelFile::from_bytes(b"PK\x03\x04 not a model").unwrap_err();
    assert!(matches!(err, Error::Format(FormatError::BadMagic)), "{err}");

    let err = ModelFile::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(
        matches!(err, Error::Format(FormatError::Truncated { .. })),
        "{err}"
    );

    let mut longer = bytes.clone();
    longer.extend_from_slice(b"xyz");
    let err = ModelFile::from_bytes(&longer).unwrap_err();
    assert!(
        matches!(err, Error::Format(FormatError::TrailingBytes { offset }) if offset == bytes.len() as u64),
        "{err}"
    );

    let mut corrupt = bytes.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    let err = ModelFile::from_bytes(&corrupt).unwrap_err();
    assert!(
        matches!(err, Error::Format(FormatError::ChecksumMismatch { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("corrupted"));

    let newer = String::from_utf8_lossy(&bytes).replacen("VERDICT 1 ", "VERDICT 2 ", 1);
    let err = ModelFile::from_bytes(newer.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("upgrade Verdict"), "{err}");
}

/// Replaces the payload of a model file and fixes its checksum, as a hostile writer would.
fn forge(bytes: &[u8], mutate: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let header = std::str::from_utf8(&bytes[..header_end - 1]).unwrap();
    let fields: Vec<&str> = header.split(' ').collect();
    let metadata_len: usize = fields[3].parse().unwrap();
    let mut body = bytes[header_end..].to_vec();
    let mut payload = body.split_off(metadata_len + 1);
    mutate(&mut payload);
    body.extend_from_slice(&payload);
    let mut out = format!(
        "VERDICT 1 {} {} {} {:08x}\n",
        fields[2],
        metadata_len,
        payload.len(),
        crc32fast::hash(&body)
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ModelFile::from_bytes(&bytes);
        let mut with_magic = b"VERDICT ".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = ModelFile::from_bytes(&with_magic);
    }

    /// A payload altered behind a valid checksum must be refused or, if it still decodes to a
    /// valid model, predict without panicking.
    #[test]
    fn forged_payloads_never_panic(
        model in 0usize..7,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        codec_json in any::<bool>(),
    ) {
        let file = &common::all_models()[model];
        let codec = if codec_json { Codec::Json } else { Codec::Bincode };
        let bytes = file.to_bytes(codec).unwrap();
        let forged = forge(&bytes, |payload| {
            for (at, value) in &edits {
                let i = at.index(payload.len());
                payload[i] = *value;
            }
        });
        if let Ok(loaded) = ModelFile::from_bytes(&forged) {
            let x = common::inputs(loaded.model.signature().num_features());
            for output in loaded.model.signature().outputs() {
                let _ = loaded.model.predict(x.view(), output);
            }
        }
    }
}

#[test]
fn bincode_errors_read_as_words_not_rust_debug_output() {
    let file = &common::all_models()[0];
    let bytes = file.to_bytes(Codec::Bincode).unwrap();
    // The first byte of the payload picks the family: 200 is none of them.
    let forged = forge(&bytes, |payload| payload[0] = 200);
    let message = ModelFile::from_bytes(&forged).unwrap_err().to_string();
    assert!(message.contains("200"), "{message}");
    for debug in ["{", "}", "type_name", "allowed"] {
        assert!(!message.contains(debug), "{message}");
    }
    let forged = forge(&bytes, |payload| payload.truncate(3));
    let message = ModelFile::from_bytes(&forged).unwrap_err().to_string();
    assert!(message.contains("too early"), "{message}");
    assert!(!message.contains("additional"), "{message}");
}
