//! One generation per run, for `bench/params` (which times whole runs side by
//! side with `openssl dhparam` and `openssl genrsa`):
//!
//! ```text
//! cargo build --release --example params_bench
//! target/release/examples/params_bench dh 2048 [FILE]   # DH parameters (PEM to FILE when given)
//! target/release/examples/params_bench rsa 4096         # an RSA key, thrown away
//! ```
//!
//! DH: `acmebot::crypto::params::generate_dh_params` (a sieved safe-prime
//! search over aws-lc's big numbers, on every core the process may use:
//! `taskset -c 0` makes it one). RSA: `PrivateKey::generate_rsa` (aws-lc-rs,
//! aws-lc's RSA key generation).

use std::process::ExitCode;

use acmebot::crypto::params::generate_dh_params;
use acmebot::crypto::PrivateKey;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bits = args.get(1).and_then(|b| b.parse::<u32>().ok());
    let result = match (args.first().map(String::as_str), bits) {
        (Some("dh"), Some(bits)) => {
            let (start, mut tested) = (std::time::Instant::now(), 0);
            let pem = generate_dh_params(bits, &mut |n| tested = n, &|| false);
            eprintln!("dh {bits}: {tested} candidates tested in {:.3} s", start.elapsed().as_secs_f64());
            pem.map_err(|e| e.to_string()).and_then(|pem| match args.get(2) {
                Some(file) => std::fs::write(file, pem).map_err(|e| format!("{file}: {e}")),
                None => Ok(()),
            })
        }
        (Some("rsa"), Some(bits)) => PrivateKey::generate_rsa(bits).map(drop).map_err(|e| e.to_string()),
        _ => {
            eprintln!("usage: params_bench dh BITS [FILE] | params_bench rsa BITS");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("params_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
