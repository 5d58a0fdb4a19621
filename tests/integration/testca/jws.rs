//! JWK / JWS (RFC 7515, 7517, 7638) for the test server, plus a signer for
//! the test client. Only RS256, ES256 and ES384 are supported.

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use serde_json::{json, Value};

use super::{b64, unb64};

pub const ALGS: [&str; 3] = ["RS256", "ES256", "ES384"];

/// A public key from a JWK, as the raw bytes that also appear in an X.509
/// SubjectPublicKeyInfo bit string (PKCS#1 RSAPublicKey, or an uncompressed point).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PubKey {
    Rsa(Vec<u8>),
    P256(Vec<u8>),
    P384(Vec<u8>),
}

impl PubKey {
    pub fn from_jwk(jwk: &Value) -> Result<PubKey, String> {
        let field = |k: &str| -> Result<Vec<u8>, String> {
            jwk.get(k).and_then(Value::as_str).and_then(unb64).ok_or(format!("JWK lacks a valid {k:?}"))
        };
        match jwk.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let (n, e) = (field("n")?, field("e")?);
                if n.len() < 256 || n[0] == 0 {
                    return Err("RSA key too small (or n not minimal)".into());
                }
                Ok(PubKey::Rsa(der_seq(&[der_uint(&n), der_uint(&e)].concat())))
            }
            Some("EC") => {
                let (x, y) = (field("x")?, field("y")?);
                let point = [&[4u8][..], &x, &y].concat();
                match (jwk.get("crv").and_then(Value::as_str), x.len(), y.len()) {
                    (Some("P-256"), 32, 32) => Ok(PubKey::P256(point)),
                    (Some("P-384"), 48, 48) => Ok(PubKey::P384(point)),
                    _ => Err("unsupported EC curve or bad coordinates".into()),
                }
            }
            other => Err(format!("unsupported JWK kty {other:?}")),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            PubKey::Rsa(b) | PubKey::P256(b) | PubKey::P384(b) => b,
        }
    }

    /// The JWS alg this key signs with.
    pub fn alg(&self) -> &'static str {
        match self {
            PubKey::Rsa(_) => "RS256",
            PubKey::P256(_) => "ES256",
            PubKey::P384(_) => "ES384",
        }
    }

    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let alg: &'static dyn signature::VerificationAlgorithm = match self {
            PubKey::Rsa(_) => &signature::RSA_PKCS1_2048_8192_SHA256,
            PubKey::P256(_) => &signature::ECDSA_P256_SHA256_FIXED,
            PubKey::P384(_) => &signature::ECDSA_P384_SHA384_FIXED,
        };
        UnparsedPublicKey::new(alg, self.bytes()).verify(msg, sig).is_ok()
    }
}

/// RFC 7638 thumbprint (SHA-256, base64url) of a JWK.
pub fn thumbprint(jwk: &Value) -> Result<String, String> {
    let s = |k: &str| jwk.get(k).and_then(Value::as_str).ok_or(format!("JWK lacks {k:?}"));
    // Members in lexicographic order, no whitespace.
    let canonical = match s("kty")? {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e")?, s("n")?),
        "EC" => format!(r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#, s("crv")?, s("x")?, s("y")?),
        k => return Err(format!("unsupported kty {k}")),
    };
    Ok(b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref()))
}

fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=127 => vec![n as u8],
        128..=255 => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

fn der_uint(v: &[u8]) -> Vec<u8> {
    let mut v: &[u8] = v;
    while v.len() > 1 && v[0] == 0 {
        v = &v[1..];
    }
    let pad = !v.is_empty() && v[0] & 0x80 != 0;
    let content = [if pad { &[0u8][..] } else { &[][..] }, v].concat();
    [vec![0x02], der_len(content.len()), content].concat()
}

fn der_seq(content: &[u8]) -> Vec<u8> {
    [vec![0x30], der_len(content.len()), content.to_vec()].concat()
}

/// The pieces of a flattened JWS, decoded but not yet verified.
pub struct Jws {
    pub header: Value,
    pub payload: Vec<u8>,
    pub signing_input: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Jws {
    pub fn parse(body: &Value) -> Result<Jws, String> {
        let part = |k: &str| body.get(k).and_then(Value::as_str).ok_or(format!("JWS lacks {k:?}"));
        if body.get("signatures").is_some() || body.get("header").is_some() {
            return Err("only the flattened JWS serialization with a protected header is accepted".into());
        }
        let (p, pl, sig) = (part("protected")?, part("payload")?, part("signature")?);
        let header: Value = unb64(p)
            .and_then(|h| serde_json::from_slice(&h).ok())
            .filter(Value::is_object)
            .ok_or("protected header is not base64url JSON")?;
        Ok(Jws {
            header,
            payload: unb64(pl).ok_or("payload is not base64url")?,
            signing_input: format!("{p}.{pl}").into_bytes(),
            signature: unb64(sig).ok_or("signature is not base64url")?,
        })
    }

    pub fn h(&self, k: &str) -> Option<&str> {
        self.header.get(k).and_then(Value::as_str)
    }
}

// ---- client side (used by the tests' own minimal client) ----

pub enum Signer {
    Ec(aws_lc_rs::signature::EcdsaKeyPair),
    Rsa(aws_lc_rs::rsa::KeyPair),
}

impl Signer {
    pub fn p256() -> Signer {
        Signer::Ec(signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    pub fn p384() -> Signer {
        Signer::Ec(signature::EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap())
    }
    pub fn rsa() -> Signer {
        Signer::Rsa(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
    }
    /// A P-256 signer from PKCS#8 (e.g. a certificate key, for revocation by key).
    pub fn p256_pkcs8(der: &[u8]) -> Signer {
        Signer::Ec(signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).unwrap())
    }

    pub fn jwk(&self) -> Value {
        use signature::KeyPair;
        match self {
            Signer::Ec(k) => {
                let p = k.public_key().as_ref();
                let n = (p.len() - 1) / 2;
                let crv = if n == 32 { "P-256" } else { "P-384" };
                json!({"crv": crv, "kty": "EC", "x": b64(&p[1..1 + n]), "y": b64(&p[1 + n..])})
            }
            Signer::Rsa(k) => {
                let c = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public_key());
                json!({"e": b64(&c.e), "kty": "RSA", "n": b64(&c.n)})
            }
        }
    }

    pub fn alg(&self) -> &'static str {
        PubKey::from_jwk(&self.jwk()).unwrap().alg()
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Signer::Ec(k) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig).unwrap();
                sig
            }
        }
    }

    /// Flattened JWS; `kid` None puts the JWK in the header; `nonce` None omits it.
    pub fn jws(&self, url: &str, nonce: Option<&str>, kid: Option<&str>, payload: &[u8]) -> Value {
        let mut h = json!({"alg": self.alg(), "url": url});
        match kid {
            Some(kid) => h["kid"] = json!(kid),
            None => h["jwk"] = self.jwk(),
        }
        if let Some(n) = nonce {
            h["nonce"] = json!(n);
        }
        let (p, pl) = (b64(h.to_string().as_bytes()), b64(payload));
        let sig = self.sign(format!("{p}.{pl}").as_bytes());
        json!({"protected": p, "payload": pl, "signature": b64(&sig)})
    }
}
