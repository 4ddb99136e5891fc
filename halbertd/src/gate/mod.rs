//! The gate every change passes: what the administrator allows for everyone ([`policy`], the
//! system-wide `policy.yml`), who may ([`authz`]: the read check and polkit), whether anything
//! may change now ([`safe_mode`]), and the record of what was asked and what came of it
//! ([`audit`]). `Engine::mutate` is the one path through them, in the order validate → policy
//! → authorize → safe mode → intent → act → outcome.

pub mod audit;
pub mod authz;
pub mod policy;
pub mod safe_mode;
