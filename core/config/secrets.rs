//! Secrets kept out of the TOML: any key of a system's `settings` may instead be given as
//! `<key>_file = "path"` (the file's content, relative to the TOML file) or
//! `<key>_env = "VARIABLE"` (an environment variable of the process). The configuration can
//! then be shared, versioned and shown on the admin page while tokens and passwords live in
//! files readable only by the service account, or in the container's secrets.

use std::io::Read;
use std::path::Path;

/// A secret file larger than this is a mistake (a certificate bundle, a log), not a token.
const MAX_SECRET: u64 = 64 * 1024;

const FILE_SUFFIX: &str = "_file";
const ENV_SUFFIX: &str = "_env";

/// One key that could not be resolved: the field as written, and why (never the value).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SecretProblem {
    pub(super) field: String,
    pub(super) message: String,
}

/// `settings` with every `<key>_file`/`<key>_env` replaced by `<key>` and its secret.
/// `base` is the folder of the TOML file; `env` looks a variable up.
pub(super) fn resolve(
    settings: &toml::Table,
    base: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> (toml::Table, Vec<SecretProblem>) {
    let mut out = toml::Table::new();
    let mut problems = Vec::new();
    let mut fail = |field: &str, message: String| {
        problems.push(SecretProblem {
            field: field.to_owned(),
            message,
        })
    };
    for (key, value) in settings {
        let (stem, source) = match (key.strip_suffix(FILE_SUFFIX), key.strip_suffix(ENV_SUFFIX)) {
            (Some(stem), _) if !stem.is_empty() => (stem, Source::File),
            (_, Some(stem)) if !stem.is_empty() => (stem, Source::Env),
            _ => {
                out.insert(key.clone(), value.clone());
                continue;
            }
        };
        let field = format!("settings.{key}");
        if settings.contains_key(stem) {
            fail(
                &field,
                format!("'{stem}' is given as well; give the secret one way only"),
            );
            continue;
        }
        let Some(reference) = value.as_str().map(str::trim).filter(|r| !r.is_empty()) else {
            fail(&field, "must be a non-empty string".into());
            continue;
        };
        let secret = match source {
            Source::File => read_secret_file(&base.join(reference)),
            Source::Env => env(reference)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("the environment variable {reference} is not set")),
        };
        match secret {
            Ok(secret) => {
                out.insert(stem.to_owned(), toml::Value::String(secret));
            }
            Err(message) => fail(&field, message),
        }
    }
    (out, problems)
}

enum Source {
    File,
    Env,
}

/// A secret file's content without the trailing newline editors add. The message names the
/// file, never its content.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_SECRET {
        return Err(format!(
            "{} is larger than {} KiB: not a secret",
            path.display(),
            MAX_SECRET / 1024
        ));
    }
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))?;
    let text = text.trim_end_matches(['\r', '\n']);
    if text.trim().is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn file_and_env_keys_become_the_key_they_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret-token\n").unwrap();
        let (out, problems) = resolve(
            &table("token_file = \"token\"\npassword_env = \"PW\"\nbase_url = \"http://x\""),
            dir.path(),
            |name| (name == "PW").then(|| "hunter2hunter2".to_owned()),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(out["token"].as_str(), Some("s3cret-token"));
        assert_eq!(out["password"].as_str(), Some("hunter2hunter2"));
        assert_eq!(out["base_url"].as_str(), Some("http://x"));
        assert!(!out.contains_key("token_file"));
    }

    #[test]
    fn a_missing_file_an_unset_variable_and_a_double_key_are_named_without_values() {
        let dir = tempfile::tempdir().unwrap();
        let (_, problems) = resolve(
            &table(
                "token_file = \"absent\"\npassword_env = \"UNSET\"\nkey = \"inline\"\nkey_file = \"k\"\nx_file = 3",
            ),
            dir.path(),
            |_| None,
        );
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "settings.key_file",
                "settings.password_env",
                "settings.token_file",
                "settings.x_file"
            ]
        );
        assert!(problems[0].message.contains("given as well"));
        assert!(problems[1].message.contains("UNSET is not set"));
        assert!(problems[2].message.contains("cannot read"));
        assert!(!problems.iter().any(|p| p.message.contains("inline")));
    }

    #[test]
    fn a_large_file_is_not_taken_for_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), vec![b'a'; 70_000]).unwrap();
        let err = read_secret_file(&dir.path().join("big")).unwrap_err();
        assert!(err.contains("larger than 64 KiB"), "{err}");
    }
}
