//! The committed header must be exactly what cbindgen generates from the sources.
//! `NPK_BLESS=1 cargo test --test header` rewrites it.

#[test]
fn header_matches_cbindgen_output() {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let path = format!("{crate_dir}/include/numpack.h");
    if std::env::var_os("NPK_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/numpack.h is stale: run `NPK_BLESS=1 cargo test --test header` and commit it"
    );
}
