//! Simulation: what an action would do, found without doing it. Today the command analyzer
//! (`command.rs`); the file-write dry run with the real validators and the service restart's
//! plan come with the rest of the safety gate.

pub mod command;
