//! Tensors between protobuf and the shared v2 core: input tensors from `raw_input_contents`
//! or typed `contents`, output tensors to `raw_output_contents`.
//!
//! The element decoding, the shape checks and the assembly of the feature matrix are the
//! REST protocol's own ([`crate::protocol::v2`]); this module only finds the bytes or the
//! typed values in the message.

use ndarray::Array2;
use prost::bytes::Bytes;
use verdict_model::{Output, Signature};

use super::proto::InferTensorContents;
use super::proto::model_infer_request::InferInputTensor;
use super::proto::model_infer_response::InferOutputTensor;
use crate::error::Error;
use crate::protocol::Decoder;
use crate::protocol::v2::codec::{self, DataType, Tensor, Values};

/// The feature matrix of a request's input tensors.
///
/// As in Triton, either every input comes in `raw_input_contents` (one entry per input, in
/// order) or none does and each has its `contents`.
pub(crate) fn features(
    decoder: &Decoder<'_>,
    inputs: &[InferInputTensor],
    raw: &[Bytes],
) -> Result<Array2<f64>, Error> {
    if !raw.is_empty() && raw.len() != inputs.len() {
        return Err(Error::bad(
            "raw_input_contents",
            format!(
                "has {} entries for {} inputs; send one per input, in the order of `inputs`, or none",
                raw.len(),
                inputs.len()
            ),
        ));
    }
    let mut tensors = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let at = format!("inputs[{i}] (`{}`)", input.name);
        let datatype = DataType::of_input(&input.datatype, &at)?;
        let values = match raw.get(i) {
            Some(bytes) => {
                if input.contents.is_some() {
                    return Err(Error::bad(
                        &at,
                        "has `contents` while the request has `raw_input_contents`; send one",
                    ));
                }
                codec::decode_binary(datatype, bytes, &at)?
            }
            None => match &input.contents {
                Some(contents) => typed(datatype, contents, &at)?,
                None => {
                    return Err(Error::bad(
                        &at,
                        "has no `contents` and the request no `raw_input_contents`",
                    ));
                }
            },
        };
        tensors.push(Tensor::new(
            decoder,
            &input.name,
            &input.shape,
            values,
            &at,
        )?);
    }
    codec::assemble(decoder, &tensors)
}

/// The elements of a tensor sent in the typed field of its datatype.
fn typed(datatype: DataType, contents: &InferTensorContents, at: &str) -> Result<Values, Error> {
    let ranged = |values: &mut dyn Iterator<Item = i128>| -> Result<Values, Error> {
        let (low, high) = datatype.integer_range().unwrap_or((i128::MIN, i128::MAX));
        values
            .enumerate()
            .map(|(i, value)| {
                if (low..=high).contains(&value) {
                    Ok(value as f64)
                } else {
                    Err(Error::bad(
                        format!("{at}.contents[{i}]"),
                        format!(
                            "a {} tensor holds integers in its range, got {value}",
                            codec::datatype_name(datatype)
                        ),
                    ))
                }
            })
            .collect::<Result<Vec<f64>, Error>>()
            .map(Values::Numbers)
    };
    Ok(match datatype {
        DataType::Bool => Values::Numbers(
            contents
                .bool_contents
                .iter()
                .map(|&b| f64::from(u8::from(b)))
                .collect(),
        ),
        DataType::I8 | DataType::I16 | DataType::I32 => {
            ranged(&mut contents.int_contents.iter().map(|&v| i128::from(v)))?
        }
        DataType::U8 | DataType::U16 | DataType::U32 => {
            ranged(&mut contents.uint_contents.iter().map(|&v| i128::from(v)))?
        }
        DataType::I64 => {
            Values::Numbers(contents.int64_contents.iter().map(|&v| v as f64).collect())
        }
        DataType::U64 => {
            Values::Numbers(contents.uint64_contents.iter().map(|&v| v as f64).collect())
        }
        DataType::F32 => Values::Numbers(
            contents
                .fp32_contents
                .iter()
                .map(|&v| f64::from(v))
                .collect(),
        ),
        DataType::F64 => Values::Numbers(contents.fp64_contents.clone()),
        DataType::Bytes => Values::Texts(
            contents
                .bytes_contents
                .iter()
                .enumerate()
                .map(|(i, bytes)| {
                    String::from_utf8(bytes.clone())
                        .map_err(|_| Error::bad(at, format!("BYTES element {i} is not UTF-8 text")))
                })
                .collect::<Result<_, _>>()?,
        ),
        DataType::F16 | DataType::Bf16 => {
            return Err(Error::bad(
                at,
                format!(
                    "{} has no typed `contents` field in the protocol; send it in `raw_input_contents`",
                    codec::datatype_name(datatype)
                ),
            ));
        }
    })
}

/// One output tensor and its bytes for `raw_output_contents`, as Triton answers.
pub(crate) fn output(
    signature: &Signature,
    output: Output,
    values: &Array2<f64>,
) -> Result<(InferOutputTensor, Bytes), Error> {
    let mut raw = Vec::with_capacity(values.len() * 8);
    codec::write_binary(signature, output, values, &mut raw)?;
    let tensor = InferOutputTensor {
        name: output.name().to_owned(),
        datatype: codec::output_datatype(signature, output).to_owned(),
        shape: codec::output_shape(signature, output, values.nrows() as i64),
        ..InferOutputTensor::default()
    };
    Ok((tensor, Bytes::from(raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_integers_are_range_checked() {
        let contents = InferTensorContents {
            int_contents: vec![1, 300],
            ..InferTensorContents::default()
        };
        let error = typed(DataType::I8, &contents, "t").unwrap_err();
        assert_eq!(
            error.to_string(),
            "t.contents[1]: a INT8 tensor holds integers in its range, got 300"
        );
        let Values::Numbers(numbers) = typed(DataType::I16, &contents, "t").unwrap() else {
            panic!("numbers expected");
        };
        assert_eq!(numbers, vec![1.0, 300.0]);
    }

    #[test]
    fn half_floats_need_raw_contents() {
        let error = typed(DataType::F16, &InferTensorContents::default(), "t").unwrap_err();
        assert!(error.to_string().contains("raw_input_contents"), "{error}");
    }
}
