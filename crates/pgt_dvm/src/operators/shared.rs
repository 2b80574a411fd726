//! **Shared** subtree: a non-recursive CTE referenced one or more times.
//!
//! `Δ(shared(A)) = ΔA`, computed **once** per refresh and referenced by every use; its
//! current state is likewise one CTE.
//!
//! **SQL:** the first use emits the CTEs; later uses reuse their names.

use std::rc::Rc;

use super::{col_list, DeltaContext, Operator};
use crate::optree::{Column, OpTree};
use crate::DvmError;

#[derive(Clone)]
pub struct Shared {
    pub id: usize,
    pub input: Rc<OpTree>,
}

/// Without the id: a frontend may number shared subtrees by address, which differs from
/// one translation of the same query to the next, and a stored grouping's signature
/// (`state.rs`) is a hash of its subtree's Debug form.
impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("input", &self.input)
            .finish()
    }
}

impl Operator for Shared {
    fn name(&self) -> &'static str {
        "Shared"
    }

    fn quiet_sources(&self, cx: &DeltaContext<'_>) -> Option<Vec<u32>> {
        self.input.rule().quiet_sources(cx)
    }

    fn columns(&self) -> Vec<Column> {
        self.input.columns()
    }

    fn delta(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if let Some((Some(d), _)) = cx.shared.get(&self.id) {
            return Ok(d.clone());
        }
        let d = self.input.rule().delta(cx)?;
        cx.shared.entry(self.id).or_insert((None, None)).0 = Some(d.clone());
        Ok(d)
    }

    fn unique_key(&self) -> Option<Vec<usize>> {
        self.input.rule().unique_key()
    }

    fn current(&self, cx: &mut DeltaContext<'_>) -> Result<String, DvmError> {
        if cx.old_state {
            let name = match cx.shared_old.get(&self.id) {
                Some(n) => n.clone(),
                None => {
                    let sql = self.input.rule().current(cx)?;
                    let n = cx.add_cte("shared_old", sql);
                    cx.shared_old.insert(self.id, n.clone());
                    n
                }
            };
            return Ok(format!(
                "SELECT {} FROM {name}",
                col_list(self.columns().len(), None)
            ));
        }
        if let Some((_, Some(c))) = cx.shared.get(&self.id) {
            return Ok(format!(
                "SELECT {} FROM {c}",
                col_list(self.columns().len(), None)
            ));
        }
        let sql = self.input.rule().current(cx)?;
        let name = cx.add_cte("shared_current", sql);
        cx.shared.entry(self.id).or_insert((None, None)).1 = Some(name.clone());
        Ok(format!(
            "SELECT {} FROM {name}",
            col_list(self.columns().len(), None)
        ))
    }
}
