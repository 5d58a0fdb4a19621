//! IP address identifiers (RFC 8738) against pebble, which validates them
//! over http-01 at the address itself: a router's certificate for its name
//! and its address, and one for an address alone.

use serde_json::json;

use crate::support::{openssl, Site};

#[test]
fn certificates_name_ip_addresses_validated_over_http01() {
    let certs = json!({
        "ip.example.test": {"alt_names": {"example.test": ["ip"], "127.0.0.1": ["@"]}},
        "127.0.0.1": {"key_types": ["ecdsa"]}
    });
    let site = Site::new("ip-identifiers", certs);
    let run = site.run(&["--accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    let san =
        |file: &str| openssl(&["x509", "-in", site.path(file).to_str().unwrap(), "-noout", "-ext", "subjectAltName"]);
    let both = san("ssl/certs/ip.example.test.rsa.pem");
    assert!(both.contains("DNS:ip.example.test") && both.contains("IP Address:127.0.0.1"), "{both}");
    let subject = openssl(&[
        "x509",
        "-in",
        site.path("ssl/certs/ip.example.test.rsa.pem").to_str().unwrap(),
        "-noout",
        "-subject",
    ]);
    assert!(subject.contains("ip.example.test"), "the common name is the DNS name: {subject}");
    let only = san("ssl/certs/127.0.0.1.ecdsa.pem");
    assert!(only.contains("IP Address:127.0.0.1") && !only.contains("DNS:"), "{only}");
    // The order named the address as an `ip` identifier.
    let orders = site.events_of("order_created");
    assert!(orders.iter().any(|o| o["names"] == json!(["127.0.0.1"])), "{orders:?}");
    // Nothing due: no reissue loop over the address.
    let run = site.run(&[]);
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""), "{run:?}");
}

#[test]
fn an_ip_address_without_an_http_challenge_directory_is_a_clear_error() {
    let certs = json!({"127.0.0.1": {"key_types": ["ecdsa"]}});
    let site = Site::new("ip-no-http", certs.clone());
    let mut c = site.config(certs);
    c["directories"]["http_challenge"] = serde_json::Value::Null;
    site.write_config_value(&c);
    let run = site.run(&["--accept"]);
    // The authorization's error (9), then the order's (8): the last one wins.
    assert_eq!(run.code, 8, "{run:?}");
    assert!(run.stderr.contains("127.0.0.1") && run.stderr.contains("only be validated over http-01"), "{run:?}");
}
