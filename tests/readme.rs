//! The README shows example files verbatim: every block tagged `<!-- file: PATH -->` must equal
//! that file, so the code a newcomer copies is the code the tests run.

#[test]
fn readme_blocks_match_their_files() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut checked = 0;
    let mut rest = readme.as_str();
    while let Some(at) = rest.find("<!-- file: ") {
        let tag = &rest[at + 11..];
        let path = &tag[..tag.find(" -->").expect("tag closes")];
        let fence = tag.find("```").expect("a code block follows the tag");
        let body_start = fence + tag[fence..].find('\n').unwrap() + 1;
        let body_end = body_start + tag[body_start..].find("```").expect("block closes");
        let block = &tag[body_start..body_end];
        let file = std::fs::read_to_string(format!("{root}/{path}"))
            .unwrap_or_else(|e| panic!("README names {path}: {e}"));
        assert_eq!(block, file, "README block for {path} differs from the file");
        checked += 1;
        rest = &tag[body_end..];
    }
    assert!(
        checked >= 7,
        "expected the C, C++, Fortran, Julia, Python and MPI (C and Python) examples, found {checked}"
    );
}
