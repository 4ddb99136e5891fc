//! Nothing but a home: this package holds the end-to-end test binary (`tests/e2e.rs`) and the
//! benchmarks that drive halbertd and halbert-web together (`examples/`).
