//! What a packager reads before anything is built: the licence file matches the manifest, the
//! package name is not NumPack's own crates.io name while the library file names stay, and the
//! manifests that cannot be built here (the fuzz crate needs the network) name this package.

fn read(rel: &str) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::read_to_string(format!("{root}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The value of `key = "..."` in the `[section]` of a TOML file (flat sections only).
fn toml_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == format!("[{section}]");
        } else if in_section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

#[test]
fn licence_file_matches_the_manifest() {
    assert_eq!(env!("CARGO_PKG_LICENSE"), "MIT");
    let licence = read("LICENSE");
    assert!(
        licence.starts_with("MIT License\n"),
        "LICENSE is not the MIT text"
    );
    assert!(licence.contains("Copyright (c) 2026 libnumpack contributors"));
    assert!(licence.contains("THE SOFTWARE IS PROVIDED \"AS IS\""));
}

#[test]
fn package_name_differs_from_numpacks_crate_but_library_names_stay() {
    // `numpack` on crates.io is NumPack itself.
    assert_eq!(env!("CARGO_PKG_NAME"), "libnumpack");
    let cargo = read("Cargo.toml");
    // [lib] name gives libnumpack.so / libnumpack.a and the `numpack::` paths of the tests.
    assert_eq!(
        toml_value(&cargo, "lib", "name").as_deref(),
        Some("\"numpack\"")
    );
    let fuzz = read("fuzz/Cargo.toml");
    let dep = toml_value(&fuzz, "dependencies", "numpack").expect("fuzz depends on the library");
    assert!(
        dep.contains(&format!("package = \"{}\"", env!("CARGO_PKG_NAME")))
            && dep.contains("path = \"..\""),
        "fuzz/Cargo.toml: numpack = {dep}"
    );
    let lock = read("fuzz/Cargo.lock");
    assert!(lock.contains(&format!(
        "[[package]]\nname = \"{}\"\nversion = \"{}\"\n",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    )));
    assert!(
        !lock.contains("name = \"numpack\"\n"),
        "fuzz/Cargo.lock names the old package"
    );
}
