//! Just enough of NumPy's `.npy` format (version 1.0/2.0, little-endian `f8`/`f4`, C order)
//! to exchange matrices with Python benchmark scripts without a CSV parse in the timing.

use std::path::Path;

use anyhow::{Context, bail};
use ndarray::Array2;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a 2-D little-endian float matrix.
pub(crate) fn read(path: &Path) -> anyhow::Result<Array2<f64>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        bail!("{} is not a .npy file", path.display());
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => bail!("unsupported .npy version {v}"),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .context("truncated .npy header")?;
    let data = &bytes[start + header_len..];
    if header.contains("'fortran_order': True") {
        bail!("{}: only C-order arrays are supported", path.display());
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .context("no shape in the .npy header")?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .context("bad shape in the .npy header")?;
    let [rows, cols] = dims[..] else {
        bail!(
            "{}: expected a 2-D array, got shape ({shape})",
            path.display()
        );
    };
    let values: Vec<f64> = if header.contains("'<f8'") {
        data.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect()
    } else if header.contains("'<f4'") {
        data.chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("chunks of 4"))))
            .collect()
    } else {
        bail!(
            "{}: expected little-endian float64 or float32 data",
            path.display()
        );
    };
    Array2::from_shape_vec((rows, cols), values)
        .with_context(|| format!("{}: data does not match shape ({shape})", path.display()))
}

/// Writes a 2-D float64 matrix (version 1.0, C order).
pub(crate) fn write(path: &Path, matrix: &Array2<f64>) -> anyhow::Result<()> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({}, {}), }}",
        matrix.nrows(),
        matrix.ncols()
    );
    // The header is padded with spaces and a newline to a multiple of 64 bytes.
    let total = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(total.next_multiple_of(64) - total));
    header.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in matrix.iter() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
