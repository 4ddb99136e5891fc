//! A chat turn: pick the model (`routing`), gather what the question needs from the machine
//! (`context`, `tools`), build the prompt, scrub secrets (`redact`), get the answer
//! (`assistant`), and pull proposed file edits out of it (`edits`).

pub mod assistant;
pub mod context;
pub mod edits;
pub mod redact;
pub mod routing;
pub mod tools;
