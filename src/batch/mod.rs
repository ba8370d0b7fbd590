//! The two batch contexts (see batch-modes issue).
