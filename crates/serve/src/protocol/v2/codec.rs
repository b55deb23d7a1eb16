//! The tensor codec of the Open Inference Protocol v2, shared by the REST routes and gRPC:
//! datatypes, input tensors decoded from JSON or from raw little-endian bytes, the feature
//! matrix assembled from them, and output tensors encoded back (JSON or binary).

use ndarray::Array2;
use serde_json::{Map, Value, json};
use verdict_model::{ClassLabel, Output, Signature, Task};

use crate::error::Error;
use crate::protocol::{Decoder, kind_of, number};

/// The tensor datatypes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataType {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F16,
    Bf16,
    F32,
    F64,
    Bytes,
}

impl DataType {
    /// The datatype of an input tensor, or an error at `at` that lists the known ones.
    pub(crate) fn of_input(name: &str, at: &str) -> Result<DataType, Error> {
        DataType::parse(name).ok_or_else(|| {
            Error::bad(
                at,
                format!(
                    "unknown datatype `{name}` (expected BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64 or BYTES)"
                ),
            )
        })
    }

    fn parse(name: &str) -> Option<DataType> {
        Some(match name {
            "BOOL" => DataType::Bool,
            "UINT8" => DataType::U8,
            "UINT16" => DataType::U16,
            "UINT32" => DataType::U32,
            "UINT64" => DataType::U64,
            "INT8" => DataType::I8,
            "INT16" => DataType::I16,
            "INT32" => DataType::I32,
            "INT64" => DataType::I64,
            "FP16" => DataType::F16,
            "BF16" => DataType::Bf16,
            "FP32" => DataType::F32,
            "FP64" => DataType::F64,
            "BYTES" => DataType::Bytes,
            _ => return None,
        })
    }

    /// Bytes per element in the binary layout; `BYTES` elements carry their own length.
    fn size(self) -> Option<usize> {
        match self {
            DataType::Bool | DataType::U8 | DataType::I8 => Some(1),
            DataType::U16 | DataType::I16 | DataType::F16 | DataType::Bf16 => Some(2),
            DataType::U32 | DataType::I32 | DataType::F32 => Some(4),
            DataType::U64 | DataType::I64 | DataType::F64 => Some(8),
            DataType::Bytes => None,
        }
    }

    /// The range of an integer type, or `None` for the others.
    pub(crate) fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            DataType::U8 => (0, u8::MAX.into()),
            DataType::U16 => (0, u16::MAX.into()),
            DataType::U32 => (0, u32::MAX.into()),
            DataType::U64 => (0, u64::MAX.into()),
            DataType::I8 => (i8::MIN.into(), i8::MAX.into()),
            DataType::I16 => (i16::MIN.into(), i16::MAX.into()),
            DataType::I32 => (i32::MIN.into(), i32::MAX.into()),
            DataType::I64 => (i64::MIN.into(), i64::MAX.into()),
            _ => return None,
        })
    }

    /// Rounds a value to what this type can hold (the declared type is the contract: an
    /// `FP32` input is seen as `f32` values, as Triton would hand them to a model).
    pub(crate) fn round(self, value: f64) -> f64 {
        match self {
            DataType::F32 => f64::from(value as f32),
            DataType::F16 => half::f16::from_f64(value).to_f64(),
            DataType::Bf16 => half::bf16::from_f64(value).to_f64(),
            _ => value,
        }
    }
}

/// The elements of one input tensor.
#[derive(Debug)]
pub(crate) enum Values {
    Numbers(Vec<f64>),
    Texts(Vec<String>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Numbers(v) => v.len(),
            Values::Texts(v) => v.len(),
        }
    }
}

/// One decoded input tensor, whatever the transport.
#[derive(Debug)]
pub(crate) struct Tensor<'a> {
    pub(crate) name: &'a str,
    pub(crate) shape: &'a [i64],
    pub(crate) values: Values,
}

impl<'a> Tensor<'a> {
    /// Checks `values` against the shape and the row limit: the shape is the client's word,
    /// the values are what was sent.
    pub(crate) fn new(
        decoder: &Decoder<'_>,
        name: &'a str,
        shape: &'a [i64],
        values: Values,
        at: &str,
    ) -> Result<Tensor<'a>, Error> {
        let count = element_count(shape, at)?;
        if let Some(&rows) = shape.first() {
            decoder.check_rows(rows as usize)?;
        }
        if values.len() != count {
            return Err(Error::bad(
                at,
                format!(
                    "shape {shape:?} holds {count} elements but {} were sent",
                    values.len()
                ),
            ));
        }
        Ok(Tensor {
            name,
            shape,
            values,
        })
    }
}

pub(crate) fn class_json(class: &ClassLabel) -> Value {
    match class {
        ClassLabel::Int(i) => Value::from(*i),
        ClassLabel::Text(t) => Value::from(t.as_str()),
    }
}

/// `INT64` or `BYTES` labels for a classifier's `predict`, `FP64` otherwise.
pub(crate) fn output_datatype(signature: &Signature, output: Output) -> &'static str {
    match (&signature.task, output) {
        (Task::Classification { classes }, Output::Predict) => {
            if classes.iter().all(|c| matches!(c, ClassLabel::Int(_))) {
                "INT64"
            } else {
                "BYTES"
            }
        }
        _ => "FP64",
    }
}

/// The number of elements of a shape, checked.
pub(crate) fn element_count(shape: &[i64], at: &str) -> Result<usize, Error> {
    let mut count: usize = 1;
    for &dim in shape {
        let dim = usize::try_from(dim)
            .map_err(|_| Error::bad(at, format!("shape {shape:?} has a negative dimension")))?;
        count = count
            .checked_mul(dim)
            .ok_or_else(|| Error::bad(at, format!("shape {shape:?} is too large")))?;
    }
    Ok(count)
}

/// The elements of a JSON `data` field, nested or flat, checked against the datatype.
pub(crate) fn decode_json(datatype: DataType, data: &Value, at: &str) -> Result<Values, Error> {
    // No reservation from the shape: it is the client's word, not the data's size.
    let mut flat = Vec::new();
    flatten(data, &mut flat);
    if datatype == DataType::Bytes {
        let mut texts = Vec::with_capacity(flat.len());
        for (i, value) in flat.into_iter().enumerate() {
            match value {
                Value::String(text) => texts.push(text.clone()),
                other => {
                    return Err(Error::bad(
                        format!("{at}.data[{i}]"),
                        format!("a BYTES tensor holds texts, got {}", kind_of(other)),
                    ));
                }
            }
        }
        return Ok(Values::Texts(texts));
    }
    let mut numbers = Vec::with_capacity(flat.len());
    for (i, value) in flat.into_iter().enumerate() {
        let wrong = |what: &str| {
            Error::bad(
                format!("{at}.data[{i}]"),
                format!(
                    "a {} tensor holds {what}, got {value}",
                    datatype_name(datatype)
                ),
            )
        };
        let number = match (datatype, value) {
            (DataType::Bool, Value::Bool(flag)) => f64::from(u8::from(*flag)),
            (DataType::Bool, _) => return Err(wrong("true or false")),
            // JSON has no NaN: `null` stands for a missing value in floating-point tensors.
            (DataType::F16 | DataType::Bf16 | DataType::F32 | DataType::F64, Value::Null) => {
                f64::NAN
            }
            (DataType::F16 | DataType::Bf16 | DataType::F32 | DataType::F64, Value::Number(n)) => {
                datatype.round(n.as_f64().unwrap_or(f64::NAN))
            }
            (_, Value::Number(n)) => {
                let (low, high) = datatype.integer_range().unwrap_or((0, 0));
                let integer = n
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
                    .filter(|v| (low..=high).contains(v))
                    .ok_or_else(|| wrong("integers in its range"))?;
                integer as f64
            }
            _ => return Err(wrong("numbers")),
        };
        numbers.push(number);
    }
    Ok(Values::Numbers(numbers))
}

pub(crate) fn datatype_name(datatype: DataType) -> &'static str {
    match datatype {
        DataType::Bool => "BOOL",
        DataType::U8 => "UINT8",
        DataType::U16 => "UINT16",
        DataType::U32 => "UINT32",
        DataType::U64 => "UINT64",
        DataType::I8 => "INT8",
        DataType::I16 => "INT16",
        DataType::I32 => "INT32",
        DataType::I64 => "INT64",
        DataType::F16 => "FP16",
        DataType::Bf16 => "BF16",
        DataType::F32 => "FP32",
        DataType::F64 => "FP64",
        DataType::Bytes => "BYTES",
    }
}

/// Row-major leaves of nested arrays.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                flatten(item, out);
            }
        }
        leaf => out.push(leaf),
    }
}

/// The elements of a binary tensor: little-endian, row-major, no padding; `BYTES` elements
/// are a 4-byte length followed by their bytes.
pub(crate) fn decode_binary(datatype: DataType, bytes: &[u8], at: &str) -> Result<Values, Error> {
    let Some(size) = datatype.size() else {
        let mut texts = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some((length, tail)) = rest.split_first_chunk::<4>() else {
                return Err(Error::bad(
                    at,
                    format!(
                        "BYTES element {} has a truncated length prefix",
                        texts.len()
                    ),
                ));
            };
            let length = u32::from_le_bytes(*length) as usize;
            if length > tail.len() {
                return Err(Error::bad(
                    at,
                    format!(
                        "BYTES element {} claims {length} bytes but {} remain",
                        texts.len(),
                        tail.len()
                    ),
                ));
            }
            let (text, tail) = tail.split_at(length);
            let text = std::str::from_utf8(text).map_err(|_| {
                Error::bad(
                    at,
                    format!("BYTES element {} is not UTF-8 text", texts.len()),
                )
            })?;
            texts.push(text.to_owned());
            rest = tail;
        }
        return Ok(Values::Texts(texts));
    };
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::bad(
            at,
            format!(
                "{} binary bytes are not a whole number of {}-byte {} elements",
                bytes.len(),
                size,
                datatype_name(datatype)
            ),
        ));
    }
    let numbers = bytes
        .chunks_exact(size)
        .map(|chunk| {
            let mut word = [0u8; 8];
            word[..size].copy_from_slice(chunk);
            let bits = u64::from_le_bytes(word);
            match datatype {
                DataType::Bool => f64::from(u8::from(bits != 0)),
                DataType::U8 | DataType::U16 | DataType::U32 | DataType::U64 => bits as f64,
                DataType::I8 => f64::from(bits as u8 as i8),
                DataType::I16 => f64::from(bits as u16 as i16),
                DataType::I32 => f64::from(bits as u32 as i32),
                DataType::I64 => bits as i64 as f64,
                DataType::F16 => half::f16::from_bits(bits as u16).to_f64(),
                DataType::Bf16 => half::bf16::from_bits(bits as u16).to_f64(),
                DataType::F32 => f64::from(f32::from_bits(bits as u32)),
                DataType::F64 | DataType::Bytes => f64::from_bits(bits),
            }
        })
        .collect();
    Ok(Values::Numbers(numbers))
}

/// The feature matrix from the decoded input tensors.
pub(crate) fn assemble(
    decoder: &Decoder<'_>,
    tensors: &[Tensor<'_>],
) -> Result<Array2<f64>, Error> {
    let signature = decoder.signature;
    let width = signature.num_features();
    if let [tensor] = tensors
        && signature.feature_index(tensor.name).is_none()
    {
        // One tensor holding every feature: [rows, features].
        let at = format!("inputs[0] (`{}`)", tensor.name);
        let rows = match tensor.shape {
            &[rows, columns] if columns as usize == width => rows as usize,
            shape => {
                return Err(Error::bad(
                    at,
                    format!(
                        "shape {shape:?} does not match the model, which takes [rows, {width}] ({}); or send one tensor per feature, named after it",
                        decoder.feature_list()
                    ),
                ));
            }
        };
        let data = match &tensor.values {
            Values::Numbers(numbers) => numbers
                .iter()
                .enumerate()
                .map(|(i, &x)| decoder.number(i % width, x))
                .collect(),
            Values::Texts(texts) => texts
                .iter()
                .enumerate()
                .map(|(i, text)| decoder.text(i % width, text, &format!("{at} row {}", i / width)))
                .collect::<Result<Vec<_>, _>>()?,
        };
        return Array2::from_shape_vec((rows, width), data)
            .map_err(|e| Error::Internal(e.to_string()));
    }

    // One tensor per feature, named after it.
    let mut columns: Vec<Option<(usize, &Values)>> = vec![None; width];
    let mut rows = None;
    for (i, tensor) in tensors.iter().enumerate() {
        let at = format!("inputs[{i}] (`{}`)", tensor.name);
        let Some(feature) = signature.feature_index(tensor.name) else {
            return Err(Error::bad(
                at,
                format!(
                    "is not a feature of the model (it takes {}); send one tensor of shape [rows, {width}], or one tensor per feature",
                    decoder.feature_list()
                ),
            ));
        };
        let length = match tensor.shape {
            &[rows] | &[rows, 1] => rows as usize,
            shape => {
                return Err(Error::bad(
                    at,
                    format!(
                        "a feature's tensor must have shape [rows] or [rows, 1], got {shape:?}"
                    ),
                ));
            }
        };
        if *rows.get_or_insert(length) != length {
            return Err(Error::bad(
                at,
                format!(
                    "has {length} rows but the tensors before it have {}",
                    rows.unwrap_or(0)
                ),
            ));
        }
        if columns[feature].replace((i, &tensor.values)).is_some() {
            return Err(Error::bad(at, "repeats a feature"));
        }
    }
    let rows = rows.unwrap_or(0);
    let mut matrix = Array2::zeros((rows, width));
    for (f, column) in columns.iter().enumerate() {
        let Some((i, values)) = column else {
            return Err(
                decoder.missing_features("inputs", |name| tensors.iter().any(|t| t.name == name))
            );
        };
        match values {
            Values::Numbers(numbers) => {
                for (cell, &x) in matrix.column_mut(f).iter_mut().zip(numbers.iter()) {
                    *cell = decoder.number(f, x);
                }
            }
            Values::Texts(texts) => {
                for (r, text) in texts.iter().enumerate() {
                    matrix[[r, f]] = decoder.text(f, text, &format!("inputs[{i}] row {r}"))?;
                }
            }
        }
    }
    Ok(matrix)
}

/// The shape of an output tensor of `rows` rows (`-1` in metadata): `[rows]` for one column,
/// `[rows, width]` for more, and `[rows, outputs, features + 1]` for the contributions of a
/// model with several raw outputs (the data is row-major either way).
pub(crate) fn output_shape(signature: &Signature, output: Output, rows: i64) -> Vec<i64> {
    let width = signature.output_width(output).unwrap_or(1) as i64;
    match output {
        Output::Contribs if signature.raw_width > 1 => vec![
            rows,
            signature.raw_width as i64,
            signature.num_features() as i64 + 1,
        ],
        Output::Contribs => vec![rows, width],
        _ if width == 1 => vec![rows],
        _ => vec![rows, width],
    }
}

/// The class labels of a classifier's `predict` values.
fn labels(signature: &Signature, values: &Array2<f64>) -> Result<Vec<ClassLabel>, Error> {
    values
        .iter()
        .map(|&index| {
            signature.class_label(index).cloned().ok_or_else(|| {
                Error::Internal(format!(
                    "the model predicted class index {index}, which is not one of its classes"
                ))
            })
        })
        .collect()
}

/// Appends an output's elements to `tail` in the binary layout of its datatype (see
/// [`output_datatype`]): little-endian, row-major, `BYTES` elements length-prefixed.
pub(crate) fn write_binary(
    signature: &Signature,
    output: Output,
    values: &Array2<f64>,
    tail: &mut Vec<u8>,
) -> Result<(), Error> {
    let datatype = output_datatype(signature, output);
    if datatype == "FP64" {
        for &value in values {
            tail.extend_from_slice(&value.to_le_bytes());
        }
        return Ok(());
    }
    for label in labels(signature, values)? {
        match label {
            ClassLabel::Int(i) if datatype == "INT64" => tail.extend_from_slice(&i.to_le_bytes()),
            other => {
                let text = other.to_string();
                tail.extend_from_slice(&(text.len() as u32).to_le_bytes());
                tail.extend_from_slice(text.as_bytes());
            }
        }
    }
    Ok(())
}

/// One output tensor's JSON, with its data inline or appended to `tail` as binary.
pub(crate) fn encode_output(
    signature: &Signature,
    output: Output,
    values: &Array2<f64>,
    binary: bool,
    tail: &mut Vec<u8>,
) -> Result<Value, Error> {
    let datatype = output_datatype(signature, output);
    let mut tensor = Map::new();
    tensor.insert("name".into(), output.name().into());
    tensor.insert("datatype".into(), datatype.into());
    tensor.insert(
        "shape".into(),
        output_shape(signature, output, values.nrows() as i64).into(),
    );
    if binary {
        let start = tail.len();
        write_binary(signature, output, values, tail)?;
        tensor.insert(
            "parameters".into(),
            json!({ "binary_data_size": tail.len() - start }),
        );
    } else {
        let data: Value = match datatype {
            "INT64" => labels(signature, values)?.iter().map(class_json).collect(),
            "BYTES" => labels(signature, values)?
                .iter()
                .map(|l| Value::from(l.to_string()))
                .collect(),
            _ => values.iter().map(|&v| number(v)).collect(),
        };
        tensor.insert("data".into(), data);
    }
    Ok(Value::Object(tensor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_numbers_are_little_endian() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1.5f32.to_le_bytes());
        bytes.extend_from_slice(&(-2.0f32).to_le_bytes());
        let Values::Numbers(numbers) = decode_binary(DataType::F32, &bytes, "t").unwrap() else {
            panic!("numbers expected");
        };
        assert_eq!(numbers, vec![1.5, -2.0]);
        let Values::Numbers(numbers) =
            decode_binary(DataType::I16, &[0xff, 0xff, 2, 0], "t").unwrap()
        else {
            panic!("numbers expected");
        };
        assert_eq!(numbers, vec![-1.0, 2.0]);
        assert!(decode_binary(DataType::F64, &[0; 7], "t").is_err());
    }

    #[test]
    fn binary_bytes_carry_their_length() {
        let bytes = [3, 0, 0, 0, b'r', b'e', b'd', 0, 0, 0, 0];
        let Values::Texts(texts) = decode_binary(DataType::Bytes, &bytes, "t").unwrap() else {
            panic!("texts expected");
        };
        assert_eq!(texts, vec!["red".to_owned(), String::new()]);
        assert!(decode_binary(DataType::Bytes, &[9, 0, 0, 0, b'x'], "t").is_err());
        assert!(decode_binary(DataType::Bytes, &[1, 0], "t").is_err());
    }

    #[test]
    fn json_data_is_checked_against_the_datatype() {
        let data = json!([[1, 2], [3, 4]]);
        let Values::Numbers(numbers) = decode_json(DataType::I32, &data, "t").unwrap() else {
            panic!("numbers expected");
        };
        assert_eq!(numbers, vec![1.0, 2.0, 3.0, 4.0]);
        let error = decode_json(DataType::U8, &json!([300]), "t").unwrap_err();
        assert_eq!(
            error.to_string(),
            "t.data[0]: a UINT8 tensor holds integers in its range, got 300"
        );
        assert!(decode_json(DataType::I64, &json!([1.5]), "t").is_err());
        assert!(decode_json(DataType::Bool, &json!([1]), "t").is_err());
        assert!(decode_json(DataType::Bytes, &json!([1]), "t").is_err());
        let Values::Numbers(numbers) =
            decode_json(DataType::F32, &json!([0.1, null]), "t").unwrap()
        else {
            panic!("numbers expected");
        };
        assert_eq!(numbers[0], f64::from(0.1f32));
        assert!(numbers[1].is_nan());
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(element_count(&[2, 3], "t").unwrap(), 6);
        assert!(element_count(&[-1, 3], "t").is_err());
        assert!(element_count(&[i64::MAX, i64::MAX], "t").is_err());
    }
}
