//! Three-way values and their trivial resolution, after jj's `Merge<T>`.
//!
//! A `Merge` holds one value per side: what the Markdown says, what both sides agreed on last time (the base),
//! and what Anki says. Absence is `None`, so creations and deletions are ordinary merges.

/// One value per side of a three-way merge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Merge<T> {
    pub markdown: T,
    pub base: T,
    pub anki: T,
}

impl<T: PartialEq + Clone> Merge<T> {
    pub fn new(markdown: T, base: T, anki: T) -> Merge<T> {
        Merge { markdown, base, anki }
    }

    /// Resolves the merge when that needs no judgement: both sides agree, or only one side changed.
    /// `None` means both sides changed, differently: a conflict.
    pub fn trivial(&self) -> Option<&T> {
        if self.markdown == self.anki || self.anki == self.base {
            Some(&self.markdown)
        } else if self.markdown == self.base {
            Some(&self.anki)
        } else {
            None
        }
    }

    /// Which sides changed relative to the base.
    pub fn changed(&self) -> Sides {
        Sides { markdown: self.markdown != self.base, anki: self.anki != self.base }
    }

    /// Applies `f` to every side.
    pub fn map<U>(&self, f: impl Fn(&T) -> U) -> Merge<U> {
        Merge { markdown: f(&self.markdown), base: f(&self.base), anki: f(&self.anki) }
    }
}

/// Which sides of a merge differ from the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    pub markdown: bool,
    pub anki: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_merge_rules() {
        // Nobody changed anything.
        assert_eq!(Merge::new(1, 1, 1).trivial(), Some(&1));
        // One side changed.
        assert_eq!(Merge::new(2, 1, 1).trivial(), Some(&2));
        assert_eq!(Merge::new(1, 1, 3).trivial(), Some(&3));
        // Both made the same change.
        assert_eq!(Merge::new(2, 1, 2).trivial(), Some(&2));
        // Both changed, differently.
        assert_eq!(Merge::new(2, 1, 3).trivial(), None);
    }

    #[test]
    fn absence_is_a_value() {
        // Created on one side.
        assert_eq!(Merge::new(Some(1), None, None).trivial(), Some(&Some(1)));
        // Deleted on one side.
        assert_eq!(Merge::new(Some(1), Some(1), None).trivial(), Some(&None));
        // Deleted on one side, edited on the other.
        assert_eq!(Merge::new(None, Some(1), Some(2)).trivial(), None);
        // Created on both sides, differently.
        assert_eq!(Merge::new(Some(1), None, Some(2)).trivial(), None);
    }
}
