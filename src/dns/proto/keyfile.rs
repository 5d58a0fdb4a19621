//! TSIG key files in the two formats users have:
//!
//! * `dnssec-keygen` pairs (`K<name>.+157+NNNNN.key` and `.private`): the
//!   `.key` holds the key name (`name. IN KEY 512 3 157 <base64>`), the
//!   `.private` the algorithm (`Algorithm: 157 (HMAC_MD5)`, 161-165 for
//!   HMAC-SHA1/224/256/384/512) and the secret (`Key: <base64>`). The
//!   configuration names the `.key` file (the `.private` beside it must exist).
//! * `tsig-keygen`/`ddns-confgen`/knot `keymgr -t` output, named.conf syntax:
//!   `key "name" { algorithm hmac-sha256; secret "<base64>"; };`, possibly
//!   several keys in one file (chosen by name, or the first).
//! * knot's `keymgr -t NAME hmac-sha256` output, YAML for knot.conf:
//!   `key:` / `  - id: NAME` / `    algorithm: hmac-sha256` / `    secret: <base64>`.
//!
//! Errors name the file and never include the secret.

use super::tsig::{Algorithm, TsigKey};
use crate::dns::DnsError;
use base64::Engine;
use std::path::{Path, PathBuf};

impl TsigKey {
    /// Loads the first key of `path` (relative paths are taken from `dir`,
    /// the `directories.update_key` setting).
    pub fn load(path: &Path, dir: &Path) -> Result<TsigKey, DnsError> {
        load_key(&dir.join(path), None)
    }

    /// Loads the key called `name` from a file with several keys.
    pub fn load_named(path: &Path, dir: &Path, name: &str) -> Result<TsigKey, DnsError> {
        load_key(&dir.join(path), Some(name))
    }
}

fn err(path: &Path, detail: impl Into<String>) -> DnsError {
    DnsError::KeyFile { path: path.to_path_buf(), detail: detail.into() }
}

fn read(path: &Path) -> Result<String, DnsError> {
    std::fs::read_to_string(path).map_err(|e| err(path, format!("cannot read: {e}")))
}

pub fn load_key(path: &Path, name: Option<&str>) -> Result<TsigKey, DnsError> {
    let is_private = path.extension().is_some_and(|e| e == "private");
    let text = read(path)?;
    if !is_private && looks_like_conf(&text) {
        return parse_conf(&text, name).map_err(|d| err(path, d));
    }
    if !is_private && looks_like_knot(&text) {
        return parse_knot(&text, name).map_err(|d| err(path, d));
    }
    // A dnssec-keygen pair: accept the `.key`, the `.private`, or the common stem.
    let (key_path, private_path) = pair_paths(path);
    let key_text = if is_private { read(&key_path).ok() } else { Some(text.clone()) };
    let private_text = if is_private {
        text
    } else {
        if !private_path.exists() {
            return Err(err(
                path,
                format!(
                    "not a key statement, and the dnssec-keygen private file {} is missing",
                    private_path.display()
                ),
            ));
        }
        read(&private_path)?
    };
    let key_name = match key_text.as_deref().and_then(key_rr_name) {
        Some(n) => n,
        None => name_from_file_name(&key_path)
            .ok_or_else(|| err(path, "cannot find the key name (no KEY record, no K<name>+... file name)"))?,
    };
    parse_private(&key_name, &private_text).map_err(|d| err(&private_path, d))
}

fn pair_paths(path: &Path) -> (PathBuf, PathBuf) {
    let s = path.to_string_lossy();
    let stem = s.strip_suffix(".key").or_else(|| s.strip_suffix(".private")).unwrap_or(&s);
    (PathBuf::from(format!("{stem}.key")), PathBuf::from(format!("{stem}.private")))
}

/// `Kupdate.example.com.+157+12345.key` → `update.example.com.`
fn name_from_file_name(key_path: &Path) -> Option<String> {
    let file = key_path.file_name()?.to_str()?;
    let rest = file.strip_prefix('K')?;
    let (name, _) = rest.split_once('+')?;
    Some(name.to_string())
}

/// The owner name of the `KEY` record in a `.key` file (comment lines start with `;`).
fn key_rr_name(text: &str) -> Option<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with(';')).find_map(|l| {
        let tokens: Vec<&str> = l.split_whitespace().collect();
        tokens.iter().any(|t| t.eq_ignore_ascii_case("KEY")).then(|| tokens[0].to_string())
    })
}

/// The `.private` file: `Algorithm: 157 (HMAC_MD5)` and `Key: <base64>`.
pub fn parse_private(key_name: &str, text: &str) -> Result<TsigKey, String> {
    let mut algorithm = None;
    let mut secret = None;
    for line in text.lines() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match field.trim().to_ascii_lowercase().as_str() {
            "algorithm" => {
                let number = value.split_whitespace().next().unwrap_or("");
                let n: u16 = number.parse().map_err(|_| format!("unreadable Algorithm line {value:?}"))?;
                algorithm = Some(
                    Algorithm::from_dnssec_number(n)
                        .ok_or_else(|| format!("algorithm {value} is not an HMAC (TSIG) algorithm"))?,
                );
            }
            "key" => {
                secret = Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(value.replace(char::is_whitespace, ""))
                        .map_err(|_| "the Key line is not valid base64".to_string())?,
                );
            }
            _ => {}
        }
    }
    let algorithm = algorithm.ok_or("no Algorithm line")?;
    let secret = secret.ok_or("no Key line")?;
    Ok(TsigKey::new(key_name, algorithm, secret))
}

fn looks_like_conf(text: &str) -> bool {
    tokenize(text)
        .map(|t| {
            t.windows(2).any(|w| w[0] == Token::Word("key".into()) && matches!(w[1], Token::Word(_) | Token::Quoted(_)))
        })
        .unwrap_or(false)
}

fn looks_like_knot(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines.contains(&"key:") && lines.iter().any(|l| l.trim_start_matches("- ").starts_with("id:"))
}

/// knot.conf `key:` section entries (`- id:`, `algorithm:`, `secret:`).
pub fn parse_knot(text: &str, wanted: Option<&str>) -> Result<TsigKey, String> {
    let mut keys: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((field, value)) = line.trim_start_matches("- ").split_once(':') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_string();
        match field.trim() {
            "id" => keys.push((value, None, None)),
            "algorithm" => {
                if let Some(k) = keys.last_mut() {
                    k.1 = Some(value)
                }
            }
            "secret" => {
                if let Some(k) = keys.last_mut() {
                    k.2 = Some(value)
                }
            }
            _ => {}
        }
    }
    finish(keys, wanted)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semi,
}

/// named.conf lexical syntax: words, quoted strings, `{ } ;`, and `#`, `//`, `/* */` comments.
fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = text[i + 2..].find("*/").ok_or("unterminated comment")?;
            i += 2 + end + 2;
        } else if c == b'"' {
            let end = text[i + 1..].find('"').ok_or("unterminated string")?;
            out.push(Token::Quoted(text[i + 1..i + 1 + end].to_string()));
            i += end + 2;
        } else if c == b'{' {
            out.push(Token::Open);
            i += 1;
        } else if c == b'}' {
            out.push(Token::Close);
            i += 1;
        } else if c == b';' {
            out.push(Token::Semi);
            i += 1;
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !b"{};\"#".contains(&b[i]) {
                i += 1;
            }
            out.push(Token::Word(text[start..i].to_string()));
        }
    }
    Ok(out)
}

/// Every `key` statement of a named.conf-syntax file, then the one wanted.
pub fn parse_conf(text: &str, wanted: Option<&str>) -> Result<TsigKey, String> {
    let tokens = tokenize(text)?;
    let mut keys: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    let mut i = 0;
    let text_of = |t: &Token| match t {
        Token::Word(s) | Token::Quoted(s) => Some(s.clone()),
        _ => None,
    };
    while i < tokens.len() {
        if tokens[i] == Token::Word("key".into()) && tokens.get(i + 2) == Some(&Token::Open) {
            let name = text_of(&tokens[i + 1]).ok_or("key statement without a name")?;
            let (mut algorithm, mut secret) = (None, None);
            i += 3;
            while i < tokens.len() && tokens[i] != Token::Close {
                let field = text_of(&tokens[i]).unwrap_or_default().to_ascii_lowercase();
                let value = tokens.get(i + 1).and_then(text_of);
                match field.as_str() {
                    "algorithm" => algorithm = value,
                    "secret" => secret = value,
                    _ => {}
                }
                while i < tokens.len() && tokens[i] != Token::Semi && tokens[i] != Token::Close {
                    i += 1;
                }
                if tokens.get(i) == Some(&Token::Semi) {
                    i += 1;
                }
            }
            keys.push((name, algorithm, secret));
        }
        i += 1;
    }
    finish(keys, wanted)
}

fn finish(keys: Vec<(String, Option<String>, Option<String>)>, wanted: Option<&str>) -> Result<TsigKey, String> {
    let same = |a: &str, b: &str| a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'));
    let (name, algorithm, secret) = match wanted {
        Some(w) => keys.into_iter().find(|k| same(&k.0, w)).ok_or_else(|| format!("no key named {w:?}"))?,
        None => keys.into_iter().next().ok_or("no key statement")?,
    };
    let algorithm = algorithm.ok_or_else(|| format!("key {name:?} has no algorithm"))?;
    let algorithm =
        Algorithm::from_name(&algorithm).ok_or_else(|| format!("key {name:?}: unsupported algorithm {algorithm:?}"))?;
    let secret = secret.ok_or_else(|| format!("key {name:?} has no secret"))?;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(secret.replace(char::is_whitespace, ""))
        .map_err(|_| format!("key {name:?}: the secret is not valid base64"))?;
    Ok(TsigKey::new(name, algorithm, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsig_keygen_output_several_keys() {
        let text = r#"
# generated
key "acme-sha256" {
	algorithm hmac-sha256;
	secret "c2VjcmV0LXNoYTI1Ni1zZWNyZXQtc2hhMjU2LXh4eHg=";
};
/* another */
key acme-md5. { algorithm HMAC-MD5; secret "bWQ1c2VjcmV0"; }; // trailing
"#;
        let k = parse_conf(text, None).unwrap();
        assert_eq!((k.name.as_str(), k.algorithm), ("acme-sha256", Algorithm::HmacSha256));
        assert_eq!(k.secret(), b"secret-sha256-secret-sha256-xxxx");
        let k = parse_conf(text, Some("acme-md5")).unwrap();
        assert_eq!((k.name.as_str(), k.algorithm, k.secret()), ("acme-md5.", Algorithm::HmacMd5, &b"md5secret"[..]));
        let e = parse_conf(text, Some("nope")).unwrap_err();
        assert!(e.contains("nope"));
    }

    #[test]
    fn knot_keymgr_output() {
        let text = "# hmac-sha256:acme:c2VjcmV0\nkey:\n  - id: acme\n    algorithm: hmac-sha256\n    secret: c2VjcmV0\n  - id: other\n    algorithm: hmac-sha512\n    secret: b3RoZXI=\n";
        assert!(!looks_like_conf(text) && looks_like_knot(text));
        let k = parse_knot(text, None).unwrap();
        assert_eq!((k.name.as_str(), k.algorithm, k.secret()), ("acme", Algorithm::HmacSha256, &b"secret"[..]));
        let k = parse_knot(text, Some("other.")).unwrap();
        assert_eq!((k.name.as_str(), k.algorithm, k.secret()), ("other", Algorithm::HmacSha512, &b"other"[..]));
        let text = "key \"acme\" { algorithm hmac-sha256; secret \"AAAA\"; };";
        assert!(looks_like_conf(text));
    }

    #[test]
    fn dnssec_keygen_pair_and_secret_never_in_errors() {
        let dir = std::env::temp_dir().join(format!("acmebot-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stem = "Kupdate.example.com.+157+12345";
        std::fs::write(
            dir.join(format!("{stem}.key")),
            "; comment\nupdate.example.com. IN KEY 512 3 157 c1NlV3JCRGVuMTIzNDU2Nw==\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{stem}.private")),
            "Private-key-format: v1.3\nAlgorithm: 157 (HMAC_MD5)\nKey: c1NlV3JCRGVuMTIzNDU2Nw==\nBits: AAA=\n",
        )
        .unwrap();
        let k = TsigKey::load(Path::new(&format!("{stem}.key")), &dir).unwrap();
        assert_eq!(
            (k.name.as_str(), k.algorithm, k.secret()),
            ("update.example.com.", Algorithm::HmacMd5, &b"sSeWrBDen1234567"[..])
        );
        let k2 = TsigKey::load(&dir.join(format!("{stem}.private")), Path::new("/nonexistent")).unwrap();
        assert_eq!(k, k2);
        // A bad algorithm: the error names the file but never the secret.
        std::fs::write(dir.join("Kbad.+008+00001.key"), "bad. IN KEY 256 3 8 AAAA\n").unwrap();
        std::fs::write(dir.join("Kbad.+008+00001.private"), "Algorithm: 8 (RSASHA256)\nKey: c3VwZXJzZWNyZXQ=\n")
            .unwrap();
        let e = TsigKey::load(Path::new("Kbad.+008+00001.key"), &dir).unwrap_err().to_string();
        assert!(
            e.contains("Kbad.+008+00001.private") && !e.contains("c3VwZXJzZWNyZXQ") && !e.contains("supersecret"),
            "{e}"
        );
        // Missing .private is a clear error.
        std::fs::write(dir.join("Klone.+157+00002.key"), "lone. IN KEY 512 3 157 AAAA\n").unwrap();
        let e = TsigKey::load(Path::new("Klone.+157+00002.key"), &dir).unwrap_err().to_string();
        assert!(e.contains("Klone.+157+00002.private"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
