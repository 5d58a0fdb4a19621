//! Records when the binary was built (`ACMEBOT_BUILD_TIME`, Unix seconds): a
//! run whose clock is earlier (a router without a real-time clock, before
//! NTP) knows its clock is wrong and changes nothing. `SOURCE_DATE_EPOCH`
//! (reproducible builds) is used when set.
//!
//! Also encodes the Public Suffix List, `vendor/public_suffix_list.dat`, into
//! the compact table that `src/psl.rs` embeds (`$OUT_DIR/public_suffix_list.bin`,
//! with the list's `VERSION` line as `ACMEBOT_PSL_VERSION`), by the same code
//! that reads a list file at run time (`src/psl/table.rs`).

#[allow(dead_code)]
#[path = "src/psl/table.rs"]
mod psl_table;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let secs =
        std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
        });
    println!("cargo:rustc-env=ACMEBOT_BUILD_TIME={secs}");
    public_suffix_list();
}

fn public_suffix_list() {
    const LIST: &str = "vendor/public_suffix_list.dat";
    println!("cargo:rerun-if-changed={LIST}");
    println!("cargo:rerun-if-changed=src/psl/table.rs");
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(LIST)).unwrap_or_else(|e| panic!("{LIST}: {e}"));
    let table = psl_table::encode(&text).unwrap_or_else(|| panic!("{LIST}: no rules"));
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("// VERSION:"))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("unknown");
    println!("cargo:rustc-env=ACMEBOT_PSL_VERSION={version}");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("public_suffix_list.bin"), table).expect("writing the Public Suffix List table");
}
