//! Records when the binary was built (`ACMEBOT_BUILD_TIME`, Unix seconds): a
//! run whose clock is earlier (a router without a real-time clock, before
//! NTP) knows its clock is wrong and changes nothing. `SOURCE_DATE_EPOCH`
//! (reproducible builds) is used when set.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let secs =
        std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
        });
    println!("cargo:rustc-env=ACMEBOT_BUILD_TIME={secs}");
}
