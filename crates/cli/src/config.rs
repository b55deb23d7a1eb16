//! `--config FILE`: a TOML file of a subcommand's flags, for a server that is deployed rather
//! than typed.
//!
//! The file's keys are the flags' long names without their dashes (`grpc-port = 8081`, never
//! `grpc_port`), so every flag can be set in a file, the flags added later included, with no
//! second list of settings to keep in step. The file is turned into arguments that go before
//! the command line's and are parsed by the same parsers, after each value is checked on its
//! own so that a bad value is reported against the file and its line. A flag given on the
//! command line, or through its environment variable, replaces the file's value: a
//! repeatable flag's whole list, and a flag it conflicts with (`--token` on the command line
//! drops the file's `token-file`).

use std::any::TypeId;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use toml_edit::{Item, Value};

/// The name of the flag that names the file; the file cannot set it.
pub(crate) const CONFIG_FLAG: &str = "config";

/// The name of the flag that prints the settings instead of serving; a file that set it would
/// make a server that never serves.
pub(crate) const PRINT_FLAG: &str = "print-config";

/// Why a config file cannot be used. Each message names the file, and the line where it
/// knows one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("the config file {} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, which shows the line.
        message: String,
    },
    /// A key that is no flag of the command.
    #[error("{}:{line}: unknown key `{key}`{hint}", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key's line, from 1.
        line: usize,
        /// The key.
        key: String,
        /// A suggestion, starting with `; `.
        hint: String,
    },
    /// A value of the wrong TOML type for its flag, or a flag no file may set.
    #[error("{}:{line}: `{key}` {expected}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The key's line, from 1.
        line: usize,
        /// The key.
        key: String,
        /// What the flag takes.
        expected: &'static str,
    },
    /// A value the flag's own parser refuses.
    #[error("{}:{line}: `{key}`: {message}", path.display())]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The key's line, from 1.
        line: usize,
        /// The key.
        key: String,
        /// The flag parser's message.
        message: String,
    },
    /// The file and the command line are each fine, but not together (a flag in one needs a
    /// flag neither gives).
    #[error("{} and the command line together: {message}", path.display())]
    Together {
        /// The file.
        path: PathBuf,
        /// clap's message, without its usage line.
        message: String,
    },
    /// Two keys whose flags cannot be used together.
    #[error("{}: `{first}` and `{second}` cannot both be set", path.display())]
    Conflict {
        /// The file.
        path: PathBuf,
        /// The first key.
        first: String,
        /// The second key.
        second: String,
    },
}

/// The arguments that `path` stands for, to go before the command line's arguments of
/// `command`; `given` is the command line parsed without the file, which says which flags
/// the command line (or the environment) already sets.
pub(crate) fn file_arguments(
    path: &Path,
    command: &Command,
    given: &ArgMatches,
) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let document =
        toml_edit::Document::parse(text.as_str()).map_err(|error| ConfigError::Syntax {
            path: path.to_owned(),
            message: error.to_string().trim_end().to_owned(),
        })?;
    let flags: BTreeMap<&str, &Arg> = command
        .get_arguments()
        .filter(|arg| settable(arg))
        .filter_map(|arg| Some((arg.get_long()?, arg)))
        .collect();
    let base = path.parent().unwrap_or(Path::new(""));
    let line_of = |offset: Option<usize>| {
        offset.map_or(0, |offset| {
            text[..offset.min(text.len())].matches('\n').count() + 1
        })
    };

    let mut set: Vec<(&str, &Arg, Vec<OsString>)> = Vec::new();
    for (key, item) in document.as_table().iter() {
        let line = line_of(
            document
                .as_table()
                .get_key_value(key)
                .and_then(|(key, _)| key.span())
                .map(|span| span.start),
        );
        let wrong_type = |expected| ConfigError::WrongType {
            path: path.to_owned(),
            line,
            key: key.to_owned(),
            expected,
        };
        if key == CONFIG_FLAG || key == PRINT_FLAG {
            return Err(wrong_type("is a flag for the command line only"));
        }
        let Some(&arg) = flags.get(key) else {
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                line,
                key: key.to_owned(),
                hint: hint(command.get_name(), key, flags.keys().copied()),
            });
        };
        let Item::Value(value) = item else {
            return Err(wrong_type(
                "is a table; the file holds the flags as top-level keys (`port = 8080`)",
            ));
        };
        let arguments = match arg.get_action() {
            ArgAction::SetTrue => match value {
                Value::Boolean(on) if *on.value() => vec![OsString::from(format!("--{key}"))],
                Value::Boolean(_) => Vec::new(),
                _ => return Err(wrong_type("is a switch: true or false")),
            },
            ArgAction::Set => {
                let text = scalar(value).ok_or_else(|| wrong_type("takes a string or a number"))?;
                vec![flag_value(key, arg, &text, base)]
            }
            ArgAction::Append => {
                let texts: Option<Vec<String>> = match value {
                    Value::Array(values) => values.iter().map(scalar).collect(),
                    value => scalar(value).map(|text| vec![text]),
                };
                let texts = texts
                    .ok_or_else(|| wrong_type("takes a string or a number, or an array of them"))?;
                texts
                    .iter()
                    .map(|text| flag_value(key, arg, text, base))
                    .collect()
            }
            _ => return Err(wrong_type("cannot be set in a config file")),
        };
        for argument in &arguments {
            check_value(command, argument).map_err(|message| ConfigError::InvalidValue {
                path: path.to_owned(),
                line,
                key: key.to_owned(),
                message,
            })?;
        }
        set.push((key, arg, arguments));
    }

    for (i, (first, first_arg, _)) in set.iter().enumerate() {
        for (second, second_arg, _) in &set[i + 1..] {
            if conflict(command, first_arg, second_arg) {
                return Err(ConfigError::Conflict {
                    path: path.to_owned(),
                    first: (*first).to_owned(),
                    second: (*second).to_owned(),
                });
            }
        }
    }

    // The command line wins: a flag it sets, or one that conflicts with a flag it sets, is
    // left out of the file's arguments.
    let from_outside = |arg: &Arg| {
        matches!(
            given.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let outside: Vec<&Arg> = command
        .get_arguments()
        .filter(|arg| from_outside(arg))
        .collect();
    Ok(set
        .into_iter()
        .filter(|(_, arg, _)| {
            !from_outside(arg) && !outside.iter().any(|other| conflict(command, arg, other))
        })
        .flat_map(|(_, _, arguments)| arguments)
        .collect())
}

/// Whether a file may set `arg`: not the help and version switches, nor `--config` itself.
fn settable(arg: &Arg) -> bool {
    !matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    ) && arg.get_long() != Some(CONFIG_FLAG)
        && arg.get_long() != Some(PRINT_FLAG)
}

/// Whether `a` and `b` cannot be used together, whichever of the two declares it.
fn conflict(command: &Command, a: &Arg, b: &Arg) -> bool {
    command
        .get_arg_conflicts_with(a)
        .iter()
        .any(|arg| arg.get_id() == b.get_id())
        || command
            .get_arg_conflicts_with(b)
            .iter()
            .any(|arg| arg.get_id() == a.get_id())
}

/// A string, integer or float as the text a flag takes; `None` for other TOML types.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.value().clone()),
        Value::Integer(number) => Some(number.value().to_string()),
        Value::Float(number) => Some(number.value().to_string()),
        _ => None,
    }
}

/// `--key=value`, in one argument so that a value starting with `-` (`log-requests = "-"`)
/// stays a value. A relative path is taken from the file's directory, as the file's author
/// sees it, not from wherever the server is started; `-` (stdout) stays as it is.
fn flag_value(key: &str, arg: &Arg, value: &str, base: &Path) -> OsString {
    let mut argument = OsString::from(format!("--{key}="));
    let path = Path::new(value);
    if arg.get_value_parser().type_id() == TypeId::of::<PathBuf>()
        && value != "-"
        && path.is_relative()
    {
        argument.push(base.join(path));
    } else {
        argument.push(value);
    }
    argument
}

/// Parses one `--key=value` with the command's own parsers; the parser's message if the value
/// is refused. Errors about other flags (a flag this one requires, one the environment sets
/// that this one conflicts with) are left for the whole command line.
fn check_value(command: &Command, argument: &OsString) -> Result<(), String> {
    use clap::error::ErrorKind;
    let probe = command.clone().no_binary_name(true);
    match probe.try_get_matches_from([argument]) {
        Ok(_) => Ok(()),
        Err(error) => match error.kind() {
            ErrorKind::InvalidValue
            | ErrorKind::ValueValidation
            | ErrorKind::InvalidUtf8
            | ErrorKind::TooManyValues
            | ErrorKind::TooFewValues
            | ErrorKind::WrongNumberOfValues
            | ErrorKind::NoEquals => Err(clap_message(&error)),
            _ => Ok(()),
        },
    }
}

/// clap's message for `error` without its `error: ` prefix and what follows its first blank
/// line (the usage, which lists the file's flags as if typed, and the pointer to `--help`).
pub(crate) fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let message = rendered.split("\n\n").next().unwrap_or_default().trim_end();
    message
        .strip_prefix("error: ")
        .unwrap_or(message)
        .to_owned()
}

/// `; did you mean `grpc-port`?` for a near miss (snake case included), else where the keys
/// are listed.
fn hint<'a>(command: &str, key: &str, known: impl Iterator<Item = &'a str> + Clone) -> String {
    let dashed = key.replace('_', "-");
    if known.clone().any(|flag| flag == dashed) {
        return format!("; did you mean `{dashed}`? The keys are the flags' names, with dashes");
    }
    let best = known
        .map(|flag| (strsim::jaro_winkler(&dashed, flag), flag))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((score, flag)) if score >= 0.85 => format!("; did you mean `{flag}`?"),
        _ => {
            format!("; the keys are the flags of `verdict {command} --help`, without their dashes")
        }
    }
}

/// The settings in `matches` (the command line, the environment, the file and the defaults
/// together) as a config file that gives the same settings: what `--print-config` shows.
/// The defaults follow as comments, so that reading the output back sets only what was set
/// (a default set explicitly can trip a rule such as `--log-sample` needing
/// `--log-requests`). Values whose flag hides them (the token) are named but not shown.
pub(crate) fn render(command: &Command, matches: &ArgMatches) -> String {
    let mut set = format!(
        "# The settings of `verdict {}` from the command line, the environment and the config\n\
         # file, in the config file's format; the defaults follow as comments.\n",
        command.get_name()
    );
    let mut defaults = String::from("\n# Defaults:\n");
    for arg in command.get_arguments().filter(|arg| settable(arg)) {
        let id = arg.get_id().as_str();
        let (Some(key), Some(raw)) = (arg.get_long(), matches.get_raw(id)) else {
            continue;
        };
        let values: Vec<String> = raw
            .map(|value| toml_value(arg, &value.to_string_lossy()))
            .collect();
        if values.is_empty() {
            continue;
        }
        let (out, prefix) = match matches.value_source(id) {
            Some(ValueSource::DefaultValue) => (&mut defaults, "# "),
            _ => (&mut set, ""),
        };
        if arg.is_hide_env_values_set() {
            out.push_str(&format!("# {key} = (set, not shown)\n"));
        } else if matches!(arg.get_action(), ArgAction::Append) {
            out.push_str(&format!("{prefix}{key} = [{}]\n", values.join(", ")));
        } else {
            out.push_str(&format!("{prefix}{key} = {}\n", values.join(", ")));
        }
    }
    set + &defaults
}

/// One flag value as TOML: a switch as a boolean, a number as a number, anything else as a
/// string (escaped as JSON escapes it, which TOML's basic strings read the same).
fn toml_value(arg: &Arg, text: &str) -> String {
    let textual = [TypeId::of::<String>(), TypeId::of::<PathBuf>()];
    let parser = arg.get_value_parser().type_id();
    let number = !textual.iter().any(|id| parser == *id)
        && (text.parse::<i64>().is_ok() || text.parse::<f64>().is_ok_and(f64::is_finite));
    if matches!(arg.get_action(), ArgAction::SetTrue) || number {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}
