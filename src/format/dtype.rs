//! NumPack's dtype codes. The numeric values are part of the file format and of the C ABI.

/// Element type of a stored array, with NumPack's on-disk code as the discriminant.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    Bool = 0,
    U8 = 1,
    U16 = 2,
    U32 = 3,
    U64 = 4,
    I8 = 5,
    I16 = 6,
    I32 = 7,
    I64 = 8,
    F16 = 9,
    F32 = 10,
    F64 = 11,
    Complex64 = 12,
    Complex128 = 13,
}

impl DType {
    /// Indexed by code, so `ALL[c]` is the dtype with code `c`.
    pub const ALL: [DType; 14] = [
        DType::Bool,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::F16,
        DType::F32,
        DType::F64,
        DType::Complex64,
        DType::Complex128,
    ];

    /// `None` for codes NumPack does not define; NumPack itself silently maps those to int32,
    /// which would misread the data, so callers treat `None` as corruption.
    pub fn from_code(code: u8) -> Option<DType> {
        DType::ALL.get(usize::from(code)).copied()
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// Item size in bytes (bool is stored as one byte, 0 or 1).
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 | DType::Complex64 => 8,
            DType::Complex128 => 16,
        }
    }

    /// NumPy's name for the type, so messages read the way Python users know them.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::Complex64 => "complex64",
            DType::Complex128 => "complex128",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_match_table_order() {
        for (i, dt) in DType::ALL.iter().enumerate() {
            assert_eq!(usize::from(dt.code()), i);
            assert_eq!(DType::from_code(dt.code()), Some(*dt));
        }
    }

    #[test]
    fn unknown_codes_rejected() {
        for code in 14..=255u8 {
            assert_eq!(DType::from_code(code), None, "code {code}");
        }
    }

    #[test]
    fn sizes_match_numpack() {
        let sizes: Vec<usize> = DType::ALL.iter().map(|d| d.size()).collect();
        assert_eq!(sizes, [1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 8, 16]);
    }

    #[test]
    fn names_match_numpy() {
        let names: Vec<&str> = DType::ALL.iter().map(|d| d.name()).collect();
        assert_eq!(
            names,
            [
                "bool",
                "uint8",
                "uint16",
                "uint32",
                "uint64",
                "int8",
                "int16",
                "int32",
                "int64",
                "float16",
                "float32",
                "float64",
                "complex64",
                "complex128"
            ]
        );
        assert_eq!(DType::Complex64.to_string(), "complex64");
    }
}
