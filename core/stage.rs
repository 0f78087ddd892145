//! What every workflow stage works with, bundled once: the store, the organisation, the
//! clock and who acts. The stages (orders, review, notices, write-backs) add only what is
//! their own, so a tick, a web handler or a command builds the context once and hands it on.

use crate::clock::Clock;
use crate::model::org::Organisation;
use crate::store::Store;

#[derive(Clone, Copy)]
pub struct Stage<'a> {
    pub store: &'a Store,
    pub org: &'a Organisation,
    pub clock: &'a Clock,
    /// Who acts, as the audit trail names them.
    pub actor: &'a str,
}

impl<'a> Stage<'a> {
    pub fn new(store: &'a Store, org: &'a Organisation, clock: &'a Clock, actor: &'a str) -> Self {
        Self {
            store,
            org,
            clock,
            actor,
        }
    }
}
