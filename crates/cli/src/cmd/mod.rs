//! One module per subcommand: its arguments and its `run`.

pub(crate) mod bench;
pub(crate) mod convert;
pub(crate) mod inspect;
#[cfg(feature = "batch")]
pub(crate) mod predict;
pub(crate) mod serve;

use verdict_model::SourceFormat;

/// Parses `--from` values for clap.
pub(crate) fn parse_source_format(value: &str) -> Result<SourceFormat, String> {
    value.parse()
}
