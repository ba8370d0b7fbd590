//! The store's attribute calls: reads from the current snapshot, writes as one commit each
//! (the attributes file staged with the catalogue, see `publish`).

use std::sync::Arc;

use super::checks::check_name;
use super::Store;
use crate::attrs::{Attributes, Value};
use crate::error::{Error, Result};

impl Store {
    /// The value of attribute `key` of `array` (None: of the store).
    pub fn attr_get(&self, array: Option<&str>, key: &str) -> Result<Value> {
        let snap = self.snapshot();
        check_owner(&snap.arrays, array)?;
        snap.attrs.get(array, key).cloned()
    }

    /// The keys of `array`'s attributes (None: the store's), sorted.
    pub fn attr_keys(&self, array: Option<&str>) -> Result<Vec<String>> {
        let snap = self.snapshot();
        check_owner(&snap.arrays, array)?;
        snap.attrs.keys(array)
    }

    /// Sets (creates or replaces) one attribute, in one atomic commit.
    pub fn attr_set(&self, array: Option<&str>, key: &str, value: Value) -> Result<()> {
        self.attr_change("attr_set", array, |a| a.set(array, key, value))
    }

    /// Deletes one attribute (NotFound if it does not exist), in one atomic commit.
    pub fn attr_delete(&self, array: Option<&str>, key: &str) -> Result<()> {
        self.attr_change("attr_delete", array, |a| a.delete(array, key))
    }

    /// NotFound unless `array` is None (the store) or an array of the current state.
    pub(crate) fn check_attr_owner(&self, array: Option<&str>) -> Result<()> {
        check_owner(&self.snapshot().arrays, array)
    }

    fn attr_change(
        &self,
        call: &str,
        array: Option<&str>,
        change: impl FnOnce(&mut Attributes) -> Result<()>,
    ) -> Result<()> {
        let w = self.structural_writer(call)?;
        let current = self.snapshot();
        check_owner(&current.arrays, array)?;
        let mut next = (*current).clone();
        let mut attrs = (*current.attrs).clone();
        change(&mut attrs)?;
        next.attrs = Arc::new(attrs);
        self.commit(&w, self.txn(), next)
    }
}

fn check_owner(arrays: &super::arraymap::ArrayMap, array: Option<&str>) -> Result<()> {
    if let Some(a) = array {
        check_name(a)?;
        if !arrays.contains_key(a) {
            return Err(Error::not_found(a));
        }
    }
    Ok(())
}
