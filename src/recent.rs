//! A few values derived from long texts, remembered by the text, most recently used first. A
//! program repeats its system message word for word in every call; the work done on it per call
//! (escaping it into a request body, hashing it for the store) is done once and looked up after.

/// Up to `capacity` (text, value) pairs, most recently used first.
pub struct Recent<T> {
    entries: Vec<(String, T)>,
    capacity: usize,
}

impl<T> Recent<T> {
    pub const fn new(capacity: usize) -> Recent<T> {
        Recent {
            entries: Vec::new(),
            capacity,
        }
    }

    /// The value remembered for `text`, or `make`'s (then remembered, the least recently used
    /// entry making room); either way it becomes the most recent.
    pub fn get_or_try_insert<E>(
        &mut self,
        text: &str,
        make: impl FnOnce() -> Result<T, E>,
    ) -> Result<&T, E> {
        match self.entries.iter().position(|(known, _)| known == text) {
            Some(0) => {}
            Some(index) => {
                let entry = self.entries.remove(index);
                self.entries.insert(0, entry);
            }
            None => {
                let value = make()?;
                self.entries.truncate(self.capacity.saturating_sub(1));
                self.entries.insert(0, (text.to_owned(), value));
            }
        }
        Ok(&self.entries[0].1)
    }

    /// [`Recent::get_or_try_insert`] for a `make` that cannot fail.
    pub fn get_or_insert_with(&mut self, text: &str, make: impl FnOnce() -> T) -> &T {
        match self.get_or_try_insert(text, || Ok::<T, std::convert::Infallible>(make())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_with_their_texts_and_the_oldest_make_room() {
        let mut recent = Recent::new(2);
        let mut made = Vec::new();
        let mut get = |recent: &mut Recent<usize>, text: &str| -> usize {
            *recent
                .get_or_try_insert(text, || {
                    made.push(text.to_owned());
                    Ok::<_, ()>(text.len())
                })
                .expect("infallible")
        };
        assert_eq!(get(&mut recent, "a"), 1);
        assert_eq!(get(&mut recent, "bb"), 2);
        assert_eq!(get(&mut recent, "a"), 1);
        // "bb" is now the least recently used and makes room for "ccc".
        assert_eq!(get(&mut recent, "ccc"), 3);
        assert_eq!(get(&mut recent, "a"), 1);
        assert_eq!(get(&mut recent, "bb"), 2);
        assert_eq!(made, ["a", "bb", "ccc", "bb"]);
        let failed: Result<&usize, &str> = recent.get_or_try_insert("dddd", || Err("no"));
        assert_eq!(failed, Err("no"));
        assert_eq!(recent.get_or_try_insert("bb", || Err("no")), Ok(&2));
    }
}
