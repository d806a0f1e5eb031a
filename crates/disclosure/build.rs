//! With the `clp` feature: compiles the small C interface over COIN-OR
//! Clp (`csrc/clp_shim.cpp`) and links Clp. Headers are looked for in
//! `$CLP_INCLUDE`, else Debian's `/usr/include/coin` (package
//! `coinor-libclp-dev`).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/clp_shim.cpp");
    println!("cargo:rerun-if-env-changed=CLP_INCLUDE");
    #[cfg(feature = "clp")]
    {
        let include = std::env::var("CLP_INCLUDE").unwrap_or_else(|_| "/usr/include/coin".to_string());
        cc::Build::new()
            .cpp(true)
            .file("csrc/clp_shim.cpp")
            .include(include)
            .warnings(false)
            .compile("trialink_clp_shim");
        println!("cargo:rustc-link-lib=Clp");
        println!("cargo:rustc-link-lib=CoinUtils");
    }
}
